"""Builds the native library with cargo and puts it inside the package.

`pip install ./bindings/python` (from the repository, after `bash setup.sh`)
runs `cargo build --release --features torch --lib` at the repository root
and copies target/release/libinfocus.so into infocus/_lib, plus the real
sample stacks of tests/data/real into infocus/_data, so `import infocus`
needs no environment variable. Environment:

* INFOCUS_CARGO_FEATURES: the cargo features (default "torch"; "" builds
  without the U-Net);
* INFOCUS_SKIP_CARGO=1: do not run cargo, only copy the library built before;
* CARGO_TARGET_DIR: where cargo builds (as for cargo itself).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent  # the repository: bindings/python/../..
# The real stacks the plugin offers as sample data (folder: files).
SAMPLES = {
    "bf_autofocus": ["stack.tif", "README.md"],
    "focusstack_pcb": ["stack.tif", "README.md", "LICENSE.md"],
}


def crate_version() -> str:
    text = (ROOT / "Cargo.toml").read_text()
    m = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
    if not m:
        raise RuntimeError("no version in Cargo.toml")
    return m.group(1)


def target_dir() -> Path:
    t = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    return t if t.is_absolute() else ROOT / t


class BuildWithCargo(build_py):
    def run(self):
        super().run()
        if os.environ.get("INFOCUS_SKIP_CARGO") != "1":
            features = os.environ.get("INFOCUS_CARGO_FEATURES", "torch")
            cmd = ["cargo", "build", "--release", "--lib"]
            if features:
                cmd += ["--features", features]
            print("infocus: " + " ".join(cmd), flush=True)
            subprocess.run(cmd, cwd=ROOT, check=True)
        lib = target_dir() / "release" / "libinfocus.so"
        if not lib.is_file():
            raise RuntimeError(f"{lib} was not built")
        dest = Path(self.build_lib) / "infocus" / "_lib"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib, dest / lib.name)
        # The release profile keeps debug info (70 MB); the package needs none.
        if shutil.which("strip"):
            subprocess.run(["strip", "--strip-debug", str(dest / lib.name)], check=False)
        for folder, files in SAMPLES.items():
            src = ROOT / "tests" / "data" / "real" / folder
            if not src.is_dir():
                continue
            out = Path(self.build_lib) / "infocus" / "_data" / folder
            out.mkdir(parents=True, exist_ok=True)
            for f in files:
                if (src / f).is_file():
                    shutil.copy2(src / f, out / f)


class BinaryDistribution(Distribution):
    """The wheel carries a native library: it is platform-specific."""

    def has_ext_modules(self):
        return True


setup(
    version=crate_version(),
    cmdclass={"build_py": BuildWithCargo},
    distclass=BinaryDistribution,
)
