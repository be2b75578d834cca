"""Regions, channels and label maps: the edit result applies as the effect says."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi
from skimage import measure

from napari_segreview.editing.region import (
    EFFECTS,
    edit_labels,
    edit_mask,
    edit_stack,
    region_box,
)
from napari_segreview.errors import FormatError

SPACING = (2.0, 0.5, 0.5)


def blobs(seed=0, shape=(10, 24, 24)):
    rng = np.random.default_rng(seed)
    return ndi.gaussian_filter(rng.random(shape), 1.0) > 0.52


def applied(result, data):
    out = np.array(data, copy=True)
    result.apply(out)
    return out


def test_volume_edit_equals_the_reference_and_voxels_match_apply():
    m = blobs().astype(np.uint8) * 3
    r = edit_mask(m, "keep-largest", value=3)
    lab = measure.label(m > 0, connectivity=3)
    ref = lab == np.bincount(lab.ravel())[1:].argmax() + 1
    out = applied(r, m)
    np.testing.assert_array_equal(out > 0, ref)
    assert set(np.unique(out)) <= {0, 3}
    idx, vals = r.changes[0].voxels(m)       # the panel's path: data_setitem(idx, vals)
    other = m.copy()
    other[idx] = vals
    np.testing.assert_array_equal(other, out)
    assert r.count(m) == int((m > 0).sum() - ref.sum()) == len(vals)


def test_slice_edit_is_2d_and_changes_nothing_else():
    m = blobs(1)
    r = edit_mask(m, "grow", where="slice", axis=0, index=4, mm=1.0, spacing=SPACING)
    out = applied(r, m)
    np.testing.assert_array_equal(np.delete(out, 4, axis=0), np.delete(m, 4, axis=0))
    dist = ndi.distance_transform_edt(~m[4], sampling=SPACING[1:])
    np.testing.assert_array_equal(out[4], dist <= 1.0)
    assert all(c.box[0] == slice(4, 5) for c in r.changes)


def test_slab_edit_is_3d_inside_the_slab():
    m = blobs(2)
    r = edit_mask(m, "fill-holes", where="slab", index=5, thickness=3)
    out = applied(r, m)
    np.testing.assert_array_equal(out[4:7], ndi.binary_fill_holes(m[4:7]))
    np.testing.assert_array_equal(out[:4], m[:4])
    np.testing.assert_array_equal(out[7:], m[7:])


def test_stack_channels_by_name_and_logical_ops():
    s = np.stack([blobs(3), blobs(4), blobs(5)]).astype(np.uint8)
    names = ["whole", "part", "cyst"]
    r = edit_stack(s, "union", channels=["part"], names=names, modifier="cyst")
    out = applied(r, s)
    np.testing.assert_array_equal(out[1] > 0, (s[1] > 0) | (s[2] > 0))
    np.testing.assert_array_equal(out[[0, 2]], s[[0, 2]])
    assert [c.channel for c in r.changes] == [1] and "part" in r.message
    r = edit_stack(s, "shrink", mm=1.0, spacing=SPACING)
    out = applied(r, s)
    for c in range(3):
        dist = ndi.distance_transform_edt(s[c] > 0, sampling=SPACING)
        np.testing.assert_array_equal(out[c] > 0, dist > 1.0)
    with pytest.raises(FormatError, match="unknown channel 'bone'"):
        edit_stack(s, "grow", channels=["bone"], names=names)


def test_interpolate_key_slices_are_in_volume_coordinates():
    m = np.zeros((12, 10, 10), bool)
    m[3, 2:8, 2:8] = m[9, 3:7, 3:7] = True
    r = edit_mask(m, "interpolate", where="slab", index=6, thickness=9, key_slices=[3, 9])
    out = applied(r, m)
    assert all(out[z].any() for z in range(3, 10)) and not out[:3].any()


@settings(max_examples=15, deadline=None)
@given(arrays(np.uint8, (4, 9, 9), elements=st.sampled_from([0, 0, 1, 2, 3])),
       st.sampled_from(["keep-largest", "remove-small", "fill-holes", "grow", "shrink",
                        "smooth", "split"]))
def test_label_maps_stay_label_maps(labels, effect):
    params = {"voxels": 3} if effect == "remove-small" else {}
    r = edit_labels(labels, effect, spacing=(1.5, 1.0, 1.0), **params)
    out = applied(r, labels)
    assert out.dtype == labels.dtype and out.shape == labels.shape
    if effect in ("grow", "fill-holes"):
        kept = labels > 0
        np.testing.assert_array_equal(out[kept], labels[kept])   # no overrun
    if effect in ("keep-largest", "remove-small", "shrink"):
        assert ((out == labels) | (out == 0)).all()               # only removes
    if effect == "split":
        np.testing.assert_array_equal(out > 0, labels > 0)


def test_label_keep_at_and_split_values():
    lab = np.zeros((1, 3, 9), np.uint8)
    lab[0, 0, 0:2] = lab[0, 0, 4] = lab[0, 2, 7:9] = 1
    lab[0, 2, 0] = 2
    out = applied(edit_labels(lab, "split"), lab)
    assert sorted(np.unique(out).tolist()) == [0, 1, 2, 3, 4]
    out = applied(edit_labels(lab, "keep-at", point=(0, 0, 4)), lab)
    assert (out == 1).sum() == 1 and out[0, 0, 4] == 1 and out[0, 2, 0] == 2


def test_errors():
    m = np.zeros((4, 5, 5), bool)
    with pytest.raises(FormatError, match="unknown region"):
        region_box(m.shape, "box")
    with pytest.raises(FormatError, match="outside"):
        edit_mask(m, "grow", where="slice", index=9)
    with pytest.raises(FormatError, match="not on one slice"):
        edit_mask(m, "interpolate", where="slice", index=1)
    with pytest.raises(FormatError, match="unknown effect"):
        edit_mask(m, "blur")
    with pytest.raises(FormatError, match="label map"):
        edit_mask(m, "split")
    with pytest.raises(FormatError, match="second channel"):
        edit_mask(m, "subtract")
    with pytest.raises(FormatError, match="one index per axis"):
        edit_mask(m, "keep-at", point=(1, 1))
    with pytest.raises(FormatError, match="outside the region"):
        edit_labels(blobs().astype(np.uint8), "keep-at", where="slab", index=5, thickness=3,
                    point=(0, 12, 12))
    assert "interpolate" in EFFECTS and edit_mask(m, "grow").changes == ()


def test_interpolating_all_channels_skips_empty_ones_and_names_the_failing_one():
    s = np.zeros((3, 9, 8, 8), np.uint8)
    s[0, 2, 2:6, 2:6] = s[0, 6, 3:5, 3:5] = 1          # channel 0: two key slices
    s[2, 4, 2:6, 2:6] = 1                               # channel 2: only one slice
    with pytest.raises(FormatError, match=r"^cyst: only 1 slice"):
        edit_stack(s, "interpolate", names=["whole", "empty", "cyst"])
    r = edit_stack(s[:2], "interpolate", names=["whole", "empty"])
    out = applied(r, s[:2])
    assert [c.channel for c in r.changes] == [0]
    assert all(out[0, z].any() for z in range(2, 7)) and not out[1].any()
