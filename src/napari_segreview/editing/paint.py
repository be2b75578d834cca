"""Intensity-limited painting and the magic wand: which voxels a stroke may change.

Numpy only. The Edit panel restricts napari's own brush, fill and polygon to
the voxels whose image intensity lies in an :class:`IntensityRange` (in the
image's units: HU for CT), by intersecting each stroke's mask with
:func:`in_range` on the stroke's bounding box; presets come from the CT
windows of :mod:`napari_segreview.card.windows` (:func:`range_presets`). The
magic wand (:func:`magic_wand`) is a flood fill from the clicked voxel over
the voxels whose intensity is within a tolerance of the seed's
(``skimage.segmentation.flood``), optionally also within the range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from napari_segreview.card.windows import PRESETS, preset_limits
from napari_segreview.errors import FormatError

__all__ = ["IntensityRange", "corrected_slices", "in_range", "limit_indices", "magic_wand",
           "range_presets"]


@dataclass(frozen=True)
class IntensityRange:
    """The intensities a stroke may paint over: ``low <= value <= high`` (both included).

    Examples
    --------
    >>> IntensityRange(200, 3000).contains(np.array([100, 200, 3000, 3001]))
    array([False,  True,  True, False])
    >>> IntensityRange(5, 1)
    Traceback (most recent call last):
    ...
    napari_segreview.errors.FormatError: the intensity range 5..1 is empty: make low at most high.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            raise FormatError(f"the intensity range {self.low}..{self.high} must be finite "
                              "numbers.")
        if self.low > self.high:
            raise FormatError(f"the intensity range {self.low:g}..{self.high:g} is empty: "
                              "make low at most high.")

    def contains(self, values: np.ndarray) -> np.ndarray:
        """Boolean array: which ``values`` lie in the range (no float copy of integer data)."""
        v = np.asarray(values)
        return (v >= self.low) & (v <= self.high)


def range_presets() -> dict[str, tuple[float, float]]:
    """Painting ranges named after the CT windows: each window's contrast limits, in HU.

    Examples
    --------
    >>> range_presets()["bone"]
    (-500.0, 1300.0)
    """
    return {name: preset_limits(name) for name in PRESETS}


def _region(image: np.ndarray, key: Sequence[slice]) -> np.ndarray:
    return np.asarray(image[tuple(key)])


def in_range(image: np.ndarray, rng: IntensityRange | None,
             key: Sequence[slice] | None = None) -> np.ndarray | None:
    """Boolean mask of ``image`` (or of its box ``key``) within ``rng``; None for no range.

    Examples
    --------
    >>> img = np.array([[0, 100], [250, 900]])
    >>> in_range(img, IntensityRange(100, 300)).astype(int)
    array([[0, 1],
           [1, 0]])
    >>> in_range(img, IntensityRange(100, 300), (slice(1, 2), slice(None))).astype(int)
    array([[1, 0]])
    >>> in_range(img, None) is None
    True
    """
    if rng is None:
        return None
    region = np.asarray(image) if key is None else _region(image, key)
    return rng.contains(region)


def limit_indices(image: np.ndarray, rng: IntensityRange | None,
                  indices: tuple[np.ndarray, ...]) -> np.ndarray:
    """Which of the voxels ``indices`` (one integer array per axis) lie in ``rng``.

    Returns a boolean array as long as the index arrays (all True without a range).

    Examples
    --------
    >>> img = np.array([[0, 100], [250, 900]])
    >>> limit_indices(img, IntensityRange(100, 300), (np.array([0, 1, 1]), np.array([0, 0, 1])))
    array([False,  True, False])
    """
    n = len(indices[0]) if indices else 0
    if rng is None or n == 0:
        return np.ones(n, bool)
    idx = tuple(np.asarray(i, np.intp) for i in indices)
    lo = [int(i.min()) for i in idx]
    box = tuple(slice(a, int(i.max()) + 1) for a, i in zip(lo, idx, strict=True))
    region = np.asarray(image[box])       # only the stroke's box (a lazy image stays lazy)
    return rng.contains(region[tuple(i - a for i, a in zip(idx, lo, strict=True))])


def magic_wand(image: np.ndarray, seed: Sequence[int], tolerance: float, *,
               rng: IntensityRange | None = None, connectivity: int = 1) -> np.ndarray:
    """The connected voxels around ``seed`` whose intensity is within ``tolerance`` of it.

    A flood fill (``skimage.segmentation.flood``) on ``image`` (a slice or a
    volume) from ``seed``; with ``rng`` the region also stays inside that range
    (a seed outside it gives an empty region).

    Parameters
    ----------
    image : ndarray
        Intensities (any real dtype; integer images are not copied to float).
    seed : sequence of int
        The clicked voxel, one index per axis of ``image``.
    tolerance : float
        Largest absolute difference from the seed's intensity (>= 0).
    rng : IntensityRange, optional
    connectivity : int
        1 for face neighbours (4 in 2-D, 6 in 3-D), ``image.ndim`` for all (8 / 26).

    Returns
    -------
    ndarray of bool, the shape of ``image``.

    Examples
    --------
    >>> img = np.array([[0, 0, 50], [0, 9, 50], [50, 50, 0]])
    >>> magic_wand(img, (0, 0), 10).astype(int)
    array([[1, 1, 0],
           [1, 1, 0],
           [0, 0, 0]])
    >>> magic_wand(img, (0, 0), 10, rng=IntensityRange(0, 5)).astype(int)
    array([[1, 1, 0],
           [1, 0, 0],
           [0, 0, 0]])
    """
    from skimage.segmentation import flood

    img = np.asarray(image)
    seed = tuple(int(s) for s in seed)
    if len(seed) != img.ndim or any(not 0 <= s < n for s, n in zip(seed, img.shape,
                                                                    strict=True)):
        raise FormatError(f"the magic wand's seed {seed} lies outside the image of shape "
                          f"{img.shape}: click inside the image.")
    if tolerance < 0 or not np.isfinite(tolerance):
        raise FormatError(f"the magic wand's tolerance must be 0 or more, not {tolerance}.")
    if not 1 <= connectivity <= img.ndim:
        raise FormatError(f"connectivity must be 1..{img.ndim} for a {img.ndim}-D image, "
                          f"not {connectivity}.")
    work = img
    if rng is not None:
        ok = rng.contains(img)
        if not ok[seed]:
            return np.zeros(img.shape, bool)
        # Voxels outside the range get a value the tolerance can never reach.
        far = float(img[seed]) + 2.0 * float(tolerance) + 1.0
        work = np.where(ok, img.astype(np.float32, copy=False), np.float32(far))
    if work.dtype != np.float64:
        work = work.astype(np.float32, copy=False)   # HU fit float32 exactly; no float64 copy
    return flood(work, seed, tolerance=float(tolerance), connectivity=connectivity)


def corrected_slices(current: np.ndarray, original: np.ndarray, *, axis: int = 0,
                     block: int = 16) -> list[int]:
    """The slices along ``axis`` where ``current`` differs from ``original`` (the user's strokes).

    What "interpolate my corrections" takes as key slices: the slices a user
    painted on, against the model's prediction. Compared ``block`` slices at a
    time (no whole-volume temporary).

    Examples
    --------
    >>> before = np.zeros((5, 3, 3), np.uint8)
    >>> after = before.copy(); after[1, 0, 0] = 1; after[3, 2, 2] = 1
    >>> corrected_slices(after, before)
    [1, 3]
    >>> corrected_slices(after, before, axis=2)
    [0, 2]
    """
    a, b = np.asarray(current), np.asarray(original)
    if a.shape != b.shape:
        raise FormatError(f"the layer has shape {a.shape} and its prediction {b.shape}: they "
                          "cannot be compared.")
    a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    out: list[int] = []
    for start in range(0, a.shape[0], block):
        diff = a[start:start + block] != b[start:start + block]
        hit = diff.reshape(diff.shape[0], -1).any(axis=1)
        out += [start + int(i) for i in np.flatnonzero(hit)]
    return out
