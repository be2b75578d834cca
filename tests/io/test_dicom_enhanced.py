"""Enhanced (multi-frame) CT: frames placed from their functional groups."""

import numpy as np
import pytest

from dicom_samples import write_enhanced_ct
from io_samples import ct_volume
from napari_segreview.io.dicom import read_dicom
from napari_segreview.io.read import read_image, read_images

pydicom = pytest.importorskip("pydicom")


def even_hu(shape, seed=0):
    """HU every frame can encode with slope 1 or 2 and intercept -1024 or -1000."""
    return (ct_volume(shape, seed=seed) // 2 * 2).astype(np.int16)


def frame_values(path, info):
    """pydicom's frames times each frame's own slope plus intercept (float64), frame order."""
    raw = pydicom.dcmread(path).pixel_array.astype(np.float64)
    order = info["frames"]
    slopes = np.asarray(info["slopes"])[order][:, None, None]
    intercepts = np.asarray(info["intercepts"])[order][:, None, None]
    return raw * slopes + intercepts


def test_shuffled_frames_with_per_frame_rescale_stack_along_the_normal(tmp_path):
    hu = even_hu((6, 10, 9))
    path = tmp_path / "enhanced.dcm"
    info = write_enhanced_ct(path, hu, step=2.0, origin=(-50.0, -60.0, 10.0),
                             pixel_spacing=(0.8, 0.7))
    img = read_image(path)
    assert img.data.dtype == np.int16 and img.units == "HU"
    np.testing.assert_array_equal(img.data, hu)
    # independently: pydicom's frames, rescaled frame by frame, put back by position
    by_frame = frame_values(path, info)
    np.testing.assert_array_equal(img.data, by_frame[np.argsort(info["frames"])])
    np.testing.assert_allclose(img.spacing, (2.0, 0.8, 0.7))     # not SliceThickness (5)
    np.testing.assert_allclose(img.origin, (10.0, -60.0, -50.0))
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    refs = img.dicom
    assert refs["sop_instance_uids"] == [ds.SOPInstanceUID] * 6
    assert refs["frames"] == [int(np.flatnonzero(info["frames"] == k)[0]) + 1
                              for k in range(6)]
    assert refs["frame_of_reference_uid"] == ds.FrameOfReferenceUID
    assert img.notes == ()


def test_shared_rescale_and_a_compressed_enhanced_file(tmp_path):
    from pydicom import uid

    hu = ct_volume((5, 32, 32), seed=1)
    path = tmp_path / "rle.dcm"
    write_enhanced_ct(path, hu, shared_rescale=True, syntax=uid.RLELossless)
    for lazy in (False, True):
        (img,) = read_dicom(path, lazy=lazy)
        np.testing.assert_array_equal(np.asarray(img.data), hu)


def test_two_stacks_become_two_images_like_mixed_series(tmp_path):
    hu = even_hu((8, 6, 6), seed=2)
    path = tmp_path / "two.dcm"
    write_enhanced_ct(path, hu, stacks=2)
    images = read_images(tmp_path)
    assert [im.name for im in images] == [f"{tmp_path.name} series 5 enhanced stack 1",
                                          f"{tmp_path.name} series 5 enhanced stack 2"]
    np.testing.assert_array_equal(images[0].data, hu[:4])
    np.testing.assert_array_equal(images[1].data, hu[4:])
    assert images[1].origin[2] == pytest.approx(images[0].origin[2] + 100.0)


def test_a_temporal_dimension_splits_frames_at_the_same_positions(tmp_path):
    hu = even_hu((6, 6, 6), seed=3)
    path = tmp_path / "phases.dcm"
    write_enhanced_ct(path, hu, times=2)
    images = read_dicom(path)
    assert [im.data.shape for im in images] == [(3, 6, 6), (3, 6, 6)]
    assert images[0].name.endswith("TemporalPositionIndex 1")
    np.testing.assert_array_equal(images[0].data, hu[:3])
    np.testing.assert_array_equal(images[1].data, hu[3:])
    assert all(im.notes == () for im in images)             # no "repeat a position" note


def test_classic_multiframe_rt_dose_uses_grid_frame_offsets(tmp_path):
    import shutil

    from pydicom.data import get_testdata_file

    path = tmp_path / "rtdose.dcm"
    shutil.copy(get_testdata_file("rtdose.dcm"), path)
    ds = pydicom.dcmread(path)
    (img,) = read_dicom(path)
    offsets = np.asarray(ds.GridFrameOffsetVector, float)
    np.testing.assert_array_equal(img.data, ds.pixel_array[np.argsort(offsets)])
    assert img.spacing[0] == pytest.approx(float(np.median(np.diff(np.sort(offsets)))))
