"""Class statistics match a plain-numpy computation written here."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from napari_segreview.errors import FormatError
from napari_segreview.targets.build import Target
from napari_segreview.targets.classstats import (
    class_statistics,
    count_target,
    statistics_from_counts,
    summary_lines,
)

CLASSES = ("background", "a", "b", "c")


def softmax(data):
    return Target("parts", "softmax", CLASSES, np.asarray(data, np.uint8))


def sigmoid(data, names=("whole", "part")):
    return Target("regions", "sigmoid", names, np.asarray(data, np.uint8))


def test_pos_weight_is_negatives_over_positives():
    # whole: 6 of 8 voxels; part: 1 of 8 voxels (rare), over two cases
    c1 = sigmoid([[1, 1, 1, 0], [0, 0, 1, 0]])
    c2 = sigmoid([[1, 1, 1, 0], [0, 0, 0, 0]])
    s = class_statistics([[c1], [c2]])["heads"]["regions"]
    assert s["positives"] == [6, 1] and s["negatives"] == [2, 7]
    assert s["pos_weight"] == [2 / 6, 7.0]
    assert s["pos_weight"][1] > s["pos_weight"][0]  # the rare channel is weighted up
    assert "backwards" in s["note"]


def test_empty_channel_gets_a_placeholder_and_a_note():
    s = class_statistics([[sigmoid([[1, 0], [0, 0]])]])["heads"]["regions"]
    assert s["pos_weight"] == [1.0, 1.0] and s["empty"] == ["part"]


def test_softmax_weights_by_hand():
    t = softmax([0] * 6 + [1] * 3 + [2] * 1 + [255] * 2)   # class c absent
    s = class_statistics([[t]])["heads"]["parts"]
    assert s["counts"] == [6, 3, 1, 0] and s["ignored"] == 2
    assert s["frequency"] == [0.6, 0.3, 0.1, 0.0]
    # inverse frequency N / (K * n_c) over the K = 3 present classes
    assert s["weight"] == pytest.approx([10 / 18, 10 / 9, 10 / 3, 0.0])
    # median frequency: median(0.6, 0.3, 0.1) = 0.3, divided by each frequency
    assert s["weight_median_frequency"] == pytest.approx([0.5, 1.0, 3.0, 0.0])
    assert s["absent"] == ["c"] and s["ignore_index"] == 255
    s2 = class_statistics([[t]], method="median_frequency")["heads"]["parts"]
    assert s2["weight"] == s["weight_median_frequency"]


@settings(max_examples=25, deadline=None)
@given(cases=st.lists(arrays(np.uint8, st.integers(1, 50),
                             elements=st.sampled_from([0, 1, 2, 3, 255])), min_size=1,
                      max_size=4))
def test_softmax_counts_match_numpy(cases):
    s = class_statistics([[softmax(c)] for c in cases])["heads"]["parts"]
    allv = np.concatenate(cases)
    assert s["counts"] == [int((allv == k).sum()) for k in range(4)]
    assert s["ignored"] == int((allv == 255).sum())
    counts = np.array(s["counts"], float)
    present = counts > 0
    expected = np.zeros(4)
    expected[present] = counts.sum() / (present.sum() * counts[present])
    np.testing.assert_allclose(s["weight"], expected)


@settings(max_examples=25, deadline=None)
@given(stack=arrays(np.uint8, st.tuples(st.just(2), st.integers(1, 40)),
                    elements=st.integers(0, 1)))
def test_sigmoid_counts_match_numpy(stack):
    s = class_statistics([[sigmoid(stack)]])["heads"]["regions"]
    pos = stack.sum(axis=1)
    assert s["positives"] == pos.tolist()
    assert s["negatives"] == (stack.shape[1] - pos).tolist()
    for p, w, n in zip(pos, s["pos_weight"], s["negatives"], strict=True):
        assert w == (n / p if p else 1.0)


def test_large_volume_is_counted_blockwise_and_exactly():
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 4, size=(5, 256, 256), dtype=np.uint8)   # > one 2**18 block
    vol[0, :10] = 255
    c = count_target(softmax(vol))
    assert c["counts"] == np.bincount(vol[vol != 255], minlength=4).tolist()
    assert c["ignored"] == 10 * 256


def test_stray_label_values_are_refused():
    with pytest.raises(FormatError, match="beyond its 4 classes"):
        count_target(softmax([0, 1, 9]))


def test_heads_with_changing_channels_are_refused():
    a = {"h": {"kind": "sigmoid", "channels": ["x"], "positives": [1], "voxels": 2}}
    b = {"h": {"kind": "sigmoid", "channels": ["y"], "positives": [1], "voxels": 2}}
    with pytest.raises(FormatError, match="different channels"):
        statistics_from_counts([a, b])
    with pytest.raises(FormatError, match="weight method"):
        statistics_from_counts([a], method="counts_of_ones")


def test_summary_lines_are_readable():
    lines = summary_lines(class_statistics([[softmax([0, 0, 1, 255])]]))
    assert lines == ["parts (softmax, 1 case(s)): background 66.7% weight 0.75; a 33.3% "
                     "weight 1.5; b 0.0% weight 0; c 0.0% weight 0; 1 voxels ignored (255)"]


def test_benchmark_script_runs_on_a_tiny_volume(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "benchmarks" / "bench_export.py"
    spec = importlib.util.spec_from_file_location("bench_export", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--shape", "2", "16", "16"])
    assert "ours/bincount time ratio" in capsys.readouterr().out
