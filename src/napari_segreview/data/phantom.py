"""A synthetic CT phantom: a bone with three substructures, in Hounsfield units.

The second reference thread's case: a whole bone segmented as one structure and
also split into three substructures (head, shaft, distal end). The masks
overlap (``whole`` contains every part) and ``whole`` is slightly more than the
union of the parts (thin growth-plate gaps between parts belong to the whole
only), exactly the "slight difference" the thread's author describes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

#: Channel names of the phantom's masks, in order.
PHANTOM_CHANNELS = ("whole", "part_1", "part_2", "part_3")


@dataclass(frozen=True)
class Phantom:
    """A CT phantom and its ground truth.

    Attributes
    ----------
    image : ndarray of int16, shape (Z, Y, X)
        Hounsfield units: air -1000, fat about -90, soft tissue about 40,
        cancellous bone about 350, cortical bone about 1200, plus noise.
    masks : ndarray of uint8, shape (4, Z, Y, X)
        Multi-hot ground truth, channels :data:`PHANTOM_CHANNELS`.
    spacing : tuple of float
        Voxel spacing (z, y, x) in millimetres.
    """

    image: np.ndarray
    masks: np.ndarray
    spacing: tuple[float, float, float]

    @property
    def names(self) -> tuple[str, ...]:
        """Channel names of :attr:`masks`."""
        return PHANTOM_CHANNELS

    @property
    def parts(self) -> np.ndarray:
        """Label map of the substructures: 0 background, 1..3 the parts."""
        out = np.zeros(self.image.shape, np.uint8)
        for i in range(1, 4):
            out[self.masks[i] != 0] = i
        return out


def make_ct_phantom(
    shape: tuple[int, int, int] = (48, 256, 256),
    *,
    seed: int = 0,
    noise_hu: float = 25.0,
    spacing: tuple[float, float, float] = (2.5, 0.8, 0.8),
) -> Phantom:
    """Make a synthetic CT stack with a bone, its three parts and realistic HU.

    The bone lies in the axial plane along Y, so every slice shows the head
    (``part_1``), the shaft (``part_2``) and the distal end (``part_3``); its
    size and position drift smoothly from slice to slice, and it tapers off
    towards the first and last slices. Different seeds move and resize it.

    Parameters
    ----------
    shape : (Z, Y, X)
        Stack shape; Z may be 1 for a single slice.
    seed : int
        Random seed for geometry jitter and noise.
    noise_hu : float
        Standard deviation of the Gaussian noise, in HU.
    spacing : (z, y, x)
        Voxel spacing in millimetres, returned with the phantom.

    Returns
    -------
    Phantom

    Examples
    --------
    >>> ph = make_ct_phantom((4, 64, 64))
    >>> ph.image.dtype, ph.masks.shape
    (dtype('int16'), (4, 4, 64, 64))
    >>> bool((ph.masks[1:] <= ph.masks[0]).all())   # parts lie inside the whole
    True
    >>> int(ph.masks[1:].sum(axis=0).max())          # parts are disjoint
    1
    """
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    y = np.linspace(-1, 1, ny, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, nx, dtype=np.float32)[None, :]
    zc = np.linspace(-1, 1, nz, dtype=np.float32) if nz > 1 else np.zeros(1, np.float32)

    jitter = rng.uniform(-1, 1, size=6).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi)
    image = np.full(shape, -1000.0, np.float32)
    masks = np.zeros((4, *shape), np.uint8)
    for k in range(nz):
        t = zc[k]
        taper = float(np.sqrt(max(0.0, 1.0 - (t / 0.9) ** 2))) if nz > 1 else 1.0
        # Body: fat rim around soft tissue, a little breathing in size.
        body_r = ((x / (0.86 + 0.02 * np.sin(3 * t))) ** 2 + (y / 0.78) ** 2)
        image[k][body_r < 1.0] = -90.0
        image[k][body_r < 0.82] = 40.0
        muscle = ((x + 0.45) / 0.18) ** 2 + ((y - 0.1 * jitter[0]) / 0.35) ** 2 < 1
        image[k][muscle & (body_r < 0.82)] = 58.0
        if taper < 0.25:
            continue
        x0 = 0.08 * jitter[1] + 0.08 * np.sin(2.0 * t + phase)
        s = (0.75 + 0.25 * taper) * (1 + 0.08 * jitter[2])
        r_shaft = 0.075 * s * (1 + 0.12 * np.sin(4 * t + phase))
        head_c, head_r = -0.50 + 0.03 * jitter[3], 0.16 * s
        dist_c, dist_rx, dist_ry = 0.50 + 0.03 * jitter[4], 0.21 * s, 0.12 * s
        gap1, gap2 = head_c + 0.06, dist_c - 0.08     # growth plates (whole only)
        head = ((x - x0) ** 2 + (y - head_c) ** 2) < head_r**2
        shaft = (np.abs(x - x0) < r_shaft) & (y > head_c) & (y < dist_c)
        distal = ((x - x0) / dist_rx) ** 2 + ((y - dist_c) / dist_ry) ** 2 < 1
        whole = head | shaft | distal
        masks[0, k] = whole
        masks[1, k] = whole & (y < gap1 - 0.012)
        masks[2, k] = whole & (y > gap1 + 0.012) & (y < gap2 - 0.012)
        masks[3, k] = whole & (y > gap2 + 0.012)
        marrow = ndi.binary_erosion(whole, iterations=max(2, nx // 64))
        image[k][whole] = 1200.0
        image[k][marrow] = 350.0 + 40.0 * jitter[5]
    image = ndi.gaussian_filter(image, sigma=(0, 0.8, 0.8))
    image += rng.normal(0, noise_hu, size=shape).astype(np.float32)
    return Phantom(np.clip(image, -1024, 3071).astype(np.int16), masks, tuple(spacing))
