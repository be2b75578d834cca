"""Fill between slices: morphological contour interpolation between key slices.

The idea of ITK's ``MorphologicalContourInterpolator`` (Zukić et al., 2016),
done with signed distances: between two consecutive key slices ``a < b`` along
``axis``, each slice ``t`` in between gets the shapes whose signed distance
maps (negative inside, in mm with the in-plane spacing) are blended with
weight ``w = (t - a) / (b - a)``. Shapes are matched first, slice component
to slice component:

- components that overlap form a group; a one-to-one pair is aligned on its
  centroids before blending and moved along the line between them (so a bent
  tube that moves more than its width between key slices stays whole), a group
  that splits or merges is blended in place;
- a component that overlaps nothing is paired with the nearest free component
  of the other slice when it is close (within four times their summed radii,
  or at any distance when each slice has one free component), and otherwise
  shrinks to its centroid across the gap (the cap of a structure
  that ends between key slices).

Key slices are kept as they are, and so is everything outside the first and
last key slice; the slices between are replaced. The key slices are
choosable; the default is every slice that holds foreground (ITK's), and the
panel passes the slices the user corrected.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from napari_segreview.editing._box import as_mask, bbox, check_spacing, label_values, pad_box
from napari_segreview.errors import FormatError

__all__ = ["interpolate_labels", "interpolate_slices", "key_slices_of"]

_EIGHT = np.ones((3, 3), bool)
_PAD = 2
#: Free components this many summed radii apart (or closer) are paired.
_NEAR = 4.0


def key_slices_of(mask: np.ndarray, axis: int = 0) -> list[int]:
    """The slices along ``axis`` that hold foreground (the default key slices).

    Examples
    --------
    >>> m = np.zeros((5, 2, 2), bool); m[1] = m[3] = True
    >>> key_slices_of(m)
    [1, 3]
    """
    mask = np.asarray(mask)
    others = tuple(a for a in range(mask.ndim) if a != axis % mask.ndim)
    return np.flatnonzero(np.any(mask, axis=others)).tolist()


def _check_keys(key_slices: Sequence[int] | None, mask: np.ndarray, axis: int) -> list[int]:
    n = mask.shape[axis]
    if key_slices is None:
        keys = key_slices_of(mask, axis)
        if len(keys) < 2:
            raise FormatError(f"only {len(keys)} slice(s) along axis {axis} hold the structure; "
                              "draw it on at least two slices to interpolate between them.")
        return keys
    try:
        keys = sorted({int(k) for k in key_slices})
    except (TypeError, ValueError):
        raise FormatError(f"key slices {key_slices!r} are not slice numbers; "
                          "give whole numbers like 3,9,15.") from None
    bad = [k for k in keys if not 0 <= k < n]
    if bad:
        raise FormatError(f"key slice {bad[0]} is outside 0..{n - 1} along axis {axis}; "
                          "give slices inside the volume.")
    if len(keys) < 2:
        raise FormatError(f"{len(keys)} key slice given; give at least two slices to "
                          "interpolate between.")
    return keys


def _sdf(shape_mask: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    inside = ndi.distance_transform_edt(shape_mask, sampling=spacing)
    if shape_mask.all():
        return (-inside).astype(np.float32)
    outside = ndi.distance_transform_edt(~shape_mask, sampling=spacing)
    return (outside - inside).astype(np.float32)


def _point_sdf(shape: tuple[int, int], centre: np.ndarray, spacing: tuple[float, float]
               ) -> np.ndarray:
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    return np.sqrt(((yy - centre[0]) * spacing[0]) ** 2
                   + ((xx - centre[1]) * spacing[1]) ** 2).astype(np.float32)


class _Side:
    """The components of one key slice."""

    def __init__(self, plane: np.ndarray, spacing: tuple[float, float]):
        self.labels, self.n = ndi.label(plane, structure=_EIGHT)
        idx = np.arange(1, self.n + 1)
        self.areas = ndi.sum_labels(plane, self.labels, idx) if self.n else np.zeros(0)
        self.centres = (np.array(ndi.center_of_mass(plane, self.labels, idx)).reshape(-1, 2)
                        if self.n else np.zeros((0, 2)))
        self.radii = np.sqrt(self.areas * spacing[0] * spacing[1] / np.pi)


def _groups(a: _Side, b: _Side, spacing: tuple[float, float]
            ) -> list[tuple[list[int], list[int], bool]]:
    """Matched components: (components of a, components of b, align on centroids)."""
    parent = list(range(a.n + b.n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    both = (a.labels > 0) & (b.labels > 0)
    pairs = set(zip(a.labels[both].tolist(), b.labels[both].tolist(), strict=True))
    for i, j in pairs:
        parent[find(i - 1)] = find(a.n + j - 1)
    linked_a = {i - 1 for i, _ in pairs}
    linked_b = {j - 1 for _, j in pairs}
    free_a = [i for i in range(a.n) if i not in linked_a]
    free_b = [j for j in range(b.n) if j not in linked_b]
    scale = np.array(spacing)
    options = sorted((float(np.linalg.norm((a.centres[i] - b.centres[j]) * scale)), i, j)
                     for i in free_a for j in free_b)
    used_a: set[int] = set()
    used_b: set[int] = set()
    alone = len(free_a) == 1 and len(free_b) == 1
    for dist, i, j in options:
        if i in used_a or j in used_b or (dist > _NEAR * (a.radii[i] + b.radii[j])
                                          and not alone):
            continue
        used_a.add(i)
        used_b.add(j)
        parent[find(i)] = find(a.n + j)
    members: dict[int, tuple[list[int], list[int]]] = {}
    for i in range(a.n):
        members.setdefault(find(i), ([], []))[0].append(i + 1)
    for j in range(b.n):
        members.setdefault(find(a.n + j), ([], []))[1].append(j + 1)
    return [(ia, ib, len(ia) == 1 and len(ib) == 1) for ia, ib in members.values()]


def _blend_pair(plane_a: np.ndarray, plane_b: np.ndarray, weights: Sequence[float],
                spacing: tuple[float, float]) -> list[np.ndarray]:
    """Signed distance maps (float32, whole slice) for each weight between two key slices."""
    shape = plane_a.shape
    out = [np.full(shape, np.inf, np.float32) for _ in weights]
    a, b = _Side(plane_a, spacing), _Side(plane_b, spacing)
    for comps_a, comps_b, align in _groups(a, b, spacing):
        in_a = np.isin(a.labels, comps_a) if comps_a else np.zeros(shape, bool)
        in_b = np.isin(b.labels, comps_b) if comps_b else np.zeros(shape, bool)
        box = pad_box(bbox(in_a | in_b), _PAD, shape)
        origin = np.array([s.start for s in box], float)
        win = tuple(s.stop - s.start for s in box)
        ca = a.centres[comps_a[0] - 1] - origin if comps_a else None
        cb = b.centres[comps_b[0] - 1] - origin if comps_b else None
        sd_a = _sdf(in_a[box], spacing) if comps_a else _point_sdf(win, cb, spacing)
        sd_b = _sdf(in_b[box], spacing) if comps_b else _point_sdf(win, ca, spacing)
        for sd_out, w in zip(out, weights, strict=True):
            if align:
                centre = (1 - w) * ca + w * cb
                moved_a = ndi.shift(sd_a, centre - ca, order=1, mode="nearest")
                moved_b = ndi.shift(sd_b, centre - cb, order=1, mode="nearest")
                blend = (1 - w) * moved_a + w * moved_b
            else:
                blend = (1 - w) * sd_a + w * sd_b
            np.minimum(sd_out[box], blend, out=sd_out[box])
    return out


def _fill(planes: np.ndarray, keys: list[int], spacing: tuple[float, float], emit) -> None:
    """Call ``emit(t, sd)`` for every slice strictly between consecutive keys."""
    for a, b in itertools.pairwise(keys):
        if b - a < 2:
            continue
        ts = list(range(a + 1, b))
        weights = [(t - a) / (b - a) for t in ts]
        plane_a, plane_b = planes[a], planes[b]
        if not plane_a.any() and not plane_b.any():
            for t in ts:
                emit(t, None)
            continue
        for t, sd in zip(ts, _blend_pair(plane_a, plane_b, weights, spacing), strict=True):
            emit(t, sd)


def _plane_spacing(spacing: Sequence[float] | None, ndim: int, axis: int
                   ) -> tuple[float, float]:
    full = check_spacing(spacing, ndim)
    return tuple(s for i, s in enumerate(full) if i != axis)  # type: ignore[return-value]


def _axis(axis: int, ndim: int) -> int:
    if ndim != 3:
        raise FormatError(f"fill between slices needs a 3-D volume, not a {ndim}-D array; "
                          "open the whole stack.")
    if not -3 <= int(axis) < 3:
        raise FormatError(f"axis {axis} does not exist in a 3-D volume; use 0, 1 or 2.")
    return int(axis) % 3


def interpolate_slices(mask: np.ndarray, *, axis: int = 0, key_slices: Sequence[int] | None = None,
                       spacing: Sequence[float] | None = None) -> np.ndarray:
    """Fill the slices between key slices by morphological contour interpolation.

    Parameters
    ----------
    mask : ndarray
        3-D binary mask.
    axis : int
        The axis the key slices are taken along.
    key_slices : sequence of int, optional
        The slices to interpolate between; default: every slice with foreground.
    spacing : sequence of float, optional
        Voxel size in mm per axis (the in-plane part shapes the distance maps).

    Raises
    ------
    FormatError
        Fewer than two key slices, a key slice outside the volume, a 2-D mask.

    Examples
    --------
    >>> m = np.zeros((5, 9, 9), bool)
    >>> m[0, 2:7, 2:7] = True; m[4, 3:6, 3:6] = True
    >>> out = interpolate_slices(m)
    >>> [int(out[z].sum()) for z in range(5)]
    [25, 25, 21, 9, 9]
    """
    mask = as_mask(mask, ndims=(3,))
    axis = _axis(axis, mask.ndim)
    keys = _check_keys(key_slices, mask, axis)
    plane_spacing = _plane_spacing(spacing, mask.ndim, axis)
    out = mask.copy()
    view = np.moveaxis(out, axis, 0)
    planes = np.moveaxis(mask, axis, 0)

    def emit(t: int, sd: np.ndarray | None) -> None:
        view[t] = False if sd is None else sd <= 0

    _fill(planes, keys, plane_spacing, emit)
    return out


def interpolate_labels(labels: np.ndarray, *, axis: int = 0,
                       key_slices: Sequence[int] | None = None,
                       spacing: Sequence[float] | None = None,
                       labels_to_edit: Sequence[int] | None = None) -> np.ndarray:
    """Interpolate every label (or ``labels_to_edit``) of a label map between key slices.

    Each label is interpolated on its own (key slices: ``key_slices``, or the
    slices holding that label); where two labels claim a voxel, the one deeper
    inside (lower signed distance) wins. Between a label's key slices its old
    voxels are cleared first; other labels are never overwritten.

    Examples
    --------
    >>> lab = np.zeros((5, 8, 8), np.uint8)
    >>> lab[0, 1:4, 1:4] = lab[4, 1:4, 1:4] = 1; lab[0, 5:8, 5:8] = lab[4, 5:8, 5:8] = 2
    >>> out = interpolate_labels(lab)
    >>> [sorted(np.unique(out[z]).tolist()) for z in (2,)], int((out[2] == 1).sum())
    ([[0, 1, 2]], 9)
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu":
        raise FormatError(f"the label map holds {labels.dtype} data; give an integer array.")
    axis = _axis(axis, labels.ndim)
    plane_spacing = _plane_spacing(spacing, labels.ndim, axis)
    planes = np.moveaxis(labels, axis, 0)
    values = ([int(v) for v in labels_to_edit] if labels_to_edit is not None
              else [v for v in label_values(labels) if v != 0])
    if not values:
        raise FormatError("the label map is empty; draw a structure on at least two slices "
                          "to interpolate between them.")
    out = labels.copy()
    view = np.moveaxis(out, axis, 0)
    best: dict[int, np.ndarray] = {}
    for value in values:
        inside = planes == value
        keys = _check_keys(key_slices, inside, 0)

        def emit(t: int, sd: np.ndarray | None, value: int = value) -> None:
            plane = view[t]
            plane[plane == value] = 0
            if sd is None:
                return
            prior = best.setdefault(t, np.full(plane.shape, np.inf, np.float32))
            win = (sd <= 0) & (sd < prior) & ((plane == 0) | np.isin(plane, values))
            plane[win] = value
            prior[win] = sd[win]

        _fill(inside, keys, plane_spacing, emit)
    return out
