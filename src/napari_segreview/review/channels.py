"""The building blocks of a review: channels, rules, and blockwise helpers.

A :class:`Channel` is a binary mask (non-zero is on) or one class of a label
map, with the name of the array it lives in; a :class:`Rule` relates a parent
channel to its children. The helpers walk the flattened volume in cache-sized
blocks (aligned to slices where per-slice counts are needed), so nothing of
the volume's size is allocated. :mod:`napari_segreview.review.checks` is the
public entry point and re-exports these names.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_segreview._util.arrays import BLOCK, blocks
from napari_segreview.errors import ReviewError

__all__ = ["Channel", "ReviewError", "Rule", "count_per_slice", "slice_blocks"]


class Channel:
    """One mask of a review set: a binary array, or one class of a label map.

    Parameters
    ----------
    name : str
        Channel name, as in the model card (``"whole"``, ``"part_1"``).
    data : array, shape ([Z,] Y, X)
        The array the channel lives in. It is read, never written.
    value : int, optional
        ``None`` for a binary mask (any non-zero voxel is on); ``k`` for class
        ``k`` of a label map (voxels equal to ``k`` are on).
    source : str, optional
        Name of the array (layer) the channel lives in; several classes of one
        label map share it. Defaults to ``name``.

    Examples
    --------
    >>> lab = np.array([[0, 1, 2, 2]], np.uint8)
    >>> c = Channel("part_2", lab, value=2, source="parts")
    >>> c.mask(slice(0, 4)).tolist(), c.on_value, c.binary
    ([False, False, True, True], 2, False)
    """

    __slots__ = ("_flat", "data", "name", "source", "value")

    def __init__(self, name: str, data: Any, value: int | None = None,
                 source: str | None = None):
        self.name = str(name)
        self.data = np.asarray(data)
        self.value = None if value is None else int(value)
        self.source = self.name if source is None else str(source)
        if self.data.dtype != np.bool_ and not np.issubdtype(self.data.dtype, np.integer):
            raise ReviewError(
                f"mask {self.name!r} holds {self.data.dtype} values; a mask must hold integers "
                "(decide probabilities first, by threshold or argmax)."
            )
        flat = np.ascontiguousarray(self.data).reshape(-1)
        self._flat = flat.view(np.uint8) if flat.dtype == np.bool_ else flat

    @property
    def binary(self) -> bool:
        """True for a binary mask, False for a class of a label map."""
        return self.value is None

    @property
    def on_value(self) -> int:
        """The value that switches a voxel on: 1 for a binary mask, else the class."""
        return 1 if self.value is None else self.value

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape."""
        return self.data.shape

    @property
    def size(self) -> int:
        """Number of voxels."""
        return self._flat.size

    def raw(self, s: slice) -> np.ndarray:
        """The stored values of flat block ``s`` (a view)."""
        return self._flat[s]

    def mask(self, s: slice) -> np.ndarray:
        """Boolean mask of flat block ``s`` (voxels where the channel is on)."""
        b = self._flat[s]
        return b != 0 if self.value is None else b == self.value

    def __repr__(self) -> str:
        kind = "binary" if self.value is None else f"class {self.value}"
        return f"Channel({self.name!r}, {kind} of {self.source!r}, shape={self.shape})"


@dataclass(frozen=True)
class Rule:
    """How a parent channel and its children must relate.

    Attributes
    ----------
    parent : str
        The parent channel (``whole``); must be a binary mask for the fixes that
        switch parent voxels on.
    children : tuple of str
        Its children (``part_1 .. part_3``): each must lie inside the parent.
    disjoint : bool
        Children must not overlap each other.
    union : bool
        The parent must equal the union of its children (no parent voxel
        without a child).
    """

    parent: str
    children: tuple[str, ...]
    disjoint: bool = True
    union: bool = False

    def __post_init__(self):
        object.__setattr__(self, "children", tuple(self.children))
        if self.parent in self.children:
            raise ReviewError(
                f"{self.parent!r} is both the parent and one of its children; pick another parent."
            )
        if not self.children:
            raise ReviewError(f"parent {self.parent!r} has no children; pick at least one child.")


# ---------------------------------------------------------------- blockwise helpers
def slice_blocks(shape: Sequence[int], block: int = BLOCK) -> Iterator[tuple[slice, int, int]]:
    """Cover a flattened ``([Z,] Y, X)`` array in blocks aligned to slices.

    Yields ``(flat_slice, first_slice, n_slices)``: the block holds whole
    slices ``first_slice .. first_slice + n_slices - 1``, or, when one slice is
    larger than ``block``, part of slice ``first_slice`` (``n_slices == 0``).
    Arrays with fewer than 3 axes are one slice.

    Examples
    --------
    >>> [(s.start, s.stop, z, n) for s, z, n in slice_blocks((3, 2, 2), block=8)]
    [(0, 8, 0, 2), (8, 12, 2, 1)]
    >>> [(s.start, s.stop, z, n) for s, z, n in slice_blocks((1, 4, 4), block=8)]
    [(0, 8, 0, 0), (8, 16, 0, 0)]
    """
    shape = tuple(int(s) for s in shape)
    nz, per = (shape[0], math.prod(shape[1:])) if len(shape) >= 3 else (1, math.prod(shape))
    if per == 0 or nz == 0:
        return
    if per > block:
        for z in range(nz):
            for s in blocks(per, block):
                yield slice(z * per + s.start, z * per + s.stop), z, 0
        return
    k = max(1, block // per)
    for z0 in range(0, nz, k):
        z1 = min(z0 + k, nz)
        yield slice(z0 * per, z1 * per), z0, z1 - z0


def count_per_slice(m: np.ndarray, z0: int, n: int, out: np.ndarray) -> None:
    """Add the non-zero count of block ``m`` to ``out`` per slice (see :func:`slice_blocks`).

    >>> out = np.zeros(2, np.int64)
    >>> count_per_slice(np.array([1, 0, 1, 1]), 0, 2, out); out.tolist()
    [1, 2]
    """
    if n:
        out[z0:z0 + n] += np.count_nonzero(m.reshape(n, -1), axis=1)
    else:
        out[z0] += int(np.count_nonzero(m))


def _by_name(channels: Sequence[Channel]) -> dict[str, Channel]:
    out: dict[str, Channel] = {}
    shapes: dict[tuple, str] = {}
    for c in channels:
        if c.name in out:
            raise ReviewError(f"two masks are called {c.name!r}; give every channel its own name.")
        out[c.name] = c
        shapes.setdefault(c.shape, c.name)
    if len(shapes) > 1:
        (s1, n1), (s2, n2) = list(shapes.items())[:2]
        raise ReviewError(
            f"masks {n1!r} (shape {s1}) and {n2!r} (shape {s2}) have different shapes; "
            "review masks of one image."
        )
    return out


def _get(chans: Mapping[str, Channel], name: str) -> Channel:
    if name not in chans:
        raise ReviewError(
            f"no mask is called {name!r}; the masks are {', '.join(chans) or 'none'}."
        )
    return chans[name]


def _rule_channels(chans: Mapping[str, Channel], rule: Rule) -> tuple[Channel, list[Channel]]:
    return _get(chans, rule.parent), [_get(chans, c) for c in rule.children]


def _binary_parent(parent: Channel, fix: str) -> None:
    if not parent.binary:
        raise ReviewError(
            f"{fix} switches voxels of the parent {parent.name!r} on, but it is class "
            f"{parent.value} of the label map {parent.source!r}; pick a binary parent layer."
        )


def _collect(shape: tuple[int, ...], n: int, fn) -> tuple[np.ndarray, ...]:
    """Coordinates of the voxels where ``fn(block)`` is true."""
    found = []
    for s in blocks(n):
        idx = np.flatnonzero(fn(s))
        if idx.size:
            found.append(idx + s.start)
    flat = np.concatenate(found) if found else np.zeros(0, np.intp)
    return tuple(np.unravel_index(flat, shape)) if shape else (flat,)


def _union(kids: Sequence[Channel], s: slice) -> np.ndarray:
    u = np.zeros(s.stop - s.start, bool)
    for k in kids:
        u |= k.mask(s)
    return u


def _outside(child: Channel, parent: Channel):
    """Block function: child on, parent off."""
    return lambda s: child.mask(s) & ~parent.mask(s)


def _uncovered(parent: Channel, kids: Sequence[Channel]):
    """Block function: parent on, no child on."""
    return lambda s: parent.mask(s) & ~_union(kids, s)


def _uncovering(parent: Channel, kids: Sequence[Channel]):
    """Block function: some child on, parent off."""
    return lambda s: _union(kids, s) & ~parent.mask(s)
