"""The "infocus" dock widget: layout and glue only.

Sections: input, focus map, segment (rules), U-Net (train, predict,
fine-tune from painted slices, load/save), 3-D view, and a status line with
Cancel. Every computation is a function of the numpy API run by
:class:`~._runner.Runner` in a thread; results become layers through
:mod:`._layers`.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from napari.layers import Image, Labels
from napari.utils.notifications import show_error
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

import infocus

from .._native import lib as _lib
from ._layers import BACKGROUND_LABEL, annotations, output_name, show, stack_of
from ._runner import Runner


def _spin(lo: int, hi: int, value: int, tip: str = "") -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    return s


def _dspin(lo: float, hi: float, value: float, step: float, decimals: int, tip: str = "") -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    s.setToolTip(tip)
    return s


def _combo(items, tip: str = "") -> QComboBox:
    c = QComboBox()
    c.addItems(list(items))
    c.setToolTip(tip)
    return c


def _button(text: str, slot, tip: str = "") -> QPushButton:
    b = QPushButton(text)
    b.clicked.connect(slot)
    b.setToolTip(tip)
    return b


class InfocusWidget(QWidget):
    """The in-focus pixels of every slice of the chosen Z-stack, as layers."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.model: Optional[infocus.Model] = None
        self.model_info = ""
        self.runner = Runner(self)
        self._job_buttons: list[QPushButton] = []

        layout = QVBoxLayout(self)
        layout.addWidget(self._input_section())
        layout.addWidget(self._map_section())
        layout.addWidget(self._segment_section())
        layout.addWidget(self._unet_section())
        layout.addWidget(self._view_section())
        row = QHBoxLayout()
        self.status = QLabel("ready")
        self.status.setWordWrap(True)
        self.cancel_button = _button("Cancel", self.runner.cancel, "stop the running computation")
        self.cancel_button.setEnabled(False)
        row.addWidget(self.status, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        layout.addStretch(1)

        self.runner.started.connect(lambda _label: self._set_busy(True))
        self.runner.finished.connect(lambda _label, _outcome: self._set_busy(False))
        self.runner.progressed.connect(self.status.setText)
        for event in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed,
                      self.viewer.layers.events.reordered):
            event.connect(self._refresh_layers)
        self._refresh_layers()

    # --- sections --------------------------------------------------------------

    def _input_section(self) -> QGroupBox:
        box = QGroupBox("Input")
        form = QFormLayout(box)
        self.image_combo = QComboBox()
        self.image_combo.setToolTip("the focal stack (an Image layer, Z x H x W)")
        form.addRow("image", self.image_combo)
        return box

    def _map_section(self) -> QGroupBox:
        box = QGroupBox("Focus map")
        form = QFormLayout(box)
        self.map_preset = _combo(["default", "paper"], "default: our sharpness map; paper: the sliding-window map below")
        self.map_measure = _combo(infocus.MEASURES, "the sliding-window focus measure (paper preset)")
        self.map_measure.setCurrentText("std")
        self.map_window = _spin(1, 4096, 128, "window side in pixels")
        self.map_strides = QLineEdit("8,10,12,14,16,18,20,22,24,26,28,30,32,34,36")
        self.map_strides.setToolTip("comma-separated strides; the map is the maximum over them")
        self.map_button = _button("Focus map", self.run_focus_map, "adds '<image> focus map'")
        for label, w in (("preset", self.map_preset), ("measure", self.map_measure),
                         ("window", self.map_window), ("strides", self.map_strides)):
            form.addRow(label, w)
        form.addRow(self.map_button)
        self._job_buttons.append(self.map_button)
        return box

    def _segment_section(self) -> QGroupBox:
        box = QGroupBox("Segment (rules)")
        form = QFormLayout(box)
        self.seg_preset = _combo(["default", "paper"], "default: depth from focus and a depth-of-field band; paper: the published pipeline")
        self.seg_threshold = _combo(["preset", "otsu-stack", "otsu-slice", "fixed"], "the preset's own rule, Otsu, or a fixed level")
        self.seg_value = _dspin(-1e12, 1e12, 0.0, 1.0, 4, "the level of a fixed threshold")
        self.seg_dof = _dspin(0.0, 1000.0, 0.0, 0.5, 2, "default preset: depth of field in slices (0: estimate it)")
        self.seg_button = _button("Segment", self.run_segment,
                                  "adds mask (Labels), in-focus stack, depth map and all-in-focus image")
        for label, w in (("preset", self.seg_preset), ("threshold", self.seg_threshold),
                         ("fixed level", self.seg_value), ("depth of field", self.seg_dof)):
            form.addRow(label, w)
        form.addRow(self.seg_button)
        self._job_buttons.append(self.seg_button)
        return box

    def _unet_section(self) -> QGroupBox:
        box = QGroupBox("U-Net")
        form = QFormLayout(box)
        self.unet_depth = _spin(1, 6, 3, "encoder levels")
        self.unet_width = _spin(1, 256, 8, "channels of the first level")
        self.unet_context = _spin(0, 6, 3, "pairs of neighbouring slices the network sees "
                                  "(Z offsets ±1, ±2, ±4, ...; 0: each slice alone, as the paper)")
        self.unet_profile = QCheckBox("Focus profile")
        self.unet_profile.setChecked(bool(_lib.infocus_unet_config_default().profile))
        self.unet_profile.setToolTip("the network also sees each slice's sharpness relative to the pixel's "
                                     "sharpest slice, and the structure at best focus (off: images only, "
                                     "as the paper)")
        self.unet_guide = QCheckBox("Preset guide")
        self.unet_guide.setChecked(bool(_lib.infocus_unet_config_default().guide))
        self.unet_guide.setToolTip("the network also sees the default preset's answer: for each slice, whether "
                                   "it lies within the preset's depth-of-field band around the pixel's best "
                                   "focus (off: the network works from the images alone, as the paper)")
        self.train_epochs = _spin(1, 10000, 30, "most epochs (early stopping may end sooner)")
        self.train_patch = _spin(8, 4096, 128, "side of the training crops (a multiple of 2^depth)")
        self.train_batch = _spin(1, 256, 8, "crops per step")
        self.finetune_epochs = _spin(1, 10000, 20, "most fine-tuning epochs")
        self.annotation_combo = QComboBox()
        self.annotation_combo.setToolTip(
            f"a Labels layer painted on some slices: label 1 in focus, label {BACKGROUND_LABEL} background"
        )
        self.train_button = _button("Train", self.run_train, "a new U-Net on the rule preset's masks of the image")
        self.predict_button = _button("Predict", self.run_predict, "adds '<image> U-Net mask' and probability")
        self.unet_flips = QCheckBox("Average flips")
        self.unet_flips.setChecked(bool(_lib.infocus_predict_params_default().flips))
        self.unet_flips.setToolTip("predict each tile and its three mirror images and average them (4 passes, "
                                   "more accurate); off: one pass, 4x faster")
        self.finetune_button = _button("Fine-tune", self.run_finetune,
                                       "the current model on the painted slices of the annotation layer")
        self.new_annotation_button = _button("New annotation layer", self.new_annotation_layer,
                                             "an empty Labels layer to paint on")
        self.load_button = _button("Load…", self._load_dialog)
        self.save_button = _button("Save…", self._save_dialog)
        self.model_label = QLabel("no model")
        self.model_label.setWordWrap(True)
        context_row = QHBoxLayout()
        context_row.addWidget(self.unet_context)
        context_row.addWidget(self.unet_profile)
        context_row.addWidget(self.unet_guide)
        for label, w in (("depth", self.unet_depth), ("channels", self.unet_width),
                         ("Z context", context_row),
                         ("epochs", self.train_epochs), ("patch", self.train_patch),
                         ("batch", self.train_batch)):
            form.addRow(label, w)
        row = QHBoxLayout()
        row.addWidget(self.train_button)
        row.addWidget(self.predict_button)
        row.addWidget(self.unet_flips)
        form.addRow(row)
        form.addRow("annotations", self.annotation_combo)
        form.addRow("fine-tune epochs", self.finetune_epochs)
        row = QHBoxLayout()
        row.addWidget(self.new_annotation_button)
        row.addWidget(self.finetune_button)
        form.addRow(row)
        row = QHBoxLayout()
        row.addWidget(self.load_button)
        row.addWidget(self.save_button)
        form.addRow(row)
        form.addRow(self.model_label)
        self._job_buttons += [self.train_button, self.predict_button, self.finetune_button,
                              self.load_button, self.save_button]
        if not infocus.unet_available():
            box.setEnabled(False)
            self.model_label.setText("this build of infocus has no U-Net (cargo feature 'torch')")
        return box

    def _view_section(self) -> QGroupBox:
        box = QGroupBox("3-D view")
        form = QFormLayout(box)
        self.z_spacing = _dspin(0.001, 1e6, 1.0, 0.5, 3, "slice spacing in units of the pixel size")
        self.view_button = _button("3-D view", self.show_3d, "the in-focus stack as a volume")
        form.addRow("z spacing", self.z_spacing)
        form.addRow(self.view_button)
        return box

    # --- state -----------------------------------------------------------------

    def _refresh_layers(self, *_):
        for combo, kind in ((self.image_combo, Image), (self.annotation_combo, Labels)):
            current = combo.currentText()
            names = [layer.name for layer in self.viewer.layers if isinstance(layer, kind)]
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
            combo.blockSignals(False)

    def _set_busy(self, busy: bool) -> None:
        for b in self._job_buttons:
            b.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.status.setText(self.runner.status)

    def image_layer(self) -> Optional[Image]:
        name = self.image_combo.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def _input(self):
        """(name, stack, scale) of the chosen image, or None after a notification."""
        layer = self.image_layer()
        try:
            stack = stack_of(layer)
        except ValueError as e:
            self._error(str(e))
            return None
        return layer.name, stack, tuple(layer.scale)

    def _error(self, message: str) -> None:
        self.runner.last_message = f"infocus: {message}"
        self.status.setText(message)
        show_error(self.runner.last_message)

    # --- actions ---------------------------------------------------------------

    def run_focus_map(self) -> None:
        got = self._input()
        if got is None:
            return
        name, stack, scale = got
        kw = {"preset": self.map_preset.currentText()}
        if kw["preset"] == "paper":
            try:
                strides = [int(s) for s in self.map_strides.text().replace(" ", "").split(",") if s]
            except ValueError:
                self._error(f"strides must be whole numbers separated by commas, not {self.map_strides.text()!r}")
                return
            kw.update(measure=self.map_measure.currentText(), window=self.map_window.value(), strides=strides)

        def work(progress):
            return infocus.focus_map(stack, progress=progress, **kw)

        def done(fmap):
            show(self.viewer, fmap, output_name(name, "focus map"), "image", colormap="magma", scale=scale)

        self.runner.start("focus map", work, done)

    def run_segment(self) -> None:
        got = self._input()
        if got is None:
            return
        name, stack, scale = got
        preset = self.seg_preset.currentText()
        t = self.seg_threshold.currentText()
        threshold = self.seg_value.value() if t == "fixed" else t
        kw = {"dof": self.seg_dof.value()} if preset == "default" else {}

        def work(progress):
            seg = infocus.segment(stack, preset, threshold=threshold, progress=progress, **kw)
            return seg, infocus.in_focus(stack, seg.mask), infocus.all_in_focus(stack, seg.depth)

        def done(result):
            seg, focused, aif = result
            self._show_in_focus(name, stack, seg.mask, focused, scale, "mask")
            show(self.viewer, seg.focus_map, output_name(name, "focus map"), "image",
                 colormap="magma", scale=scale, visible=False)
            show(self.viewer, seg.depth, output_name(name, "depth"), "image",
                 colormap="viridis", scale=scale[-2:], visible=False)
            show(self.viewer, aif, output_name(name, "all in focus"), "image", scale=scale[-2:], visible=False)

        self.runner.start("segment", work, done)

    def _show_in_focus(self, name, stack, mask, focused, scale, mask_output):
        show(self.viewer, focused, output_name(name, "in focus"), "image", scale=scale,
             contrast_limits=_limits(stack))
        show(self.viewer, mask, output_name(name, mask_output), "labels", scale=scale, opacity=0.4)

    def run_train(self) -> None:
        got = self._input()
        if got is None:
            return
        name, stack, _scale = got
        depth, width, context = self.unet_depth.value(), self.unet_width.value(), self.unet_context.value()
        profile, guide = self.unet_profile.isChecked(), self.unet_guide.isChecked()
        preset = self.seg_preset.currentText()
        params = {"epochs": self.train_epochs.value(), "patch": self.train_patch.value(),
                  "batch": self.train_batch.value()}

        def work(progress):
            model = infocus.Model(depth=depth, base_channels=width, context=context, profile=profile,
                                  guide=guide)
            model.train(stack, preset, progress=progress, **params)
            return model

        def done(model):
            self._set_model(model, f"trained on {name!r} ({preset} preset)")

        self.runner.start("train", work, done)

    def run_predict(self) -> None:
        if self._no_model():
            return
        got = self._input()
        if got is None:
            return
        name, stack, scale = got
        model = self.model
        flips = self.unet_flips.isChecked()

        def work(progress):
            mask, prob = model.predict(stack, flips=flips, with_prob=True, progress=progress)
            return mask, prob, infocus.in_focus(stack, mask)

        def done(result):
            mask, prob, focused = result
            self._show_in_focus(name, stack, mask, focused, scale, "U-Net mask")
            show(self.viewer, prob, output_name(name, "U-Net probability"), "image",
                 colormap="inferno", contrast_limits=(0.0, 1.0), scale=scale, visible=False)

        self.runner.start("predict", work, done)

    def new_annotation_layer(self) -> None:
        got = self._input()
        if got is None:
            return
        name, stack, scale = got
        layer = self.viewer.add_labels(np.zeros(stack.shape, np.uint8), name=f"{name} annotations", scale=scale)
        layer.mode = "paint"
        layer.selected_label = 1
        self.annotation_combo.setCurrentText(layer.name)

    def run_finetune(self) -> None:
        if self._no_model():
            return
        got = self._input()
        if got is None:
            return
        name, stack, _scale = got
        labels_name = self.annotation_combo.currentText()
        if labels_name not in self.viewer.layers:
            self._error("choose (or make) a Labels layer with painted slices for fine-tuning")
            return
        try:
            mask, painted = annotations(self.viewer.layers[labels_name].data, stack.shape)
        except ValueError as e:
            self._error(str(e))
            return
        model = self.model
        params = {"epochs": self.finetune_epochs.value(), "patch": self.train_patch.value(),
                  "batch": self.train_batch.value()}
        slices = [int(i) for i in np.flatnonzero(painted)]

        def work(progress):
            model.finetune(stack, mask, annotated=painted, progress=progress, **params)
            return slices

        def done(slices):
            self._set_model(model, f"fine-tuned on slices {slices} of {labels_name!r}")

        self.runner.start("fine-tune", work, done)

    def load_model(self, path: str) -> None:
        """Loads a model file (what Load… does after its dialog)."""
        def work(_progress):
            return infocus.Model.load(path)

        self.runner.start("load", work, lambda m: self._set_model(m, f"loaded from {path}"))

    def save_model(self, path: str) -> None:
        """Saves the current model (what Save… does after its dialog)."""
        if self._no_model():
            return
        model = self.model

        def work(_progress):
            model.save(path)
            return path

        self.runner.start("save", work, lambda p: self.model_label.setText(f"{self.model_info}; saved to {p}"))

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load an infocus model", "", "infocus model (*.safetensors *.infocus);;all files (*)")
        if path:
            self.load_model(path)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the infocus model", "model.safetensors")
        if path:
            self.save_model(path)

    def _no_model(self) -> bool:
        if self.model is None:
            self._error("no U-Net yet: train one or load a model file first")
            return True
        return False

    def _set_model(self, model: infocus.Model, how: str) -> None:
        if self.model is not None and self.model is not model:
            self.model.close()
        self.model = model
        c = model.config
        self.model_info = (f"U-Net depth {c['depth']}, {c['base_channels']} channels, "
                           f"{c['norm']} norm, Z context {c['context']}"
                           f"{', focus profile' if c['profile'] else ''}"
                           f"{', preset guide' if c['guide'] else ''}, on {model.device}: {how}")
        self.model_label.setText(self.model_info)

    def show_3d(self) -> None:
        """Shows '<image> in focus' as a volume, z scaled by the slice spacing."""
        layer = self.image_layer()
        name = layer.name if layer is not None else ""
        focused = output_name(name, "in focus")
        if focused not in self.viewer.layers:
            self._error("segment (or predict) first: there is no in-focus stack to show in 3-D")
            return
        z = self.z_spacing.value()
        shape = np.shape(self.viewer.layers[focused].data)
        for out in self.viewer.layers:  # the stack and every layer made from it
            if isinstance(out, (Image, Labels)) and np.shape(out.data) == shape:
                out.scale = (z, *tuple(out.scale)[-2:])
                out.visible = False  # only the in-focus volume; any can be shown again
        vol = self.viewer.layers[focused]
        vol.visible = True
        vol.rendering = "mip"
        self.viewer.layers.selection.active = vol
        self.viewer.dims.ndisplay = 3
        self.viewer.reset_view()
        scene = getattr(self.viewer, "scene", None)  # napari >= 0.9
        camera = scene.camera if scene is not None else self.viewer.camera
        camera.angles = (0.0, -35.0, 60.0)


def _limits(stack: np.ndarray) -> tuple:
    lo, hi = float(stack.min()), float(stack.max())
    return (lo, hi if hi > lo else lo + 1.0)
