"""Intensity-limited painting and the magic wand on one Labels layer (no widgets).

:class:`PaintLimit` restricts napari's own brush, fill and polygon on a
layer to the voxels of an image layer whose intensity lies in a range, live
while painting (through :func:`~napari_segreview._napari._compat.restrict_painting`:
each stroke stays one undo step). :func:`wand_click` is the magic wand: the
flood fill of :func:`napari_segreview.editing.paint.magic_wand` on the
displayed slice (or the volume), painted as one undo step. The numbers are in
:mod:`napari_segreview.editing.paint`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_segreview._napari._compat import restrict_painting, unrestrict_painting
from napari_segreview._napari._undo import write_as_one_step
from napari_segreview.editing.paint import IntensityRange, in_range, limit_indices, magic_wand
from napari_segreview.errors import FormatError

__all__ = ["PaintLimit", "check_pair", "wand_click"]


def check_pair(labels: Any, image: Any) -> None:
    """Refuse an image layer that does not lie voxel for voxel under the labels layer."""
    if image is None:
        raise FormatError("open the CT image first: intensity-limited painting reads its "
                          "values.")
    if tuple(image.data.shape) != tuple(labels.data.shape):
        raise FormatError(f"the image {image.name!r} has shape {tuple(image.data.shape)} and "
                          f"the layer {labels.name!r} {tuple(labels.data.shape)}: pick the "
                          "image the masks were made on.")


class PaintLimit:
    """The intensity range that napari's brush, fill and polygon obey on some layers.

    :meth:`attach` a layer with its image; :meth:`set_range` changes the range
    live (None: no limit); :meth:`detach` gives napari its own painting back.
    """

    def __init__(self) -> None:
        self.range: IntensityRange | None = None
        self._layers: dict[int, tuple[Any, Any]] = {}
        self.path: str | None = None

    def attach(self, labels: Any, image: Any) -> None:
        """Limit painting on ``labels`` by the intensities of ``image`` (same shape)."""
        check_pair(labels, image)
        self.detach(labels)
        self._layers[id(labels)] = (labels, image)
        self.path = restrict_painting(labels, lambda key, im=image: self._keep(im, key))

    def detach(self, labels: Any | None = None) -> None:
        """Stop limiting ``labels`` (every layer when None)."""
        for key in [id(labels)] if labels is not None else list(self._layers):
            pair = self._layers.pop(key, None)
            if pair is not None:
                unrestrict_painting(pair[0])

    def attached(self, labels: Any) -> bool:
        """Whether painting on ``labels`` is limited."""
        return id(labels) in self._layers

    def set_range(self, rng: IntensityRange | None) -> None:
        """The range every attached layer obeys from the next brush dab on."""
        self.range = rng

    def _keep(self, image: Any, key: tuple) -> np.ndarray:
        data = image.data
        if key and isinstance(key[0], slice):
            if self.range is None:
                return np.ones(tuple(s.stop - s.start for s in key), bool)
            return in_range(data, self.range, key)
        return limit_indices(data, self.range, key)


def wand_click(labels: Any, image: Any, point: tuple[int, ...], *, value: int, tolerance: float,
               rng: IntensityRange | None, volume: bool = False, displayed: tuple[int, ...] = ()
               ) -> int:
    """Flood-fill from ``point`` (data coordinates) and paint ``value``: one undo step.

    On the displayed slice (axes ``displayed``) unless ``volume``. Returns the
    number of voxels changed.
    """
    check_pair(labels, image)
    point = tuple(round(p) for p in point)
    shape = labels.data.shape
    if any(not 0 <= p < n for p, n in zip(point, shape, strict=True)):
        return 0
    if volume or not displayed:
        axes = tuple(range(len(shape)))
    else:
        axes = tuple(sorted(displayed))
    key = tuple(slice(None) if a in axes else point[a] for a in range(len(shape)))
    plane = np.asarray(image.data[key])
    region = magic_wand(plane, tuple(point[a] for a in axes), tolerance, rng=rng)
    local = np.nonzero(region)
    idx = []
    j = 0
    for a in range(len(shape)):
        if a in axes:
            idx.append(local[j].astype(np.intp))
            j += 1
        else:
            idx.append(np.full(local[0].size, point[a], np.intp))
    idx = tuple(idx)
    before = np.asarray(labels.data[idx])
    n = int((before != value).sum())
    if n:
        write_as_one_step(labels, [(idx, value)])
    return n
