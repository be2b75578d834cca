"""The Review panel's choice of masks: the decision layers of a Predict run, or layers by hand.

:class:`MaskChooser` offers one entry per Predict run in the viewer
(:func:`~.sets.decision_runs`) and "Layers chosen by hand" (a parent and its
children, magicgui layer pickers that follow the layer list). It keeps the
entries in step with the layers and builds the :class:`~.sets.ReviewSet` of the
current choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari.layers import Labels
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QVBoxLayout,
    QWidget,
)

from napari_segreview._napari._meta import meta
from napari_segreview._napari._panel import fit_rows
from napari_segreview._napari._pickers import LayerSync, layer_picker, layers_in_order
from napari_segreview._napari.review.sets import (
    ReviewSet,
    decision_runs,
    set_from_layers,
    set_from_run,
)

__all__ = ["MANUAL", "MaskChooser", "covering"]

MANUAL = "Layers chosen by hand"
#: Layers that are views of masks, never masks to review.
VIEWS = ("overlap", "atoms")


def covering(layers: Any, layer: Any) -> list:
    """The visible layers drawn over ``layer`` (after it in the list), which hide its strokes.

    Matched by name (a plugin sees proxies of the layers).

    Examples
    --------
    >>> from types import SimpleNamespace as L
    >>> stack = [L(name="ct", visible=True), L(name="gt", visible=True),
    ...          L(name="parts", visible=True), L(name="p (p)", visible=False)]
    >>> [x.name for x in covering(stack, L(name="gt"))]
    ['parts']
    """
    names = [ly.name for ly in layers]
    if layer.name not in names:
        return []
    return [ly for ly in list(layers)[names.index(layer.name) + 1:] if ly.visible]


class MaskChooser(QWidget):
    """The "Masks" choice and the parent/children pickers (see the module docstring).

    Attributes ``source`` (a ``QComboBox``: data ``"run:<id>"`` or ``"manual"``),
    ``parent_layer`` and ``children_list`` (the pickers' ``QComboBox`` and
    ``QListWidget``) and ``manual_box`` are the panel's.
    """

    #: The choice or the layers changed: the set under review may be another.
    changed = Signal()

    def __init__(self, viewer: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = viewer
        self.source = QComboBox()
        self.parent_picker = layer_picker(viewer, Labels, exclude=VIEWS)
        self.children_picker = layer_picker(viewer, Labels, exclude=VIEWS, multiple=True)
        self.parent_layer = self.parent_picker.native
        self.children_list = self.children_picker.native
        self.children_list.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        fit_rows(self.children_list)
        self.manual_box = QGroupBox(MANUAL)
        mform = QFormLayout(self.manual_box)
        mform.addRow("Parent", self.parent_layer)
        mform.addRow("Children", self.children_list)
        form = QFormLayout()
        form.addRow("Masks", self.source)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.manual_box)
        self.source.currentIndexChanged.connect(self._source_changed)
        # a pick with the mouse changes the set under review like set_children does
        self.parent_picker.changed.connect(self._picked)
        self.children_picker.changed.connect(self._picked)
        self._layers = LayerSync(viewer, [self.parent_picker, self.children_picker],
                                 then=self._layers_changed)
        self._layers_changed()

    def _layers_changed(self, _event: Any = None) -> None:
        current = self.source.currentData()
        if self.source.count() <= 1:
            current = None             # only "by hand" was offered: a new run takes over
        self.source.blockSignals(True)
        self.source.clear()
        for run, layers in decision_runs(self.viewer.layers).items():
            m = meta(layers[0])
            self.source.addItem(f"{m.get('image', '?')} / {Path(str(m.get('model'))).name}",
                                f"run:{run}")
        self.source.addItem(MANUAL, "manual")
        idx = self.source.findData(current)
        self.source.setCurrentIndex(idx if idx >= 0 else 0)
        self.source.blockSignals(False)
        self._source_changed()

    def _picked(self, *_args: Any) -> None:
        self.changed.emit()

    def _source_changed(self, *_args: Any) -> None:
        self.manual_box.setVisible(self.source.currentData() == "manual")
        self.changed.emit()

    def set_children(self, names: list[str]) -> None:
        """Select these layers as the children (layers chosen by hand)."""
        self.children_picker.value = [x for x in self.children_picker.choices
                                      if x.name in names]
        self.changed.emit()

    def current_set(self, *, disjoint: bool, union: bool) -> ReviewSet:
        """The review set of the current choice (cheap: no data is copied).

        Raises KeyError for a run that is gone, ReviewError for a bad choice by hand.
        """
        key = self.source.currentData()
        opts = {"disjoint": disjoint, "union": union}
        if key and key.startswith("run:"):
            return set_from_run(decision_runs(self.viewer.layers)[key[4:]], **opts)
        parent = layers_in_order(self.viewer, [self.parent_picker.value])
        children = layers_in_order(self.viewer, self.children_picker.value)
        return set_from_layers(parent[0] if parent else None, children, **opts)
