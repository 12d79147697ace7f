#!/usr/bin/env bash
# The Fiji plugin's tests (run by tests/run_all.sh); prints "N passed, N failed".
#  1. JUnit (headless JVM): the JNI door and the plugin classes.
#  2. ImageJ 1.x in batch mode under Xvfb, with the jar and the library
#     installed as in Fiji.app (plugins/ and lib/linux64/): every menu
#     command run from a macro with options on synthetic 8-, 16- and 32-bit
#     stacks; results saved as TIFF and compared with the CLI's outputs for
#     the same inputs (pixels byte for byte, size, type, calibration; model
#     files byte for byte); bad inputs (RGB, a single 2-D image, a corrupt
#     model file) give their error and no result, never a crash.
# Needs: bash setup.sh (JDK, libij-java, junit4, xvfb, xauth) and libtorch.
# Bounded: every JVM runs under `timeout`; about a minute in all.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
cd "$ROOT"
IJ_JAR="${IJ_JAR:-/usr/share/java/ij.jar}"
JUNIT_CP="/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
export LIBTORCH="${LIBTORCH:-$ROOT/.libtorch/torch}"
# libtorch's OpenMP threads sleep rather than spin (the CLI sets this itself).
# The library finds libtorch through its RUNPATH: no LD_LIBRARY_PATH (checked by running without one).
unset LD_LIBRARY_PATH
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "  ok   $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL $*"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
t0=$(date +%s)

# tests/run_all.sh sets INFOCUS_FIJI_NO_BUILD=1: `cargo test` has just built the
# library and the CLI (a `cargo build` there would rebuild everything, as
# dev-dependencies change the features of the crates they share).
if [ -z "${INFOCUS_FIJI_NO_BUILD:-}" ]; then
    cargo build --release --features torch --lib --bin infocus -q ||
        { echo "java/test.sh: cargo build failed"; echo "0 passed, 1 failed"; exit 1; }
fi
bash "$HERE/build.sh" || { echo "0 passed, 1 failed"; exit 1; }
# The newest library: `cargo build` writes target/release/, `cargo test` target/release/deps/.
LIB="$(ls -t "$TARGET/release/libinfocus.so" "$TARGET/release/deps/libinfocus.so" 2>/dev/null | head -n 1)"
[ -n "$LIB" ] && [ -x "$TARGET/release/infocus" ] ||
    { echo "java/test.sh: no libinfocus.so or infocus in $TARGET/release (cargo build --release --features torch)"; echo "0 passed, 1 failed"; exit 1; }
echo "java/test.sh: library $LIB"
CLI="$TARGET/release/infocus"
JAR="$HERE/build/Infocus_.jar"

T="$(mktemp -d /tmp/infocus-fiji.XXXXXX)"
[ -n "${INFOCUS_KEEP:-}" ] && echo "java/test.sh: keeping $T" || trap 'rm -rf "$T"' EXIT
# Installed as in Fiji: two files.
mkdir -p "$T/Fiji.app/plugins" "$T/Fiji.app/lib/linux64" "$T/ij" "$T/cli"
cp "$JAR" "$T/Fiji.app/plugins/"
ln -s "$LIB" "$T/Fiji.app/lib/linux64/libinfocus.so"

echo "java/test.sh: JUnit (headless)"
junit_out="$(timeout 180 java -Djava.awt.headless=true -Dinfocus.library="$LIB" \
    -cp "$IJ_JAR:$JUNIT_CP:$JAR:$HERE/build/test-classes" org.junit.runner.JUnitCore infocus.fiji.NativeTest 2>&1)"
echo "$junit_out" | grep -E "^(OK|Tests run|[0-9]+\))" | sed 's/^/  /'
if runs=$(echo "$junit_out" | sed -n 's/^OK (\([0-9]*\) tests)$/\1/p') && [ -n "$runs" ]; then
    passed=$((passed + runs))
else
    nrun=$(echo "$junit_out" | sed -n 's/^Tests run: \([0-9]*\), *Failures: \([0-9]*\).*/\1/p')
    nfail=$(echo "$junit_out" | sed -n 's/^Tests run: \([0-9]*\), *Failures: \([0-9]*\).*/\2/p')
    if [ -n "$nrun" ]; then
        passed=$((passed + nrun - nfail)); failed=$((failed + nfail))
    else
        echo "$junit_out" | tail -20; bad "JUnit did not run"
    fi
fi

echo "java/test.sh: ImageJ $(dpkg-query -W -f='${Version}' libij-java 2>/dev/null) in batch mode under Xvfb"
# Synthetic stacks (u16 gets a calibration in ImageJ first; see the macro).
"$CLI" synth -o "$T/s16.tif" --slices 6 --size 64 --seed 3 >/dev/null
"$CLI" synth -o "$T/in8.tif" --slices 5 --size 48 --seed 4 --pixel-type u8 --texture fine >/dev/null
"$CLI" synth -o "$T/in32.tif" --slices 5 --size 40 --seed 5 --pixel-type f32 >/dev/null

sed "s|@T@|$T|g" "$HERE/src/test/macros/commands.ijm" > "$T/commands.ijm"
ij_out="$(xvfb-run -a timeout 300 java -Xmx2g -Dplugins.dir="$T/Fiji.app/plugins" -cp "$IJ_JAR" ij.ImageJ \
    -batch "$T/commands.ijm" 2>&1)"
echo "$ij_out" > "$T/imagej.log"
check "the macro ran to its end (sentinel printed)" grep -q "INFOCUS_FIJI_MACRO_DONE" "$T/imagej.log"
check "no JVM crash (no hs_err file)" test -z "$(ls hs_err_pid*.log "$T"/hs_err_pid*.log 2>/dev/null)"
grep -E "^infocus: |^images" "$T/imagej.log" | sed 's/^/  imagej: /'

# The CLI on the same inputs (in16.tif: the calibrated stack ImageJ saved).
C="$CLI"
run_cli() { "$@" >>"$T/cli.log" 2>&1 || echo "CLI failed: $*" >>"$T/cli.log"; }
run_cli "$C" focus-map "$T/in16.tif" -o "$T/cli/fm_paper16.tif" --preset paper --measure brenner --window 32 --strides 8,12
run_cli "$C" focus-map "$T/in8.tif" -o "$T/cli/fm_default8.tif" --preset default
run_cli "$C" segment "$T/in16.tif" -o "$T/cli/mask16.tif" --focus-map "$T/cli/map16.tif" --in-focus "$T/cli/if16.tif" \
    --depth "$T/cli/depth16.tif" --all-in-focus "$T/cli/aif16.tif"
run_cli "$C" segment "$T/in32.tif" -o "$T/cli/mask32.tif" --preset paper --measure variance --window 16 --strides 8 --threshold otsu-slice
run_cli "$C" segment "$T/in8.tif" -o "$T/cli/unused.tif" --dof 2 --depth "$T/cli/depth8.tif" --all-in-focus "$T/cli/aif8.tif"
run_cli "$C" --threads 1 train "$T/in16.tif" -o "$T/cli/model.safetensors" --preset default --config default --depth 2 \
    --base-channels 4 --context 1 --epochs 2 --batch 2 --patch 32 --patience 0 --val-fraction 0.2 --seed 5
run_cli "$C" --threads 1 train "$T/in16.tif" -o "$T/cli/model_off.safetensors" --preset default --config default --depth 2 \
    --base-channels 4 --context 1 --profile off --epochs 2 --batch 2 --patch 32 --patience 0 --val-fraction 0.2 --seed 5
run_cli "$C" --threads 1 train "$T/in16.tif" -o "$T/cli/model_noguide.safetensors" --preset default --config default --depth 2 \
    --base-channels 4 --context 1 --guide off --epochs 2 --batch 2 --patch 32 --patience 0 --val-fraction 0.2 --seed 5
run_cli "$C" --threads 1 finetune "$T/cli/model.safetensors" --images "$T/in16.tif" --masks "$T/cli/mask16.tif" \
    -o "$T/cli/ft.safetensors" --epochs 2 --batch 2 --patch 32 --patience 0 --seed 5
run_cli "$C" --threads 1 predict "$T/cli/ft.safetensors" "$T/in16.tif" -o "$T/cli/pred16.tif" --prob "$T/cli/prob16.tif" \
    --prob-threshold 0.5 --tile 64 --overlap 16
run_cli "$C" --threads 1 predict "$T/cli/ft.safetensors" "$T/in16.tif" -o "$T/cli/pred16_noflips.tif" \
    --prob "$T/cli/prob16_noflips.tif" --prob-threshold 0.5 --tile 64 --overlap 16 --no-flips
check "the CLI made every reference output" bash -c "! grep -q 'CLI failed' '$T/cli.log'"
grep "CLI failed\|error" "$T/cli.log" | sed 's/^/  cli: /'

same() {
    timeout 60 java -Djava.awt.headless=true -cp "$IJ_JAR:$HERE/build/test-classes" infocus.fiji.SameTiff \
        "$T/ij/$1" "$T/cli/$1" 2>&1 | sed "s|$T/||g" | tee -a "$T/same.log" | grep -q "^same "
}
for f in fm_paper16.tif fm_default8.tif mask16.tif map16.tif if16.tif depth16.tif aif16.tif mask32.tif \
         depth8.tif aif8.tif pred16.tif prob16.tif pred16_noflips.tif prob16_noflips.tif; do
    check "Fiji = CLI: $f" same "$f"
done
check "no_flips and the default differ (probabilities)" bash -c "test -s '$T/ij/prob16_noflips.tif' && test -s '$T/ij/prob16.tif' && ! cmp -s '$T/ij/prob16_noflips.tif' '$T/ij/prob16.tif'"
check "Fiji = CLI: model.safetensors (bytes)" cmp -s "$T/ij/model.safetensors" "$T/cli/model.safetensors"
check "Fiji = CLI: model_off.safetensors, focus_profile=off = --profile off (bytes)" \
    cmp -s "$T/ij/model_off.safetensors" "$T/cli/model_off.safetensors"
check "focus_profile=off and the default differ" bash -c "test -s '$T/ij/model_off.safetensors' && test -s '$T/ij/model.safetensors' && ! cmp -s '$T/ij/model_off.safetensors' '$T/ij/model.safetensors'"
check "Fiji = CLI: model_noguide.safetensors, preset_guide=off = --guide off (bytes)" \
    cmp -s "$T/ij/model_noguide.safetensors" "$T/cli/model_noguide.safetensors"
check "preset_guide=off and the default differ" bash -c "test -s '$T/ij/model_noguide.safetensors' && test -s '$T/ij/model.safetensors' && ! cmp -s '$T/ij/model_noguide.safetensors' '$T/ij/model.safetensors'"
check "Fiji = CLI: ft.safetensors (bytes)" cmp -s "$T/ij/ft.safetensors" "$T/cli/ft.safetensors"
check "calibration kept (0.5 um)" bash -c "grep -q 'calibration in16-mask: 0.5 .*m' '$T/imagej.log'"

# Bad inputs: an error line each, no new image, and the macro went on.
check "RGB image refused with a message" grep -q "infocus: error: Segment: 'rgb' is an RGB image" "$T/imagej.log"
check "single 2-D image refused with a message" grep -q "infocus: error: Focus Map: 'flat' is a single 2-D image" "$T/imagej.log"
check "corrupt model file refused with a message" grep -q "infocus: error: Predict U-Net: .*bad.safetensors" "$T/imagej.log"
check "bad options refused with a message" grep -q "infocus: error: Focus Map: .*strides must be whole numbers" "$T/imagej.log"
check "no image made by the refused commands" grep -q "images after errors: 0 new" "$T/imagej.log"

if [ "$failed" -gt 0 ]; then
    echo "--- ImageJ output"; sed "s|$T/||g" "$T/imagej.log" | tail -40
fi
echo "java/test.sh: $(( $(date +%s) - t0 ))s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
