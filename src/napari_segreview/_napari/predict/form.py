"""The Predict panel's form: image layer, model file, model card, device, CT window, output.

:class:`PredictForm` holds the fields (public attributes, for scripts) and
what they do on their own: the image picker follows the layer list, the card
is looked up beside the model (:func:`~napari_segreview.card.spec.find_card`)
and summarised, devices are listed in a worker the first time the panel is
shown (that imports torch), and the CT window (:mod:`.window`) sets the image's
contrast. Running a model is :class:`~.widget.PredictWidget`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.layers import Image
from napari.qt.threading import WorkerBase, create_worker
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from napari_segreview._napari._panel import show_failure
from napari_segreview._napari._pickers import LayerSync, layer_picker
from napari_segreview._napari.predict.run import DEVICES, card_summary, error_message, find_devices
from napari_segreview._napari.predict.window import WindowControl
from napari_segreview.card.spec import find_card, load_card
from napari_segreview.errors import FormatError

if TYPE_CHECKING:
    import napari

__all__ = ["PROBABILITIES", "PredictForm", "row"]

PROBABILITIES = {
    "float16 (0..1)": "float16",
    "uint8 (0..255, half the memory)": "uint8",
    "none (labels only)": None,
}
NO_IMAGE = ("there is no image layer to run on: open an image or a CT stack first (File > "
            "Open, or File > Open Sample > SegReview).")


def row(*widgets: QWidget) -> QHBoxLayout:
    """The widgets side by side, for one row of a form."""
    box = QHBoxLayout()
    for widget in widgets:
        box.addWidget(widget)
    return box


class PredictForm(QWidget):
    """The fields of the Predict panel and their behaviour (see the module docstring)."""

    #: Emitted once devices were listed (after :meth:`detect_devices`).
    devices_found = Signal(dict)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.card = None
        self._card_auto = True
        self._devices_asked = False
        self.devices: dict | None = None
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.image_picker = layer_picker(
            napari_viewer, Image, exclude=("probability",),
            tooltip="The image layer the model runs on (grey CT stack or RGB image).")
        self.image = self.image_picker.native
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
        self.ct_window = WindowControl(self.image_layer, self.status.setText, self._fail)
        self.window, self.center, self.width_hu = (self.ct_window.combo, self.ct_window.center,
                                                   self.ct_window.width)
        self.probabilities = QComboBox()
        for label, dtype in PROBABILITIES.items():
            self.probabilities.addItem(label, dtype)
        self.probabilities.setToolTip("Keep per-channel probabilities as image layers "
                                      "(float16 holds 0..1; uint8 holds round(p * 255)).")
        self.form = QFormLayout()
        self.form.addRow("Image layer", self.image)
        self.form.addRow("Model file", row(self.model_path, self.model_browse))
        self.form.addRow("Factory", self.factory)
        self.form.addRow("Model card", row(self.card_path, self.card_browse))
        self.form.addRow("", self.card_info)
        self.form.addRow("Device", self.device)
        self.form.addRow("Batch size", self.batch_size)
        self.form.addRow("CT window", self.window)
        self.form.addRow("Centre / width", row(self.center, self.width_hu))
        self.form.addRow("Probabilities", self.probabilities)
        self.model_path.textChanged.connect(self._on_model_changed)
        self.card_path.textEdited.connect(self._on_card_edited)
        self.card_path.textChanged.connect(self._load_card)
        self.model_browse.clicked.connect(self._browse_model)
        self.card_browse.clicked.connect(self._browse_card)
        self.image_picker.changed.connect(self.ct_window.image_changed)
        self._layers = LayerSync(napari_viewer, [self.image_picker])
        self.ct_window.image_changed()        # the boxes start from the image's contrast

    def _fail(self, message: str) -> None:
        show_failure(self.status, message)

    # -- image ----------------------------------------------------------------------------
    def image_layer(self) -> Image:
        """The chosen image layer (FormatError with a sentence when there is none)."""
        layer = self.image_picker.value
        if layer is None:
            raise FormatError(NO_IMAGE)
        return layer

    def set_window(self, name: str | None, center: float | None = None,
                   width: float | None = None) -> None:
        """Choose a CT window preset (``None`` keeps the contrast; ``"custom"`` with values)."""
        self.ct_window.set(name, center, width)

    def apply_window(self) -> None:
        """Set the chosen image layer's contrast limits to the window (display only)."""
        self.ct_window.apply()

    # -- model and card -------------------------------------------------------------------
    def set_model(self, model: str, card: str | None = None, factory: str | None = None) -> None:
        """Use ``model`` (and ``card``, else the card found beside it; ``factory`` if given)."""
        self._card_auto = not card
        self.model_path.setText(str(model))
        if card:
            self.card_path.setText(str(card))
        if factory is not None:
            self.factory.setText(factory)

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

    # -- device and output ----------------------------------------------------------------
    def set_device(self, name: str) -> None:
        """Choose the device by name: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``."""
        self.device.setCurrentIndex(self.device.findData(name))

    def set_probabilities(self, dtype: str | None) -> None:
        """Keep probabilities as ``"float16"``, ``"uint8"`` or not at all (``None``)."""
        self.probabilities.setCurrentIndex(self.probabilities.findData(dtype))

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
        """Wait (at most ``msecs``) for this panel's workers."""
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
