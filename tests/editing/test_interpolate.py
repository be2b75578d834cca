"""Fill between slices: Dice on known shapes, what is kept, splits, caps, errors."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from edit_shapes import bent_tube, dice, ellipsoid
from napari_segreview.editing.interpolate import (
    interpolate_labels,
    interpolate_slices,
    key_slices_of,
)
from napari_segreview.errors import FormatError


def sampled(truth, k, axis=0):
    keys = list(range(0, truth.shape[axis], k))
    m = np.zeros_like(truth)
    index = [slice(None)] * 3
    index[axis] = keys
    m[tuple(index)] = truth[tuple(index)]
    return m, keys


@pytest.mark.parametrize(("k", "least"), [(3, 0.97), (5, 0.96), (10, 0.9)])
def test_ellipsoid_dice(k, least):
    spacing = (2.0, 1.0, 1.0)
    truth = ellipsoid((30, 64, 64), (15, 32, 30), (24, 22, 14), spacing)
    m, keys = sampled(truth, k)
    out = interpolate_slices(m, key_slices=keys, spacing=spacing)
    np.testing.assert_array_equal(out[keys], truth[keys])   # key slices kept
    assert dice(out[: keys[-1] + 1], truth[: keys[-1] + 1]) >= least
    assert dice(out[: keys[-1] + 1], truth[: keys[-1] + 1]) > dice(m, truth)


def test_bent_tube_moving_more_than_its_width_stays_whole():
    truth = bent_tube((48, 64, 64), 5, 14)
    m, keys = sampled(truth, 6)
    out = interpolate_slices(m, key_slices=keys)
    assert dice(out[: keys[-1] + 1], truth[: keys[-1] + 1]) >= 0.9
    _, n = ndi.label(out[: keys[-1] + 1], structure=np.ones((3, 3, 3)))
    assert n == 1


def test_axis_is_a_transpose():
    truth = ellipsoid((40, 30, 36), (20, 15, 18), (15, 12, 14))
    m, keys = sampled(truth, 4, axis=2)
    along_x = interpolate_slices(m, axis=2, key_slices=keys)
    moved = interpolate_slices(np.moveaxis(m, 2, 0), axis=0, key_slices=keys)
    np.testing.assert_array_equal(along_x, np.moveaxis(moved, 0, 2))


def test_outside_the_keys_and_the_default_keys():
    m = np.zeros((12, 20, 20), bool)
    m[2, 5:15, 5:15] = True
    m[8, 7:13, 7:13] = True
    m[11, 0:3, 0:3] = True   # outside the chosen key range
    out = interpolate_slices(m, key_slices=[2, 8])
    np.testing.assert_array_equal(out[9:], m[9:])
    np.testing.assert_array_equal(out[:3], m[:3])
    sizes = [int(out[z].sum()) for z in range(2, 9)]
    assert sizes == sorted(sizes, reverse=True) and sizes[3] < 100 and sizes[-2] >= 36
    assert key_slices_of(m) == [2, 8, 11]
    default = interpolate_slices(m)
    assert default[9:11].any()   # filled towards slice 11 too


def test_split_and_cap():
    m = np.zeros((9, 30, 40), bool)
    m[0, 10:20, 8:32] = True             # one wide blob
    m[8, 10:20, 6:14] = True             # splits into two
    m[8, 10:20, 26:34] = True
    m[0, 24:28, 2:6] = True              # ends between the slices: a cap
    out = interpolate_slices(m)
    _, n_mid = ndi.label(out[4, :22], structure=np.ones((3, 3)))
    assert 1 <= n_mid <= 2 and out[4, :22].sum() > 0
    cap = out[:, 22:, :8].sum(axis=(1, 2))
    assert cap[0] == 16 and cap[-1] == 0 and all(np.diff(cap) <= 0)


def test_labels_are_interpolated_each_on_its_own():
    lab = np.zeros((9, 30, 30), np.uint8)
    a = ellipsoid((9, 30, 30), (4, 10, 10), (6, 6, 6))
    b = ellipsoid((9, 30, 30), (4, 20, 21), (6, 6, 6))
    lab[a] = 1
    lab[b & ~a] = 2
    lab[[1, 3, 5, 7]] = 0            # wipe the slices in between
    lab[3, 8:12, 8:12] = 7           # a label not edited, inside label 1's place
    out = interpolate_labels(lab, key_slices=[0, 2, 4, 6, 8], labels_to_edit=[1, 2])
    assert (out[3, 8:12, 8:12] == 7).all()      # never overwritten
    a[3, 8:12, 8:12] = False
    assert dice(out[[1, 3, 5, 7]] == 1, a[[1, 3, 5, 7]]) > 0.85
    assert dice(out[[1, 3, 5, 7]] == 2, (b & ~a)[[1, 3, 5, 7]]) > 0.85


def test_errors_are_one_sentence():
    m = np.zeros((5, 4, 4), bool)
    m[2] = True
    with pytest.raises(FormatError, match="at least two slices"):
        interpolate_slices(m)
    with pytest.raises(FormatError, match="outside"):
        interpolate_slices(m, key_slices=[0, 9])
    with pytest.raises(FormatError, match="3-D"):
        interpolate_slices(m[0])
    with pytest.raises(FormatError, match="at least two"):
        interpolate_slices(m, key_slices=[2])
