"""Known shapes for the editing tests and benchmark: ellipsoids and a bent tube."""

from __future__ import annotations

import numpy as np


def ellipsoid(shape, centre, radii, spacing=(1.0, 1.0, 1.0)):
    """Voxels inside the ellipsoid with ``radii`` in mm around ``centre`` (voxel indices)."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    total = sum((((g - c) * s) / r) ** 2 for g, c, r, s in
                zip(grids, centre, radii, spacing, strict=True))
    return total <= 1.0


def bent_tube(shape, radius, amplitude, spacing=(1.0, 1.0, 1.0)):
    """A tube along axis 0 whose centre swings ``amplitude`` voxels on a sine (one period)."""
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    phase = 2 * np.pi * z / shape[0]
    cy = shape[1] / 2 + amplitude * np.sin(phase)
    cx = shape[2] / 2 + amplitude * (np.cos(phase) - 1) / 2
    return ((y - cy) * spacing[1]) ** 2 + ((x - cx) * spacing[2]) ** 2 <= radius ** 2


def dice(a, b):
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * (a & b).sum() / total
