#!/usr/bin/env bash
# Builds CUDA-enabled infocus binaries for a GPU machine whose only libtorch is
# PyTorch 2.11.0+cu130 (a Python 3.12 venv) and which has no Rust toolchain and
# no network: the binaries are built here and copied there.
#
#   bash bench/cuda/build.sh
#
# What it does (idempotent; later runs are incremental):
#  1. Unpacks PyPI's torch 2.11.0 wheel (the CUDA 13.0 build) into
#     $TORCH_DIR (/var/tmp/infocus-torch211): headers and .so files only.
#     Its CUDA dependencies (cublas, cudnn, ...) are not installed here, so the
#     binaries are linked with -Wl,--allow-shlib-undefined.
#  2. Copies this checkout's working tree (tracked + untracked-not-ignored
#     files) into $SRC_DIR (/var/tmp/infocus-cuda-src) and, in that copy only,
#     pins tch/torch-sys to =$TCH_VERSION (tch 0.24 binds libtorch 2.11) and
#     points build.rs's libtorch version check at 2.11.0. The checkout itself
#     keeps tch 0.26 / libtorch 2.13.
#  3. Builds with --release --features cuda into $CARGO_TARGET_DIR
#     (/var/tmp/infocus-cuda-target): the `infocus` binary, the `accuracy`
#     example and the test binaries (TESTS=auto: tests/unet*.rs and
#     tests/*cuda*.rs; TESTS=all: every test). Linked with --enable-new-dtags,
#     so the build-time libtorch path is a RUNPATH, which LD_LIBRARY_PATH
#     overrides (that path does not exist on the GPU machine anyway).
#  4. Copies them, stripped, into <checkout>/.gpu/bin (git-excluded through
#     .git/info/exclude), keeping the total under $MAX_MB MiB.
#  5. Checks the result here: readelf NEEDED/RUNPATH, ldd, and a try at
#     `infocus --version` (expected to fail here for want of cublas/cudnn).
#
# On the GPU machine (see the report printed at the end):
#   export LD_LIBRARY_PATH=/opt/torch/.venv/lib/python3.12/site-packages/torch/lib
#   .gpu/bin/infocus --version
#   .gpu/bin/unet_model --ignored cuda      # run from the checkout's root
# libtorch's own RUNPATH ($ORIGIN/../../nvidia/...) finds the nvidia libraries.
#
# A test that does not compile is skipped with a warning (STRICT=1: fail).
# Environment: TCH_VERSION (0.24.0), TESTS (auto|all), MAX_MB (45), STRICT,
# TORCH_DIR, SRC_DIR, CARGO_TARGET_DIR, KEEP_WHEEL=1 (keep the 530 MB wheel).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TCH_VERSION="${TCH_VERSION:-0.24.0}"
TORCH_VERSION=2.11.0
TORCH_DIR="${TORCH_DIR:-/var/tmp/infocus-torch211}"
SRC_DIR="${SRC_DIR:-/var/tmp/infocus-cuda-src}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/infocus-cuda-target}"
OUT="$ROOT/.gpu/bin"
TESTS="${TESTS:-auto}"
MAX_MB="${MAX_MB:-45}"

log() { echo "cuda/build.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
t0=$(date +%s)

for tool in cargo python3 unzip tar git readelf strip objdump; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done

# --- 1. libtorch 2.11.0 (cu130) from PyPI's wheel ---------------------------
if [ -f "$TORCH_DIR/torch/lib/libtorch_cuda.so" ] && [ -f "$TORCH_DIR/torch/version.py" ]; then
    log "libtorch $TORCH_VERSION present in $TORCH_DIR"
else
    dl="$TORCH_DIR.dl"
    mkdir -p "$dl"
    whl="$(ls "$dl"/torch-"$TORCH_VERSION"-*.whl 2>/dev/null | head -n 1 || true)"
    if [ -z "$whl" ]; then
        log "downloading the torch $TORCH_VERSION wheel (~530 MB)"
        PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip download -q --no-deps \
            --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
            "torch==$TORCH_VERSION" -d "$dl" </dev/null >&2
        whl="$(ls "$dl"/torch-"$TORCH_VERSION"-*.whl | head -n 1)"
    fi
    unzip -l "$whl" torch/lib/libtorch_cuda.so >/dev/null 2>&1 ||
        die "$whl has no torch/lib/libtorch_cuda.so (not a CUDA build)"
    log "unpacking $(basename "$whl") into $TORCH_DIR"
    rm -rf "$TORCH_DIR.partial"
    # libtorch_python.so is Python's binding: not needed to link against.
    unzip -q "$whl" 'torch/include/*' 'torch/lib/*' 'torch/share/*' torch/version.py \
        -x torch/lib/libtorch_python.so -d "$TORCH_DIR.partial"
    rm -rf "$TORCH_DIR"
    mv "$TORCH_DIR.partial" "$TORCH_DIR"
    [ "${KEEP_WHEEL:-0}" = 1 ] || rm -rf "$dl"
fi
grep -q "__version__ = '$TORCH_VERSION+cu13" "$TORCH_DIR/torch/version.py" ||
    die "$TORCH_DIR/torch/version.py is not $TORCH_VERSION+cu13x: $(grep __version__ "$TORCH_DIR/torch/version.py")"

# --- 2. a patched copy of the working tree ----------------------------------
log "copying the working tree of $ROOT into $SRC_DIR"
stage="$SRC_DIR.stage"
rm -rf "$stage"
mkdir -p "$stage" "$SRC_DIR"
# Tracked and untracked-not-ignored files that exist (a deleted tracked file is skipped).
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"; done) >"$stage.list"
tar -C "$ROOT" --null -T "$stage.list" -cf - | tar -C "$stage" -xf -
rm -f "$stage.list"

# tch/torch-sys 0.26 -> =$TCH_VERSION (any version form on those two lines).
sed -i -E "s/^(tch|torch-sys)( *= *\{ *version *= *)\"[^\"]*\"/\1\2\"=$TCH_VERSION\"/" "$stage/Cargo.toml"
[ "$(grep -cE "^(tch|torch-sys) *= *\{ *version *= *\"=$TCH_VERSION\"" "$stage/Cargo.toml")" = 2 ] ||
    die "could not pin tch/torch-sys in the copy's Cargo.toml"
# build.rs checks libtorch against the version tch binds.
sed -i -E "s/^(const TORCH_VERSION: &str = )\"[^\"]*\";/\1\"$TORCH_VERSION\";/; s/tch 0\.2[0-9]+/tch ${TCH_VERSION%.*}/g" "$stage/build.rs"
grep -q "^const TORCH_VERSION: &str = \"$TORCH_VERSION\";" "$stage/build.rs" ||
    die "could not set TORCH_VERSION in the copy's build.rs"
# API differences between tch 0.26 and 0.24: none needed so far (the crate
# uses Tensor ops, nn::VarStore/ModuleT/Adam, Device, Cuda, no_grad only).
# Add `sed -i ... "$stage/src/..."` lines here if that changes.

# Sync into SRC_DIR by content: unchanged files keep their mtimes, so cargo
# rebuilds only what changed. Cargo.lock is kept from the last build when the
# checkout's did not change (it then already resolves tch $TCH_VERSION).
cp "$stage/Cargo.lock" "$stage/Cargo.lock.orig"
if [ -f "$SRC_DIR/Cargo.lock.orig" ] && cmp -s "$stage/Cargo.lock.orig" "$SRC_DIR/Cargo.lock.orig" &&
   [ -f "$SRC_DIR/Cargo.lock" ]; then
    cp "$SRC_DIR/Cargo.lock" "$stage/Cargo.lock"
fi
python3 - "$stage" "$SRC_DIR" <<'EOF'
import filecmp, os, shutil, sys
src, dst = sys.argv[1:]
keep = set()
for d, dirs, files in os.walk(src):
    rel = os.path.relpath(d, src)
    os.makedirs(os.path.join(dst, rel), exist_ok=True)
    for f in files:
        r = os.path.normpath(os.path.join(rel, f))
        keep.add(r)
        a, b = os.path.join(src, r), os.path.join(dst, r)
        if os.path.islink(a) or os.path.islink(b):
            if os.path.lexists(b):
                os.remove(b)
            shutil.copy2(a, b, follow_symlinks=False)
        elif not os.path.exists(b) or not filecmp.cmp(a, b, shallow=False):
            shutil.copyfile(a, b)  # new mtime: cargo sees the change
            shutil.copymode(a, b)
for d, dirs, files in os.walk(dst, topdown=False):
    for f in files:
        r = os.path.normpath(os.path.relpath(os.path.join(d, f), dst))
        if r not in keep:
            os.remove(os.path.join(d, f))
    if d != dst and not os.listdir(d):
        os.rmdir(d)
EOF
rm -rf "$stage"
cd "$SRC_DIR"
if ! grep -A1 '^name = "tch"$' Cargo.lock | grep -q "version = \"$TCH_VERSION\""; then
    log "resolving tch $TCH_VERSION in the copy's Cargo.lock"
    cargo update -q -p tch -p torch-sys >&2 2>/dev/null || cargo generate-lockfile -q >&2
fi

# --- 3. build ---------------------------------------------------------------
export LIBTORCH="$TORCH_DIR/torch"
unset LIBTORCH_USE_PYTORCH LIBTORCH_INCLUDE LIBTORCH_LIB LIBTORCH_BYPASS_VERSION_CHECK
# libtorch_cuda's CUDA libraries are absent here; RUNPATH so that
# LD_LIBRARY_PATH wins at run time.
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,--allow-shlib-undefined -C link-arg=-Wl,--enable-new-dtags"
CARGO="nice -n 5 cargo"

log "building infocus + example accuracy (release, --features cuda, tch $TCH_VERSION, libtorch $TORCH_VERSION)"
$CARGO build --release --features cuda --bin infocus --example accuracy

test_args=()
if [ "$TESTS" = all ]; then
    test_args=(--tests)
else
    for f in tests/*.rs; do
        n="$(basename "$f" .rs)"
        case "$n" in unet*|*cuda*) test_args+=(--test "$n") ;; esac
    done
fi
log "building test binaries: ${test_args[*]}"
tests_json="$CARGO_TARGET_DIR/infocus-cuda-tests.jsonl"
failed_tests=()
if ! $CARGO test --release --features cuda --no-run "${test_args[@]}" \
        --message-format=json-render-diagnostics >"$tests_json"; then
    # One test that does not compile (say, the tree is mid-edit) must not
    # cost the others: build them one by one, unless STRICT=1.
    [ "${STRICT:-0}" = 1 ] || [ "$TESTS" = all ] && die "the test binaries did not build"
    log "building the test binaries one by one"
    : >"$tests_json"
    for ((i = 1; i < ${#test_args[@]}; i += 2)); do
        $CARGO test --release --features cuda --no-run --test "${test_args[i]}" \
            --message-format=json-render-diagnostics >>"$tests_json" || failed_tests+=("${test_args[i]}")
    done
    [ "${#failed_tests[@]}" = 0 ] || log "WARNING: these tests did not compile: ${failed_tests[*]}"
fi
# "name<TAB>path" of every test executable.
mapfile -t test_bins < <(python3 - "$tests_json" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        kind = m["target"]["kind"][0]
        name = m["target"]["name"] if kind == "test" else m["target"]["name"] + "-" + kind
        print(name + "\t" + m["executable"])
EOF
)
for t in "${test_bins[@]}"; do log "test binary: ${t%%$'\t'*} -> ${t#*$'\t'}"; done

# --- 4. stripped copies into .gpu/bin ---------------------------------------
rm -rf "$OUT"
mkdir -p "$OUT"
exclude="$(cd "$ROOT" && git rev-parse --git-path info/exclude)"
case "$exclude" in /*) ;; *) exclude="$ROOT/$exclude" ;; esac
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"

budget=$(( MAX_MB * 1024 * 1024 ))
total=0
put() { # put NAME PATH [optional]
    strip -o "$OUT/$1.tmp" "$2"
    local s
    s=$(stat -c %s "$OUT/$1.tmp")
    if [ -n "${3:-}" ] && [ $(( total + s )) -gt "$budget" ]; then
        log "skipped $1 ($(( s / 1048576 )) MiB): over the $MAX_MB MiB budget"
        rm -f "$OUT/$1.tmp"
        return
    fi
    mv "$OUT/$1.tmp" "$OUT/$1"
    total=$(( total + s ))
}
put infocus "$CARGO_TARGET_DIR/release/infocus"
put accuracy "$CARGO_TARGET_DIR/release/examples/accuracy"
# Most relevant first: the model (with the CUDA tests), the CLI, then the rest.
for want in unet_model unet_cli '*cuda*' 'unet*' '*'; do
    for t in "${test_bins[@]}"; do
        n="${t%%$'\t'*}"
        # shellcheck disable=SC2053
        [[ $n == $want ]] || continue
        [ -e "$OUT/$n" ] && continue
        [ "$TESTS" = all ] || [[ $n == unet* || $n == *cuda* ]] || continue
        put "$n" "${t#*$'\t'}" optional
    done
done
{
    echo "Built $(date -u +%FT%TZ) from $ROOT ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && [ -n "$(git status --porcelain 2>/dev/null)" ] && echo ', dirty'))"
    echo "tch $TCH_VERSION, libtorch $TORCH_VERSION+cu130 (PyPI wheel), --release --features cuda"
    echo "Run with LD_LIBRARY_PATH=<venv>/site-packages/torch/lib, from the checkout's root."
    echo "Paths baked in at compile time that the tests use (recreate them there):"
    echo "  unet_cli runs $CARGO_TARGET_DIR/release/infocus (CARGO_BIN_EXE_infocus):"
    echo "    mkdir -p $CARGO_TARGET_DIR/release && cp .gpu/bin/infocus $CARGO_TARGET_DIR/release/"
    echo "  unet_ffi_matrix reads $SRC_DIR/tests/data (CARGO_MANIFEST_DIR):"
    echo "    mkdir -p $(dirname "$SRC_DIR") && ln -sfn \$PWD $SRC_DIR"
    [ "${#failed_tests[@]}" = 0 ] || echo "Not built (did not compile): ${failed_tests[*]}"
} >"$OUT/BUILD-INFO.txt"
log "in $OUT:"
ls -l "$OUT" >&2
log "total $(( total / 1048576 )) MiB ($total bytes); .gpu is $(du -sh "$ROOT/.gpu" | cut -f1)"

# --- 5. local checks --------------------------------------------------------
bin="$OUT/infocus"
log "readelf -d infocus (NEEDED / RUNPATH / RPATH):"
readelf -d "$bin" | grep -E 'NEEDED|RUNPATH|RPATH' >&2
readelf -d "$bin" | grep -q 'NEEDED.*\[libtorch_cuda\.so\]' || die "infocus does not list libtorch_cuda.so as NEEDED"
readelf -d "$bin" | grep -q '(RPATH)' && die "infocus has an old-style RPATH (would beat LD_LIBRARY_PATH)"
for b in "$OUT"/*; do
    [ "$b" = "$OUT/BUILD-INFO.txt" ] && continue
    readelf -d "$b" | grep -q '(RPATH)' && die "$(basename "$b") has an old-style RPATH"
    # Highest glibc symbol version needed (must be <= the GPU machine's glibc).
    log "$(basename "$b"): needs $(objdump -T "$b" 2>/dev/null | grep -oE 'GLIBC_[0-9.]+' | sort -uV | tail -n 1), $(objdump -T "$b" 2>/dev/null | grep -oE 'GLIBCXX_[0-9.]+' | sort -uV | tail -n 1)"
done
ld_path="$TORCH_DIR/torch/lib"
[ -d "$ROOT/.libtorch/nvidia/cu13/lib" ] && ld_path="$ld_path:$ROOT/.libtorch/nvidia/cu13/lib"
log "ldd infocus (LD_LIBRARY_PATH=$ld_path):"
LD_LIBRARY_PATH="$ld_path" ldd "$bin" >&2 || true
if out="$(LD_LIBRARY_PATH="$ld_path" "$bin" --version 2>&1)"; then
    log "infocus --version runs here: $out"
else
    log "infocus --version does not run here (expected without cublas/cudnn): $(echo "$out" | head -n 2)"
fi
[ "${#failed_tests[@]}" = 0 ] || log "WARNING: not built (compile errors): ${failed_tests[*]}"
log "done in $(( $(date +%s) - t0 ))s"
