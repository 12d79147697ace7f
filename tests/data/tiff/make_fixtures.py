"""Makes the small TIFF fixtures of tests/io_tiff.rs, once.

The fixtures are committed, so the Rust tests need no Python. This script is
kept so they can be made again and so it is plain how each one was made. It
also writes expected.json: shape, dtype, sum and a few pixels of each
readable fixture, calibration where there is one, and for each file infocus
must refuse, the page and words its error must name.

    python3 -m venv /tmp/iovenv
    /tmp/iovenv/bin/pip install numpy tifffile imagecodecs
    /tmp/iovenv/bin/python tests/data/tiff/make_fixtures.py

Made with numpy 2.4, tifffile 2026.3.3, imagecodecs 2026.3.6.
"""

import json
import os

import numpy as np
import tifffile

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240607)
expected = {}


def path(name):
    return os.path.join(HERE, name)


def readable(name, data, dtype, calibration=None, as_read=None):
    """Records what infocus must read from `name`.

    `data` is what tifffile reads back (checked here); `as_read` is the stack
    infocus should return when it differs (one channel of a hyperstack)."""
    back = tifffile.imread(path(name))
    assert np.array_equal(back, data), name
    with tifffile.TiffFile(path(name)) as tf:
        pages = np.asarray(data).reshape(-1, *np.asarray(data).shape[-2:]).shape[0]
        assert len(tf.pages) == pages, (name, len(tf.pages))
        assert all(p.samplesperpixel == 1 for p in tf.pages), name
    arr = np.asarray(data if as_read is None else as_read)
    if arr.ndim == 2:
        arr = arr[None]
    z, h, w = arr.shape
    picks = [(0, 0, 0), (z - 1, h - 1, w - 1), (z // 2, h // 3, w // 2), (0, h - 1, 1)]
    entry = {
        "shape": [z, h, w],
        "dtype": dtype,
        "sum": float(arr.astype(np.float64).sum()),
        "min": float(arr.min()),
        "max": float(arr.max()),
        "pixels": [[int(a), int(b), int(c), float(arr[a, b, c])] for a, b, c in picks],
    }
    if calibration is not None:
        entry["calibration"] = calibration
    expected[name] = entry


def refused(name, page, words):
    expected[name] = {"error_page": page, "error_words": words}


# LZW, 16-bit, horizontal predictor, several strips per page.
a = rng.integers(0, 65536, size=(4, 20, 30), dtype=np.uint16)
tifffile.imwrite(path("lzw_u16.tif"), a, compression="lzw", predictor=True, rowsperstrip=7, photometric="minisblack")
readable("lzw_u16.tif", a, "u16")

# Deflate (zlib), 8-bit.
a = rng.integers(0, 256, size=(3, 16, 24), dtype=np.uint8)
tifffile.imwrite(path("deflate_u8.tif"), a, compression="zlib", photometric="minisblack")
readable("deflate_u8.tif", a, "u8")

# 32-bit float, uncompressed, with negative and fractional values.
a = (rng.standard_normal(size=(2, 10, 12)) * 100).astype(np.float32)
tifffile.imwrite(path("float32.tif"), a, photometric="minisblack")
readable("float32.tif", a, "f32")

# Tiled 16-bit, image not a multiple of the tile size, deflate.
a = rng.integers(0, 4096, size=(3, 40, 50), dtype=np.uint16)
tifffile.imwrite(path("tiled_u16.tif"), a, tile=(16, 16), compression="zlib", photometric="minisblack")
readable("tiled_u16.tif", a, "u16")

# Single page: Z = 1.
a = rng.integers(0, 256, size=(9, 11), dtype=np.uint8)
tifffile.imwrite(path("single_u8.tif"), a)
readable("single_u8.tif", a, "u8")

# Big-endian ("MM") 16-bit.
a = rng.integers(0, 65536, size=(2, 6, 7), dtype=np.uint16)
tifffile.imwrite(path("bigendian_u16.tif"), a, byteorder=">", photometric="minisblack")
readable("bigendian_u16.tif", a, "u16")

# Half float, read losslessly as f32.
a = (rng.standard_normal(size=(2, 5, 6)) * 10).astype(np.float16)
tifffile.imwrite(path("float16.tif"), a, photometric="minisblack")
readable("float16.tif", a, "f32")

# Signed 16-bit with only non-negative values: read as u16.
a = rng.integers(0, 30000, size=(2, 6, 8), dtype=np.int16)
tifffile.imwrite(path("int16_positive.tif"), a, photometric="minisblack")
readable("int16_positive.tif", a, "u16")

# ImageJ Z-stack with calibration: 0.25 um pixels, 2 um z spacing.
a = rng.integers(0, 65536, size=(5, 12, 10), dtype=np.uint16)
tifffile.imwrite(
    path("imagej_zstack_u16.tif"),
    a,
    imagej=True,
    resolution=(1 / 0.25, 1 / 0.25),
    metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"},
)
readable(
    "imagej_zstack_u16.tif",
    a,
    "u16",
    calibration={"pixel_width": 0.25, "pixel_height": 0.25, "z_spacing": 2.0, "unit": "µm"},
)

# ImageJ's layout for stacks over 4 GiB: one page directory only, the pixel
# data of all pages contiguous after it. Made from a small ImageJ file by
# cutting the chain of page directories after the first.
a = rng.integers(0, 65536, size=(4, 6, 5), dtype=np.uint16)
tifffile.imwrite(
    path("imagej_one_ifd_u16.tif"),
    a,
    imagej=True,
    resolution=(4.0, 4.0),
    metadata={"axes": "ZYX", "spacing": 0.5, "unit": "um"},
)
raw = bytearray(open(path("imagej_one_ifd_u16.tif"), "rb").read())
assert raw[:2] == b"II"
ifd0 = int.from_bytes(raw[4:8], "little")
count = int.from_bytes(raw[ifd0 : ifd0 + 2], "little")
raw[ifd0 + 2 + 12 * count : ifd0 + 6 + 12 * count] = b"\0\0\0\0"
open(path("imagej_one_ifd_u16.tif"), "wb").write(raw)
with tifffile.TiffFile(path("imagej_one_ifd_u16.tif")) as tf:
    assert len(tf.pages) == 1
    assert np.array_equal(tf.series[0].asarray(), a)
expected["imagej_one_ifd_u16.tif"] = {
    "shape": [4, 6, 5],
    "dtype": "u16",
    "sum": float(a.astype(np.float64).sum()),
    "min": float(a.min()),
    "max": float(a.max()),
    "pixels": [[0, 0, 0, float(a[0, 0, 0])], [3, 5, 4, float(a[3, 5, 4])], [2, 1, 3, float(a[2, 1, 3])]],
    "calibration": {"pixel_width": 0.25, "pixel_height": 0.25, "z_spacing": 0.5, "unit": "µm"},
}

# ImageJ hyperstack: 3 slices x 2 channels. Channel 1 is what
# read_tiff_hyperstack(path, 1, 0) must return.
a = rng.integers(0, 256, size=(3, 2, 8, 9), dtype=np.uint8)
tifffile.imwrite(
    path("imagej_hyperstack.tif"),
    a,
    imagej=True,
    resolution=(2.0, 2.0),
    metadata={"axes": "ZCYX", "spacing": 1.5, "unit": "um"},
)
readable(
    "imagej_hyperstack.tif",
    a,
    "u8",
    calibration={"pixel_width": 0.5, "pixel_height": 0.5, "z_spacing": 1.5, "unit": "µm"},
    as_read=a[:, 1],
)
expected["imagej_hyperstack.tif"]["channel"] = 1
expected["imagej_hyperstack.tif"]["error_words"] = ["2 channel", "1 time frame", "single Z-stack"]

# Refused: page 1 is RGB colour (page 0 is grey).
with tifffile.TiffWriter(path("rgb_page1.tif")) as tw:
    tw.write(rng.integers(0, 256, size=(8, 8), dtype=np.uint8), photometric="minisblack")
    tw.write(rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8), photometric="rgb")
refused("rgb_page1.tif", 1, ["RGB", "3 samples per pixel"])

# Refused: 1-bit (bilevel).
tifffile.imwrite(path("bilevel.tif"), rng.integers(0, 2, size=(16, 16)).astype(bool))
refused("bilevel.tif", 0, ["1-bit", "bilevel"])

# Refused: page 2 has a different size.
with tifffile.TiffWriter(path("sizes_differ.tif")) as tw:
    for shape in [(10, 12), (10, 12), (11, 12)]:
        tw.write(rng.integers(0, 256, size=shape, dtype=np.uint8), photometric="minisblack")
refused("sizes_differ.tif", 2, ["12 x 11", "page 0 is 12 x 10", "same size"])

# Refused: page 1 has a different type.
with tifffile.TiffWriter(path("types_differ.tif")) as tw:
    tw.write(rng.integers(0, 256, size=(6, 6), dtype=np.uint8), photometric="minisblack")
    tw.write(rng.integers(0, 256, size=(6, 6), dtype=np.uint16), photometric="minisblack")
refused("types_differ.tif", 1, ["16-bit unsigned", "8-bit unsigned", "same pixel type"])

# Refused: 64-bit float.
tifffile.imwrite(path("float64.tif"), rng.standard_normal(size=(2, 4, 4)), photometric="minisblack")
refused("float64.tif", 0, ["64-bit floating-point", "32-bit"])

# Refused: signed 16-bit with negative values, on page 1.
a = rng.integers(0, 1000, size=(2, 4, 5), dtype=np.int16)
a[1, 2, 3] = -7
tifffile.imwrite(path("int16_negative.tif"), a, photometric="minisblack")
refused("int16_negative.tif", 1, ["-7", "y=2, x=3"])

with open(path("expected.json"), "w", encoding="utf-8") as f:
    json.dump(expected, f, indent=1, ensure_ascii=False, sort_keys=True)
    f.write("\n")
print("wrote", len(expected), "fixtures")
