"""Putting tiles back together: Gaussian blending weights and the accumulator.

:func:`gaussian_weights` and :class:`Accumulator` blend the tiles' outputs
with a Gaussian that is largest in a tile's centre (nnU-Net: sigma is 1/8 of
the tile), so tile borders, where a network sees the least context, count
least and no seams appear. The tiles themselves come from
:mod:`napari_segreview.inference.tiling`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

__all__ = ["MIN_WEIGHT", "Accumulator", "gaussian_weights"]

#: Smallest blending weight, relative to the centre's 1. A voxel near an image
#: corner may be covered by the edge of a single tile only: its weight must not
#: be 0 (nor so small that dividing by it amplifies float noise).
MIN_WEIGHT = 1e-3


@lru_cache(maxsize=8)
def _gaussian(tile: tuple[int, ...], sigma_scale: float, min_weight: float) -> np.ndarray:
    weights = np.ones((), dtype=np.float64)
    for n in tile:
        x = np.arange(n, dtype=np.float64) - (n - 1) / 2
        sigma = max(n * sigma_scale, 1e-6)
        weights = np.multiply.outer(weights, np.exp(-0.5 * (x / sigma) ** 2))
    weights /= weights.max()
    out = np.maximum(weights, min_weight).astype(np.float32)
    out.setflags(write=False)
    return out


def gaussian_weights(
    tile: Sequence[int], sigma_scale: float = 1 / 8, min_weight: float = MIN_WEIGHT
) -> np.ndarray:
    """Separable Gaussian blending weights for one tile, 1 in the centre.

    Parameters
    ----------
    tile : sequence of int
        Tile size.
    sigma_scale : float
        Standard deviation as a fraction of the tile length (nnU-Net: 1/8).
    min_weight : float
        Weights are clipped to at least this value, so that every voxel a tile
        covers gets a positive total weight.

    Returns
    -------
    ndarray
        float32, shaped ``tile``, read-only (cached).

    Examples
    --------
    >>> w = gaussian_weights((5, 4))
    >>> w.shape, w.dtype, float(w.max()), bool(w.min() >= 1e-3)
    ((5, 4), dtype('float32'), 1.0, True)
    """
    return _gaussian(tuple(int(n) for n in tile), float(sigma_scale), float(min_weight))


class Accumulator:
    """Weighted sum of tile outputs over one spatial region, kept on one device.

    ``add`` adds ``weights * values`` of a tile into a float32 buffer
    ``(C, *shape)`` and the weights into a ``(1, *shape)`` buffer; ``result``
    divides. Both buffers live on ``device`` (the GPU during inference), so
    tiles never travel to the host.

    Parameters
    ----------
    channels : int
        Channels of the tile outputs.
    shape : sequence of int
        Spatial shape of the region (the padded shape when inputs are padded).
    tile : sequence of int
        Tile size: the shape of the weights.
    device : str or torch.device
        Where the buffers live.
    weights : ndarray, optional
        Blending weights shaped ``tile``; default :func:`gaussian_weights`.

    Examples
    --------
    >>> from napari_segreview.inference.tiling import tile_grid
    >>> acc = Accumulator(1, (6,), (4,), "cpu", weights=np.ones(4, np.float32))
    >>> for s in tile_grid((6,), (4,), overlap=0.5):
    ...     acc.add(torch.ones(1, 4), s)
    >>> acc.result()
    tensor([[1., 1., 1., 1., 1., 1.]])
    """

    def __init__(self, channels, shape, tile, device, weights=None):
        if weights is None:
            weights = gaussian_weights(tile)
        self.device = torch.device(device)
        self.weights = torch.from_numpy(np.array(weights, np.float32)).to(self.device)
        self.values = torch.zeros((channels, *shape), dtype=torch.float32, device=self.device)
        self.total = torch.zeros((1, *shape), dtype=torch.float32, device=self.device)
        self.count = 0

    def add(self, values, where: tuple[slice, ...]) -> None:
        """Add one tile ``(C, *tile)`` at the spatial slices ``where``."""
        w = self.weights[tuple(slice(0, s.stop - s.start) for s in where)]
        index = (slice(None), *where)
        self.values[index] += values.to(self.device, torch.float32) * w
        self.total[index] += w
        self.count += 1

    def to(self, device) -> Accumulator:
        """Move the buffers to another device (in place) and return self."""
        self.device = torch.device(device)
        self.weights = self.weights.to(self.device)
        self.values = self.values.to(self.device)
        self.total = self.total.to(self.device)
        return self

    def result(self):
        """The blended ``(C, *shape)`` float32 tensor (the buffer, divided in place)."""
        self.values /= self.total
        return self.values
