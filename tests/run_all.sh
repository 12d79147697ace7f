#!/usr/bin/env bash
# The project's one test command (README, .ci/run): sets up what is missing,
# then runs every test of every door. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash setup.sh
# On CI, keep build caches outside the clean clone so reruns stay quick.
if [ "${CI:-}" = true ] && [ -z "${CARGO_TARGET_DIR:-}" ]; then
    export CARGO_TARGET_DIR=/var/tmp/infocus-ci-target
fi
# Rust: the library, the CLI, the C program built against the header.
cargo test --release --features torch --tests
cargo test --release --features torch --doc
# Python: the numpy API and the napari plugin, installed from this checkout
# and compared with the CLI; napari headless under Xvfb.
bash bindings/python/run_tests.sh
# Fiji: the plugin jar in ImageJ (batch mode under Xvfb) against the CLI, and its JUnit
# tests, with the library and CLI that cargo test just built.
INFOCUS_FIJI_NO_BUILD=1 bash java/test.sh
