"""Intensity-limited painting and the magic wand, against scipy/skimage written here."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from napari_segreview.card.windows import window_to_limits
from napari_segreview.editing.paint import (
    IntensityRange,
    corrected_slices,
    in_range,
    limit_indices,
    magic_wand,
    range_presets,
)
from napari_segreview.errors import FormatError


def test_presets_are_the_ct_windows():
    assert range_presets()["bone"] == window_to_limits(400, 1800)
    assert range_presets()["lung"] == window_to_limits(-600, 1500)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(-1000, 1000), st.integers(0, 1500))
def test_in_range_and_limit_indices_match_a_plain_comparison(seed, low, width):
    rng = np.random.default_rng(seed)
    img = rng.integers(-1024, 2000, (6, 7, 8)).astype(np.int16)
    r = IntensityRange(low, low + width)
    want = (img.astype(np.float64) >= low) & (img.astype(np.float64) <= low + width)
    np.testing.assert_array_equal(in_range(img, r), want)
    box = (slice(1, 4), slice(None), slice(2, 5))
    np.testing.assert_array_equal(in_range(img, r, box), want[box])
    idx = tuple(rng.integers(0, s, 30) for s in img.shape)
    np.testing.assert_array_equal(limit_indices(img, r, idx), want[idx])
    assert limit_indices(img, None, idx).all()


def test_bad_ranges_are_one_sentence():
    with pytest.raises(FormatError, match="empty"):
        IntensityRange(10, 0)
    with pytest.raises(FormatError, match="finite"):
        IntensityRange(float("nan"), 1)


def _wand_reference(img, seed, tol, low=None, high=None, structure=None):
    ok = np.abs(img.astype(np.float64) - float(img[seed])) <= tol
    if low is not None:
        ok &= (img >= low) & (img <= high)
    if not ok[seed]:
        return np.zeros(img.shape, bool)
    lab, _ = ndimage.label(ok, structure=structure)
    return lab == lab[seed]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 300), st.booleans())
def test_magic_wand_is_the_connected_region_within_tolerance(seed, tol, limited):
    rng = np.random.default_rng(seed)
    img = ndimage.uniform_filter(rng.integers(-500, 1500, (8, 12, 12)).astype(np.float32), 3)
    img = img.astype(np.int16)
    s = tuple(int(rng.integers(0, n)) for n in img.shape)
    if limited:
        low, high = int(img[s]) - 50, int(img[s]) + 400
        got = magic_wand(img, s, tol, rng=IntensityRange(low, high))
        want = _wand_reference(img, s, tol, low, high)
    else:
        got = magic_wand(img, s, tol)
        want = _wand_reference(img, s, tol)
    np.testing.assert_array_equal(got, want)
    full = magic_wand(img, s, tol, connectivity=3)
    np.testing.assert_array_equal(full, _wand_reference(img, s, tol, structure=np.ones((3,) * 3)))


def test_wand_seed_outside_the_range_paints_nothing_and_bad_input_is_refused():
    img = np.arange(16, dtype=np.int16).reshape(4, 4)
    assert not magic_wand(img, (0, 0), 3, rng=IntensityRange(5, 9)).any()
    with pytest.raises(FormatError, match="outside the image"):
        magic_wand(img, (4, 0), 1)
    with pytest.raises(FormatError, match="tolerance"):
        magic_wand(img, (0, 0), -1)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 2), st.integers(1, 5))
def test_corrected_slices_are_the_slices_that_differ(seed, axis, block):
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, 3, (7, 5, 6)).astype(np.uint8)
    cur = pred.copy()
    for _ in range(int(rng.integers(0, 4))):
        cur[tuple(int(rng.integers(0, s)) for s in cur.shape)] += 1
    want = [k for k in range(cur.shape[axis])
            if not np.array_equal(np.take(cur, k, axis), np.take(pred, k, axis))]
    assert corrected_slices(cur, pred, axis=axis, block=block) == want


def test_corrected_slices_refuse_other_shapes():
    with pytest.raises(FormatError, match="cannot be compared"):
        corrected_slices(np.zeros((2, 2)), np.zeros((2, 3)))
