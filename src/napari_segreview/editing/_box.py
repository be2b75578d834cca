"""Shared plumbing of the editing effects: checks, bounding boxes, footprints.

Private to :mod:`napari_segreview.editing`. Every effect works on the bounding
box of the voxels it can change (padded by its reach), so that memory follows
the structure, not the volume.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from napari_segreview.errors import FormatError

__all__ = ["SLAB_VOXELS", "as_mask", "bbox", "by_slabs", "check_spacing", "connectivity_rank",
           "ellipsoid",
           "label_structure", "label_values", "pad_box", "paste", "reach"]

Box = tuple[slice, ...]
#: Voxels per slab (halo included) that a float64 scipy temporary may cover.
SLAB_VOXELS = 4_000_000


def as_mask(mask: np.ndarray, *, name: str = "the mask", ndims: Sequence[int] = (2, 3)
            ) -> np.ndarray:
    """Return ``mask`` as a bool array (a view when it is bool already)."""
    mask = np.asarray(mask)
    if mask.dtype.kind not in "biuf":
        raise FormatError(f"{name} holds {mask.dtype} data; give a bool or integer array.")
    if mask.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise FormatError(f"{name} is {mask.ndim}-D with shape {mask.shape}; give a {want} array.")
    return mask if mask.dtype == bool else mask != 0


def check_spacing(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    """Voxel size in mm per axis (1 mm each when None), checked positive and finite."""
    if spacing is None:
        return (1.0,) * ndim
    try:
        values = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise FormatError(f"spacing {spacing!r} is not a list of numbers; give one "
                          f"size in mm per axis.") from None
    if len(values) != ndim:
        raise FormatError(f"spacing {values} has {len(values)} values for a {ndim}-D array; "
                          f"give {ndim}.")
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise FormatError(f"spacing {values} must be positive sizes in mm.")
    return values


def connectivity_rank(connectivity: int, ndim: int) -> int:
    """The scikit-image connectivity (1 .. ndim) for 6/26 (3-D) or 4/8 (2-D)."""
    faces = {2: (4, 6), 3: (6,)}
    full = {2: (8, 26), 3: (26,)}
    if connectivity in faces.get(ndim, ()) or connectivity == 1:
        return 1
    if connectivity in full.get(ndim, ()) or connectivity == ndim:
        return ndim
    raise FormatError(f"connectivity {connectivity!r} is not 6 or 26 (4 or 8 in 2-D); "
                      "choose one of those.")


def bbox(mask: np.ndarray) -> Box | None:
    """The smallest box holding every nonzero voxel of ``mask``, or None when empty."""
    box = []
    for ax in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != ax)
        hit = np.flatnonzero(np.any(mask, axis=others) if others else mask)
        if hit.size == 0:
            return None
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(box)


def pad_box(box: Box, pad: Sequence[int] | int, shape: Sequence[int]) -> Box:
    """``box`` grown by ``pad`` voxels per axis, clipped to ``shape``."""
    pads = [pad] * len(shape) if isinstance(pad, int) else list(pad)
    return tuple(slice(max(0, b.start - p), min(n, b.stop + p))
                 for b, p, n in zip(box, pads, shape, strict=True))


def reach(mm: float, spacing: Sequence[float]) -> tuple[int, ...]:
    """How many voxels ``mm`` millimetres span along each axis (rounded up)."""
    return tuple(math.ceil(mm / s - 1e-9) for s in spacing)


def ellipsoid(mm: float, spacing: Sequence[float]) -> np.ndarray:
    """A bool footprint: the voxels within ``mm`` of the centre, in mm."""
    radius = reach(mm, spacing)
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radius)]
    dist2 = sum((g * s) ** 2 for g, s in zip(grids, spacing, strict=True))
    out = dist2 <= mm * mm + 1e-9
    return out if out.any() else np.ones((1,) * len(spacing), bool)


def paste(mask: np.ndarray, box: Box | None, sub: np.ndarray | None) -> np.ndarray:
    """A bool copy of ``mask`` with ``sub`` written into ``box``."""
    out = np.array(mask, dtype=bool, copy=True)
    if box is not None and sub is not None:
        out[box] = sub
    return out


def label_structure(rank: int, ndim: int) -> np.ndarray:
    """The scipy structuring element for a connectivity rank."""
    return ndi.generate_binary_structure(ndim, rank)


def by_slabs(fn: Callable[..., np.ndarray], arrays: Sequence[np.ndarray], halo: int, *,
             dtype: Any, share: float = 1.0) -> np.ndarray:
    """``fn(*arrays)`` computed slab by slab along axis 0, each slab with ``halo`` extra slices.

    Exact for any ``fn`` whose value at a voxel depends only on voxels less than
    ``halo`` slices away along axis 0; bounds the temporaries of ``fn`` to about
    ``share * SLAB_VOXELS`` voxels (or ``6 * halo`` slices, whichever is more, so that
    no more than half of the work is redone in the halos).
    """
    voxels = int(SLAB_VOXELS * share)
    shape = arrays[0].shape
    per_slice = max(1, int(np.prod(shape[1:])))
    step = max(1, voxels // per_slice - 2 * halo, 4 * halo)  # recompute at most 1.5x
    if step >= shape[0]:
        return np.asarray(fn(*arrays), dtype=dtype)
    out = np.empty(shape, dtype)
    for start in range(0, shape[0], step):
        stop = min(shape[0], start + step)
        lo, hi = max(0, start - halo), min(shape[0], stop + halo)
        part = fn(*(a[lo:hi] for a in arrays))
        out[start:stop] = part[start - lo:start - lo + stop - start]
    return out


def label_values(labels: np.ndarray) -> list[int]:
    """The distinct values of an integer array, sorted (bincount for 8/16-bit data)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return []
    if labels.dtype.kind in "ub" and labels.dtype.itemsize <= 2:
        return np.flatnonzero(np.bincount(labels.ravel())).tolist()
    return [int(v) for v in np.unique(labels)]
