"""The one-click fixes of a review, and their registry.

Each fix returns a :class:`FixResult`: the changed voxels as :class:`Edit`
objects (coordinates plus the value to write; napari applies them with
``Labels.data_setitem`` as one undoable step per layer) and, on request, the
new masks as copies. A fix changes only what its name says.

:data:`FIXES` says, per fix, what the Review panel and ``segreview check``
show (label, tooltip), which kind of finding it resolves and what it needs
(rules or a priority); :func:`run_fix` is the one dispatch both call, with
their own sentence for a missing input. Public through
:mod:`napari_segreview.review.checks`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from napari_segreview.errors import ReviewError
from napari_segreview.review.channels import (
    Channel,
    Rule,
    _binary_parent,
    _by_name,
    _collect,
    _get,
    _outside,
    _rule_channels,
    _uncovered,
    _uncovering,
    _union,
)

__all__ = [
    "FIXES",
    "Edit",
    "FixResult",
    "FixSpec",
    "clip_to_parent",
    "fixes_for",
    "grow_parent",
    "make_binary",
    "parent_from_children",
    "remove_overlaps",
    "run_fix",
]


@dataclass(frozen=True)
class Edit:
    """Voxels of one array (``source``) to set to ``value``, for one channel.

    ``indices`` is a tuple of integer arrays, one per axis, as
    ``napari.layers.Labels.data_setitem`` and ``array[indices] = value`` take.
    """

    source: str
    channel: str
    indices: tuple[np.ndarray, ...]
    value: int

    @property
    def count(self) -> int:
        """Number of voxels changed."""
        return int(self.indices[0].size) if self.indices else 0


@dataclass
class FixResult:
    """What a fix changes: edits per array, a sentence, and the new masks on request.

    Attributes
    ----------
    fix : str
        The fix's name (``"clip_to_parent"`` ...).
    edits : list of Edit
        Changes to apply in order; empty when there was nothing to fix.
    message : str
        One sentence saying what changed.
    arrays : dict of str to ndarray
        The original arrays by source (read, never written).
    """

    fix: str
    edits: list[Edit]
    message: str
    arrays: dict[str, np.ndarray] = field(repr=False)

    @property
    def changed(self) -> int:
        """Total number of voxels changed."""
        return sum(e.count for e in self.edits)

    @property
    def masks(self) -> dict[str, np.ndarray]:
        """New arrays (copies) of every source the fix changes, edits applied."""
        out: dict[str, np.ndarray] = {}
        for e in self.edits:
            if e.source not in out:
                out[e.source] = self.arrays[e.source].copy()
            out[e.source][e.indices] = e.value
        return out

    def by_source(self) -> dict[str, list[Edit]]:
        """Edits grouped by the array they change, in order."""
        out: dict[str, list[Edit]] = {}
        for e in self.edits:
            out.setdefault(e.source, []).append(e)
        return out


def _result(fix: str, edits: list[Edit], chans: Mapping[str, Channel], done: str,
            nothing: str) -> FixResult:
    edits = [e for e in edits if e.count]
    arrays = {c.source: c.data for c in chans.values()}
    total = sum(e.count for e in edits)
    if not edits:
        return FixResult(fix, [], nothing, arrays)
    per = ", ".join(f"{e.channel} {e.count}" for e in edits)
    return FixResult(fix, edits, f"{done}: {total} voxels changed ({per}).", arrays)


# ---------------------------------------------------------------- fixes
def clip_to_parent(channels: Sequence[Channel], rules: Sequence[Rule]) -> FixResult:
    """Switch off child voxels that lie outside their parent (set them to 0).

    Examples
    --------
    >>> whole = np.array([[0, 1, 1, 0]], np.uint8)
    >>> part = np.array([[1, 1, 0, 0]], np.uint8)
    >>> r = clip_to_parent([Channel("whole", whole), Channel("part", part)],
    ...                    [Rule("whole", ("part",))])
    >>> r.message
    'Clipped children to their parent: 1 voxels changed (part 1).'
    >>> r.masks["part"], part                           # the input is untouched
    (array([[0, 1, 0, 0]], dtype=uint8), array([[1, 1, 0, 0]], dtype=uint8))
    """
    chans = _by_name(channels)
    edits = []
    for rule in rules:
        parent, kids = _rule_channels(chans, rule)
        for k in kids:
            idx = _collect(k.shape, k.size, _outside(k, parent))
            edits.append(Edit(k.source, k.name, idx, 0))
    return _result("clip_to_parent", edits, chans, "Clipped children to their parent",
                   "Every child already lies inside its parent: nothing to clip.")


def grow_parent(channels: Sequence[Channel], rules: Sequence[Rule]) -> FixResult:
    """Switch on parent voxels wherever a child is on (parent |= children).

    Examples
    --------
    >>> whole = np.array([[0, 1, 0, 0]], np.uint8)
    >>> part = np.array([[1, 1, 0, 0]], np.uint8)
    >>> grow_parent([Channel("whole", whole), Channel("part", part)],
    ...             [Rule("whole", ("part",))]).masks["whole"]
    array([[1, 1, 0, 0]], dtype=uint8)
    """
    chans = _by_name(channels)
    edits = []
    for rule in rules:
        parent, kids = _rule_channels(chans, rule)
        _binary_parent(parent, "growing the parent")
        idx = _collect(parent.shape, parent.size, _uncovering(parent, kids))
        edits.append(Edit(parent.source, parent.name, idx, 1))
    return _result("grow_parent", edits, chans, "Grew the parent over its children",
                   "The parent already covers every child: nothing to grow.")


def parent_from_children(channels: Sequence[Channel], rules: Sequence[Rule]) -> FixResult:
    """Make the parent exactly the union of its children.

    Parent voxels covered by no child are switched off (0) and child voxels
    outside the parent are switched on (1): two edits on the parent.

    Examples
    --------
    >>> whole = np.array([[1, 1, 0, 0]], np.uint8)
    >>> a = np.array([[0, 1, 1, 0]], np.uint8)
    >>> r = parent_from_children([Channel("whole", whole), Channel("a", a)],
    ...                          [Rule("whole", ("a",))])
    >>> r.masks["whole"], [(e.value, e.count) for e in r.edits]
    (array([[0, 1, 1, 0]], dtype=uint8), [(0, 1), (1, 1)])
    """
    chans = _by_name(channels)
    edits = []
    for rule in rules:
        parent, kids = _rule_channels(chans, rule)
        _binary_parent(parent, "deriving the parent from its children")
        off = _collect(parent.shape, parent.size, _uncovered(parent, kids))
        on = _collect(parent.shape, parent.size, _uncovering(parent, kids))
        edits += [Edit(parent.source, parent.name, off, 0),
                  Edit(parent.source, parent.name, on, 1)]
    return _result("parent_from_children", edits, chans,
                   "Set the parent to the union of its children",
                   "The parent already equals the union of its children: nothing to change.")


def remove_overlaps(channels: Sequence[Channel], priority: Sequence[str]) -> FixResult:
    """Where channels overlap, keep only the one listed first in ``priority``.

    Parameters
    ----------
    channels : sequence of Channel
    priority : sequence of str
        Channel names, highest priority first. A channel is switched off (0)
        wherever a channel listed before it is on. Channels not listed are
        left alone.

    Examples
    --------
    >>> a = np.array([[1, 1, 1, 0]], np.uint8)
    >>> b = np.array([[0, 1, 1, 1]], np.uint8)
    >>> r = remove_overlaps([Channel("a", a), Channel("b", b)], ["b", "a"])
    >>> r.masks["a"], "b" in r.masks
    (array([[1, 0, 0, 0]], dtype=uint8), False)
    """
    chans = _by_name(channels)
    order = [_get(chans, p) for p in priority]
    if len({c.name for c in order}) != len(order):
        raise ReviewError("the priority lists a channel twice; list every channel once.")
    edits = []
    for i, c in enumerate(order[1:], start=1):
        higher = order[:i]
        idx = _collect(c.shape, c.size, lambda s, c=c, h=higher: c.mask(s) & _union(h, s))
        edits.append(Edit(c.source, c.name, idx, 0))
    return _result("remove_overlaps", edits, chans,
                   f"Removed overlaps (priority {' > '.join(priority)})",
                   "No channels overlap: nothing to remove.")


def make_binary(channels: Sequence[Channel]) -> FixResult:
    """Set values other than 0 and 1 in binary masks to 1 (keeps every voxel on).

    Examples
    --------
    >>> m = np.array([[0, 2, 1, 7]], np.uint8)
    >>> make_binary([Channel("m", m)]).masks["m"]
    array([[0, 1, 1, 1]], dtype=uint8)
    """
    chans = _by_name(channels)
    edits = [Edit(c.source, c.name, _collect(c.shape, c.size, lambda s, c=c: c.raw(s) > 1), 1)
             for c in chans.values() if c.binary]
    return _result("make_binary", edits, chans, "Made masks binary",
                   "Every binary mask holds only 0 and 1: nothing to change.")


# ---------------------------------------------------------------- registry and dispatch
@dataclass(frozen=True)
class FixSpec:
    """One fix as the Review panel and ``segreview check`` offer it.

    Attributes
    ----------
    name : str
        ``--fix`` value and key of :data:`FIXES`.
    label, tip : str
        Button text and what the fix does (one sentence).
    resolves : str
        The kind of finding it resolves (:class:`~napari_segreview.labels.checks.Finding`).
    needs : str or None
        ``"rules"`` (a parent and its children), ``"priority"`` (two or more
        channels, highest first) or ``None``.
    function : callable
        The fix: ``f(channels, rules)``, ``f(channels, priority)`` or ``f(channels)``.
    """

    name: str
    label: str
    tip: str
    resolves: str
    needs: str | None
    function: Callable[..., FixResult] = field(repr=False)


#: The fixes, in the order the panel and the CLI list them; for a kind of finding
#: the first fix that resolves it is the usual one.
FIXES: dict[str, FixSpec] = {f.name: f for f in (
    FixSpec("clip_to_parent", "Clip children to parent",
            "Set child voxels that lie outside their parent to 0.",
            "outside_parent", "rules", clip_to_parent),
    FixSpec("grow_parent", "Grow parent over children",
            "Set parent voxels to 1 wherever a child is on.",
            "outside_parent", "rules", grow_parent),
    FixSpec("parent_from_children", "Parent = union of children",
            "Set the parent to exactly the union of its children (adds and removes parent "
            "voxels).", "parent_not_union", "rules", parent_from_children),
    FixSpec("remove_overlaps", "Remove overlaps by priority",
            "Where children overlap, keep the one highest in the priority list.",
            "overlap", "priority", remove_overlaps),
    FixSpec("make_binary", "Make masks binary",
            "Set values other than 0 and 1 in binary masks to 1.",
            "non_binary", None, make_binary),
)}


def fixes_for(kind: str) -> list[str]:
    """The fixes that resolve a kind of finding, the usual one first (none: ``[]``).

    >>> fixes_for("outside_parent"), fixes_for("unexpected_label")
    (['clip_to_parent', 'grow_parent'], [])
    """
    return [f.name for f in FIXES.values() if f.resolves == kind]


def run_fix(name: str, channels: Sequence[Channel], rules: Sequence[Rule] = (),
            priority: Sequence[str] | None = (), *,
            missing: Mapping[str, str] | None = None) -> FixResult:
    """Compute fix ``name`` (a key of :data:`FIXES`) with the inputs it needs.

    Parameters
    ----------
    name : str
    channels : sequence of Channel
    rules : sequence of Rule
        For the fixes that need a parent and its children.
    priority : sequence of str
        For ``remove_overlaps``: two or more channels, highest first.
    missing : mapping, optional
        The sentence to raise when an input is missing, by need (``"rules"``,
        ``"priority"``): the caller says what to do in its own terms.

    Raises
    ------
    ReviewError
        An unknown fix, or a missing input (``missing``'s sentence, else a neutral one).

    Examples
    --------
    >>> m = np.array([[0, 2, 1]], np.uint8)
    >>> run_fix("make_binary", [Channel("m", m)]).masks["m"]
    array([[0, 1, 1]], dtype=uint8)
    >>> run_fix("clip_to_parent", [Channel("m", m)])
    Traceback (most recent call last):
    ...
    napari_segreview.errors.ReviewError: clip_to_parent needs a parent and its children (a rule).
    """
    spec = FIXES.get(name)
    if spec is None:
        raise ReviewError(f"no fix is called {name!r}; the fixes are {', '.join(FIXES)}.")
    said = missing or {}
    if spec.needs == "priority":
        priority = list(priority or ())
        if len(priority) < 2:
            raise ReviewError(said.get("priority") or (
                f"{name} needs a priority: two or more channels, highest first."))
        return spec.function(channels, priority)
    if spec.needs == "rules":
        if not rules:
            raise ReviewError(said.get("rules") or
                              f"{name} needs a parent and its children (a rule).")
        return spec.function(channels, rules)
    return spec.function(channels)
