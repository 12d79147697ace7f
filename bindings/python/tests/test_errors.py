"""Every error path of the numpy API: Python-side checks raise TypeError or
ValueError before any native call, library failures raise the library's
message as an InfocusError subclass, and nothing is left half-written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, TINY_UNET

import infocus
from infocus import _native


@pytest.mark.parametrize("dtype", [np.int64, np.float64, np.int16, np.bool_, np.complex64])
def test_wrong_dtype_is_a_type_error(small, dtype):
    with pytest.raises(TypeError, match="uint8, uint16 or float32"):
        infocus.segment(small[0].astype(dtype))


@pytest.mark.parametrize("shape", [(64, 64), (64,), (2, 8, 64, 64)])
def test_not_a_stack_is_a_value_error(shape):
    with pytest.raises(ValueError, match="3-D"):
        infocus.focus_map(np.zeros(shape, np.uint16))


def test_a_single_image_error_says_how_to_make_a_stack():
    with pytest.raises(ValueError, match=r"a\[None\]"):
        infocus.segment(np.zeros((32, 32), np.uint8))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_is_the_librarys_invalid_argument(small, bad):
    stack = small[0].astype(np.float32)
    stack[3, 5, 7] = bad
    for call in (lambda: infocus.segment(stack), lambda: infocus.focus_map(stack, preset="paper"),
                 lambda: infocus.in_focus(stack, np.zeros(stack.shape, np.uint8))):
        with pytest.raises(infocus.InvalidArgumentError) as e:
            call()
        assert e.value.status == _native.ERR_INVALID
        assert re.search(r"NaN|Inf|finite", str(e.value)), str(e.value)
    fmap = np.zeros((2, 4, 4), np.float32)
    fmap[1, 2, 3] = bad
    with pytest.raises(infocus.InvalidArgumentError):
        infocus.depth_map(fmap)


def test_library_rejections_carry_the_librarys_message(small):
    stack = small[0]
    with pytest.raises(infocus.InvalidArgumentError, match="window"):
        infocus.focus_map(stack, window=0)
    with pytest.raises(infocus.InvalidArgumentError, match="stride"):
        infocus.focus_map(stack, strides=[])
    with pytest.raises(infocus.InvalidArgumentError, match="depth"):
        infocus.all_in_focus(stack, np.full(stack.shape[1:], 8, np.uint16))
    with pytest.raises(infocus.InvalidArgumentError):
        infocus.segment(stack, threshold=float("nan"), preset="paper")
    with pytest.raises(infocus.InvalidArgumentError, match="8"):
        infocus.synth(4, 7)


def test_python_side_argument_checks(small):
    stack = small[0]
    with pytest.raises(ValueError, match="unknown measure"):
        infocus.focus_map(stack, measure="sharpness")
    with pytest.raises(ValueError, match="unknown preset"):
        infocus.segment(stack, preset="best")
    with pytest.raises(ValueError, match="paper preset"):
        infocus.segment(stack, preset="default", window=32)
    with pytest.raises(ValueError, match="default preset"):
        infocus.segment(stack, preset="paper", dof=3)
    with pytest.raises(ValueError, match="shape"):
        infocus.in_focus(stack, np.zeros((8, 64, 63), np.uint8))
    with pytest.raises(ValueError, match="unknown texture"):
        infocus.synth(texture="smooth")


def test_wrong_model_files_are_io_errors(tmp_path, unet_needed):
    text = tmp_path / "notes.safetensors"
    text.write_text("not a model\n")
    missing = tmp_path / "missing.safetensors"
    model = infocus.Model(**TINY_UNET, device="cpu")
    good = tmp_path / "good.safetensors"
    model.save(good)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for path in (text, missing, truncated):
        with pytest.raises(infocus.InfocusIOError) as e:
            infocus.Model.load(path)
        assert e.value.status == _native.ERR_IO
        assert path.name in str(e.value), str(e.value)
    with pytest.raises(infocus.InfocusIOError):
        model.save(tmp_path / "no" / "such" / "dir" / "m.safetensors")


def test_model_argument_errors(small, unet_needed):
    stack = small[0]
    with pytest.raises(infocus.InvalidArgumentError, match="depth"):
        infocus.Model(depth=0)
    with pytest.raises(ValueError, match="unknown norm"):
        infocus.Model(norm="layer")
    with pytest.raises(infocus.InvalidArgumentError, match="device"):
        infocus.Model(**TINY_UNET, device="tpu")
    model = infocus.Model(**TINY_UNET, device="cpu")
    with pytest.raises(TypeError, match="unknown training parameter"):
        model.train(stack, epoch=3)
    with pytest.raises(infocus.InvalidArgumentError, match="patch"):
        model.train(stack, patch=30, epochs=1)
    with pytest.raises(infocus.InvalidArgumentError):
        model.finetune(stack, np.zeros(stack.shape, np.uint8), epochs=1, patch=32)  # nothing annotated
    with pytest.raises(ValueError, match="share one shape"):
        model.train([stack, stack[:, :32]], epochs=1)
    with pytest.raises(infocus.InvalidArgumentError, match="threshold"):
        model.predict(stack, threshold=2.0)
    model.close()
    with pytest.raises(ValueError, match="closed"):
        model.predict(stack)
    model.close()  # twice is fine


def test_every_header_function_has_a_prototype():
    header = (ROOT / "include" / "infocus.h").read_text()
    declared = set(re.findall(r"^[A-Za-z].*?\b(infocus_\w+)\(", header, re.M))
    assert len(declared) > 25
    assert declared == set(_native._PROTOTYPES), declared ^ set(_native._PROTOTYPES)


def test_the_import_names_where_it_looks(monkeypatch, tmp_path):
    monkeypatch.setenv("INFOCUS_LIBRARY", str(tmp_path / "libinfocus.so"))
    assert _native.library_candidates()[0] == Path(tmp_path / "libinfocus.so")
