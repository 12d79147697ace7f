#!/usr/bin/env bash
# The Python tests (tests/run_all.sh runs this after `bash setup.sh`):
# installs the `infocus` package from this checkout into .venv, which builds
# libinfocus.so with cargo and bundles it, then runs pytest on the installed
# package with napari headless under Xvfb. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "run_tests.sh: $PY missing: run bash setup.sh first" >&2; exit 1; }
cd "$ROOT"

# The CLI is the reference the tests compare with, byte for byte.
cargo build --release --features torch --bin infocus
PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$PY" -m pip install -q --no-build-isolation --no-deps --force-reinstall ./bindings/python </dev/null

# napari needs OpenGL, which Qt's offscreen platform lacks: use Xvfb's X
# server. A Qt that cannot start aborts the process without a pytest
# summary, so check it first and fail loudly with its own words.
unset QT_QPA_PLATFORM
XVFB=(xvfb-run -a -s "-screen 0 1280x1024x24")
if ! out="$("${XVFB[@]}" "$PY" -c '
from qtpy.QtWidgets import QApplication
app = QApplication([])
print(app.platformName())
' 2>&1)"; then
    echo "run_tests.sh: Qt cannot start under Xvfb (missing Debian packages? run bash setup.sh):" >&2
    echo "$out" | tail -n 20 >&2
    exit 1
fi

# Run from the tests' folder so that `import infocus` is the installed
# package, not the source tree.
cd "$ROOT/bindings/python"
INFOCUS_TEST_INSTALLED=1 "${XVFB[@]}" "$PY" -m pytest -q -p no:cacheprovider tests "$@"
