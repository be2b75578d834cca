"""Dock widget: convert mask layers between binary masks, label maps and atoms.

A napari Labels layer holds one value per voxel, so overlapping masks live in
one binary Labels layer each. This widget turns several layers into one
integer Labels layer (with an explicit overlap rule, or losslessly as atoms)
and back, calling the same core functions as ``segreview convert``. A label
map among the inputs (a softmax head's decision layer, or a label map made
here) counts as one channel per class. The new layer is named after its
sources (or their head) and its kind, e.g. ``whole + parts (label map)``; an
overlap error names the panel's own choices. The conversion runs in a worker
thread (:mod:`.work`, no Qt); the layer list follows the viewer's
(:mod:`.._pickers`).

Script use: :meth:`ConvertWidget.select` layers by name (or set
``picker.value`` to layers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_info
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QFormLayout, QLabel, QPushButton, QWidget

from napari_segreview._napari._meta import meta
from napari_segreview._napari._panel import RULES, failure_text, scroll_panel, show_failure
from napari_segreview._napari._pickers import LayerSync, layer_picker, layers_in_order
from napari_segreview._napari.convert.work import (
    check_unique,
    combine,
    layer_channels,
    output_name,
    overlap_remedy,
    split_all,
)
from napari_segreview.errors import OverlapError
from napari_segreview.labels import formats
from napari_segreview.targets.masks import overlap_sentence

if TYPE_CHECKING:
    import napari

__all__ = ["MODES", "RULES", "ConvertWidget"]

MODES = {
    "Binary layers -> one label map": "to_labels",
    "Binary layers -> atoms (lossless)": "to_atoms",
    "Label map or atoms -> binary layers": "to_binary",
}


class ConvertWidget(QWidget):
    """Convert selected Labels layers; errors become napari notifications.

    Script use: select names with :meth:`select`, set ``mode`` and ``rule``
    (combo boxes, texts from :data:`MODES` and :data:`RULES`), call
    :meth:`run`, and wait on :attr:`converted` (names of the added layers) or
    :attr:`failed` (the error sentence).
    """

    converted = Signal(list)
    failed = Signal(str)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.picker = layer_picker(napari_viewer, Labels, multiple=True)
        self.layers = self.picker.native
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.rule = QComboBox()
        self.rule.addItems(list(RULES))
        self.button = QPushButton("Convert")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Conversion", self.mode)
        form.addRow("Overlaps", self.rule)
        layout = scroll_panel(self)
        layout.addWidget(QLabel("Labels layers (in painting order; a label map counts as "
                                "one channel per class):"))
        layout.addWidget(self.layers)
        layout.addLayout(form)
        layout.addWidget(self.button)
        layout.addWidget(self.status)
        layout.addStretch()
        self.button.clicked.connect(self.run)
        self._layers = LayerSync(napari_viewer, [self.picker])

    def select(self, names: list[str]) -> None:
        """Select these layers in the list."""
        self.picker.value = [x for x in self.picker.choices if x.name in names]

    def selected_names(self) -> list[str]:
        """Selected layer names, in the viewer's layer order."""
        return [layer.name for layer in layers_in_order(self.viewer, self.picker.value)]

    @property
    def busy(self) -> bool:
        """True while a conversion runs."""
        return self.worker is not None

    def run(self) -> Any:
        """Start the chosen conversion on the selected layers; returns the worker (or None)."""
        names = self.selected_names()
        try:
            if not names:
                raise formats.FormatError("select one or more Labels layers first.")
            mode = MODES[self.mode.currentText()]
            layers = [self.viewer.layers[n] for n in names]
            common = {"scale": tuple(layers[0].scale), "translate": tuple(layers[0].translate)}
            if mode == "to_binary":
                job = split_all
                args: tuple = ([(x.name, x.data, meta(x), {"scale": tuple(x.scale),
                                                           "translate": tuple(x.translate)})
                                for x in layers],)
            else:
                job = combine
                per_layer = [(x.name, layer_channels(x)) for x in layers]
                channels = [c for _, cs in per_layer for c in cs]
                check_unique(channels, [n for n, cs in per_layer for _ in cs])
                what = "label map" if mode == "to_labels" else "atoms"
                name = output_name(names, [meta(x) for x in layers], what)
                args = (channels, mode, RULES[self.rule.currentText()], common, name)
        except formats.FormatError as exc:
            self._fail(exc)
            return None
        self.button.setEnabled(False)
        worker = create_worker(job, *args, _progress={"desc": "Converting layers"},
                               _start_thread=False, _connect={"errored": self._fail})
        worker.returned.connect(self._add)
        worker.finished.connect(self._done)
        self.worker = worker
        worker.start()
        return worker

    def _done(self) -> None:
        self.worker = None
        self.button.setEnabled(True)

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, OverlapError):      # the core names API arguments; say our choices
            msg = overlap_sentence(exc, overlap_remedy(RULES, MODES))
        else:
            msg = failure_text(exc, "conversion", "nothing was added")
        show_failure(self.status, msg)
        self.failed.emit(msg)

    def _add(self, outputs: list[tuple[np.ndarray, dict]]) -> None:
        added = [self.viewer.add_labels(data, **kw).name for data, kw in outputs]
        kinds = {meta(self.viewer.layers[n]).get("kind") for n in added}
        if kinds == {"labels"}:
            msg = (f"Made the label map {added[0]!r} (label i = channel i, listed in its "
                   "metadata 'classes').")
        elif kinds == {"atoms"}:
            table = formats.AtomTable.from_dict(
                meta(self.viewer.layers[added[0]])["atom_table"])
            msg = (f"Made {added[0]!r}: {table.n_atoms - 1} atoms from {len(table.names)} "
                   "channels (table in metadata).")
        else:
            msg = f"Split into {len(added)} binary layers: {', '.join(added)}."
        self.status.setText(msg)
        show_info(msg)
        self.converted.emit(added)
