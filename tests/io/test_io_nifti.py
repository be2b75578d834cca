"""NIfTI: zooms as spacing, reoriented to the DICOM (LPS) display order, scaling, bad files."""

import gzip
import struct
import sys

import numpy as np
import pytest

from io_samples import ct_volume, write_ct_series
from napari_segreview.errors import MissingDependency, ReadError
from napari_segreview.io.read import read_image

nib = pytest.importorskip("nibabel")


def save(path, vol, affine, units="mm"):
    img = nib.Nifti1Image(vol, affine)
    img.header.set_xyzt_units(units)
    nib.save(img, path)
    return path


def test_lps_stored_volume_keeps_its_voxel_order(tmp_path):
    vol = ct_volume((10, 8, 5)).astype(np.int16)            # (i, j, k) = (x, y, z)
    affine = np.diag([-0.6, -0.7, 2.5, 1.0])                 # i -> left, j -> posterior
    affine[:3, 3] = (12.0, 34.0, -56.0)
    img = read_image(save(tmp_path / "ct.nii.gz", vol, affine))
    np.testing.assert_array_equal(img.data, vol.transpose(2, 1, 0))
    np.testing.assert_allclose(img.spacing, (2.5, 0.7, 0.6))
    # origin along (S, P, L) of the first voxel at RAS (12, 34, -56)
    np.testing.assert_allclose(img.origin, (-56.0, -34.0, -12.0))
    assert img.spacing_unit == "mm" and img.calibrated and img.format == "nifti"
    assert img.name == "ct" and img.notes == ()


def test_ras_stored_volume_is_flipped_to_lps(tmp_path):
    vol = ct_volume((10, 8, 5), seed=1).astype(np.int16)
    img = read_image(save(tmp_path / "ras.nii", vol, np.diag([0.6, 0.7, 2.5, 1.0])))
    np.testing.assert_array_equal(img.data, vol[::-1, ::-1, :].transpose(2, 1, 0))
    np.testing.assert_allclose(img.spacing, (2.5, 0.7, 0.6))


def test_permuted_axes(tmp_path):
    vol = ct_volume((6, 7, 8), seed=2).astype(np.int16)
    affine = np.zeros((4, 4))
    affine[1, 0] = 0.7        # i -> anterior
    affine[2, 1] = 2.5        # j -> superior
    affine[0, 2] = 0.6        # k -> right
    affine[3, 3] = 1
    img = read_image(save(tmp_path / "perm.nii.gz", vol, affine))
    # z = S = j ascending, y = P = i descending, x = L = k descending
    np.testing.assert_array_equal(img.data, vol[::-1, :, ::-1].transpose(1, 0, 2))
    np.testing.assert_allclose(img.spacing, (2.5, 0.7, 0.6))


def test_nifti_and_dicom_of_one_scan_open_alike(tmp_path):
    pytest.importorskip("pydicom")
    hu = ct_volume((5, 9, 11), seed=3)
    dx, dy, dz = 0.6, 0.7, 2.5
    ox, oy, oz = -100.0, -120.0, 30.0                        # LPS, first voxel
    write_ct_series(tmp_path / "dicom", hu, pixel_spacing=(dy, dx), step=dz,
                    origin=(ox, oy, oz))
    # What dcm2niix writes: voxel (i, j, k) = (column, row, slice); RAS affine.
    affine = np.array([[-dx, 0, 0, -ox], [0, -dy, 0, -oy], [0, 0, dz, oz], [0, 0, 0, 1]])
    save(tmp_path / "ct.nii.gz", hu.transpose(2, 1, 0), affine)
    a, b = read_image(tmp_path / "dicom"), read_image(tmp_path / "ct.nii.gz")
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_allclose(a.spacing, b.spacing, atol=1e-5)
    np.testing.assert_allclose(a.origin, b.origin, atol=1e-4)


def patch_scaling(path, slope, inter):
    """Set scl_slope/scl_inter (NIfTI-1 header bytes 112 and 116) in an uncompressed file."""
    raw = bytearray(path.read_bytes())
    struct.pack_into("<ff", raw, 112, slope, inter)
    path.write_bytes(bytes(raw))


def test_scaling_to_hu_stays_int16(tmp_path):
    hu = ct_volume((4, 6, 5), seed=4)
    raw = (hu.astype(np.int32) + 1024).astype(np.int16)       # stored = HU + 1024
    path = save(tmp_path / "scaled.nii", raw.transpose(2, 1, 0), np.diag([-1, -1, 1, 1.0]))
    patch_scaling(path, 1.0, -1024.0)
    img = read_image(path)
    assert img.data.dtype == np.int16
    np.testing.assert_array_equal(img.data, hu)


def test_fractional_scaling_gives_float32(tmp_path):
    raw = np.arange(4 * 5 * 6, dtype=np.int16).reshape(6, 5, 4)  # (x, y, z)
    path = save(tmp_path / "f.nii", raw, np.diag([-1, -1, 1, 1.0]))
    patch_scaling(path, 0.5, 3.0)
    gz = tmp_path / "f.nii.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    for p in (path, gz):
        img = read_image(p)
        assert img.data.dtype == np.float32
        np.testing.assert_array_equal(img.data, raw.transpose(2, 1, 0) * 0.5 + 3.0)


def test_4d_volume_puts_time_first(tmp_path):
    vol = np.arange(3 * 4 * 5 * 2, dtype=np.int16).reshape(3, 4, 5, 2)   # x, y, z, t
    img = read_image(save(tmp_path / "t.nii.gz", vol, np.diag([-1, -1, 2, 1.0])))
    assert img.data.shape == (2, 5, 4, 3) and img.spacing == (1.0, 2.0, 1.0, 1.0)
    np.testing.assert_array_equal(img.data, vol.transpose(3, 2, 1, 0))


def test_uncompressed_nii_can_be_memory_mapped(tmp_path):
    vol = ct_volume((8, 8, 4), seed=5).astype(np.int16)
    path = save(tmp_path / "m.nii", vol, np.diag([-1, -1, 1, 1.0]))
    img = read_image(path, lazy=True)
    assert img.is_lazy
    np.testing.assert_array_equal(img.data, vol.transpose(2, 1, 0))
    assert type(read_image(path).data) is np.ndarray     # small: read into memory


def test_oblique_volume_gets_a_note(tmp_path):
    t = np.deg2rad(15)
    affine = np.eye(4)
    affine[:3, :3] = [[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]]
    img = read_image(save(tmp_path / "obl.nii.gz", np.zeros((4, 4, 3), np.int16), affine))
    assert len(img.notes) == 1 and "oblique" in img.notes[0]


def test_truncated_nii_gz_is_one_sentence(tmp_path):
    path = save(tmp_path / "cut.nii.gz", ct_volume((40, 40, 20), seed=6),
                np.diag([1, 1, 1, 1.0]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReadError, match=r"could not read .*cut\.nii\.gz .*truncated") as e:
        read_image(path)
    assert "\n" not in str(e.value)


def test_garbage_nii(tmp_path):
    (tmp_path / "bad.nii").write_bytes(b"\x00" * 10)
    with pytest.raises(ReadError, match=r"bad\.nii"):
        read_image(tmp_path / "bad.nii")


def test_missing_nibabel_says_how_to_install(tmp_path, monkeypatch):
    path = save(tmp_path / "x.nii", np.zeros((2, 2, 2), np.int16), np.eye(4))
    monkeypatch.setitem(sys.modules, "nibabel", None)
    with pytest.raises(MissingDependency, match=r"napari-segreview\[nifti\] or pip install "
                                                r"nibabel"):
        read_image(path)


# ----------------------------------------------------------------------------- arrays out


def test_write_nifti_round_trips_dtype_shape_and_spacing(tmp_path):
    from napari_segreview.io.nifti import read_nifti_array, write_nifti

    vol = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    write_nifti(tmp_path / "v.nii.gz", vol, (2.5, 0.5, 0.75))
    data, spacing = read_nifti_array(tmp_path / "v.nii.gz", 3)
    assert data.dtype == np.uint16 and spacing == (2.5, 0.5, 0.75)
    np.testing.assert_array_equal(data, vol)
    mask = np.array([[True, False, True]])
    write_nifti(tmp_path / "m.nii.gz", mask, None)
    data, spacing = read_nifti_array(tmp_path / "m.nii.gz", 2)
    assert data.dtype == np.uint8 and data.tolist() == [[1, 0, 1]] and spacing == (1.0, 1.0)


def test_written_nifti_opens_in_the_viewer_order(tmp_path):
    from napari_segreview.io.nifti import write_nifti

    vol = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)   # (z, y, x), RAS+ affine
    write_nifti(tmp_path / "v.nii.gz", vol, (3.0, 2.0, 1.0))
    img = read_image(tmp_path / "v.nii.gz")
    assert img.spacing == (3.0, 2.0, 1.0)
    np.testing.assert_array_equal(img.data, vol[:, ::-1, ::-1])  # RAS -> LPS flips y and x


def test_write_nifti_refuses_4d(tmp_path):
    from napari_segreview.errors import FormatError
    from napari_segreview.io.nifti import write_nifti

    with pytest.raises(FormatError, match="2-D or 3-D"):
        write_nifti(tmp_path / "x.nii.gz", np.zeros((2, 2, 2, 2), np.uint8), None)
    assert list(tmp_path.iterdir()) == []


def test_writing_nifti_without_nibabel_says_how_to_install(tmp_path, monkeypatch):
    from napari_segreview.io.nifti import write_nifti

    monkeypatch.setitem(sys.modules, "nibabel", None)
    with pytest.raises(MissingDependency, match=r"^writing NIfTI needs nibabel: .*"
                                                r"napari-segreview\[nifti\]"):
        write_nifti(tmp_path / "x.nii.gz", np.zeros((2, 2), np.uint8), None)
