"""The Edit panel's effects on a Labels layer: compute (worker side), preview, apply (no widgets).

An :class:`EffectRequest` says what to run on which layer; :func:`compute`
calls the core (:func:`napari_segreview.editing.region.edit_mask` for a binary
mask, :func:`~napari_segreview.editing.region.edit_labels` for a label map) on
a snapshot of the layer, in a worker thread. :func:`apply_result` writes the
result's changed voxels with ``Labels.data_setitem`` inside one
``block_history``, the path the Review fixes take: one Ctrl+Z undoes the
whole effect, the ``paint`` event it emits makes the session autosave it and
the Review panel re-check. :func:`preview_data` is what the preview layer
shows: 1 where the effect adds, 2 where it removes. :func:`corrected_slices`
gives "interpolate my corrections" its key slices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_segreview._napari._layers import is_label_map
from napari_segreview._napari._meta import meta
from napari_segreview._napari._undo import write_as_one_step
from napari_segreview.editing.paint import corrected_slices

__all__ = ["EFFECT_LABELS", "VOLUME_WIDE", "EffectRequest", "apply_result", "compute",
           "corrected_slices_of", "layer_is_label_map",
           "preview_data"]

#: Effect name (the core's) -> what the panel shows.
EFFECT_LABELS = {
    "interpolate": "Fill between slices",
    "keep-largest": "Keep the largest island",
    "remove-small": "Remove small islands",
    "keep-at": "Keep the island under the cursor",
    "split": "Split islands into labels",
    "fill-holes": "Fill holes",
    "smooth": "Smooth",
    "grow": "Grow (margin)",
    "shrink": "Shrink (margin)",
    "copy": "Copy from",
    "union": "Add (union with)",
    "intersect": "Intersect with",
    "subtract": "Subtract",
    "invert": "Invert",
    "clear": "Clear",
}
#: Effects whose result is previewed before Apply when run on the volume or a slab.
VOLUME_WIDE = tuple(EFFECT_LABELS)


@dataclass
class EffectRequest:
    """One effect to run: on which data, where, with which parameters."""

    effect: str
    data: np.ndarray                  # a snapshot of the layer (the worker never sees the layer)
    label_map: bool
    spacing: tuple[float, ...] | None
    where: str = "volume"
    axis: int = 0
    index: int = 0
    thickness: int = 1
    labels_to_edit: list[int] | None = None
    params: dict[str, Any] = field(default_factory=dict)


def compute(req: EffectRequest) -> Any:
    """Run the core effect (worker side); returns its ``EditResult``."""
    from napari_segreview.editing import region

    opts = dict(spacing=req.spacing, where=req.where, axis=req.axis, index=req.index,
                thickness=req.thickness, **req.params)
    if req.label_map or req.effect == "split":
        return region.edit_labels(req.data, req.effect, labels_to_edit=req.labels_to_edit,
                                  **opts)
    return region.edit_mask(req.data, req.effect, **opts)


def apply_result(layer: Any, result: Any) -> int:
    """Write ``result``'s changes to ``layer`` as one undo step; returns the voxels changed."""
    return write_as_one_step(layer, [change.voxels(layer.data) for change in result.changes])


def preview_data(data: np.ndarray, result: Any) -> np.ndarray:
    """A uint8 array like ``data``: 1 where ``result`` turns voxels on, 2 off, 3 relabels.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segreview.editing.region import edit_mask
    >>> mask = np.array([[0, 1, 1, 0]], np.uint8)
    >>> preview_data(mask, edit_mask(mask, "invert", spacing=(1, 1), value=1)).tolist()
    [[1, 2, 2, 1]]
    """
    out = np.zeros(data.shape, np.uint8)
    for change in result.changes:
        idx, vals = change.voxels(data)
        if not idx or not np.asarray(idx[0]).size:
            continue
        old = np.asarray(data[idx])
        vals = np.broadcast_to(np.asarray(vals), old.shape)
        out[idx] = np.where(old == 0, 1, np.where(vals == 0, 2, 3)).astype(np.uint8)
    return out


def layer_is_label_map(layer: Any) -> bool:
    """Whether the layer is a label map (its SegReview metadata lists classes, or values > 1)."""
    m = meta(layer)
    if m:
        return is_label_map(m)
    return bool(np.asarray(layer.data).max(initial=0) > 1)


def corrected_slices_of(layer: Any, axis: int) -> list[int]:
    """The slices along ``axis`` where ``layer`` differs from the model's prediction.

    The prediction is kept in the layer's metadata (and in its session, so a
    restored session still knows what the user corrected). Empty without one.
    """
    pred = meta(layer).get("prediction")
    if not isinstance(pred, np.ndarray) or pred.shape != layer.data.shape:
        return []
    return corrected_slices(layer.data, pred, axis=axis)
