"""Cutting an image into tiles for sliding-window inference: the grid and the padding.

* :func:`tile_grid` cuts a spatial shape into overlapping tiles of one size;
* :func:`pad_amounts` / :func:`pad_to` pad inputs smaller than a tile and give
  the slices that crop the result back.

The other half, putting the tiles' outputs back together, is
:mod:`napari_segreview.inference.blending`; the two are separate, swappable
parts (as in MONAI's ``inferers``, as small functions). Nothing here knows
about models or cards; :mod:`napari_segreview.inference.predict` puts the parts
together.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np

from napari_segreview.errors import FormatError

__all__ = ["PAD_MODES", "pad_amounts", "pad_to", "tile_grid", "tile_starts"]

#: Padding modes understood by :func:`pad_to` (those of ``numpy.pad``).
PAD_MODES = ("reflect", "constant", "edge")


def tile_starts(size: int, tile: int, overlap: float = 0.25) -> list[int]:
    """Start offsets of tiles of length ``tile`` that cover ``size`` with overlap.

    Consecutive tiles overlap by at least ``overlap * tile``; the offsets are
    spread evenly, the first tile starts at 0 and the last ends at ``size``. A
    ``size`` up to ``tile`` gives the single offset 0 (pad such inputs first).

    Parameters
    ----------
    size : int
        Length of the axis.
    tile : int
        Length of a tile along the axis.
    overlap : float
        Fraction of a tile shared with its neighbour, ``0 <= overlap < 1``.

    Returns
    -------
    list of int

    Examples
    --------
    >>> tile_starts(10, 4, overlap=0.5)
    [0, 2, 4, 6]
    >>> tile_starts(256, 256), tile_starts(300, 256, overlap=0.25)
    ([0], [0, 44])
    """
    if tile < 1:
        raise FormatError(f"a tile must be at least 1 voxel long, not {tile}.")
    if not 0 <= overlap < 1:
        raise FormatError(f"the tile overlap must be in [0, 1), not {overlap}.")
    if size <= tile:
        return [0]
    step = max(1, int(tile * (1 - overlap)))
    n = -(-(size - tile) // step) + 1
    return [round(i * (size - tile) / (n - 1)) for i in range(n)]


def tile_grid(
    shape: Sequence[int], tile: Sequence[int], overlap: float = 0.25
) -> list[tuple[slice, ...]]:
    """Slices of every tile in a spatial ``shape``, last axis fastest.

    Axes shorter than the tile get one slice over the whole axis (pad them to
    the tile first with :func:`pad_to` to feed a fixed-size model).

    Parameters
    ----------
    shape : sequence of int
        Spatial shape, e.g. ``(Y, X)`` or ``(Z, Y, X)``.
    tile : sequence of int
        Tile size, same length as ``shape``.
    overlap : float
        Fraction of a tile shared with its neighbour along each axis.

    Returns
    -------
    list of tuple of slice

    Examples
    --------
    >>> grid = tile_grid((6, 4), (4, 4), overlap=0.5)
    >>> [(s[0].start, s[0].stop, s[1].start, s[1].stop) for s in grid]
    [(0, 4, 0, 4), (2, 6, 0, 4)]
    """
    if len(shape) != len(tile):
        raise FormatError(
            f"the tile {tuple(tile)} must have one length per spatial axis of {tuple(shape)}."
        )
    axes = [
        [slice(s, s + min(t, n)) for s in tile_starts(n, t, overlap)]
        for n, t in zip(shape, tile, strict=True)
    ]
    return list(product(*axes))


def pad_amounts(shape: Sequence[int], tile: Sequence[int]) -> list[tuple[int, int]]:
    """Padding ``(before, after)`` per axis that brings ``shape`` up to ``tile``.

    Axes at least as long as the tile are not padded. The padding is split
    evenly so that the image stays centred in the tile.

    Examples
    --------
    >>> pad_amounts((5, 300), (8, 256))
    [(1, 2), (0, 0)]
    """
    if len(shape) != len(tile):
        raise FormatError(f"the tile {tuple(tile)} does not match the shape {tuple(shape)}.")
    pads = []
    for n, t in zip(shape, tile, strict=True):
        extra = max(0, t - n)
        pads.append((extra // 2, extra - extra // 2))
    return pads


def pad_to(
    array: np.ndarray, tile: Sequence[int], mode: str = "reflect"
) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Pad the trailing ``len(tile)`` axes of ``array`` up to the tile size.

    Parameters
    ----------
    array : ndarray
        ``(..., *spatial)``; leading axes (batch, channel) are not padded.
    tile : sequence of int
        Minimum spatial size.
    mode : {"reflect", "constant", "edge"}
        ``numpy.pad`` mode. ``"reflect"`` (default) mirrors the image so the
        network sees image-like context at the border; ``"constant"`` pads with
        0, which is the background of a normalised image only for some
        normalisations; ``"edge"`` repeats the border voxel.

    Returns
    -------
    padded : ndarray
        ``array`` itself when no padding is needed.
    crop : tuple of slice
        Slices of the spatial axes that recover the unpadded extent.

    Examples
    --------
    >>> padded, crop = pad_to(np.arange(3.0), (6,))
    >>> padded, padded[crop]
    (array([1., 0., 1., 2., 1., 0.]), array([0., 1., 2.]))
    """
    if mode not in PAD_MODES:
        raise FormatError(f"the padding mode must be one of {PAD_MODES}, not {mode!r}.")
    spatial = array.shape[array.ndim - len(tile) :]
    pads = pad_amounts(spatial, tile)
    crop = tuple(slice(b, b + n) for (b, _), n in zip(pads, spatial, strict=True))
    if not any(b or a for b, a in pads):
        return array, crop
    width = [(0, 0)] * (array.ndim - len(tile)) + pads
    if mode == "reflect" and any(n < 2 for n, (b, a) in zip(spatial, pads, strict=True) if b or a):
        mode = "edge"  # nothing to mirror along an axis of length 1
    return np.pad(array, width, mode=mode), crop
