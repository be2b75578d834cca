"""Smoothing, hole filling and logical operators against scipy / numpy references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi

from napari_segreview.editing.holes import fill_holes
from napari_segreview.editing.logic import LOGICAL_OPS, logical
from napari_segreview.editing.smooth import smooth, smooth_labels
from napari_segreview.errors import FormatError

SPACING = (2.0, 0.8, 1.0)


def footprint(mm, spacing):
    r = [int(np.ceil(mm / s)) for s in spacing]
    g = np.ogrid[tuple(slice(-k, k + 1) for k in r)]
    return sum((a * s) ** 2 for a, s in zip(g, spacing, strict=True)) <= mm * mm + 1e-9


def blob(shape=(14, 30, 30), seed=0, border=6):
    rng = np.random.default_rng(seed)
    m = np.zeros(shape, bool)
    inner = tuple(slice(border // 2 if i == 0 else border, n - (border // 2 if i == 0 else border))
                  for i, n in enumerate(shape))
    m[inner] = ndi.gaussian_filter(rng.random(m[inner].shape), 1.2) > 0.5
    return m


@pytest.mark.parametrize("mm", [1.0, 2.5])
def test_median_matches_median_filter(mm):
    m = blob()
    ref = ndi.median_filter(m.astype(np.uint8), footprint=footprint(mm, SPACING)) > 0
    np.testing.assert_array_equal(smooth(m, "median", mm=mm, spacing=SPACING), ref)


@pytest.mark.parametrize("mm", [2.0, 6.0])    # a small footprint, and one for distances
@pytest.mark.parametrize("method", ["opening", "closing"])
def test_opening_closing_match_binary_morphology_away_from_the_border(method, mm):
    m = np.zeros((20, 40, 40), bool)
    m[6:14, 10:30, 10:30] = blob((8, 20, 20), seed=1, border=0)
    foot = footprint(mm, SPACING)
    ref_fn = ndi.binary_opening if method == "opening" else ndi.binary_closing
    ref = ref_fn(m, structure=foot)
    np.testing.assert_array_equal(smooth(m, method, mm=mm, spacing=SPACING), ref)


def test_gaussian_matches_gaussian_filter():
    m = blob(seed=2)
    ref = ndi.gaussian_filter(m.astype(np.float32), [1.5 / s for s in SPACING], truncate=3.0)
    np.testing.assert_array_equal(smooth(m, "gaussian", mm=1.5, spacing=SPACING), ref >= 0.5)


def test_smooth_labels_is_a_partition_and_a_gaussian_vote():
    rng = np.random.default_rng(4)
    labels = ndi.zoom(rng.integers(0, 4, (4, 6, 6)), (3, 4, 4), order=0).astype(np.uint8)
    labels[rng.random(labels.shape) > 0.93] = 3          # speckle
    out = smooth_labels(labels, mm=1.2, spacing=SPACING)
    sigma = [1.2 / s for s in SPACING]
    scores = np.stack([ndi.gaussian_filter((labels == v).astype(np.float32), sigma,
                                           truncate=3.0) for v in range(4)])
    ref = scores.argmax(axis=0)
    top = np.sort(scores, axis=0)
    clear = top[-1] - top[-2] > 1e-4                         # not a near-tie
    assert out.dtype == labels.dtype and set(np.unique(out)) <= {0, 1, 2, 3}
    np.testing.assert_array_equal(out[clear], ref[clear])
    assert (out != labels).sum() < (labels == 3).sum()       # the speckle went


def test_smooth_errors():
    with pytest.raises(FormatError, match="unknown smoothing"):
        smooth(np.ones((3, 3), bool), "mean")
    with pytest.raises(FormatError, match="more than 0"):
        smooth(np.ones((3, 3), bool), mm=0)


@settings(max_examples=25, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 6), st.integers(1, 8), st.integers(1, 8)),
              elements=st.booleans()))
def test_fill_holes_3d_and_per_slice(mask):
    np.testing.assert_array_equal(fill_holes(mask), ndi.binary_fill_holes(mask))
    for axis in range(3):
        ref = np.stack([ndi.binary_fill_holes(s) for s in np.moveaxis(mask, axis, 0)])
        got = fill_holes(mask, per_slice=True, axis=axis)
        np.testing.assert_array_equal(got, np.moveaxis(ref, 0, axis))


@settings(max_examples=25, deadline=None)
@given(arrays(bool, (3, 4, 5)), arrays(bool, (3, 4, 5)), st.sampled_from(LOGICAL_OPS))
def test_logical_ops(target, modifier, op):
    expected = {"copy": modifier, "union": np.logical_or(target, modifier),
                "intersect": np.logical_and(target, modifier),
                "subtract": np.logical_and(target, np.logical_not(modifier)),
                "invert": np.logical_not(target), "clear": np.zeros_like(target)}[op]
    np.testing.assert_array_equal(logical(op, target, modifier), expected)


def test_logical_errors():
    with pytest.raises(FormatError, match="second channel"):
        logical("union", np.ones(3, bool))
    with pytest.raises(FormatError, match="same image"):
        logical("union", np.ones(3, bool), np.ones(4, bool))
    with pytest.raises(FormatError, match="unknown operator"):
        logical("xor", np.ones(3, bool), np.ones(3, bool))
