"""Shared fixtures: the repository's CLI (the reference the Python door must
match byte for byte) and small synthetic stacks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import infocus

ROOT = Path(__file__).resolve().parents[3]

if os.environ.get("INFOCUS_TEST_INSTALLED") == "1":
    # run_tests.sh: test the installed package and the library inside it.
    pkg = Path(infocus.__file__).resolve().parent
    assert "site-packages" in pkg.parts, f"testing {pkg}, not the installed package"
    assert Path(infocus.library_path).resolve().parent == pkg / "_lib", infocus.library_path


def _cli() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    if not target.is_absolute():
        target = ROOT / target
    return target / "release" / "infocus"


@pytest.fixture(scope="session")
def cli():
    """Runs ``target/release/infocus`` with the given arguments."""
    exe = _cli()
    if not exe.is_file():
        pytest.fail(f"{exe} is missing: build it with `cargo build --release --features torch`")

    def run(*args) -> subprocess.CompletedProcess:
        p = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True)
        assert p.returncode == 0, f"infocus {' '.join(map(str, args))} failed:\n{p.stderr}"
        return p

    return run


@pytest.fixture(scope="session")
def small():
    """A 8 x 64 x 64 u16 synthetic stack and its truth."""
    return infocus.synth(8, 64, texture="fine", surface="tilt", seed=3)


@pytest.fixture(scope="session")
def unet_needed():
    if not infocus.unet_available():
        pytest.fail("this libinfocus has no U-Net: build it with --features torch")


def imread(path) -> np.ndarray:
    import tifffile

    return tifffile.imread(str(path))


# Small enough for 2 CPU cores: a few seconds per training.
TINY_UNET = {"depth": 2, "base_channels": 4}
TINY_TRAIN = {"epochs": 2, "patch": 32, "batch": 4, "seed": 5}
