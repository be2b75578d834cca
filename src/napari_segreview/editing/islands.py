"""Islands: keep the largest component, remove small ones, keep one, split them apart.

Components are found with ``cc3d.connected_components`` and sized with
``cc3d.statistics`` (``connected-components-3d``, a dependency; keep-largest
calls ``cc3d.largest_k`` itself), or with :func:`scipy.ndimage.label` and
:func:`numpy.bincount` where cc3d is missing (the same voxels), on the bounding
box of the mask only (outside it there is nothing to label), with 6- or
26-connectivity (4 or 8 on a 2-D slice). This is nnU-Net's "keep the largest
component" post-processing and 3D Slicer's *Islands* effect, for one binary
mask; :mod:`.region` runs it per channel or per label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from napari_segreview.editing._box import (
    as_mask,
    bbox,
    check_spacing,
    connectivity_rank,
    label_structure,
    paste,
)
from napari_segreview.errors import FormatError

try:  # a dependency; 3-6x faster than scipy.ndimage.label (bench_editing.py)
    import cc3d
except ImportError:  # pragma: no cover - depends on the environment
    cc3d = None

__all__ = ["component_sizes", "keep_at", "keep_largest", "remove_small", "split_components"]


def component_sizes(mask: np.ndarray, *, connectivity: int = 26
                    ) -> tuple[np.ndarray, np.ndarray, tuple[slice, ...] | None]:
    """Label the components of ``mask`` inside its bounding box.

    Returns
    -------
    labels : ndarray of int
        Component numbers 1..n inside ``box`` (0 = background).
    sizes : ndarray of int64
        ``sizes[i]`` voxels in component ``i`` (``sizes[0]`` is 0).
    box : tuple of slice or None
        Where ``labels`` lies in ``mask``; None (and empty arrays) for an empty mask.

    Examples
    --------
    >>> m = np.array([[1, 1, 0, 1], [0, 0, 0, 1], [1, 0, 0, 0]], bool)
    >>> _, sizes, box = component_sizes(m, connectivity=4)
    >>> sizes.tolist(), box
    ([0, 2, 2, 1], (slice(0, 3, None), slice(0, 4, None)))
    """
    mask = as_mask(mask)
    rank = connectivity_rank(connectivity, mask.ndim)
    box = bbox(mask)
    if box is None:
        return np.zeros((0,) * mask.ndim, np.int32), np.zeros(1, np.int64), None
    part = mask[box]
    if cc3d is not None:
        labels = cc3d.connected_components(_for_cc3d(part),
                                           connectivity=_cc3d_conn(rank, mask.ndim))
        # statistics counts without bincount's int64 copy of the whole label array
        sizes = np.asarray(cc3d.statistics(labels, no_slice_conversion=True)["voxel_counts"],
                           np.int64)
    else:
        labels, _ = ndi.label(part, structure=label_structure(rank, mask.ndim))
        sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels, sizes, box


def _for_cc3d(part: np.ndarray) -> np.ndarray:
    # cc3d 4.1 misreads some strided views (a (3, 1, 1) box of a (3, 1, 2) mask
    # gives one component for two): hand it contiguous memory
    return np.ascontiguousarray(part).view(np.uint8)


def _cc3d_conn(rank: int, ndim: int) -> int:
    return (6 if rank == 1 else 26) if ndim == 3 else (4 if rank == 1 else 8)


def keep_largest(mask: np.ndarray, *, connectivity: int = 26) -> np.ndarray:
    """Keep only the largest connected component (the first one on a tie).

    Examples
    --------
    >>> m = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [0, 0, 0, 1]], bool)
    >>> keep_largest(m, connectivity=4).astype(int).tolist()
    [[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    """
    mask = as_mask(mask)
    if cc3d is not None:  # the same rule (argmax: first on a tie), one pass less
        box = bbox(mask)
        if box is None:
            return np.zeros(mask.shape, bool)
        conn = _cc3d_conn(connectivity_rank(connectivity, mask.ndim), mask.ndim)
        largest = cc3d.largest_k(_for_cc3d(mask[box]), k=1, connectivity=conn)
        return paste(np.zeros(mask.shape, bool), box, largest != 0)
    labels, sizes, box = component_sizes(mask, connectivity=connectivity)
    if box is None:
        return np.zeros(mask.shape, bool)
    return paste(np.zeros(mask.shape, bool), box, labels == int(np.argmax(sizes)))


def remove_small(mask: np.ndarray, *, voxels: int | None = None, mm3: float | None = None,
                 spacing: Sequence[float] | None = None, connectivity: int = 26) -> np.ndarray:
    """Remove the components smaller than ``voxels`` voxels or ``mm3`` cubic millimetres.

    Give one of ``voxels`` and ``mm3``; a component of exactly that size is kept.

    Examples
    --------
    >>> m = np.array([[1, 1, 0, 1], [1, 0, 0, 0]], bool)
    >>> remove_small(m, voxels=2, connectivity=4).astype(int).tolist()
    [[1, 1, 0, 0], [1, 0, 0, 0]]
    >>> remove_small(m, mm3=0.5, spacing=(0.5, 0.5)).astype(int).tolist()
    [[1, 1, 0, 0], [1, 0, 0, 0]]
    """
    mask = as_mask(mask)
    if (voxels is None) == (mm3 is None):
        raise FormatError("give either a size in voxels or a volume in mm^3 to remove "
                          "components below, not both or neither.")
    if voxels is not None:
        if not float(voxels) >= 0:
            raise FormatError(f"the size {voxels!r} must be a count of at least 0 voxels.")
        limit = float(voxels)
    else:
        if not float(mm3) >= 0:
            raise FormatError(f"the volume {mm3!r} must be at least 0 mm^3.")
        limit = float(mm3) / float(np.prod(check_spacing(spacing, mask.ndim)))
    labels, sizes, box = component_sizes(mask, connectivity=connectivity)
    if box is None:
        return np.zeros(mask.shape, bool)
    keep = sizes >= limit - 1e-9
    keep[0] = False
    return paste(np.zeros(mask.shape, bool), box, keep[labels])


def keep_at(mask: np.ndarray, point: Sequence[int], *, connectivity: int = 26) -> np.ndarray:
    """Keep only the component that holds ``point`` (voxel indices, one per axis).

    Raises
    ------
    FormatError
        If the point is outside the array or on background.

    Examples
    --------
    >>> m = np.array([[1, 0, 1], [1, 0, 1]], bool)
    >>> keep_at(m, (1, 2)).astype(int).tolist()
    [[0, 0, 1], [0, 0, 1]]
    """
    mask = as_mask(mask)
    point = tuple(round(float(p)) for p in point)
    if len(point) != mask.ndim or not all(
            0 <= p < n for p, n in zip(point, mask.shape, strict=True)):
        raise FormatError(f"the point {point} is outside the {mask.shape} array; "
                          "pick a voxel inside the volume.")
    if not mask[point]:
        raise FormatError(f"the point {point} is on background; pick a voxel inside a structure "
                          "to keep it.")
    labels, _, box = component_sizes(mask, connectivity=connectivity)
    local = tuple(p - b.start for p, b in zip(point, box, strict=True))
    return paste(np.zeros(mask.shape, bool), box, labels == labels[local])


def split_components(mask: np.ndarray, *, connectivity: int = 26) -> tuple[np.ndarray, int]:
    """Give each component its own label, 1 for the largest, 2 for the next, and so on.

    Returns the label map (uint16, or uint32 beyond 65,535 components) and the count.

    Examples
    --------
    >>> m = np.array([[1, 0, 1], [0, 0, 1]], bool)
    >>> labels, n = split_components(m)
    >>> labels.tolist(), n
    ([[2, 0, 1], [0, 0, 1]], 2)
    """
    labels, sizes, box = component_sizes(mask, connectivity=connectivity)
    n = len(sizes) - 1
    dtype = np.uint16 if n < 2 ** 16 else np.uint32
    out = np.zeros(np.shape(mask), dtype)
    if box is None:
        return out, 0
    order = np.argsort(-sizes[1:], kind="stable") + 1  # component numbers, largest first
    rank = np.zeros(len(sizes), dtype)
    rank[order] = np.arange(1, n + 1, dtype=dtype)
    out[box] = rank[labels]
    return out, n
