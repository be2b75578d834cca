"""Dock widget: convert mask layers between binary masks, label maps and atoms.

A napari Labels layer holds one value per voxel, so overlapping masks live in
one binary Labels layer each. This widget turns several layers into one
integer Labels layer (with an explicit overlap rule, or losslessly as atoms)
and back, calling the same core functions as ``segreview convert``. A label
map among the inputs (a softmax head's decision layer, or a label map made
here) counts as one channel per class. The conversion runs in a worker thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Signal
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

from napari_segreview._napari._meta import KEY, meta
from napari_segreview._util.arrays import blocks
from napari_segreview.labels import formats

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


def layer_channels(layer: Labels) -> list[tuple[str, Any, int | None]]:
    """``(name, data, value)`` per channel of a layer: one per class of a label map.

    A layer whose metadata lists ``classes`` (and no single ``channel``) is a
    label map: class ``k >= 1`` is channel ``classes[k]`` (value ``k``). Any
    other layer is one binary channel (value ``None``: non-zero is on) named
    by its metadata ``channel`` (``"part_1"`` for ``"part_1 (ground truth)"``,
    as Export names it), else by the layer's name.
    """
    m = meta(layer)
    if m.get("kind") == "atoms":
        raise formats.FormatError(
            f"{layer.name!r} is an atom map; split it into binary layers first "
            "('Label map or atoms -> binary layers')."
        )
    if m.get("classes") and m.get("channel") is None:
        return [(str(c), layer.data, k) for k, c in enumerate(m["classes"]) if k]
    return [(str(m.get("channel") or layer.name), layer.data, None)]


def check_unique(channels: list[tuple[str, Any, int | None]], sources: list[str]) -> None:
    """Refuse two selected channels of one name (``sources[i]`` is channel i's layer)."""
    names = [n for n, _, _ in channels]
    for name in names:
        same = [repr(s) for n, s in zip(names, sources, strict=True) if n == name]
        if len(same) > 1:
            raise formats.FormatError(
                f"{', '.join(same[:-1])} and {same[-1]} both hold channel {name!r}; "
                "select one of them."
            )


def build_stack(channels: list[tuple[str, Any, int | None]]) -> np.ndarray:
    """A uint8 multi-hot stack ``(C, ...)`` of the channels, filled blockwise."""
    shapes = {np.shape(d) for _, d, _ in channels}
    if len(shapes) > 1:
        raise formats.FormatError(
            f"the selected layers have different shapes {sorted(shapes)}; select layers "
            "of one image."
        )
    shape = shapes.pop()
    stack = np.empty((len(channels), *shape), np.uint8)
    flat_out = stack.reshape(len(channels), -1)
    for c, (name, data, value) in enumerate(channels):
        flat = np.ascontiguousarray(data).reshape(-1)
        if value is None and flat.size and flat.max() > 1:
            raise formats.FormatError(
                f"layer {name!r} holds values up to {flat.max()}, so it is a label map, not a "
                "binary mask: split it into binary layers first, or select binary layers."
            )
        for s in blocks(flat.size):
            o = flat_out[c, s].view(np.bool_)
            if value is None:
                np.not_equal(flat[s], 0, out=o)
            else:
                np.equal(flat[s], value, out=o)
    return stack


def combine(channels, mode: str, rule: dict, common: dict) -> list[tuple[np.ndarray, dict]]:
    """Worker side of 'binary layers -> label map / atoms': the layer to add."""
    stack = build_stack(channels)
    names = [n for n, _, _ in channels]
    if mode == "to_labels":
        labels = formats.multihot_to_labels(stack, names=names, **rule)
        md = {"kind": "labels", "classes": ["background", *names]}
        return [(labels, {"name": "label map", "metadata": {KEY: md}, **common})]
    atoms, table = formats.multihot_to_atoms(stack, names)
    md = {"kind": "atoms", "atom_table": table.to_dict()}
    return [(atoms, {"name": "atoms", "metadata": {KEY: md}, **common})]


def split(layer_name: str, data: Any, md: dict, common: dict) -> list[tuple[np.ndarray, dict]]:
    """Worker side of 'label map or atoms -> binary layers': one layer per channel."""
    data = np.asarray(data)
    if md.get("kind") == "atoms":
        table = formats.AtomTable.from_dict(md["atom_table"])
        stack = formats.atoms_to_multihot(data, table)
        names = list(table.names)
    else:
        present = [int(v) for v in np.unique(data) if v != 0]
        classes = md.get("classes")
        names = [classes[v] if classes and v < len(classes) else f"{layer_name} {v}"
                 for v in present]
        stack = formats.labels_to_multihot(data, [[v] for v in present]) if present else []
    return [(mask, {"name": name, "metadata": {KEY: {"kind": "mask", "channel": name}},
                    **common}) for name, mask in zip(names, stack, strict=True)]


def split_all(items: list[tuple[str, Any, dict, dict]]) -> list[tuple[np.ndarray, dict]]:
    """:func:`split` of several layers ``(name, data, metadata, common)``."""
    return [out for item in items for out in split(*item)]


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
        layout.addWidget(QLabel("Labels layers (in painting order; a label map counts as "
                                "one channel per class):"))
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

    def select(self, names: list[str]) -> None:
        """Select these layers in the list."""
        for i in range(self.layers.count()):
            self.layers.item(i).setSelected(self.layers.item(i).text() in names)

    def selected_names(self) -> list[str]:
        """Selected layer names, in the viewer's layer order."""
        chosen = {item.text() for item in self.layers.selectedItems()}
        return [layer.name for layer in self.viewer.layers if layer.name in chosen]

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
                args = (channels, mode, RULES[self.rule.currentText()], common)
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
        msg = str(exc) if isinstance(exc, formats.FormatError) else (
            f"the conversion failed ({type(exc).__name__}: {exc}); nothing was added.")
        self.status.setText(msg)
        show_error(msg)
        self.failed.emit(msg)

    def _add(self, outputs: list[tuple[np.ndarray, dict]]) -> None:
        added = [self.viewer.add_labels(data, **kw).name for data, kw in outputs]
        kinds = {meta(self.viewer.layers[n]).get("kind") for n in added}
        if kinds == {"labels"}:
            msg = "Made one label map (label i = channel i, listed in its metadata 'classes')."
        elif kinds == {"atoms"}:
            table = formats.AtomTable.from_dict(
                meta(self.viewer.layers[added[0]])["atom_table"])
            msg = (f"Made {table.n_atoms - 1} atoms from {len(table.names)} channels "
                   "(table in metadata).")
        else:
            msg = f"Split into {len(added)} binary layers: {', '.join(added)}."
        self.status.setText(msg)
        show_info(msg)
        self.converted.emit(added)
