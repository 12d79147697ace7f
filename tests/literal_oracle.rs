//! The fast focus maps (`infocus::map::focus_map`) against the literal oracle
//! (tests/common/literal.rs), which follows the specification loop by loop.
//!
//! Agreement is to 1e-6 relative, pixel by pixel: |fast - oracle| <=
//! 1e-6 * max(|oracle|, 1e-30), so where the oracle gives exactly 0 the fast
//! code must give exactly 0 too.

mod common;

use common::literal::{self, MEASURES};
use common::{
    Kind, compare_maps, constant_stack, patchy_stack, random_stack, structured_stack, to_stack,
};
use infocus::Progress;
use infocus::map::{MapParams, focus_map};
use infocus::measure::Measure;
use ndarray::Array3;
use proptest::prelude::*;

const REL: f64 = 1e-6;

fn measure(name: &str) -> Measure {
    name.parse::<Measure>()
        .unwrap_or_else(|_| panic!("Measure does not parse {name:?}"))
}

fn params(name: &str, window: usize, strides: &[usize]) -> MapParams {
    let mut p = MapParams::paper();
    p.measure = measure(name);
    p.window = window;
    p.strides = strides.to_vec();
    p
}

fn fast_map(kind: Kind, stack: &Array3<f64>, p: &MapParams) -> Array3<f32> {
    let st = to_stack(kind, stack);
    focus_map(st.view(), p, &Progress::none()).expect("focus_map failed")
}

/// Runs the fast map and the oracle on the same stack and compares them.
fn compare(
    kind: Kind,
    stack: &Array3<f64>,
    name: &str,
    window: usize,
    strides: &[usize],
    what: &str,
) -> Result<(), String> {
    let fast = fast_map(kind, stack, &params(name, window, strides));
    let oracle = literal::literal_map(stack, kind == Kind::U8, name, window, strides);
    compare_maps(
        &fast,
        &oracle,
        REL,
        &format!(
            "{what}: {name}, {kind:?} {:?}, window {window}, strides {strides:?}",
            stack.dim()
        ),
    )
}

/// [`compare`], panicking on a difference.
fn check(
    kind: Kind,
    stack: &Array3<f64>,
    name: &str,
    window: usize,
    strides: &[usize],
    what: &str,
) {
    if let Err(e) = compare(kind, stack, name, window, strides, what) {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------- the API --

#[test]
fn measure_names_match_the_oracle() {
    let names: Vec<&str> = Measure::ALL.iter().map(|m| m.name()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    let mut want = MEASURES.to_vec();
    want.sort_unstable();
    assert_eq!(sorted, want, "Measure::ALL names");
    for name in MEASURES {
        assert_eq!(measure(name).name(), name, "round trip of {name}");
    }
    assert!("no-such-measure".parse::<Measure>().is_err());
}

#[test]
fn paper_preset_is_the_papers() {
    let p = MapParams::paper();
    assert_eq!(p.measure.name(), "std");
    assert_eq!(p.window, 128);
    assert_eq!(p.strides, (8..=36).step_by(2).collect::<Vec<usize>>());
    assert_eq!(p.strides.len(), 15);
}

// -------------------------------------------------- (a) the paper preset --

fn check_paper(kind: Kind, stack: &Array3<f64>, name: &str, what: &str) {
    let p = MapParams::paper();
    check(
        kind,
        stack,
        name,
        p.window,
        &p.strides,
        &format!("paper preset, {what}"),
    );
}

#[test]
fn paper_std_variance_u8() {
    let shape = (2, 150, 170);
    for (what, st) in [
        ("random", random_stack(Kind::U8, shape, 11)),
        ("structured", structured_stack(Kind::U8, shape, 12)),
    ] {
        for name in ["std", "variance"] {
            check_paper(Kind::U8, &st, name, what);
        }
    }
}

#[test]
fn paper_std_variance_u16() {
    let shape = (2, 150, 170);
    for (what, st) in [
        ("random", random_stack(Kind::U16, shape, 21)),
        ("structured", structured_stack(Kind::U16, shape, 22)),
    ] {
        for name in ["std", "variance"] {
            check_paper(Kind::U16, &st, name, what);
        }
    }
}

/// Larger than the 128 window both ways, so interior windows, clipped edge
/// windows and many strides all matter.
#[test]
fn paper_std_variance_300x260() {
    let shape = (1, 300, 260);
    let u8s = structured_stack(Kind::U8, shape, 31);
    let u16s = structured_stack(Kind::U16, shape, 32);
    let u16r = random_stack(Kind::U16, shape, 33);
    for name in ["std", "variance"] {
        check_paper(Kind::U8, &u8s, name, "structured");
        check_paper(Kind::U16, &u16s, name, "structured");
    }
    check_paper(Kind::U16, &u16r, "std", "random");
}

#[test]
fn paper_std_f32() {
    let st = structured_stack(Kind::F32, (2, 150, 170), 41);
    check_paper(Kind::F32, &st, "std", "structured");
}

// ------------------------------- (b) all measures, small windows, strides --

/// (window, strides, shape): small windows, several strides, a stride larger
/// than the window (pixels no window covers), stride equal to the window,
/// a window larger than the image, odd sizes, a single row and a single column.
/// (window, strides, shape).
type Case = (usize, &'static [usize], (usize, usize, usize));

const CASES: &[Case] = &[
    (7, &[2, 3, 5], (2, 37, 29)),
    (16, &[4], (1, 40, 52)),
    (64, &[3, 8], (2, 23, 31)),
    (9, &[1, 4], (1, 33, 27)),
    (3, &[5], (1, 21, 19)),
    (2, &[2], (1, 9, 11)),
    (5, &[7, 2, 3], (2, 17, 13)),
    (4, &[3], (1, 1, 25)),
    (4, &[3], (1, 25, 1)),
    (1, &[1, 2], (1, 6, 7)),
];

/// Every case, stack and measure; reports all failures at once.
fn check_all_measures(kind: Kind, seed: u64) {
    let mut failures = Vec::new();
    for (i, &(window, strides, shape)) in CASES.iter().enumerate() {
        let seed = seed + 100 * i as u64;
        let stacks = [
            ("random", random_stack(kind, shape, seed)),
            ("structured", structured_stack(kind, shape, seed + 1)),
            ("patchy", patchy_stack(kind, shape, seed + 2)),
        ];
        for (what, st) in &stacks {
            for name in MEASURES {
                if let Err(e) = compare(kind, st, name, window, strides, what) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} comparisons failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn all_measures_u8() {
    check_all_measures(Kind::U8, 1000);
}

#[test]
fn all_measures_u16() {
    check_all_measures(Kind::U16, 2000);
}

#[test]
fn all_measures_f32() {
    check_all_measures(Kind::F32, 3000);
}

/// Entropy bins over the whole stack's range: slices with different ranges
/// must still share the stack's bins (u16 and f32).
#[test]
fn entropy_uses_the_whole_stack_range() {
    for kind in [Kind::U16, Kind::F32] {
        let mut st = structured_stack(kind, (3, 24, 30), 77);
        // Squeeze slice 1 into the lower tenth of the range.
        let fs = kind.full_scale();
        st.index_axis_mut(ndarray::Axis(0), 1)
            .mapv_inplace(|v| kind.representable(v * 0.1 + 0.05 * fs));
        check(kind, &st, "entropy", 8, &[3, 4], "squeezed slice");
    }
}

// ------------------------------------------------------- (c) properties --

fn kind_strategy() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::U8), Just(Kind::U16), Just(Kind::F32)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn fast_equals_oracle(
        z in 1usize..=2,
        h in 1usize..=24,
        w in 1usize..=24,
        window in 1usize..=30,
        strides in prop::collection::vec(1usize..=12, 1..=3),
        measure_index in 0usize..9,
        kind in kind_strategy(),
        structured in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let name = MEASURES[measure_index];
        let shape = (z, h, w);
        let st = if structured {
            structured_stack(kind, shape, seed)
        } else {
            random_stack(kind, shape, seed)
        };
        check(kind, &st, name, window, &strides, "proptest");
    }
}

// ---------------------------------------------------- (d) constant stacks --

/// A constant stack has no contrast: every measure but vollath is exactly 0
/// (vollath of a constant c is c^2 per lag-1 pair minus c^2 per lag-2 pair).
#[test]
fn constant_stack_scores_exactly_zero() {
    let zero_measures = [
        "std",
        "variance",
        "brenner",
        "tenengrad",
        "laplacian",
        "smd",
        "entropy",
        "dwt",
    ];
    let stacks = [
        (Kind::U8, 0.0),
        (Kind::U8, 17.0),
        (Kind::U8, 255.0),
        (Kind::U16, 0.0),
        (Kind::U16, 40_000.0),
        (Kind::U16, 65535.0),
        (Kind::F32, 0.0),
        (Kind::F32, 0.1),
        (Kind::F32, -3.7),
        (Kind::F32, 1234.567),
    ];
    let paper = MapParams::paper();
    let settings: [(usize, &[usize]); 4] = [
        (paper.window, &paper.strides),
        (7, &[2, 3, 5]),
        (3, &[5]),
        (1, &[1]),
    ];
    for (kind, value) in stacks {
        for (shape, setting) in [
            ((2, 150, 170), 0),
            ((1, 19, 23), 1),
            ((1, 19, 23), 2),
            ((1, 5, 4), 3),
        ] {
            let st = constant_stack(kind, shape, value);
            let (window, strides) = settings[setting];
            for name in zero_measures {
                let fast = fast_map(kind, &st, &params(name, window, strides));
                let bad = fast.iter().filter(|&&v| v != 0.0).count();
                assert!(
                    bad == 0,
                    "{name} on a constant {kind:?} stack of {value} ({shape:?}, window {window}, \
                     strides {strides:?}): {bad} pixels not exactly 0, e.g. {:e}",
                    fast.iter().find(|&&v| v != 0.0).unwrap()
                );
            }
            if setting != 0 {
                // (The oracle is slow on the paper setting; the small ones suffice.)
                check(
                    kind,
                    &st,
                    "vollath",
                    window,
                    strides,
                    &format!("constant {value}"),
                );
            }
        }
    }
}
