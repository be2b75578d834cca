"""DICOM series: ordered by position, HU, spacing, window, mixed series, bad files."""

import sys

import numpy as np
import pytest

from io_samples import ct_volume, tilted_orientation, unit, write_ct_series
from napari_segreview.errors import MissingDependency, ReadError
from napari_segreview.io.read import can_read, read_image, read_images

pytest.importorskip("pydicom")


def expected_origin(origin, orientation):
    row, col = np.array(orientation[:3]), np.array(orientation[3:])
    normal = np.cross(row, col)
    o = np.asarray(origin, float)
    return (o @ normal, o @ col, o @ row)


def test_axial_series_shuffled_names_reversed_instances(tmp_path):
    hu = ct_volume((6, 12, 10))
    write_ct_series(tmp_path / "ct", hu, pixel_spacing=(0.7, 0.6), step=2.5,
                    origin=(-100.0, -120.0, 30.0))
    img = read_image(tmp_path / "ct")
    assert img.format == "dicom" and img.name == "ct"
    assert img.data.dtype == np.int16                     # -1024 .. 2000 fits
    np.testing.assert_array_equal(img.data, hu)           # not by name, not by InstanceNumber
    np.testing.assert_allclose(img.spacing, (2.5, 0.7, 0.6))   # not SliceThickness (5.0)
    np.testing.assert_allclose(img.origin, (30.0, -120.0, -100.0))
    assert img.units == "HU" and img.spacing_unit == "mm" and img.calibrated
    assert img.contrast_limits == (40 - 200, 40 + 200)
    assert img.notes == ()
    kw = img.layer_kwargs()
    assert kw["scale"] == img.spacing and kw["contrast_limits"] == (-160.0, 240.0)
    md = dict(kw["metadata"]["segreview"])
    refs = md.pop("dicom")
    assert md == {"kind": "image", "source": str(tmp_path / "ct"), "format": "dicom",
                  "units": "HU", "spacing_unit": "mm"}
    assert len(refs["sop_instance_uids"]) == len(hu) and refs["frames"] == [None] * len(hu)


def test_positions_descending_while_names_and_instances_ascend(tmp_path):
    hu = ct_volume((5, 8, 8), seed=1)
    z = len(hu)
    write_ct_series(tmp_path, hu, step=-3.0, names=[f"s{k}.dcm" for k in range(z)],
                    instances=list(range(1, z + 1)), origin=(0.0, 0.0, 50.0))
    img = read_image(tmp_path / "s0.dcm")                 # one file opens its series
    np.testing.assert_array_equal(img.data, hu[::-1])     # lowest position first
    np.testing.assert_allclose(img.spacing, (3.0, 0.7, 0.6))
    assert img.origin[0] == pytest.approx(50.0 - 3.0 * (z - 1))
    assert img.name == "s0"


@pytest.mark.parametrize("degrees", [20.0, 90.0])
def test_tilted_and_sagittal_orientation(tmp_path, degrees):
    orientation = tilted_orientation(degrees)
    hu = ct_volume((7, 9, 11), seed=2)
    origin = (10.0, -20.0, 5.0)
    write_ct_series(tmp_path, hu, orientation=orientation, step=1.25, origin=origin)
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.data, hu)
    np.testing.assert_allclose(img.spacing, (1.25, 0.7, 0.6), atol=2e-4)  # positions: 4 dp
    np.testing.assert_allclose(img.origin, expected_origin(origin, orientation), atol=2e-4)
    normal = np.cross(orientation[:3], orientation[3:])
    assert np.allclose(unit(normal), normal, atol=1e-5)


def test_sagittal_series(tmp_path):
    orientation = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)        # rows along y, columns down z
    hu = ct_volume((4, 10, 6), seed=3)
    write_ct_series(tmp_path, hu, orientation=orientation, step=-0.8, origin=(40.0, 0.0, 0.0))
    img = read_image(tmp_path)
    # normal = y x (-z) = -x; slice k lies at x = 40 + 0.8 k, i.e. at -(40 + 0.8 k) along
    # the normal: the last slice written comes first.
    np.testing.assert_array_equal(img.data, hu[::-1])
    np.testing.assert_allclose(img.spacing, (0.8, 0.7, 0.6), atol=2e-4)


def test_slope_two_stays_int16(tmp_path):
    rng = np.random.default_rng(4)
    hu = (2 * rng.integers(0, 1500, size=(3, 6, 6)) - 1024).astype(np.int16)
    write_ct_series(tmp_path, hu, slope=2.0, intercept=-1024.0)
    img = read_image(tmp_path)
    assert img.data.dtype == np.int16
    np.testing.assert_array_equal(img.data, hu)


def test_fractional_slope_gives_float32(tmp_path):
    rng = np.random.default_rng(5)
    raw = rng.integers(0, 4000, size=(3, 6, 6))
    hu = raw * 0.5 - 1000.0
    write_ct_series(tmp_path, hu, slope=0.5, intercept=-1000.0)
    img = read_image(tmp_path)
    assert img.data.dtype == np.float32
    np.testing.assert_array_equal(img.data, hu.astype(np.float32))


def test_values_beyond_int16_give_float32(tmp_path):
    hu = np.full((2, 4, 4), -1024, np.int64)
    hu[1, 2, 2] = 40000                                   # slope 1 from uint16 raw
    write_ct_series(tmp_path, hu, intercept=-1024.0)
    img = read_image(tmp_path)
    assert img.data.dtype == np.float32 and img.data[1, 2, 2] == 40000


def test_two_series_in_one_folder_are_split(tmp_path):
    big, small = ct_volume((6, 8, 8), seed=6), ct_volume((3, 5, 7), seed=7)
    write_ct_series(tmp_path, big, series_number=2, description="body",
                    names=[f"a{k}" for k in range(6)])
    write_ct_series(tmp_path, small, series_number=7, description="scout", step=4.0,
                    names=[f"b{k}.dcm" for k in range(3)])
    (tmp_path / "README.txt").write_text("not dicom")
    (tmp_path / ".DS_Store").write_bytes(b"\0\1\2")
    images = read_images(tmp_path)
    assert [im.data.shape for im in images] == [big.shape, small.shape]
    assert images[0].name == f"{tmp_path.name} series 2 body"
    assert images[1].name == f"{tmp_path.name} series 7 scout"
    np.testing.assert_array_equal(images[1].data, small)
    first = read_image(tmp_path)
    np.testing.assert_array_equal(first.data, big)
    (note,) = first.notes
    assert "2 DICOM series" in note and "series 7 scout" in note and "one of its files" in note
    other = read_image(tmp_path / "b1.dcm")
    np.testing.assert_array_equal(other.data, small)
    assert other.notes == ()


def test_duplicate_positions_keep_lowest_instance_with_a_note(tmp_path):
    hu = ct_volume((4, 6, 6), seed=8)
    uid = "1.2.826.0.1.3680043.8.498.1"
    write_ct_series(tmp_path, hu, series_uid=uid, instances=[1, 2, 3, 4], step=2.0,
                    origin=(0.0, 0.0, 0.0), names=[f"a{k}" for k in range(4)])
    other = np.full((1, 6, 6), 999, np.int16)
    write_ct_series(tmp_path, other, series_uid=uid, instances=[50],
                    origin=(0.0, 0.0, 4.0), names=["dup"])   # same position as slice 2
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.data, hu)
    (note,) = img.notes
    assert "1 slice(s) repeat a position" in note and "lowest InstanceNumber" in note


def test_missing_slice_uses_median_spacing_with_a_note(tmp_path):
    hu = ct_volume((6, 6, 6), seed=9)
    paths = write_ct_series(tmp_path, hu, step=2.0, names=[f"s{k}" for k in range(6)])
    paths[3].unlink()
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.data, np.delete(hu, 3, axis=0))
    assert img.spacing[0] == pytest.approx(2.0)
    (note,) = img.notes
    assert "varies from 2 to 4 mm" in note and "median 2 mm" in note


def test_single_slice_is_2d(tmp_path):
    hu = ct_volume((1, 6, 9), seed=10)
    write_ct_series(tmp_path, hu)
    img = read_image(tmp_path)
    assert img.data.shape == (6, 9) and img.spacing == (0.7, 0.6) and len(img.origin) == 2
    np.testing.assert_array_equal(img.data, hu[0])


def test_garbage_dcm_file_is_one_sentence(tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(np.random.default_rng(0).bytes(600))
    assert can_read(bad)
    with pytest.raises(ReadError, match=r"bad\.dcm is not a readable DICOM image file") as e:
        read_image(bad)
    assert "\n" not in str(e.value)


def test_garbage_file_beside_a_series_is_skipped_with_a_note(tmp_path):
    hu = ct_volume((3, 6, 6), seed=11)
    write_ct_series(tmp_path, hu)
    (tmp_path / "broken.dcm").write_bytes(bytes(128) + b"DICM" + b"\xff" * 40)
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.data, hu)
    assert any("broken.dcm" in n and "skipped 1" in n for n in img.notes)


def test_truncated_file_is_skipped_with_a_note(tmp_path):
    hu = ct_volume((3, 16, 16), seed=12)
    paths = write_ct_series(tmp_path, hu, names=["a", "b", "c"])
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) - 200])
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.data, np.delete(hu, 1, axis=0))
    assert any("skipped 1 of 3 files" in n and "1 truncated (b)" in n for n in img.notes)
    with pytest.raises(ReadError) as e:          # the file given on its own: one sentence
        read_image(paths[1])
    assert "b" in str(e.value) and "\n" not in str(e.value)


def test_slices_of_different_sizes_name_the_odd_file(tmp_path):
    uid = "1.2.826.0.1.3680043.8.498.2"
    write_ct_series(tmp_path, ct_volume((3, 6, 6)), series_uid=uid, names=["a", "b", "c"])
    write_ct_series(tmp_path, ct_volume((1, 6, 8)), series_uid=uid, names=["odd"],
                    origin=(0.0, 0.0, 90.0))
    with pytest.raises(ReadError, match=r"^odd is 6 x 8 but the other slices .* 6 x 6"):
        read_image(tmp_path)


def test_empty_folder_and_folder_without_images(tmp_path):
    assert not can_read(tmp_path)
    with pytest.raises(ReadError, match="holds no DICOM files and no 2-D slices"):
        read_image(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    assert not can_read(tmp_path)


def test_missing_pydicom_says_how_to_install(tmp_path, monkeypatch):
    hu = ct_volume((2, 4, 4))
    write_ct_series(tmp_path, hu)
    monkeypatch.setitem(sys.modules, "pydicom", None)     # import pydicom -> ImportError
    with pytest.raises(MissingDependency, match=r"napari-segreview\[dicom\] or pip install "
                                                r"pydicom"):
        read_image(tmp_path)
