"""Which core function an effect name calls, on a binary region or a label-map region.

Private to :mod:`napari_segreview.editing`; :mod:`.region` wraps the results
into undoable changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_segreview.editing.holes import fill_holes
from napari_segreview.editing.interpolate import interpolate_labels, interpolate_slices
from napari_segreview.editing.islands import (
    keep_at,
    keep_largest,
    remove_small,
    split_components,
)
from napari_segreview.editing.logic import LOGICAL_OPS, logical
from napari_segreview.editing.margin import grow, grow_labels, shrink, shrink_labels
from napari_segreview.editing.smooth import smooth, smooth_labels
from napari_segreview.errors import FormatError

__all__ = ["EFFECTS", "binary_effect", "label_effect"]

EFFECTS = ("keep-largest", "remove-small", "keep-at", "split", "fill-holes", "grow",
           "shrink", "smooth", "interpolate", *LOGICAL_OPS)
Box = tuple[slice, ...]


def _local(box: Box, point: Sequence[int], drop: int | None) -> tuple[int, ...]:
    point = [round(float(p)) for p in point]
    if len(point) != len(box):
        raise FormatError(f"the point {tuple(point)} has {len(point)} coordinates for a "
                          f"{len(box)}-D array; give one index per axis.")
    if not all(b.start <= p < b.stop for p, b in zip(point, box, strict=True)):
        raise FormatError(f"the point {tuple(point)} is outside the region being edited "
                          f"({', '.join(f'{b.start}..{b.stop - 1}' for b in box)}); choose a "
                          "voxel inside it.")
    out = [p - b.start for p, b in zip(point, box, strict=True)]
    if drop is not None:
        out.pop(drop)
    return tuple(out)


def _keys(keys: Sequence[int] | None, box: Box, axis: int, size: int | None
          ) -> list[int] | None:
    """Key slices in region coordinates (those inside the region); checked against the array."""
    if keys is None:
        return None
    try:
        keys = [int(k) for k in keys]
    except (TypeError, ValueError):
        raise FormatError(f"key slices {keys!r} are not slice numbers; give whole numbers "
                          "like 3,9,15.") from None
    for k in keys:
        if k < 0 or (size is not None and k >= size):
            raise FormatError(f"key slice {k} is outside 0..{(size or 1) - 1} along axis "
                              f"{axis}; give slices inside the volume.")
    return [k - box[axis].start for k in keys if box[axis].start <= k < box[axis].stop]


def binary_effect(effect: str, m: np.ndarray, spacing: tuple[float, ...], params: dict[str, Any],
            box: Box, drop: int | None, axis: int, modifier: np.ndarray | None) -> np.ndarray:
    """The effect on a binary region ``m`` (2-D when ``drop`` is the dropped slice axis)."""
    conn = {"connectivity": int(params.get("connectivity", 26))}
    if effect == "keep-largest":
        return keep_largest(m, **conn)
    if effect == "remove-small":
        return remove_small(m, voxels=params.get("voxels"), mm3=params.get("mm3"),
                            spacing=spacing, **conn)
    if effect == "keep-at":
        if "point" not in params:
            raise FormatError("keep-at needs a point; pick a voxel of the component to keep.")
        return keep_at(m, _local(box, params["point"], drop), **conn)
    if effect == "fill-holes":
        per_slice = bool(params.get("per_slice", False)) and m.ndim == 3
        return fill_holes(m, per_slice=per_slice, axis=axis)
    if effect in ("grow", "shrink"):
        fn = grow if effect == "grow" else shrink
        return fn(m, params.get("mm", 1.0), spacing=spacing)
    if effect == "smooth":
        return smooth(m, params.get("method", "median"), mm=params.get("mm", 1.0),
                      spacing=spacing)
    if effect == "interpolate":
        if m.ndim != 3:
            raise FormatError("fill between slices works on a slab or the volume, not on one "
                              "slice; choose the volume.")
        keys = _keys(params.get("key_slices"), box, axis, params.get("size"))
        return interpolate_slices(m, axis=axis, key_slices=keys, spacing=spacing)
    if effect in LOGICAL_OPS:
        return logical(effect, m, modifier)
    raise FormatError(f"unknown effect {effect!r}; use one of {', '.join(EFFECTS)}.")


def label_effect(effect: str, part: np.ndarray, values: list[int], sp: tuple[float, ...],
                  params: dict[str, Any], box: Box, drop: int | None, axis: int) -> np.ndarray:
    """The effect on a label-map region ``part``, for the label ``values`` being edited."""
    keep = np.isin(part, [0, *values])
    if effect == "grow":
        grown = grow_labels(part, params.get("mm", 1.0), spacing=sp)
        return np.where((part == 0) & np.isin(grown, values), grown, part)
    if effect == "smooth":
        if params.get("method", "gaussian") != "gaussian":
            raise FormatError("a label map is smoothed jointly (Gaussian vote); use "
                              "method gaussian, or edit channels one by one.")
        smoothed = smooth_labels(part, mm=params.get("mm", 1.0), spacing=sp)
        return np.where(keep & np.isin(smoothed, [0, *values]), smoothed, part)
    if effect == "shrink":
        shrunk = shrink_labels(part, params.get("mm", 1.0), spacing=sp)
        return np.where(np.isin(part, values), shrunk, part)
    if effect == "interpolate":
        if part.ndim != 3:
            raise FormatError("fill between slices works on a slab or the volume, not on one "
                              "slice; choose the volume.")
        keys = _keys(params.get("key_slices"), box, axis, params.get("size"))
        return interpolate_labels(part, axis=axis, key_slices=keys, spacing=sp,
                                  labels_to_edit=values)
    if effect in LOGICAL_OPS:
        raise FormatError(f"{effect} combines channels; split the label map into channels "
                          "first (segreview convert --to multihot).")
    out = part.copy()
    top = int(part.max()) if part.size else 0
    if effect == "keep-at":
        if "point" not in params:
            raise FormatError("keep-at needs a point; pick a voxel of the component to keep.")
        point = _local(box, params["point"], drop)   # checked inside the region
        if int(part[point]) not in values:
            raise FormatError(f"the point {tuple(params['point'])} is on background or on a "
                              "label not being edited; pick a voxel inside a structure.")
        values = [int(part[point])]
    for v in values:
        m = part == v
        if not m.any():
            continue
        if effect == "split":
            comps, n = split_components(m, connectivity=int(params.get("connectivity", 26)))
            if n > 1:
                if top + n - 1 > np.iinfo(part.dtype).max:
                    raise FormatError(f"splitting needs label values up to {top + n - 1}, "
                                      f"more than {part.dtype} holds; convert to uint16 first.")
                extra = comps > 1
                out[extra] = (comps[extra].astype(np.int64) + top - 1).astype(part.dtype)
                top += n - 1
            continue
        new = binary_effect(effect, m, sp, params, box, drop, axis, None)
        out[m & ~new] = 0
        out[new & ~m & (out == 0)] = v
    return out
