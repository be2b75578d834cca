"""Every transfer syntax PACS sends, odd but legal files, and pydicom's own test files."""

import shutil

import numpy as np
import pytest

from dicom_samples import position_order, reference_values, set_raw, transcode
from io_samples import ct_volume, write_ct_series
from napari_segreview.errors import MissingDependency
from napari_segreview.io.dicom import read_dicom
from napari_segreview.io.read import read_image

pydicom = pytest.importorskip("pydicom")
from pydicom import uid  # noqa: E402

SYNTAXES = [uid.ExplicitVRBigEndian, uid.ImplicitVRLittleEndian,
            uid.DeflatedExplicitVRLittleEndian, uid.RLELossless, uid.JPEGLSLossless,
            uid.JPEG2000Lossless]


def _encodable(syntax):
    from pydicom.pixels import get_encoder

    try:
        return syntax in (uid.ExplicitVRBigEndian, uid.ImplicitVRLittleEndian,
                          uid.DeflatedExplicitVRLittleEndian) or get_encoder(syntax).is_available
    except Exception:
        return False


@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.name)
@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_a_series_in_each_syntax_reads_as_pydicom_reads_it(tmp_path, syntax, lazy):
    if not _encodable(syntax):
        pytest.skip(f"no encoder for {syntax.name}")
    hu = ct_volume((4, 32, 36), seed=3)                 # OpenJPEG wants 32 x 32 at least
    paths = transcode(write_ct_series(tmp_path, hu), syntax)
    assert str(pydicom.dcmread(paths[0]).file_meta.TransferSyntaxUID) == syntax
    (img,) = read_dicom(tmp_path, lazy=lazy)
    ref = np.stack([reference_values(p) for p in position_order(paths)])
    np.testing.assert_array_equal(np.asarray(img.data), ref)
    np.testing.assert_array_equal(np.asarray(img.data), hu)
    assert img.units == "HU" and img.spacing == pytest.approx((2.5, 0.7, 0.6))


def test_signed_pixels_and_unsigned_pixels(tmp_path):
    rng = np.random.default_rng(1)
    signed = rng.integers(-2000, 3000, size=(3, 8, 8))          # raw < 0: PixelRepresentation 1
    write_ct_series(tmp_path / "s", signed, intercept=0.0)
    unsigned = rng.integers(0, 60000, size=(3, 8, 8))           # uint16, no rescale
    write_ct_series(tmp_path / "u", unsigned, intercept=0.0, modality="MR")
    s = read_image(tmp_path / "s")
    u = read_image(tmp_path / "u")
    assert pydicom.dcmread(next((tmp_path / "s").iterdir())).PixelRepresentation == 1
    np.testing.assert_array_equal(s.data, signed)
    assert u.data.dtype == np.uint16 and u.units is None
    np.testing.assert_array_equal(u.data, unsigned)


def test_rescale_types_other_than_hu_name_the_unit(tmp_path):
    raw = np.random.default_rng(2).integers(0, 1000, size=(3, 6, 6))
    paths = write_ct_series(tmp_path, raw * 0.25 + 5.0, slope=0.25, intercept=5.0,
                            modality="OT")
    for p in paths:
        set_raw(p, "RescaleType", b"OD")
    img = read_image(tmp_path)
    assert img.units == "OD" and img.metadata()["units"] == "OD"
    np.testing.assert_allclose(img.data, raw * 0.25 + 5.0)
    assert img.notes == ()


def test_a_missing_decoder_names_the_package(tmp_path, monkeypatch):
    import pydicom.pixels

    paths = transcode(write_ct_series(tmp_path, ct_volume((2, 32, 32))),
                      uid.JPEG2000Lossless)

    class Missing:
        is_available = False

    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda syntax: Missing())
    with pytest.raises(MissingDependency, match=r"JPEG 2000 compressed pixel data .* pip "
                                                r"install pylibjpeg pylibjpeg-openjpeg"):
        read_dicom(paths[0])


#: pydicom's own test files that hold one grey or colour image we should read.
SHIPPED = ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
           "MR_small_expb.dcm", "MR_small_implicit.dcm", "MR_small_jp2klossless.dcm",
           "MR_small_jpeg_ls_lossless.dcm", "MR_small_padded.dcm", "693_J2KI.dcm",
           "JPEG2000.dcm", "SC_rgb_jpeg_gdcm.dcm", "SC_rgb_rle.dcm", "SC_rgb_small_odd.dcm",
           "SC_rgb_small_odd_big_endian.dcm", "image_dfl.dcm", "rtdose.dcm", "rtdose_rle.dcm",
           "JPEGLSNearLossless_16.dcm", "SC_rgb_jpeg_dcmtk.dcm", "examples_ybr_color.dcm",
           "SC_rgb_jpeg.dcm", "JPGExtended.dcm", "SC_rgb_rle_2frame.dcm",
           "SC_rgb_jls_lossy_line.dcm", "examples_jpeg2k.dcm"]


@pytest.mark.parametrize("name", SHIPPED)
def test_pydicoms_test_files_read_as_pydicom_reads_them(tmp_path, name):
    from pydicom.data import get_testdata_file

    src = get_testdata_file(name)
    if src is None:
        pytest.skip(f"{name} is not shipped with this pydicom")
    path = tmp_path / name
    shutil.copy(src, path)
    images = read_dicom(path)
    assert len(images) == 1
    img = images[0]
    ds = pydicom.dcmread(src)
    ref = reference_values(path)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    got = np.asarray(img.data, np.float64)
    if frames > 1 and "GridFrameOffsetVector" in ds:
        offsets = np.asarray(ds.GridFrameOffsetVector, float)
        ref = ref[np.argsort(offsets, kind="stable")]
    np.testing.assert_array_equal(got, ref)
    assert img.dicom["sop_instance_uids"][0] == ds.SOPInstanceUID


def test_pydicoms_truncated_file_on_its_own_says_truncated(tmp_path):
    from pydicom.data import get_testdata_file

    from napari_segreview.errors import ReadError

    path = tmp_path / "MR_truncated.dcm"
    shutil.copy(get_testdata_file("MR_truncated.dcm"), path)
    with pytest.raises(ReadError, match=r"MR_truncated\.dcm is not a readable DICOM image file "
                                        r"\(truncated\)"):
        read_dicom(path)


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_a_corrupt_compressed_stream_says_corrupt_not_install(tmp_path, lazy):
    from napari_segreview.errors import ReadError

    if not _encodable(uid.RLELossless):
        pytest.skip("no RLE encoder")
    paths = transcode(write_ct_series(tmp_path, ct_volume((3, 32, 32), seed=2)),
                      uid.RLELossless)
    data = bytearray(paths[1].read_bytes())           # same length, garbage RLE segments
    data[-300:-10] = b"\x80" * 290
    paths[1].write_bytes(bytes(data))
    with pytest.raises(ReadError, match="corrupt") as info:
        (img,) = read_dicom(tmp_path, lazy=lazy)
        np.asarray(img.data)
    assert paths[1].name in str(info.value) and "pip install" not in str(info.value)
