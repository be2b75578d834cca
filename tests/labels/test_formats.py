"""Tests for napari_segreview.labels.formats.

Every expected value is computed independently of the code under test: explicit
per-channel comparisons, per-voxel loops (``np.ndindex``) and hand-written tables.
"""

import json
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from format_refs import random_labels, ref_atoms, ref_first, ref_onehot, ref_paint
from napari_segreview.errors import FormatError, OverlapError
from napari_segreview.labels.formats import (
    IGNORE,
    AtomTable,
    CheckReport,
    atom_regions,
    atoms_to_multihot,
    check_binary,
    check_hierarchy,
    check_overlaps,
    labels_to_multihot,
    labels_to_onehot,
    multihot_to_atoms,
    multihot_to_labels,
    onehot_to_labels,
)

SHAPES = [(5, 7), (3, 5, 7)]  # (Y, X) and (Z, Y, X)
BACKENDS = ["numpy", "torch"]
PROPS = settings(max_examples=60, deadline=None)
SMALL_INT = (np.uint8, np.uint16)


# ---------------------------------------------------------------- independent references
def wrap(arr, backend):
    return torch.from_numpy(np.ascontiguousarray(arr)) if backend == "torch" else arr


def unwrap(x, backend):
    """Assert the container type matches the input's, return a numpy array."""
    if backend == "torch":
        assert isinstance(x, torch.Tensor), f"torch in should give torch out, got {type(x)}"
        assert x.device.type == "cpu"
        assert x.dtype not in (torch.int64, torch.float64, torch.float32)
        return x.numpy()
    assert isinstance(x, np.ndarray), f"numpy in should give numpy out, got {type(x)}"
    return x







def assert_small_int(arr):
    assert arr.dtype in SMALL_INT, f"unexpected output dtype {arr.dtype}"


# ---------------------------------------------------------------- conversions, fixed data
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_onehot_both_ways(shape, backend):
    labels = random_labels(shape, 4)
    labels.flat[3] = 3
    out = unwrap(labels_to_onehot(wrap(labels, backend)), backend)
    assert out.shape == (4, *shape) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, ref_onehot(labels, 4))
    wide = unwrap(labels_to_onehot(wrap(labels, backend), 6), backend)
    np.testing.assert_array_equal(wide, ref_onehot(labels, 6))
    for stack in (ref_onehot(labels, 5), ref_onehot(labels, 5).astype(bool)):
        back = unwrap(onehot_to_labels(wrap(stack, backend)), backend)
        assert back.shape == shape and back.dtype == np.uint8
        np.testing.assert_array_equal(back, labels)


def test_torch_int64_and_bool_labels_are_accepted():
    labels = torch.tensor([[0, 2, 1], [2, 2, 0]], dtype=torch.int64)
    out = labels_to_onehot(labels, 3)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.uint8
    np.testing.assert_array_equal(out.numpy(), ref_onehot(labels.numpy(), 3))
    mask = np.array([[True, False], [False, True]])
    np.testing.assert_array_equal(labels_to_onehot(mask), ref_onehot(mask.astype(int), 2))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_multihot_both_ways(shape, backend):
    labels = random_labels(shape, 4)
    regions = {"whole": [1, 2, 3], "part_1": [1], "upper": (2, 3)}
    out = unwrap(labels_to_multihot(wrap(labels, backend), regions), backend)
    assert out.shape == (3, *shape) and out.dtype == np.uint8
    expected = np.zeros((3, *shape), dtype=np.uint8)
    for idx in np.ndindex(shape):
        v = labels[idx]
        expected[(slice(None), *idx)] = [v in (1, 2, 3), v == 1, v in (2, 3)]
    np.testing.assert_array_equal(out, expected)
    as_seq = unwrap(labels_to_multihot(wrap(labels, backend), [[1, 2, 3], 1, [2, 3]]), backend)
    np.testing.assert_array_equal(as_seq, expected)
    # non-overlapping channels back to a label map: channel c -> c + 1
    mh = np.stack([labels == c for c in (1, 2, 3)]).astype(np.uint8)
    back = unwrap(multihot_to_labels(wrap(mh, backend)), backend)
    assert back.dtype == np.uint8 and back.shape == shape
    np.testing.assert_array_equal(back, labels)


@pytest.mark.parametrize("backend", BACKENDS)
def test_atoms_with_known_table(backend):
    # channels: whole, part_1, part_2 ; voxel combos written out by hand
    combos = [(), (0,), (0, 1), (0, 2), (0, 1), (1,), (), (0, 2), (2,), (0, 1, 2)]
    mh = np.zeros((3, 2, 5), dtype=np.uint8)
    for i, combo in enumerate(combos):
        for c in combo:
            mh[c, i // 5, i % 5] = 1
    names = ("whole", "part_1", "part_2")
    # expected order: by number of channels, then channel indices
    table_rows = [(), (0,), (1,), (2,), (0, 1), (0, 2), (0, 1, 2)]
    number = {t: i for i, t in enumerate(table_rows)}
    expected = np.array([number[t] for t in combos]).reshape(2, 5)

    atoms, table = multihot_to_atoms(wrap(mh, backend), names=names)
    atoms = unwrap(atoms, backend)
    assert atoms.dtype == np.uint8
    np.testing.assert_array_equal(atoms, expected)
    assert isinstance(table, AtomTable)
    assert table.names == names and table.n_atoms == 7
    assert table.combos.dtype == bool and table.combos.shape == (7, 3)
    for i, row in enumerate(table_rows):
        assert table.channels_of(i) == tuple(names[c] for c in row)
    assert table.regions() == {"whole": [1, 4, 5, 6], "part_1": [2, 4, 6], "part_2": [3, 5, 6]}
    assert atom_regions(table) == table.regions()
    back = unwrap(atoms_to_multihot(wrap(atoms, backend), table), backend)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, mh)
    d = json.loads(json.dumps(table.to_dict()))
    assert d["names"] == list(names)
    assert [list(table.channels_of(i)) for i in range(7)] == d["atoms"]
    again = AtomTable.from_dict(d)
    assert again.names == table.names
    np.testing.assert_array_equal(again.combos, table.combos)


def test_many_classes_use_uint16():
    labels = (np.arange(600) % 300).astype(np.uint16).reshape(20, 30)
    oh = labels_to_onehot(labels, 300)
    assert oh.shape == (300, 20, 30) and oh.dtype == np.uint8
    out = onehot_to_labels(oh)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, labels)
    mh = oh[1:]  # 299 channels, no overlap: labels 1..299 exceed uint8 with 255 = ignore
    out = multihot_to_labels(mh)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, labels)


@pytest.mark.parametrize("n_channels", [8, 9, 17])
def test_atoms_with_many_channels(n_channels):
    # one voxel per single channel, plus all-on and all-off voxels
    mh = np.zeros((n_channels, 1, n_channels + 2), dtype=np.uint8)
    for c in range(n_channels):
        mh[c, 0, c] = 1
    mh[:, 0, -1] = 1
    atoms, table = multihot_to_atoms(mh)
    assert table.n_atoms == n_channels + 2
    np.testing.assert_array_equal(atoms, [[*range(1, n_channels + 1), 0, n_channels + 1]])
    np.testing.assert_array_equal(atoms_to_multihot(atoms, table), mh)


def test_atoms_beyond_256_use_uint16():
    # 9 channels, every one of the 512 combinations present -> 512 atoms
    codes = np.arange(512).reshape(16, 32)
    mh9 = np.stack([(codes >> c) & 1 for c in range(9)]).astype(np.uint8)
    atoms, table = multihot_to_atoms(mh9)
    assert table.n_atoms == 512 and atoms.dtype in (np.uint16, np.uint32)
    np.testing.assert_array_equal(atoms_to_multihot(atoms, table), mh9)


def test_binary_one_channel_and_two_class_routes_agree():
    mask = random_labels((6, 6), 2)
    np.testing.assert_array_equal(multihot_to_labels(mask[None]), mask)
    np.testing.assert_array_equal(onehot_to_labels(labels_to_onehot(mask, 2)), mask)


# ---------------------------------------------------------------- hypothesis properties
spatial_shapes = hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=5)


@st.composite
def label_maps(draw, max_value=6):
    shape = draw(spatial_shapes)
    return draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, max_value)))


@st.composite
def multihot_stacks(draw, max_channels=5):
    c = draw(st.integers(1, max_channels))
    shape = draw(spatial_shapes)
    return draw(hnp.arrays(np.uint8, (c, *shape), elements=st.integers(0, 1)))


@PROPS
@given(label_maps(), st.integers(0, 3))
def test_prop_labels_onehot_round_trip(labels, extra):
    n = max(int(labels.max()) + 1 + extra, 2)  # a one-channel "one-hot" is refused
    oh = labels_to_onehot(labels, n)
    assert oh.dtype == np.uint8
    np.testing.assert_array_equal(oh, ref_onehot(labels, n))
    back = onehot_to_labels(oh)
    assert_small_int(back)
    np.testing.assert_array_equal(back, labels)


@PROPS
@given(label_maps(max_value=4),
       st.lists(st.sets(st.integers(0, 4), min_size=1), min_size=1, max_size=4))
def test_prop_labels_to_multihot_and_checks(labels, regions):
    regions = [sorted(r) for r in regions]
    names = tuple(f"r{i}" for i in range(len(regions)))
    mh = labels_to_multihot(labels, dict(zip(names, regions, strict=True)))
    expected = np.zeros((len(regions), *labels.shape), dtype=np.uint8)
    for c, region in enumerate(regions):
        for idx in np.ndindex(labels.shape):
            expected[(c, *idx)] = int(labels[idx]) in region
    np.testing.assert_array_equal(mh, expected)
    assert check_binary(mh, names).ok
    report = check_overlaps(mh, names)
    pairs = {(a, b) for a in range(len(regions)) for b in range(a + 1, len(regions))
             if (expected[a] & expected[b]).any()}
    got = {tuple(sorted(names.index(n) for n in f.channels)) for f in report.findings}
    assert got == pairs and report.ok == (not pairs)
    for a in range(len(regions)):  # a region that contains another is its parent
        for b in range(len(regions)):
            if a != b and set(regions[b]) <= set(regions[a]):
                assert check_hierarchy(mh, names[a], [names[b]], names).ok


@PROPS
@given(multihot_stacks(max_channels=10))
def test_prop_multihot_atoms_round_trip(mh):
    atoms, table = multihot_to_atoms(mh)
    exp_atoms, exp_order = ref_atoms(mh)
    assert_small_int(atoms)
    np.testing.assert_array_equal(atoms, exp_atoms)
    assert table.n_atoms == len(exp_order)
    for i, combo in enumerate(exp_order):
        assert table.channels_of(i) == tuple(f"ch{c}" for c in combo)
    np.testing.assert_array_equal(atoms_to_multihot(atoms, table), mh)
    for c, name in enumerate(table.names):  # regions: atoms whose combo has channel c
        assert table.regions()[name] == [i for i, t in enumerate(exp_order) if c in t]


@PROPS
@given(multihot_stacks(), st.randoms(use_true_random=False))
def test_prop_atom_numbering_ignores_spatial_arrangement(mh, rnd):
    perm = list(range(mh[0].size))
    rnd.shuffle(perm)
    shuffled = mh.reshape(mh.shape[0], -1)[:, perm].reshape(mh.shape)
    atoms, table = multihot_to_atoms(mh)
    atoms2, table2 = multihot_to_atoms(shuffled)
    assert table2.names == table.names
    np.testing.assert_array_equal(table2.combos, table.combos)
    np.testing.assert_array_equal(atoms2, atoms.reshape(-1)[perm].reshape(atoms.shape))


@PROPS
@given(label_maps(max_value=5))
def test_prop_nonoverlapping_multihot_labels_round_trip(labels):
    n = 5
    mh = np.stack([labels == c + 1 for c in range(n)]).astype(np.uint8)
    out = multihot_to_labels(mh)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, labels)
    back = labels_to_multihot(out, [[c + 1] for c in range(n)])
    np.testing.assert_array_equal(back, mh)


@PROPS
@given(multihot_stacks(), st.data())
def test_prop_priority_paints_in_order(mh, data):
    c = mh.shape[0]
    names = tuple(f"s{i}" for i in range(c))
    later = multihot_to_labels(mh, priority="later", names=names)
    assert later.dtype == np.uint8
    np.testing.assert_array_equal(later, ref_paint(mh, range(c)))
    perm = data.draw(st.permutations(range(c)))
    # priority: the first listed channel that is on wins the voxel
    first_on = np.zeros(mh.shape[1:], np.int64)
    for idx in np.ndindex(first_on.shape):
        on = [k for k in perm if mh[(k, *idx)]]
        first_on[idx] = on[0] + 1 if on else 0
    by_index = multihot_to_labels(mh, priority=list(perm))
    np.testing.assert_array_equal(by_index, first_on)
    by_name = multihot_to_labels(mh, priority=[names[i] for i in perm], names=names)
    np.testing.assert_array_equal(by_name, first_on)
    # painting_order: the channels painted in this order, the last painted wins
    painted = multihot_to_labels(mh, painting_order=[names[i] for i in perm], names=names)
    np.testing.assert_array_equal(painted, ref_paint(mh, perm))


@PROPS
@given(multihot_stacks())
def test_prop_overlap_ignore(mh):
    out = multihot_to_labels(mh, overlap="ignore")
    assert out.dtype == np.uint8
    for idx in np.ndindex(out.shape):
        on = [c for c in range(mh.shape[0]) if mh[(c, *idx)]]
        assert out[idx] == (IGNORE if len(on) >= 2 else (on[0] + 1 if on else 0))
    custom = multihot_to_labels(mh, overlap="ignore", ignore_value=200)
    np.testing.assert_array_equal(custom == 200, mh.sum(axis=0, dtype=int) >= 2)


@PROPS
@given(multihot_stacks())
def test_prop_overlap_error_iff_overlap(mh):
    c = mh.shape[0]
    names = tuple(f"bone{i}" for i in range(c))
    overlap = np.zeros(mh.shape[1:], dtype=bool)
    for idx in np.ndindex(overlap.shape):
        overlap[idx] = sum(int(mh[(k, *idx)]) for k in range(c)) >= 2
    if not overlap.any():
        np.testing.assert_array_equal(multihot_to_labels(mh, names=names),
                                      ref_paint(mh, range(c)))
        assert check_overlaps(mh, names).ok
        return
    with pytest.raises(OverlapError) as err:
        multihot_to_labels(mh, names=names)
    msg = str(err.value)
    assert re.search(rf"\b{int(overlap.sum())}\b", msg), msg
    assert "priority" in msg and "ignore" in msg, msg
    if overlap.ndim == 3:
        assert re.search(rf"\b{ref_first(overlap)[0]}\b", msg), msg
    expected = {}
    for a in range(c):
        for b in range(a + 1, c):
            both = (mh[a] != 0) & (mh[b] != 0)
            if both.any():
                expected[(a, b)] = (int(both.sum()), ref_first(both))
                assert names[a] in msg and names[b] in msg, msg
    for report in (err.value.report, check_overlaps(mh, names)):
        assert isinstance(report, CheckReport) and not report.ok
        got = {tuple(sorted(names.index(n) for n in f.channels)): (f.count, f.first_index)
               for f in report.findings}
        assert got == expected
        assert {f.kind for f in report.findings} == {"overlap"}


# ---------------------------------------------------------------- bad input
_MH = np.zeros((3, 4, 4), dtype=np.uint8)

BAD_CALLS = {
    "float labels": lambda: labels_to_onehot(np.array([[0.0, 1.0], [1.0, 2.0]])),
    "negative labels": lambda: labels_to_onehot(np.array([[0, -1], [1, 2]], dtype=np.int16)),
    "negative torch labels": lambda: labels_to_onehot(torch.tensor([[0, -3], [1, 2]])),
    "float labels to multihot": lambda: labels_to_multihot(np.full((2, 2), 0.5), [[1]]),
    "priority too short": lambda: multihot_to_labels(_MH, priority=[0, 1]),
    "priority repeated": lambda: multihot_to_labels(_MH, priority=[0, 0, 1]),
    "priority out of range": lambda: multihot_to_labels(_MH, priority=[0, 1, 3]),
    "priority unknown name": lambda: multihot_to_labels(
        _MH, priority=["a", "b", "z"], names=["a", "b", "c"]),
    "priority word": lambda: multihot_to_labels(_MH, priority="earlier"),
    "priority with ignore": lambda: multihot_to_labels(_MH, priority="later",
                                                       overlap="ignore"),
    "priority and painting order": lambda: multihot_to_labels(
        _MH, priority=[0, 1, 2], painting_order=[2, 1, 0]),
    "painting order too short": lambda: multihot_to_labels(_MH, painting_order=[0, 1]),
    "painting order word": lambda: multihot_to_labels(_MH, painting_order="later"),
    "bad overlap mode": lambda: multihot_to_labels(_MH, overlap="merge"),
    "empty region": lambda: labels_to_multihot(np.zeros((2, 2), np.uint8), {"a": [1], "b": []}),
    "atom beyond table": lambda: atoms_to_multihot(  # the table has 3 atoms: 0, 1, 2
        np.array([[0, 1], [2, 3]], np.uint8),
        multihot_to_atoms(np.eye(2, dtype=np.uint8).reshape(2, 2, 1))[1]),
    "one-channel onehot": lambda: onehot_to_labels(np.ones((1, 2, 2), np.uint8)),
    "non-binary onehot": lambda: onehot_to_labels(np.array([[[0, 2]], [[1, 0]]], np.uint8)),
    "wrong names length": lambda: check_overlaps(_MH, names=["a", "b"]),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_input_raises_format_error(name):
    with pytest.raises(FormatError) as err:
        BAD_CALLS[name]()
    assert isinstance(err.value, ValueError)
    msg = str(err.value).strip()
    assert msg and "\n" not in msg and len(msg) < 400, msg


# ---------------------------------------------------------------- memory
def _peak(fn, *args, **kwargs):
    fn(args[0][..., :2], *args[1:], **kwargs)  # warm up lazy imports outside the trace
    tracemalloc.start()
    tracemalloc.reset_peak()
    out = fn(*args, **kwargs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, peak


@pytest.mark.parametrize("direction", ["labels_to_onehot", "onehot_to_labels", "atoms"])
def test_no_wide_volume_temporaries(direction):
    """Peak extra memory stays below 6 bytes/voxel: one int64/float64 temp would need 8."""
    labels = random_labels((64, 256, 256), 5, seed=1)
    n = labels.size
    if direction == "labels_to_onehot":
        out, peak = _peak(labels_to_onehot, labels, 5)
    elif direction == "onehot_to_labels":
        out, peak = _peak(onehot_to_labels, ref_onehot(labels, 5))
    else:
        mh = ref_onehot(labels, 5)
        mh[0] = labels > 2  # overlapping channels, several combinations
        out, peak = _peak(multihot_to_atoms, mh)
        out = out[0]
    budget = out.nbytes + 6 * n + 2**20
    assert peak <= budget, f"peak {peak / 2**20:.1f} MiB > budget {budget / 2**20:.1f} MiB"


def test_import_does_not_import_torch():
    src = str(Path(__file__).resolve().parents[2] / "src")
    code = (f"import sys; sys.path.insert(0, {src!r}); import napari_segreview.labels.formats; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
