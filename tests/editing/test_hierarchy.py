"""Hierarchy-aware painting keeps within and disjointness true after random strokes."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_segreview.card.spec import ModelCard
from napari_segreview.editing.hierarchy import (
    ChannelRef,
    Hierarchy,
    Link,
    hierarchy_from_card,
    implied_edits,
)

SHAPE = (4, 6, 6)

#: body (binary) > whole (binary) > parts a, b (one label map, disjoint) > a's tips x, y
#: (two binary masks, disjoint siblings in different arrays).
DEEP = Hierarchy(
    (ChannelRef("body", "body"), ChannelRef("whole", "whole"), ChannelRef("a", "parts", 1),
     ChannelRef("b", "parts", 2), ChannelRef("x", "x"), ChannelRef("y", "y")),
    (Link("body", ("whole",)), Link("whole", ("a", "b"), True), Link("a", ("x", "y"), True)))

DEMO = hierarchy_from_card(ModelCard.from_dict({"heads": [
    {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
    {"name": "parts", "kind": "softmax", "within": "whole",
     "channels": ["background", "part_1", "part_2", "part_3"]}]}))


def on(h, arrays, name):
    c = h.channel(name)
    v = arrays[c.source]
    return v != 0 if c.value is None else v == c.value


def violations(h, arrays):
    """Count voxels breaking a rule, computed straight from the arrays."""
    bad = 0
    for k in h.links:
        parent = on(h, arrays, k.parent)
        for child in k.children:
            bad += int((on(h, arrays, child) & ~parent).sum())
        if k.disjoint:
            total = sum(on(h, arrays, c).astype(int) for c in k.children)
            bad += int((total > 1).sum())
    return bad


def consistent_start(h, rng):
    """Random arrays, then forced to obey the rules (children clipped, siblings split)."""
    sources = sorted({c.source for c in h.channels})
    arrays = {}
    for s in sources:
        chans = h.of_source(s)
        top = max(c.value or 1 for c in chans)
        arrays[s] = rng.integers(0, top + 1, SHAPE).astype(np.uint8)
    for _ in range(len(h.channels)):       # top-down until stable
        for k in h.links:
            parent = on(h, arrays, k.parent)
            taken = np.zeros(SHAPE, bool)
            for child in k.children:
                c = h.channel(child)
                kill = on(h, arrays, child) & (~parent | (taken if k.disjoint else False))
                arrays[c.source][kill] = 0
                taken |= on(h, arrays, child)
    assert violations(h, arrays) == 0
    return arrays


def stroke(h, arrays, rng):
    """Paint a random value over a random blob of one source (what napari's brush does)."""
    sources = sorted(arrays)
    s = sources[int(rng.integers(len(sources)))]
    chans = h.of_source(s)
    value = int(rng.integers(0, max(c.value or 1 for c in chans) + 1))
    blob = rng.random(SHAPE) < rng.uniform(0.05, 0.5)
    idx = np.nonzero(blob & (arrays[s] != value))
    return s, idx, value


def apply(edits, arrays):
    for s, (idx, vals) in edits.items():
        arrays[s][idx] = vals


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["deep", "demo"]), st.integers(1, 6))
def test_random_strokes_keep_the_rules(seed, which, n_strokes):
    h = DEEP if which == "deep" else DEMO
    rng = np.random.default_rng(seed)
    arrays = consistent_start(h, rng)
    for _ in range(n_strokes):
        s, idx, value = stroke(h, arrays, rng)
        if rng.random() < 0.5:              # the stroke already written, as a stroke's end
            arrays[s][idx] = value
            edits = implied_edits(h, s, idx, arrays)
        else:                               # announced before the write, as a lone dab
            edits = implied_edits(h, s, idx, arrays, values=np.full(idx[0].size, value))
            arrays[s][idx] = value
        painted_before = arrays[s].copy()
        assert s not in edits                          # the user's stroke stands as painted
        for other, (eidx, _vals) in edits.items():     # edits stay on the stroke's voxels
            mask = np.zeros(SHAPE, bool)
            mask[idx] = True
            assert mask[eidx].all(), other
        apply(edits, arrays)
        np.testing.assert_array_equal(arrays[s], painted_before)
        assert violations(h, arrays) == 0


def test_each_rule_by_hand():
    z = np.zeros(SHAPE, np.uint8)
    arrays = {s: z.copy() for s in ("body", "whole", "parts", "x", "y")}
    v = (np.array([1]), np.array([2]), np.array([3]))
    # painting tip x paints a, whole and body
    arrays["x"][v] = 1
    apply(implied_edits(DEEP, "x", v, arrays), arrays)
    assert arrays["parts"][v] == 1 and arrays["whole"][v] == 1 and arrays["body"][v] == 1
    # painting its sibling y clears x
    arrays["y"][v] = 1
    apply(implied_edits(DEEP, "y", v, arrays), arrays)
    assert arrays["x"][v] == 0 and arrays["y"][v] == 1
    # painting part b over a (the label map) erases a's tips
    arrays["parts"][v] = 2
    apply(implied_edits(DEEP, "parts", v, arrays), arrays)
    assert arrays["y"][v] == 0 and arrays["whole"][v] == 1
    # erasing the body erases everything under it
    arrays["body"][v] = 0
    apply(implied_edits(DEEP, "body", v, arrays), arrays)
    assert all(arrays[s][v] == 0 for s in arrays)


def test_no_other_source_no_edits():
    h = DEMO.subset(["whole"])
    a = {"whole": np.ones(SHAPE, np.uint8)}
    assert implied_edits(h, "whole", np.nonzero(a["whole"]), a) == {}
