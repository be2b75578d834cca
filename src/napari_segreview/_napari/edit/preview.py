"""The Edit panel's preview layer: what a slab or volume effect would change, before Apply.

:func:`show_preview` puts :func:`~napari_segreview._napari.edit.effects.preview_data`
(1: voxels the effect adds, 2: removes, 3: relabels) in a Labels layer named
:data:`PREVIEW_NAME` placed like the edited layer, and keeps the edited layer
active so that the panel (and napari's brush) still work on it;
:func:`drop_preview` removes it. :func:`sync_names` refills a combo box with
layer names, keeping the current choice.
"""

from __future__ import annotations

from typing import Any

from napari_segreview._napari.edit.effects import preview_data

__all__ = ["PREVIEW_NAME", "drop_preview", "show_preview", "sync_names"]

#: Name of the preview layer (1: voxels the effect adds, 2: removes, 3: relabels).
PREVIEW_NAME = "Edit preview"


def show_preview(viewer: Any, layer: Any, data: Any, result: Any) -> None:
    """Show what ``result`` changes in ``data`` (a snapshot of ``layer``) as the preview layer."""
    prev = preview_data(data, result)
    if PREVIEW_NAME in viewer.layers:
        viewer.layers[PREVIEW_NAME].data = prev
    else:
        viewer.add_labels(prev, name=PREVIEW_NAME, scale=layer.scale,
                          translate=layer.translate, opacity=0.7)
    viewer.layers.selection.active = layer


def drop_preview(viewer: Any) -> None:
    """Remove the preview layer, if there is one."""
    if PREVIEW_NAME in viewer.layers:
        viewer.layers.remove(PREVIEW_NAME)


def sync_names(combo: Any, names: list[str]) -> None:
    """Refill ``combo`` with ``names`` (no signals), keeping its current choice if still there.

    Examples
    --------
    >>> class Combo:  # the QComboBox methods this uses
    ...     def __init__(self): self.items, self.cur = ["CT", "old"], "CT"
    ...     def count(self): return len(self.items)
    ...     def itemText(self, i): return self.items[i]
    ...     def currentText(self): return self.cur
    ...     def blockSignals(self, on): pass
    ...     def clear(self): self.items, self.cur = [], ""
    ...     def addItems(self, names):
    ...         self.items += names
    ...         self.cur = self.cur or names[0]
    ...     def setCurrentText(self, t): self.cur = t
    >>> c = Combo()
    >>> sync_names(c, ["MR", "CT"])
    >>> c.items, c.cur
    (['MR', 'CT'], 'CT')
    """
    if [combo.itemText(i) for i in range(combo.count())] == names:
        return
    keep = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(names)
    if keep in names:
        combo.setCurrentText(keep)
    combo.blockSignals(False)
