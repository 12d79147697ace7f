#!/usr/bin/env bash
# Sets up everything the build and the tests need, on Debian 12 as root.
# Idempotent and quick when already done: installs only what is missing.
# Works with no stdin (CI=true); prints one summary line at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

# Debian packages the project needs; extend this one list.
APT_PKGS="python3 python3-venv build-essential"
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
py_version="$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"

echo "setup.sh: ok in $(( $(date +%s) - t0 ))s (cargo $cargo_version, .venv python $py_version; $summary_apt; $summary_pip)"
