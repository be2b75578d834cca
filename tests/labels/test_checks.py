"""Tests for the checks and reports of napari_segreview.labels.formats/checks, and the
reference threads' cases.

Every expected value is computed independently of the code under test: explicit
per-channel comparisons and hand-written tables.
"""

import json
import re

import numpy as np
import pytest

from format_refs import random_labels, ref_first, ref_onehot
from napari_segreview.errors import FormatError, OverlapError
from napari_segreview.labels.formats import (
    channel_names,
    check_binary,
    check_hierarchy,
    check_label_values,
    check_overlaps,
    check_shapes,
    labels_to_multihot,
    labels_to_onehot,
    multihot_to_labels,
    onehot_to_labels,
)


# ---------------------------------------------------------------- the reference threads
def five_output_case():
    """Whole bone = union of three parts (thread 001), parts as a label map."""
    parts = np.zeros((4, 6, 8), dtype=np.uint8)
    parts[1:3, 1:5, 1:3] = 1
    parts[1:4, 1:5, 3:5] = 2
    parts[2:4, 2:6, 5:7] = 3
    return parts


def test_onehot_handed_a_multihot_stack_points_to_bce():
    parts = five_output_case()
    whole = (parts > 0).astype(np.uint8)
    target = np.concatenate([whole[None], labels_to_onehot(parts, 4)])  # 5 channels
    np.testing.assert_array_equal(onehot_to_labels(target[1:]), parts)
    with pytest.raises(FormatError) as err:
        onehot_to_labels(target)
    assert re.search(r"multi-?hot|BCE|sigmoid", str(err.value), re.IGNORECASE), str(err.value)


def test_five_output_whole_is_union_of_parts():
    parts = five_output_case()
    regions = {"whole": [1, 2, 3], "part_1": [1], "part_2": [2], "part_3": [3]}
    mh = labels_to_multihot(parts, regions)
    names = tuple(regions)
    np.testing.assert_array_equal(mh[0], mh[1] | mh[2] | mh[3])
    np.testing.assert_array_equal(mh[0], (parts > 0).astype(np.uint8))
    report = check_hierarchy(mh, "whole", ["part_1", "part_2", "part_3"], names,
                             require_union=True)
    assert report.ok and report.findings == []
    assert check_hierarchy(mh, 0, [1, 2, 3], names, require_union=True).ok
    # parts never overlap each other; whole overlaps each part
    pairs = {frozenset(f.channels) for f in check_overlaps(mh, names).findings}
    assert pairs == {frozenset({"whole", p}) for p in names[1:]}
    np.testing.assert_array_equal(multihot_to_labels(mh, priority="later"), parts + (parts > 0))


def test_check_hierarchy_finds_child_outside_parent_and_uncovered_parent():
    parts = five_output_case()
    mh = labels_to_multihot(parts, {"whole": [1, 2, 3], "p1": [1], "p2": [2], "p3": [3]})
    names = ("whole", "p1", "p2", "p3")
    mh[0, 3, :, 5:] = 0  # erase whole where part 3 lies on slice 3
    mh[0, 0, 0, 0:3] = 1  # whole voxels covered by no part, first at (0, 0, 0)
    outside = (mh[3] == 1) & (mh[0] == 0)
    uncovered = (mh[0] == 1) & ((mh[1] | mh[2] | mh[3]) == 0)

    report = check_hierarchy(mh, "whole", ["p1", "p2", "p3"], names)
    assert not report.ok
    [f] = report.findings
    assert f.kind == "outside_parent" and "p3" in f.channels
    assert f.count == int(outside.sum()) == 8
    assert f.first_index == ref_first(outside) == (3, 2, 5)
    assert f.first_slice == 3

    report = check_hierarchy(mh, "whole", ["p1", "p2", "p3"], names, require_union=True)
    by_kind = {f.kind: f for f in report.findings}
    assert set(by_kind) == {"outside_parent", "parent_not_union"}
    union = by_kind["parent_not_union"]
    assert "whole" in union.channels
    assert union.count == int(uncovered.sum()) == 3
    assert union.first_index == ref_first(uncovered) == (0, 0, 0)
    json.dumps(report.to_dict())


# ---------------------------------------------------------------- checks and reports
def test_check_binary_reports_per_channel():
    stack = np.zeros((3, 4, 4), dtype=np.float32)
    stack[0, 1, 1] = 1.0
    stack[1, 2, 2:4] = 0.5
    stack[2, 3, 3] = 2.0
    report = check_binary(stack, ("a", "b", "c"))
    assert not report.ok
    got = {f.channels: f.count for f in report.findings}
    assert got == {("b",): 2, ("c",): 1}
    assert all(f.kind == "non_binary" for f in report.findings)
    assert check_binary(stack[:1], ("a",)).ok
    with pytest.raises(FormatError):
        onehot_to_labels(np.stack([1 - stack[1], stack[1]]))


def test_check_label_values_and_ignore():
    labels = np.zeros((3, 4, 5), dtype=np.uint8)
    labels[1, 2, 3:5] = 7
    labels[2, 0, 0] = 255
    report = check_label_values(labels, 4)
    assert not report.ok and {f.kind for f in report.findings} == {"unexpected_label"}
    assert sum(f.count for f in report.findings) == 3
    assert "7" in report.message and "255" in report.message
    ignored = check_label_values(labels, 4, ignore_value=255)
    assert sum(f.count for f in ignored.findings) == 2
    assert check_label_values(labels, 8, ignore_value=255).ok


def test_check_shapes():
    assert check_shapes((4, 5), np.zeros((3, 4, 5)), channels=True).ok
    assert check_shapes((4, 5), np.zeros((4, 5)), channels=False).ok
    for arr, chan in [(np.zeros((3, 4, 6)), True), (np.zeros((4, 6)), False),
                      (np.zeros((4, 5)), True)]:
        report = check_shapes((4, 5), arr, channels=chan)
        assert not report.ok and report.findings[0].kind == "shape_mismatch"
        assert report.message


def test_report_structure_json_and_raise():
    mh = np.zeros((2, 3, 4, 4), dtype=np.uint8)
    mh[:, 2, 1:3, 1] = 1  # 2 voxels on slice 2 in both channels
    report = check_overlaps(mh, ("tibia", "fibula"))
    assert not report.ok and report.check
    [f] = report.findings
    assert (f.kind, f.count, set(f.channels)) == ("overlap", 2, {"tibia", "fibula"})
    assert f.first_index == (2, 1, 1) and f.first_slice == 2
    assert isinstance(f.first_index[0], int) and isinstance(f.count, int)
    assert f.message and "tibia" in report.message
    d = json.loads(json.dumps(report.to_dict()))
    assert d["findings"][0]["count"] == 2
    with pytest.raises(FormatError):
        report.raise_for_findings()
    with pytest.raises(KeyError):
        report.raise_for_findings(KeyError)
    ok = check_overlaps(mh[:1], ("tibia",))
    assert ok.ok and ok.findings == []
    ok.raise_for_findings()
    json.dumps(ok.to_dict())


def test_overlap_error_message_names_count_and_slice():
    mh = np.zeros((3, 6, 4, 4), dtype=np.uint8)
    mh[0, 4:, :, :] = 1
    mh[2, 4:, 2:, :2] = 1  # 2 slices x 2 x 2 = 8 overlapping voxels, first on slice 4
    with pytest.raises(OverlapError) as err:
        multihot_to_labels(mh, names=("whole", "cortical", "marrow"))
    msg = str(err.value)
    assert isinstance(err.value, FormatError) and isinstance(err.value, ValueError)
    assert re.search(r"\b8\b", msg) and re.search(r"\b4\b", msg), msg
    assert "whole" in msg and "marrow" in msg and "cortical" not in msg, msg
    [f] = err.value.report.findings
    assert (f.count, f.first_index) == (8, (4, 2, 0))


def test_onehot_to_labels_reports_none_and_multiple():
    oh = ref_onehot(random_labels((6, 5, 5), 3), 3)
    oh[:, 2, 0, :] = 0  # 5 voxels with no channel, first slice 2
    oh[:, 4, 1:3, 1:3] = 1  # 4 voxels with several channels
    oh[:, 4, 0, 0] = 0  # one more without a channel
    with pytest.raises(FormatError) as err:
        onehot_to_labels(oh)
    msg = str(err.value)
    assert re.search(r"\b6\b", msg) and re.search(r"\b4\b", msg), msg
    assert re.search(r"\b2\b", msg), msg
    with pytest.raises(FormatError):  # several channels stay an error with ignore_value
        onehot_to_labels(oh, ignore_value=255)
    oh[:, 4, 1:3, 1:3] = 0
    oh[0, 4, 1:3, 1:3] = 1
    out = onehot_to_labels(oh, ignore_value=255)
    assert out[2, 0, 3] == 255 and out[4, 0, 0] == 255
    assert int((out == 255).sum()) == 6


def test_labels_to_onehot_ignore_value():
    labels = np.array([[0, 1, 255], [2, 255, 1]], dtype=np.uint8)
    oh = labels_to_onehot(labels, ignore_value=255)
    assert oh.shape == (3, 2, 3)
    np.testing.assert_array_equal(oh, ref_onehot(labels, 3))  # 255 -> all channels zero
    assert oh[:, 0, 2].sum() == 0
    with pytest.raises(FormatError) as err:
        labels_to_onehot(labels, 3)
    assert "255" in str(err.value)


def test_value_beyond_num_classes_names_value_and_count():
    labels = np.zeros((4, 9), dtype=np.uint8)
    labels[1, :] = 9  # 9 voxels of value 9 ...
    labels[2, :4] = 9  # ... 13 in all
    with pytest.raises(FormatError) as err:
        labels_to_onehot(labels, 4)
    msg = str(err.value)
    assert re.search(r"\b9\b", msg) and re.search(r"\b13\b", msg), msg


def test_channel_names():
    assert channel_names(3) == ("ch0", "ch1", "ch2")
    assert channel_names(2, ["a", "b"]) == ("a", "b")
    for bad in (["a"], ["a", "a"]):
        with pytest.raises(FormatError):
            channel_names(2, bad)
