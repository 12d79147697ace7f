#!/usr/bin/env bash
# The U-Net on a CUDA GPU, with the binaries bench/cuda/build.sh made
# (.gpu/bin). Run from the checkout's root on the GPU machine:
#
#   OUT=/some/dir bash bench/cuda/check.sh
#
# 1. The U-Net tests on the GPU: tests/unet_cuda.rs (same weights on both
#    devices, GPU training, a GPU model moved to the CPU predicts the same,
#    GPU predictions repeat), and the U-Net CLI and C-ABI tests, whose
#    `auto` device is the GPU there.
# 2. The CLI end to end: synth, train --device cuda, predict on cuda and on
#    cpu; the two masks are scored against each other and the truth, and
#    the probabilities must agree to TF32's precision (libtorch lets cuDNN
#    convolve in TF32 on Ampere and later: 3-6e-3 apart on an H200).
# 3. The accuracy example's U-Net training on the GPU (by default the recipe of
#    the shipped models), one run per line of
#    RUNS below (side by side, each in its own folder); each run's
#    ACCURACY.md and models come back as $OUT/<name>.tar. Load them with
#    `--reuse-models` to evaluate them on a CPU.
#
# Logs: $OUT/check.log. Prints "N passed, N failed" for the checks of 1-2.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/infocus-cuda-check}"
mkdir -p "$OUT"
LOG="$OUT/check.log"
B="$ROOT/.gpu/bin"
exec > >(tee -a "$LOG") 2>&1

TORCH_LIB="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$TORCH_LIB"
nvidia-smi -L
python3 -c 'import torch; print("python torch", torch.__version__, "cuda", torch.cuda.is_available())'
cat "$B/BUILD-INFO.txt" | head -2
# Paths the test binaries were compiled with.
mkdir -p /var/tmp/infocus-cuda-target/release
cp "$B/infocus" /var/tmp/infocus-cuda-target/release/infocus
ln -sfn "$ROOT" /var/tmp/infocus-cuda-src

# --- 3 (started first: it takes longest) -------------------------------------
# name|environment of the accuracy example
RUNS="${RUNS:-shipped|UNET_STACKS=96}"
pids=()
while IFS='|' read -r name envs; do
    [ -n "$name" ] || continue
    d="/tmp/acc-$name"
    rm -rf "$d" && mkdir -p "$d/tests"
    ln -s "$ROOT/tests/data" "$d/tests/data"
    (
        cd "$d" && env $envs UNET_DEVICE=cuda RAYON_NUM_THREADS="${RUN_THREADS:-4}" \
            timeout "${RUN_TIMEOUT:-420}" "$B/accuracy" >"$d/run.log" 2>&1
        echo "run $name ($envs): exit $?" >>"$d/run.log"
        tar -cf "$OUT/$name.tar" -C "$d" run.log $(cd "$d" && ls ACCURACY.md models/*.safetensors 2>/dev/null)
    ) &
    pids+=($!)
done <<<"$(echo "$RUNS" | tr ';' '\n')"

# --- 1 ------------------------------------------------------------------------
pass=0
fail=0
check() { # name, command...
    local name="$1"
    shift
    local t0=$SECONDS
    if "$@"; then
        pass=$((pass + 1))
        echo "== ok: $name ($((SECONDS - t0)) s)"
    else
        fail=$((fail + 1))
        echo "== FAILED: $name ($((SECONDS - t0)) s)"
    fi
}
check "unet_cuda" "$B/unet_cuda" --nocapture --test-threads 1
for t in unet_ffi_matrix unet_cli unet_model unet_ffi; do
    [ -x "$B/$t" ] && check "$t" "$B/$t" --test-threads 4
done

# --- 2 ------------------------------------------------------------------------
W=/tmp/cli-cuda
rm -rf "$W" && mkdir -p "$W"
cli() { "$B/infocus" "$@"; }
check "cli synth" cli synth --slices 20 --size 256 --texture fine --seed 5 -o "$W/s.tif"
check "cli synth (training)" cli synth --slices 20 --size 256 --texture fine --seed 6 -o "$W/t.tif"
check "cli train --device cuda" cli train --device cuda --epochs 8 -o "$W/m.safetensors" "$W/t.tif"
check "cli predict --device cuda" cli predict --device cuda "$W/m.safetensors" "$W/s.tif" -o "$W/cuda.tif" --prob "$W/cuda_p.tif"
check "cli predict --device cpu" cli predict --device cpu "$W/m.safetensors" "$W/s.tif" -o "$W/cpu.tif" --prob "$W/cpu_p.tif"
check "cli masks cuda vs cpu" cli eval --pred "$W/cuda.tif" --truth "$W/cpu.tif"
cli eval --pred "$W/cuda.tif" --truth "$W/s_truth.tif"
check "cli probabilities cuda vs cpu within 2e-2 (TF32)" python3 - "$W/cuda_p.tif" "$W/cpu_p.tif" <<'EOF'
import sys, numpy as np, tifffile
a, b = (tifffile.imread(p) for p in sys.argv[1:3])
d = float(np.abs(a - b).max())
print(f"max probability difference cuda vs cpu: {d:.2e}; masks differ at {int(((a > 0.5) != (b > 0.5)).sum())} of {a.size} pixels")
sys.exit(0 if d < 2e-2 else 1)
EOF
echo "$pass passed, $fail failed"

for p in "${pids[@]}"; do wait "$p"; done
for f in /tmp/acc-*/run.log; do echo "--- $f"; grep -E 'epoch|mean IoU|exit' "$f" | tail -40; done
ls -la "$OUT"
