"""Dock widget: export corrected Labels layers as training targets (tif, npz or nnU-Net).

Two ways to say what the targets are:

* **card layers**: decision layers made by Predict carry the model card in
  their metadata; the selected layers are grouped by head (softmax: the label
  map layer; sigmoid: one layer per channel);
* **by hand** (masks with no card, e.g. ground truth): the layers selected
  under *Sigmoid* form one multi-hot target, the layers under *Softmax* one
  label map (one label-map layer, or binary masks painted with the overlap
  rule).

The case is built in :mod:`.case` (no Qt); the reader and writers of exports
are :mod:`.io`. The statistics are computed in a worker and shown before
anything is written; the export runs in a worker too. Errors are napari
notifications with the core's sentence. The layer lists follow the viewer's
(:mod:`.._pickers`). Scripts drive it through ``folder``, ``format``,
``image_layer``, ``sigmoid_list``/``softmax_list`` (``select(list, names)``),
``rule``, ``ignore_layer``, ``ignore_outside``, ``image_mode``, ``weights``,
``case_name``, ``overwrite``, then ``preview()`` or ``export()``; both return
the worker, and ``done`` (a Qt signal) carries ``"preview"``, ``"export"`` or
``"error"`` when it ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.layers import Image, Labels
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_info
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from napari_segreview._napari._meta import meta
from napari_segreview._napari._panel import RULES, fit_rows, scroll_panel, show_failure
from napari_segreview._napari._pickers import LayerSync, layer_picker, layers_in_order
from napari_segreview._napari.export.case import build_case
from napari_segreview._napari.export.io import layer_record
from napari_segreview.errors import FormatError, OverlapError
from napari_segreview.targets.build import ExportCase, overlap_sentence
from napari_segreview.targets.classstats import WEIGHT_METHODS, summary_lines
from napari_segreview.targets.dicomseg import (
    SEG_FORMAT,
    corrected_channels,
    export_seg_case,
    segment_origins,
)
from napari_segreview.targets.export import EXPORT_FORMATS, export_case, preview_statistics

if TYPE_CHECKING:
    import napari

__all__ = ["NO_LAYER", "OVERLAP_REMEDY", "RULES", "ExportWidget", "select"]

NO_LAYER = "(none)"
#: Views of masks (Review's overlap view), never exported.
VIEWS = ("overlap",)
#: What an overlap error tells the widget's user to do (the core's sentence names API
#: arguments).
OVERLAP_REMEDY = ("under 'Overlaps (softmax)' choose 'Later layers win' or 'Mark overlaps as "
                  "ignore (255)', or select the masks under Sigmoid (a multi-hot target, "
                  "BCEWithLogitsLoss).")


def select(widget: QListWidget, names: list[str]) -> None:
    """Select exactly the items called ``names`` in a list widget (for scripts and tests)."""
    for i in range(widget.count()):
        widget.item(i).setSelected(widget.item(i).text() in names)


class ExportWidget(QWidget):
    """Export training targets from Labels layers; errors become napari notifications."""

    done = Signal(str)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.worker: Any = None
        self.last_stats: dict | None = None
        self.last_result: Any = None
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("export folder (new, empty or an export to add to)")
        self.format = QComboBox()
        self.format.addItems([*EXPORT_FORMATS, SEG_FORMAT])
        self.image_picker = layer_picker(napari_viewer, Image, exclude=("probability",))
        self.sigmoid_picker = layer_picker(napari_viewer, Labels, exclude=VIEWS, multiple=True)
        self.softmax_picker = layer_picker(napari_viewer, Labels, exclude=VIEWS, multiple=True)
        self.ignore_picker = layer_picker(napari_viewer, Labels, exclude=VIEWS, none=NO_LAYER)
        self.image_layer, self.ignore_layer = self.image_picker.native, self.ignore_picker.native
        self.sigmoid_list, self.softmax_list = (self.sigmoid_picker.native,
                                                self.softmax_picker.native)
        self.rule = QComboBox()
        self.rule.addItems(list(RULES))
        self.ignore_outside = QCheckBox("Ignore (255) outside the parent ('within')")
        self.image_mode = QComboBox()
        self.image_mode.addItems(["raw", "normalized"])
        self.weights = QComboBox()
        self.weights.addItems(list(WEIGHT_METHODS))
        self.case_name = QLineEdit()
        self.case_name.setPlaceholderText("case name (default: the image layer's name)")
        self.overwrite = QCheckBox("Replace a case of the same name")
        self.preview_button = QPushButton("Preview statistics")
        self.export_button = QPushButton("Export")
        self.stats_view = QPlainTextEdit()
        self.stats_view.setReadOnly(True)
        self.stats_view.setObjectName("export_statistics")
        self.stats_view.setMinimumHeight(6 * self.stats_view.fontMetrics().lineSpacing())
        for view in (self.sigmoid_list, self.softmax_list):
            fit_rows(view)  # every preselected head shows, not a fixed four-row box
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Folder", self.folder)
        form.addRow("Format", self.format)
        form.addRow("Image", self.image_layer)
        form.addRow("Image stored", self.image_mode)
        form.addRow("Case name", self.case_name)
        form.addRow("Overlaps (softmax)", self.rule)
        form.addRow("Ignore mask", self.ignore_layer)
        form.addRow("Class weights", self.weights)
        layout = scroll_panel(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Sigmoid target (multi-hot, BCEWithLogitsLoss):"))
        layout.addWidget(self.sigmoid_list)
        layout.addWidget(QLabel("Softmax target (label map, CrossEntropyLoss):"))
        layout.addWidget(self.softmax_list)
        layout.addWidget(self.ignore_outside)
        layout.addWidget(self.overwrite)
        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.export_button)
        layout.addLayout(buttons)
        layout.addWidget(self.stats_view)
        layout.addWidget(self.status)
        self.preview_button.clicked.connect(self.preview)
        self.export_button.clicked.connect(self.export)
        # The Review panel's overlap view and Predict's probabilities are views, not data.
        self._layers = LayerSync(napari_viewer, [self.image_picker, self.ignore_picker,
                                                 self.sigmoid_picker, self.softmax_picker],
                                 then=self._preselect)
        self._preselect()

    # ------------------------------------------------------------------ layer lists

    def _refresh(self, *_args: Any) -> None:
        """Follow the layer list now (it does on its own as layers come and go)."""
        self._layers.refresh()

    def _preselect(self, _event: Any = None) -> None:
        """Where nothing is selected, select the decision layers of the matching head kind."""
        for picker, kind in ((self.sigmoid_picker, "sigmoid"), (self.softmax_picker, "softmax")):
            if not picker.value:
                picker.value = [ly for ly in picker.choices
                                if meta(ly).get("kind") == "decision"
                                and meta(ly).get("head_kind") == kind
                                and not meta(ly).get("superseded")]

    # ------------------------------------------------------------------ building the case

    def choices(self) -> dict[str, Any]:
        """The widget's state and the chosen layers' data (main thread; no computing)."""
        image_layer = self.image_picker.value
        if image_layer is None:
            raise FormatError("add or choose the image layer the masks belong to.")
        sig = [ly for ly in layers_in_order(self.viewer, self.sigmoid_picker.value)
               if isinstance(ly, Labels)]
        soft = [ly for ly in layers_in_order(self.viewer, self.softmax_picker.value)
                if isinstance(ly, Labels)]
        if not sig and not soft:
            raise FormatError("select the Labels layers to export under Sigmoid or Softmax.")
        if self.ignore_outside.isChecked() and self.format.currentText() == "nnunet":
            raise FormatError("ignoring voxels outside the parent does not apply to nnU-Net "
                              "datasets (their regions keep parts inside the parent); untick it.")
        ignore = None if self.ignore_picker.value is None else self.ignore_picker.value.data
        return {
            "image": image_layer.data, "image_name": image_layer.name,
            "scale": tuple(float(x) for x in image_layer.scale),
            "source": str(meta(image_layer).get("source") or image_layer.name),
            "sigmoid": [(ly.data, ly.name, dict(meta(ly))) for ly in sig],
            "softmax": [(ly.data, ly.name, dict(meta(ly))) for ly in soft],
            "rule": RULES[self.rule.currentText()], "ignore": ignore,
            "ignore_outside": self.ignore_outside.isChecked(),
            "image_mode": self.image_mode.currentText(),
            "case": self.case_name.text().strip() or image_layer.name,
            "records": {ly.name: layer_record(ly) for ly in [image_layer, *sig, *soft]},
            "dicom": meta(image_layer).get("dicom"),
        }

    def collect(self) -> ExportCase:
        """Build the :class:`ExportCase` from the widget's choices (raises FormatError)."""
        return build_case(self.choices())

    # ------------------------------------------------------------------ actions

    def _start(self, work: Any, what: str) -> Any:
        try:
            choices = self.choices()
        except (FormatError, ValueError) as exc:
            return self._fail(exc)
        folder = Path(self.folder.text().strip()) if self.folder.text().strip() else None
        if what == "export" and folder is None:
            return self._fail(FormatError("choose the export folder first."))
        opts = {"fmt": self.format.currentText(), "method": self.weights.currentText(),
                "overwrite": self.overwrite.isChecked()}
        worker = thread_worker(work, ignore_errors=True)(folder, choices, opts)
        if hasattr(worker, "yielded"):   # export: the statistics come first, then the write
            worker.yielded.connect(self._show_stats)
        worker.returned.connect(lambda res: self._finished(res, what))
        worker.errored.connect(self._fail)
        self.worker = worker
        self.status.setText("Computing statistics ..." if what == "preview" else "Exporting ...")
        self.export_button.setEnabled(False)
        self.preview_button.setEnabled(False)
        worker.start()
        return worker

    def preview(self) -> Any:
        """Compute the statistics the export will have, in a worker; write nothing."""
        return self._start(_preview_work, "preview")

    def export(self) -> Any:
        """Show the statistics, then write the case, in a worker."""
        return self._start(_export_work, "export")

    def _show_stats(self, stats: dict) -> None:
        self.last_stats = stats
        self.stats_view.setPlainText("\n".join(summary_lines(stats)))
        self.status.setText(f"Statistics over {stats['cases']} case(s); writing ...")

    def _finished(self, res: tuple, what: str) -> None:
        stats, result = res
        self.last_result = result
        self._show_stats(stats)
        msg = result.summary() if result is not None else (
            f"Statistics over {stats['cases']} case(s); nothing written yet.")
        self.status.setText(msg)
        self._enable()
        if result is not None:
            show_info(msg)
        self.done.emit(what)

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, OverlapError):      # the core names API arguments; say our choices
            text = overlap_sentence(exc, OVERLAP_REMEDY)
        else:
            text = str(exc) or type(exc).__name__
        self._enable()
        show_failure(self.status, text)
        self.done.emit("error")
        return None

    def _enable(self) -> None:
        self.export_button.setEnabled(True)
        self.preview_button.setEnabled(True)


def _preview_work(folder: Path | None, choices: dict, opts: dict) -> tuple:
    case = build_case(choices)
    return preview_statistics(folder, [case], method=opts["method"]), None


def _export_work(folder: Path, choices: dict, opts: dict):
    case = build_case(choices)
    yield preview_statistics(folder, [case], method=opts["method"])
    if opts["fmt"] == SEG_FORMAT:  # one DICOM SEG; edited decisions are SEMIAUTOMATIC
        layers = [*choices["sigmoid"], *choices["softmax"]]
        result = export_seg_case(folder, case, dicom=choices.get("dicom"),
                                 corrected=corrected_channels(layers),
                                 colours=_colours(layers), origins=segment_origins(layers),
                                 overwrite=opts["overwrite"])
        return result.statistics, result
    result = export_case(folder, case, fmt=opts["fmt"], overwrite=opts["overwrite"],
                         method=opts["method"])
    return result.statistics, result


def _colours(layers: list[tuple]) -> dict[str, tuple[int, ...]]:
    """The colour of each channel, as the layers show it (by channel name)."""
    from napari_segreview._napari._colours import channel_color
    from napari_segreview._napari._layers import channel_name, mask_channels

    names = [n for d, ly_name, m in layers
             for n, _ in mask_channels(m, channel_name(m, ly_name))]
    return {n: tuple(int(channel_color(n)[i:i + 2], 16) for i in (1, 3, 5)) for n in names}
