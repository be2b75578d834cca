"""Dock widget: convert mask layers between binary masks, label maps and atoms.

A napari Labels layer holds one value per voxel, so overlapping masks live in
one binary Labels layer each. This widget turns several binary layers into one
integer Labels layer (with an explicit overlap rule, or losslessly as atoms)
and back, calling the same core functions as ``segreview convert``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Labels
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_segreview.core import formats

if TYPE_CHECKING:
    import napari

MODES = {
    "Binary layers -> one label map": "to_labels",
    "Binary layers -> atoms (lossless)": "to_atoms",
    "Label map or atoms -> binary layers": "to_binary",
}
RULES = {
    "Refuse overlaps": {"overlap": "error"},
    "Later layers win": {"priority": "later"},
    "Mark overlaps as ignore (255)": {"overlap": "ignore"},
}


class ConvertWidget(QWidget):
    """Convert selected Labels layers; errors become napari notifications."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.layers = QListWidget()
        self.layers.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
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
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Labels layers (in painting order):"))
        layout.addWidget(self.layers)
        layout.addLayout(form)
        layout.addWidget(self.button)
        layout.addWidget(self.status)
        layout.addStretch()
        self.button.clicked.connect(self.run)
        for event in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            event.connect(self._refresh)
        self._refresh()

    def _refresh(self, *_args) -> None:
        selected = set(self.selected_names())
        self.layers.clear()
        for layer in self.viewer.layers:
            if isinstance(layer, Labels):
                self.layers.addItem(layer.name)
                if layer.name in selected:
                    self.layers.item(self.layers.count() - 1).setSelected(True)

    def selected_names(self) -> list[str]:
        """Selected layer names, in the viewer's layer order."""
        chosen = {item.text() for item in self.layers.selectedItems()}
        return [layer.name for layer in self.viewer.layers if layer.name in chosen]

    def run(self) -> None:
        """Run the chosen conversion on the selected layers."""
        names = self.selected_names()
        try:
            if not names:
                raise formats.FormatError("select one or more Labels layers first.")
            mode = MODES[self.mode.currentText()]
            if mode == "to_binary":
                for name in names:
                    self._split(self.viewer.layers[name])
            else:
                self._combine([self.viewer.layers[n] for n in names], mode)
        except formats.FormatError as exc:
            self.status.setText(str(exc))
            show_error(str(exc))

    def _combine(self, layers: list[Labels], mode: str) -> None:
        shapes = {layer.data.shape for layer in layers}
        if len(shapes) > 1:
            raise formats.FormatError(
                f"the selected layers have different shapes {sorted(shapes)}; select layers "
                "of one image."
            )
        stack = np.stack([np.asarray(layer.data) != 0 for layer in layers]).view(np.uint8)
        names = [layer.name for layer in layers]
        first = layers[0]
        common = {"scale": first.scale, "translate": first.translate}
        if mode == "to_labels":
            rule = RULES[self.rule.currentText()]
            labels = formats.multihot_to_labels(stack, names=names, **rule)
            meta = {"segreview": {"kind": "labels", "classes": ["background", *names]}}
            self.viewer.add_labels(labels, name="label map", metadata=meta, **common)
            msg = f"Made one label map from {len(names)} layers (label i+1 = layer i)."
        else:
            atoms, table = formats.multihot_to_atoms(stack, names)
            meta = {"segreview": {"kind": "atoms", "atom_table": table.to_dict()}}
            self.viewer.add_labels(atoms, name="atoms", metadata=meta, **common)
            msg = f"Made {table.n_atoms - 1} atoms from {len(names)} layers (table in metadata)."
        self.status.setText(msg)
        show_info(msg)

    def _split(self, layer: Labels) -> None:
        info = layer.metadata.get("segreview", {})
        common = {"scale": layer.scale, "translate": layer.translate}
        if info.get("kind") == "atoms":
            table = formats.AtomTable.from_dict(info["atom_table"])
            stack = formats.atoms_to_multihot(np.asarray(layer.data), table)
            names = table.names
        else:
            data = np.asarray(layer.data)
            present = [int(v) for v in np.unique(data) if v != 0]
            classes = info.get("classes")
            names = [classes[v] if classes and v < len(classes) else f"{layer.name} {v}"
                     for v in present]
            stack = formats.labels_to_multihot(data, [[v] for v in present]) if present else []
        for name, mask in zip(names, stack, strict=True):
            self.viewer.add_labels(mask, name=name, **common)
        msg = f"Split {layer.name!r} into {len(names)} binary layers."
        self.status.setText(msg)
        show_info(msg)
