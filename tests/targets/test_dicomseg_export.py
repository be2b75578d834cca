"""DICOM SEG out: what we write, validated by reading it back with highdicom and pydicom."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import CardError, FormatError
from napari_segreview.io.arrayfiles import ArrayMeta, write_array
from napari_segreview.io.dicomseg import read_seg
from napari_segreview.targets.build import ExportCase, build_targets, card_from_choices
from napari_segreview.targets.dicomseg import corrected_channels, export_seg_case
from napari_segreview.targets.segcodes import coded_concept, default_codes
from seg_samples import random_masks, write_source_series

hd = pytest.importorskip("highdicom")
CARD = ModelCard.from_dict({"name": "bone-net", "heads": [
    {"name": "whole", "kind": "sigmoid", "channels": ["whole_bone", "marrow"]},
    {"name": "parts", "kind": "softmax", "channels": ["background", "part_1", "part_2"]}]})


@pytest.fixture
def series(tmp_path):
    return write_source_series(tmp_path / "ct")


def make_case(series, seed=1):
    m = random_masks(2, series.shape, seed=seed)            # overlapping sigmoid channels
    labels = np.zeros(series.shape, np.uint8)
    labels[m[0] == 1] = 1
    labels[3:5, 2:6, 2:6] = 2
    labels[2, 0, 0] = 255                                      # ignore: in no segment
    targets = build_targets(CARD, {"whole": m, "parts": labels}, series.shape)
    expected = np.stack([m[0], m[1], labels == 1, labels == 2]).astype(np.uint8)
    return ExportCase("case 7", np.zeros(series.shape, np.int16), targets, CARD,
                      spacing=series.spacing, source=str(series.folder)), expected


def test_written_seg_is_valid_and_references_the_source(series, tmp_path):
    case, expected = make_case(series)
    res = export_seg_case(tmp_path / "out", case, corrected={"part_1": True})
    path = res.files[0]
    assert path == tmp_path / "out" / "case_7.seg.dcm"
    assert sorted(p.name for p in path.parent.iterdir()) == ["case_7.seg.dcm"]
    seg = hd.seg.segread(path)                                # highdicom reads it back
    px = seg.get_pixels_by_source_instance(series.sop_uids, assert_missing_frames_are_empty=True,
                                           skip_overlap_checks=True)
    np.testing.assert_array_equal(np.moveaxis(px, -1, 0), expected)
    ds = pydicom.dcmread(path)                                # and pydicom
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and ds.Modality == "SEG"
    assert ds.SegmentationType == "BINARY"
    assert ds.StudyInstanceUID == series.study_uid and ds.SeriesInstanceUID != series.series_uid
    assert ds.FrameOfReferenceUID == series.frame_uid and ds.PatientID == "P001"
    ref = ds.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == series.series_uid
    assert {i.ReferencedSOPInstanceUID for i in ref.ReferencedInstanceSequence} == set(
        series.sop_uids)
    for frame in ds.PerFrameFunctionalGroupsSequence:   # every frame points at its slice
        src = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        z = float(frame.PlanePositionSequence[0].ImagePositionPatient[2])
        k = series.sop_uids.index(src)
        assert z == pytest.approx(series.origin[2] + k * series.spacing[0])
    segs = ds.SegmentSequence
    assert [s.SegmentLabel for s in segs] == ["whole_bone", "marrow", "part_1", "part_2"]
    assert [s.SegmentAlgorithmType for s in segs] == ["AUTOMATIC", "AUTOMATIC",
                                                       "SEMIAUTOMATIC", "AUTOMATIC"]
    assert segs[0].SegmentationAlgorithmIdentificationSequence[0].AlgorithmName == "bone-net"
    assert segs[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "272673000"   # Bone
    assert res.series_uid == series.series_uid and "4 segments" in res.summary()


def test_round_trip_through_our_reader(series, tmp_path):
    case, expected = make_case(series, seed=5)
    res = export_seg_case(tmp_path / "one.dcm", case)
    back = read_seg(res.files[0])
    assert back.placed_by == "series"
    np.testing.assert_array_equal(back.masks, expected)
    assert back.labels == ("whole_bone", "marrow", "part_1", "part_2")


@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 4))
def test_round_trip_any_overlapping_masks(series, tmp_path_factory, seed, n):
    masks = (np.random.default_rng(seed).random((n, *series.shape)) > 0.5).astype(np.uint8)
    names = [f"ch{i}" for i in range(n)]
    card = card_from_choices(names)
    case = ExportCase("c", np.zeros(series.shape), build_targets(card, {"channels": masks},
                                                                 series.shape), card,
                      source=str(series.folder))
    out = tmp_path_factory.mktemp("seg")
    res = export_seg_case(out, case)
    np.testing.assert_array_equal(read_seg(res.files[0]).masks, masks)
    kinds = {s.SegmentAlgorithmType for s in pydicom.dcmread(res.files[0]).SegmentSequence}
    assert kinds == {"MANUAL"}                       # no model made masks by hand


def test_codes_override_the_defaults(series, tmp_path):
    case, _ = make_case(series)
    codes = {"marrow": {"type": "SCT:14016003:Bone marrow"},
             "part_1": {"category": {"value": "91723000", "scheme": "SCT",
                                     "meaning": "Anatomical Structure"}, "type": "Liver"}}
    res = export_seg_case(tmp_path / "o", case, codes=codes)
    segs = pydicom.dcmread(res.files[0]).SegmentSequence
    assert segs[1].SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Bone marrow"
    assert segs[2].SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
    assert segs[2].SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"
    with pytest.raises(CardError, match="codes"):
        export_seg_case(tmp_path / "p", case, codes={"marrow": {"kind": "x"}})
    assert not (tmp_path / "p").exists()


def test_the_cards_codes_from_the_docs_are_written(series, tmp_path):
    # the YAML example of docs/dicom-seg.md, parsed as a card: its codes end up in the SEG
    import re

    import yaml
    from pydicom.sr.codedict import codes as sct

    text = (Path(__file__).parents[2] / "docs" / "dicom-seg.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "codes:" in b)
    card = ModelCard.from_dict({"name": "docs-net", **yaml.safe_load(block)})
    m = random_masks(2, series.shape, seed=5)
    organs = np.where(m[1] == 1, 2, np.where(m[0] == 1, 1, 0)).astype(np.uint8)
    targets = build_targets(card, {"whole": m[:1], "organs": organs}, series.shape)
    case = ExportCase("docs", np.zeros(series.shape, np.int16), targets, card,
                      spacing=series.spacing, source=str(series.folder))
    res = export_seg_case(tmp_path / "o", case)
    got = {s.SegmentLabel: (tuple(s.SegmentedPropertyCategoryCodeSequence[0][t].value for t in
                                  ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")),
                            tuple(s.SegmentedPropertyTypeCodeSequence[0][t].value for t in
                                  ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")))
           for s in pydicom.dcmread(res.files[0]).SegmentSequence}

    def code(c):
        return (c.value, c.scheme_designator, c.meaning)

    assert got == {
        "whole_bone": (("85756007", "SCT", "Tissue"), ("272673000", "SCT", "Bone")),
        "liver": (("91723000", "SCT", "Anatomical Structure"), code(sct.SCT.Liver)),
        "lesion": (("49755003", "SCT", "Morphologically Abnormal Structure"),
                   code(sct.SCT.Neoplasm))}


def test_only_dicom_images_export_as_seg(series, tmp_path):
    case, _ = make_case(series)
    write_array(tmp_path / "scan.tif", np.zeros(series.shape, np.int16), ArrayMeta())
    case.source = str(tmp_path / "scan.tif")
    with pytest.raises(FormatError, match="did not come from a DICOM series") as err:
        export_seg_case(tmp_path / "out", case)
    assert err.value.args[0].count(";") == 1 and not (tmp_path / "out").exists()


def test_wrong_grid_and_existing_file_write_nothing(series, tmp_path):
    case, _ = make_case(series)
    small = write_source_series(tmp_path / "small", shape=(6, 12, 9))
    case.source = str(small.folder)
    with pytest.raises(FormatError, match="voxel grid"):
        export_seg_case(tmp_path / "out", case)
    assert not (tmp_path / "out").exists()
    case.source = str(series.folder)
    first = export_seg_case(tmp_path / "out", case).files[0]
    before = first.read_bytes()
    with pytest.raises(FormatError, match="already exists"):
        export_seg_case(tmp_path / "out", case)
    assert first.read_bytes() == before
    export_seg_case(tmp_path / "out", case, overwrite=True)


def test_corrected_channels_compare_with_the_prediction():
    pred = np.array([[0, 1, 2, 2]])
    fixed = pred.copy()
    fixed[0, 3] = 0
    out = corrected_channels([(fixed, "parts", {"prediction": pred, "channel": None,
                                                 "classes": ["background", "a", "b"]}),
                              (np.ones(3), "gt", {"channel": "gt"})])
    assert out == {"a": False, "b": True}


def test_coded_concepts_and_defaults():
    assert coded_concept(["1", "SCT", "x"], "f") == ("1", "SCT", "x")
    for bad in ("nope_not_a_keyword!", "NoSuchSnomedKeyword", 5, {"value": "1"}):
        with pytest.raises(CardError):
            coded_concept(bad, "heads[0].codes.a.type")
    assert default_codes("left_kidney")["type"][2] == "Kidney"
    assert default_codes("Lesions")["category"][2] == "Morphologically Abnormal Structure"


def test_enhanced_multiframe_source(tmp_path):
    from dicom_samples import write_enhanced_ct
    from napari_segreview.io.dicomseries import SourceSeries
    from napari_segreview.io.read import read_image

    hu = np.random.default_rng(0).integers(-1000, 1000, (5, 10, 8)).astype(np.int16)
    write_enhanced_ct(tmp_path / "enh" / "ct.dcm", hu, shared_rescale=True)
    ds = pydicom.dcmread(tmp_path / "enh" / "ct.dcm")      # the patient module a SEG copies
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "T", "P", "", "O"
    ds.StudyDate, ds.StudyTime, ds.StudyID = "20260101", "1200", "1"
    ds.AccessionNumber, ds.ReferringPhysicianName, ds.Manufacturer = "", "", "x"
    ds.save_as(tmp_path / "enh" / "ct.dcm")
    img = read_image(tmp_path / "enh" / "ct.dcm")
    assert img.dicom["frames"] != sorted(img.dicom["frames"])      # frames stored shuffled
    masks = random_masks(2, img.data.shape, seed=8)
    card = card_from_choices(["a", "b"])
    case = ExportCase("e", np.asarray(img.data), build_targets(card, {"channels": masks},
                                                               img.data.shape), card)
    res = export_seg_case(tmp_path / "out", case, dicom=img.dicom)
    seg = hd.seg.segread(res.files[0])                    # highdicom, frame by frame
    px = seg.get_pixels_by_source_frame(img.dicom["sop_instance_uids"][0],
                                        img.dicom["frames"], skip_overlap_checks=True,
                                        assert_missing_frames_are_empty=True)
    np.testing.assert_array_equal(np.moveaxis(px, -1, 0), masks)
    back = read_seg(res.files[0], SourceSeries.from_metadata(img.dicom, img.data.shape,
                                                              img.spacing, img.origin))
    assert back.placed_by == "series"
    np.testing.assert_array_equal(back.masks, masks)


def test_segments_read_from_a_seg_keep_their_origin(series, tmp_path):
    from napari_segreview.io.dicomseg import mask_digest
    from napari_segreview.targets.dicomseg import segment_origins
    from seg_samples import highdicom_seg

    masks = random_masks(2, series.shape, seed=6)
    highdicom_seg(series, masks, ["liver", "spleen"], path=tmp_path / "in.dcm",
                  colours=[(55.0, 30.0, 20.0), (70.0, -30.0, 40.0)])
    seg = read_seg(tmp_path / "in.dcm")
    layers = [(seg.masks[i].copy(), s.label, {"channel": s.label, "segment": {
        **s.to_dict(), "digest": mask_digest(seg.masks[i])}}) for i, s in enumerate(seg.segments)]
    layers[1][0][3, 2, 2] ^= 1                                # a person corrected spleen
    assert corrected_channels(layers) == {"liver": False, "spleen": True}
    card = card_from_choices(["liver", "spleen"])             # masks with no model card
    case = ExportCase("c", np.zeros(series.shape), build_targets(
        card, {"channels": np.stack([d for d, _, _ in layers])}, series.shape), card,
        source=str(series.folder))
    res = export_seg_case(tmp_path / "out", case, corrected=corrected_channels(layers),
                          origins=segment_origins(layers))
    segs = pydicom.dcmread(res.files[0]).SegmentSequence
    assert [s.SegmentAlgorithmType for s in segs] == ["AUTOMATIC", "SEMIAUTOMATIC"]
    assert {s.SegmentationAlgorithmIdentificationSequence[0].AlgorithmName
            for s in segs} == {"test-algo"}
    back = read_seg(res.files[0])
    assert [s.colour for s in back.segments] == [s.colour for s in seg.segments]
    assert [s.type for s in back.segments] == [s.type for s in seg.segments]
