"""What a session still has to save: dirty chunks, whole layers, states, the image display.

:class:`DirtyTracker` keeps the bookkeeping between edits and commits, and
no Qt: napari's Labels events report history atoms (:meth:`DirtyTracker.mark`
turns them into chunk keys), :meth:`DirtyTracker.collect` copies what changed
into one :class:`~napari_segreview.session.session.Changes` (cheap, on the
main thread), and after the commit either :meth:`DirtyTracker.saved` or
:meth:`DirtyTracker.requeue` (a failed commit: everything it held is kept for
the next try) settles it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from napari.layers import Image, Labels

from napari_segreview._napari._compat import staged_atoms
from napari_segreview._napari._meta import meta
from napari_segreview._napari.session._records import image_display, layer_info
from napari_segreview.session.session import Changes, LayerRecord, LayerUpdate, full_update
from napari_segreview.session.store import chunk_slices, keys_of_atom


class DirtyTracker:
    """The edits of a viewer's session layers that are not on disk yet.

    Parameters
    ----------
    viewer_layers : napari.components.LayerList
        The viewer's layer list (the tracked image is recorded only while in it).

    Attributes
    ----------
    layers : dict[str, Labels]
        The bound layers by session id.
    dirty : dict[str, set]
        Per layer, the keys of the chunks edited since the last collect.
    full : set[str]
        Layers to save whole (new, or their data replaced).
    geom : dict[str, tuple]
        Per layer, its (chunk shape, shape) on disk.
    unsaved, inflight : int
        Edits (strokes, fills, undos...) not collected yet / in the running commit.
    """

    def __init__(self, viewer_layers: Any):
        self.viewer_layers = viewer_layers
        self.layers: dict[str, Labels] = {}
        self.dirty: dict[str, set] = {}
        self.full: set[str] = set()
        self.geom: dict[str, tuple] = {}
        self.unsaved = 0
        self.inflight = 0
        self.removed: set[str] = set()  # to be marked removed in the next commit
        self.states: dict[str, dict] = {}
        self.image_layer: Image | None = None
        self._image_sent: dict | None = None
        self._sent: dict[str, dict] = {}  # layer id -> layer_info last committed
        self._pred: dict[str, int] = {}  # layer id -> id() of the prediction last committed
        self._staged_seen: dict[str, int] = {}  # atoms of a running stroke already marked

    # ------------------------------------------------------------ layers

    def bind(self, lid: str, layer: Labels, record: LayerRecord | None = None) -> None:
        """Track ``layer`` as ``lid``: new (saved whole next), or as ``record`` holds it."""
        if record is None:
            self.full.add(lid)
        else:
            self.geom[lid] = (record.chunk_shape, record.shape)
            self._sent[lid] = layer_info(layer)
            self._pred[lid] = id(meta(layer).get("prediction"))
        self.layers[lid] = layer
        self.dirty[lid] = set()
        self._staged_seen[lid] = 0

    def mark(self, lid: str, atoms: Any) -> None:
        """Mark the chunks that napari history ``atoms`` changed in layer ``lid``."""
        geom = None if lid in self.full else self.geom.get(lid)
        if geom is None:
            return  # saved whole at the next flush anyway
        dirty = self.dirty[lid]
        for atom in atoms:
            dirty |= keys_of_atom(atom, *geom)

    def painted(self, lid: str, atoms: Any) -> None:
        """One edit (a ``paint`` event): its atoms are marked and counted as unsaved."""
        self.mark(lid, atoms)
        self._staged_seen[lid] = 0
        self.unsaved += 1

    def replaced(self, lid: str) -> None:
        """The layer's data were replaced (a ``data`` event): save it whole."""
        self.full.add(lid)

    @property
    def count(self) -> int:
        """Edits not committed yet, in flight included."""
        return self.unsaved + self.inflight + len(self.full)

    def left(self) -> bool:
        """True while anything (chunks, whole layers, states, removals) waits to be collected."""
        return bool(self.full or self.states or self.removed or any(self.dirty.values()))

    # ------------------------------------------------------------ image and states

    def track_image(self, layer: Image | None) -> None:
        """Record ``layer``'s contrast limits, colormap and units with each autosave."""
        self.image_layer = layer
        self._image_sent = None if layer is None else image_display(layer)

    def _image_changes(self) -> dict | None:
        layer = self.image_layer
        if layer is None or layer not in self.viewer_layers:
            return None
        display = image_display(layer)
        if display == self._image_sent:
            return None
        self._image_sent = display
        return display

    def save_state(self, name: str, value: dict) -> None:
        """Store a JSON blob (QA state...) with the next autosave."""
        json.dumps(value)
        self.states[name] = value

    # ------------------------------------------------------------ commits

    def collect(self) -> Changes:
        """Copy everything that changed into one commit (the layers' chunks are copied)."""
        changes = Changes(states=dict(self.states), image=self._image_changes())
        self.states.clear()
        for lid in self.removed:
            changes.layers[lid] = LayerUpdate(removed=True)
        self.removed = set()
        for lid, layer in list(self.layers.items()):
            staged = staged_atoms(layer)
            if len(staged) > self._staged_seen[lid]:
                self.mark(lid, staged[self._staged_seen[lid]:])  # a stroke in progress
                self._staged_seen[lid] = len(staged)
            info = layer_info(layer)
            pred = meta(layer).get("prediction")
            new_pred = pred if id(pred) != self._pred.get(lid) and pred is not None else None
            if lid in self.full:
                update = full_update(np.asarray(layer.data), **info)
                update.prediction = None if pred is None else np.asarray(pred)
                self.geom[lid] = (tuple(update.info["chunk_shape"]),
                                  tuple(update.info["shape"]))
            else:
                chunk_shape, shape = self.geom[lid]
                chunks = {k: np.array(layer.data[chunk_slices(k, chunk_shape, shape)])
                          for k in self.dirty[lid]}
                same = info == self._sent.get(lid)
                if not chunks and same and new_pred is None:
                    continue
                update = LayerUpdate(info={} if same else info, chunks=chunks,
                                     prediction=None if new_pred is None
                                     else np.asarray(new_pred))
            self.dirty[lid] = set()
            self._sent[lid] = info
            self._pred[lid] = id(pred)
            changes.layers[lid] = update
        return changes

    def sending(self, changes: Changes) -> None:
        """``changes`` (from :meth:`collect`) go to the disk: their edits are in flight."""
        self.inflight, self.unsaved = self.unsaved, 0
        self.full -= set(changes.layers)

    def saved(self) -> None:
        """The commit in flight is on disk."""
        self.inflight = 0

    def requeue(self, changes: Changes) -> None:
        """The commit of ``changes`` failed: keep everything it held for the next one."""
        self.unsaved += self.inflight
        self.inflight = 0
        for lid, update in changes.layers.items():
            if update.removed:
                self.removed.add(lid)
            if update.full:
                self.full.add(lid)
            elif lid in self.dirty:
                self.dirty[lid] |= set(update.chunks)
                self._sent.pop(lid, None)
                self._pred.pop(lid, None)
        for name, value in changes.states.items():
            self.states.setdefault(name, value)
        if changes.image is not None:
            self._image_sent = None  # sent again next time
