"""DICOM SEG in napari: the reader places segments on the open series; Export writes SEG.

Round trip: layers -> SEG (Export panel) -> layers (reader), identical, overlaps kept.
"""

import shutil

import numpy as np
import pydicom
import pytest

from napari_segreview._napari.dicomseg import get_seg_reader
from napari_segreview._napari.export.widget import select
from seg_samples import highdicom_seg, random_masks, write_source_series

pytestmark = pytest.mark.gui
pytest.importorskip("highdicom")
PLUGIN = "napari-segreview"
# npe2 tries a plugin's file readers in set order; until the image reader hands SEG files on
# (requests-dicom-seg.md), name the SEG reader itself.
SEG_READER = "napari-segreview.read_dicom_seg"


@pytest.fixture
def messages(monkeypatch):
    import napari.utils.notifications as notes

    got = []
    monkeypatch.setattr(notes, "show_error", lambda m: got.append(("error", m)))
    monkeypatch.setattr(notes, "show_warning", lambda m: got.append(("warning", m)))
    return got


@pytest.fixture
def case(tmp_path):
    series = write_source_series(tmp_path / "ct", shape=(5, 16, 12))
    masks = random_masks(3, series.shape, seed=2)
    highdicom_seg(series, masks, ["liver", "lesion", "vessel"], path=tmp_path / "seg.dcm")
    return tmp_path, series, masks


def seg_layers(viewer):
    return [ly for ly in viewer.layers if ly.metadata.get("segreview", {}).get("format")
            == "dicom-seg"]


def test_seg_on_the_open_series(make_napari_viewer, case, messages):
    d, series, masks = case
    viewer = make_napari_viewer()
    viewer.open(str(series.folder), plugin=PLUGIN)
    image = viewer.layers[0]
    viewer.open(str(d / "seg.dcm"), plugin=SEG_READER)
    layers = seg_layers(viewer)
    assert [ly.name for ly in layers] == ["liver", "lesion", "vessel"]
    for ly, m in zip(layers, masks, strict=True):
        np.testing.assert_array_equal(ly.data, m)
        np.testing.assert_allclose(ly.scale, image.scale)
        np.testing.assert_allclose(ly.translate, image.translate)
        md = ly.metadata["segreview"]
        assert md["kind"] == "mask" and md["channel"] == ly.name and md["image"] == image.name
    assert not [m for m in messages if m[0] == "error"]
    # an image opened before it kept its DICOM references: its source folder's headers
    for ly in layers:
        viewer.layers.remove(ly)
    image.metadata = {"segreview": {k: v for k, v in image.metadata["segreview"].items()
                                    if k != "dicom"}}
    shutil.move(d / "seg.dcm", d / "elsewhere.dcm")
    (d / "x").mkdir()
    shutil.move(d / "elsewhere.dcm", d / "x" / "seg.dcm")
    viewer.open(str(d / "x" / "seg.dcm"), plugin=SEG_READER)
    again = seg_layers(viewer)
    assert [ly.metadata["segreview"]["image"] for ly in again] == [image.name] * 3
    for ly, m in zip(again, masks, strict=True):
        np.testing.assert_array_equal(ly.data, m)


def test_seg_alone_uses_its_own_geometry(make_napari_viewer, case, tmp_path, messages):
    d, series, masks = case
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(d / "seg.dcm", tmp_path / "a" / "b" / "seg.dcm")
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "a" / "b" / "seg.dcm"), plugin=SEG_READER)
    layers = seg_layers(viewer)
    assert len(layers) == 3 and any("own geometry" in m for _, m in messages)
    first = min(k for k in range(series.shape[0]) if masks[:, k].any())
    assert layers[0].translate[0] == pytest.approx(series.origin[2] + first * series.spacing[0])


def test_bad_input_adds_nothing(make_napari_viewer, case, tmp_path, messages):
    d, series, _ = case
    viewer = make_napari_viewer()
    other = write_source_series(tmp_path / "other", shape=(5, 16, 12), seed=9)
    viewer.open(str(other.folder), plugin=PLUGIN)
    n = len(viewer.layers)
    viewer.open(str(d / "seg.dcm"), plugin=SEG_READER)            # another frame of reference
    data = (d / "seg.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[:600] + b"\0" * 50)
    if get_seg_reader(str(tmp_path / "cut.dcm")) is not None:
        viewer.open(str(tmp_path / "cut.dcm"), plugin=SEG_READER)
    assert len(viewer.layers) == n
    errors = [m for kind, m in messages if kind == "error"]
    assert errors and "another frame of reference" in errors[0]
    assert all(m.count("\n") == 0 for m in errors)
    assert get_seg_reader(str(series.files[0])) is None       # a CT slice is the image reader's


def test_export_panel_round_trip(make_napari_viewer, qtbot, tmp_path):
    series = write_source_series(tmp_path / "ct", shape=(4, 16, 12))
    viewer = make_napari_viewer()
    viewer.open(str(series.folder), plugin=PLUGIN)
    image = viewer.layers[0]
    card = {"name": "bone-net", "input": {"channels": 1, "spatial_dims": 2,
                                          "normalize": {"kind": "none"}},
            "heads": [{"name": "regions", "kind": "sigmoid", "channels": ["whole", "core"]}]}
    m = random_masks(2, series.shape, seed=4)                 # core inside whole: overlap
    for i, name in enumerate(["whole", "core"]):
        pred = m[i].copy()
        data = m[i].copy()
        if name == "core":
            data[2, 0, 0] = 1 - data[2, 0, 0]                 # a person corrected it
        viewer.add_labels(data, name=name, scale=image.scale, translate=image.translate,
                          metadata={"segreview": {
                              "kind": "decision", "head": "regions", "head_kind": "sigmoid",
                              "channel": name, "card": card, "image": image.name, "run": "r",
                              "model": "m.pt", "prediction": pred}})
    originals = {ly.name: np.asarray(ly.data).copy() for ly in viewer.layers[1:]}
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Export training targets")
    w.folder.setText(str(tmp_path / "out"))
    w.format.setCurrentText("dicom-seg")
    w.image_layer.setCurrentText(image.name)
    select(w.sigmoid_list, ["whole", "core"])
    with qtbot.waitSignal(w.done, timeout=30000) as sig:
        w.export()
    assert sig.args[0] == "export", w.status.text()
    path = tmp_path / "out" / f"{w.last_result.case}.seg.dcm"
    kinds = [s.SegmentAlgorithmType for s in pydicom.dcmread(path).SegmentSequence]
    assert kinds == ["AUTOMATIC", "SEMIAUTOMATIC"]
    viewer.open(str(path), plugin=SEG_READER)
    back = seg_layers(viewer)                     # napari renames them "whole [1]" ...
    assert [ly.metadata["segreview"]["channel"] for ly in back] == ["whole", "core"]
    for ly in back:
        np.testing.assert_array_equal(ly.data, originals[ly.metadata["segreview"]["channel"]])
        np.testing.assert_allclose(ly.translate, image.translate)


def test_imported_segments_reexport_with_their_origin(make_napari_viewer, qtbot, case):
    d, series, masks = case
    viewer = make_napari_viewer()
    viewer.open(str(series.folder), plugin=PLUGIN)
    viewer.open(str(d / "seg.dcm"), plugin=SEG_READER)
    segs = seg_layers(viewer)
    edited = segs[1].data.copy()
    edited[2, 3, 3] ^= 1                                      # a person corrects "lesion"
    segs[1].data = edited
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Export training targets")
    w.folder.setText(str(d / "out"))
    w.format.setCurrentText("dicom-seg")
    w.image_layer.setCurrentText(viewer.layers[0].name)
    select(w.sigmoid_list, [ly.name for ly in segs])
    with qtbot.waitSignal(w.done, timeout=30000) as sig:
        w.export()
    assert sig.args[0] == "export", w.status.text()
    out = pydicom.dcmread(w.last_result.files[0]).SegmentSequence
    assert [s.SegmentAlgorithmType for s in out] == ["AUTOMATIC", "SEMIAUTOMATIC", "AUTOMATIC"]
    assert {s.SegmentationAlgorithmIdentificationSequence[0].AlgorithmName
            for s in out} == {"test-algo"}
    expected = masks.copy()
    expected[1, 2, 3, 3] ^= 1
    from napari_segreview.io.dicomseg import read_seg

    np.testing.assert_array_equal(read_seg(w.last_result.files[0]).masks, expected)


def test_export_panel_refuses_a_non_dicom_image(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((3, 8, 8), np.float32), name="scan")   # no DICOM source
    mask = np.zeros((3, 8, 8), np.uint8)
    mask[1, 2:5, 2:5] = 1
    viewer.add_labels(mask, name="whole")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Export training targets")
    w.folder.setText(str(tmp_path / "out"))
    w.format.setCurrentText("dicom-seg")
    w.image_layer.setCurrentText(image.name)
    select(w.sigmoid_list, ["whole"])
    with qtbot.waitSignal(w.done, timeout=30000) as sig:
        w.export()
    assert sig.args[0] == "error"
    text = w.status.text()
    assert "did not come from a DICOM series" in text and "\n" not in text.strip()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert len(viewer.layers) == 2
