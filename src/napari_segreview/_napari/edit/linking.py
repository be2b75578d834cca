"""Hierarchy-aware painting: a stroke on one decision layer edits the linked layers.

:class:`HierarchyLink` watches the decision layers of one Predict run (the
card's ``within`` rules and softmax siblings, as the Review panel reads them:
:func:`~napari_segreview._napari.review.sets.set_from_run`). When a stroke on
one of them ends (napari's ``paint`` event, which carries the stroke's history
atoms), the edits it implies on the other layers
(:func:`napari_segreview.editing.hierarchy.implied_edits`) are applied to each
of them as one undo step of their own. Undo of the stroke (Ctrl+Z on the
painted layer) leaves those edits in place; the rules still hold, and each
linked layer undoes its part with its own Ctrl+Z.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from napari_segreview._napari._compat import atom_change
from napari_segreview._napari._meta import meta
from napari_segreview._napari._undo import write_as_one_step
from napari_segreview._napari.review.sets import decision_runs, set_from_run
from napari_segreview.editing.hierarchy import ChannelRef, Hierarchy, Link, implied_edits

__all__ = ["HierarchyLink", "hierarchy_of_run"]


def hierarchy_of_run(layers: list) -> tuple[Hierarchy, dict[str, Any]]:
    """The hierarchy of one run's decision layers (sources are layer names) and the layers."""
    rs = set_from_run(layers, disjoint=True, union=False)
    chans = tuple(ChannelRef(c.name, c.source, None if c.binary else c.value, c.on_value)
                  for c in rs.channels)
    links = tuple(Link(r.parent, tuple(r.children), r.disjoint) for r in rs.rules)
    return Hierarchy(chans, links), dict(rs.layers)


class HierarchyLink:
    """Propagate strokes between the decision layers of the run a layer belongs to."""

    def __init__(self, viewer: Any):
        self.viewer = viewer
        self.enabled = False
        self._watched: dict[int, Any] = {}
        self._busy = False
        self._cached: tuple[Hierarchy, dict[str, Any]] | None = None
        #: What the last propagation changed: {layer name: voxels}.
        self.last: dict[str, int] = {}

    def link(self, layer: Any) -> str:
        """Watch the run of ``layer``; returns a sentence saying what is linked."""
        self.unlink()
        run = meta(layer).get("run")
        layers = decision_runs(self.viewer.layers).get(run) if run else None
        if not layers:
            return (f"{getattr(layer, 'name', 'this layer')!r} is not a decision layer of a "
                    "Predict run: there are no card rules to follow.")
        h, by_name = hierarchy_of_run(layers)
        if not h.links:
            return "the card of this run has no head within another: nothing to link."
        self._cached = (h, by_name)
        for x in by_name.values():
            x.events.paint.connect(self._painted)
            self._watched[id(x)] = x
        names = ", ".join(repr(n) for n in by_name)
        return f"linked by the card's rules: {names}."

    def unlink(self) -> None:
        """Stop watching."""
        for x in self._watched.values():
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                x.events.paint.disconnect(self._painted)
        self._watched.clear()
        self._cached = None

    def _painted(self, event: Any) -> None:
        if not self.enabled or self._busy:
            return
        layer = event.source
        atoms = getattr(event, "value", None) or []
        try:
            self.propagate(layer, atoms)
        except Exception as exc:  # never break napari's paint loop
            from napari.utils.notifications import show_error
            show_error(f"hierarchy painting could not follow this stroke ({exc}); the stroke "
                       "itself is kept.")

    def propagate(self, layer: Any, atoms: list) -> dict[str, int]:
        """Apply what the stroke ``atoms`` on ``layer`` imply on the linked layers."""
        if not atoms:
            return {}
        cached = self._cached
        if cached is not None and cached[1].get(layer.name) is layer and all(
                x in self.viewer.layers for x in cached[1].values()):
            h, by_name = cached            # the linked run, as link() read it
        else:
            run = meta(layer).get("run")
            layers = decision_runs(self.viewer.layers).get(run) if run else None
            if not layers:
                return {}
            h, by_name = hierarchy_of_run(layers)
        parts = [atom_change(a) for a in atoms]
        parts = [p for p in parts if p[0] and p[0][0].size]
        if not parts:
            return {}
        shape = layer.data.shape
        flat = np.concatenate([np.ravel_multi_index(p[0], shape) for p in parts])
        vals = np.concatenate([np.asarray(p[1]).ravel() for p in parts])
        flat, vals = flat[::-1], vals[::-1]                # the last write of a voxel wins
        flat, last = np.unique(flat, return_index=True)
        idx = np.unravel_index(flat, shape)
        arrays = {n: x.data for n, x in by_name.items() if x.data.shape == shape}
        edits = implied_edits(h.subset(list(arrays)), layer.name, idx, arrays,
                              values=vals[last])
        self._busy = True
        try:
            for name, (eidx, vals) in edits.items():
                write_as_one_step(by_name[name], [(eidx, vals)])
        finally:
            self._busy = False
        self.last = {n: int(v[1].size) for n, v in edits.items()}
        return self.last
