"""Consistency checks and fixes of a review set (review/checks.py, review/fixes.py).

Expected values come from plain whole-array numpy written here (``&``, ``|``,
``np.argwhere``), or from counts done by hand on tiny arrays.
"""

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_segreview.card.spec import load_card
from napari_segreview.data import demo_card_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.errors import ReviewError
from napari_segreview.review.checks import (
    Channel,
    Rule,
    channels_from_card,
    check_review,
    clip_to_parent,
    grow_parent,
    make_binary,
    overlap_map,
    parent_from_children,
    remove_overlaps,
    rules_from_card,
    slice_blocks,
)

PROPS = settings(max_examples=60, deadline=None)


def binary_stacks(n_ch=4):
    return hnp.arrays(np.uint8, st.tuples(st.just(n_ch), st.integers(1, 4), st.integers(1, 6),
                                          st.integers(1, 6)),
                      elements=st.integers(0, 1))


def chans_of(stack, names=("whole", "p1", "p2", "p3")):
    return [Channel(n, stack[i]) for i, n in enumerate(names)]


RULE = Rule("whole", ("p1", "p2", "p3"), disjoint=True, union=True)


def first_voxel(mask):
    hits = np.argwhere(mask)
    return tuple(int(v) for v in hits[0]) if len(hits) else None


# ---------------------------------------------------------------- checks, by hand
def planted():
    """whole: a 4x4 square on 3 slices; parts with planted violations."""
    whole = np.zeros((3, 6, 6), np.uint8)
    whole[:, 1:5, 1:5] = 1
    p1 = np.zeros_like(whole)
    p1[:, 1:3, 1:5] = 1            # inside, 8 voxels per slice
    p2 = np.zeros_like(whole)
    p2[:, 3:5, 1:5] = 1            # inside
    p2[2, 5, 0:2] = 1              # 2 voxels outside whole, slice 2
    p2[1, 2, 1:3] = 1              # 2 voxels overlapping p1, slice 1
    return whole, p1, p2


def test_planted_violations_counts_and_first_slice():
    whole, p1, p2 = planted()
    whole[0, 1, 1] = 0             # makes 1 voxel of p1 outside, slice 0
    chans = [Channel("whole", whole), Channel("p1", p1), Channel("p2", p2)]
    r = check_review(chans, [Rule("whole", ("p1", "p2"), union=True)])
    got = {(f.kind, f.channels): (f.count, f.first_index) for f in r.findings}
    assert got == {
        ("outside_parent", ("p1", "whole")): (1, (0, 1, 1)),
        ("outside_parent", ("p2", "whole")): (2, (2, 5, 0)),
        ("overlap", ("p1", "p2")): (2, (1, 2, 1)),
    }
    assert "2 voxels of 'p2' lie outside its parent 'whole', first at slice 2." in r.message


def test_parent_not_union_and_rule_switches():
    whole, p1, p2 = planted()
    whole[1, 0, 0] = 1             # one parent voxel no child covers
    chans = [Channel("whole", whole), Channel("p1", p1), Channel("p2", p2)]
    loose = check_review(chans, [Rule("whole", ("p1", "p2"), disjoint=False, union=False)])
    assert {f.kind for f in loose.findings} == {"outside_parent"}
    strict = check_review(chans, [Rule("whole", ("p1", "p2"), union=True)])
    f = next(f for f in strict.findings if f.kind == "parent_not_union")
    assert (f.count, f.first_index, f.first_slice) == (1, (1, 0, 0), 1)


def test_non_binary_and_unexpected_label_values():
    m = np.zeros((2, 3, 3), np.uint8)
    m[1, 2, 0] = 2                 # painted with label 2 on a binary layer
    lab = np.zeros_like(m)
    lab[0, 0, 0] = 1
    lab[1, 1, 1] = 7               # no class has value 7
    lab[1, 1, 2] = 255             # ignore is allowed
    chans = [Channel("m", m), Channel("a", lab, 1, "parts"), Channel("b", lab, 2, "parts")]
    r = check_review(chans, [])
    got = {f.kind: (f.count, f.first_index, f.channels) for f in r.findings}
    assert got == {"non_binary": (1, (1, 2, 0), ("m",)),
                   "unexpected_label": (1, (1, 1, 1), ("a", "b"))}


def test_label_map_classes_are_not_reported_as_overlapping():
    lab = np.array([[[1, 2, 2, 0]]], np.uint8)
    whole = np.array([[[1, 1, 1, 0]]], np.uint8)
    chans = [Channel("whole", whole), Channel("a", lab, 1, "parts"),
             Channel("b", lab, 2, "parts")]
    assert check_review(chans, [Rule("whole", ("a", "b"), union=True)]).ok


def test_errors_are_sentences():
    a = Channel("a", np.zeros((2, 2), np.uint8))
    b = Channel("b", np.zeros((3, 2), np.uint8))
    with pytest.raises(ReviewError, match="different shapes; review masks of one image"):
        check_review([a, b], [])
    with pytest.raises(ReviewError, match="no mask is called 'c'; the masks are a"):
        check_review([a], [Rule("a", ("c",))])
    with pytest.raises(ReviewError, match="both the parent and one of its children"):
        Rule("a", ("a",))
    with pytest.raises(ReviewError, match="must hold integers"):
        Channel("p", np.zeros(3, np.float32))
    lab = np.zeros((2, 2), np.uint8)
    with pytest.raises(ReviewError, match="pick a binary parent layer"):
        grow_parent([Channel("x", lab, 1, "lab"), Channel("y", lab, 2, "lab")],
                    [Rule("x", ("y",))])


# ---------------------------------------------------------------- card
def test_rules_and_channels_from_the_demo_card():
    card = load_card(demo_card_path())
    rules = rules_from_card(card)
    assert rules == [Rule("whole", ("part_1", "part_2", "part_3"), disjoint=True, union=False)]
    ph = make_ct_phantom((3, 64, 64))
    arrays = {"whole": ph.masks[0], "parts": ph.parts}
    chans = channels_from_card(card, arrays)
    assert [(c.name, c.value, c.source) for c in chans] == [
        ("whole", None, "whole"), ("part_1", 1, "parts"), ("part_2", 2, "parts"),
        ("part_3", 3, "parts")]
    assert check_review(chans, rules).ok          # the phantom is consistent
    report = check_review(chans, rules_from_card(card, union=True))
    f = report.findings[0]                          # growth plates: whole only
    expected = (ph.masks[0] == 1) & (ph.parts == 0)
    assert (f.kind, f.count, f.first_index) == ("parent_not_union", int(expected.sum()),
                                                first_voxel(expected))


# ---------------------------------------------------------------- fixes vs plain numpy
@PROPS
@given(binary_stacks())
def test_clip_equals_numpy_and_passes_the_check(stack):
    r = clip_to_parent(chans_of(stack), [RULE])
    whole = stack[0]
    new = {**{n: stack[i] for i, n in enumerate(("whole", "p1", "p2", "p3"))}, **r.masks}
    for i, n in enumerate(("p1", "p2", "p3"), start=1):
        np.testing.assert_array_equal(new[n], stack[i] & whole)
    assert "whole" not in r.masks
    assert r.changed == int((stack[1:] & (1 - whole)).sum())
    after = check_review(chans_of(np.stack([new[n] for n in ("whole", "p1", "p2", "p3")])),
                         [Rule("whole", ("p1", "p2", "p3"), disjoint=False)])
    assert after.ok


@PROPS
@given(binary_stacks())
def test_grow_and_union_equal_numpy(stack):
    union = stack[1] | stack[2] | stack[3]
    grown = grow_parent(chans_of(stack), [RULE]).masks.get("whole", stack[0])
    np.testing.assert_array_equal(grown, stack[0] | union)
    derived = parent_from_children(chans_of(stack), [RULE]).masks.get("whole", stack[0])
    np.testing.assert_array_equal(derived, union)
    fixed = np.concatenate([derived[None], stack[1:]])
    kinds = {f.kind for f in check_review(chans_of(fixed), [RULE]).findings}
    assert not kinds & {"outside_parent", "parent_not_union"}


@PROPS
@given(binary_stacks(), st.permutations(["p1", "p2", "p3"]))
def test_remove_overlaps_by_priority_equals_numpy(stack, priority):
    idx = {"p1": 1, "p2": 2, "p3": 3}
    r = remove_overlaps(chans_of(stack), priority)
    seen = np.zeros_like(stack[0])
    for name in priority:            # plain numpy: a channel keeps what no higher one holds
        expected = stack[idx[name]] & (1 - seen)
        seen = seen | stack[idx[name]]
        np.testing.assert_array_equal(r.masks.get(name, stack[idx[name]]), expected)
    fixed = stack.copy()
    for name, arr in r.masks.items():
        fixed[idx[name]] = arr
    assert not [f for f in check_review(chans_of(fixed), [RULE]).findings if f.kind == "overlap"]


def test_fix_edits_on_a_label_map_and_input_untouched():
    whole = np.zeros((2, 4, 4), np.uint8)
    whole[:, :2] = 1
    parts = np.zeros_like(whole)
    parts[:, 1, :] = 1
    parts[:, 2, :2] = 2            # class 2 sticks out of whole (rows 2)
    before = parts.copy()
    chans = [Channel("whole", whole), Channel("a", parts, 1, "parts"),
             Channel("b", parts, 2, "parts")]
    r = clip_to_parent(chans, [Rule("whole", ("a", "b"))])
    assert [(e.source, e.channel, e.value, e.count) for e in r.edits] == [("parts", "b", 0, 4)]
    assert sorted(zip(*[i.tolist() for i in r.edits[0].indices], strict=True)) == [
        (0, 2, 0), (0, 2, 1), (1, 2, 0), (1, 2, 1)]
    np.testing.assert_array_equal(r.masks["parts"], np.where(whole == 1, parts, 0))
    np.testing.assert_array_equal(parts, before)
    assert r.message == "Clipped children to their parent: 4 voxels changed (b 4)."


def test_nothing_to_fix_says_so():
    whole = np.ones((2, 2), np.uint8)
    r = clip_to_parent([Channel("whole", whole), Channel("a", whole.copy())],
                       [Rule("whole", ("a",))])
    assert (r.edits, r.changed, r.masks) == ([], 0, {})
    assert r.message.startswith("Every child already lies inside its parent")


def test_make_binary_keeps_every_voxel_on():
    m = np.array([[0, 3, 1], [2, 0, 1]], np.uint8)
    r = make_binary([Channel("m", m)])
    np.testing.assert_array_equal(r.masks["m"], (m != 0).astype(np.uint8))
    assert r.changed == 2


# ---------------------------------------------------------------- overlap view
@PROPS
@given(binary_stacks())
def test_overlap_map_equals_numpy(stack):
    count = stack.astype(int).sum(axis=0)
    out = overlap_map(chans_of(stack))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.where(count >= 2, count, 0))


# ---------------------------------------------------------------- blockwise plumbing
def test_blockwise_results_do_not_depend_on_the_block_size(monkeypatch):
    """Force tiny blocks: blocks straddle slices, results stay the same."""
    import napari_segreview._util.arrays as arrays
    import napari_segreview.labels.checks as checks
    import napari_segreview.review.channels as review_channels
    import napari_segreview.review.checks as review_checks

    rng = np.random.default_rng(1)
    stack = (rng.random((4, 5, 7, 9)) < 0.4).astype(np.uint8)
    big = check_review(chans_of(stack), [RULE]).to_dict()
    big_fix = clip_to_parent(chans_of(stack), [RULE]).masks
    orig = arrays.blocks
    for mod in (review_channels, review_checks, checks):
        monkeypatch.setattr(mod, "blocks", lambda n, block=10: orig(n, block))
    assert check_review(chans_of(stack), [RULE]).to_dict() == big
    small_fix = clip_to_parent(chans_of(stack), [RULE]).masks
    assert small_fix.keys() == big_fix.keys()
    for k in big_fix:
        np.testing.assert_array_equal(small_fix[k], big_fix[k])


@pytest.mark.parametrize("shape,block", [((5, 3, 4), 24), ((5, 3, 4), 5), ((3, 4), 5),
                                         ((2, 3, 4), 1000)])
def test_slice_blocks_cover_each_voxel_once_with_the_right_slice(shape, block):
    n = int(np.prod(shape))
    seen = np.zeros(n, int)
    per = int(np.prod(shape[1:])) if len(shape) >= 3 else n
    for s, z0, k in slice_blocks(shape, block):
        seen[s] += 1
        zs = np.arange(s.start, s.stop) // per
        if k:
            assert (zs.min(), zs.max()) == (z0, z0 + k - 1)
        else:
            assert set(zs.tolist()) == {z0}
    assert (seen == 1).all()


def test_benchmark_script_runs_and_agrees_with_numpy(capsys):
    """benchmarks/bench_review.py end to end on a tiny stack (no timing thresholds)."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_review.py"
    spec = importlib.util.spec_from_file_location("bench_review", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(["--shape", "6", "32", "32", "--repeat", "1"])
    assert out["equal"]
    assert "6 x 32 x 32" in capsys.readouterr().out
