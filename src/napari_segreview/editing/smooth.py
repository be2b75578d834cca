"""Smoothing: median, opening, closing and Gaussian, with kernels in millimetres.

- ``median``: a voxel is inside when most voxels of the ellipsoid of radius
  ``mm`` around it are (what :func:`scipy.ndimage.median_filter` gives on a
  binary mask with that footprint), computed as a count with
  :func:`scipy.ndimage.correlate`.
- ``opening`` / ``closing``: by the ellipsoid of radius ``mm``: scipy's binary
  erosion and dilation with that footprint while it is small (up to 400 voxels),
  shrink-then-grow / grow-then-shrink with exact distance transforms
  (:mod:`.margin`) beyond, which give the same result faster. Either way the
  volume's border is not background (unlike :func:`scipy.ndimage.binary_opening`,
  which erodes structures cut by the field of view); away from the border it
  equals ``binary_opening`` / ``binary_closing``.
- ``gaussian``: :func:`scipy.ndimage.gaussian_filter` with sigma ``mm`` (in mm
  per axis), float32, thresholded at 0.5.

All run on the mask's bounding box padded by the kernel's reach, slab by slab.
:func:`smooth_labels` smooths a label map jointly: a Gaussian vote per label
(background included), each voxel to the label with the highest smoothed
score, so the result is still a partition (3D Slicer's "joint smoothing").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from napari_segreview.editing._box import (
    as_mask,
    bbox,
    by_slabs,
    check_spacing,
    ellipsoid,
    label_values,
    pad_box,
    paste,
    reach,
)
from napari_segreview.editing.margin import grow, shrink
from napari_segreview.errors import FormatError

__all__ = ["SMOOTH_METHODS", "smooth", "smooth_labels"]

SMOOTH_METHODS = ("median", "opening", "closing", "gaussian")
_TRUNCATE = 3.0
#: Footprints up to this many voxels use scipy's binary morphology, bigger ones distances.
_SMALL_FOOTPRINT = 400


def _check(mm: float) -> float:
    try:
        mm = float(mm)
    except (TypeError, ValueError):
        raise FormatError(f"the kernel size {mm!r} is not a number; give it in mm.") from None
    if not np.isfinite(mm) or mm <= 0:
        raise FormatError(f"the kernel size {mm} mm must be more than 0.")
    return mm


def _sigmas(mm: float, spacing: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(mm / s for s in spacing)


def smooth(mask: np.ndarray, method: str = "median", *, mm: float = 1.0,
           spacing: Sequence[float] | None = None) -> np.ndarray:
    """Smooth a binary mask with a kernel of ``mm`` millimetres.

    Parameters
    ----------
    mask : ndarray
        2-D or 3-D binary mask.
    method : {"median", "opening", "closing", "gaussian"}
        See the module docstring.
    mm : float
        Radius of the ellipsoid (median, opening, closing) or Gaussian sigma, in mm.
    spacing : sequence of float, optional
        Voxel size in mm per axis.

    Examples
    --------
    >>> m = np.zeros((5, 5), bool); m[1:4, 1:4] = True; m[0, 0] = True
    >>> smooth(m, "opening", mm=1.0).astype(int).tolist()[0]
    [0, 0, 0, 0, 0]
    >>> smooth(m, "median", mm=1.0).astype(int)[2].tolist()
    [0, 1, 1, 1, 0]
    """
    mask = as_mask(mask)
    if method not in SMOOTH_METHODS:
        raise FormatError(f"unknown smoothing {method!r}; use one of {', '.join(SMOOTH_METHODS)}.")
    mm = _check(mm)
    spacing = check_spacing(spacing, mask.ndim)
    box = bbox(mask)
    if box is None:
        return mask.copy()
    if method in ("opening", "closing"):
        foot = ellipsoid(mm, spacing)
        if foot.sum() > _SMALL_FOOTPRINT:   # distance transforms beat big footprints
            first, then = (shrink, grow) if method == "opening" else (grow, shrink)
            return then(first(mask, mm, spacing=spacing), mm, spacing=spacing)
        radius = reach(mm, spacing)
        box = pad_box(box, [2 * r + 1 for r in radius], mask.shape)

        def morph(part: np.ndarray) -> np.ndarray:
            if method == "opening":
                eroded = ndi.binary_erosion(part, foot, border_value=1)
                return ndi.binary_dilation(eroded, foot)
            return ndi.binary_erosion(ndi.binary_dilation(part, foot), foot, border_value=1)

        return paste(mask, box, morph(mask[box]))   # bool temporaries only: no slabs
    if method == "median":
        foot = ellipsoid(mm, spacing)
        need = int(foot.sum()) - int(foot.sum()) // 2
        radius = reach(mm, spacing)
        box = pad_box(box, [r + 1 for r in radius], mask.shape)
        kind = np.uint16 if foot.sum() < 2 ** 16 else np.uint32

        def vote(part: np.ndarray) -> np.ndarray:
            count = ndi.correlate(part.view(np.uint8).astype(kind), foot.astype(kind),
                                  mode="reflect")
            return count >= need

        return paste(mask, box, by_slabs(vote, [mask[box]], radius[0] + 1, dtype=bool))
    sigma = _sigmas(mm, spacing)
    radius = [int(_TRUNCATE * s + 0.5) + 1 for s in sigma]
    box = pad_box(box, radius, mask.shape)

    def blur(part: np.ndarray) -> np.ndarray:
        return ndi.gaussian_filter(part.astype(np.float32), sigma, truncate=_TRUNCATE) >= 0.5

    return paste(mask, box, by_slabs(blur, [mask[box]], radius[0], dtype=bool))


def smooth_labels(labels: np.ndarray, *, mm: float = 1.0,
                  spacing: Sequence[float] | None = None) -> np.ndarray:
    """Smooth every label of a label map at once; the result is still a partition.

    Each label (and the background) is blurred with a Gaussian of sigma ``mm``
    and every voxel goes to the label with the highest score (the lower value
    on a tie), so no voxel gets two labels and none is left without one.

    Examples
    --------
    >>> lab = np.zeros((6, 6), np.uint8); lab[:, 3:] = 2; lab[1:5, :3] = 1; lab[2, 4] = 1
    >>> out = smooth_labels(lab, mm=0.7)
    >>> int(out[2, 4]), out.dtype.name, sorted(np.unique(out).tolist())
    (2, 'uint8', [0, 1, 2])
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu" or labels.ndim not in (2, 3):
        raise FormatError(f"the label map is {labels.dtype} {labels.ndim}-D; give a 2-D or "
                          "3-D integer array.")
    mm = _check(mm)
    spacing = check_spacing(spacing, labels.ndim)
    box = bbox(labels)
    if box is None:
        return labels.copy()
    sigma = _sigmas(mm, spacing)
    radius = [int(_TRUNCATE * s + 0.5) + 1 for s in sigma]
    box = pad_box(box, radius, labels.shape)
    part = labels[box]
    values = label_values(part)

    def vote(sub: np.ndarray) -> np.ndarray:
        best = np.full(sub.shape, -1.0, np.float32)
        out = np.zeros(sub.shape, labels.dtype)
        score = np.empty(sub.shape, np.float32)
        for value in values:
            ndi.gaussian_filter((sub == value).astype(np.float32), sigma, output=score,
                                truncate=_TRUNCATE)
            win = score > best
            out[win] = value
            best[win] = score[win]
        return out

    result = labels.copy()
    result[box] = by_slabs(vote, [part], radius[0], dtype=labels.dtype, share=0.5)
    return result
