"""The fix registry and its one dispatch, shared by the Review panel and `segreview check`.

Expected masks come from plain numpy on tiny arrays; the sentences of the
hierarchy findings are the same whether `labels.checks` or the review finds them.
"""

import numpy as np
import pytest

from napari_segreview.errors import ReviewError
from napari_segreview.labels.checks import check_hierarchy, check_overlaps
from napari_segreview.review.checks import Channel, Rule, check_review
from napari_segreview.review.fixes import FIXES, fixes_for, run_fix

WHOLE = np.array([[0, 1, 1, 1, 0, 1]], np.uint8)   # x=5: no child covers it
A = np.array([[1, 1, 1, 0, 0, 0]], np.uint8)     # sticks out at x=0
B = np.array([[0, 0, 1, 1, 1, 0]], np.uint8)     # sticks out at x=4, overlaps A at x=2


def chans():
    return [Channel("whole", WHOLE), Channel("a", A), Channel("b", B)]


RULES = [Rule("whole", ("a", "b"), disjoint=True, union=True)]


def test_registry_lists_every_fix_once_with_what_it_resolves():
    assert list(FIXES) == ["clip_to_parent", "grow_parent", "parent_from_children",
                           "remove_overlaps", "make_binary"]
    assert {n: (f.resolves, f.needs) for n, f in FIXES.items()} == {
        "clip_to_parent": ("outside_parent", "rules"),
        "grow_parent": ("outside_parent", "rules"),
        "parent_from_children": ("parent_not_union", "rules"),
        "remove_overlaps": ("overlap", "priority"),
        "make_binary": ("non_binary", None)}
    assert all(f.label and f.tip.endswith(".") for f in FIXES.values())
    assert fixes_for("overlap") == ["remove_overlaps"] and fixes_for("shape_mismatch") == []


def test_dispatch_gives_the_masks_numpy_gives():
    masks = run_fix("clip_to_parent", chans(), RULES).masks
    np.testing.assert_array_equal(masks["a"], A & WHOLE)
    np.testing.assert_array_equal(masks["b"], B & WHOLE)
    np.testing.assert_array_equal(run_fix("grow_parent", chans(), RULES).masks["whole"],
                                  WHOLE | A | B)
    np.testing.assert_array_equal(run_fix("parent_from_children", chans(), RULES)
                                  .masks["whole"], A | B)
    over = run_fix("remove_overlaps", chans(), priority=["b", "a"]).masks
    np.testing.assert_array_equal(over["a"], A & (1 - B))
    assert "b" not in over
    two = np.array([[0, 2, 1]], np.uint8)
    np.testing.assert_array_equal(run_fix("make_binary", [Channel("m", two)]).masks["m"],
                                  [[0, 1, 1]])


@pytest.mark.parametrize("name,rules,priority,need", [
    ("remove_overlaps", RULES, ["a"], "priority"),
    ("remove_overlaps", RULES, None, "priority"),
    ("clip_to_parent", [], ["a", "b"], "rules"),
    ("parent_from_children", (), (), "rules"),
])
def test_a_missing_input_is_the_callers_sentence(name, rules, priority, need):
    with pytest.raises(ReviewError, match=f"^{name} needs "):
        run_fix(name, chans(), rules, priority)
    said = {"rules": "no rule here.", "priority": "no priority here."}
    with pytest.raises(ReviewError) as info:
        run_fix(name, chans(), rules, priority, missing=said)
    assert str(info.value) == said[need]


def test_an_unknown_fix_is_refused():
    with pytest.raises(ReviewError, match="no fix is called 'paint'; the fixes are clip_to"):
        run_fix("paint", chans())


def test_review_and_label_checks_say_the_same_sentences():
    """outside_parent and parent_not_union: one sentence whichever check finds them."""
    stack = np.stack([WHOLE, A, B])
    names = ["whole", "a", "b"]
    ours = check_review(chans(), RULES).findings
    theirs = check_hierarchy(stack, "whole", ["a", "b"], names, require_union=True).findings
    kinds = ("outside_parent", "parent_not_union")
    assert [f for f in ours if f.kind in kinds] == [f for f in theirs if f.kind in kinds]
    assert [f.message for f in ours if f.kind in kinds] == [
        "1 voxels of 'a' lie outside its parent 'whole', first at (0, 0).",
        "1 voxels of 'b' lie outside its parent 'whole', first at (0, 4).",
        "1 voxels of 'whole' are covered by none of its children (a, b), first at (0, 5)."]
    (overlap,) = [f for f in ours if f.kind == "overlap"]
    (plain,) = check_overlaps(np.stack([A, B]), ["a", "b"]).findings
    assert overlap.message == "children 'a' and 'b' overlap in 1 voxels, first at (0, 2)."
    assert plain.message == "channels 'a' and 'b' overlap in 1 voxels, first at (0, 2)."
    assert (overlap.count, overlap.channels, overlap.first_index) == (
        plain.count, plain.channels, plain.first_index)
