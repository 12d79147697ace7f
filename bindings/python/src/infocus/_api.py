"""The numpy API over the C ABI: arrays in, arrays out, exceptions on failure.

Stacks are Z x H x W numpy arrays of uint8, uint16 or float32 (copied to a
C-contiguous native-endian array only when they are not one already).
Results are new arrays that the caller owns. A ``progress`` argument takes a
callable ``progress(done, total)``: return a true value (or raise) to cancel
the call, which then raises :class:`infocus.Cancelled` (or the callable's own
exception) and returns nothing. It may be called from the library's worker
threads, one at a time.
"""

from __future__ import annotations

import ctypes
import os
import threading
from ctypes import POINTER, byref, c_float, c_uint8, c_uint16, c_uint32, c_void_p
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import _native as n
from ._native import Cancelled, check, lib

Progress = Callable[[int, int], object]
"""``progress(done, total)``; a true return value cancels."""
EpochProgress = Callable[[int, int, float, float], object]
"""``progress(epoch, epochs, loss, val_iou)`` after each epoch; a true return value cancels."""

_PIXEL_TYPES = {
    np.dtype(np.uint8): n.PIXEL_U8,
    np.dtype(np.uint16): n.PIXEL_U16,
    np.dtype(np.float32): n.PIXEL_F32,
}
_DTYPES = {v: k for k, v in _PIXEL_TYPES.items()}


# --- arrays --------------------------------------------------------------------


def _as_stack(stack, what: str = "stack", ndim: int = 3) -> np.ndarray:
    """A C-contiguous, native-endian u8/u16/f32 array of `ndim` dimensions."""
    a = np.asarray(stack)
    if a.ndim != ndim:
        shape = "Z x H x W" if ndim == 3 else "H x W"
        raise ValueError(
            f"{what} must be a {ndim}-D array ({shape}), not {a.ndim}-D of shape {a.shape}"
            + ("; a single image is a stack of one slice: add an axis with a[None]" if a.ndim == 2 and ndim == 3 else "")
        )
    native = a.dtype.newbyteorder("=")
    if native not in _PIXEL_TYPES:
        raise TypeError(
            f"{what} must be uint8, uint16 or float32, not {a.dtype}; convert it first "
            f"(for example {what}.astype(np.float32))"
        )
    return np.ascontiguousarray(a, dtype=native)


def _as(a, dtype, shape, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.shape != tuple(shape):
        raise ValueError(f"{what} must have shape {tuple(shape)}, not {a.shape}")
    if what == "mask" and a.dtype != np.uint8:
        a = a != 0
    return np.ascontiguousarray(a, dtype=dtype)


def _ptr(a: np.ndarray, ctype=None):
    if ctype is None:
        return c_void_p(a.ctypes.data)
    return a.ctypes.data_as(POINTER(ctype))


# --- callbacks -----------------------------------------------------------------


class _Callback:
    """A Python progress callable as a C callback; keeps the first exception."""

    def __init__(self, fn: Optional[Callable], epoch: bool = False):
        self.fn = fn
        self.error: Optional[BaseException] = None
        self.lock = threading.Lock()
        if fn is None:
            self.c = (n.EPOCH_FN if epoch else n.PROGRESS_FN)()  # NULL
        elif epoch:
            self.c = n.EPOCH_FN(self._epoch)
        else:
            self.c = n.PROGRESS_FN(self._progress)

    def _call(self, *args) -> int:
        with self.lock:
            if self.error is not None:
                return 1
            try:
                return 1 if self.fn(*args) else 0
            except BaseException as e:  # noqa: BLE001 - re-raised by finish()
                self.error = e
                return 1

    def _progress(self, done, total, _user):
        return self._call(int(done), int(total))

    def _epoch(self, epoch, epochs, loss, val_iou, _user):
        return self._call(int(epoch), int(epochs), float(loss), float(val_iou))

    def finish(self, status: int, function: str) -> None:
        if self.error is not None:
            raise self.error
        check(status, function)


def _call(function: str, progress: Optional[Callable], *args, epoch: bool = False) -> None:
    cb = _Callback(progress, epoch)
    status = getattr(lib, function)(*args, cb.c, None)
    cb.finish(status, function)


# --- parameters ----------------------------------------------------------------


def _measure(name: str) -> int:
    key = str(name).strip().lower()
    if key not in n.MEASURES:
        raise ValueError(f"unknown measure {name!r}; use one of: {', '.join(n.MEASURES)}")
    return n.MEASURES.index(key)


def _choice(table, name, what: str) -> int:
    key = str(name).strip().lower().replace("_", "-")
    if key not in table:
        raise ValueError(f"unknown {what} {name!r}; use one of: {', '.join(table)}")
    return table[key]


def _map_params(measure, window, strides, keep: list) -> n.MapParams:
    p = lib.infocus_map_params_default()
    if measure is not None:
        p.measure = _measure(measure)
    if window is not None:
        p.window = int(window)
    if strides is not None:
        s = np.ascontiguousarray(list(strides) if not np.isscalar(strides) else [strides], dtype=np.uint32)
        keep.append(s)
        p.strides = s.ctypes.data_as(POINTER(c_uint32))
        p.n_strides = s.size
    return p


def _segment_params(
    preset, measure, window, strides, threshold, dof, min_contrast, radius, smoothing, keep
) -> n.SegmentParams:
    map_flags = measure is not None or window is not None or strides is not None
    band_flags = any(v is not None for v in (dof, min_contrast, radius, smoothing))
    if preset is None:
        preset = "paper" if map_flags else "default"
    preset_n = _choice(n.PRESETS, preset, "preset")
    if preset_n == n.PRESETS["default"] and map_flags:
        raise ValueError(
            "measure, window and strides set the paper preset's sliding-window map; "
            "use preset='paper' (or drop them)"
        )
    if preset_n == n.PRESETS["paper"] and band_flags:
        raise ValueError(
            "dof, min_contrast, radius and smoothing belong to the default preset; "
            "use preset='default' (or drop them)"
        )
    p = lib.infocus_segment_params_default()
    p.preset = preset_n
    p.map = _map_params(measure, window, strides, keep)
    if threshold is None or threshold == "preset":
        p.threshold = n.THRESHOLDS["preset"]
    elif isinstance(threshold, str):
        p.threshold = _choice(n.THRESHOLDS, threshold, "threshold")
        if p.threshold == n.THRESHOLDS["fixed"]:
            raise ValueError("a fixed threshold is given as a number: threshold=0.5")
    else:
        p.threshold = n.THRESHOLDS["fixed"]
        p.threshold_value = float(threshold)
    if dof is not None:
        p.band.dof = float(dof)
    if min_contrast is not None:
        p.band.min_contrast = float(min_contrast)
    if radius is not None:
        p.band.radius = int(radius)
    if smoothing is not None:
        p.band.smoothing = int(smoothing)
    return p


# --- rules ---------------------------------------------------------------------


@dataclass
class Segmentation:
    """What :func:`segment` returns."""

    mask: np.ndarray
    """Z x H x W uint8: 255 where the pixel is in focus in that slice, 0 elsewhere."""
    focus_map: Optional[np.ndarray]
    """Z x H x W float32: the preset's focus scores (None when not asked for)."""
    depth: Optional[np.ndarray]
    """H x W uint16: each pixel's best-focus slice (None when not asked for)."""


def segment(
    stack,
    preset: Optional[str] = None,
    *,
    measure: Optional[str] = None,
    window: Optional[int] = None,
    strides: Optional[Sequence[int]] = None,
    threshold: Union[None, str, float] = None,
    dof: Optional[float] = None,
    min_contrast: Optional[float] = None,
    radius: Optional[int] = None,
    smoothing: Optional[int] = None,
    with_map: bool = True,
    with_depth: bool = True,
    progress: Optional[Progress] = None,
) -> Segmentation:
    """Segments the in-focus pixels of every slice, as ``infocus segment``.

    ``preset``: ``"default"`` (depth from focus and a depth-of-field band) or
    ``"paper"`` (the published sliding-window std map with Otsu); when not
    given, ``measure``/``window``/``strides`` imply ``"paper"``, as on the
    command line. ``threshold``: ``None``/``"preset"`` (the preset's rule),
    ``"otsu-stack"``, ``"otsu-slice"`` or a number (a fixed level on the focus
    map). ``dof`` (slices; 0 or None estimates it), ``min_contrast``,
    ``radius`` and ``smoothing`` tune the default preset.
    """
    s = _as_stack(stack)
    z, h, w = s.shape
    keep: list = []
    p = _segment_params(preset, measure, window, strides, threshold, dof, min_contrast, radius, smoothing, keep)
    mask = np.empty((z, h, w), np.uint8)
    fmap = np.empty((z, h, w), np.float32) if with_map else None
    depth = np.empty((h, w), np.uint16) if with_depth else None
    _call(
        "infocus_segment",
        progress,
        _ptr(s), _PIXEL_TYPES[s.dtype], z, h, w, byref(p),
        _ptr(mask, c_uint8), mask.size,
        _ptr(fmap, c_float) if fmap is not None else None, 0 if fmap is None else fmap.size,
        _ptr(depth, c_uint16) if depth is not None else None, 0 if depth is None else depth.size,
    )
    return Segmentation(mask, fmap, depth)


def focus_map(
    stack,
    preset: Optional[str] = None,
    *,
    measure: Optional[str] = None,
    window: Optional[int] = None,
    strides: Optional[Sequence[int]] = None,
    dof: Optional[float] = None,
    min_contrast: Optional[float] = None,
    radius: Optional[int] = None,
    smoothing: Optional[int] = None,
    progress: Optional[Progress] = None,
) -> np.ndarray:
    """The focus-score stack (Z x H x W float32), as ``infocus focus-map``.

    With ``preset="paper"`` (implied by ``measure``, ``window`` or
    ``strides``): the sliding-window map (each window's score added onto the
    pixels it covers, maximum over the strides; default std, window 128,
    strides 8, 10, ..., 36). With ``preset="default"`` (the default): that
    preset's sharpness map.
    """
    s = _as_stack(stack)
    z, h, w = s.shape
    keep: list = []
    p = _segment_params(preset, measure, window, strides, None, dof, min_contrast, radius, smoothing, keep)
    out = np.empty((z, h, w), np.float32)
    if p.preset == n.PRESETS["paper"]:
        _call(
            "infocus_focus_map", progress,
            _ptr(s), _PIXEL_TYPES[s.dtype], z, h, w, byref(p.map), _ptr(out, c_float), out.size,
        )
        return out
    return segment(
        s, "default", dof=dof, min_contrast=min_contrast, radius=radius,
        smoothing=smoothing, with_depth=False, progress=progress,
    ).focus_map


def threshold_mask(focus_map, threshold: Union[str, float] = "otsu-stack") -> np.ndarray:
    """A 0/255 uint8 mask of a focus map: 255 where the score is strictly
    above the level (``"otsu-stack"``, ``"otsu-slice"`` or a number)."""
    m = _as(focus_map, np.float32, np.shape(focus_map), "focus_map")
    if m.ndim != 3:
        raise ValueError(f"focus_map must be 3-D (Z x H x W), not {m.ndim}-D")
    if isinstance(threshold, str):
        t, v = _choice(n.THRESHOLDS, threshold, "threshold"), 0.0
    else:
        t, v = n.THRESHOLDS["fixed"], float(threshold)
    out = np.empty(m.shape, np.uint8)
    check(lib.infocus_threshold_mask(_ptr(m, c_float), *m.shape, t, v, _ptr(out, c_uint8), out.size),
          "infocus_threshold_mask")
    return out


def depth_map(focus_map) -> np.ndarray:
    """Each pixel's best-focus slice (H x W uint16): where the focus map is
    highest, the lowest such slice on ties."""
    m = np.asarray(focus_map)
    if m.ndim != 3:
        raise ValueError(f"focus_map must be 3-D (Z x H x W), not {m.ndim}-D of shape {m.shape}")
    m = np.ascontiguousarray(m, dtype=np.float32)
    z, h, w = m.shape
    out = np.empty((h, w), np.uint16)
    check(lib.infocus_depth_map(_ptr(m, c_float), z, h, w, _ptr(out, c_uint16), out.size), "infocus_depth_map")
    return out


def in_focus(stack, mask) -> np.ndarray:
    """The in-focus stack: ``stack`` where ``mask`` is non-zero, 0 elsewhere."""
    s = _as_stack(stack)
    m = _as(mask, np.uint8, s.shape, "mask")
    out = np.empty_like(s)
    check(lib.infocus_in_focus(_ptr(s), _PIXEL_TYPES[s.dtype], *s.shape, _ptr(m, c_uint8), m.size,
                               _ptr(out), out.size), "infocus_in_focus")
    return out


def all_in_focus(stack, depth) -> np.ndarray:
    """The all-in-focus image (H x W, the stack's type): each pixel from the
    slice ``depth`` names (see :func:`depth_map` or ``segment(...).depth``)."""
    s = _as_stack(stack)
    z, h, w = s.shape
    d = _as(depth, np.uint16, (h, w), "depth")
    out = np.empty((h, w), s.dtype)
    check(lib.infocus_all_in_focus(_ptr(s), _PIXEL_TYPES[s.dtype], z, h, w, _ptr(d, c_uint16), d.size,
                                   _ptr(out), out.size), "infocus_all_in_focus")
    return out


def synth(
    slices: int = 20,
    size: int = 256,
    *,
    width: Optional[int] = None,
    texture: str = "coarse",
    surface: str = "dome",
    photons: float = 1000.0,
    read_noise: float = 2.0,
    dof: float = 3.0,
    background: bool = True,
    pixel_type: str = "u16",
    seed: int = 1,
    progress: Optional[Progress] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic focal stack and its exact truth (255 where the specimen is
    in focus), the same bytes as ``infocus synth`` with the same options."""
    p = lib.infocus_synth_params_default()
    p.depth, p.height, p.width = int(slices), int(size), int(size if width is None else width)
    p.texture = _choice({t: i for i, t in enumerate(n.TEXTURES)}, texture, "texture")
    p.surface = _choice({t: i for i, t in enumerate(n.SURFACES)}, surface, "surface")
    p.photons, p.read_noise, p.dof = float(photons), float(read_noise), float(dof)
    p.background = 1 if background else 0
    p.pixel_type = _choice({"u8": n.PIXEL_U8, "u16": n.PIXEL_U16, "f32": n.PIXEL_F32}, pixel_type, "pixel type")
    p.seed = int(seed)
    shape = (p.depth, p.height, p.width)
    stack = np.empty(shape, _DTYPES[p.pixel_type])
    truth = np.empty(shape, np.uint8)
    _call("infocus_synth", progress, byref(p), _ptr(stack), stack.size, _ptr(truth, c_uint8), truth.size)
    return stack, truth


# --- the U-Net -----------------------------------------------------------------


def unet_available() -> bool:
    """Whether this build of the library has the U-Net (cargo feature ``torch``)."""
    return bool(lib.infocus_unet_available())


def _stacks(stacks) -> list[np.ndarray]:
    if isinstance(stacks, np.ndarray) and stacks.ndim == 3:
        stacks = [stacks]
    out = [_as_stack(s) for s in stacks]
    if not out:
        raise ValueError("at least one stack is needed")
    for s in out[1:]:
        if s.shape != out[0].shape or s.dtype != out[0].dtype:
            raise ValueError(
                f"all stacks must share one shape and type: {out[0].shape} {out[0].dtype} "
                f"and {s.shape} {s.dtype}"
            )
    return out


def _train_params(default: n.TrainParams, preset, kw: dict) -> n.TrainParams:
    p = default
    if preset is not None:
        p.preset = _choice(n.PRESETS, preset, "preset")
    names = {f for f, _ in n.TrainParams._fields_}
    for k, v in kw.items():
        if v is None:
            continue
        if k not in names or k == "preset":
            raise TypeError(f"unknown training parameter {k!r}; use: {', '.join(sorted(names - {'preset'}))}")
        setattr(p, k, int(bool(v)) if k in ("augment", "freeze_encoder") else v)
    return p


class Model:
    """A U-Net that predicts which pixels of each slice are in focus.

    ``Model(depth=3, base_channels=8, norm="batch", context=3, profile=True, guide=True, device="auto", seed=0)``
    makes a freshly initialised one (``None`` keeps the library's CPU
    default, ``Model.paper()`` the paper's architecture); :meth:`load` reads
    a model file. ``context`` is the pairs of neighbouring slices the network
    sees beside each slice (Z offsets ±1, ±2, ±4, ...; 0: the slice alone,
    as in the paper). ``profile`` adds the focus profile to the input (each
    slice's sharpness relative to the pixel's sharpest slice, and the
    structure at best focus; False: images only, as in the paper).
    ``guide`` adds the default preset's answer (for each slice, whether it
    lies within the preset's depth-of-field band around the pixel's best
    focus; False: no guide, as in the paper). One thread at a time may use
    a model.
    """

    def __init__(
        self,
        depth: Optional[int] = None,
        base_channels: Optional[int] = None,
        norm: Optional[str] = None,
        context: Optional[int] = None,
        profile: Optional[bool] = None,
        guide: Optional[bool] = None,
        *,
        device: str = "auto",
        seed: int = 0,
        _config: Optional[n.UnetConfig] = None,
    ):
        c = _config if _config is not None else lib.infocus_unet_config_default()
        if depth is not None:
            c.depth = int(depth)
        if base_channels is not None:
            c.base_channels = int(base_channels)
        if norm is not None:
            c.norm = _choice(n.NORMS, norm, "norm")
        if context is not None:
            c.context = int(context)
        if profile is not None:
            if profile not in (True, False):
                raise ValueError(f"profile must be True or False, not {profile!r}")
            c.profile = int(bool(profile))
        if guide is not None:
            if guide not in (True, False):
                raise ValueError(f"guide must be True or False, not {guide!r}")
            c.guide = int(bool(guide))
        handle = POINTER(n.Model)()
        check(lib.infocus_model_new(byref(c), device.encode(), int(seed), byref(handle)), "infocus_model_new")
        self._handle = handle

    @classmethod
    def paper(cls, *, device: str = "auto", seed: int = 0) -> "Model":
        """The paper's architecture (depth 3, 16 channels, instance norm, one slice, no profile, no guide)."""
        return cls(device=device, seed=seed, _config=lib.infocus_unet_config_paper())

    @classmethod
    def load(cls, path: Union[str, os.PathLike], *, device: str = "auto") -> "Model":
        """Reads a model file written by :meth:`save` or ``infocus train``."""
        self = cls.__new__(cls)
        handle = POINTER(n.Model)()
        check(lib.infocus_model_load(os.fsencode(path), device.encode(), byref(handle)), "infocus_model_load")
        self._handle = handle
        return self

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Writes the model (safetensors), atomically."""
        check(lib.infocus_model_save(self._live(), os.fsencode(path)), "infocus_model_save")

    def _live(self):
        h = getattr(self, "_handle", None)
        if not h:
            raise ValueError("this model was closed")
        return h

    def close(self) -> None:
        """Releases the model now (it is also released when collected)."""
        h = getattr(self, "_handle", None)
        if h:
            self._handle = None
            lib.infocus_model_free(h)

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter exit
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def device(self) -> str:
        """The device the model computes on ("cpu", "cuda:0")."""
        return lib.infocus_model_device(self._live()).decode()

    @property
    def config(self) -> dict:
        """The architecture: depth, base_channels, norm, context, profile and guide."""
        c = n.UnetConfig()
        check(lib.infocus_model_config(self._live(), byref(c)), "infocus_model_config")
        norm = {v: k for k, v in n.NORMS.items()}[c.norm]
        return {"depth": c.depth, "base_channels": c.base_channels, "norm": norm, "context": c.context,
                "profile": bool(c.profile), "guide": bool(c.guide)}

    def __repr__(self) -> str:
        if not getattr(self, "_handle", None):
            return "<infocus.Model (closed)>"
        return f"<infocus.Model {self.config} on {self.device}>"

    def train(
        self,
        stacks,
        preset: str = "default",
        *,
        progress: Optional[EpochProgress] = None,
        **params,
    ) -> "Model":
        """Trains on the weak labels the rule ``preset`` makes for each stack.

        ``stacks``: one Z x H x W stack or a list of stacks of one shape and
        type. ``params``: any field of the C ``InfocusTrainParams`` (epochs,
        batch, patch, learning_rate, patience, val_fraction, seed,
        dice_weight, focal_weight, bce_weight, augment, freeze_encoder);
        the rest keep ``infocus_train_params_default()``. On failure or
        cancel the model is unchanged. Returns the model.
        """
        ss = _stacks(stacks)
        p = _train_params(lib.infocus_train_params_default(), preset, params)
        ptrs = (c_void_p * len(ss))(*[s.ctypes.data for s in ss])
        _call(
            "infocus_unet_train", progress,
            self._live(), ptrs, len(ss), _PIXEL_TYPES[ss[0].dtype], *ss[0].shape, byref(p),
            epoch=True,
        )
        return self

    def finetune(
        self,
        stacks,
        masks,
        annotated=None,
        *,
        progress: Optional[EpochProgress] = None,
        **params,
    ) -> "Model":
        """Fine-tunes on manual masks (non-zero = in focus).

        ``annotated``: per stack, the slices that count in the loss (a
        sequence of Z booleans, or of slice indices); None: the slices with
        any non-zero mask pixel. ``params`` as for :meth:`train`, defaults
        from ``infocus_finetune_params_default()``.
        """
        ss = _stacks(stacks)
        if isinstance(masks, np.ndarray) and masks.ndim == 3:
            masks = [masks]
        ms = [_as(m, np.uint8, ss[0].shape, "mask") for m in masks]
        if len(ms) != len(ss):
            raise ValueError(f"{len(ss)} stacks but {len(ms)} masks")
        z = ss[0].shape[0]
        flags = None
        if annotated is not None:
            if len(ss) == 1 and (len(annotated) == 0 or np.isscalar(annotated[0])):
                annotated = [annotated]
            rows = []
            for a in annotated:
                a = np.asarray(a)
                if a.dtype == bool:
                    if a.shape != (z,):
                        raise ValueError(f"annotated flags must be {z} per stack, not {a.shape}")
                    rows.append(a)
                else:
                    row = np.zeros(z, bool)
                    row[a.astype(np.int64)] = True
                    rows.append(row)
            flags = np.ascontiguousarray(np.concatenate(rows), dtype=np.uint8)
        p = _train_params(lib.infocus_finetune_params_default(), None, params)
        sp = (c_void_p * len(ss))(*[s.ctypes.data for s in ss])
        mp = (c_void_p * len(ms))(*[m.ctypes.data for m in ms])
        _call(
            "infocus_unet_finetune", progress,
            self._live(), sp, mp, len(ss), _PIXEL_TYPES[ss[0].dtype], *ss[0].shape,
            _ptr(flags, c_uint8) if flags is not None else None, 0 if flags is None else flags.size,
            byref(p),
            epoch=True,
        )
        return self

    def predict(
        self,
        stack,
        *,
        threshold: Optional[float] = None,
        tile: Optional[int] = None,
        overlap: Optional[int] = None,
        batch: Optional[int] = None,
        flips: bool = True,
        with_prob: bool = False,
        progress: Optional[Progress] = None,
    ):
        """The in-focus mask (Z x H x W uint8, 0/255) of every slice; with
        ``with_prob``, ``(mask, probabilities)`` (float32). ``flips`` averages
        each tile over its mirror images (4 passes, more accurate); False is
        one pass, 4x faster (``infocus predict --no-flips``)."""
        if not isinstance(flips, (bool, np.bool_)):
            raise ValueError(f"flips must be True or False, not {flips!r}")
        s = _as_stack(stack)
        p = lib.infocus_predict_params_default()
        p.flips = int(bool(flips))
        if threshold is not None:
            p.threshold = float(threshold)
        if tile is not None:
            p.tile = int(tile)
        if overlap is not None:
            p.overlap = int(overlap)
        if batch is not None:
            p.batch = int(batch)
        mask = np.empty(s.shape, np.uint8)
        prob = np.empty(s.shape, np.float32) if with_prob else None
        _call(
            "infocus_unet_predict", progress,
            self._live(), _ptr(s), _PIXEL_TYPES[s.dtype], *s.shape, byref(p),
            _ptr(mask, c_uint8), mask.size,
            _ptr(prob, c_float) if prob is not None else None, 0 if prob is None else prob.size,
        )
        return (mask, prob) if with_prob else mask


__all__ = [
    "Cancelled",
    "Model",
    "Segmentation",
    "all_in_focus",
    "depth_map",
    "focus_map",
    "in_focus",
    "segment",
    "synth",
    "threshold_mask",
    "unet_available",
]
