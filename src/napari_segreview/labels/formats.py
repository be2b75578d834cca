"""Conversions between label maps, one-hot and multi-hot stacks, and atoms.

* A **label map** is an integer array shaped like the image, no channel axis:
  the target ``CrossEntropyLoss`` takes.
* A **one-hot stack** ``(C, ...)`` has exactly one 1 per voxel and carries the
  same information as a label map. No PyTorch loss takes it as a target.
* A **multi-hot stack** ``(C, ...)`` has any number of ones per voxel: the
  target ``BCEWithLogitsLoss`` takes (overlapping masks).
* **Atoms** encode any multi-hot stack losslessly as one integer per distinct
  combination of channels, plus the table that maps atoms back to channels.

Every function takes numpy arrays or torch tensors (numpy in gives numpy out,
a tensor in gives a tensor on the same device), works in cache-sized blocks,
and allocates nothing of the volume's size beyond its output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from napari_segreview._util.arrays import (
    as_mask_u8,
    blocks,
    channel_count,
    flat_channels,
    label_dtype,
    unravel,
)
from napari_segreview.errors import FormatError, OverlapError
from napari_segreview.labels._kernels import channel_stack_arg, fill_regions, labels_arg
from napari_segreview.labels.atoms import (
    AtomTable,
    atom_regions,
    atoms_to_multihot,
    multihot_to_atoms,
)
from napari_segreview.labels.checks import (
    CheckReport,
    Finding,
    channel_index,
    channel_names,
    check_binary,
    check_hierarchy,
    check_label_values,
    check_overlaps,
    check_shapes,
)

__all__ = [
    "IGNORE",
    "AtomTable",
    "CheckReport",
    "Finding",
    "FormatError",
    "OverlapError",
    "atom_regions",
    "atoms_to_multihot",
    "channel_names",
    "check_binary",
    "check_hierarchy",
    "check_label_values",
    "check_overlaps",
    "check_shapes",
    "labels_to_multihot",
    "labels_to_onehot",
    "multihot_to_atoms",
    "multihot_to_labels",
    "onehot_to_labels",
]

#: Label value conventionally reserved for "ignore" (unlabelled, uncertain).
IGNORE = 255


def labels_to_onehot(
    labels: Any,
    num_classes: int | None = None,
    *,
    ignore_value: int | None = None,
    dtype: Any = np.uint8,
) -> Any:
    """One channel per class: ``out[c] = (labels == c)``.

    Parameters
    ----------
    labels : integer array or tensor, shape ([Z,] Y, X)
        The label map.
    num_classes : int, optional
        Number of channels; by default ``labels.max() + 1`` (ignoring
        ``ignore_value``).
    ignore_value : int, optional
        Voxels with this value get no channel set.
    dtype : dtype
        Output dtype (uint8 by default).

    Returns
    -------
    array or tensor, shape (C, [Z,] Y, X)

    Examples
    --------
    >>> labels_to_onehot(np.array([[0, 2], [1, 2]]))[2]
    array([[0, 1],
           [0, 1]], dtype=uint8)
    """
    arr, back = labels_arg(labels)
    flat = np.ascontiguousarray(arr).reshape(-1)
    if num_classes is None:
        valid = flat if ignore_value is None else flat[flat != ignore_value]
        num_classes = int(valid.max()) + 1 if valid.size else 1
    if ignore_value is not None and 0 <= ignore_value < num_classes:
        raise FormatError(
            f"ignore_value {ignore_value} is one of the {num_classes} classes; "
            "choose a value outside 0..num_classes-1 (255 by convention)."
        )
    check_label_values(arr, num_classes, ignore_value=ignore_value).raise_for_findings()
    out = np.empty((num_classes, flat.size), dtype=dtype)
    fill_regions(flat, [np.array([c]) for c in range(num_classes)], out)
    return back(out.reshape((num_classes, *arr.shape)))


def _not_onehot_error(flat: np.ndarray, spatial: tuple, ignore_value: int | None) -> FormatError:
    none_total = many_total = 0
    first = None
    for s in blocks(flat.shape[1]):
        cnt = channel_count(flat, s)
        bad = (cnt > 1) if ignore_value is not None else (cnt != 1)
        none_total += int(np.count_nonzero(cnt == 0))
        many_total += int(np.count_nonzero(cnt > 1))
        if first is None and bad.any():
            first = s.start + int(np.argmax(bad))
    where = unravel(first, spatial)
    at = f"slice {where[0]}" if len(spatial) >= 3 else f"{where}"
    if ignore_value is not None:
        parts = f"{many_total} voxels have more than one channel set"
    else:
        parts = (f"{none_total + many_total} voxels are not one-hot ({none_total} have no "
                 f"channel set, {many_total} more than one)")
    return FormatError(
        f"{parts}, first at {at}; this is a multi-hot stack (overlapping masks, a target for "
        "BCEWithLogitsLoss): use multihot_to_labels with a priority or overlap='ignore', "
        "or multihot_to_atoms to keep every combination."
    )


def onehot_to_labels(onehot: Any, *, ignore_value: int | None = None) -> Any:
    """The integer label map of a one-hot stack (what CrossEntropyLoss takes).

    Parameters
    ----------
    onehot : array or tensor, shape (C, [Z,] Y, X), values 0/1
        Exactly one channel set per voxel, channel 0 usually background.
    ignore_value : int, optional
        Give voxels with no channel set this value instead of raising.

    Raises
    ------
    FormatError
        If a voxel has no channel or several channels set (a multi-hot stack),
        or if there is a single channel (a binary mask, not a one-hot stack).

    Examples
    --------
    >>> oh = np.array([[[1, 0]], [[0, 1]]])
    >>> onehot_to_labels(oh)
    array([[0, 1]], dtype=uint8)
    """
    arr, back = channel_stack_arg(onehot, "a one-hot stack")
    n_ch = arr.shape[0]
    if n_ch < 2:
        raise FormatError(
            "a one-hot stack needs at least two channels (background and foreground), but this "
            "one has a single channel: it is already a binary mask (decide a one-channel logit "
            "by logit > 0, never by argmax, which always gives 0)."
        )
    flat, spatial = flat_channels(arr), arr.shape[1:]
    out = np.empty(flat.shape[1], label_dtype(max(n_ch - 1, ignore_value or 0)))
    for s in blocks(flat.shape[1]):
        lab = out[s]
        lab[...] = 0
        cnt = np.zeros(s.stop - s.start, np.uint16)
        for c in range(n_ch):
            m = as_mask_u8(flat[c, s])
            np.add(cnt, m, out=cnt, casting="unsafe")
            if c:
                np.copyto(lab, c, where=m.view(np.bool_), casting="unsafe")
        if ignore_value is None:
            if not (cnt == 1).all():
                raise _not_onehot_error(flat, spatial, None)
        else:
            if (cnt > 1).any():
                raise _not_onehot_error(flat, spatial, ignore_value)
            np.copyto(lab, ignore_value, where=cnt == 0, casting="unsafe")
    return back(out.reshape(spatial))


def labels_to_multihot(
    labels: Any,
    regions: Mapping[str, Iterable[int] | int] | Sequence[Iterable[int] | int],
    *,
    dtype: Any = np.uint8,
) -> Any:
    """One channel per region, a region being a set of label values.

    This is nnU-Net's region-based training: e.g. ``whole`` is the union of the
    parts, so the channels overlap and the target is for BCEWithLogitsLoss.

    Parameters
    ----------
    labels : integer array or tensor, shape ([Z,] Y, X)
    regions : mapping name -> label values, or a sequence of label-value sets
        Channel ``c`` is set where the label is in ``regions[c]``.
    dtype : dtype
        Output dtype (uint8 by default).

    Examples
    --------
    >>> lab = np.array([[0, 1, 2, 3]])
    >>> labels_to_multihot(lab, {"whole": [1, 2, 3], "part_1": [1]})
    array([[[0, 1, 1, 1]],
    <BLANKLINE>
           [[0, 1, 0, 0]]], dtype=uint8)
    """
    arr, back = labels_arg(labels)
    items = list(regions.items()) if isinstance(regions, Mapping) else list(enumerate(regions))
    if not items:
        raise FormatError("no regions were given; give at least one channel's label values.")
    value_sets = []
    for name, values in items:
        v = np.atleast_1d(np.asarray(values if not isinstance(values, set) else sorted(values)))
        if v.size == 0:
            raise FormatError(f"region {name!r} lists no label values; give at least one.")
        if not np.issubdtype(v.dtype, np.integer) or (v < 0).any():
            raise FormatError(f"region {name!r} must list non-negative integer label values.")
        value_sets.append(np.unique(v))
    flat = np.ascontiguousarray(arr).reshape(-1)
    out = np.empty((len(value_sets), flat.size), dtype=dtype)
    fill_regions(flat, value_sets, out)
    return back(out.reshape((len(value_sets), *arr.shape)))


def _listed_once(order: Sequence[int | str], names: tuple[str, ...], what: str) -> list[int]:
    idx = [channel_index(p, names) for p in order]
    if sorted(idx) != list(range(len(names))):
        raise FormatError(f"{what} must list every channel exactly once ({', '.join(names)}), "
                          + ("the one that wins first." if what == "priority" else
                             "in painting order: later entries win."))
    return idx


def _painting_order(priority: Any, painting_order: Any, names: tuple[str, ...]) -> list[int]:
    """The order channels are painted in (the last painted wins an overlap)."""
    if priority is not None and painting_order is not None:
        raise FormatError("give either a priority (the first listed wins) or a painting_order "
                          "(the last listed wins), not both.")
    if painting_order is not None:
        if isinstance(painting_order, str):
            raise FormatError(f"painting_order must be a list of channels, not "
                              f"{painting_order!r}.")
        return _listed_once(painting_order, names, "painting_order")
    if priority is None or priority == "later":
        return list(range(len(names)))
    if isinstance(priority, str):
        raise FormatError(f"priority must be 'later' or a list of channels (the first listed "
                          f"wins), not {priority!r}.")
    return _listed_once(priority, names, "priority")[::-1]


def multihot_to_labels(
    multihot: Any,
    *,
    priority: str | Sequence[int | str] | None = None,
    painting_order: Sequence[int | str] | None = None,
    overlap: str = "error",
    ignore_value: int = IGNORE,
    names: Sequence[str] | None = None,
) -> Any:
    """Paint channel ``c`` as label ``c + 1`` into one label map.

    Lossless when channels do not overlap. Where they do, the rule must be
    explicit: ``priority`` (every channel, the first listed wins; ``"later"``:
    later channels of the stack win), ``painting_order`` (every channel in the
    order they are painted: the last listed wins) or ``overlap="ignore"``
    (overlaps get ``ignore_value``).

    Parameters
    ----------
    multihot : array or tensor, shape (C, [Z,] Y, X), values 0/1
    priority : "later" or sequence of channel names/indices, optional
        Who wins an overlap: the first listed (as in the Review panel's
        priority list, "top wins"), or the later channel with ``"later"``.
    painting_order : sequence of channel names/indices, optional
        The same rule the other way round: channels in painting order, the
        last one painted wins.
    overlap : {"error", "ignore", "priority"}
        ``"priority"`` is implied when ``priority`` or ``painting_order`` is
        given (``"later"`` without either).
    ignore_value : int
        Value for overlapping voxels with ``overlap="ignore"``.
    names : sequence of str, optional
        Channel names, used in messages and to resolve the channels named in
        ``priority`` and ``painting_order``.

    Raises
    ------
    OverlapError
        If channels overlap and no rule was given; the message says how many
        voxels, which channels, and the first slice.

    Examples
    --------
    >>> m = np.array([[[1, 1, 0]], [[0, 1, 1]]])
    >>> multihot_to_labels(m, priority="later")
    array([[1, 2, 2]], dtype=uint8)
    >>> multihot_to_labels(m, priority=["a", "b"], names=["a", "b"])      # a wins
    array([[1, 1, 2]], dtype=uint8)
    >>> multihot_to_labels(m, painting_order=["a", "b"], names=["a", "b"])  # b painted last
    array([[1, 2, 2]], dtype=uint8)
    >>> multihot_to_labels(m, overlap="ignore")
    array([[  1, 255,   2]], dtype=uint8)
    """
    arr, back = channel_stack_arg(multihot, "a multi-hot stack")
    names = channel_names(arr.shape[0], names)
    if overlap not in ("error", "ignore", "priority"):
        raise FormatError(f"overlap must be 'error', 'ignore' or 'priority', not {overlap!r}.")
    ruled = priority is not None or painting_order is not None
    if ruled and overlap == "ignore":
        raise FormatError("give either a priority or overlap='ignore', not both.")
    if overlap == "priority" and not ruled:
        priority = "later"
    order = _painting_order(priority, painting_order, names)
    ruled = priority is not None or painting_order is not None
    n_ch = arr.shape[0]
    if overlap == "ignore" and 0 < ignore_value <= n_ch:
        raise FormatError(
            f"ignore_value {ignore_value} clashes with the labels 1..{n_ch} of the channels; "
            "choose a larger one."
        )
    flat, spatial = flat_channels(arr), arr.shape[1:]
    top = max(n_ch, ignore_value if overlap == "ignore" else 0)
    out = np.empty(flat.shape[1], label_dtype(top))
    strict = not ruled and overlap == "error"
    for s in blocks(flat.shape[1]):
        lab = out[s]
        lab[...] = 0
        cnt = np.zeros(s.stop - s.start, np.uint16) if not ruled else None
        for c in order:
            m = as_mask_u8(flat[c, s])
            if cnt is not None:
                np.add(cnt, m, out=cnt, casting="unsafe")
            np.copyto(lab, c + 1, where=m.view(np.bool_), casting="unsafe")
        if cnt is not None:
            if strict and (cnt > 1).any():
                raise _overlap_error(arr, flat, names)
            if overlap == "ignore":
                np.copyto(lab, ignore_value, where=cnt > 1, casting="unsafe")
    return back(out.reshape(spatial))


def _overlap_error(arr: np.ndarray, flat: np.ndarray, names: tuple[str, ...]) -> OverlapError:
    spatial = arr.shape[1:]
    report = check_overlaps(arr, names)
    total = _count_overlapping(flat)
    first = min(f.first_index for f in report.findings)
    pairs = "; ".join(" & ".join(f.channels) + f" ({f.count})" for f in report.findings)
    at = f"slice {first[0]}" if len(spatial) >= 3 else f"{first}"
    return OverlapError(
        f"{total} voxels belong to more than one channel ({pairs}), first at {at}, "
        "and a label map holds one value per voxel: pass a priority (every channel, "
        "the first listed wins) or overlap='ignore' to mark them 255, or keep the multi-hot "
        "stack (BCEWithLogitsLoss) or its atoms.",
        report,
    )


def _count_overlapping(flat: np.ndarray) -> int:
    total = 0
    for s in blocks(flat.shape[1]):
        total += int(np.count_nonzero(channel_count(flat, s) > 1))
    return total


