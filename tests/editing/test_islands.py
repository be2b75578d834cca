"""Islands against scikit-image / scipy references written here."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi
from skimage import measure, morphology, segmentation

from napari_segreview.editing.islands import keep_at, keep_largest, remove_small, split_components
from napari_segreview.errors import FormatError

masks = arrays(bool, st.tuples(st.integers(1, 6), st.integers(1, 7), st.integers(1, 7)),
               elements=st.booleans())
conns = st.sampled_from([(6, 1), (26, 3)])


def ref_components(mask, rank):
    lab = measure.label(mask, connectivity=rank)
    return lab, np.bincount(lab.ravel(), minlength=1)


@settings(max_examples=25, deadline=None)
@given(masks, conns)
def test_keep_largest_matches_skimage(mask, conn):
    ours, rank = conn
    lab, counts = ref_components(mask, rank)
    counts[0] = 0
    expected = (lab == counts.argmax()) if counts.max() else np.zeros_like(mask)
    got = keep_largest(mask, connectivity=ours)
    if counts.max() and (counts == counts.max()).sum() > 1:  # a tie: any largest is right
        assert got.sum() == counts.max()
    else:
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=25, deadline=None)
@given(masks, conns, st.integers(0, 12))
def test_remove_small_matches_remove_small_objects(mask, conn, size):
    ours, rank = conn
    expected = morphology.remove_small_objects(mask, max_size=size - 1, connectivity=rank) \
        if size > 0 else mask
    np.testing.assert_array_equal(remove_small(mask, voxels=size, connectivity=ours), expected)


def test_remove_small_in_mm3_uses_anisotropic_voxels():
    mask = np.zeros((6, 10, 10), bool)
    mask[0:2, 0:2, 0:2] = True          # 8 voxels
    mask[3:6, 4:9, 4:9] = True          # 75 voxels
    spacing = (2.5, 0.5, 0.5)           # 0.625 mm^3 per voxel
    # 8 voxels = 5 mm^3 < 10 mm^3 (16 voxels) <= 75 voxels
    out = remove_small(mask, mm3=10.0, spacing=spacing)
    expected = morphology.remove_small_objects(mask, max_size=15, connectivity=3)
    np.testing.assert_array_equal(out, expected)
    assert remove_small(mask, mm3=5.0, spacing=spacing).sum() == 83


@settings(max_examples=20, deadline=None)
@given(masks, conns, st.data())
def test_keep_at_matches_flood(mask, conn, data):
    ours, rank = conn
    points = np.argwhere(mask)
    if len(points) == 0:
        return
    point = tuple(int(p) for p in points[data.draw(st.integers(0, len(points) - 1))])
    expected = segmentation.flood(mask.astype(np.uint8), point, connectivity=rank)
    np.testing.assert_array_equal(keep_at(mask, point, connectivity=ours), expected)


def test_keep_at_outside_is_one_sentence():
    mask = np.zeros((3, 3, 3), bool)
    with pytest.raises(FormatError, match="background"):
        keep_at(mask, (1, 1, 1))
    with pytest.raises(FormatError, match="outside"):
        keep_at(mask, (5, 1, 1))


@settings(max_examples=20, deadline=None)
@given(masks, conns)
def test_split_components_orders_by_size(mask, conn):
    ours, rank = conn
    labels, n = split_components(mask, connectivity=ours)
    ref, count = ndi.label(mask, structure=ndi.generate_binary_structure(3, rank))
    assert n == count
    np.testing.assert_array_equal(labels > 0, mask)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    assert list(sizes) == sorted(sizes, reverse=True)
    # every reference component maps to exactly one label and back
    pairs = {(int(a), int(b)) for a, b in zip(ref[mask], labels[mask], strict=True)}
    assert len(pairs) == n == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def test_bad_arguments():
    mask = np.ones((2, 2, 2), bool)
    with pytest.raises(FormatError, match="connectivity"):
        keep_largest(mask, connectivity=18)
    with pytest.raises(FormatError, match="either"):
        remove_small(mask)
    with pytest.raises(FormatError, match="either"):
        remove_small(mask, voxels=2, mm3=3.0)
    with pytest.raises(FormatError, match="4-D"):
        keep_largest(np.ones((1, 2, 2, 2), bool))


def test_2d_connectivity():
    diag = np.eye(3, dtype=bool)
    assert keep_largest(diag, connectivity=4).sum() == 1
    assert keep_largest(diag, connectivity=8).sum() == 3


def test_scipy_and_cc3d_paths_agree(monkeypatch):
    import napari_segreview.editing.islands as islands

    rng = np.random.default_rng(8)
    mask = ndi.gaussian_filter(rng.random((10, 40, 40)), 1.0) > 0.55
    for conn in (6, 26):
        fast = [keep_largest(mask, connectivity=conn),
                remove_small(mask, voxels=20, connectivity=conn)]
        with monkeypatch.context() as mp:
            mp.setattr(islands, "cc3d", None)
            slow = [keep_largest(mask, connectivity=conn),
                    remove_small(mask, voxels=20, connectivity=conn)]
        for a, b in zip(fast, slow, strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_strided_box_is_labelled_right():
    # the box of this mask is a (3, 1, 1) view with strides (2, 2, 1), which cc3d 4.1
    # misread when given the view itself
    mask = np.zeros((3, 1, 2), bool)
    mask[0, 0, 0] = mask[2, 0, 0] = True
    _, count = ndi.label(mask)
    labels, n = split_components(mask, connectivity=6)
    assert n == count == 2
    np.testing.assert_array_equal(labels > 0, mask)
    assert keep_largest(mask, connectivity=6).sum() == 1
