"""DICOM SEG in: SEGs written by highdicom itself from known masks read back equal.

Every SEG here is written with highdicom's own calls (tests/seg_samples.py),
independently of SegReview's writer; the expected masks and positions are the
ones the test put in.
"""

import shutil
import warnings

import numpy as np
import pytest

from napari_segreview.errors import FormatError, ReadError
from napari_segreview.io.arrayfiles import read_array
from napari_segreview.io.dicomseg import (
    SegNote,
    is_dicom_seg,
    read_seg,
    seg_references,
)
from napari_segreview.io.dicomseries import SourceSeries, series_reference
from seg_samples import highdicom_seg, random_masks, write_source_series

pytest.importorskip("highdicom")
LABELS = ["liver", "lesion", "vessel"]


@pytest.fixture
def case(tmp_path):
    series = write_source_series(tmp_path / "ct")
    masks = random_masks(3, series.shape)
    highdicom_seg(series, masks, LABELS, path=tmp_path / "seg.dcm",
                  colours=[(60.0, 40.0, 20.0), (50.0, -20.0, 10.0), (70.0, 0.0, 0.0)])
    return tmp_path, series, masks


def test_series_reference_stacks_by_position(case):
    _, series, _ = case
    ref = series_reference(series.folder)
    assert ref.sop_instance_uids == tuple(series.sop_uids)        # names are shuffled
    assert ref.spacing == pytest.approx(series.spacing)
    z0, y0, x0 = series.origin[2], series.origin[1], series.origin[0]
    assert ref.origin == pytest.approx((z0, y0, x0))
    assert ref.shape == series.shape and ref.frame_of_reference_uid == series.frame_uid


def test_seg_beside_its_series_reads_on_the_series_grid(case):
    d, series, masks = case
    seg = read_seg(d / "seg.dcm")
    assert seg.placed_by == "series" and seg.notes == ()
    assert seg.labels == tuple(LABELS)
    np.testing.assert_array_equal(seg.masks, masks)           # overlaps kept
    assert seg.masks.dtype == np.uint8
    assert seg.spacing == pytest.approx(series.spacing)
    assert [s.algorithm_type for s in seg.segments] == ["AUTOMATIC"] * 3
    assert seg.segments[0].algorithm_name == "test-algo"
    assert seg.segments[0].category == ("85756007", "SCT", "Tissue")
    import highdicom as hd
    want = hd.color.CIELabColor(60.0, 40.0, 20.0).to_rgb()
    assert seg.segments[0].colour == tuple(want)


def test_seg_on_a_given_series_matches_by_instance(case, tmp_path):
    d, series, masks = case
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    shutil.move(d / "seg.dcm", alone / "seg.dcm")
    ref = series_reference(series.folder)
    # the stack reversed: frames must follow the SOP instances, not the file order
    rev = SourceSeries(ref.series_uid, ref.frame_of_reference_uid, ref.sop_instance_uids[::-1],
                       ref.frames, ref.files[::-1], ref.shape, ref.spacing, ref.origin)
    seg = read_seg(alone / "seg.dcm", rev)
    np.testing.assert_array_equal(seg.masks, masks[:, ::-1])


def test_seg_alone_is_placed_by_its_own_geometry(case, tmp_path):
    d, series, masks = case
    other = tmp_path / "x" / "y"
    other.mkdir(parents=True)
    shutil.copy(d / "seg.dcm", other / "seg.dcm")
    seg = read_seg(other / "seg.dcm")
    assert seg.placed_by == "seg" and "own geometry" in seg.notes[0]
    nonempty = [k for k in range(series.shape[0]) if masks[:, k].any()]
    np.testing.assert_array_equal(seg.masks, masks[:, nonempty[0]:nonempty[-1] + 1])
    dz = series.spacing[0]
    assert seg.origin == pytest.approx((series.origin[2] + nonempty[0] * dz, series.origin[1],
                                        series.origin[0]))
    assert seg.spacing == pytest.approx(series.spacing)


def test_other_frame_of_reference_is_refused(case, tmp_path):
    d, _, _ = case
    other = series_reference(write_source_series(tmp_path / "other", seed=3).folder)
    with pytest.raises(ReadError, match="another frame of reference") as err:
        read_seg(d / "seg.dcm", other)
    assert str(err.value).count(". ") == 0


def test_fractional_seg_is_thresholded_at_half(tmp_path):
    series = write_source_series(tmp_path / "ct")
    rng = np.random.default_rng(4)
    probs = rng.choice([0.0, 0.2, 0.45, 0.55, 0.8, 1.0], size=(2, *series.shape))
    probs[:, 0] = 0
    highdicom_seg(series, probs, ["a", "b"], seg_type="FRACTIONAL", path=tmp_path / "f.dcm")
    seg = read_seg(tmp_path / "f.dcm")
    assert seg.fractional and "thresholded at 0.5" in seg.notes[0]
    np.testing.assert_array_equal(seg.masks, (probs >= 0.5).astype(np.uint8))
    with pytest.warns(SegNote, match=r"f\.dcm is a FRACTIONAL SEG .* thresholded at 0\.5"):
        data, meta = read_array(tmp_path / "f.dcm")      # the commands say it on stderr
    np.testing.assert_array_equal(data, (probs >= 0.5).astype(np.uint8))
    assert meta.kind == "multihot" and meta.channel_names == ("a", "b")


def test_corrupt_and_foreign_files_are_one_sentence(case, tmp_path):
    d, series, _ = case
    data = (d / "seg.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) // 2])
    for bad in (tmp_path / "cut.dcm", series.files[0], tmp_path / "missing.dcm"):
        with pytest.raises(ReadError) as err:
            read_seg(bad)
        assert err.value.args[0].endswith(".") and "\n" not in err.value.args[0]
    (tmp_path / "junk.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"junk")
    with pytest.raises(ReadError):
        seg_references(tmp_path / "junk.dcm")


def test_is_dicom_seg_is_cheap_and_exact(case, tmp_path):
    d, series, _ = case
    (tmp_path / "t.txt").write_text("hello")
    assert is_dicom_seg(d / "seg.dcm")
    assert not is_dicom_seg(series.files[0]) and not is_dicom_seg(tmp_path / "t.txt")
    assert not is_dicom_seg(tmp_path / "nothing") and not is_dicom_seg(d)


def test_read_array_reads_a_seg_as_a_multihot_stack(case):
    d, series, masks = case
    data, meta = read_array(d / "seg.dcm")
    assert meta.kind == "multihot" and meta.channel_names == tuple(LABELS)
    np.testing.assert_array_equal(data, masks)
    assert meta.spacing == pytest.approx(series.spacing)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SegNote)          # beside its series: nothing to say
        read_array(d / "seg.dcm")
    with pytest.raises(FormatError):
        read_array(series.files[0])          # a CT slice is no mask file


def test_series_reference_stacks_as_the_image_reader(case):
    from napari_segreview.io.read import read_image

    _, series, _ = case
    img = read_image(series.folder)
    assert img.dicom is not None
    ref = series_reference(series.folder)
    assert list(ref.sop_instance_uids) == img.dicom["sop_instance_uids"]
    assert ref.spacing == pytest.approx(img.spacing) and ref.origin == pytest.approx(img.origin)


def test_labelmap_seg_reads_one_mask_per_segment(tmp_path):
    series = write_source_series(tmp_path / "ct")
    masks = np.zeros((2, *series.shape), np.uint8)            # a label map: no overlap
    masks[0, 1:3, 2:5, 2:5] = 1
    masks[1, 3:5, 1:4, 1:4] = 1
    highdicom_seg(series, masks, ["a", "b"], seg_type="LABELMAP", path=tmp_path / "lm.dcm")
    assert is_dicom_seg(tmp_path / "lm.dcm")
    seg = read_seg(tmp_path / "lm.dcm")
    assert seg.labels == ("a", "b") and seg.placed_by == "series"   # no background segment
    np.testing.assert_array_equal(seg.masks, masks)
