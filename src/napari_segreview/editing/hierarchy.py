"""Hierarchy-aware painting: what a stroke on one channel implies for the others.

Numpy only. A :class:`Hierarchy` is plain data: the channels (which array,
the *source*, each lives in, and its value there) and the card's rules
(:class:`Link`: a parent, the children ``within`` it, and whether those
children are disjoint siblings, as a softmax head's classes are).
:func:`hierarchy_from_card` reads them from a model card's heads;
:func:`implied_edits` takes a stroke (the voxels it changed on one source,
already painted) and returns the edits of the other sources that keep the
rules true:

- a channel painted on: its parent is painted too (and the parent's parent);
- a channel erased (or overwritten by another class of a label map): its
  children are erased (and their children);
- a channel painted on that has disjoint siblings in other arrays: they are
  cleared at those voxels.

Every implied edit lies on the stroke's own voxels, so the work is
proportional to the stroke, never to the volume. The stroked array is taken
as it is (what the user painted wins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from napari_segreview.errors import FormatError

__all__ = ["ChannelRef", "Hierarchy", "Link", "hierarchy_from_card", "implied_edits"]


@dataclass(frozen=True)
class ChannelRef:
    """One channel: the array it lives in (``source``) and its value there.

    ``value`` None: a binary mask (any non-zero is on; painted on as ``on``);
    an integer: a class of a label map (on where the map equals it).
    """

    name: str
    source: str
    value: int | None = None
    on: int = 1


@dataclass(frozen=True)
class Link:
    """A card rule: ``children`` lie ``within`` ``parent``; ``disjoint``: they never overlap."""

    parent: str
    children: tuple[str, ...]
    disjoint: bool = False


@dataclass(frozen=True)
class Hierarchy:
    """Channels and the rules between them (see the module docstring)."""

    channels: tuple[ChannelRef, ...]
    links: tuple[Link, ...] = ()
    _by_name: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = {c.name: c for c in self.channels}
        for link in self.links:
            for n in (link.parent, *link.children):
                if n not in names:
                    raise FormatError(f"the rule names channel {n!r}, which is not one of "
                                      f"{', '.join(names)}: check the card's heads.")
        self._by_name.update(names)

    def channel(self, name: str) -> ChannelRef:
        """The channel called ``name``."""
        return self._by_name[name]

    def of_source(self, source: str) -> list[ChannelRef]:
        """The channels living in array ``source``."""
        return [c for c in self.channels if c.source == source]

    def parents(self, name: str) -> list[str]:
        """The channels ``name`` lies within (directly)."""
        return [k.parent for k in self.links if name in k.children]

    def children(self, name: str) -> list[str]:
        """The channels lying directly within ``name``."""
        return [c for k in self.links if k.parent == name for c in k.children]

    def siblings(self, name: str) -> list[str]:
        """The disjoint siblings of ``name`` (children of one disjoint rule with it)."""
        return [c for k in self.links if k.disjoint and name in k.children
                for c in k.children if c != name]

    def subset(self, sources: Sequence[str]) -> Hierarchy:
        """The hierarchy of the channels living in ``sources`` (their rules, where they apply)."""
        keep = tuple(c for c in self.channels if c.source in set(sources))
        have = {c.name for c in keep}
        links = []
        for k in self.links:
            kids = tuple(c for c in k.children if c in have)
            if k.parent in have and kids:
                links.append(Link(k.parent, kids, k.disjoint))
        return Hierarchy(keep, tuple(links))


def hierarchy_from_card(card: object) -> Hierarchy:
    """The hierarchy of a model card's heads, one source per sigmoid channel and softmax head.

    Sigmoid channels are binary masks named after the channel; a softmax head
    is a label map named after the head (its background, class 0, is no
    channel). A head ``within`` another makes its channels children of the
    parent head's channel, disjoint for a softmax head.

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> card = ModelCard.from_dict({"heads": [
    ...     {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
    ...     {"name": "parts", "kind": "softmax", "within": "whole",
    ...      "channels": ["background", "a", "b"]}]})
    >>> h = hierarchy_from_card(card)
    >>> [(c.name, c.source, c.value) for c in h.channels]
    [('whole', 'whole', None), ('a', 'parts', 1), ('b', 'parts', 2)]
    >>> h.links
    (Link(parent='whole', children=('a', 'b'), disjoint=True),)
    """
    chans: list[ChannelRef] = []
    links: list[Link] = []
    heads = list(getattr(card, "heads", ()))
    by_head = {h.name: h for h in heads}
    for h in heads:
        if h.kind == "softmax":
            chans += [ChannelRef(c, h.name, k) for k, c in enumerate(h.channels) if k]
        else:
            chans += [ChannelRef(c, c) for c in h.channels]
    for h in heads:
        if h.within is None or h.within not in by_head:
            continue
        kids = tuple(h.channels[1:] if h.kind == "softmax" else h.channels)
        links.append(Link(by_head[h.within].channels[0], kids, disjoint=h.kind == "softmax"))
    return Hierarchy(tuple(chans), tuple(links))


class _Voxels:
    """The values of every source at the stroke's voxels, edited as vectors."""

    def __init__(self, h: Hierarchy, arrays: Mapping[str, np.ndarray], idx: tuple):
        self.h = h
        self.before = {s: np.asarray(a[idx]) for s, a in arrays.items()}
        self.now = {s: v.copy() for s, v in self.before.items()}

    def state(self, c: ChannelRef) -> np.ndarray:
        v = self.now[c.source]
        return v != 0 if c.value is None else v == c.value


def _push(work: list, seen: dict, name: str, mask: np.ndarray, block: dict | None) -> None:
    m = mask & ~seen[name]
    if block is not None:
        m &= ~block[name]
    if m.any():
        seen[name] |= m
        work.append((name, m))


def implied_edits(h: Hierarchy, source: str, indices: tuple[np.ndarray, ...],
                  arrays: Mapping[str, np.ndarray], values: np.ndarray | None = None
                  ) -> dict[str, tuple[tuple, np.ndarray]]:
    """The edits of the other arrays implied by a stroke on ``source`` at ``indices``.

    Parameters
    ----------
    h : Hierarchy
    source : str
        The array the stroke painted (a key of ``arrays``), already changed.
    indices : tuple of int arrays
        The voxels the stroke changed, one array per axis.
    arrays : mapping
        Every source's current array (read only; shapes equal).
    values : ndarray, optional
        The stroked source's new values at ``indices``, when ``arrays[source]``
        does not hold them yet (napari announces a lone dab before writing it).

    Returns
    -------
    dict
        ``{source: (indices, values)}`` for each other array that must change:
        only voxels whose value differs, ready for ``Labels.data_setitem``.

    Examples
    --------
    >>> h = Hierarchy((ChannelRef("whole", "whole"), ChannelRef("a", "parts", 1),
    ...                ChannelRef("b", "parts", 2)), (Link("whole", ("a", "b"), True),))
    >>> whole, parts = np.zeros(4, np.uint8), np.array([0, 2, 0, 0], np.uint8)
    >>> whole[1] = 1
    >>> parts[2] = 1                         # the user painted part a at voxel 2
    >>> implied_edits(h, "parts", (np.array([2]),), {"whole": whole, "parts": parts})
    {'whole': ((array([2]),), array([1], dtype=uint8))}
    >>> whole[1] = 0                         # the user erased the whole at voxel 1
    >>> implied_edits(h, "whole", (np.array([1]),), {"whole": whole, "parts": parts})
    {'parts': ((array([1]),), array([0], dtype=uint8))}
    """
    idx = tuple(np.asarray(i).ravel() for i in indices)
    n = idx[0].size if idx else 0
    others = [s for s in arrays if s != source]
    if n == 0 or not others or source not in arrays:
        return {}
    vox = _Voxels(h, arrays, idx)
    if values is not None:
        vox.now[source] = np.broadcast_to(np.asarray(values), (n,)).astype(
            vox.now[source].dtype)
    names = [c.name for c in h.channels]
    none = np.zeros(n, bool)
    forced_on = {c: none.copy() for c in names}
    forced_off = {c: none.copy() for c in names}
    on_work: list = []
    off_work: list = []
    for c in h.of_source(source):
        st = vox.state(c)
        _push(on_work, forced_on, c.name, st, None)
        _push(off_work, forced_off, c.name, ~st, forced_on)
    while on_work:
        name, m = on_work.pop()
        for p in h.parents(name):
            _push(on_work, forced_on, p, m, None)
        c = h.channel(name)
        rivals = h.siblings(name)
        if c.value is not None:     # another class of the same label map turns off here
            rivals += [o.name for o in h.of_source(c.source) if o.name != name]
        for s in rivals:
            off_work.append((s, m))
    for name, m in off_work:        # seeds: keep them out of forced_off until processed
        forced_off[name] &= ~m
    queue = [(name, m) for name, m in off_work]
    off_work = []
    for name, m in queue:
        _push(off_work, forced_off, name, m, forced_on)
    while off_work:
        name, m = off_work.pop()
        for ch in h.children(name):
            _push(off_work, forced_off, ch, m, forced_on)
    for name in names:              # writes: on first, then off (off never undoes an on)
        c = h.channel(name)
        if c.source != source and c.source in vox.now and forced_on[name].any():
            vox.now[c.source][forced_on[name]] = c.on if c.value is None else c.value
    for name in names:
        c = h.channel(name)
        if c.source != source and c.source in vox.now and forced_off[name].any():
            v = vox.now[c.source]
            v[forced_off[name] & vox.state(c)] = 0
    out = {}
    for s in others:
        changed = vox.now[s] != vox.before[s]
        if changed.any():
            out[s] = (tuple(i[changed] for i in idx), vox.now[s][changed])
    return out
