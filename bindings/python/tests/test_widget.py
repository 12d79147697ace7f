"""The napari plugin driven as a user would: open the sample data, click the
dock widget's buttons, wait for the work to finish, and compare the layers it
writes with the CLI's outputs for the same stack. Runs headless under Xvfb."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import ROOT, TINY_TRAIN, TINY_UNET, imread
from qtpy.QtCore import Qt

import infocus

TIMEOUT_MS = 120_000
ARTIFACTS = ROOT / "artifacts" / "napari"


@pytest.fixture
def notes():
    """The napari notifications shown during the test (message, severity)."""
    from napari.utils.notifications import notification_manager

    seen = []

    def keep(event):
        n = event.value if hasattr(event, "value") else event
        seen.append((str(n.message), str(n.severity)))

    notification_manager.notification_ready.connect(keep)
    yield seen
    notification_manager.notification_ready.disconnect(keep)


def open_widget(viewer):
    dock, widget = viewer.window.add_plugin_dock_widget("infocus", "infocus")
    return widget


def click(qtbot, widget, button, label, outcome="ok"):
    """Clicks a button that starts a job and waits until the job has ended."""
    with qtbot.waitSignal(widget.runner.finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(button, Qt.LeftButton)
    assert blocker.args == [label, outcome], (blocker.args, widget.runner.last_message)


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    assert a.tobytes() == b.tobytes()


def test_every_sample_opens(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("infocus", "synthetic")
    stack, truth = infocus.synth()
    same(viewer.layers["synthetic stack"].data, stack)
    same(viewer.layers["synthetic truth"].data, (truth > 0).astype(np.uint8))
    assert type(viewer.layers["synthetic truth"]).__name__ == "Labels"
    viewer.open_sample("infocus", "yeast")
    assert viewer.layers["yeast stack"].data.shape == (34, 116, 55)
    assert viewer.layers["yeast stack"].data.dtype == np.uint16
    viewer.open_sample("infocus", "pcb")
    assert viewer.layers["pcb stack"].data.shape == (7, 768, 1024)


def test_manifest_is_valid():
    from npe2 import PluginManifest

    m = PluginManifest.from_distribution("infocus")
    assert [w.display_name for w in m.contributions.widgets] == ["infocus"]
    assert {s.key for s in m.contributions.sample_data} == {"synthetic", "yeast", "pcb"}


def test_focus_map_segment_and_3d_view_give_the_cli_bytes(make_napari_viewer, qtbot, cli, tmp_path):
    viewer = make_napari_viewer(show=True)
    w = open_widget(viewer)
    viewer.open_sample("infocus", "synthetic")
    w.image_combo.setCurrentText("synthetic stack")
    stack = viewer.layers["synthetic stack"].data
    np.save(tmp_path / "s.npy", stack)

    # Focus map, paper preset with a custom sliding window.
    w.map_preset.setCurrentText("paper")
    w.map_measure.setCurrentText("brenner")
    w.map_window.setValue(32)
    w.map_strides.setText("8, 16")
    click(qtbot, w, w.map_button, "focus map")
    cli("focus-map", tmp_path / "s.npy", "-o", tmp_path / "map.tif",
        "--measure", "brenner", "--window", 32, "--strides", "8,16")
    same(viewer.layers["synthetic stack focus map"].data, imread(tmp_path / "map.tif"))

    # Segment with the default preset: mask, in-focus stack, depth, all-in-focus, map.
    click(qtbot, w, w.seg_button, "segment")
    cli("segment", tmp_path / "s.npy", "-o", tmp_path / "mask.tif", "--focus-map", tmp_path / "map.tif",
        "--depth", tmp_path / "depth.tif", "--in-focus", tmp_path / "in.tif",
        "--all-in-focus", tmp_path / "aif.tif")
    layers = viewer.layers
    assert type(layers["synthetic stack mask"]).__name__ == "Labels"
    same(layers["synthetic stack mask"].data, imread(tmp_path / "mask.tif"))
    same(layers["synthetic stack in focus"].data, imread(tmp_path / "in.tif"))
    same(layers["synthetic stack depth"].data, imread(tmp_path / "depth.tif"))
    same(layers["synthetic stack all in focus"].data, imread(tmp_path / "aif.tif"))
    same(layers["synthetic stack focus map"].data, imread(tmp_path / "map.tif"))
    # Against the truth: the default preset finds most in-focus pixels.
    truth = layers["synthetic truth"].data > 0
    found = layers["synthetic stack mask"].data > 0
    iou = (truth & found).sum() / (truth | found).sum()
    assert iou > 0.5, iou

    # Paper preset, per-slice Otsu.
    w.seg_preset.setCurrentText("paper")
    w.seg_threshold.setCurrentText("otsu-slice")
    click(qtbot, w, w.seg_button, "segment")
    cli("segment", tmp_path / "s.npy", "-o", tmp_path / "paper.tif", "--preset", "paper",
        "--threshold", "otsu-slice")
    same(layers["synthetic stack mask"].data, imread(tmp_path / "paper.tif"))
    w.seg_preset.setCurrentText("default")
    w.seg_threshold.setCurrentText("preset")
    click(qtbot, w, w.seg_button, "segment")

    # 3-D view: z scale from the slice spacing.
    w.z_spacing.setValue(2.5)
    qtbot.mouseClick(w.view_button, Qt.LeftButton)
    assert viewer.dims.ndisplay == 3
    vol = layers["synthetic stack in focus"]
    assert tuple(vol.scale) == (2.5, 1.0, 1.0)
    assert tuple(layers["synthetic stack"].scale) == (2.5, 1.0, 1.0)
    assert vol.visible and vol.rendering == "mip"
    qtbot.wait(200)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = viewer.screenshot(str(ARTIFACTS / "widget.png"), canvas_only=False, flash=False)
    assert shot.ndim == 3 and shot[..., :3].std() > 5, "the screenshot is blank"
    canvas = viewer.screenshot(canvas_only=True, flash=False)
    assert canvas[..., :3].max() > 0, "the 3-D canvas is black"


def test_unet_train_predict_finetune_from_painted_slices(make_napari_viewer, qtbot, cli, tmp_path, notes, unet_needed):
    viewer = make_napari_viewer()
    w = open_widget(viewer)
    stack, _ = infocus.synth(8, 64, texture="fine", surface="tilt", seed=3)
    viewer.add_image(stack, name="tiny")
    w.image_combo.setCurrentText("tiny")
    w.unet_depth.setValue(TINY_UNET["depth"])
    w.unet_width.setValue(TINY_UNET["base_channels"])
    w.unet_context.setValue(1)
    # The focus profile is on as in the default config; off trains on images only.
    assert w.unet_profile.isChecked() and infocus.Model(depth=1, base_channels=1, device="cpu").config["profile"]
    w.unet_profile.setChecked(False)
    # So is the preset guide; off, the network works from the images alone.
    assert w.unet_guide.isChecked() and infocus.Model(depth=1, base_channels=1, device="cpu").config["guide"]
    w.unet_guide.setChecked(False)
    w.train_epochs.setValue(TINY_TRAIN["epochs"])
    w.train_patch.setValue(TINY_TRAIN["patch"])
    w.train_batch.setValue(TINY_TRAIN["batch"])

    # Training reports epochs on the status line while the GUI thread runs.
    texts = []
    w.runner.progressed.connect(lambda text: texts.append(w.status.text()))
    click(qtbot, w, w.train_button, "train")
    assert w.model is not None and "trained on 'tiny'" in w.model_label.text()
    assert w.model.config["context"] == 1 and "Z context 1" in w.model_label.text()
    assert w.model.config["profile"] is False and "focus profile" not in w.model_label.text()
    assert w.model.config["guide"] is False and "preset guide" not in w.model_label.text()
    assert any("epoch" in t for t in texts), texts

    click(qtbot, w, w.predict_button, "predict")
    mask = viewer.layers["tiny U-Net mask"].data
    same(mask, w.model.predict(stack))
    same(viewer.layers["tiny in focus"].data, infocus.in_focus(stack, mask))
    prob = viewer.layers["tiny U-Net probability"].data
    assert prob.dtype == np.float32 and 0 <= prob.min() and prob.max() <= 1

    # "Average flips" is on by default; off predicts one pass per tile (predict(flips=False)).
    assert w.unet_flips.isChecked()
    w.unet_flips.setChecked(False)
    click(qtbot, w, w.predict_button, "predict")
    mask1, prob1 = w.model.predict(stack, flips=False, with_prob=True)
    same(viewer.layers["tiny U-Net mask"].data, mask1)
    same(viewer.layers["tiny U-Net probability"].data, prob1)
    assert prob1.tobytes() != prob.tobytes()
    w.unet_flips.setChecked(True)

    # Save through the widget; the CLI predicts the same bytes with that file.
    before = tmp_path / "before.safetensors"
    with qtbot.waitSignal(w.runner.finished, timeout=TIMEOUT_MS):
        w.save_model(str(before))
    np.save(tmp_path / "s.npy", stack)
    cli("predict", before, tmp_path / "s.npy", "-o", tmp_path / "mask.tif", "--device", "cpu")
    same(mask, imread(tmp_path / "mask.tif"))

    # Paint two slices of a new annotation layer: in focus on 2, background on 5.
    qtbot.mouseClick(w.new_annotation_button, Qt.LeftButton)
    labels = viewer.layers["tiny annotations"]
    assert w.annotation_combo.currentText() == "tiny annotations"
    painted = np.zeros(stack.shape, np.uint8)
    painted[2, 8:40, 8:40] = 1
    painted[5, 30:60, 0:20] = 2
    labels.data = painted
    w.finetune_epochs.setValue(2)
    click(qtbot, w, w.finetune_button, "fine-tune")
    assert "slices [2, 5]" in w.model_label.text()
    click(qtbot, w, w.predict_button, "predict")
    # Only the painted slices and the current model: the numpy API, fine-tuning
    # the saved model on those slices, gives the same model.
    ref = infocus.Model.load(before, device="cpu")
    manual = np.where(painted == 1, 255, 0).astype(np.uint8)
    ref.finetune(stack, manual, annotated=[2, 5], epochs=2, patch=TINY_TRAIN["patch"], batch=TINY_TRAIN["batch"])
    _, ref_prob = ref.predict(stack, with_prob=True)
    same(viewer.layers["tiny U-Net probability"].data, ref_prob)
    assert ref_prob.tobytes() != prob.tobytes()

    # Load a model file through the widget.
    with qtbot.waitSignal(w.runner.finished, timeout=TIMEOUT_MS) as blocker:
        w.load_model(str(before))
    assert blocker.args == ["load", "ok"]
    same(w.model.predict(stack), mask)


def test_cancel_stops_the_native_call(make_napari_viewer, qtbot, notes, unet_needed):
    viewer = make_napari_viewer()
    w = open_widget(viewer)
    stack, _ = infocus.synth(8, 64, seed=5)
    viewer.add_image(stack, name="tiny")
    w.image_combo.setCurrentText("tiny")
    w.unet_depth.setValue(TINY_UNET["depth"])
    w.unet_width.setValue(TINY_UNET["base_channels"])
    w.train_epochs.setValue(500)
    w.train_patch.setValue(32)
    with qtbot.waitSignal(w.runner.finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(w.train_button, Qt.LeftButton)
        assert not w.train_button.isEnabled() and w.cancel_button.isEnabled()
        qtbot.waitUntil(lambda: w.runner._report is not None, timeout=TIMEOUT_MS)
        qtbot.mouseClick(w.cancel_button, Qt.LeftButton)
    assert blocker.args == ["train", "cancelled"]
    assert w.runner._report[0] < 500  # stopped long before the last epoch
    assert w.model is None
    assert w.train_button.isEnabled() and not w.cancel_button.isEnabled()
    assert any("cancelled" in m for m, _ in notes), notes

    # A segment cancelled through napari's own progress bar (activity panel).
    big, _ = infocus.synth(40, 256, seed=6)
    viewer.add_image(big, name="big")
    w.image_combo.setCurrentText("big")
    with qtbot.waitSignal(w.runner.finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(w.seg_button, Qt.LeftButton)
        w.runner._pbar.cancel()
    assert blocker.args == ["segment", "cancelled"]
    assert "big mask" not in viewer.layers


def test_errors_are_notifications(make_napari_viewer, qtbot, tmp_path, notes):
    viewer = make_napari_viewer()
    w = open_widget(viewer)
    viewer.add_image(np.zeros((32, 32), np.uint16), name="flat")
    w.image_combo.setCurrentText("flat")
    qtbot.mouseClick(w.seg_button, Qt.LeftButton)
    assert not w.runner.busy
    assert any("Z-stack" in m and "ERROR" in s.upper() for m, s in notes), notes

    stack = np.zeros((4, 32, 32), np.float32)
    stack[1, 2, 3] = np.nan
    viewer.add_image(stack, name="nan")
    w.image_combo.setCurrentText("nan")
    click(qtbot, w, w.seg_button, "segment", outcome="error")
    assert "NaN" in w.runner.last_message or "finite" in w.runner.last_message
    assert "nan mask" not in viewer.layers

    viewer.add_image(np.zeros((4, 32, 32), np.int64), name="int64")
    w.image_combo.setCurrentText("int64")
    click(qtbot, w, w.map_button, "focus map", outcome="error")
    assert "uint8, uint16 or float32" in w.runner.last_message

    w.image_combo.setCurrentText("nan")
    qtbot.mouseClick(w.predict_button, Qt.LeftButton)
    assert "no U-Net yet" in w.runner.last_message
    qtbot.mouseClick(w.view_button, Qt.LeftButton)
    assert "segment (or predict) first" in w.runner.last_message

    if infocus.unet_available():
        bad = tmp_path / "bad.safetensors"
        bad.write_text("not a model")
        with qtbot.waitSignal(w.runner.finished, timeout=TIMEOUT_MS) as blocker:
            w.load_model(str(bad))
        assert blocker.args == ["load", "error"]
        assert "bad.safetensors" in w.runner.last_message
        # Fine-tuning needs painted slices.
        w.model = infocus.Model(**TINY_UNET, device="cpu")
        viewer.add_image(np.ones((4, 32, 32), np.uint8), name="ones")
        w.image_combo.setCurrentText("ones")
        qtbot.mouseClick(w.new_annotation_button, Qt.LeftButton)
        qtbot.mouseClick(w.finetune_button, Qt.LeftButton)
        assert "annotation layer is empty" in w.runner.last_message
    assert all("Traceback" not in m for m, _ in notes)
