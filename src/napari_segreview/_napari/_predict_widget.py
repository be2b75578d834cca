"""Dock widget: run a PyTorch segmentation model on an image layer, show what it decided.

The widget is thin: it reads its fields, calls :func:`run_model` (the same
``load_model`` and ``predict`` the ``segreview predict`` command calls) in a
napari ``thread_worker``, and adds the layers :mod:`._predict_layers` makes.
torch is imported only inside the worker (and when devices are listed, the
first time the widget is shown), never when napari starts or the plugin loads.

Driving it from a script (the fields are public attributes)::

    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Predict")
    w.image.setCurrentText("CT phantom")
    w.model_path.setText("bone.pt")          # the card is found beside it
    w.set_device("cpu"); w.batch_size.setValue(4); w.set_probabilities("uint8")
    w.run_finished.connect(print)            # "done", "cancelled" or "error"
    w.run()                                  # returns at once; w.cancel() stops it
"""

from __future__ import annotations

import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.layers import Image
from napari.qt.threading import WorkerBase, create_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import (
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_segreview._napari._meta import KEY, meta
from napari_segreview._napari._predict_layers import (
    model_input,
    plan_rerun,
    prediction_layers,
    run_id,
    unique_name,
)
from napari_segreview._napari._predict_run import (
    DEVICES,
    card_summary,
    check_paths,
    error_message,
    find_devices,
    run_model,
)
from napari_segreview.card.spec import find_card, load_card
from napari_segreview.card.windows import PRESETS, limits_to_window, window_to_limits
from napari_segreview.errors import FormatError

if TYPE_CHECKING:
    import napari

PROBABILITIES = {
    "float16 (0..1)": "float16",
    "uint8 (0..255, half the memory)": "uint8",
    "none (labels only)": None,
}
KEEP, CUSTOM = "keep current contrast", "custom"
WINDOW_TIP = (
    "Display only: sets the image layer's contrast limits (a CT window in HU). The model "
    "does not see this: it sees the image normalised as its card's input.normalize says."
)


class _Relay(QObject):
    """Carries predict's progress callback from the worker thread to the GUI thread."""

    progressed = Signal(int, int)


class PredictWidget(QWidget):
    """Run a model on an image layer; results become probability and Labels layers."""

    #: Emitted when a run ends: ``"done"``, ``"cancelled"`` or ``"error"``.
    run_finished = Signal(str)
    #: Emitted once devices were listed (after :meth:`detect_devices`).
    devices_found = Signal(dict)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.setObjectName("segreview_predict")
        self.viewer = napari_viewer
        self.worker = None
        self.card = None
        self._card_auto = True
        self._cancel = threading.Event()
        self._job: dict[str, Any] = {}
        self._pbar = None
        self._relay = _Relay()
        self._relay.progressed.connect(self._on_progress)
        self._devices_asked = False
        self.devices: dict | None = None
        self._outcome = "error"
        self._steps: list = []
        self._build()
        for event in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed,
                      self.viewer.layers.events.moved):
            event.connect(self._refresh_images)
        self._refresh_images()
        from napari_segreview.data import demo_model_path

        try:
            self.model_path.setText(str(demo_model_path()))
        except FileNotFoundError as exc:
            self.status.setText(str(exc))

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.image = QComboBox()
        self.image.setToolTip("The image layer the model runs on (grey CT stack or RGB image).")
        self.model_path = QLineEdit()
        self.model_path.setToolTip("TorchScript (.pt), torch.export (.pt2), or weights + factory")
        self.model_browse = QPushButton("Browse...")
        self.factory = QLineEdit()
        self.factory.setPlaceholderText("only for a weights checkpoint: package.module:function")
        self.card_path = QLineEdit()
        self.card_path.setPlaceholderText("found beside the model")
        self.card_path.setToolTip("The model card (YAML). Found beside the model "
                                  "(<model>.card.yaml, <model>.yaml, card.yaml) unless you pick "
                                  "one; clear the field to look beside the model again.")
        self.card_browse = QPushButton("Browse...")
        self.card_info = QLabel("")
        self.card_info.setWordWrap(True)
        self.device = QComboBox()
        for name in DEVICES:
            self.device.addItem(name, name)
        self.device.setToolTip("Where the model runs; auto picks a CUDA GPU, then Apple MPS, "
                               "then the CPU.")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 1024)
        self.batch_size.setValue(8)
        self.batch_size.setToolTip("Slices (2-D cards) or tiles (3-D cards) per forward pass.")
        self.window = QComboBox()
        self.window.addItem(KEEP, None)
        for name, (c, w) in PRESETS.items():
            self.window.addItem(f"{name} ({c:g} / {w:g})", name)
        self.window.addItem(CUSTOM, CUSTOM)
        self.window.setToolTip(WINDOW_TIP)
        self.center = QDoubleSpinBox()
        self.center.setRange(-5000, 5000)
        self.center.setValue(40)
        self.width_hu = QDoubleSpinBox()
        self.width_hu.setRange(1, 10000)
        self.width_hu.setValue(400)
        for box, what in ((self.center, "centre"), (self.width_hu, "width")):
            box.setSuffix(" HU")
            box.setDecimals(0)
            box.setToolTip(f"Window {what} for the custom preset. {WINDOW_TIP}")
        self.probabilities = QComboBox()
        for label, dtype in PROBABILITIES.items():
            self.probabilities.addItem(label, dtype)
        self.probabilities.setToolTip("Keep per-channel probabilities as image layers "
                                      "(float16 holds 0..1; uint8 holds round(p * 255)).")
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        for name in ("image", "model_path", "factory", "card_path", "device", "batch_size",
                     "window", "center", "width_hu", "probabilities", "run_button",
                     "cancel_button", "progress", "status"):
            getattr(self, name).setObjectName(f"segreview_predict_{name}")

        def row(*widgets):
            box = QHBoxLayout()
            for widget in widgets:
                box.addWidget(widget)
            return box

        form = QFormLayout()
        form.addRow("Image layer", self.image)
        form.addRow("Model file", row(self.model_path, self.model_browse))
        form.addRow("Factory", self.factory)
        form.addRow("Model card", row(self.card_path, self.card_browse))
        form.addRow("", self.card_info)
        form.addRow("Device", self.device)
        form.addRow("Batch size", self.batch_size)
        form.addRow("CT window", self.window)
        form.addRow("Centre / width", row(self.center, self.width_hu))
        form.addRow("Probabilities", self.probabilities)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row(self.run_button, self.cancel_button))
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch()

        self.model_path.textChanged.connect(self._on_model_changed)
        self.card_path.textEdited.connect(self._on_card_edited)
        self.card_path.textChanged.connect(self._load_card)
        self.model_browse.clicked.connect(self._browse_model)
        self.card_browse.clicked.connect(self._browse_card)
        self.window.currentIndexChanged.connect(self._on_window)
        self.center.valueChanged.connect(self._on_custom_window)
        self.width_hu.valueChanged.connect(self._on_custom_window)
        self.image.currentIndexChanged.connect(self._on_image_changed)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self._on_window()

    # -- fields ---------------------------------------------------------------------------
    def _image_layers(self) -> list[Image]:
        return [layer for layer in self.viewer.layers
                if isinstance(layer, Image) and meta(layer).get("kind") != "probability"]

    def _refresh_images(self, *_args: Any) -> None:
        current = self.image.currentText()
        layers = self._image_layers()
        for layer in layers:  # follow renames too (connecting twice is a no-op)
            layer.events.name.connect(self._refresh_images)
        names = [layer.name for layer in layers]
        self.image.blockSignals(True)
        self.image.clear()
        self.image.addItems(names)
        if current in names:
            self.image.setCurrentText(current)
        self.image.blockSignals(False)
        if current not in names:
            self._on_image_changed()

    def image_layer(self) -> Image:
        """The chosen image layer (FormatError with a sentence when there is none)."""
        name = self.image.currentText()
        for layer in self._image_layers():
            if layer.name == name:
                return layer
        raise FormatError("there is no image layer to run on: open an image or a CT stack "
                          "first (File > Open, or File > Open Sample > SegReview).")

    def _on_model_changed(self, *_args: Any) -> None:
        if self._card_auto:
            text = self.model_path.text().strip()
            found = find_card(Path(text).expanduser()) if text else None
            self.card_path.setText("" if found is None else str(found))
        self._load_card()

    def _on_card_edited(self, text: str) -> None:
        self._card_auto = not text.strip()
        if self._card_auto:
            self._on_model_changed()

    def _load_card(self, *_args: Any) -> None:
        self.card = None
        text = self.card_path.text().strip()
        if not text:
            model = self.model_path.text().strip()
            self.card_info.setText(
                f"No model card beside {Path(model).name}: pick one." if model else ""
            )
            return
        try:
            card = load_card(text)
        except FormatError as exc:
            self.card_info.setText(str(exc))
            return
        self.card = card
        self.card_info.setText(card_summary(card, text, self._card_auto))

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Model file", self.model_path.text(),
            "PyTorch models (*.pt *.pth *.pt2 *.ts *.ckpt);;All files (*)")
        if path:
            self.model_path.setText(path)

    def _browse_card(self) -> None:
        start = self.card_path.text() or str(Path(self.model_path.text()).parent)
        path, _ = QFileDialog.getOpenFileName(self, "Model card", start,
                                              "Model cards (*.yaml *.yml);;All files (*)")
        if path:
            self._card_auto = False
            self.card_path.setText(path)

    def set_device(self, name: str) -> None:
        """Choose the device by name: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``."""
        self.device.setCurrentIndex(self.device.findData(name))

    def set_probabilities(self, dtype: str | None) -> None:
        """Keep probabilities as ``"float16"``, ``"uint8"`` or not at all (``None``)."""
        self.probabilities.setCurrentIndex(self.probabilities.findData(dtype))

    def set_window(self, name: str | None, center: float | None = None,
                   width: float | None = None) -> None:
        """Choose a CT window preset (``None`` keeps the contrast; ``"custom"`` with values)."""
        if name == CUSTOM and center is not None and width is not None:
            self._set_boxes(center, width)
        self.window.setCurrentIndex(self.window.findData(name))
        self._on_window()

    # -- devices --------------------------------------------------------------------------
    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._devices_asked:
            self.detect_devices()

    def detect_devices(self) -> None:
        """List the devices in a worker (imports torch) and label the device choices."""
        self._devices_asked = True
        worker = create_worker(find_devices, _start_thread=False,
                               _connect={"returned": self._on_devices,
                                         "errored": self._on_devices_error})
        app = QApplication.instance()
        if app is not None:
            # A worker thread still running when Python exits aborts the process:
            # when napari quits, stop the run and wait for both workers first.
            app.aboutToQuit.connect(self.shutdown)
        worker.start()

    def shutdown(self, msecs: int = 10_000) -> None:
        """Cancel a running prediction and wait (at most ``msecs``) for this widget's workers."""
        self._cancel.set()
        WorkerBase.await_workers(msecs)

    def _on_devices(self, found: dict) -> None:
        for i in range(self.device.count()):
            ok, label = found[self.device.itemData(i)]
            self.device.setItemText(i, label)
            item = self.device.model().item(i)
            if item is not None:
                item.setEnabled(ok)
        if not found[self.device.currentData()][0]:
            self.set_device("auto")
        self.devices = found
        self.devices_found.emit(found)

    def _on_devices_error(self, exc: BaseException) -> None:
        self.status.setText(error_message(exc, "", ""))

    # -- CT window ------------------------------------------------------------------------
    def _on_window(self, *_args: Any) -> None:
        choice = self.window.currentData()
        custom = choice == CUSTOM
        self.center.setEnabled(custom)
        self.width_hu.setEnabled(custom)
        if choice is None:
            return
        if not custom:
            self._set_boxes(*PRESETS[choice])
        self.apply_window()

    def _set_boxes(self, center: float, width: float) -> None:
        for box, value in ((self.center, center), (self.width_hu, max(width, 1))):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)

    def _on_custom_window(self, *_args: Any) -> None:
        if self.window.currentData() == CUSTOM:
            self.apply_window()

    def _on_image_changed(self, *_args: Any) -> None:
        if self.window.currentData() is not None:
            self.apply_window()
        elif self.image.currentText():
            try:
                lo, hi = self.image_layer().contrast_limits
            except (FormatError, TypeError, ValueError):
                return
            self._set_boxes(*limits_to_window(lo, hi))

    def apply_window(self) -> None:
        """Set the chosen image layer's contrast limits to the window (display only)."""
        try:
            layer = self.image_layer()
        except FormatError:
            return
        if layer.rgb:
            self.status.setText(f"CT windows apply to grey images; {layer.name!r} is RGB, so "
                                "its contrast is left as it is.")
            return
        try:
            layer.contrast_limits = window_to_limits(self.center.value(), self.width_hu.value())
        except FormatError as exc:
            self._fail(str(exc))

    # -- running --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether a prediction is running now."""
        return self.worker is not None or bool(self._steps)

    def _fail(self, message: str) -> None:
        self.status.setText(message)
        show_error(message)

    def run(self) -> None:
        """Start a prediction in a worker thread; returns at once (see :attr:`run_finished`)."""
        if self.running:
            show_info("A prediction is already running: wait for it or press Cancel.")
            return
        try:
            layer = self.image_layer()
            model, card_text = self.model_path.text().strip(), self.card_path.text().strip()
            model = check_paths(model, card_text)  # absolute: one run id however it is typed
            card = load_card(card_text)
            data = layer.data[0] if layer.multiscale else layer.data
            image = model_input(data, layer.rgb, card, layer.name)
        except FormatError as exc:
            self._fail(str(exc))
            self.run_finished.emit("error")
            return
        self._cancel = threading.Event()
        self._job = {"image_name": layer.name, "model_path": model, "scale": layer.scale,
                     "translate": layer.translate, "card_name": Path(card_text).name,
                     "start": time.perf_counter(), "done": 0, "total": 0}
        self._pbar = progress(total=0, desc=f"Predicting {layer.name}")
        self.progress.setRange(0, 0)
        self.status.setText(f"Loading {Path(model).name} and predicting {layer.name!r}...")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.worker = create_worker(
            run_model, image, model, card, factory=self.factory.text().strip() or None,
            device=self.device.currentData(), batch_size=self.batch_size.value(),
            probabilities=self.probabilities.currentData(),
            progress=self._relay.progressed.emit, cancel=self._cancel, _start_thread=False,
            _connect={"returned": self._on_returned, "errored": self._on_errored,
                      "finished": self._on_finished})
        self._outcome = "error"
        self.worker.start()

    def cancel(self) -> None:
        """Stop the running prediction before its next batch; no layers are added."""
        if self.running:
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling after the current batch...")

    def _on_progress(self, done: int, total: int) -> None:
        self._job.update(done=done, total=total)
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        if self._pbar is not None:
            if self._pbar.total != total:
                self._pbar.total = total
            self._pbar.update(done - self._pbar.n)

    def _on_returned(self, prediction: Any) -> None:
        """Queue the layer changes; they run one per event-loop turn so napari can redraw."""
        job = self._job
        try:
            for warning in prediction.warnings:
                show_warning(warning)
            tuples = prediction_layers(prediction, image_name=job["image_name"],
                                       model_path=job["model_path"], scale=job["scale"],
                                       translate=job["translate"])
        except Exception as exc:  # never crash napari: one sentence, viewer as it was
            self._fail(error_message(exc, job["image_name"], job["card_name"]))
            return
        plan = plan_rerun(self.viewer.layers, run_id(job["image_name"], job["model_path"]))
        self._steps = [partial(self._replace, plan)]  # one step: no edit slips in between
        self._steps += [partial(self._add_layer, *t) for t in tuples]
        seconds = time.perf_counter() - job["start"]
        msg = (f"Added {len(tuples)} layers for {job['image_name']!r} "
               f"({prediction.device}, {seconds:.1f} s). {plan.message}").strip()
        self._steps.append(partial(self._report, msg, plan.message))

    def _replace(self, plan: Any) -> None:
        for layer, new_name in plan.keep:
            layer.name = new_name
            layer.metadata = {**layer.metadata, KEY: {**meta(layer), "superseded": True}}
        for layer in plan.remove:
            self.viewer.layers.remove(layer)

    def _add_layer(self, data: Any, kwargs: dict, kind: str) -> None:
        taken = {layer.name for layer in self.viewer.layers}
        if kwargs["name"] in taken:  # another image's or model's layer has this name
            name = unique_name(f"{kwargs['name']} [{self._job['image_name']}]", taken)
            kwargs = {**kwargs, "name": name}
        getattr(self.viewer, f"add_{kind}")(data, **kwargs)

    def _report(self, message: str, kept: str) -> None:
        self.status.setText(message)
        if kept:
            show_info(kept)
        self._outcome = "done"

    def _next_step(self) -> None:
        if self._steps:
            step = self._steps.pop(0)
            try:
                step()
            except Exception as exc:  # napari refused a layer: say so, stop, keep napari up
                self._steps = []
                self._fail(error_message(exc, self._job["image_name"], self._job["card_name"]))
        if self._steps:
            QTimer.singleShot(0, self._next_step)
        else:
            self._end()

    def _on_errored(self, exc: BaseException) -> None:
        predict_mod = sys.modules.get("napari_segreview.inference.predict")
        cancelled = getattr(predict_mod, "Cancelled", None)
        if cancelled is not None and isinstance(exc, cancelled):
            done, total = self._job.get("done", 0), self._job.get("total", 0)
            where = f" after {done} of {total} tiles" if total else ""
            msg = f"Prediction cancelled{where}: no layers were added."
            self.status.setText(msg)
            show_info(msg)
            self._outcome = "cancelled"
            return
        self._fail(error_message(exc, self._job.get("image_name", ""),
                                 self._job.get("card_name", "")))

    def _on_finished(self) -> None:
        self.worker = None
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        self.cancel_button.setEnabled(False)  # the model is done; only layers are added now
        if self._steps:
            self.status.setText("Adding the layers...")
            QTimer.singleShot(0, self._next_step)
        else:
            self._end()

    def _end(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self._outcome == "done" else 0)
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.run_finished.emit(self._outcome)
