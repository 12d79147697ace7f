"""Sample data: a synthetic focal stack with its exact truth, and the real
stacks of the repository (their licences allow it; each folder keeps its
README with the provenance and licence)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import infocus


def synthetic_stack():
    """20 slices of 256 x 256 (u16, coarse texture on a dome, depth of field 3
    slices): ``infocus synth`` with its defaults, and its truth as Labels."""
    stack, truth = infocus.synth()
    return [
        (stack, {"name": "synthetic stack"}, "image"),
        ((truth > 0).astype(np.uint8), {"name": "synthetic truth", "opacity": 0.4}, "labels"),
    ]


def _data_dir(folder: str) -> Path:
    """The sample's folder: inside the installed package, or the repository's
    tests/data/real when running from the source tree."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_data" / folder
    if packaged.is_dir():
        return packaged
    for parent in here.parents:
        d = parent / "tests" / "data" / "real" / folder
        if d.is_dir():
            return d
    raise FileNotFoundError(
        f"the sample {folder!r} is not in this installation (it ships with the repository's "
        "tests/data/real)"
    )


def _read(folder: str) -> np.ndarray:
    import tifffile

    return tifffile.imread(_data_dir(folder) / "stack.tif")


def yeast_stack():
    """A brightfield z-stack of one fission-yeast cell: 34 slices of 116 x 55,
    u16, 0.3 um apart, pixels 0.1065 um (BFAutofocus, Tong Li et al.,
    CNRS/Inria, CeCILL-B)."""
    return [(_read("bf_autofocus"), {"name": "yeast stack"}, "image")]


def pcb_stack():
    """A macro focal stack of a circuit board: 7 slices of 768 x 1024, u8
    (focus-stack by Petteri Aimonen, MIT)."""
    return [(_read("focusstack_pcb"), {"name": "pcb stack"}, "image")]
