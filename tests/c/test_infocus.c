/*
 * A C program against include/infocus.h and the infocus cdylib, built and run
 * by tests/c_abi.rs (cc -std=c11 -Wall -Wextra -Werror -pedantic). It uses
 * nothing but the header: expected values are computed here, from the paper's
 * definitions, or by hand.
 *
 * Prints "N passed, M failed" and exits non-zero on any failure.
 */
#include "infocus.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed = 0;
static int failed = 0;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (cond) {                                                              \
            passed++;                                                            \
        } else {                                                                 \
            failed++;                                                            \
            fprintf(stderr, "FAIL %s:%d: (%s) ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

/* A status check: on failure the last error must be a message, on success "". */
#define EXPECT_STATUS(got, want, what)                                           \
    do {                                                                         \
        int32_t got_ = (got);                                                    \
        const char *msg_ = infocus_last_error();                                 \
        CHECK(got_ == (want), "%s: got %s, want %s (last error: %s)", (what),    \
              infocus_status_name(got_), infocus_status_name(want), msg_);       \
        if ((want) == INFOCUS_OK) {                                              \
            CHECK(msg_ != NULL && msg_[0] == '\0',                               \
                  "%s: success left last error '%s'", (what), msg_);             \
        } else {                                                                 \
            CHECK(msg_ != NULL && msg_[0] != '\0',                               \
                  "%s: failure left no last error", (what));                     \
        }                                                                        \
    } while (0)

static int close_to(double got, double want, double rel) {
    double tol = rel * (fabs(want) > 1.0 ? fabs(want) : 1.0);
    return fabs(got - want) <= tol;
}

static double population_std(const double *v, size_t n) {
    double mean = 0.0, var = 0.0;
    size_t i;
    for (i = 0; i < n; i++) mean += v[i];
    mean /= (double)n;
    for (i = 0; i < n; i++) var += (v[i] - mean) * (v[i] - mean);
    return sqrt(var / (double)n);
}

/* A checkerboard of 0 and `hi`: every window of an even-height column range
 * of it holds as many zeros as `hi`s. */
static int checker(size_t y, size_t x) { return (int)((x + y) % 2); }

/* A checkerboard of 2 x 2 blocks: unlike the 1-pixel one, it has central
 * differences, which the default preset's sharpness measures. */
static int blocks(size_t y, size_t x) { return (int)((x / 2 + y / 2) % 2); }

/* ---------------------------------------------------------------- strings */

static void test_version_and_names(void) {
    const char *v = infocus_version();
    CHECK(v != NULL && v[0] != '\0', "version is empty");
    CHECK(v != NULL && v[0] >= '0' && v[0] <= '9', "version '%s' does not start with a digit", v);
    printf("infocus %s\n", v);

    CHECK(strcmp(infocus_status_name(INFOCUS_OK), "INFOCUS_OK") == 0, "name of OK");
    CHECK(strcmp(infocus_status_name(INFOCUS_ERR_NULL), "INFOCUS_ERR_NULL") == 0, "name of NULL");
    CHECK(strcmp(infocus_status_name(INFOCUS_ERR_INVALID), "INFOCUS_ERR_INVALID") == 0, "name");
    CHECK(strcmp(infocus_status_name(INFOCUS_ERR_IO), "INFOCUS_ERR_IO") == 0, "name");
    CHECK(strcmp(infocus_status_name(INFOCUS_ERR_UNSUPPORTED), "INFOCUS_ERR_UNSUPPORTED") == 0, "name");
    CHECK(strcmp(infocus_status_name(INFOCUS_ERR_CANCELLED), "INFOCUS_ERR_CANCELLED") == 0, "name");
    CHECK(strcmp(infocus_status_name(INFOCUS_ERR_TORCH), "INFOCUS_ERR_TORCH") == 0, "name");
    CHECK(strcmp(infocus_status_name(INFOCUS_ERR_PANIC), "INFOCUS_ERR_PANIC") == 0, "name");
    CHECK(strcmp(infocus_status_name(99), "(unknown status)") == 0, "unknown name");
    CHECK(strcmp(infocus_status_name(-1), "(unknown status)") == 0, "unknown name");
}

static void test_defaults(void) {
    InfocusMapParams m = infocus_map_params_default();
    InfocusBandParams b = infocus_band_params_default();
    InfocusSegmentParams s = infocus_segment_params_default();
    size_t i;
    CHECK(m.measure == INFOCUS_MEASURE_STD, "default measure %d", m.measure);
    CHECK(m.window == 128, "default window %u", m.window);
    CHECK(m.n_strides == 15 && m.strides != NULL, "default has %zu strides", m.n_strides);
    for (i = 0; m.strides != NULL && i < m.n_strides; i++)
        CHECK(m.strides[i] == 8 + 2 * i, "stride %zu is %u", i, m.strides[i]);
    /* The band's numbers are the library's to choose (tests/c_abi.rs checks
     * them against the core); here: the depth of field is estimated and the
     * rest is in range. */
    CHECK(b.dof == 0.0 && b.min_contrast >= 0.0 && b.radius >= 1 && b.radius <= 64 && b.smoothing <= 32,
          "band default %g %g %u %u", b.dof, b.min_contrast, b.radius, b.smoothing);
    CHECK(s.preset == INFOCUS_PRESET_DEFAULT, "segment preset %d", s.preset);
    CHECK(s.threshold == INFOCUS_THRESHOLD_PRESET, "segment threshold %d", s.threshold);
    CHECK(s.map.strides == m.strides && s.map.window == 128, "segment map is the paper map");
    CHECK(s.band.radius == b.radius && s.band.smoothing == b.smoothing && s.band.min_contrast == b.min_contrast,
          "segment band is the default band");
}

/* ------------------------------------------------------------ focus maps */

/* std and variance with one window covering the whole image: every pixel of
 * a slice gets the population statistic of its slice. */
static void test_map_whole_slice(int32_t pixel_type) {
    enum { Z = 3, H = 5, W = 7, N = Z * H * W };
    uint8_t u8[N];
    uint16_t u16[N];
    float f32[N];
    double values[H * W];
    float map[N];
    const void *stack;
    const uint32_t strides[2] = {7, 9}; /* >= h and w: one window origin */
    InfocusMapParams p = infocus_map_params_default();
    size_t k, i;
    int32_t measure;

    for (i = 0; i < N; i++) {
        u8[i] = (uint8_t)((i * 37 + (i / 5) * 11) % 251);
        u16[i] = (uint16_t)((i * 7919 + 13) % 60000);
        f32[i] = (float)((double)((i * 29) % 97) * 0.37 - 11.5);
    }
    stack = pixel_type == INFOCUS_PIXEL_U8 ? (const void *)u8
          : pixel_type == INFOCUS_PIXEL_U16 ? (const void *)u16 : (const void *)f32;

    p.window = 16;
    p.strides = strides;
    p.n_strides = 2;
    for (measure = INFOCUS_MEASURE_STD; measure <= INFOCUS_MEASURE_VARIANCE; measure++) {
        p.measure = measure;
        EXPECT_STATUS(infocus_focus_map(stack, pixel_type, Z, H, W, &p, map, N, NULL, NULL),
                      INFOCUS_OK, "whole-slice map");
        for (k = 0; k < Z; k++) {
            double sd, want;
            int ok = 1;
            for (i = 0; i < H * W; i++) {
                size_t j = k * H * W + i;
                values[i] = pixel_type == INFOCUS_PIXEL_U8 ? u8[j]
                          : pixel_type == INFOCUS_PIXEL_U16 ? u16[j] : (double)f32[j];
            }
            sd = population_std(values, H * W);
            want = measure == INFOCUS_MEASURE_STD ? sd : sd * sd;
            for (i = 0; i < H * W; i++) ok &= close_to(map[k * H * W + i], want, 1e-5);
            CHECK(ok, "pixel type %d measure %d slice %zu: %g, want %g", pixel_type, measure, k,
                  (double)map[k * H * W], want);
        }
    }
}

/* A 1 x 4 image [0 2 8 8], window 2, by hand. Windows of stride 1 start at
 * x = 0, 1, 2, 3 ([0 2], [2 8], [8 8], [8] clipped); each adds its score to
 * the pixels it covers. */
static void test_map_by_hand(void) {
    const uint8_t img[4] = {0, 2, 8, 8};
    const uint32_t s1[1] = {1};
    const uint32_t s12[2] = {1, 2};
    InfocusMapParams p = infocus_map_params_default();
    float map[4];
    /* std of the windows: 1, 3, 0, 0. Stride 1: 1, 1+3, 3+0, 0+0. Stride 2:
     * windows [0 2] and [8 8]: 1, 1, 0, 0. Maximum: 1 4 3 0. */
    const float want_std[4] = {1, 4, 3, 0};
    /* variance of the windows: 1, 9, 0, 0 -> 1, 10, 9, 0. */
    const float want_var[4] = {1, 10, 9, 0};
    /* Brenner (squared horizontal differences inside the window): 4, 36, 0, 0. */
    const float want_brenner[4] = {4, 40, 36, 0};
    size_t i;
    int ok;

    p.window = 2;
    p.measure = INFOCUS_MEASURE_STD;
    p.strides = s12;
    p.n_strides = 2;
    EXPECT_STATUS(infocus_focus_map(img, INFOCUS_PIXEL_U8, 1, 1, 4, &p, map, 4, NULL, NULL),
                  INFOCUS_OK, "std by hand");
    for (ok = 1, i = 0; i < 4; i++) ok &= close_to(map[i], want_std[i], 1e-6);
    CHECK(ok, "std by hand: %g %g %g %g", (double)map[0], (double)map[1], (double)map[2], (double)map[3]);

    p.measure = INFOCUS_MEASURE_VARIANCE;
    p.strides = s1;
    p.n_strides = 1;
    EXPECT_STATUS(infocus_focus_map(img, INFOCUS_PIXEL_U8, 1, 1, 4, &p, map, 4, NULL, NULL),
                  INFOCUS_OK, "variance by hand");
    for (ok = 1, i = 0; i < 4; i++) ok &= close_to(map[i], want_var[i], 1e-6);
    CHECK(ok, "variance by hand: %g %g %g %g", (double)map[0], (double)map[1], (double)map[2], (double)map[3]);

    p.measure = INFOCUS_MEASURE_BRENNER;
    EXPECT_STATUS(infocus_focus_map(img, INFOCUS_PIXEL_U8, 1, 1, 4, &p, map, 4, NULL, NULL),
                  INFOCUS_OK, "brenner by hand");
    for (ok = 1, i = 0; i < 4; i++) ok &= close_to(map[i], want_brenner[i], 1e-6);
    CHECK(ok, "brenner by hand: %g %g %g %g", (double)map[0], (double)map[1], (double)map[2], (double)map[3]);
}

/* Every measure runs on every pixel type and gives finite scores. */
static void test_every_measure_runs(void) {
    enum { Z = 2, H = 9, W = 11, N = Z * H * W };
    uint16_t stack[N];
    float map[N];
    const uint32_t strides[2] = {2, 3};
    InfocusMapParams p = infocus_map_params_default();
    int32_t m;
    size_t i;
    for (i = 0; i < N; i++) stack[i] = (uint16_t)((i * 2654435761u) % 4096);
    p.window = 4;
    p.strides = strides;
    p.n_strides = 2;
    for (m = INFOCUS_MEASURE_BRENNER; m <= INFOCUS_MEASURE_DWT; m++) {
        int finite = 1;
        p.measure = m;
        EXPECT_STATUS(infocus_focus_map(stack, INFOCUS_PIXEL_U16, Z, H, W, &p, map, N, NULL, NULL),
                      INFOCUS_OK, "every measure");
        for (i = 0; i < N; i++) finite &= isfinite(map[i]) && map[i] >= -1e30f;
        CHECK(finite, "measure %d gave a non-finite score", m);
    }
}

/* ------------------------------------------------------ progress, cancel */

typedef struct {
    int calls;
    uint64_t max_done;
    uint64_t total;
    int cancel_after; /* cancel on this call (1-based); 0: never */
    int bad_args;
} Tracker;

static int32_t track(uint64_t done, uint64_t total, void *user_data) {
    Tracker *t = (Tracker *)user_data;
    t->calls++;
    if (done > t->max_done) t->max_done = done;
    if (done > total) t->bad_args++;
    t->total = total;
    return t->cancel_after != 0 && t->calls >= t->cancel_after;
}

static void test_progress_and_cancel(void) {
    enum { Z = 4, H = 6, W = 6, N = Z * H * W };
    uint8_t stack[N];
    float map[N];
    uint8_t mask[N];
    uint16_t depth[H * W];
    const uint32_t strides[1] = {3};
    InfocusMapParams p = infocus_map_params_default();
    InfocusSegmentParams sp = infocus_segment_params_default();
    Tracker t;
    size_t i;
    int untouched;
    int32_t preset;

    for (i = 0; i < N; i++) stack[i] = (uint8_t)((i * 101) % 256);
    p.window = 4;
    p.strides = strides;
    p.n_strides = 1;

    memset(&t, 0, sizeof t);
    EXPECT_STATUS(infocus_focus_map(stack, INFOCUS_PIXEL_U8, Z, H, W, &p, map, N, track, &t),
                  INFOCUS_OK, "map with progress");
    CHECK(t.calls >= 1 && t.total == Z && t.max_done == Z && t.bad_args == 0,
          "progress: %d calls, done %llu of %llu", t.calls, (unsigned long long)t.max_done,
          (unsigned long long)t.total);

    /* Cancel on the first report and on a later one: nothing is written. */
    for (i = 1; i <= 2; i++) {
        size_t j;
        memset(&t, 0, sizeof t);
        t.cancel_after = (int)i;
        for (j = 0; j < N; j++) map[j] = -7.0f;
        EXPECT_STATUS(infocus_focus_map(stack, INFOCUS_PIXEL_U8, Z, H, W, &p, map, N, track, &t),
                      INFOCUS_ERR_CANCELLED, "cancelled map");
        for (untouched = 1, j = 0; j < N; j++) untouched &= map[j] == -7.0f;
        CHECK(untouched, "a cancelled map wrote its out buffer (cancel on call %zu)", i);
        CHECK(strstr(infocus_last_error(), "cancel") != NULL, "last error '%s'", infocus_last_error());
    }

    for (preset = INFOCUS_PRESET_PAPER; preset <= INFOCUS_PRESET_DEFAULT; preset++) {
        memset(&t, 0, sizeof t);
        t.cancel_after = 1;
        memset(mask, 0x5A, sizeof mask);
        memset(depth, 0x5A, sizeof depth);
        for (i = 0; i < N; i++) map[i] = -7.0f;
        sp.preset = preset;
        EXPECT_STATUS(infocus_segment(stack, INFOCUS_PIXEL_U8, Z, H, W, &sp, mask, N, map, N, depth,
                                      H * W, track, &t),
                      INFOCUS_ERR_CANCELLED, "cancelled segment");
        for (untouched = 1, i = 0; i < N; i++) untouched &= mask[i] == 0x5A && map[i] == -7.0f;
        for (i = 0; i < H * W; i++) untouched &= depth[i] == 0x5A5A;
        CHECK(untouched, "a cancelled segment (preset %d) wrote an out buffer", preset);
    }
}

/* --------------------------------------------------------------- segment */

/* The paper preset on a 2 x 8 x 16 stack. Slice 0: checkerboard 0/200 left
 * (x < 8), flat 100 right; slice 1 the other way round. Both slices have the
 * same values overall, so the windows anchored at x = 0 (which, 128 wide,
 * cover the whole slice) score both slices alike: std 70.71. Only strides
 * 8..14 have a second window column, at x = s, and it scores 100 on slice 1
 * (checkerboard) and 0 on slice 0 (flat). So the map holds two values,
 * 70.71 everywhere except 170.71 on the right half of slice 1, and Otsu over
 * the stack marks exactly that half. */
static void test_segment_paper(void) {
    enum { Z = 2, H = 8, W = 16, N = Z * H * W };
    uint8_t stack[N];
    uint8_t mask[N];
    float map[N], ref[N];
    uint16_t depth[H * W];
    InfocusSegmentParams p = infocus_segment_params_default();
    size_t k, y, x;
    int ok = 1, depth_ok = 1, map_ok = 1;

    for (k = 0; k < Z; k++)
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++) {
                int textured = (x < 8) == (k == 0);
                stack[(k * H + y) * W + x] = (uint8_t)(textured ? 200 * checker(y, x) : 100);
            }
    p.preset = INFOCUS_PRESET_PAPER;
    EXPECT_STATUS(infocus_segment(stack, INFOCUS_PIXEL_U8, Z, H, W, &p, mask, N, map, N, depth, H * W,
                                  NULL, NULL),
                  INFOCUS_OK, "paper segment");
    for (k = 0; k < Z; k++)
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++) {
                size_t i = (k * H + y) * W + x;
                int right1 = k == 1 && x >= 8;
                ok &= mask[i] == (right1 ? 255 : 0);
                map_ok &= close_to(map[i], right1 ? 170.7106781 : 70.7106781, 1e-6);
            }
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++) depth_ok &= depth[y * W + x] == (x >= 8 ? 1 : 0);
    CHECK(ok, "paper mask is not 255 exactly on the right half of slice 1");
    CHECK(map_ok, "paper map: %g and %g", (double)map[0], (double)map[N - 1]);
    CHECK(depth_ok, "paper depth: left 0 (tie), right 1");

    /* The preset's map is the paper's focus map, byte for byte. */
    EXPECT_STATUS(infocus_focus_map(stack, INFOCUS_PIXEL_U8, Z, H, W, &p.map, ref, N, NULL, NULL),
                  INFOCUS_OK, "paper map");
    CHECK(memcmp(ref, map, sizeof map) == 0, "segment's map differs from infocus_focus_map's");

    /* Optional outputs may be NULL (their lengths are then ignored). */
    memset(mask, 0, sizeof mask);
    EXPECT_STATUS(infocus_segment(stack, INFOCUS_PIXEL_U8, Z, H, W, &p, mask, N, NULL, 12345, NULL, 0,
                                  NULL, NULL),
                  INFOCUS_OK, "paper segment, mask only");
    CHECK(mask[N - 1] == 255 && mask[0] == 0, "mask-only segment");

    /* A fixed threshold applies to the preset's map. */
    p.threshold = INFOCUS_THRESHOLD_FIXED;
    p.threshold_value = 50.0f;
    EXPECT_STATUS(infocus_segment(stack, INFOCUS_PIXEL_U8, Z, H, W, &p, mask, N, NULL, 0, NULL, 0,
                                  NULL, NULL),
                  INFOCUS_OK, "paper segment, fixed threshold");
    for (ok = 1, k = 0; k < N; k++) ok &= mask[k] == 255;
    CHECK(ok, "every score is above 50");
}

/* The default preset on a stack whose slice k is sharp in its own band of
 * rows: masks are 0/255, a rerun gives the same bytes, and each band's depth
 * is its slice. */
static void test_segment_default(void) {
    enum { Z = 3, H = 48, W = 40, N = Z * H * W };
    static float stack[N];
    static uint8_t mask[N], mask2[N];
    static uint16_t depth[H * W];
    InfocusSegmentParams p = infocus_segment_params_default();
    size_t k, y, x, i;
    int ok = 1;
    unsigned seed = 12345u;

    for (k = 0; k < Z; k++)
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++) {
                seed = seed * 1103515245u + 12345u;
                double noise = (double)((seed >> 16) % 1000) / 1000.0 - 0.5;
                int sharp = y / 16 == k;
                stack[(k * H + y) * W + x] = (float)(100.0 + (sharp ? 80.0 * blocks(y, x) : 40.0) + noise);
            }
    EXPECT_STATUS(infocus_segment(stack, INFOCUS_PIXEL_F32, Z, H, W, &p, mask, N, NULL, 0, depth, H * W,
                                  NULL, NULL),
                  INFOCUS_OK, "default segment");
    for (i = 0; i < N; i++) ok &= mask[i] == 0 || mask[i] == 255;
    for (i = 0; i < H * W; i++) ok &= depth[i] < Z;
    CHECK(ok, "default segment: masks 0/255 and depths below z");
    EXPECT_STATUS(infocus_segment(stack, INFOCUS_PIXEL_F32, Z, H, W, &p, mask2, N, NULL, 0, NULL, 0,
                                  NULL, NULL),
                  INFOCUS_OK, "default segment again");
    CHECK(memcmp(mask, mask2, sizeof mask) == 0, "default segment is not deterministic");
    /* Slice k is sharp in rows 16k..16k+15: its best focus there is k. */
    CHECK(depth[8 * W + 20] == 0 && depth[24 * W + 20] == 1 && depth[40 * W + 20] == 2,
          "default depth %u %u %u", depth[8 * W + 20], depth[24 * W + 20], depth[40 * W + 20]);
    for (ok = 1, k = 0; k < Z; k++) ok &= mask[(k * H + 16 * k + 8) * W + 20] == 255;
    CHECK(ok, "default mask: each band is in focus in its own slice");
}

/* ------------------------------------------------------------ thresholds */

static void test_threshold(void) {
    const float map[6] = {0.5f, 1.0f, 1.5f, 2.0f, -1.0f, 3.0f};
    const uint8_t want_fixed[6] = {0, 0, 255, 255, 0, 255};
    const float two[6] = {1, 5, 1, 5, 5, 1};
    const float slices[8] = {1, 2, 2, 1, 10, 20, 20, 10};
    const uint8_t want_slice[8] = {0, 255, 255, 0, 0, 255, 255, 0};
    uint8_t mask[8], mask2[8];
    size_t i;
    int ok;

    EXPECT_STATUS(infocus_threshold_mask(map, 1, 2, 3, INFOCUS_THRESHOLD_FIXED, 1.0f, mask, 6),
                  INFOCUS_OK, "fixed threshold");
    CHECK(memcmp(mask, want_fixed, 6) == 0, "fixed threshold: strictly above 1.0");

    EXPECT_STATUS(infocus_threshold_mask(two, 2, 1, 3, INFOCUS_THRESHOLD_OTSU_STACK, 0.0f, mask, 6),
                  INFOCUS_OK, "otsu stack");
    for (ok = 1, i = 0; i < 6; i++) ok &= mask[i] == (two[i] == 5 ? 255 : 0);
    CHECK(ok, "otsu over a two-valued map marks the high values");
    EXPECT_STATUS(infocus_threshold_mask(two, 2, 1, 3, INFOCUS_THRESHOLD_PRESET, 0.0f, mask2, 6),
                  INFOCUS_OK, "preset threshold");
    CHECK(memcmp(mask, mask2, 6) == 0, "PRESET is OTSU_STACK in infocus_threshold_mask");

    EXPECT_STATUS(infocus_threshold_mask(slices, 2, 2, 2, INFOCUS_THRESHOLD_OTSU_SLICE, 0.0f, mask, 8),
                  INFOCUS_OK, "otsu slice");
    CHECK(memcmp(mask, want_slice, 8) == 0, "otsu per slice");
    EXPECT_STATUS(infocus_threshold_mask(slices, 2, 2, 2, INFOCUS_THRESHOLD_OTSU_STACK, 0.0f, mask, 8),
                  INFOCUS_OK, "otsu stack on slices");
    for (ok = 1, i = 0; i < 4; i++) ok &= mask[i] == 0;
    CHECK(ok, "otsu over the stack leaves the dim slice empty");
}

/* ------------------------------------------------------------- products */

static void test_depth_and_all_in_focus(void) {
    /* A 3 x 2 x 3 map by hand; pixel 5 ties slices 0 and 2 (lowest wins). */
    const float map[18] = {
        9, 1, 1, 1, 1, 4, /* slice 0 */
        1, 9, 1, 1, 2, 1, /* slice 1 */
        1, 1, 9, 3, 1, 4, /* slice 2 */
    };
    const uint16_t want_depth[6] = {0, 1, 2, 2, 1, 0};
    uint16_t depth[6];
    uint16_t stack16[18], aif16[6];
    size_t i;
    int ok;

    EXPECT_STATUS(infocus_depth_map(map, 3, 2, 3, depth, 6), INFOCUS_OK, "depth map");
    CHECK(memcmp(depth, want_depth, sizeof depth) == 0, "depth map by hand: %u %u %u %u %u %u", depth[0],
          depth[1], depth[2], depth[3], depth[4], depth[5]);

    for (i = 0; i < 18; i++) stack16[i] = (uint16_t)(1000 * (i / 6) + i % 6);
    EXPECT_STATUS(infocus_all_in_focus(stack16, INFOCUS_PIXEL_U16, 3, 2, 3, depth, 6, aif16, 6),
                  INFOCUS_OK, "all in focus");
    for (ok = 1, i = 0; i < 6; i++) ok &= aif16[i] == 1000 * want_depth[i] + i;
    CHECK(ok, "all-in-focus picks each pixel from its depth");
}

/* The whole chain on a stack where slice 0 is sharp on the left half and
 * slice 1 on the right: std map (window 4, stride 4: one window per pixel),
 * depth map, all-in-focus = the sharp checkerboard everywhere. */
static void test_products_pipeline(void) {
    enum { Z = 2, H = 4, W = 8, N = Z * H * W };
    uint8_t stack[N], aif[H * W];
    float map[N];
    uint16_t depth[H * W];
    const uint32_t strides[1] = {4};
    InfocusMapParams p = infocus_map_params_default();
    size_t k, y, x;
    int ok = 1;

    for (k = 0; k < Z; k++)
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++)
                stack[(k * H + y) * W + x] = (uint8_t)(((x < 4) == (k == 0)) ? 200 * checker(y, x) : 77);
    p.window = 4;
    p.strides = strides;
    p.n_strides = 1;
    EXPECT_STATUS(infocus_focus_map(stack, INFOCUS_PIXEL_U8, Z, H, W, &p, map, N, NULL, NULL), INFOCUS_OK,
                  "pipeline map");
    for (k = 0; k < Z; k++)
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++)
                ok &= close_to(map[(k * H + y) * W + x], ((x < 4) == (k == 0)) ? 100.0 : 0.0, 1e-6);
    CHECK(ok, "pipeline map: 100 where textured, 0 where flat");
    EXPECT_STATUS(infocus_depth_map(map, Z, H, W, depth, H * W), INFOCUS_OK, "pipeline depth");
    for (ok = 1, y = 0; y < H; y++)
        for (x = 0; x < W; x++) ok &= depth[y * W + x] == (x < 4 ? 0 : 1);
    CHECK(ok, "pipeline depth: 0 on the left, 1 on the right");
    EXPECT_STATUS(infocus_all_in_focus(stack, INFOCUS_PIXEL_U8, Z, H, W, depth, H * W, aif, H * W),
                  INFOCUS_OK, "pipeline all-in-focus");
    for (ok = 1, y = 0; y < H; y++)
        for (x = 0; x < W; x++) ok &= aif[y * W + x] == 200 * checker(y, x);
    CHECK(ok, "pipeline all-in-focus is the checkerboard everywhere");
}

static void test_in_focus(void) {
    const uint16_t stack[8] = {10, 20, 30, 40, 50, 60, 70, 80};
    const uint8_t mask[8] = {255, 0, 0, 255, 1, 0, 255, 0};
    const uint16_t want[8] = {10, 0, 0, 40, 50, 0, 70, 0};
    const float fstack[4] = {1.5f, -2.5f, 3.5f, 4.5f};
    float fout[4];
    uint16_t out[8];

    EXPECT_STATUS(infocus_in_focus(stack, INFOCUS_PIXEL_U16, 2, 2, 2, mask, 8, out, 8), INFOCUS_OK,
                  "in focus u16");
    CHECK(memcmp(out, want, sizeof out) == 0, "in-focus u16 keeps the masked pixels");
    EXPECT_STATUS(infocus_in_focus(fstack, INFOCUS_PIXEL_F32, 1, 2, 2, mask, 4, fout, 4), INFOCUS_OK,
                  "in focus f32");
    CHECK(fout[0] == 1.5f && fout[1] == 0.0f && fout[2] == 0.0f && fout[3] == 4.5f, "in-focus f32");
}

/* ---------------------------------------------------------------- errors */

static int all_equal_f(const float *v, size_t n, float x) {
    size_t i;
    for (i = 0; i < n; i++)
        if (v[i] != x) return 0;
    return 1;
}

static void test_map_errors(void) {
    enum { Z = 2, H = 3, W = 4, N = Z * H * W };
    uint8_t stack[N];
    uint16_t stack16[N + 1];
    float fstack[N];
    float out[N];
    const uint32_t strides[2] = {2, 3};
    const uint32_t zero_stride[2] = {2, 0};
    InfocusMapParams p = infocus_map_params_default();
    InfocusMapParams q;
    size_t i;

    memset(stack, 3, sizeof stack);
    memset(stack16, 0, sizeof stack16);
    for (i = 0; i < N; i++) fstack[i] = (float)i;
    p.window = 2;
    p.strides = strides;
    p.n_strides = 2;
    for (i = 0; i < N; i++) out[i] = -7.0f;

#define MAP(stk, pt, z, h, w, params, o, len) infocus_focus_map((stk), (pt), (z), (h), (w), (params), (o), (len), NULL, NULL)
    EXPECT_STATUS(MAP(NULL, INFOCUS_PIXEL_U8, Z, H, W, &p, out, N), INFOCUS_ERR_NULL, "NULL stack");
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, H, W, NULL, out, N), INFOCUS_ERR_NULL, "NULL params");
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, H, W, &p, NULL, N), INFOCUS_ERR_NULL, "NULL out");
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, 0, H, W, &p, out, 0), INFOCUS_ERR_INVALID, "z = 0");
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, 0, W, &p, out, 0), INFOCUS_ERR_INVALID, "h = 0");
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, H, 0, &p, out, 0), INFOCUS_ERR_INVALID, "w = 0");
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, SIZE_MAX, 2, 1, &p, out, N), INFOCUS_ERR_INVALID, "z*h*w overflow");
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, 2, SIZE_MAX / 2 + 1, 1, &p, out, N), INFOCUS_ERR_INVALID, "h*z overflow");
    EXPECT_STATUS(MAP(fstack, INFOCUS_PIXEL_F32, SIZE_MAX / 4, 1, 1, &p, out, SIZE_MAX / 4), INFOCUS_ERR_INVALID,
                  "byte count overflow");
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, H, W, &p, out, N - 1), INFOCUS_ERR_INVALID, "out_len short");
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, H, W, &p, out, N + 1), INFOCUS_ERR_INVALID, "out_len long");
    EXPECT_STATUS(MAP(stack, 3, Z, H, W, &p, out, N), INFOCUS_ERR_INVALID, "pixel type 3");
    EXPECT_STATUS(MAP(stack, -1, Z, H, W, &p, out, N), INFOCUS_ERR_INVALID, "pixel type -1");
    EXPECT_STATUS(MAP((const uint8_t *)stack16 + 1, INFOCUS_PIXEL_U16, Z, H, W, &p, out, N), INFOCUS_ERR_INVALID,
                  "misaligned u16 stack");

    q = p;
    q.measure = 9;
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, H, W, &q, out, N), INFOCUS_ERR_INVALID, "measure 9");
    q.measure = -1;
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, H, W, &q, out, N), INFOCUS_ERR_INVALID, "measure -1");
    q = p;
    q.n_strides = 0;
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, H, W, &q, out, N), INFOCUS_ERR_INVALID, "empty stride list");
    CHECK(strstr(infocus_last_error(), "stride") != NULL, "empty stride message: %s", infocus_last_error());
    q.strides = NULL;
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, H, W, &q, out, N), INFOCUS_ERR_INVALID, "NULL, empty stride list");
    q.n_strides = 2;
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, H, W, &q, out, N), INFOCUS_ERR_NULL, "NULL strides");
    q = p;
    q.strides = zero_stride;
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, H, W, &q, out, N), INFOCUS_ERR_INVALID, "stride 0");
    q = p;
    q.window = 0;
    EXPECT_STATUS(MAP(stack, INFOCUS_PIXEL_U8, Z, H, W, &q, out, N), INFOCUS_ERR_INVALID, "window 0");

    fstack[7] = NAN;
    EXPECT_STATUS(MAP(fstack, INFOCUS_PIXEL_F32, Z, H, W, &p, out, N), INFOCUS_ERR_INVALID, "NaN in stack");
    CHECK(strstr(infocus_last_error(), "NaN") != NULL, "NaN message: %s", infocus_last_error());
    fstack[7] = INFINITY;
    EXPECT_STATUS(MAP(fstack, INFOCUS_PIXEL_F32, Z, H, W, &p, out, N), INFOCUS_ERR_INVALID, "Inf in stack");
    fstack[7] = 7.0f;
    CHECK(all_equal_f(out, N, -7.0f), "a failed map wrote its out buffer");

    /* A success clears the last error; the string getters leave it alone. */
    EXPECT_STATUS(MAP(stack, 3, Z, H, W, &p, out, N), INFOCUS_ERR_INVALID, "pixel type 3 again");
    (void)infocus_status_name(INFOCUS_OK);
    (void)infocus_version();
    CHECK(infocus_last_error()[0] != '\0', "the string getters cleared the last error");
    EXPECT_STATUS(MAP(fstack, INFOCUS_PIXEL_F32, Z, H, W, &p, out, N), INFOCUS_OK, "valid map");
#undef MAP
}

static void test_segment_errors(void) {
    enum { Z = 2, H = 3, W = 4, N = Z * H * W };
    uint8_t stack[N], mask[N];
    float map[N];
    uint16_t depth[H * W];
    InfocusSegmentParams p = infocus_segment_params_default();
    InfocusSegmentParams q;
    size_t i;
    int untouched;

    for (i = 0; i < N; i++) stack[i] = (uint8_t)(i * 13);
    memset(mask, 0x5A, sizeof mask);

#define SEG(stk, pt, params, m, mlen, o, olen, d, dlen) \
    infocus_segment((stk), (pt), Z, H, W, (params), (m), (mlen), (o), (olen), (d), (dlen), NULL, NULL)
    EXPECT_STATUS(SEG(NULL, INFOCUS_PIXEL_U8, &p, mask, N, NULL, 0, NULL, 0), INFOCUS_ERR_NULL, "segment NULL stack");
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, NULL, mask, N, NULL, 0, NULL, 0), INFOCUS_ERR_NULL, "segment NULL params");
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &p, NULL, N, NULL, 0, NULL, 0), INFOCUS_ERR_NULL, "segment NULL mask");
    EXPECT_STATUS(infocus_segment(stack, INFOCUS_PIXEL_U8, Z, 0, W, &p, mask, 0, NULL, 0, NULL, 0, NULL, NULL),
                  INFOCUS_ERR_INVALID, "segment h = 0");
    EXPECT_STATUS(infocus_segment(stack, INFOCUS_PIXEL_U8, SIZE_MAX, 3, 1, &p, mask, N, NULL, 0, NULL, 0, NULL, NULL),
                  INFOCUS_ERR_INVALID, "segment overflow");
    EXPECT_STATUS(SEG(stack, 7, &p, mask, N, NULL, 0, NULL, 0), INFOCUS_ERR_INVALID, "segment pixel type 7");
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &p, mask, N - 1, NULL, 0, NULL, 0), INFOCUS_ERR_INVALID, "mask_len");
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &p, mask, N, map, N + 1, NULL, 0), INFOCUS_ERR_INVALID, "map_len");
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &p, mask, N, NULL, 0, depth, N), INFOCUS_ERR_INVALID, "depth_len");
    q = p;
    q.preset = 2;
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &q, mask, N, NULL, 0, NULL, 0), INFOCUS_ERR_INVALID, "preset 2");
    q = p;
    q.threshold = 4;
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &q, mask, N, NULL, 0, NULL, 0), INFOCUS_ERR_INVALID, "threshold 4");
    q.threshold = -1;
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &q, mask, N, NULL, 0, NULL, 0), INFOCUS_ERR_INVALID, "threshold -1");
    q.threshold = INFOCUS_THRESHOLD_FIXED;
    q.threshold_value = NAN;
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &q, mask, N, NULL, 0, NULL, 0), INFOCUS_ERR_INVALID, "fixed NaN");
    q = p;
    q.map.measure = 42;
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &q, mask, N, NULL, 0, NULL, 0), INFOCUS_ERR_INVALID, "segment measure 42");
    q = p;
    q.preset = INFOCUS_PRESET_PAPER;
    q.map.n_strides = 0;
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &q, mask, N, NULL, 0, NULL, 0), INFOCUS_ERR_INVALID,
                  "paper segment, empty strides");
    q = p;
    q.band.radius = 0;
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &q, mask, N, NULL, 0, NULL, 0), INFOCUS_ERR_INVALID, "radius 0");
    q = p;
    q.band.dof = NAN;
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &q, mask, N, NULL, 0, NULL, 0), INFOCUS_ERR_INVALID, "dof NaN");
    q = p;
    q.band.min_contrast = -1.0;
    EXPECT_STATUS(SEG(stack, INFOCUS_PIXEL_U8, &q, mask, N, NULL, 0, NULL, 0), INFOCUS_ERR_INVALID, "min contrast -1");
    for (untouched = 1, i = 0; i < N; i++) untouched &= mask[i] == 0x5A;
    CHECK(untouched, "a failed segment wrote its mask");
#undef SEG
}

static void test_product_errors(void) {
    const float map[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const float nan_map[4] = {1, NAN, 3, 4};
    const uint8_t stack[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const uint8_t mask[8] = {0};
    uint16_t depth[4] = {0, 1, 0, 1};
    uint8_t out[8];
    static float tall[65537];
    uint16_t one = 0;
    float fout[4];

    memset(out, 0x5A, sizeof out);
    EXPECT_STATUS(infocus_threshold_mask(NULL, 2, 2, 2, INFOCUS_THRESHOLD_FIXED, 1, out, 8), INFOCUS_ERR_NULL,
                  "threshold NULL map");
    EXPECT_STATUS(infocus_threshold_mask(map, 2, 2, 2, INFOCUS_THRESHOLD_FIXED, 1, NULL, 8), INFOCUS_ERR_NULL,
                  "threshold NULL out");
    EXPECT_STATUS(infocus_threshold_mask(map, 2, 2, 2, 4, 1, out, 8), INFOCUS_ERR_INVALID, "threshold 4");
    EXPECT_STATUS(infocus_threshold_mask(map, 2, 2, 2, -1, 1, out, 8), INFOCUS_ERR_INVALID, "threshold -1");
    EXPECT_STATUS(infocus_threshold_mask(map, 2, 2, 2, INFOCUS_THRESHOLD_FIXED, NAN, out, 8), INFOCUS_ERR_INVALID,
                  "fixed NaN level");
    EXPECT_STATUS(infocus_threshold_mask(map, 2, 2, 2, INFOCUS_THRESHOLD_FIXED, 1, out, 4), INFOCUS_ERR_INVALID,
                  "threshold out_len");
    EXPECT_STATUS(infocus_threshold_mask(map, 2, 0, 2, INFOCUS_THRESHOLD_FIXED, 1, out, 0), INFOCUS_ERR_INVALID,
                  "threshold h = 0");
    EXPECT_STATUS(infocus_threshold_mask(nan_map, 1, 2, 2, INFOCUS_THRESHOLD_OTSU_STACK, 0, out, 4),
                  INFOCUS_ERR_INVALID, "NaN in map");

    EXPECT_STATUS(infocus_depth_map(NULL, 2, 2, 2, depth, 4), INFOCUS_ERR_NULL, "depth NULL map");
    EXPECT_STATUS(infocus_depth_map(map, 2, 2, 2, NULL, 4), INFOCUS_ERR_NULL, "depth NULL out");
    EXPECT_STATUS(infocus_depth_map(map, 2, 2, 2, depth, 8), INFOCUS_ERR_INVALID, "depth out_len z*h*w");
    EXPECT_STATUS(infocus_depth_map(map, SIZE_MAX, 2, 2, depth, 4), INFOCUS_ERR_INVALID, "depth overflow");
    EXPECT_STATUS(infocus_depth_map(tall, 65537, 1, 1, &one, 1), INFOCUS_ERR_INVALID, "depth of 65537 slices");
    EXPECT_STATUS(infocus_depth_map(nan_map, 1, 2, 2, depth, 4), INFOCUS_ERR_INVALID, "depth of a map with NaN");
    CHECK(strstr(infocus_last_error(), "NaN") != NULL, "depth NaN message: %s", infocus_last_error());
    EXPECT_STATUS(infocus_depth_map(tall, 65536, 1, 1, &one, 1), INFOCUS_OK, "depth of 65536 slices");

    EXPECT_STATUS(infocus_in_focus(NULL, INFOCUS_PIXEL_U8, 2, 2, 2, mask, 8, out, 8), INFOCUS_ERR_NULL,
                  "in_focus NULL stack");
    EXPECT_STATUS(infocus_in_focus(stack, INFOCUS_PIXEL_U8, 2, 2, 2, NULL, 8, out, 8), INFOCUS_ERR_NULL,
                  "in_focus NULL mask");
    EXPECT_STATUS(infocus_in_focus(stack, INFOCUS_PIXEL_U8, 2, 2, 2, mask, 8, NULL, 8), INFOCUS_ERR_NULL,
                  "in_focus NULL out");
    EXPECT_STATUS(infocus_in_focus(stack, INFOCUS_PIXEL_U8, 2, 2, 2, mask, 7, out, 8), INFOCUS_ERR_INVALID,
                  "in_focus mask_len");
    EXPECT_STATUS(infocus_in_focus(stack, INFOCUS_PIXEL_U8, 2, 2, 2, mask, 8, out, 9), INFOCUS_ERR_INVALID,
                  "in_focus out_len");
    EXPECT_STATUS(infocus_in_focus(stack, 5, 2, 2, 2, mask, 8, out, 8), INFOCUS_ERR_INVALID, "in_focus pixel type");
    EXPECT_STATUS(infocus_in_focus(nan_map, INFOCUS_PIXEL_F32, 1, 2, 2, mask, 4, fout, 4), INFOCUS_ERR_INVALID,
                  "in_focus of a float stack with NaN");

    EXPECT_STATUS(infocus_all_in_focus(stack, INFOCUS_PIXEL_U8, 2, 2, 2, NULL, 4, out, 4), INFOCUS_ERR_NULL,
                  "all_in_focus NULL depth");
    EXPECT_STATUS(infocus_all_in_focus(stack, INFOCUS_PIXEL_U8, 2, 2, 2, depth, 8, out, 4), INFOCUS_ERR_INVALID,
                  "all_in_focus depth_len");
    EXPECT_STATUS(infocus_all_in_focus(stack, INFOCUS_PIXEL_U8, 2, 2, 2, depth, 4, out, 8), INFOCUS_ERR_INVALID,
                  "all_in_focus out_len");
    depth[3] = 2;
    EXPECT_STATUS(infocus_all_in_focus(stack, INFOCUS_PIXEL_U8, 2, 2, 2, depth, 4, out, 4), INFOCUS_ERR_INVALID,
                  "all_in_focus depth >= z");
    {
        size_t i;
        int untouched = 1;
        for (i = 0; i < 8; i++) untouched &= out[i] == 0x5A;
        CHECK(untouched, "a failed product wrote its out buffer");
    }
}

/* ---------------------------------------------------------------- U-Net */

typedef struct {
    int calls;
    uint32_t last_epoch, epochs;
    double last_loss, last_iou;
    uint32_t cancel_at; /* 0: never */
    int bad_args;
} EpochTracker;

static int32_t track_epoch(uint32_t epoch, uint32_t epochs, double loss, double val_iou, void *user_data) {
    EpochTracker *t = (EpochTracker *)user_data;
    t->calls++;
    if (epoch != t->last_epoch + 1 || epoch > epochs || !(loss >= 0.0) || !(val_iou >= 0.0 && val_iou <= 1.0))
        t->bad_args++;
    t->last_epoch = epoch;
    t->epochs = epochs;
    t->last_loss = loss;
    t->last_iou = val_iou;
    return t->cancel_at != 0 && epoch >= t->cancel_at;
}

/* A temporary file name for this run (removed by the caller). */
static void temp_path(char *buf, size_t len, const char *name) {
    const char *dir = getenv("TMPDIR");
    snprintf(buf, len, "%s/infocus_c_%lx_%s", dir && dir[0] ? dir : "/tmp", (unsigned long)(uintptr_t)buf, name);
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        CHECK(fwrite(data, 1, n, f) == n, "short write to %s", path);
        fclose(f);
    }
}

/* A stack whose middle slices are sharp 2 x 2 blocks in one half and
 * whose other slices and half are smooth. */
static void unet_stack(uint8_t *s, size_t z, size_t h, size_t w) {
    size_t k, y, x;
    for (k = 0; k < z; k++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                int sharp = (k == z / 2 || k == z / 2 - 1) && x < w / 2;
                s[(k * h + y) * w + x] = (uint8_t)(sharp ? 60 + 120 * blocks(y, x) : 100 + (int)((x + y + k) % 7));
            }
}

static void test_unet_unsupported(void) {
    InfocusUnetConfig cfg = infocus_unet_config_default();
    InfocusPredictParams pp = infocus_predict_params_default();
    InfocusModel *m = NULL;
    uint8_t stack[8] = {0}, mask[8];
    EXPECT_STATUS(infocus_model_new(&cfg, "cpu", 1, &m), INFOCUS_ERR_UNSUPPORTED, "model_new without torch");
    CHECK(strstr(infocus_last_error(), "--features torch") != NULL, "no hint in '%s'", infocus_last_error());
    EXPECT_STATUS(infocus_model_load("model.safetensors", NULL, &m), INFOCUS_ERR_UNSUPPORTED,
                  "model_load without torch");
    EXPECT_STATUS(infocus_unet_predict(NULL, stack, INFOCUS_PIXEL_U8, 2, 2, 2, &pp, mask, 8, NULL, 0, NULL, NULL),
                  INFOCUS_ERR_UNSUPPORTED, "predict without torch");
    CHECK(m == NULL, "a failed model_new wrote out");
    CHECK(strcmp(infocus_model_device(NULL), "") == 0, "device of NULL");
    infocus_model_free(NULL);
    printf("U-Net: not in this build (INFOCUS_ERR_UNSUPPORTED checked)\n");
}

static void test_unet(void) {
    enum { Z = 6, H = 32, W = 32, N = Z * H * W, OZ = 3, OH = 30, OW = 17, ON = OZ * OH * OW };
    static uint8_t stack[N], stack2[N], mask[N], mask2[N], masks[N], odd[ON], odd_mask[ON];
    static float prob[N], prob2[N];
    const void *stacks[2] = {stack, stack2};
    const uint8_t *mask_list[2] = {masks, masks};
    uint8_t annotated[2 * Z];
    InfocusUnetConfig cfg = infocus_unet_config_default(), got;
    InfocusUnetConfig paper = infocus_unet_config_paper();
    InfocusTrainParams tp = infocus_train_params_default();
    InfocusTrainParams fp = infocus_finetune_params_default();
    InfocusPredictParams pp = infocus_predict_params_default();
    InfocusModel *m = NULL, *m2 = NULL;
    EpochTracker et;
    char path[512], junk[512];
    FILE *f;
    long size;
    size_t i;
    int same;

    CHECK(cfg.depth == 3 && cfg.base_channels == 8 && cfg.norm == INFOCUS_NORM_BATCH && cfg.context == 3 &&
              cfg.profile == 1 && cfg.guide == 1,
          "default config %u %u %d %u %d %d", cfg.depth, cfg.base_channels, cfg.norm, cfg.context, cfg.profile,
          cfg.guide);
    CHECK(paper.depth == 3 && paper.base_channels == 16 && paper.norm == INFOCUS_NORM_INSTANCE && paper.context == 0 &&
              paper.profile == 0 && paper.guide == 0,
          "paper config");
    CHECK(tp.epochs == 100 && tp.learning_rate == 1e-3 && tp.preset == INFOCUS_PRESET_DEFAULT && tp.augment,
          "train defaults");
    CHECK(fp.learning_rate < tp.learning_rate && fp.bce_weight == 0.95 && fp.dice_weight == 0.05, "finetune defaults");
    CHECK(pp.threshold == 0.5f && pp.tile == 256 && pp.flips == 1, "predict defaults (flips %d)", pp.flips);
    if (!infocus_unet_available()) {
        test_unet_unsupported();
        return;
    }

    /* Making a model: argument errors, then a tiny one. */
    cfg.depth = 2;
    cfg.base_channels = 4;
    EXPECT_STATUS(infocus_model_new(NULL, "cpu", 1, &m), INFOCUS_ERR_NULL, "model_new NULL config");
    EXPECT_STATUS(infocus_model_new(&cfg, "cpu", 1, NULL), INFOCUS_ERR_NULL, "model_new NULL out");
    EXPECT_STATUS(infocus_model_new(&cfg, "tpu", 1, &m), INFOCUS_ERR_INVALID, "model_new device tpu");
    cfg.norm = 9;
    EXPECT_STATUS(infocus_model_new(&cfg, "cpu", 1, &m), INFOCUS_ERR_INVALID, "model_new norm 9");
    cfg.norm = INFOCUS_NORM_BATCH;
    cfg.depth = 0;
    EXPECT_STATUS(infocus_model_new(&cfg, "cpu", 1, &m), INFOCUS_ERR_INVALID, "model_new depth 0");
    cfg.depth = 2;
    cfg.context = 7;
    EXPECT_STATUS(infocus_model_new(&cfg, "cpu", 1, &m), INFOCUS_ERR_INVALID, "model_new context 7");
    CHECK(strstr(infocus_last_error(), "context") != NULL, "context error says '%s'", infocus_last_error());
    cfg.context = 1;
    cfg.profile = 2;
    EXPECT_STATUS(infocus_model_new(&cfg, "cpu", 1, &m), INFOCUS_ERR_INVALID, "model_new profile 2");
    CHECK(strstr(infocus_last_error(), "profile must be 0 or 1") != NULL, "profile error says '%s'",
          infocus_last_error());
    cfg.profile = 1;
    cfg.guide = -1;
    EXPECT_STATUS(infocus_model_new(&cfg, "cpu", 1, &m), INFOCUS_ERR_INVALID, "model_new guide -1");
    CHECK(strstr(infocus_last_error(), "guide must be 0 or 1") != NULL, "guide error says '%s'",
          infocus_last_error());
    cfg.profile = 0;
    cfg.guide = 0;
    EXPECT_STATUS(infocus_model_new(&cfg, "cpu", 1, &m2), INFOCUS_OK, "model_new profile 0 guide 0");
    if (m2 != NULL) {
        EXPECT_STATUS(infocus_model_config(m2, &got), INFOCUS_OK, "model_config profile 0 guide 0");
        CHECK(got.profile == 0 && got.guide == 0, "profile 0 guide 0 back as %d %d", got.profile, got.guide);
        infocus_model_free(m2);
        m2 = NULL;
    }
    cfg.profile = 1;
    cfg.guide = 1;
    CHECK(m == NULL, "a failed model_new wrote out");
    EXPECT_STATUS(infocus_model_new(&cfg, "cpu", 1, &m), INFOCUS_OK, "model_new");
    if (m == NULL) return;
    CHECK(strcmp(infocus_model_device(m), "cpu") == 0, "device '%s'", infocus_model_device(m));
    EXPECT_STATUS(infocus_model_config(m, &got), INFOCUS_OK, "model_config");
    CHECK(got.depth == 2 && got.base_channels == 4 && got.norm == INFOCUS_NORM_BATCH && got.context == 1 &&
              got.profile == 1 && got.guide == 1,
          "config back");

    /* Train on the default preset's weak labels, two epochs. */
    unet_stack(stack, Z, H, W);
    for (i = 0; i < N; i++) stack2[i] = (uint8_t)(255 - stack[i]);
    tp.epochs = 2;
    tp.patch = 16;
    tp.batch = 4;
    memset(&et, 0, sizeof et);
    EXPECT_STATUS(infocus_unet_train(m, stacks, 2, INFOCUS_PIXEL_U8, Z, H, W, &tp, track_epoch, &et), INFOCUS_OK,
                  "train");
    CHECK(et.calls == 2 && et.epochs == 2 && et.bad_args == 0, "epoch callback: %d calls, %d bad", et.calls,
          et.bad_args);
    printf("U-Net trained 2 epochs: loss %.4f, validation IoU %.3f\n", et.last_loss, et.last_iou);

    EXPECT_STATUS(infocus_unet_predict(m, stack, INFOCUS_PIXEL_U8, Z, H, W, &pp, mask, N, prob, N, NULL, NULL),
                  INFOCUS_OK, "predict");
    for (same = 1, i = 0; i < N; i++) same &= (prob[i] >= 0.0f && prob[i] <= 1.0f) && mask[i] == (prob[i] > 0.5f ? 255 : 0);
    CHECK(same, "mask is not prob > 0.5");

    /* A cancelled training leaves the model as it was. */
    memset(&et, 0, sizeof et);
    et.cancel_at = 1;
    EXPECT_STATUS(infocus_unet_train(m, stacks, 2, INFOCUS_PIXEL_U8, Z, H, W, &tp, track_epoch, &et),
                  INFOCUS_ERR_CANCELLED, "cancelled train");
    CHECK(et.calls == 1, "cancel after epoch 1: %d calls", et.calls);
    EXPECT_STATUS(infocus_unet_predict(m, stack, INFOCUS_PIXEL_U8, Z, H, W, &pp, mask2, N, prob2, N, NULL, NULL),
                  INFOCUS_OK, "predict after cancel");
    CHECK(memcmp(prob, prob2, sizeof prob) == 0, "a cancelled training changed the model");

    /* Any size. */
    for (i = 0; i < ON; i++) odd[i] = (uint8_t)((i * 37) % 251);
    EXPECT_STATUS(infocus_unet_predict(m, odd, INFOCUS_PIXEL_U8, OZ, OH, OW, &pp, odd_mask, ON, NULL, 0, NULL, NULL),
                  INFOCUS_OK, "predict 3 x 30 x 17");

    /* One pass (flips 0): a valid mask, other probabilities than the average over the mirror images. */
    pp.flips = 0;
    EXPECT_STATUS(infocus_unet_predict(m, stack, INFOCUS_PIXEL_U8, Z, H, W, &pp, mask2, N, prob2, N, NULL, NULL),
                  INFOCUS_OK, "predict flips 0");
    pp.flips = 1;
    for (same = 1, i = 0; i < N; i++) same &= mask2[i] == (prob2[i] > 0.5f ? 255 : 0);
    CHECK(same, "flips 0: mask is not prob > 0.5");
    CHECK(memcmp(prob, prob2, sizeof prob) != 0, "flips 0 gave the default's probabilities");

    /* Save, load, same predictions. */
    temp_path(path, sizeof path, "model.safetensors");
    EXPECT_STATUS(infocus_model_save(m, path), INFOCUS_OK, "save");
    EXPECT_STATUS(infocus_model_load(path, "cpu", &m2), INFOCUS_OK, "load");
    if (m2 != NULL) {
        EXPECT_STATUS(infocus_unet_predict(m2, stack, INFOCUS_PIXEL_U8, Z, H, W, &pp, mask2, N, prob2, N, NULL, NULL),
                      INFOCUS_OK, "predict with the loaded model");
        CHECK(memcmp(prob, prob2, sizeof prob) == 0, "save -> load changed the predictions");
        infocus_model_free(m2);
        m2 = NULL;
    }

    /* Damaged, foreign and missing files: INFOCUS_ERR_IO, out untouched. */
    temp_path(junk, sizeof junk, "junk.safetensors");
    write_file(junk, "definitely not a model", 22);
    EXPECT_STATUS(infocus_model_load(junk, NULL, &m2), INFOCUS_ERR_IO, "load junk");
    CHECK(strstr(infocus_last_error(), junk) != NULL, "the message does not name the file: %s", infocus_last_error());
    f = fopen(path, "rb");
    CHECK(f != NULL, "reopen %s", path);
    if (f) {
        static unsigned char buf[1 << 20];
        size = (long)fread(buf, 1, sizeof buf, f);
        fclose(f);
        write_file(junk, buf, (size_t)size / 2);
        EXPECT_STATUS(infocus_model_load(junk, NULL, &m2), INFOCUS_ERR_IO, "load a truncated model");
        buf[20] ^= 0x40;
        write_file(junk, buf, (size_t)size);
        EXPECT_STATUS(infocus_model_load(junk, NULL, &m2), INFOCUS_ERR_IO, "load a model with a damaged header");
    }
    remove(junk);
    EXPECT_STATUS(infocus_model_load(junk, NULL, &m2), INFOCUS_ERR_IO, "load a missing file");
    EXPECT_STATUS(infocus_model_load(NULL, NULL, &m2), INFOCUS_ERR_NULL, "load NULL path");
    CHECK(infocus_model_load(path, "cuda:99", &m2) != INFOCUS_OK, "loaded onto cuda:99");
    CHECK(m2 == NULL, "a failed load wrote out");
    remove(path);

    /* Argument errors leave outputs untouched. */
    memset(mask2, 0x5A, sizeof mask2);
    EXPECT_STATUS(infocus_unet_predict(NULL, stack, INFOCUS_PIXEL_U8, Z, H, W, &pp, mask2, N, NULL, 0, NULL, NULL),
                  INFOCUS_ERR_NULL, "predict NULL model");
    EXPECT_STATUS(infocus_unet_predict(m, stack, INFOCUS_PIXEL_U8, Z, H, W, &pp, mask2, N - 1, NULL, 0, NULL, NULL),
                  INFOCUS_ERR_INVALID, "predict mask_len");
    EXPECT_STATUS(infocus_unet_predict(m, stack, INFOCUS_PIXEL_U8, Z, H, W, &pp, mask2, N, prob2, 3, NULL, NULL),
                  INFOCUS_ERR_INVALID, "predict prob_len");
    pp.threshold = 2.0f;
    EXPECT_STATUS(infocus_unet_predict(m, stack, INFOCUS_PIXEL_U8, Z, H, W, &pp, mask2, N, NULL, 0, NULL, NULL),
                  INFOCUS_ERR_INVALID, "predict threshold 2");
    pp.threshold = 0.5f;
    pp.flips = 2;
    EXPECT_STATUS(infocus_unet_predict(m, stack, INFOCUS_PIXEL_U8, Z, H, W, &pp, mask2, N, NULL, 0, NULL, NULL),
                  INFOCUS_ERR_INVALID, "predict flips 2");
    CHECK(strstr(infocus_last_error(), "flips must be 0 or 1") != NULL, "flips error says '%s'", infocus_last_error());
    pp.flips = 1;
    for (same = 1, i = 0; i < N; i++) same &= mask2[i] == 0x5A;
    CHECK(same, "a failed predict wrote its out buffer");
    EXPECT_STATUS(infocus_model_save(NULL, path), INFOCUS_ERR_NULL, "save NULL model");
    EXPECT_STATUS(infocus_model_save(m, NULL), INFOCUS_ERR_NULL, "save NULL path");
    EXPECT_STATUS(infocus_unet_train(NULL, stacks, 2, INFOCUS_PIXEL_U8, Z, H, W, &tp, NULL, NULL), INFOCUS_ERR_NULL,
                  "train NULL model");
    EXPECT_STATUS(infocus_unet_train(m, stacks, 0, INFOCUS_PIXEL_U8, Z, H, W, &tp, NULL, NULL), INFOCUS_ERR_INVALID,
                  "train 0 stacks");
    tp.patch = 15;
    EXPECT_STATUS(infocus_unet_train(m, stacks, 2, INFOCUS_PIXEL_U8, Z, H, W, &tp, NULL, NULL), INFOCUS_ERR_INVALID,
                  "train patch 15");
    tp.patch = 16;

    /* Fine-tune on hand masks: the sharp half of the middle slices. */
    memset(masks, 0, sizeof masks);
    for (i = 0; i < N; i++) {
        size_t k = i / (H * W), x = i % W;
        if ((k == Z / 2 || k == Z / 2 - 1) && x < W / 2) masks[i] = 255;
    }
    fp.epochs = 2;
    fp.patch = 16;
    memset(&et, 0, sizeof et);
    EXPECT_STATUS(infocus_unet_finetune(m, stacks, mask_list, 2, INFOCUS_PIXEL_U8, Z, H, W, NULL, 0, &fp, track_epoch,
                                        &et),
                  INFOCUS_OK, "finetune on the slices with a mask");
    CHECK(et.calls == 2 && et.bad_args == 0, "finetune epochs: %d calls", et.calls);
    memset(annotated, 0, sizeof annotated);
    annotated[0] = annotated[Z + 1] = 1;
    EXPECT_STATUS(infocus_unet_finetune(m, stacks, mask_list, 2, INFOCUS_PIXEL_U8, Z, H, W, annotated, 2 * Z, &fp,
                                        NULL, NULL),
                  INFOCUS_OK, "finetune on listed slices (empty masks there)");
    EXPECT_STATUS(infocus_unet_finetune(m, stacks, mask_list, 2, INFOCUS_PIXEL_U8, Z, H, W, annotated, Z, &fp, NULL,
                                        NULL),
                  INFOCUS_ERR_INVALID, "finetune annotated_len");
    memset(annotated, 0, sizeof annotated);
    EXPECT_STATUS(infocus_unet_finetune(m, stacks, mask_list, 2, INFOCUS_PIXEL_U8, Z, H, W, annotated, 2 * Z, &fp,
                                        NULL, NULL),
                  INFOCUS_ERR_INVALID, "finetune with no annotated slice");
    mask_list[1] = NULL;
    EXPECT_STATUS(infocus_unet_finetune(m, stacks, mask_list, 2, INFOCUS_PIXEL_U8, Z, H, W, NULL, 0, &fp, NULL, NULL),
                  INFOCUS_ERR_NULL, "finetune NULL mask");

    infocus_model_free(m);
    infocus_model_free(NULL);
}

int main(void) {
    test_version_and_names();
    test_defaults();
    test_map_whole_slice(INFOCUS_PIXEL_U8);
    test_map_whole_slice(INFOCUS_PIXEL_U16);
    test_map_whole_slice(INFOCUS_PIXEL_F32);
    test_map_by_hand();
    test_every_measure_runs();
    test_progress_and_cancel();
    test_segment_paper();
    test_segment_default();
    test_threshold();
    test_depth_and_all_in_focus();
    test_products_pipeline();
    test_in_focus();
    test_map_errors();
    test_segment_errors();
    test_product_errors();
    test_unet();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
