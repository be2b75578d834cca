"""A folder as PACS exports it: bad files skipped with one note, malformed values missing."""

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicom_samples import position_order, reference_values, set_raw
from io_samples import ct_volume, write_ct_series
from napari_segreview.errors import ReadError
from napari_segreview.io.dicom import read_dicom
from napari_segreview.io.dicom_values import as_float, as_floats, as_int
from napari_segreview.io.read import read_image

pydicom = pytest.importorskip("pydicom")


def test_an_integer_string_holding_1a_does_not_take_down_the_folder(tmp_path):
    hu = ct_volume((5, 8, 8), seed=1)
    paths = write_ct_series(tmp_path, hu)
    set_raw(paths[2], "InstanceNumber", b"1A")           # the reported bug
    set_raw(paths[3], "SeriesNumber", b"x2")
    set_raw(paths[1], "WindowCenter", b"abc")
    set_raw(paths[4], "SliceThickness", b"5mm")
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.data, hu)
    ref = np.stack([reference_values(p) for p in position_order(paths)])
    np.testing.assert_array_equal(img.data, ref)
    (note,) = img.notes
    assert note.startswith("read malformed optional values as missing")
    for kw in ("InstanceNumber", "SeriesNumber", "WindowCenter", "SliceThickness"):
        assert kw in note


def test_malformed_pixel_spacing_and_number_of_frames(tmp_path):
    hu = ct_volume((3, 6, 7), seed=2)
    paths = write_ct_series(tmp_path, hu)
    for p in paths:
        set_raw(p, "PixelSpacing", b"0.7\\zz")
        set_raw(p, "NumberOfFrames", b"1A")
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.data, hu)
    assert img.spacing[1:] == (1.0, 1.0) and not img.calibrated
    assert any("no PixelSpacing" in n for n in img.notes)
    assert any("NumberOfFrames" in n and "PixelSpacing" in n for n in img.notes)


def test_a_zero_pixel_spacing_is_malformed_not_a_size(tmp_path):
    hu = ct_volume((3, 6, 7), seed=3)
    paths = write_ct_series(tmp_path, hu)
    for p in paths:
        set_raw(p, "PixelSpacing", b"0\\0 ")
        set_raw(p, "SliceThickness", b"0 ")
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.data, hu)
    assert img.spacing[1:] == (1.0, 1.0) and min(img.spacing) > 0 and not img.calibrated
    assert any("PixelSpacing" in n and "SliceThickness" in n for n in img.notes)


def test_a_folder_mixing_good_and_broken_files_gives_one_line(tmp_path):
    hu = ct_volume((6, 16, 16), seed=3)
    paths = write_ct_series(tmp_path, hu, names=[f"s{k}" for k in range(6)])
    cut = paths[2].read_bytes()
    paths[2].write_bytes(cut[: len(cut) - 100])          # truncated pixel data
    head = paths[4].read_bytes()
    paths[4].write_bytes(head[:300])                     # cut inside the header
    (tmp_path / "garbage.dcm").write_bytes(np.random.default_rng(0).bytes(700))
    (tmp_path / "magic").write_bytes(bytes(128) + b"DICM" + b"\xff" * 40)
    sr = pydicom.dcmread(paths[0])
    del sr.PixelData, sr.Rows, sr.Columns                 # a DICOM file with no image
    sr.SOPClassUID = sr.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    sr.save_as(tmp_path / "report.dcm")
    (tmp_path / "README.txt").write_text("not looked at")
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.data, np.delete(hu, [2, 4], axis=0))
    notes = [n for n in img.notes if n.startswith("skipped")]
    assert len(notes) == 1
    (note,) = notes
    assert note.startswith(f"skipped 5 of 9 files in {tmp_path.name}: 2 not DICOM, 2 truncated, "
                           "1 no image (")
    assert "\n" not in note and "README" not in note


def test_a_truncated_file_on_its_own_is_one_sentence(tmp_path):
    paths = write_ct_series(tmp_path, ct_volume((3, 16, 16), seed=4), names=["a", "b", "c"])
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) - 200])
    with pytest.raises(ReadError, match=r"b is not a readable DICOM image file \(truncated\)"):
        read_image(paths[1])
    img = read_image(paths[0])                           # its neighbours still open
    assert img.data.shape[0] == 2


def test_a_slice_without_a_valid_position_is_skipped_when_the_others_have_one(tmp_path):
    hu = ct_volume((5, 6, 6), seed=5)
    paths = write_ct_series(tmp_path, hu, names=[f"s{k}" for k in range(5)])
    set_raw(paths[1], "ImagePositionPatient", b"1\\2\\nan")
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.data, np.delete(hu, 1, axis=0))
    assert any("1 no valid position (s1)" in n for n in img.notes)


def test_a_seg_beside_the_series_is_skipped_and_alone_says_what_it_is(tmp_path):
    from pydicom.data import get_testdata_file

    hu = ct_volume((3, 6, 6), seed=6)
    write_ct_series(tmp_path, hu)
    seg = tmp_path / "seg.dcm"
    shutil.copy(get_testdata_file("liver_1frame.dcm"), seg)
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.data, hu)
    assert any("1 DICOM SEG (seg.dcm)" in n for n in img.notes)
    with pytest.raises(ReadError, match=r"seg\.dcm is a DICOM SEG"):
        read_dicom(seg)


def test_a_folder_of_broken_files_only_says_why(tmp_path):
    (tmp_path / "a.dcm").write_bytes(b"garbage" * 30)
    (tmp_path / "b.dcm").write_bytes(b"more garbage" * 30)
    with pytest.raises(ReadError, match=r"holds no readable DICOM image files \(skipped 2 of 2 "
                                        r"files in .*: 2 not DICOM"):
        read_dicom(tmp_path)


def test_references_for_dicom_seg_in_stacked_order(tmp_path):
    hu = ct_volume((4, 6, 6), seed=7)
    paths = write_ct_series(tmp_path, hu)
    img = read_image(tmp_path)
    refs = img.dicom
    ordered = position_order(paths)
    assert refs["files"] == [str(p) for p in ordered]
    assert refs["sop_instance_uids"] == [str(pydicom.dcmread(p).SOPInstanceUID)
                                         for p in ordered]
    first = pydicom.dcmread(paths[0])
    assert refs["series_uid"] == first.SeriesInstanceUID
    assert refs["study_uid"] == first.StudyInstanceUID
    assert refs["sop_class_uid"] == first.SOPClassUID and refs["frames"] == [None] * 4
    assert img.metadata()["dicom"] == refs


def test_lazy_series_is_dask_in_stacked_order_and_equals_eager(tmp_path):
    hu = ct_volume((7, 10, 9), seed=8)
    paths = write_ct_series(tmp_path, hu)
    (wide,) = read_dicom(tmp_path, lazy=True)
    # 16 stored bits - 1024 may not fit int16: a lazy stack cannot look at every value first
    assert wide.data.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(wide.data), hu)
    for p in paths:
        set_raw(p, "BitsStored", (12).to_bytes(2, "little"))   # 0..4095 - 1024 fits
    (lazy,) = read_dicom(tmp_path, lazy=True)
    (eager,) = read_dicom(tmp_path, lazy=False)
    assert lazy.is_lazy and not eager.is_lazy
    assert lazy.data.dtype == eager.data.dtype == np.int16
    np.testing.assert_array_equal(np.asarray(lazy.data[3]), hu[3])
    np.testing.assert_array_equal(np.asarray(lazy.data), eager.data)
    assert lazy.spacing == eager.spacing and lazy.dicom == eager.dicom
    (auto,) = read_dicom(tmp_path, lazy_bytes=100)      # above the threshold: lazy
    assert auto.is_lazy


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6),
                 st.floats(allow_nan=True, allow_infinity=True), st.none(),
                 st.lists(st.text(max_size=5), max_size=4)))
def test_optional_values_parse_or_are_missing_never_raise(value):
    bad = set()
    got = as_int(value, "InstanceNumber", bad)
    assert got is None or isinstance(got, int)
    if isinstance(value, int):
        assert got == value and not bad
    f = as_float(value, "WindowCenter", bad)
    assert f is None or np.isfinite(f)
    three = as_floats(value, 3, "ImagePositionPatient", bad)
    assert three is None or (len(three) == 3 and all(np.isfinite(three)))
