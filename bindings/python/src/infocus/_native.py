"""The C ABI of libinfocus through ctypes: structs, prototypes, errors.

Mirrors ``include/infocus.h`` one to one and translates nothing but types
and statuses; the numpy API (:mod:`infocus._api`) sits above it. Nothing is
compiled at import time: the shared library is found, in this order, at
``$INFOCUS_LIBRARY``, inside the installed package (``infocus/_lib``), or in
the build folder of the repository this package lives in (development).
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_double,
    c_float,
    c_int32,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Optional

LIBRARY_NAME = "libinfocus.so"

# --- constants (include/infocus.h) -------------------------------------------

PIXEL_U8, PIXEL_U16, PIXEL_F32 = 0, 1, 2
MEASURES = (
    "brenner",
    "tenengrad",
    "laplacian",
    "smd",
    "vollath",
    "std",
    "variance",
    "entropy",
    "dwt",
)
"""Measure names, indexed by their ``INFOCUS_MEASURE_*`` number."""
PRESETS = {"paper": 0, "default": 1}
THRESHOLDS = {"preset": 0, "otsu-stack": 1, "otsu-slice": 2, "fixed": 3}
NORMS = {"none": 0, "instance": 1, "batch": 2}
TEXTURES = ("fine", "coarse", "sparse", "low-contrast")
SURFACES = ("dome", "tilt", "random", "steps")

OK = 0
ERR_NULL = 1
ERR_INVALID = 2
ERR_IO = 3
ERR_UNSUPPORTED = 4
ERR_CANCELLED = 5
ERR_TORCH = 6
ERR_PANIC = 7


# --- errors --------------------------------------------------------------------


class InfocusError(Exception):
    """A failed library call: ``status`` is its ``INFOCUS_ERR_*`` code and the
    message is the library's own (``infocus_last_error``)."""

    def __init__(self, message: str, status: int = ERR_PANIC, function: str = ""):
        super().__init__(message)
        self.status = status
        self.function = function


class InvalidArgumentError(InfocusError, ValueError):
    """``INFOCUS_ERR_INVALID`` (or ``_NULL``): an argument cannot be used as given."""


class InfocusIOError(InfocusError):
    """``INFOCUS_ERR_IO``: a file could not be read or written, or is not
    what infocus expects (a model file that is not one)."""


class UnsupportedError(InfocusError):
    """``INFOCUS_ERR_UNSUPPORTED``: this build lacks the capability (the U-Net
    without the ``torch`` feature, CUDA where there is none)."""


class Cancelled(InfocusError):
    """``INFOCUS_ERR_CANCELLED``: the progress callback asked to stop; nothing
    was written and a model is unchanged."""


class TorchError(InfocusError, RuntimeError):
    """``INFOCUS_ERR_TORCH``: libtorch reported an error."""


class InternalError(InfocusError, RuntimeError):
    """``INFOCUS_ERR_PANIC``: a bug in infocus; please report it."""


_ERRORS = {
    ERR_NULL: InvalidArgumentError,
    ERR_INVALID: InvalidArgumentError,
    ERR_IO: InfocusIOError,
    ERR_UNSUPPORTED: UnsupportedError,
    ERR_CANCELLED: Cancelled,
    ERR_TORCH: TorchError,
    ERR_PANIC: InternalError,
}


# --- structs -------------------------------------------------------------------


class MapParams(Structure):
    _fields_ = [
        ("measure", c_int32),
        ("window", c_uint32),
        ("strides", POINTER(c_uint32)),
        ("n_strides", c_size_t),
    ]


class BandParams(Structure):
    _fields_ = [
        ("dof", c_double),
        ("min_contrast", c_double),
        ("radius", c_uint32),
        ("smoothing", c_uint32),
    ]


class SegmentParams(Structure):
    _fields_ = [
        ("preset", c_int32),
        ("map", MapParams),
        ("threshold", c_int32),
        ("threshold_value", c_float),
        ("band", BandParams),
    ]


class UnetConfig(Structure):
    _fields_ = [("depth", c_uint32), ("base_channels", c_uint32), ("norm", c_int32), ("context", c_uint32),
                ("profile", c_int32), ("guide", c_int32)]


class TrainParams(Structure):
    _fields_ = [
        ("preset", c_int32),
        ("epochs", c_uint32),
        ("batch", c_uint32),
        ("patch", c_uint32),
        ("learning_rate", c_double),
        ("patience", c_uint32),
        ("val_fraction", c_double),
        ("seed", c_uint64),
        ("dice_weight", c_double),
        ("focal_weight", c_double),
        ("bce_weight", c_double),
        ("augment", c_int32),
        ("freeze_encoder", c_int32),
    ]


class PredictParams(Structure):
    _fields_ = [
        ("threshold", c_float),
        ("tile", c_uint32),
        ("overlap", c_uint32),
        ("batch", c_uint32),
        ("flips", c_int32),
    ]


class SynthParams(Structure):
    _fields_ = [
        ("depth", c_size_t),
        ("height", c_size_t),
        ("width", c_size_t),
        ("texture", c_int32),
        ("surface", c_int32),
        ("photons", c_double),
        ("read_noise", c_double),
        ("dof", c_double),
        ("background", c_int32),
        ("pixel_type", c_int32),
        ("seed", c_uint64),
    ]


class Model(Structure):
    """The opaque ``InfocusModel``."""


PROGRESS_FN = CFUNCTYPE(c_int32, c_uint64, c_uint64, c_void_p)
EPOCH_FN = CFUNCTYPE(c_int32, c_uint32, c_uint32, c_double, c_double, c_void_p)

# name: (restype, argtypes); every function of include/infocus.h.
_PROTOTYPES = {
    "infocus_version": (c_char_p, []),
    "infocus_last_error": (c_char_p, []),
    "infocus_status_name": (c_char_p, [c_int32]),
    "infocus_map_params_default": (MapParams, []),
    "infocus_band_params_default": (BandParams, []),
    "infocus_segment_params_default": (SegmentParams, []),
    "infocus_focus_map": (
        c_int32,
        [c_void_p, c_int32, c_size_t, c_size_t, c_size_t, POINTER(MapParams),
         POINTER(c_float), c_size_t, PROGRESS_FN, c_void_p],
    ),
    "infocus_threshold_mask": (
        c_int32,
        [POINTER(c_float), c_size_t, c_size_t, c_size_t, c_int32, c_float,
         POINTER(c_uint8), c_size_t],
    ),
    "infocus_segment": (
        c_int32,
        [c_void_p, c_int32, c_size_t, c_size_t, c_size_t, POINTER(SegmentParams),
         POINTER(c_uint8), c_size_t, POINTER(c_float), c_size_t, POINTER(c_uint16),
         c_size_t, PROGRESS_FN, c_void_p],
    ),
    "infocus_in_focus": (
        c_int32,
        [c_void_p, c_int32, c_size_t, c_size_t, c_size_t, POINTER(c_uint8), c_size_t,
         c_void_p, c_size_t],
    ),
    "infocus_depth_map": (
        c_int32,
        [POINTER(c_float), c_size_t, c_size_t, c_size_t, POINTER(c_uint16), c_size_t],
    ),
    "infocus_all_in_focus": (
        c_int32,
        [c_void_p, c_int32, c_size_t, c_size_t, c_size_t, POINTER(c_uint16), c_size_t,
         c_void_p, c_size_t],
    ),
    "infocus_synth_params_default": (SynthParams, []),
    "infocus_synth": (
        c_int32,
        [POINTER(SynthParams), c_void_p, c_size_t, POINTER(c_uint8), c_size_t,
         PROGRESS_FN, c_void_p],
    ),
    "infocus_unet_available": (c_int32, []),
    "infocus_unet_config_default": (UnetConfig, []),
    "infocus_unet_config_paper": (UnetConfig, []),
    "infocus_train_params_default": (TrainParams, []),
    "infocus_finetune_params_default": (TrainParams, []),
    "infocus_predict_params_default": (PredictParams, []),
    "infocus_model_new": (
        c_int32, [POINTER(UnetConfig), c_char_p, c_uint64, POINTER(POINTER(Model))]
    ),
    "infocus_model_load": (c_int32, [c_char_p, c_char_p, POINTER(POINTER(Model))]),
    "infocus_model_save": (c_int32, [POINTER(Model), c_char_p]),
    "infocus_model_free": (None, [POINTER(Model)]),
    "infocus_model_device": (c_char_p, [POINTER(Model)]),
    "infocus_model_config": (c_int32, [POINTER(Model), POINTER(UnetConfig)]),
    "infocus_unet_train": (
        c_int32,
        [POINTER(Model), POINTER(c_void_p), c_size_t, c_int32, c_size_t, c_size_t,
         c_size_t, POINTER(TrainParams), EPOCH_FN, c_void_p],
    ),
    "infocus_unet_finetune": (
        c_int32,
        [POINTER(Model), POINTER(c_void_p), POINTER(c_void_p), c_size_t, c_int32,
         c_size_t, c_size_t, c_size_t, POINTER(c_uint8), c_size_t,
         POINTER(TrainParams), EPOCH_FN, c_void_p],
    ),
    "infocus_unet_predict": (
        c_int32,
        [POINTER(Model), c_void_p, c_int32, c_size_t, c_size_t, c_size_t,
         POINTER(PredictParams), POINTER(c_uint8), c_size_t, POINTER(c_float),
         c_size_t, PROGRESS_FN, c_void_p],
    ),
}


# --- loading -------------------------------------------------------------------


def _repo_library() -> Optional[Path]:
    """The library in the build folder of the repository holding this file."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cargo = parent / "Cargo.toml"
        if cargo.is_file() and 'name = "infocus"' in cargo.read_text(errors="replace"):
            target = Path(os.environ.get("CARGO_TARGET_DIR") or parent / "target")
            if not target.is_absolute():
                target = parent / target
            return target / "release" / LIBRARY_NAME
    return None


def library_candidates() -> list[Path]:
    """Where the shared library is looked for, in order."""
    out = []
    env = os.environ.get("INFOCUS_LIBRARY")
    if env:
        out.append(Path(env))
    out.append(Path(__file__).resolve().parent / "_lib" / LIBRARY_NAME)
    repo = _repo_library()
    if repo is not None:
        out.append(repo)
    return out


def _load() -> tuple[ctypes.CDLL, Path]:
    tried = []
    for path in library_candidates():
        if path.is_file():
            lib = ctypes.CDLL(str(path))
            for name, (restype, argtypes) in _PROTOTYPES.items():
                f = getattr(lib, name)
                f.restype = restype
                f.argtypes = argtypes
            return lib, path
        tried.append(str(path))
    raise ImportError(
        "infocus: the native library libinfocus.so was not found (looked at: "
        + ", ".join(tried)
        + "). Install the package with `pip install ./bindings/python` from the "
        "repository (it builds the library), or build it with "
        "`cargo build --release --features torch --lib`, or set INFOCUS_LIBRARY."
    )


lib, library_path = _load()


def last_error() -> str:
    return (lib.infocus_last_error() or b"").decode("utf-8", "replace")


def status_name(status: int) -> str:
    return lib.infocus_status_name(status).decode()


def check(status: int, function: str) -> None:
    """Raises the exception of a failed status, with the library's message."""
    if status == OK:
        return
    message = last_error() or status_name(status)
    raise _ERRORS.get(status, InternalError)(message, status, function)


def version() -> str:
    return lib.infocus_version().decode()
