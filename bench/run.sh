#!/usr/bin/env bash
# The side-by-side benchmark (BENCHMARKS.md): infocus and the Python peers in
# one run, then the plots. Run after `bash setup.sh`. Options: --quick (fewer
# repetitions), --big (also the 200 x 2048 x 2048 streaming run, 1.6 GB).
# Builds with the same features as the test command when libtorch is set up.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ -z "${INFOCUS_BENCH_FEATURES+x}" ] && [ -d .libtorch/torch/lib ]; then
    export INFOCUS_BENCH_FEATURES=torch
    # The resolved path (.libtorch may be a link): a different spelling of
    # the same LIBTORCH would make cargo rebuild torch-sys.
    export LIBTORCH="${LIBTORCH:-$(readlink -f "$ROOT/.libtorch/torch")}"
fi
.venv/bin/python bench/run.py "$@"
.venv/bin/python bench/plot.py
