"""Training samples: slices (2-D cards) or patches (3-D cards) of the training cases, in numpy.

* A 2-D card trains on patches of single slices, a 3-D card on patches of
  the volume; the patch is the card's tile unless a caller gives another.
  Where an image is smaller than the patch, the patch is padded and the
  padding is marked invalid (it counts in no loss).
* A share of the samples (a third by default, as nnU-Net oversamples
  foreground) is centred on a random foreground voxel, so that small
  structures are seen; the others lie anywhere.
* Mild intensity augmentation (scale 0.9..1.1, shift by up to a tenth of the
  image's standard deviation); flips only along the axes a caller allows
  (anatomy has a left and a right, so none by default).

No torch here: a batch is numpy, the loop moves it to the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from napari_segreview.card.spec import ModelCard
from napari_segreview.labels.formats import IGNORE
from napari_segreview.training.data import CaseData

__all__ = ["Batch", "Sampler", "default_patch"]

_MAX_FG = 1 << 20  # foreground voxel indices kept per case (strided above that)


@dataclass
class Batch:
    """A batch in numpy: ``x (N, C, *patch)`` float32, targets per head, ``valid (N, *patch)``.

    Sigmoid targets are ``(N, C_head, *patch)`` uint8, softmax ``(N, *patch)``
    uint8 with 255 (ignore) wherever a voxel is invalid.
    """

    x: np.ndarray
    targets: dict[str, np.ndarray]
    valid: np.ndarray


def default_patch(card: ModelCard, cases: Sequence[CaseData]) -> tuple[int, ...]:
    """The card's tile, or the largest image extent up to 256 (per spatial axis) without one.

    Examples
    --------
    >>> card = ModelCard.from_dict({"input": {"tile": [64, 64]}, "heads": [
    ...     {"name": "a", "kind": "sigmoid", "channels": ["a"]}]})
    >>> default_patch(card, [])
    (64, 64)
    """
    if card.input.tile is not None:
        return tuple(int(t) for t in card.input.tile)
    dims = card.input.spatial_dims
    shapes = np.array([c.spatial_shape[3 - dims:] for c in cases]) if cases else None
    if shapes is None:
        return (256,) * dims
    return tuple(int(min(256, s)) for s in shapes.max(axis=0))


def _foreground(case: CaseData) -> np.ndarray:
    fg = np.zeros(case.spatial_shape, bool)
    for t in case.targets.values():
        if t.ndim == 4:  # sigmoid (C, Z, Y, X)
            fg |= t.any(axis=0)
        else:
            fg |= (t > 0) & (t != IGNORE)
    idx = np.flatnonzero(fg)
    if len(idx) > _MAX_FG:
        idx = idx[:: len(idx) // _MAX_FG + 1]
    return idx


class Sampler:
    """Random training samples from the training cases.

    Parameters
    ----------
    cases : list of CaseData
    card : ModelCard
    patch : tuple of int
        Patch size per spatial axis (2 for a 2-D card, 3 for a 3-D one).
    rng : numpy Generator
    foreground : float
        Share of samples centred on foreground.
    augment : bool
        Mild intensity augmentation.
    flip_axes : sequence of int
        Spatial axes (of the patch) that may be flipped, each with probability 1/2.

    Examples
    --------
    >>> card = ModelCard.from_dict({"heads": [{"name": "a", "kind": "sigmoid",
    ...                                         "channels": ["a"]}]})
    >>> img = np.zeros((1, 1, 4, 4), np.float32)
    >>> case = CaseData("c", img, {"a": np.ones((1, 1, 4, 4), np.uint8)})
    >>> b = Sampler([case], card, (8, 8), np.random.default_rng(0)).batch(2)
    >>> b.x.shape, b.targets["a"].shape, int(b.valid.sum())
    ((2, 1, 8, 8), (2, 1, 8, 8), 32)
    """

    def __init__(self, cases: Sequence[CaseData], card: ModelCard, patch: Sequence[int],
                 rng: np.random.Generator, *, foreground: float = 1 / 3,
                 augment: bool = True, flip_axes: Sequence[int] = ()) -> None:
        self.cases = list(cases)
        self.card = card
        self.patch = tuple(int(p) for p in patch)
        self.rng = rng
        self.foreground = foreground
        self.augment = augment
        self.flip_axes = tuple(flip_axes)
        self.dims = card.input.spatial_dims
        self._fg = [_foreground(c) for c in self.cases]
        self._std = [float(np.std(c.image[..., ::4, ::4])) or 1.0 for c in self.cases]

    def _window(self, case: CaseData, fg: np.ndarray) -> tuple[int, list[int]]:
        """The slice (2-D; 0 for 3-D) and the patch start per patch axis (may be negative-free)."""
        shape = case.spatial_shape
        axes = shape[3 - self.dims:]
        rng = self.rng
        if len(fg) and rng.random() < self.foreground:
            centre = np.unravel_index(int(fg[rng.integers(len(fg))]), shape)
            z = int(centre[0])
            c = centre[3 - self.dims:]
            starts = [int(np.clip(ci - p // 2, 0, max(0, s - p)))
                      for ci, p, s in zip(c, self.patch, axes, strict=True)]
        else:
            z = int(rng.integers(shape[0]))
            starts = [int(rng.integers(0, max(0, s - p) + 1))
                      for p, s in zip(self.patch, axes, strict=True)]
        return (z if self.dims == 2 else 0), starts

    def _crop(self, arr: np.ndarray, lead: int, z: int, starts: list[int], fill) -> np.ndarray:
        """Crop the spatial axes of ``arr`` (after ``lead`` other axes), padded with ``fill``."""
        sl: list = [slice(None)] * lead
        if self.dims == 2:
            sl.append(z)
        sl += [slice(s, s + p) for s, p in zip(starts, self.patch, strict=True)]
        part = arr[tuple(sl)]
        short = [(0, p - n) for p, n in zip(self.patch, part.shape[lead:], strict=True)]
        if any(b for _, b in short):
            part = np.pad(part, [(0, 0)] * lead + short, constant_values=fill)
        return part

    def sample(self) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """One sample: image patch ``(C, *patch)``, targets per head, validity ``(*patch)``."""
        rng = self.rng
        k = int(rng.integers(len(self.cases)))
        case = self.cases[k]
        z, starts = self._window(case, self._fg[k])
        x = self._crop(case.image, 1, z, starts, 0.0)
        axes = case.spatial_shape[3 - self.dims:]
        valid = np.zeros(self.patch, bool)  # the padding (past the image's end) is invalid
        valid[tuple(slice(0, min(p, s - st))
                    for p, s, st in zip(self.patch, axes, starts, strict=True))] = True
        targets = {}
        for h in self.card.heads:
            t = case.targets[h.name]
            if h.kind == "sigmoid":
                targets[h.name] = self._crop(t, 1, z, starts, 0)
            else:
                targets[h.name] = self._crop(t, 0, z, starts, IGNORE)  # padding: ignore
        if self.augment:
            x = x * np.float32(rng.uniform(0.9, 1.1)) + np.float32(
                rng.uniform(-0.1, 0.1) * self._std[k])
        for ax in self.flip_axes:
            if rng.random() < 0.5:
                x = np.flip(x, 1 + ax)
                valid = np.flip(valid, ax)
                targets = {n: np.flip(t, (1 + ax) if t.ndim == x.ndim else ax)
                           for n, t in targets.items()}
        return x, targets, valid

    def batch(self, n: int) -> Batch:
        """``n`` samples stacked into a :class:`Batch`."""
        samples = [self.sample() for _ in range(n)]
        x = np.stack([s[0] for s in samples]).astype(np.float32, copy=False)
        targets = {h.name: np.stack([s[1][h.name] for s in samples]) for h in self.card.heads}
        valid = np.stack([s[2] for s in samples])
        return Batch(np.ascontiguousarray(x), targets, valid)
