"""Noticing edits of Labels layers, for the Review panel's automatic re-check.

Painting emits a layer's ``paint`` event; undo and redo emit none, only
``set_data``, so :class:`EditWatcher` notices them through the lengths of the
layer's undo and redo histories. It watches every Labels layer in the viewer
and those inserted later, and emits :attr:`EditWatcher.edited` with the layer.
"""

from __future__ import annotations

import contextlib
from typing import Any

from napari.layers import Labels
from qtpy.QtCore import QObject, Signal

from napari_segreview._napari._compat import history_lengths

__all__ = ["EditWatcher"]


class EditWatcher(QObject):
    """Emits :attr:`edited` when a Labels layer of the viewer is painted, undone or redone."""

    #: The layer that was edited (the layer itself, as the event carries it).
    edited = Signal(object)

    def __init__(self, viewer: Any, parent: QObject | None = None):
        super().__init__(parent)
        self._history: dict[int, tuple[int, int]] = {}
        viewer.layers.events.inserted.connect(self._inserted)
        for layer in viewer.layers:
            self.watch(layer)

    def watch(self, layer: Any) -> None:
        """Watch one layer (Labels layers only; others are ignored)."""
        if isinstance(layer, Labels):
            layer.events.paint.connect(self._painted)
            layer.events.set_data.connect(self._maybe_undone)

    def _inserted(self, event: Any) -> None:
        with contextlib.suppress(RuntimeError):   # the panel may be closed already
            self.watch(event.value)

    def _painted(self, event: Any) -> None:
        with contextlib.suppress(RuntimeError):   # the panel may be closed already
            self.edited.emit(event.source)

    def _maybe_undone(self, event: Any) -> None:
        layer = event.source
        sig = history_lengths(layer)
        old = self._history.get(id(layer))
        self._history[id(layer)] = sig
        if old is not None and old != sig:
            self._painted(event)
