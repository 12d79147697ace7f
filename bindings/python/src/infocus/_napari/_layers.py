"""Between napari layers and the numpy API: checked inputs, named outputs.

No Qt here; the widget calls these on the GUI thread.
"""

from __future__ import annotations

import numpy as np

# Label value that marks painted background in an annotation layer; any
# other non-zero label marks in-focus pixels.
BACKGROUND_LABEL = 2

OUTPUTS = {
    "focus map": "image",
    "mask": "labels",
    "in focus": "image",
    "depth": "image",
    "all in focus": "image",
    "U-Net mask": "labels",
    "U-Net probability": "image",
}
"""The layers the widget writes, named ``"<image> <output>"``."""


def stack_of(layer) -> np.ndarray:
    """The Z x H x W stack of an Image layer, or a ValueError saying why not."""
    if layer is None:
        raise ValueError("choose an Image layer holding a focal stack (Z x H x W) first")
    if getattr(layer, "rgb", False):
        raise ValueError(f"{layer.name!r} is RGB: infocus needs a grey-level Z-stack")
    if getattr(layer, "multiscale", False):
        data = layer.data[0]
    else:
        data = layer.data
    a = np.asarray(data)
    if a.ndim != 3:
        raise ValueError(
            f"{layer.name!r} has {a.ndim} dimensions {a.shape}: infocus needs a Z-stack (Z x H x W)"
        )
    return a


def output_name(image_name: str, output: str) -> str:
    return f"{image_name} {output}"


def show(viewer, data, name: str, kind: str, **kwargs):
    """Adds a layer, or replaces the data of the layer of that name and kind."""
    from napari.layers import Image, Labels

    cls = {"image": Image, "labels": Labels}[kind]
    if name in viewer.layers and isinstance(viewer.layers[name], cls):
        layer = viewer.layers[name]
        layer.data = data
        for k, v in kwargs.items():
            setattr(layer, k, v)
        return layer
    return getattr(viewer, f"add_{kind}")(data, name=name, **kwargs)


def annotations(labels: np.ndarray, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The mask and the painted slices of an annotation Labels layer.

    A slice counts as annotated when any of its pixels carries a label;
    pixels with a label other than :data:`BACKGROUND_LABEL` are in focus.
    """
    a = np.asarray(labels)
    if a.shape != tuple(shape):
        raise ValueError(f"the annotation layer is {a.shape}, the stack {tuple(shape)}: they must match")
    painted = (a != 0).reshape(a.shape[0], -1).any(axis=1)
    if not painted.any():
        raise ValueError(
            "the annotation layer is empty: paint in-focus pixels (label 1) and, if you like, "
            f"background (label {BACKGROUND_LABEL}) on a few slices first"
        )
    mask = np.where((a != 0) & (a != BACKGROUND_LABEL), 255, 0).astype(np.uint8)
    return mask, painted
