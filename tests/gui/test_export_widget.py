"""Export widget, export reader and writers: layers -> export -> layers, bit for bit."""

import json

import numpy as np
import pytest

from napari_segreview._napari.export.io import get_export_reader, write_label_map, write_multihot
from napari_segreview._napari.export.widget import select
from napari_segreview.card.spec import load_card
from napari_segreview.data import demo_card_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.io.arrayfiles import read_array

pytestmark = pytest.mark.gui
SHAPE = (3, 32, 32)


@pytest.fixture
def phantom():
    return make_ct_phantom(SHAPE, seed=1)


@pytest.fixture
def viewer_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Export training targets")
    return viewer, w


def add_ground_truth(viewer, ph):
    viewer.add_image(ph.image, name="CT phantom", scale=ph.spacing,
                     metadata={"segreview": {"kind": "image", "units": "HU"}})
    for i, name in enumerate(ph.names):
        viewer.add_labels(ph.masks[i], name=f"{name} (ground truth)", scale=ph.spacing,
                          metadata={"segreview": {"kind": "mask", "channel": name}})


def add_decisions(viewer, ph):
    card = load_card(demo_card_path())
    viewer.add_image(ph.image, name="ct", scale=ph.spacing)
    common = {"card": card.to_dict(), "image": "ct", "run": "r1", "model": "demo_bone.pt"}
    viewer.add_labels(ph.masks[0], name="whole", scale=ph.spacing, metadata={"segreview": {
        "kind": "decision", "head": "whole", "head_kind": "sigmoid", "channel": "whole",
        **common}})
    viewer.add_labels(ph.parts.astype(np.int32), name="parts", scale=ph.spacing,
                      metadata={"segreview": {
                          "kind": "decision", "head": "parts", "head_kind": "softmax",
                          "channel": None, "classes": list(card.head("parts").channels),
                          "prediction": ph.parts.copy(), **common}})


def run(qtbot, w, action):
    with qtbot.waitSignal(w.done, timeout=20000) as sig:
        getattr(w, action)()
    return sig.args[0]


def assert_layers_equal(restored, originals, run=None):
    """Data, dtype, scale and metadata as the originals; a run's layers get ``run``."""
    image = next(kw["name"] for _, kw, kind in restored if kind == "image")
    for data, kw, kind in restored:
        orig = originals[kw["name"]]
        assert kind == orig._type_string
        src = np.asarray(orig.data)
        assert data.dtype == src.dtype, kw["name"]
        np.testing.assert_array_equal(data, src)
        np.testing.assert_allclose(kw["scale"], orig.scale)
        want = {k: v for k, v in orig.metadata.get("segreview", {}).items()
                if k not in ("prediction", "session")}
        if "run" in want:                      # read back: a run of its own, not the live one
            want.update(run=run, image=image)
        assert kw.get("metadata", {}).get("segreview", {}) == want


@pytest.mark.parametrize("fmt", ["tif", "npz", "nnunet"])
def test_decision_layers_round_trip(viewer_widget, qtbot, tmp_path, phantom, fmt):
    viewer, w = viewer_widget
    add_decisions(viewer, phantom)
    assert {i.text() for i in w.sigmoid_list.selectedItems()} == {"whole"}   # auto-selected
    assert {i.text() for i in w.softmax_list.selectedItems()} == {"parts"}
    w.folder.setText(str(tmp_path / "ex"))
    w.format.setCurrentText(fmt)
    w.image_layer.setCurrentText("ct")
    assert run(qtbot, w, "export") == "export", w.status.text()
    assert "pos_weight" in w.stats_view.toPlainText()
    reader = get_export_reader(str(tmp_path / "ex"))
    assert reader is not None
    restored = reader(str(tmp_path / "ex"))
    assert [kw["name"] for _, kw, _ in restored] == ["ct", "whole", "parts"]
    assert_layers_equal(restored, {ly.name: ly for ly in viewer.layers},
                        run=f"export:{tmp_path / 'ex'}::ct")


def test_statistics_are_shown_before_writing(viewer_widget, qtbot, tmp_path, phantom):
    viewer, w = viewer_widget
    add_ground_truth(viewer, phantom)
    select(w.sigmoid_list, [f"{n} (ground truth)" for n in phantom.names])
    w.folder.setText(str(tmp_path / "ex"))
    assert run(qtbot, w, "preview") == "preview"
    assert not (tmp_path / "ex").exists()
    stats = w.last_stats["heads"]["channels"]
    assert stats["positives"] == phantom.masks.reshape(4, -1).sum(1).tolist()
    assert "whole" in w.stats_view.toPlainText()


def test_ground_truth_by_hand_with_overlap_rule(viewer_widget, qtbot, tmp_path, phantom):
    viewer, w = viewer_widget
    add_ground_truth(viewer, phantom)
    parts = [f"part_{i} (ground truth)" for i in (1, 2, 3)]
    select(w.softmax_list, ["whole (ground truth)", *parts])
    w.folder.setText(str(tmp_path / "ex"))
    w.rule.setCurrentText("Refuse overlaps")
    assert run(qtbot, w, "export") == "error"
    assert "belong to more than one channel" in w.status.text()
    # the widget's own choices, not the API's arguments
    assert "'Later layers win'" in w.status.text() and "Sigmoid" in w.status.text()
    assert "overlap='ignore'" not in w.status.text()
    assert not (tmp_path / "ex").exists()
    select(w.sigmoid_list, ["whole (ground truth)"])
    select(w.softmax_list, parts)
    w.case_name.setText("patient/7")
    assert run(qtbot, w, "export") == "export", w.status.text()
    assert (tmp_path / "ex" / "patient_7" / "manifest.json").is_file()
    restored = get_export_reader(str(tmp_path / "ex" / "patient_7"))(str(tmp_path / "ex"))
    assert_layers_equal(restored, {ly.name: ly for ly in viewer.layers})


def test_shape_mismatch_is_a_notification_and_writes_nothing(viewer_widget, qtbot, tmp_path,
                                                             phantom):
    viewer, w = viewer_widget
    add_ground_truth(viewer, phantom)
    viewer.add_labels(np.zeros((3, 30, 32), np.uint8), name="wrong")
    select(w.sigmoid_list, ["wrong"])
    w.folder.setText(str(tmp_path / "ex"))
    assert run(qtbot, w, "export") == "error"
    assert "does not fit the image" in w.status.text()
    assert not (tmp_path / "ex").exists()


def test_reader_declines_other_paths(tmp_path):
    (tmp_path / "a.tif").write_bytes(b"x")
    assert get_export_reader(str(tmp_path)) is None
    assert get_export_reader(str(tmp_path / "a.tif")) is None
    assert get_export_reader([str(tmp_path), str(tmp_path)]) is None


def test_writers_keep_names_and_values(tmp_path, phantom):
    layer_data = [(phantom.masks[i], {"name": f"{n} (gt)", "scale": phantom.spacing,
                                      "metadata": {"segreview": {"channel": n}}}, "labels")
                  for i, n in enumerate(phantom.names)]
    (path,) = write_multihot(str(tmp_path / "m.tif"), layer_data)
    data, meta = read_array(path)
    np.testing.assert_array_equal(data, phantom.masks)
    assert meta.kind == "multihot" and meta.channel_names == phantom.names
    assert meta.spacing == phantom.spacing
    classes = ["background", "part_1", "part_2", "part_3"]
    (path,) = write_label_map(str(tmp_path / "l.npz"), phantom.parts.astype(np.int32),
                              {"metadata": {"segreview": {"classes": classes}}})
    data, meta = read_array(path)
    assert data.dtype == np.int32 and meta.channel_names == tuple(classes)
    np.testing.assert_array_equal(data, phantom.parts)
    bad = [(np.full((2, 2), 2, np.uint8), {"name": "x"}, "labels")]
    with pytest.raises(ValueError, match="neither 0 nor 1"):
        write_multihot(str(tmp_path / "bad.tif"), bad)
    assert not (tmp_path / "bad.tif").exists()


def test_manifest_records_the_layers(viewer_widget, qtbot, tmp_path, phantom):
    viewer, w = viewer_widget
    add_decisions(viewer, phantom)
    w.folder.setText(str(tmp_path / "ex"))
    w.image_layer.setCurrentText("ct")
    assert run(qtbot, w, "export") == "export", w.status.text()
    man = json.loads((tmp_path / "ex" / "ct" / "manifest.json").read_text())
    assert [r["name"] for r in man["layers"]] == ["ct", "whole", "parts"]
    assert man["layers"][2]["dtype"] == np.dtype(np.int32).str


def test_views_are_not_offered_and_superseded_layers_not_preselected(viewer_widget, phantom):
    viewer, w = viewer_widget
    add_decisions(viewer, phantom)
    viewer.add_image(phantom.image.astype(np.float16), name="parts: part_1 (p)",
                     metadata={"segreview": {"kind": "probability", "head": "parts"}})
    viewer.add_labels(phantom.masks.sum(0).astype(np.uint8), name="overlap",
                      metadata={"segreview": {"kind": "overlap"}})
    old = viewer.add_labels(phantom.masks[0], name="whole (edited)")
    old.metadata["segreview"] = {**viewer.layers["whole"].metadata["segreview"],
                                 "superseded": True}
    w._refresh()
    images = [w.image_layer.itemText(i) for i in range(w.image_layer.count())]
    assert images == ["ct"]
    offered = [w.sigmoid_list.item(i).text() for i in range(w.sigmoid_list.count())]
    assert "overlap" not in offered and "whole (edited)" in offered
    chosen = [i.text() for i in w.sigmoid_list.selectedItems()]
    assert chosen == ["whole"]
    assert [i.text() for i in w.softmax_list.selectedItems()] == ["parts"]


def test_two_layers_of_one_sigmoid_channel_are_refused(viewer_widget, qtbot, phantom):
    viewer, w = viewer_widget
    add_decisions(viewer, phantom)
    viewer.add_labels(phantom.masks[1], name="whole (copy)", scale=phantom.spacing,
                      metadata={"segreview": dict(viewer.layers["whole"].metadata["segreview"])})
    select(w.sigmoid_list, ["whole", "whole (copy)"])
    w.image_layer.setCurrentText("ct")
    assert run(qtbot, w, "preview") == "error"
    assert w.status.text() == ("'whole' and 'whole (copy)' are both layers of channel 'whole' "
                               "of head 'whole': select one of them.")


def test_two_masks_of_one_channel_by_hand_are_refused(viewer_widget, qtbot, phantom):
    viewer, w = viewer_widget
    add_ground_truth(viewer, phantom)
    viewer.add_labels(phantom.masks[1], name="part_1 (again)",
                      metadata={"segreview": {"kind": "mask", "channel": "part_1"}})
    select(w.softmax_list, ["part_1 (ground truth)", "part_1 (again)"])
    assert run(qtbot, w, "preview") == "error"
    assert "'part_1 (ground truth)' and 'part_1 (again)' are both channel 'part_1' under " \
        "Softmax" in w.status.text()


def test_a_mask_named_background_is_refused_under_softmax(viewer_widget, qtbot, phantom):
    viewer, w = viewer_widget
    add_ground_truth(viewer, phantom)
    viewer.add_labels((phantom.masks[0] == 0).astype(np.uint8), name="background")
    select(w.softmax_list, ["background", "part_1 (ground truth)"])
    assert run(qtbot, w, "preview") == "error"
    assert "'background' of softmax head 'classes' is the background" in w.status.text()
    assert w.last_stats is None


def test_export_keeps_no_session_binding_and_reads_back_as_its_own_run(
        viewer_widget, qtbot, tmp_path, phantom):
    viewer, w = viewer_widget
    add_decisions(viewer, phantom)
    viewer.layers["whole"].metadata["segreview"]["session"] = {"folder": "/s", "layer": "L1"}
    w.folder.setText(str(tmp_path / "ex"))
    w.image_layer.setCurrentText("ct")
    w.case_name.setText("case 1")
    assert run(qtbot, w, "export") == "export", w.status.text()
    man = json.loads((tmp_path / "ex" / "case_1" / "manifest.json").read_text())
    assert all("session" not in (r["metadata"] or {}) for r in man["layers"])
    back = get_export_reader(str(tmp_path / "ex"))(str(tmp_path / "ex"))
    md = {kw["name"]: kw.get("metadata", {}).get("segreview", {}) for _, kw, _ in back}
    run_id = f"export:{tmp_path / 'ex'}::case_1"        # the case's (file-safe) name
    assert md["whole"]["run"] == md["parts"]["run"] == run_id
    assert md["whole"]["image"] == md["parts"]["image"] == "ct"
    assert "session" not in md["whole"] and "run" not in md["ct"]


def test_the_lists_show_every_preselected_head(make_napari_viewer, phantom, qtbot):
    """Issue 15: four-row lists hid preselected heads; the lists now grow to their rows."""
    viewer = make_napari_viewer(show=True)
    add_decisions(viewer, phantom)
    for k in range(4):                      # 5 sigmoid decisions, 2 ground-truth masks
        viewer.add_labels(phantom.masks[0], name=f"organ {k}", metadata={"segreview": {
            "kind": "decision", "head": f"organ {k}", "head_kind": "sigmoid",
            "channel": f"organ {k}", "run": "r2", "image": "ct", "model": "m.pt"}})
    for name in ("gt a", "gt b"):
        viewer.add_labels(phantom.masks[1], name=name)
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Export training targets")
    qtbot.wait(50)
    chosen = [w.sigmoid_list.item(i) for i in range(w.sigmoid_list.count())
              if w.sigmoid_list.item(i).isSelected()]
    assert sorted(i.text() for i in chosen) == ["organ 0", "organ 1", "organ 2", "organ 3",
                                               "whole"]
    area = w.sigmoid_list.viewport().rect()
    for item in chosen:
        assert area.contains(w.sigmoid_list.visualItemRect(item)), f"{item.text()} is hidden"


def test_read_back_layers_have_the_ground_truths_colours(viewer_widget, qtbot, tmp_path,
                                                        phantom):
    from napari_segreview._napari._sample_data import ct_phantom

    truth = {kw["metadata"]["segreview"]["channel"]: kw["colormap"][1]
             for _, kw, kind in ct_phantom() if kind == "labels"}
    viewer, w = viewer_widget
    add_ground_truth(viewer, phantom)
    select(w.sigmoid_list, ["whole (ground truth)"])
    select(w.softmax_list, [f"part_{i} (ground truth)" for i in (1, 2, 3)])
    w.folder.setText(str(tmp_path / "ex"))
    assert run(qtbot, w, "export") == "export", w.status.text()
    back = get_export_reader(str(tmp_path / "ex"))(str(tmp_path / "ex"))
    got = {kw["name"]: kw["colormap"] for _, kw, kind in back if kind == "labels"}
    # the panel exported the ground-truth layers: they come back under their names
    assert sorted(got) == sorted(f"{n} (ground truth)" for n in truth)
    for name, colour in truth.items():
        cmap = got[f"{name} (ground truth)"]
        assert cmap[1] == colour and cmap[0] == "transparent", name
    assert len(set(truth.values())) == 4   # four channels, four colours
