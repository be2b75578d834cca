"""Run an effect on a slice, a slab or the volume of a mask, a channel stack or a label map.

The result is an :class:`EditResult`: for each changed array (a channel of a
stack, or the one mask or label map), a :class:`Change` holding the new values
of the bounding box of the voxels that differ. The napari panel applies
``Change.voxels`` with ``Labels.data_setitem`` in one history block (one undo
step, journaled by the session like a brush stroke); the CLI applies it in
place with :meth:`EditResult.apply`.

Where: ``"volume"`` edits everything; ``"slice"`` computes the effect in 2-D
on one slice along ``axis`` (in-plane spacing); ``"slab"`` in 3-D on
``thickness`` slices centred on ``index``. Nothing outside the region changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_segreview.editing._box import bbox, check_spacing, label_values
from napari_segreview.editing._dispatch import EFFECTS, binary_effect, label_effect
from napari_segreview.editing.logic import NEEDS_MODIFIER
from napari_segreview.errors import FormatError

__all__ = ["EFFECTS", "WHERE", "Change", "EditResult", "edit_labels", "edit_mask",
           "edit_stack", "region_box"]

WHERE = ("volume", "slice", "slab")
Box = tuple[slice, ...]


@dataclass(frozen=True)
class Change:
    """The new values of one box of one array.

    Attributes
    ----------
    box : tuple of slice
        Where, in the coordinates of the edited array (a stack's channel axis excluded).
    values : ndarray
        The new content of ``array[box]``, in the array's dtype.
    channel : int or None
        The channel of a stack, or None for a single mask or label map.

    Examples
    --------
    >>> a = np.zeros((2, 3), np.uint8)
    >>> c = Change((slice(0, 1), slice(1, 3)), np.array([[1, 0]], np.uint8))
    >>> idx, vals = c.voxels(a)
    >>> [i.tolist() for i in idx], vals.tolist()
    ([[0], [1]], [1])
    >>> c.apply(a); a.tolist()
    [[0, 1, 0], [0, 0, 0]]
    """

    box: Box
    values: np.ndarray
    channel: int | None = None

    def voxels(self, array: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """Global indices and new values of the voxels that differ from ``array``."""
        diff = np.asarray(array[self.box]) != self.values
        local = np.nonzero(diff)
        idx = tuple(i + b.start for i, b in zip(local, self.box, strict=True))
        return idx, self.values[diff]

    def apply(self, array: np.ndarray) -> None:
        """Write the new values into ``array`` in place."""
        array[self.box] = self.values


@dataclass(frozen=True)
class EditResult:
    """What an effect changes: one :class:`Change` per changed array, and a sentence.

    Examples
    --------
    >>> s = np.zeros((2, 1, 3), np.uint8)
    >>> r = EditResult("clear", (Change((slice(0, 1), slice(0, 2)), np.ones((1, 2), np.uint8),
    ...                                 channel=1),), "clear: 2 voxels changed in b.")
    >>> r.count(s)
    2
    >>> r.apply(s); s[1].tolist()
    [[1, 1, 0]]
    """

    effect: str
    changes: tuple[Change, ...]
    message: str

    def _target(self, data: np.ndarray, change: Change) -> np.ndarray:
        return data if change.channel is None else data[change.channel]

    def apply(self, data: np.ndarray) -> None:
        """Apply every change in place to the array that was edited (a stack: per channel)."""
        for change in self.changes:
            change.apply(self._target(data, change))

    def count(self, data: np.ndarray) -> int:
        """How many voxels the changes alter in ``data`` (call before :meth:`apply`)."""
        return sum(int(c.voxels(self._target(data, c))[1].size) for c in self.changes)


def region_box(shape: Sequence[int], where: str = "volume", *, axis: int = 0, index: int = 0,
               thickness: int = 1) -> Box:
    """The part of an array an effect works on.

    Examples
    --------
    >>> region_box((10, 4, 4), "slab", index=5, thickness=3)
    (slice(4, 7, None), slice(0, 4, None), slice(0, 4, None))
    >>> region_box((10, 4, 4), "slice", axis=2, index=1)[2]
    slice(1, 2, None)
    """
    shape = tuple(int(n) for n in shape)
    if where not in WHERE:
        raise FormatError(f"unknown region {where!r}; use one of {', '.join(WHERE)}.")
    if where == "volume":
        return tuple(slice(0, n) for n in shape)
    if not -len(shape) <= axis < len(shape):
        raise FormatError(f"axis {axis} does not exist in a {len(shape)}-D array.")
    axis %= len(shape)
    if not 0 <= index < shape[axis]:
        raise FormatError(f"slice {index} is outside 0..{shape[axis] - 1} along axis {axis}.")
    if where == "slice":
        thickness = 1
    if int(thickness) < 1:
        raise FormatError(f"the slab thickness {thickness} must be at least 1 slice.")
    lo = max(0, index - (int(thickness) - 1) // 2)
    hi = min(shape[axis], lo + int(thickness))
    return tuple(slice(lo, hi) if a == axis else slice(0, n) for a, n in enumerate(shape))


def _prepare(shape: tuple[int, ...], spacing: Sequence[float] | None, where: str, axis: int,
             index: int, thickness: int) -> tuple[Box, tuple[float, ...], int | None, int]:
    if len(shape) not in (2, 3):
        raise FormatError(f"the array is {len(shape)}-D with shape {shape}; editing takes "
                          "2-D or 3-D masks.")
    full = check_spacing(spacing, len(shape))
    box = region_box(shape, where, axis=axis, index=index, thickness=thickness)
    axis %= len(shape)
    if where == "slice" and len(shape) == 3:
        return box, tuple(s for i, s in enumerate(full) if i != axis), axis, axis
    return box, full, None, axis


def _squeeze(a: np.ndarray, drop: int | None) -> np.ndarray:
    return a if drop is None else np.take(a, 0, axis=drop)


def _change(old: np.ndarray, new: np.ndarray, box: Box, channel: int | None, value: Any,
            drop: int | None) -> Change | None:
    """A Change for the region ``box`` of ``old`` (full array) whose new content is ``new``."""
    if drop is not None:
        new = np.expand_dims(new, drop)
    part = old[box]
    if new.dtype == bool:
        diff = new != (part != 0)
    else:
        diff = new != part
    inner = bbox(diff)
    if inner is None:
        return None
    values = np.array(part[inner], copy=True)
    if new.dtype == bool:
        d, n = diff[inner], new[inner]
        values[d & n] = value
        values[d & ~n] = 0
    else:
        values = new[inner].astype(old.dtype, copy=False)
    glob = tuple(slice(b.start + i.start, b.start + i.stop) for b, i in
                 zip(box, inner, strict=True))
    return Change(glob, values, channel)


def _result(effect: str, changes: list[Change], what: str, data: Any) -> EditResult:
    done = tuple(c for c in changes if c is not None)
    count = EditResult(effect, done, "").count(data) if done else 0
    message = (f"{effect}: {count:,} voxels changed in {what}." if count
               else f"{effect}: nothing to change in {what}.")
    return EditResult(effect, done, message)


def edit_mask(mask: np.ndarray, effect: str, *, spacing: Sequence[float] | None = None,
              where: str = "volume", axis: int = 0, index: int = 0, thickness: int = 1,
              value: int = 1, modifier: np.ndarray | None = None, name: str = "the mask",
              **params: Any) -> EditResult:
    """Run ``effect`` on one binary mask (any nonzero voxel is inside).

    Parameters
    ----------
    mask : ndarray
        2-D or 3-D; not written.
    effect : str
        One of :data:`EFFECTS` but ``"split"``.
    spacing, where, axis, index, thickness
        Voxel size in mm, and the region (:func:`region_box`).
    value : int
        The value written into voxels that become inside.
    modifier : ndarray, optional
        The other mask of a logical operator.
    **params
        The effect's parameters: ``connectivity``, ``voxels``, ``mm3``, ``point``,
        ``per_slice``, ``mm``, ``method``, ``key_slices``.

    Examples
    --------
    >>> m = np.zeros((1, 6), np.uint8); m[0, 1] = m[0, 3:5] = 1
    >>> r = edit_mask(m, "keep-largest")
    >>> r.message, [c.box for c in r.changes]
    ('keep-largest: 1 voxels changed in the mask.', [(slice(0, 1, None), slice(1, 2, None))])
    >>> r.apply(m); m.tolist()
    [[0, 0, 0, 1, 1, 0]]
    """
    mask = np.asarray(mask)
    if effect == "split":
        raise FormatError("split makes a label map; run it on a label map or use "
                          "islands.split_components.")
    box, sp, drop, axis = _prepare(mask.shape, spacing, where, axis, index, thickness)
    m = _squeeze(mask[box] != 0, drop)
    mod = None
    if modifier is not None:
        modifier = np.asarray(modifier)
        if modifier.shape != mask.shape:
            raise FormatError(f"the modifier has shape {modifier.shape} and the mask "
                              f"{mask.shape}; choose channels of the same image.")
        mod = _squeeze(modifier[box] != 0, drop)
    elif effect in NEEDS_MODIFIER:
        raise FormatError(f"{effect} needs a second channel; choose the modifier channel.")
    params["size"] = mask.shape[axis]
    new = binary_effect(effect, m, sp, params, box, drop, axis, mod)
    return _result(effect, [_change(mask, new, box, None, value, drop)], name, mask)


def _channel_index(stack: np.ndarray, key: int | str, names: Sequence[str] | None) -> int:
    if isinstance(key, str) and not key.lstrip("-").isdigit():
        if names is None or key not in names:
            known = ", ".join(names) if names else "none (the stack has no channel names)"
            raise FormatError(f"unknown channel {key!r}; the channels are {known}.")
        return list(names).index(key)
    i = int(key)
    if not 0 <= i < stack.shape[0]:
        raise FormatError(f"channel {i} does not exist; the stack has {stack.shape[0]} channels.")
    return i


def edit_stack(stack: np.ndarray, effect: str, *, channels: Sequence[int | str] | None = None,
               names: Sequence[str] | None = None, spacing: Sequence[float] | None = None,
               where: str = "volume", axis: int = 0, index: int = 0, thickness: int = 1,
               modifier: int | str | None = None, **params: Any) -> EditResult:
    """Run ``effect`` on channels of a multi-hot stack ``(C, [Z,] Y, X)``, each on its own.

    ``channels``: indices or names (``names`` = the stack's channel names), None
    for all; ``axis``, ``index`` and ``spacing`` refer to the spatial axes.
    ``modifier``: the other channel of a logical operator. Interpolating every
    channel skips the empty ones; an error names the channel it comes from.

    Examples
    --------
    >>> s = np.zeros((2, 1, 5), np.uint8); s[0, 0, 1] = s[1, 0, 3] = 1
    >>> r = edit_stack(s, "grow", channels=["b"], names=["a", "b"], mm=1.0)
    >>> [c.channel for c in r.changes], r.message
    ([1], 'grow: 2 voxels changed in b.')
    """
    stack = np.asarray(stack)
    if stack.ndim not in (3, 4):
        raise FormatError(f"the stack is {stack.ndim}-D; give (C, Y, X) or (C, Z, Y, X).")
    chosen = (list(range(stack.shape[0])) if channels is None
              else [_channel_index(stack, c, names) for c in channels])
    mod = None if modifier is None else stack[_channel_index(stack, modifier, names)]
    changes = []
    for c in chosen:
        if channels is None and effect == "interpolate" and not stack[c].any():
            continue                       # all channels: an empty one has nothing to fill
        try:
            one = edit_mask(stack[c], effect, spacing=spacing, where=where, axis=axis,
                            index=index, thickness=thickness, modifier=mod, **params)
        except FormatError as exc:        # say which channel, when there are several
            if len(chosen) == 1:
                raise
            raise FormatError(f"{names[c] if names else f'channel {c}'}: {exc}") from None
        changes += [Change(ch.box, ch.values, c) for ch in one.changes]
    label = ", ".join(names[c] if names else f"channel {c}" for c in chosen)
    return _result(effect, changes, label, stack)


def edit_labels(labels: np.ndarray, effect: str, *, labels_to_edit: Sequence[int] | None = None,
                spacing: Sequence[float] | None = None, where: str = "volume", axis: int = 0,
                index: int = 0, thickness: int = 1, **params: Any) -> EditResult:
    """Run ``effect`` on the labels of a label map, each label on its own.

    Removed voxels go to the background (0); fill-holes and grow fill background
    only, so labels never overrun each other; smooth is a joint Gaussian vote
    (the map stays a partition); split gives every component but the largest of
    each label a new value above the current maximum.

    Examples
    --------
    >>> lab = np.array([[1, 0, 1, 1, 0, 2]], np.uint8)
    >>> r = edit_labels(lab, "keep-largest")
    >>> r.apply(lab); lab.tolist()
    [[0, 0, 1, 1, 0, 2]]
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu":
        raise FormatError(f"the label map holds {labels.dtype} data; give an integer array.")
    box, sp, drop, axis = _prepare(labels.shape, spacing, where, axis, index, thickness)
    part = _squeeze(labels[box], drop)
    present = [v for v in label_values(part) if v != 0]
    values = present if labels_to_edit is None else [int(v) for v in labels_to_edit]
    params["size"] = labels.shape[axis]
    new = label_effect(effect, part, values, sp, params, box, drop, axis)
    what = "the label map" if labels_to_edit is None else (
        "label " + ", ".join(str(v) for v in values))
    return _result(effect, [_change(labels, new, box, None, 0, drop)], what, labels)
