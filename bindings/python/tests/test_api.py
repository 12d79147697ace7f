"""The numpy API returns the CLI's bytes for the same input, and its
progress callbacks report and cancel."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_TRAIN, TINY_UNET, imread

import infocus


def same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("pixel_type", ["u8", "u16", "f32"])
def test_synth_is_the_cli_stack(cli, tmp_path, pixel_type):
    stack, truth = infocus.synth(6, 40, width=48, texture="sparse", surface="steps",
                                 pixel_type=pixel_type, seed=11, dof=2.5)
    cli("synth", "-o", tmp_path / "s.tif", "--slices", 6, "--size", 40, "--width", 48,
        "--texture", "sparse", "--surface", "steps", "--pixel-type", pixel_type,
        "--seed", 11, "--dof", 2.5)
    same(stack, imread(tmp_path / "s.tif"))
    same(truth, imread(tmp_path / "s_truth.tif"))


def test_synth_defaults_are_the_cli_defaults(cli, tmp_path):
    stack, truth = infocus.synth()
    cli("synth", "-o", tmp_path / "s.tif")
    same(stack, imread(tmp_path / "s.tif"))
    same(truth, imread(tmp_path / "s_truth.tif"))


@pytest.mark.parametrize(
    "kwargs, flags",
    [
        ({}, []),
        ({"preset": "paper"}, ["--preset", "paper"]),
        ({"measure": "brenner", "window": 16, "strides": [4, 6]},
         ["--measure", "brenner", "--window", 16, "--strides", "4,6"]),
        ({"measure": "entropy", "window": 24, "strides": [8]},
         ["--measure", "entropy", "--window", 24, "--strides", "8"]),
        ({"dof": 2.0, "radius": 3}, ["--dof", 2.0, "--radius", 3]),
    ],
)
def test_focus_map_is_the_cli_map(cli, tmp_path, small, kwargs, flags):
    stack = small[0]
    np.save(tmp_path / "s.npy", stack)
    cli("focus-map", tmp_path / "s.npy", "-o", tmp_path / "map.tif", *flags)
    same(infocus.focus_map(stack, **kwargs), imread(tmp_path / "map.tif"))


@pytest.mark.parametrize(
    "kwargs, flags",
    [
        ({}, []),
        ({"preset": "paper"}, ["--preset", "paper"]),
        ({"preset": "paper", "threshold": "otsu-slice", "window": 32, "strides": [8, 16]},
         ["--preset", "paper", "--threshold", "otsu-slice", "--window", 32, "--strides", "8,16"]),
        ({"threshold": "otsu-stack", "dof": 3.0}, ["--threshold", "otsu-stack", "--dof", 3.0]),
    ],
)
@pytest.mark.parametrize("dtype", ["u16", "u8", "f32"])
def test_segment_and_products_are_the_cli_outputs(cli, tmp_path, kwargs, flags, dtype):
    stack, _ = infocus.synth(8, 64, texture="coarse", surface="dome", pixel_type=dtype, seed=4)
    np.save(tmp_path / "s.npy", stack)
    cli("segment", tmp_path / "s.npy", "-o", tmp_path / "mask.tif",
        "--focus-map", tmp_path / "map.tif", "--depth", tmp_path / "depth.tif",
        "--in-focus", tmp_path / "in.tif", "--all-in-focus", tmp_path / "aif.tif", *flags)
    seg = infocus.segment(stack, **kwargs)
    same(seg.mask, imread(tmp_path / "mask.tif"))
    same(seg.focus_map, imread(tmp_path / "map.tif"))
    same(seg.depth, imread(tmp_path / "depth.tif"))
    same(infocus.in_focus(stack, seg.mask), imread(tmp_path / "in.tif"))
    same(infocus.all_in_focus(stack, seg.depth), imread(tmp_path / "aif.tif"))


def test_products_follow_their_definitions(small):
    stack = small[0]
    fmap = infocus.focus_map(stack, measure="std", window=16, strides=[8])
    depth = infocus.depth_map(fmap)
    same(depth, np.argmax(fmap, axis=0).astype(np.uint16))  # lowest slice on ties, as argmax
    level = float(np.median(fmap))
    same(infocus.threshold_mask(fmap, level), np.where(fmap > level, 255, 0).astype(np.uint8))
    aif = infocus.all_in_focus(stack, depth)
    same(aif, np.take_along_axis(stack, depth[None].astype(np.intp), 0)[0])
    mask = infocus.threshold_mask(fmap, "otsu-slice")
    same(infocus.in_focus(stack, mask), np.where(mask > 0, stack, 0).astype(stack.dtype))
    # Views, Fortran order and big-endian input give the same bytes.
    same(infocus.focus_map(np.asfortranarray(stack).astype(">u2"), measure="std", window=16, strides=[8]), fmap)
    big = np.zeros((8, 64, 128), np.uint16)
    big[:, :, ::2] = stack
    same(infocus.focus_map(big[:, :, ::2], measure="std", window=16, strides=[8]), fmap)


def test_progress_reports_every_slice_and_cancels(small):
    stack = small[0]
    seen = []
    infocus.segment(stack, progress=lambda d, t: seen.append((d, t)))
    # One total throughout (at least a unit per slice: the default preset
    # makes more than one pass), ending at done == total.
    total = seen[0][1] if seen else 0
    assert total >= 8 and seen[-1] == (total, total) and all(t == total for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    with pytest.raises(infocus.Cancelled):
        infocus.focus_map(stack, progress=lambda d, t: d >= 1)
    with pytest.raises(infocus.Cancelled):
        infocus.synth(6, 32, progress=lambda d, t: True)

    class Stop(Exception):
        pass

    def boom(d, t):
        raise Stop("from the callback")

    with pytest.raises(Stop):
        infocus.segment(stack, preset="paper", progress=boom)


def test_unet_train_predict_save_load_finetune_match_the_cli(cli, tmp_path, small, unet_needed):
    stack = small[0]
    epochs = []
    model = infocus.Model(**TINY_UNET, device="cpu", seed=2)
    assert model.device == "cpu"
    assert model.config == {"depth": 2, "base_channels": 4, "norm": "batch", "context": 3, "profile": True,
                            "guide": True}
    assert infocus.Model(depth=1, base_channels=2, context=0, device="cpu").config["context"] == 0
    assert infocus.Model(depth=1, base_channels=2, profile=False, device="cpu").config["profile"] is False
    assert infocus.Model.paper(device="cpu").config["profile"] is False
    with pytest.raises(ValueError, match="profile"):
        infocus.Model(depth=1, base_channels=2, profile="off", device="cpu")
    assert infocus.Model(depth=1, base_channels=2, guide=False, device="cpu").config["guide"] is False
    assert infocus.Model.paper(device="cpu").config["guide"] is False
    with pytest.raises(ValueError, match="guide"):
        infocus.Model(depth=1, base_channels=2, guide="yes", device="cpu")
    model.train(stack, progress=lambda *a: epochs.append(a), **TINY_TRAIN)
    assert [e[:2] for e in epochs] == [(1, 2), (2, 2)]
    assert all(np.isfinite(e[2]) and 0 <= e[3] <= 1 for e in epochs)
    mask, prob = model.predict(stack, with_prob=True)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    same(mask, np.where(prob > 0.5, 255, 0).astype(np.uint8))
    model.save(tmp_path / "m.safetensors")
    np.save(tmp_path / "s.npy", stack)
    cli("predict", tmp_path / "m.safetensors", tmp_path / "s.npy", "-o", tmp_path / "mask.tif",
        "--prob", tmp_path / "prob.tif", "--device", "cpu")
    same(mask, imread(tmp_path / "mask.tif"))
    same(prob, imread(tmp_path / "prob.tif"))
    # flips=False is the CLI's --no-flips (one pass per tile), not the default's average.
    mask1, prob1 = model.predict(stack, flips=False, with_prob=True)
    cli("predict", tmp_path / "m.safetensors", tmp_path / "s.npy", "-o", tmp_path / "mask1.tif",
        "--prob", tmp_path / "prob1.tif", "--device", "cpu", "--no-flips")
    same(mask1, imread(tmp_path / "mask1.tif"))
    same(prob1, imread(tmp_path / "prob1.tif"))
    assert prob1.tobytes() != prob.tobytes()
    same(model.predict(stack, flips=True), mask)
    for bad in (0, 1, "no", None):
        with pytest.raises(ValueError, match="flips"):
            model.predict(stack, flips=bad)
    loaded = infocus.Model.load(tmp_path / "m.safetensors", device="cpu")
    same(loaded.predict(stack), mask)
    # Fine-tuning on two painted slices changes the model; a cancel leaves it as it was.
    manual = np.zeros_like(mask)
    manual[2, 10:40, 10:40] = 255
    manual[5, 20:50, 5:30] = 255
    with pytest.raises(infocus.Cancelled):
        loaded.finetune(stack, manual, annotated=[2, 5], progress=lambda *a: True, epochs=3, patch=32, batch=4)
    same(loaded.predict(stack), mask)
    loaded.finetune(stack, manual, annotated=[2, 5], epochs=2, patch=32, batch=4, seed=1)
    assert loaded.predict(stack, with_prob=True)[1].tobytes() != prob.tobytes()
    loaded.close()
    assert "closed" in repr(loaded)


def test_import_needs_neither_napari_nor_qt():
    import subprocess
    import sys

    code = ("import sys, infocus; infocus.segment(infocus.synth(3, 16)[0]); "
            "bad = [m for m in ('napari', 'qtpy', 'PyQt5', 'vispy') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_masks_of_any_type_are_nonzero_means_in_focus(small):
    stack = small[0]
    fmap = infocus.focus_map(stack, preset="paper", window=16, strides=[8])
    mask = infocus.threshold_mask(fmap)
    want = infocus.in_focus(stack, mask)
    same(infocus.in_focus(stack, mask > 0), want)
    same(infocus.in_focus(stack, (mask > 0).astype(np.int32) * 7), want)
