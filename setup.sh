#!/usr/bin/env bash
# Sets up everything the build and the tests need, on Debian 12 as root.
# Idempotent and quick when already done: installs only what is missing.
# Works with no stdin (CI=true); prints one summary line at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

# Debian packages the project needs; extend this one list.
APT_PKGS="python3 python3-venv build-essential"
# Qt 5 and napari headless under Xvfb (the napari plugin's tests): the X
# server, Mesa's software OpenGL for vispy, and what PyQt5's xcb plugin links.
APT_PKGS="$APT_PKGS xvfb xauth libgl1 libegl1 libgl1-mesa-dri libglx-mesa0 libglib2.0-0
  libfontconfig1 fontconfig libdbus-1-3 libx11-xcb1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0
  libxcb-sync1 libxcb-xkb1 libxcb-cursor0"
# The Fiji plugin (java/): a JDK with AWT, ImageJ 1.x, JUnit 4, and Xvfb for its tests.
APT_PKGS="$APT_PKGS openjdk-17-jdk libij-java junit4 xvfb xauth"
REQS="bindings/python/requirements-dev.txt"
VENV="$ROOT/.venv"
STAMP="$VENV/.requirements.sha256"

log() { echo "setup.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

t0=$(date +%s)
summary_apt="apt: nothing missing"
summary_pip="pip: up to date"

# --- Rust toolchain ---------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
    for d in "${CARGO_HOME:-$HOME/.cargo}/bin" /root/.cargo/bin; do
        if [ -x "$d/cargo" ]; then export PATH="$d:$PATH"; break; fi
    done
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (rustup) first"
cargo_version="$(cargo --version 2>/dev/null | awk '{print $2}')"

# --- Debian packages --------------------------------------------------------
is_installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}
missing=()
for p in $APT_PKGS; do
    is_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${missing[*]}"
        SUDO="sudo -n"
    fi
    log "installing with apt: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    aptlog="$(mktemp)"
    if ! { $SUDO apt-get update -qq &&
           $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
               "${missing[@]}"; } </dev/null >"$aptlog" 2>&1; then
        tail -n 30 "$aptlog" >&2
        rm -f "$aptlog"
        die "apt-get failed installing: ${missing[*]}"
    fi
    rm -f "$aptlog"
    summary_apt="apt: installed ${missing[*]}"
fi

# --- Python virtual environment --------------------------------------------
# Debian's own python3 (3.11 on Debian 12), not whatever python3 is first on PATH.
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3 || true)"
[ -n "$PY" ] || die "python3 not found"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "creating $VENV with $PY"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi

# The stamp records the requirements' hash and the venv's Python version.
want="$( { sha256sum "$REQS" | awk '{print $1}'; "$VENV/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | awk '{print $1}')"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    log "installing Python packages from $REQS"
    PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$VENV/bin/python" -m pip install -q -r "$REQS" </dev/null >&2
    echo "$want" > "$STAMP"
    summary_pip="pip: installed $REQS"
fi
# --- libtorch for the U-Net (cargo feature `torch`) ---------------------------
# tch 0.26 binds libtorch 2.13.0 exactly. The only reachable source is PyPI's
# torch wheel (CUDA build for Linux). INFOCUS_TORCH selects what is installed
# into .libtorch (see .cargo/config.toml):
#   cpu  (default) torch + the two small CUDA runtime wheels libtorch needs to
#        load: ~1.2 GB, ~20-60 s; CPU only.
#   cuda the full wheel with every CUDA library (~4.7 GB); build with
#        `--features cuda` to use a GPU.
#   none skip (the U-Net is then unavailable: build without `--features torch`).
TORCH_MODE="${INFOCUS_TORCH:-cpu}"
TORCH_DIR="$ROOT/.libtorch"
TORCH_STAMP="$TORCH_DIR/.infocus-torch"
summary_torch="libtorch: skipped (INFOCUS_TORCH=none)"
case "$TORCH_MODE" in
    cpu)  TORCH_PKGS="torch==2.13.0 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85"; TORCH_DEPS="--no-deps" ;;
    cuda) TORCH_PKGS="torch==2.13.0"; TORCH_DEPS="" ;;
    none) TORCH_PKGS="" ;;
    *) die "INFOCUS_TORCH must be cpu, cuda or none (got '$TORCH_MODE')" ;;
esac
if [ -n "$TORCH_PKGS" ]; then
    want_torch="$TORCH_MODE $TORCH_PKGS"
    if [ "$(cat "$TORCH_STAMP" 2>/dev/null || true)" = "$want_torch" ] &&
       [ -f "$TORCH_DIR/torch/lib/libtorch_cpu.so" ]; then
        summary_torch="libtorch: 2.13.0 ($TORCH_MODE) present"
    elif [ "$(cat "$TORCH_STAMP" 2>/dev/null || true)" = "cuda torch==2.13.0" ] &&
         [ "$TORCH_MODE" = cpu ] && [ -f "$TORCH_DIR/torch/lib/libtorch_cpu.so" ]; then
        # A CUDA install also serves the CPU: never downgrade it.
        summary_torch="libtorch: 2.13.0 (cuda) present"
    else
        log "installing libtorch 2.13.0 ($TORCH_MODE) from PyPI into $TORCH_DIR"
        tt=$(date +%s)
        tmp_torch="$TORCH_DIR.partial"
        rm -rf "$tmp_torch"
        # shellcheck disable=SC2086
        PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
            "$VENV/bin/python" -m pip install -q --no-cache-dir $TORCH_DEPS \
            --target "$tmp_torch" $TORCH_PKGS </dev/null >&2 ||
            { rm -rf "$tmp_torch"; die "pip could not install $TORCH_PKGS (is PyPI reachable?)"; }
        rm -rf "$TORCH_DIR"
        mv "$tmp_torch" "$TORCH_DIR"
        echo "$want_torch" > "$TORCH_STAMP"
        summary_torch="libtorch: installed 2.13.0 ($TORCH_MODE, $(du -sh "$TORCH_DIR" | cut -f1)) in $(( $(date +%s) - tt ))s"
    fi
fi

py_version="$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"

echo "setup.sh: ok in $(( $(date +%s) - t0 ))s (cargo $cargo_version, .venv python $py_version; $summary_apt; $summary_pip; $summary_torch)"
