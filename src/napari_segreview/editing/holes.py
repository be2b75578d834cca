"""Fill holes: background voxels the outside cannot reach, in 3-D or slice by slice.

A hole is a background region not connected (through faces) to the border of
the array, as :func:`scipy.ndimage.binary_fill_holes` defines it. In 3-D a
tube open at both ends has no hole; ``per_slice=True`` fills the lumen of each
cross-section along ``axis`` instead (3D Slicer's "fill holes" per slice). Runs
on the mask's bounding box padded by one voxel.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from napari_segreview.editing._box import as_mask, bbox, pad_box, paste
from napari_segreview.errors import FormatError

__all__ = ["fill_holes"]


def fill_holes(mask: np.ndarray, *, per_slice: bool = False, axis: int = 0) -> np.ndarray:
    """Fill the holes of a binary mask.

    Parameters
    ----------
    mask : ndarray
        2-D or 3-D binary mask.
    per_slice : bool
        Fill each 2-D slice along ``axis`` on its own (3-D masks only).
    axis : int
        The slicing axis for ``per_slice``.

    Examples
    --------
    >>> ring = np.ones((3, 3, 3), bool); ring[1, 1, 1] = False
    >>> bool(fill_holes(ring)[1, 1, 1])
    True
    >>> tube = np.ones((3, 3, 3), bool); tube[:, 1, 1] = False
    >>> bool(fill_holes(tube)[1, 1, 1]), bool(fill_holes(tube, per_slice=True)[1, 1, 1])
    (False, True)
    """
    mask = as_mask(mask)
    box = bbox(mask)
    if box is None:
        return mask.copy()
    box = pad_box(box, 1, mask.shape)
    part = mask[box]
    if not per_slice or mask.ndim == 2:
        return paste(mask, box, ndi.binary_fill_holes(part))
    if not -mask.ndim <= axis < mask.ndim:
        raise FormatError(f"axis {axis} does not exist in a {mask.ndim}-D mask; "
                          f"use 0 to {mask.ndim - 1}.")
    filled = np.moveaxis(part.copy(), axis, 0)
    for i in range(filled.shape[0]):
        if filled[i].any():
            filled[i] = ndi.binary_fill_holes(filled[i])
    return paste(mask, box, np.moveaxis(filled, 0, axis))
