"""QA of a correction vs the kept prediction, and prediction warnings (core/qa.py).

Expected numbers are counted by hand on tiny arrays or with per-slice numpy
loops written in the test.
"""

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_segreview.errors import ReviewError
from napari_segreview.review.checks import Channel
from napari_segreview.review.qa import channel_qa, prediction_warnings, qa_table


def test_hand_counted_example():
    pred = np.zeros((3, 2, 3), np.uint8)
    pred[0, 0, :] = 1              # 3 voxels on slice 0
    pred[2, 1, 0] = 1              # 1 voxel on slice 2
    now = pred.copy()
    now[0, 0, 2] = 0               # removed 1 on slice 0
    now[1, 1, 1:3] = 1             # added 2 on slice 1
    q = channel_qa(Channel("bone", now), pred)
    # prediction 4, correction 5, both 3: Dice = 2*3 / (4+5) = 2/3
    assert (q.n_predicted, q.n_corrected, q.added, q.removed) == (4, 5, 2, 1)
    assert q.dice == pytest.approx(2 / 3)
    assert q.slice_added.tolist() == [0, 2, 0]
    assert q.slice_removed.tolist() == [1, 0, 0]
    # slice 0: 2*2/(3+2) = 0.8; slice 1: empty prediction, 2 voxels now: 0; slice 2: 1.
    np.testing.assert_allclose(q.slice_dice, [0.8, 0.0, 1.0])
    assert q.changed_slices.tolist() == [0, 1]
    assert q.row() == {"channel": "bone", "dice": pytest.approx(2 / 3), "added": 2,
                       "removed": 1, "predicted": 4, "corrected": 5}


def test_unchanged_and_empty_channels_have_dice_one():
    z = np.zeros((2, 2, 2), np.uint8)
    q = channel_qa(Channel("none", z), z.copy())
    assert (q.dice, q.added, q.removed, q.changed_slices.tolist()) == (1.0, 0, 0, [])


def test_label_map_classes_and_skipped_sources():
    pred = np.array([[[0, 1, 1, 2, 2, 0]]], np.uint8)
    now = np.array([[[0, 1, 2, 2, 2, 1]]], np.uint8)
    chans = [Channel("a", now, 1, "parts"), Channel("b", now, 2, "parts"),
             Channel("gt", np.zeros((1, 1, 6), np.uint8))]
    rows = [q.row() for q in qa_table(chans, {"parts": pred})]
    # a: pred {1,2}, now {1,5}: both {1}; b: pred {3,4}, now {2,3,4}: both {3,4}
    assert rows == [
        {"channel": "a", "dice": 0.5, "added": 1, "removed": 1, "predicted": 2, "corrected": 2},
        {"channel": "b", "dice": 0.8, "added": 1, "removed": 0, "predicted": 2, "corrected": 3},
    ]


def test_shape_change_is_a_sentence():
    with pytest.raises(ReviewError, match="run the model again"):
        channel_qa(Channel("a", np.zeros((2, 3), np.uint8)), np.zeros((3, 3), np.uint8))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.uint8, st.tuples(st.just(2), st.integers(1, 5), st.integers(1, 5),
                                      st.integers(1, 5)), elements=st.integers(0, 3)))
def test_per_slice_numbers_equal_a_numpy_loop(pair):
    pred, now = pair
    q = channel_qa(Channel("c", now, 2, "lab"), pred)
    for z in range(pred.shape[0]):
        p, c = pred[z] == 2, now[z] == 2
        assert q.slice_added[z] == np.sum(c & ~p)
        assert q.slice_removed[z] == np.sum(p & ~c)
        denom = p.sum() + c.sum()
        assert q.slice_dice[z] == pytest.approx(1.0 if denom == 0 else 2 * np.sum(p & c) / denom)
    p, c = pred == 2, now == 2
    assert (q.added, q.removed) == (np.sum(c & ~p), np.sum(p & ~c))


def test_identical_channels_are_warned_with_the_likely_cause():
    rng = np.random.default_rng(0)
    whole = (rng.random((4, 16, 16)) < 0.3).astype(np.uint8)
    same = whole.copy()
    same[0, 0, :2] ^= 1            # two voxels differ: Dice stays above 0.95
    other = np.zeros_like(whole)
    other[1, 2:6, 2:6] = 1
    w = prediction_warnings([Channel("whole", whole), Channel("part_1", same),
                             Channel("part_2", other)])
    assert [(x.kind, x.channels) for x in w] == [("identical", ("whole", "part_1"))]
    inter = int(np.sum((whole == 1) & (same == 1)))
    assert w[0].dice == pytest.approx(2 * inter / (whole.sum() + same.sum()))
    assert "same output" in w[0].message and "kind" in w[0].message
    assert prediction_warnings([Channel("whole", whole), Channel("part_2", other)]) == []


def test_empty_channel_and_label_map_classes_not_compared():
    lab = np.zeros((2, 4), np.uint8)
    lab[0] = 1                      # class 1 everywhere in row 0, class 2 absent
    w = prediction_warnings([Channel("a", lab, 1, "parts"), Channel("b", lab, 2, "parts")])
    assert [(x.kind, x.channels) for x in w] == [("empty", ("b",))]
    assert "argmax over a single output channel" in w[0].message
