"""Checks on masks and channel stacks that return structured reports.

Every check returns a :class:`CheckReport`: a list of :class:`Finding` objects,
each with a one-sentence message, a voxel count, the channels concerned and the
coordinate of the first offending voxel, so that a widget can show a table and
jump to the slice, and the CLI can print the sentences.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from napari_segreview._util.arrays import (
    as_numpy,
    blocks,
    channel_count,
    flat_channels,
    require_integer,
    unravel,
)
from napari_segreview.errors import FormatError


@dataclass(frozen=True)
class Finding:
    """One problem found by a check.

    Attributes
    ----------
    kind : str
        ``"overlap"``, ``"outside_parent"``, ``"parent_not_union"``,
        ``"non_binary"``, ``"unexpected_label"``, ``"shape_mismatch"`` or
        ``"not_onehot"``.
    message : str
        One sentence for a person.
    count : int
        Number of voxels (or values) concerned.
    channels : tuple of str
        Channels concerned, by name.
    first_index : tuple of int or None
        Spatial coordinate (C order) of the first offending voxel.
    """

    kind: str
    message: str
    count: int
    channels: tuple[str, ...] = ()
    first_index: tuple[int, ...] | None = None

    @property
    def first_slice(self) -> int | None:
        """Index along the first spatial axis (the slice of a 3-D stack)."""
        return None if not self.first_index else self.first_index[0]


@dataclass
class CheckReport:
    """The findings of one check; empty means the data passed.

    >>> r = CheckReport("overlaps")
    >>> r.ok, r.message
    (True, 'overlaps: no problems found.')
    """

    check: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    @property
    def message(self) -> str:
        """All findings' sentences, or a sentence saying all is well."""
        if self.ok:
            return f"{self.check}: no problems found."
        return " ".join(f.message for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (tuples become lists)."""
        return {
            "check": self.check,
            "ok": self.ok,
            "findings": [
                {**asdict(f), "channels": list(f.channels),
                 "first_index": None if f.first_index is None else list(f.first_index)}
                for f in self.findings
            ],
        }

    def raise_for_findings(self, error_cls: type[Exception] = FormatError) -> None:
        """Raise ``error_cls(self.message)`` when there are findings."""
        if not self.ok:
            raise error_cls(self.message)


def channel_names(n: int, names: Sequence[str] | None = None) -> tuple[str, ...]:
    """Channel names, ``ch0 .. ch{n-1}`` by default; checks length and uniqueness.

    >>> channel_names(2)
    ('ch0', 'ch1')
    >>> channel_names(2, ["whole", "part_1"])
    ('whole', 'part_1')
    """
    if names is None:
        return tuple(f"ch{i}" for i in range(n))
    names = tuple(str(s) for s in names)
    if len(names) != n:
        raise FormatError(
            f"{len(names)} channel names were given for {n} channels; "
            "give exactly one per channel."
        )
    if len(set(names)) != n:
        dup = sorted({s for s in names if names.count(s) > 1})
        raise FormatError(f"channel names must be unique, but {', '.join(dup)} repeat.")
    return names


def channel_index(key: int | str, names: tuple[str, ...]) -> int:
    """Index of a channel given by name or index.

    >>> channel_index("b", ("a", "b")), channel_index(0, ("a", "b"))
    (1, 0)
    """
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if not 0 <= int(key) < len(names):
            raise FormatError(f"channel index {key} is out of range for {len(names)} channels.")
        return int(key)
    if str(key) in names:
        return names.index(str(key))
    raise FormatError(f"no channel is named {key!r}; the channels are {', '.join(names)}.")


def where_phrase(shape: tuple[int, ...], flat: int | None) -> str:
    """Where a finding starts, as the end of its sentence: ``", first at slice 2"`` for a stack.

    ``flat`` is the flat (C order) index of the first offending voxel; ``None`` gives ``""``.

    >>> where_phrase((3, 4, 5), 45), where_phrase((4, 5), 7), where_phrase((4, 5), None)
    (', first at slice 2', ', first at (1, 2)', '')
    """
    if flat is None:
        return ""
    idx = unravel(flat, shape)
    if len(shape) >= 3:
        return f", first at slice {idx[0]}"
    return f", first at {idx}"


def first_and_count(mask_fn, n: int) -> tuple[int, int | None]:
    """Count the voxels where ``mask_fn(block)`` is true, and the first one's flat index.

    ``mask_fn`` takes a slice of the flat volume (cache-sized blocks of ``n``
    voxels) and returns a boolean array for it.

    >>> flat = np.array([0, 0, 1, 0, 1, 1])
    >>> first_and_count(lambda s: flat[s] == 1, 6), first_and_count(lambda s: flat[s] > 1, 6)
    ((3, 2), (0, None))
    """
    total, first = 0, None
    for s in blocks(n):
        m = mask_fn(s)
        c = int(np.count_nonzero(m))
        if c:
            if first is None:
                first = s.start + int(np.argmax(m))
            total += c
    return total, first


# ---------------------------------------------------------------- hierarchy findings
# One sentence each, for check_hierarchy / check_overlaps here and the review's checks.
def outside_parent_finding(child: str, parent: str, total: int, first: int,
                           shape: tuple[int, ...]) -> Finding:
    """The finding: ``total`` voxels of ``child`` lie outside ``parent``, the first at ``first``.

    >>> f = outside_parent_finding("part", "whole", 3, 6, (2, 4))
    >>> f.message, f.channels, f.first_index
    ("3 voxels of 'part' lie outside its parent 'whole', first at (1, 2).", ('part', 'whole'), \
(1, 2))
    """
    return Finding("outside_parent",
                   f"{total} voxels of {child!r} lie outside its parent {parent!r}"
                   f"{where_phrase(shape, first)}.",
                   total, (child, parent), unravel(first, shape))


def parent_not_union_finding(parent: str, children: Sequence[str], total: int, first: int,
                             shape: tuple[int, ...]) -> Finding:
    """The finding: ``total`` voxels of ``parent`` are covered by none of ``children``.

    >>> parent_not_union_finding("whole", ["a", "b"], 2, 30, (3, 3, 5)).message
    "2 voxels of 'whole' are covered by none of its children (a, b), first at slice 2."
    """
    kids = tuple(children)
    return Finding("parent_not_union",
                   f"{total} voxels of {parent!r} are covered by none of its children "
                   f"({', '.join(kids)}){where_phrase(shape, first)}.",
                   total, (parent, *kids), unravel(first, shape))


def overlap_finding(a: str, b: str, total: int, first: int, shape: tuple[int, ...], *,
                    members: str = "channels") -> Finding:
    """The finding: ``a`` and ``b`` overlap in ``total`` voxels (``members``: what they are).

    >>> overlap_finding("a", "b", 4, 1, (8,), members="children").message
    "children 'a' and 'b' overlap in 4 voxels, first at (1,)."
    """
    return Finding("overlap",
                   f"{members} {a!r} and {b!r} overlap in {total} voxels"
                   f"{where_phrase(shape, first)}.",
                   total, (a, b), unravel(first, shape))


def _stack(stack: Any, names: Sequence[str] | None, what: str) -> tuple[np.ndarray, tuple]:
    arr, _ = as_numpy(stack)
    if arr.ndim < 2:
        raise FormatError(
            f"{what} must be a channel stack shaped (C, [Z,] Y, X), but it has shape {arr.shape}."
        )
    return arr, channel_names(arr.shape[0], names)


def check_overlaps(multihot: Any, names: Sequence[str] | None = None) -> CheckReport:
    """Find voxels where two or more channels are set, one finding per pair.

    >>> m = np.zeros((2, 1, 4), np.uint8); m[0, 0, :3] = 1; m[1, 0, 2:] = 1
    >>> r = check_overlaps(m, ["a", "b"])
    >>> r.ok, r.findings[0].count, r.findings[0].channels
    (False, 1, ('a', 'b'))
    """
    arr, names = _stack(multihot, names, "a multi-hot stack")
    flat, spatial = flat_channels(arr), arr.shape[1:]
    n = flat.shape[1]
    # One cheap pass to learn whether anything overlaps at all.
    hot_blocks = []
    for s in blocks(n):
        if (channel_count(flat, s) >= 2).any():
            hot_blocks.append(s)
    report = CheckReport("overlaps")
    if not hot_blocks:
        return report
    for i, j in itertools.combinations(range(flat.shape[0]), 2):
        total, first = 0, None
        for s in hot_blocks:
            m = (flat[i, s] != 0) & (flat[j, s] != 0)
            c = int(np.count_nonzero(m))
            if c:
                first = s.start + int(np.argmax(m)) if first is None else first
                total += c
        if total:
            report.findings.append(overlap_finding(names[i], names[j], total, first, spatial))
    return report


def check_hierarchy(
    multihot: Any,
    parent: int | str,
    children: Sequence[int | str],
    names: Sequence[str] | None = None,
    *,
    require_union: bool = False,
    disjoint_children: bool = False,
) -> CheckReport:
    """Check that children lie inside their parent (and optionally cover it).

    Parameters
    ----------
    multihot : array or tensor, shape (C, [Z,] Y, X)
        The channel stack.
    parent, children : int or str
        Channels by index or name.
    require_union : bool
        Also report parent voxels that no child covers (parent == union).
    disjoint_children : bool
        Also report children that overlap each other.

    Examples
    --------
    >>> m = np.zeros((2, 1, 4), np.uint8)
    >>> m[0, 0, :2] = 1; m[1, 0, 1:3] = 1     # child sticks out at x=2
    >>> f = check_hierarchy(m, "whole", ["part"], ["whole", "part"]).findings[0]
    >>> f.kind, f.count, f.first_index
    ('outside_parent', 1, (0, 2))
    """
    arr, names = _stack(multihot, names, "a multi-hot stack")
    flat, spatial = flat_channels(arr), arr.shape[1:]
    p = channel_index(parent, names)
    kids = [channel_index(c, names) for c in children]
    report = CheckReport("hierarchy")
    n = flat.shape[1]
    for k in kids:
        total, first = first_and_count(lambda s, k=k: (flat[k, s] != 0) & (flat[p, s] == 0), n)
        if total:
            report.findings.append(outside_parent_finding(names[k], names[p], total, first,
                                                          spatial))
    if require_union and kids:
        def uncovered(s):
            any_kid = np.zeros(s.stop - s.start, bool)
            for k in kids:
                any_kid |= flat[k, s] != 0
            return (flat[p, s] != 0) & ~any_kid

        total, first = first_and_count(uncovered, n)
        if total:
            report.findings.append(parent_not_union_finding(
                names[p], [names[k] for k in kids], total, first, spatial))
    if disjoint_children and len(kids) > 1:
        sub = check_overlaps(arr[kids], [names[k] for k in kids])
        report.findings.extend(sub.findings)
    return report


def check_binary(stack: Any, names: Sequence[str] | None = None) -> CheckReport:
    """Report channels that hold values other than 0 and 1.

    >>> check_binary(np.array([[0, 1, 2]])).findings[0].message
    "channel 'ch0' holds 1 voxels that are neither 0 nor 1 (values such as 2), first at (2,)."
    """
    arr, names = _stack(stack, names, "a channel stack")
    report = CheckReport("binary")
    if arr.dtype == np.bool_:
        return report
    flat, spatial = flat_channels(arr), arr.shape[1:]
    for c in range(flat.shape[0]):
        total, first = first_and_count(
            lambda s, c=c: (flat[c, s] != 0) & (flat[c, s] != 1), flat.shape[1]
        )
        if total:
            ch = flat[c]
            examples = np.unique(ch[(ch != 0) & (ch != 1)][:1000])[:3]
            ex = ", ".join(str(v.item()) for v in examples)
            report.findings.append(Finding(
                "non_binary",
                f"channel {names[c]!r} holds {total} voxels that are neither 0 nor 1 "
                f"(values such as {ex}){where_phrase(spatial, first)}.",
                total, (names[c],), unravel(first, spatial),
            ))
    return report


def check_label_values(
    labels: Any, num_classes: int, *, ignore_value: int | None = None
) -> CheckReport:
    """Report label values outside ``0 .. num_classes - 1`` (``ignore_value`` allowed).

    >>> r = check_label_values(np.array([0, 3, 255, 7]), 4, ignore_value=255)
    >>> r.findings[0].count, r.findings[0].first_index
    (1, (3,))
    """
    arr, _ = as_numpy(labels)
    require_integer(arr)
    flat = np.ascontiguousarray(arr).reshape(-1)

    def bad(s):
        b = flat[s]
        m = b >= num_classes
        if np.issubdtype(b.dtype, np.signedinteger):
            m |= b < 0
        if ignore_value is not None:
            m &= b != ignore_value
        return m

    report = CheckReport("label values")
    total, first = first_and_count(bad, flat.size)
    if total:
        values = []
        for s in blocks(flat.size):
            values.extend(np.unique(flat[s][bad(s)]).tolist())
            if len(set(values)) > 5:
                break
        shown = ", ".join(str(v) for v in sorted(set(values))[:5])
        allowed = f"0..{num_classes - 1}" + ("" if ignore_value is None else f" or {ignore_value}")
        report.findings.append(Finding(
            "unexpected_label",
            f"{total} voxels hold label values outside {allowed} (such as {shown})"
            f"{where_phrase(arr.shape, first)}.",
            total, (), unravel(first, arr.shape),
        ))
    return report


def check_shapes(spatial_shape: Sequence[int], array: Any, *, channels: bool) -> CheckReport:
    """Check that a mask matches an image's spatial shape.

    >>> check_shapes((10, 12), np.zeros((3, 10, 12)), channels=True).ok
    True
    >>> check_shapes((10, 12), np.zeros((10, 12)), channels=True).findings[0].kind
    'shape_mismatch'
    """
    shape = tuple(int(s) for s in (array.shape if hasattr(array, "shape") else np.shape(array)))
    spatial = tuple(int(s) for s in spatial_shape)
    report = CheckReport("shapes")
    if channels:
        if len(shape) != len(spatial) + 1 or shape[1:] != spatial:
            if shape == spatial:
                hint = " (it has no channel axis: is it a label map?)"
            elif len(shape) == len(spatial) + 1 and shape[:-1] == spatial:
                hint = " (the channel axis must come first)"
            else:
                hint = ""
            report.findings.append(Finding(
                "shape_mismatch",
                f"a channel stack of shape {shape} does not fit the image: expected "
                f"(C, {', '.join(map(str, spatial))}){hint}.",
                1,
            ))
    elif shape != spatial:
        hint = " (it has a channel axis: is it a channel stack?)" if shape[1:] == spatial else ""
        report.findings.append(Finding(
            "shape_mismatch",
            f"a label map of shape {shape} does not match the image's spatial shape "
            f"{spatial}{hint}.",
            1,
        ))
    return report
