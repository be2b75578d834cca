"""Dock widget: export corrected Labels layers as training targets (tif, npz or nnU-Net).

Two ways to say what the targets are:

* **card layers**: decision layers made by Predict carry the model card in
  their metadata; the selected layers are grouped by head (softmax: the label
  map layer; sigmoid: one layer per channel);
* **by hand** (masks with no card, e.g. ground truth): the layers selected
  under *Sigmoid* form one multi-hot target, the layers under *Softmax* one
  label map (one label-map layer, or binary masks painted with the overlap
  rule).

The statistics are computed in a worker and shown before anything is
written; the export runs in a worker too. Errors are napari notifications
with the core's sentence. Scripts drive it through ``folder``, ``format``,
``image_layer``, ``sigmoid_list``/``softmax_list`` (``select(list, names)``),
``rule``, ``ignore_layer``, ``ignore_outside``, ``image_mode``, ``weights``,
``case_name``, ``overwrite``, then ``preview()`` or ``export()``; both return
the worker, and ``done`` (a Qt signal) carries ``"preview"``, ``"export"`` or
``"error"`` when it ends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image, Labels
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_segreview._napari._export_io import layer_record
from napari_segreview._napari._meta import meta
from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import FormatError, OverlapError
from napari_segreview.targets.build import (
    ExportCase,
    build_targets,
    card_from_choices,
    check_class_masks,
    image_spatial_shape,
    overlap_sentence,
    softmax_from_masks,
)
from napari_segreview.targets.classstats import WEIGHT_METHODS, summary_lines
from napari_segreview.targets.export import EXPORT_FORMATS, export_case, preview_statistics

if TYPE_CHECKING:
    import napari

RULES = {
    "Refuse overlaps": {"overlap": "error"},
    "Later layers win": {"priority": "later"},
    "Mark overlaps as ignore (255)": {"overlap": "ignore"},
}
NO_LAYER = "(none)"
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
        self.format.addItems(list(EXPORT_FORMATS))
        self.image_layer = QComboBox()
        self.sigmoid_list = self._list()
        self.softmax_list = self._list()
        self.rule = QComboBox()
        self.rule.addItems(list(RULES))
        self.ignore_layer = QComboBox()
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
        layout = QVBoxLayout(self)
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
        for event in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            event.connect(self._refresh)
        self._refresh()

    @staticmethod
    def _list() -> QListWidget:
        w = QListWidget()
        w.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        return w

    # ------------------------------------------------------------------ layer lists

    def _refresh(self, *_args: Any) -> None:
        # The Review panel's overlap view and Predict's probabilities are views, not data.
        labels = [ly for ly in self.viewer.layers
                  if isinstance(ly, Labels) and meta(ly).get("kind") != "overlap"]
        images = [ly.name for ly in self.viewer.layers
                  if isinstance(ly, Image) and meta(ly).get("kind") != "probability"]
        keep = self.image_layer.currentText()
        self.image_layer.clear()
        self.image_layer.addItems(images)
        if keep in images:
            self.image_layer.setCurrentText(keep)
        keep = self.ignore_layer.currentText()
        self.ignore_layer.clear()
        self.ignore_layer.addItems([NO_LAYER, *(ly.name for ly in labels)])
        if keep:
            self.ignore_layer.setCurrentText(keep)
        for lst, kind in ((self.sigmoid_list, "sigmoid"), (self.softmax_list, "softmax")):
            chosen = {i.text() for i in lst.selectedItems()}
            lst.clear()
            for ly in labels:
                lst.addItem(ly.name)
                m = meta(ly)
                auto = (m.get("kind") == "decision" and m.get("head_kind") == kind
                        and not m.get("superseded"))
                if ly.name in chosen or (not chosen and auto):
                    lst.item(lst.count() - 1).setSelected(True)

    def _chosen(self, lst: QListWidget) -> list[Labels]:
        names = {i.text() for i in lst.selectedItems()}
        return [ly for ly in self.viewer.layers if ly.name in names and isinstance(ly, Labels)]

    # ------------------------------------------------------------------ building the case

    def choices(self) -> dict[str, Any]:
        """The widget's state and the chosen layers' data (main thread; no computing)."""
        name = self.image_layer.currentText()
        if not name:
            raise FormatError("add or choose the image layer the masks belong to.")
        image_layer = self.viewer.layers[name]
        sig, soft = self._chosen(self.sigmoid_list), self._chosen(self.softmax_list)
        if not sig and not soft:
            raise FormatError("select the Labels layers to export under Sigmoid or Softmax.")
        if self.ignore_outside.isChecked() and self.format.currentText() == "nnunet":
            raise FormatError("ignoring voxels outside the parent does not apply to nnU-Net "
                              "datasets (their regions keep parts inside the parent); untick it.")
        ignore = None
        if self.ignore_layer.currentText() not in ("", NO_LAYER):
            ignore = self.viewer.layers[self.ignore_layer.currentText()].data
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
        self.status.setText(text)
        self._enable()
        show_error(text)
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
    result = export_case(folder, case, fmt=opts["fmt"], overwrite=opts["overwrite"],
                         method=opts["method"])
    return result.statistics, result


# ---------------------------------------------------------------------- building (any thread)


def build_case(ch: dict[str, Any]) -> ExportCase:
    """The :class:`ExportCase` from :meth:`ExportWidget.choices` (runs in the worker)."""
    sig, soft = ch["sigmoid"], ch["softmax"]
    cards = {json.dumps(m.get("card"), sort_keys=True) for _, _, m in [*sig, *soft]}
    if len(cards) == 1 and (sig or soft)[0][2].get("card"):
        card, inputs, parts = _from_card([*sig, *soft])
    else:
        card, inputs, parts = _by_hand(sig, soft, ch["rule"])
    if ch["image_mode"] == "normalized" and card.name == "by-hand":
        raise FormatError("a normalised image needs the model card of Predict's layers; "
                          "store the raw image instead.")
    image = np.asarray(ch["image"])
    spatial = image_spatial_shape(image, card.input)
    ignore = None if ch["ignore"] is None else np.asarray(ch["ignore"])
    targets = build_targets(card, inputs, spatial, ignore=ignore,
                            ignore_outside_parent=ch["ignore_outside"])
    recs = ch["records"]
    records = [{**recs[ch["image_name"]], "role": "image"},
               *({**recs[n], "role": "target", "head": h, "channel": c} for n, h, c in parts)]
    return ExportCase(ch["case"], image, targets, card, spacing=ch["scale"][-len(spatial):],
                      source=ch["source"], image_mode=ch["image_mode"], layers=records)


def _from_card(layers: list[tuple]) -> tuple[ModelCard, dict, list]:
    card = ModelCard.from_dict(layers[0][2]["card"])
    inputs: dict[str, Any] = {}
    parts: list[tuple] = []
    for head in card.heads:
        mine = [ly for ly in layers if ly[2].get("head") == head.name]
        if not mine:
            continue
        if head.kind == "softmax":
            if len(mine) > 1:
                raise FormatError(f"{_are_all(mine)} layers of head {head.name!r}: "
                                  "select one of them.")
            inputs[head.name] = np.asarray(mine[0][0])
            parts.append((mine[0][1], head.name, None))
            continue
        by_channel: dict[Any, tuple] = {}
        for d, n, m in mine:
            c = m.get("channel")
            if c in by_channel:
                same = [ly for ly in mine if ly[2].get("channel") == c]
                raise FormatError(f"{_are_all(same)} layers of channel {c!r} of head "
                                  f"{head.name!r}: select one of them.")
            by_channel[c] = (d, n)
        missing = [c for c in head.channels if c not in by_channel]
        if missing:
            raise FormatError(f"select the layer of every channel of head {head.name!r}: "
                              f"{', '.join(missing)} missing.")
        inputs[head.name] = np.stack([np.asarray(by_channel[c][0]) for c in head.channels])
        parts.extend((by_channel[c][1], head.name, c) for c in head.channels)
    return card, inputs, parts


def _are_all(layers: list[tuple]) -> str:
    """``'a' and 'b' are both`` / ``'a', 'b' and 'c' are all``: layer tuples in a sentence."""
    names = [repr(n) for _, n, _ in layers]
    return (f"{', '.join(names[:-1])} and {names[-1]} "
            f"{'are both' if len(names) == 2 else 'are all'}")


def _by_hand(sig: list[tuple], soft: list[tuple], rule: dict) -> tuple[ModelCard, dict, list]:
    def channel(ly: tuple) -> str:
        return str(ly[2].get("channel") or ly[1])

    both = {n for _, n, _ in sig} & {n for _, n, _ in soft}
    if both:
        raise FormatError(f"{sorted(both)[0]!r} is selected under both Sigmoid and Softmax; "
                          "a layer belongs to one target: unselect it in one.")
    for lst, what in ((sig, "Sigmoid"), (soft, "Softmax")):
        for ly in lst:
            same = [x for x in lst if channel(x) == channel(ly)]
            if len(same) > 1:
                raise FormatError(f"{_are_all(same)} channel {channel(ly)!r} under "
                                  f"{what}: select one of them.")
    label_map = len(soft) == 1 and soft[0][2].get("classes")
    soft_names = list(soft[0][2]["classes"])[1:] if label_map else [channel(ly) for ly in soft]
    if not label_map:
        check_class_masks(soft_names)       # a mask named background: before the card
    card = card_from_choices([channel(ly) for ly in sig], soft_names)
    inputs: dict[str, Any] = {}
    parts: list[tuple] = []
    if sig:
        shapes = {np.shape(d) for d, _, _ in sig}
        if len(shapes) > 1:
            raise FormatError(f"the Sigmoid layers have different shapes {sorted(shapes)}; "
                              "select layers of one image.")
        inputs["channels"] = np.stack([np.asarray(d) for d, _, _ in sig])
        parts.extend((ly[1], "channels", channel(ly)) for ly in sig)
    if label_map:
        inputs["classes"] = np.asarray(soft[0][0])
        parts.append((soft[0][1], "classes", None))
    elif soft:
        shapes = {np.shape(d) for d, _, _ in soft}
        if len(shapes) > 1:
            raise FormatError(f"the Softmax layers have different shapes {sorted(shapes)}; "
                              "select layers of one image.")
        inputs["classes"] = softmax_from_masks(card.head("classes"),
                                               [np.asarray(d) for d, _, _ in soft], **rule)
        parts.extend((ly[1], "classes", channel(ly)) for ly in soft)
    return card, inputs, parts
