"""Consistency of a set of masks with a hierarchy, and the one-click fixes.

A *review set* is a list of :class:`Channel` objects: a binary mask (non-zero
is on) or one class of a label map (voxels equal to ``value``), each with the
name of the array it lives in (``source``: a napari layer, a file). A
:class:`Rule` says how channels relate: children lie inside their parent
(``within`` in the model card), siblings are disjoint, and optionally the
parent is exactly the union of its children.

:func:`check_review` reports what breaks the rules as the same
:class:`~napari_segreview.labels.checks.Finding` objects the other checks use.
Each fix returns a :class:`FixResult`: the changed voxels as :class:`Edit`
objects (coordinates plus the value to write, which napari records as one
undoable edit per layer) and, on request, the new masks. A fix changes only
what it says: clipping sets child voxels outside the parent to 0, growing sets
parent voxels to 1, and so on.

Everything runs blockwise over the flattened volume (cache-sized blocks): no
temporary larger than a block, except the coordinates of the voxels a fix
changes. Channels and helpers live in :mod:`.channels`, the fixes and their
registry (:data:`~.fixes.FIXES`, :func:`~.fixes.run_fix`) in :mod:`.fixes`; the
checks' sentences are those of :mod:`napari_segreview.labels.checks`. This module
also computes the overlap view (:func:`overlap_map`); import everything from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from napari_segreview._util.arrays import blocks, unravel
from napari_segreview.errors import ReviewError
from napari_segreview.labels.checks import (
    CheckReport,
    Finding,
    first_and_count,
    outside_parent_finding,
    overlap_finding,
    parent_not_union_finding,
    where_phrase,
)
from napari_segreview.labels.formats import IGNORE
from napari_segreview.review.channels import (
    Channel,
    Rule,
    _by_name,
    _outside,
    _rule_channels,
    _uncovered,
    count_per_slice,
    slice_blocks,
)
from napari_segreview.review.fixes import (
    FIXES,
    Edit,
    FixResult,
    FixSpec,
    clip_to_parent,
    fixes_for,
    grow_parent,
    make_binary,
    parent_from_children,
    remove_overlaps,
    run_fix,
)

__all__ = [
    "FIXES",
    "Channel",
    "Edit",
    "FixResult",
    "FixSpec",
    "ReviewError",
    "Rule",
    "channels_from_card",
    "check_review",
    "clip_to_parent",
    "count_per_slice",
    "fixes_for",
    "grow_parent",
    "make_binary",
    "overlap_map",
    "parent_from_children",
    "remove_overlaps",
    "rules_from_card",
    "run_fix",
    "slice_blocks",
]


# ---------------------------------------------------------------- hierarchy from the card
def rules_from_card(card: Any, *, disjoint: bool | None = None, union: bool = False
                    ) -> list[Rule]:
    """One :class:`Rule` per head that lies ``within`` another head.

    The parent is the one channel of the parent (sigmoid) head; the children
    are the child head's channels, without a softmax head's background
    (channel 0).

    Parameters
    ----------
    card : ModelCard
    disjoint : bool, optional
        Children must not overlap. By default True for softmax children (one
        class per voxel) and False for sigmoid children (independent channels).
    union : bool
        The parent must equal the union of its children.

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> card = ModelCard.from_dict({"heads": [
    ...     {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
    ...     {"name": "parts", "kind": "softmax", "within": "whole",
    ...      "channels": ["background", "part_1", "part_2"]}]})
    >>> rules_from_card(card)
    [Rule(parent='whole', children=('part_1', 'part_2'), disjoint=True, union=False)]
    """
    rules = []
    for h in card.heads:
        if h.within is None:
            continue
        parent = card.head(h.within).channels[0]
        kids = h.channels[1:] if h.kind == "softmax" else h.channels
        dis = (h.kind == "softmax") if disjoint is None else bool(disjoint)
        rules.append(Rule(parent, tuple(kids), disjoint=dis, union=union))
    return rules


def channels_from_card(card: Any, arrays: Mapping[str, Any]) -> list[Channel]:
    """The review set of a card's decisions.

    Parameters
    ----------
    card : ModelCard
    arrays : mapping
        A binary mask per sigmoid channel (keyed by channel name) and a label
        map per softmax head (keyed by head name). Missing keys are skipped.

    Returns
    -------
    list of Channel
        Sigmoid channels as binary masks; softmax classes except background as
        classes of their head's label map (``source`` = head name).

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> card = ModelCard.from_dict({"heads": [
    ...     {"name": "parts", "kind": "softmax", "channels": ["bg", "a", "b"]}]})
    >>> chans = channels_from_card(card, {"parts": np.zeros(3, np.uint8)})
    >>> [(c.name, c.value, c.source) for c in chans]
    [('a', 1, 'parts'), ('b', 2, 'parts')]
    """
    out = []
    for h in card.heads:
        if h.kind == "softmax":
            if h.name in arrays:
                out += [Channel(c, arrays[h.name], k, source=h.name)
                        for k, c in enumerate(h.channels) if k]
        else:
            out += [Channel(c, arrays[c]) for c in h.channels if c in arrays]
    return out


# ---------------------------------------------------------------- checks
def _label_findings(chans: Sequence[Channel], ignore_value: int | None) -> list[Finding]:
    findings = []
    by_source: dict[str, list[Channel]] = {}
    for c in chans:
        by_source.setdefault(c.source, []).append(c)
    for source, group in by_source.items():
        first = group[0]
        n, shape = first.size, first.shape
        if all(c.binary for c in group):
            ok = np.array([0, 1])
            what = f"mask {source!r} holds"
            hint = "a binary mask holds only 0 and 1; painted with another label?"
        else:
            ok = np.array(sorted({0, *(c.value for c in group if not c.binary)}
                                 | ({ignore_value} if ignore_value is not None else set())))
            what = f"label map {source!r} holds"
            hint = f"its classes are {', '.join(str(v) for v in ok)}"

        def bad(s, first=first, ok=ok):
            return ~np.isin(first.raw(s), ok)

        total, at = first_and_count(bad, n)
        if total:
            findings.append(Finding(
                "non_binary" if all(c.binary for c in group) else "unexpected_label",
                f"{what} {total} voxels with other values ({hint}){where_phrase(shape, at)}.",
                total, tuple(c.name for c in group), unravel(at, shape),
            ))
    return findings


def check_review(channels: Sequence[Channel], rules: Sequence[Rule], *,
                 ignore_value: int | None = IGNORE) -> CheckReport:
    """Check a review set against its rules.

    Findings (kinds as in :mod:`napari_segreview.labels.checks`):

    * ``non_binary`` / ``unexpected_label``: a binary mask holds values other
      than 0 and 1, or a label map values that are no class (``ignore_value``
      allowed);
    * ``outside_parent``: child voxels outside the parent (one per child);
    * ``overlap``: two children of a ``disjoint`` rule overlap (one per pair);
    * ``parent_not_union``: parent voxels that no child covers (``union`` rules).

    Parameters
    ----------
    channels : sequence of Channel
    rules : sequence of Rule
    ignore_value : int or None
        A label value allowed in label maps besides the classes (255 by default).

    Returns
    -------
    CheckReport
        Named ``"review"``; each finding has a count, the channels and the
        first offending voxel (``first_slice`` for a stack).

    Raises
    ------
    ReviewError
        If a rule names a missing channel or the shapes differ.

    Examples
    --------
    >>> whole = np.array([[0, 1, 1, 1, 0]], np.uint8)
    >>> parts = np.array([[0, 1, 1, 2, 2]], np.uint8)   # part 2 sticks out at x=4
    >>> chans = [Channel("whole", whole), Channel("p1", parts, 1, "parts"),
    ...          Channel("p2", parts, 2, "parts")]
    >>> r = check_review(chans, [Rule("whole", ("p1", "p2"))])
    >>> [(f.kind, f.count, f.first_index) for f in r.findings]
    [('outside_parent', 1, (0, 4))]
    """
    chans = _by_name(channels)
    report = CheckReport("review")
    report.findings.extend(_label_findings(list(chans.values()), ignore_value))
    for rule in rules:
        parent, kids = _rule_channels(chans, rule)
        shape, n = parent.shape, parent.size
        for k in kids:
            total, at = first_and_count(_outside(k, parent), n)
            if total:
                report.findings.append(outside_parent_finding(k.name, parent.name, total, at,
                                                              shape))
        if rule.disjoint:
            for i, a in enumerate(kids):
                for b in kids[i + 1:]:
                    if a.source == b.source and not (a.binary or b.binary):
                        continue   # two classes of one label map never overlap
                    total, at = first_and_count(lambda s, a=a, b=b: a.mask(s) & b.mask(s), n)
                    if total:
                        report.findings.append(overlap_finding(a.name, b.name, total, at,
                                                               shape, members="children"))
        if rule.union:
            total, at = first_and_count(_uncovered(parent, kids), n)
            if total:
                report.findings.append(parent_not_union_finding(
                    parent.name, [k.name for k in kids], total, at, shape))
    return report


# ---------------------------------------------------------------- overlap view
def overlap_map(channels: Sequence[Channel]) -> np.ndarray:
    """Number of channels on at each voxel where two or more are on, else 0.

    Parameters
    ----------
    channels : sequence of Channel

    Returns
    -------
    ndarray of uint8, spatial shape
        0 where fewer than two channels are on; 2, 3, ... the count elsewhere.

    Examples
    --------
    >>> a = np.array([[1, 1, 1, 0]], np.uint8)
    >>> b = np.array([[0, 1, 1, 0]], np.uint8)
    >>> c = np.array([[0, 0, 1, 1]], np.uint8)
    >>> overlap_map([Channel("a", a), Channel("b", b), Channel("c", c)])
    array([[0, 2, 3, 0]], dtype=uint8)
    """
    chans = list(_by_name(channels).values())
    if not chans:
        raise ReviewError("no masks were given; pick at least two channels.")
    if len(chans) > 255:
        raise ReviewError(f"{len(chans)} channels is too many for an overlap view (255 at most).")
    first = chans[0]
    out = np.empty(first.size, np.uint8)
    for s in blocks(first.size):
        o = out[s]
        o[...] = 0
        for c in chans:
            np.add(o, c.mask(s), out=o, casting="unsafe")
        o[o < 2] = 0
    return out.reshape(first.shape)
