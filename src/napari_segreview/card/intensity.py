"""Intensity normalisation: raw image values to the model's input, as the card says."""

from __future__ import annotations

import math

import numpy as np

from napari_segreview._util.arrays import blocks
from napari_segreview.card.parts import NormalizeSpec
from napari_segreview.errors import CardError

__all__ = ["PERCENTILE_SAMPLE", "normalize"]

#: Above this many voxels, percentiles are taken on a strided subsample.
PERCENTILE_SAMPLE = 1 << 22


def normalize(image: np.ndarray, spec: NormalizeSpec, *,
              channel_axis: int | None = None) -> np.ndarray:
    """Raw image values to model input, always float32 (no float64 volume temporaries).

    * ``window``: ``[center - width/2, center + width/2]`` maps linearly to
      ``[0, 1]``; values outside are clipped to 0 or 1.
    * ``mean_std``: ``x / scale``, then ``(x - mean[c]) / std[c]`` per channel
      along ``channel_axis`` (default: last axis, channel-last RGB as napari
      holds it); a single mean/std applies to the whole array.
    * ``zscore``: ``(x - mean) / std`` over the whole array (std 0 gives zeros).
    * ``percentile``: clip to the ``low`` and ``high`` percentiles, scale to
      ``[0, 1]``; above 4 M voxels, the percentiles are taken on a strided
      subsample of about 4 M voxels.
    * ``none``: cast to float32 (a float32 input is returned as is, not copied).

    Every other kind returns a new array; the input is never modified.

    Examples
    --------
    >>> normalize(np.array([-500, 400, 1300, 3000]), NormalizeSpec("window", 400, 1800))
    array([0. , 0.5, 1. , 1. ], dtype=float32)
    >>> rgb = np.full((1, 1, 3), 255, np.uint8)
    >>> spec = NormalizeSpec("mean_std", scale=255, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.25))
    >>> normalize(rgb, spec)
    array([[[1., 1., 2.]]], dtype=float32)
    """
    if spec.kind == "none":
        return np.asarray(image, dtype=np.float32)
    out = np.array(image, dtype=np.float32, order="C", copy=True)
    if spec.kind == "window":
        lo = spec.center - spec.width / 2
        out -= np.float32(lo)
        out *= np.float32(1.0 / spec.width)
        np.clip(out, 0, 1, out=out)
    elif spec.kind == "mean_std":
        if spec.scale is not None:
            out *= np.float32(1.0 / spec.scale)
        mean = np.asarray(spec.mean, np.float32)
        std = np.asarray(spec.std, np.float32)
        if mean.size > 1:
            axis = -1 if channel_axis is None else channel_axis
            if out.ndim == 0 or out.shape[axis] != mean.size:
                raise CardError(
                    f"input.normalize.mean has {mean.size} values but the image has shape "
                    f"{out.shape} with channel_axis {axis}: give a channel-last "
                    f"({mean.size}-channel) image or fix the card.")
            shape = [1] * out.ndim
            shape[axis] = mean.size
            mean, std = mean.reshape(shape), std.reshape(shape)
        out -= mean
        out *= np.float32(1.0) / std
    elif spec.kind == "zscore":
        n, flat = max(out.size, 1), out.reshape(-1)
        mean = sum(float(np.sum(flat[s], dtype=np.float64)) for s in blocks(flat.size)) / n
        out -= np.float32(mean)
        var = sum(float(np.dot(c64 := flat[s].astype(np.float64), c64))
                  for s in blocks(flat.size)) / n
        out *= np.float32(1.0 / max(math.sqrt(var), 1e-8))
    else:  # percentile
        flat = out.reshape(-1)
        sample = flat[:: max(1, flat.size // PERCENTILE_SAMPLE)] if flat.size else np.zeros(1)
        lo, hi = (float(x) for x in np.percentile(sample, spec.bounds))
        out -= np.float32(lo)
        out *= np.float32(1.0 / max(hi - lo, 1e-12))
        np.clip(out, 0, 1, out=out)
    return out
