#!/usr/bin/env bash
# Screenshots of the Fiji plugin for the README (docs/fiji/*.png), and the
# macro line the Macro Recorder writes for each command: ImageJ's real
# window under Xvfb, every dialog driven by java/src/test/.../GuiDemo.java.
# Needs what java/test.sh needs; about a minute.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
export LIBTORCH="${LIBTORCH:-$ROOT/.libtorch/torch}" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
cargo build --release --features torch --lib --bin infocus -q
bash "$HERE/build.sh"
T="$(mktemp -d /tmp/infocus-fiji-shots.XXXXXX)"
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/Fiji.app/plugins" "$T/Fiji.app/lib/linux64"
cp "$HERE/build/Infocus_.jar" "$T/Fiji.app/plugins/"
ln -s "$TARGET/release/libinfocus.so" "$T/Fiji.app/lib/linux64/libinfocus.so"
"$TARGET/release/infocus" synth -o "$T/stack.tif" --slices 12 --size 192 --seed 7 --texture fine --surface tilt >/dev/null
xvfb-run -a -s "-screen 0 1280x900x24" timeout 200 java -Dplugins.dir="$T/Fiji.app/plugins" \
    -cp "/usr/share/java/ij.jar:$HERE/build/test-classes" infocus.fiji.GuiDemo "$ROOT/docs/fiji" "$T/stack.tif" "$T" 2>&1 |
    sed "s|$T/|/tmp/|g" | tee "$T/out.log"
grep -q GUI_DEMO_DONE "$T/out.log"
