"""infocus: the in-focus pixels of every slice of a widefield focal stack.

A thin numpy API over the native library's C ABI (ctypes; nothing is
compiled at import time), and a napari plugin (``infocus._napari``, loaded
by napari only). Stacks are Z x H x W arrays of uint8, uint16 or float32::

    import infocus
    stack, truth = infocus.synth(slices=20, size=256)
    seg = infocus.segment(stack)                   # the default preset
    aif = infocus.all_in_focus(stack, seg.depth)
    model = infocus.Model().train(stack, epochs=5)  # U-Net on weak labels
"""

from ._api import (
    Model,
    Segmentation,
    all_in_focus,
    depth_map,
    focus_map,
    in_focus,
    segment,
    synth,
    threshold_mask,
    unet_available,
)
from ._native import (
    MEASURES,
    Cancelled,
    InfocusError,
    InfocusIOError,
    InternalError,
    InvalidArgumentError,
    TorchError,
    UnsupportedError,
    library_path,
    version,
)

__version__ = version()

__all__ = [
    "MEASURES",
    "Cancelled",
    "InfocusError",
    "InfocusIOError",
    "InternalError",
    "InvalidArgumentError",
    "Model",
    "Segmentation",
    "TorchError",
    "UnsupportedError",
    "all_in_focus",
    "depth_map",
    "focus_map",
    "in_focus",
    "library_path",
    "segment",
    "synth",
    "threshold_mask",
    "unet_available",
    "version",
]
