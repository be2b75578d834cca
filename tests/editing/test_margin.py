"""Margins against brute-force distances and scikit-image's expand_labels."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist
from skimage.segmentation import expand_labels

import napari_segreview.editing._box as box_module
from napari_segreview.editing.margin import grow, grow_labels, shrink, shrink_labels
from napari_segreview.errors import FormatError

masks = arrays(bool, st.tuples(st.integers(1, 6), st.integers(1, 7), st.integers(1, 7)),
               elements=st.booleans())
spacings = st.tuples(*[st.sampled_from([0.5, 1.0, 1.5, 3.0])] * 3)
distances = st.sampled_from([0.0, 0.7, 1.0, 1.6, 2.5, 4.0])


def coords(shape, spacing):
    return np.indices(shape).reshape(len(shape), -1).T * np.asarray(spacing)


def ref_grow(mask, mm, spacing):
    pts = coords(mask.shape, spacing)
    inside = mask.ravel()
    if not inside.any():
        return mask.copy()
    d = cdist(pts, pts[inside]).min(axis=1)
    return (d <= mm + 1e-9).reshape(mask.shape)


def ref_shrink(mask, mm, spacing):
    pts = coords(mask.shape, spacing)
    outside = ~mask.ravel()
    if not outside.any():
        return mask.copy()
    d = cdist(pts, pts[outside]).min(axis=1)
    return mask & (d > mm + 1e-9).reshape(mask.shape)


@settings(max_examples=25, deadline=None)
@given(masks, distances, spacings)
def test_grow_is_exact(mask, mm, spacing):
    np.testing.assert_array_equal(grow(mask, mm, spacing=spacing), ref_grow(mask, mm, spacing))


@settings(max_examples=25, deadline=None)
@given(masks, distances, spacings)
def test_shrink_is_exact(mask, mm, spacing):
    np.testing.assert_array_equal(shrink(mask, mm, spacing=spacing),
                                  ref_shrink(mask, mm, spacing))


@settings(max_examples=20, deadline=None)
@given(masks, distances, spacings)
def test_grow_then_shrink_contains_and_shrink_then_grow_is_inside(mask, mm, spacing):
    closed = shrink(grow(mask, mm, spacing=spacing), mm, spacing=spacing)
    opened = grow(shrink(mask, mm, spacing=spacing), mm, spacing=spacing)
    assert not (mask & ~closed).any()
    assert not (opened & ~mask).any()


def test_slabs_give_the_same_answer(monkeypatch):
    rng = np.random.default_rng(3)
    mask = np.zeros((40, 24, 24), bool)
    mask[5:35, 6:18, 6:18] = rng.random((30, 12, 12)) > 0.3
    spacing = (2.0, 0.7, 0.7)
    whole_g, whole_s = grow(mask, 3.0, spacing=spacing), shrink(mask, 1.5, spacing=spacing)
    labels = (mask * rng.integers(1, 4, mask.shape)).astype(np.uint8)
    whole_l = grow_labels(labels, 2.0, spacing=spacing)
    monkeypatch.setattr(box_module, "SLAB_VOXELS", 24 * 24 * 6)
    np.testing.assert_array_equal(grow(mask, 3.0, spacing=spacing), whole_g)
    np.testing.assert_array_equal(shrink(mask, 1.5, spacing=spacing), whole_s)
    sliced = grow_labels(labels, 2.0, spacing=spacing)
    assert ((sliced > 0) == (whole_l > 0)).all()


def test_grow_labels_matches_expand_labels_anisotropic():
    labels = np.zeros((12, 30, 30), np.uint8)
    labels[3:6, 4:9, 4:9] = 1
    labels[6:9, 18:26, 15:22] = 2
    spacing = (2.0, 0.8, 0.8)
    ours = grow_labels(labels, 3.0, spacing=spacing)
    ref = expand_labels(labels, distance=3.0, spacing=spacing)
    np.testing.assert_array_equal(ours, ref)


@settings(max_examples=15, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 5), st.integers(1, 8), st.integers(1, 8)),
              elements=st.sampled_from([0, 0, 0, 1, 2, 3])), distances, spacings)
def test_labels_do_not_overrun(labels, mm, spacing):
    grown = grow_labels(labels, mm, spacing=spacing)
    kept = labels > 0
    np.testing.assert_array_equal(grown[kept], labels[kept])     # nobody overruns a label
    assert ((grown > 0) == ref_grow(labels > 0, mm, spacing)).all()
    shrunk = shrink_labels(labels, mm, spacing=spacing)
    for v in (1, 2, 3):
        np.testing.assert_array_equal(shrunk == v, ref_shrink(labels == v, mm, spacing))


def test_negative_margin_is_one_sentence():
    with pytest.raises(FormatError, match="zero or more"):
        grow(np.ones((2, 2), bool), -1.0)
    with pytest.raises(FormatError, match="positive"):
        grow(np.ones((2, 2), bool), 1.0, spacing=(0, 1))
    with pytest.raises(FormatError, match="2 values"):
        shrink(np.ones((2, 2, 2), bool), 1.0, spacing=(1, 1))


def test_scipy_and_edt_paths_agree(monkeypatch):
    import napari_segreview.editing.margin as margin

    rng = np.random.default_rng(7)
    mask = ndi_blobs(rng)
    spacing = (2.5, 0.7, 0.7)
    fast = [grow(mask, 2.0, spacing=spacing), shrink(mask, 1.4, spacing=spacing)]
    monkeypatch.setattr(margin, "edt", None)
    slow = [grow(mask, 2.0, spacing=spacing), shrink(mask, 1.4, spacing=spacing)]
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)


def ndi_blobs(rng):
    from scipy import ndimage as ndi

    return ndi.gaussian_filter(rng.random((12, 40, 40)), 1.5) > 0.5
