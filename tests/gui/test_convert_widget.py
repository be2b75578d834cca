"""The 'Convert mask layers' widget turns binary layers into label maps/atoms and back."""

import numpy as np
import pytest

from napari_segreview._napari import _panel
from napari_segreview._napari.convert import widget as cw
from napari_segreview.card.spec import load_card
from napari_segreview.data import demo_card_path
from napari_segreview.data.phantom import make_ct_phantom

pytestmark = pytest.mark.gui
TIMEOUT = 30000


def masks():
    whole = np.zeros((3, 8, 8), np.uint8)
    whole[:, 1:7, 1:7] = 1
    part = np.zeros_like(whole)
    part[:, 2:4, 2:4] = 1
    other = np.zeros_like(whole)
    other[1, 5:8, 5:8] = 1         # sticks out of `whole` at 7, and overlaps it elsewhere
    return {"whole": whole, "part": part, "other": other}


@pytest.fixture
def widget(make_napari_viewer):
    viewer = make_napari_viewer()
    for name, data in masks().items():
        viewer.add_labels(data, name=name, scale=(2.0, 0.5, 0.5))
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Convert mask layers")
    return viewer, w


def convert(qtbot, w, names, mode=None, rule=None):
    w.select(names)
    if mode:
        w.mode.setCurrentText(mode)
    if rule:
        w.rule.setCurrentText(rule)
    done = []
    w.converted.connect(done.append)
    w.failed.connect(done.append)
    assert w.run() is not None
    qtbot.waitUntil(lambda: bool(done) and not w.busy, timeout=TIMEOUT)
    return done[0]


def test_overlap_is_refused_with_a_message(widget, qtbot):
    viewer, w = widget
    out = convert(qtbot, w, ["whole", "part"], "Binary layers -> one label map",
                  "Refuse overlaps")
    assert isinstance(out, str)
    assert len(viewer.layers) == 3, "nothing must be added on error"
    assert "12 voxels belong to more than one channel" in w.status.text()  # 3 slices x 2 x 2
    # the panel's own choices, by the texts the user sees, not the API's words
    for choice in ("Later layers win", "Mark overlaps as ignore (255)",
                   "Binary layers -> atoms (lossless)"):
        assert f"'{choice}'" in out, out
    assert "overlap='ignore'" not in out and "pass a priority" not in out, out
    assert out == w.status.text()


def test_nothing_selected_is_a_sentence(widget, monkeypatch):
    _, w = widget
    errors = []
    monkeypatch.setattr(_panel, "show_error", errors.append)
    w.select([])
    assert w.run() is None
    assert errors == ["select one or more Labels layers first."]


def test_later_layers_win(widget, qtbot):
    viewer, w = widget
    assert convert(qtbot, w, ["whole", "part"], rule="Later layers win") == [
        "whole + part (label map)"]
    out = viewer.layers["whole + part (label map)"]
    m = masks()
    expected = np.where(m["part"] == 1, 2, np.where(m["whole"] == 1, 1, 0))
    np.testing.assert_array_equal(np.asarray(out.data), expected)
    np.testing.assert_allclose(out.scale, (2.0, 0.5, 0.5))
    assert out.metadata["segreview"]["classes"] == ["background", "whole", "part"]


def test_atoms_round_trip_through_layers(widget, qtbot):
    viewer, w = widget
    convert(qtbot, w, ["whole", "part", "other"], "Binary layers -> atoms (lossless)")
    atoms = viewer.layers["whole + part + other (atoms)"]
    # Combinations present: {}, {whole}, {other}, {whole, part}, {whole, other}.
    assert len(np.unique(np.asarray(atoms.data))) == 5
    convert(qtbot, w, [atoms.name], "Label map or atoms -> binary layers")
    m = masks()
    for name in m:
        restored = [layer for layer in viewer.layers if layer.name.startswith(name)][-1]
        np.testing.assert_array_equal(np.asarray(restored.data), m[name])
        assert restored.metadata["segreview"] == {"kind": "mask", "channel": name}


def test_a_label_map_that_is_not_binary_is_refused(widget, qtbot):
    viewer, w = widget
    viewer.add_labels(np.full((3, 8, 8), 2, np.uint8), name="plain labels")
    out = convert(qtbot, w, ["whole", "plain labels"], "Binary layers -> atoms (lossless)")
    assert "'plain labels' holds values up to 2, so it is a label map" in out


def test_decision_layers_of_a_run(make_napari_viewer, qtbot):
    """A sigmoid decision layer plus a softmax label map: the classes become channels."""
    viewer = make_napari_viewer()
    ph = make_ct_phantom((3, 48, 48))
    card = load_card(demo_card_path()).to_dict()
    base = {"kind": "decision", "run": "r", "image": "CT", "card": card}
    viewer.add_labels(ph.masks[0], name="whole", metadata={"segreview": {
        **base, "head": "whole", "channel": "whole", "prediction": ph.masks[0]}})
    viewer.add_labels(ph.parts, name="parts", metadata={"segreview": {
        **base, "head": "parts", "channel": None, "prediction": ph.parts,
        "classes": ["background", "part_1", "part_2", "part_3"]}})
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Convert mask layers")
    convert(qtbot, w, ["whole", "parts"], "Binary layers -> atoms (lossless)")
    atoms = np.asarray(viewer.layers["whole + parts (atoms)"].data)
    # Plain numpy: every voxel's combination of the 4 channels.
    combos = {tuple(int(v) for v in ph.masks[:, z, y, x])
              for z, y, x in np.ndindex(ph.parts.shape)}
    assert len(np.unique(atoms)) == len(combos)
    convert(qtbot, w, ["whole + parts (atoms)"], "Label map or atoms -> binary layers")
    for i, name in enumerate(("whole", "part_1", "part_2", "part_3")):
        layer = [x for x in viewer.layers if x.metadata.get("segreview", {}).get("kind") == "mask"
                 and x.metadata["segreview"]["channel"] == name][-1]
        np.testing.assert_array_equal(np.asarray(layer.data), ph.masks[i])
    # whole and the parts overlap: the later layer (the parts) wins in a label map.
    convert(qtbot, w, ["whole", "parts"], "Binary layers -> one label map", "Later layers win")
    lab = viewer.layers["whole + parts (label map)"]
    assert lab.metadata["segreview"]["classes"] == [
        "background", "whole", "part_1", "part_2", "part_3"]
    expected = np.where(ph.parts > 0, ph.parts.astype(int) + 1, ph.masks[0].astype(int))
    np.testing.assert_array_equal(np.asarray(lab.data), expected)


def test_class_names_come_from_the_channel_metadata(make_napari_viewer, qtbot):
    """'part_1 (ground truth)' is class 'part_1', as Export names it; plain layers keep names."""
    viewer = make_napari_viewer()
    m = masks()
    viewer.add_labels(m["part"], name="part_1 (ground truth)",
                      metadata={"segreview": {"kind": "mask", "channel": "part_1"}})
    viewer.add_labels(m["other"], name="other")
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Convert mask layers")
    out = convert(qtbot, w, ["part_1 (ground truth)", "other"],
                  "Binary layers -> one label map", "Refuse overlaps")
    assert out == ["part_1 (ground truth) + other (label map)"]
    lab = viewer.layers[out[0]]
    assert lab.metadata["segreview"]["classes"] == ["background", "part_1", "other"]
    expected = np.zeros((3, 8, 8), np.uint8)           # disjoint: part at 2:4, other at 5:8
    expected[:, 2:4, 2:4] = 1
    expected[1, 5:8, 5:8] = 2
    np.testing.assert_array_equal(np.asarray(lab.data), expected)
    convert(qtbot, w, ["part_1 (ground truth)", "other"], "Binary layers -> atoms (lossless)")
    table = viewer.layers["part_1 (ground truth) + other (atoms)"].metadata[
        "segreview"]["atom_table"]
    assert cw.formats.AtomTable.from_dict(table).names == ("part_1", "other")


def test_two_layers_of_one_channel_are_refused(make_napari_viewer, qtbot, monkeypatch):
    viewer = make_napari_viewer()
    for name in ("whole", "whole (edited)"):
        viewer.add_labels(masks()["whole"], name=name,
                          metadata={"segreview": {"kind": "mask", "channel": "whole"}})
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Convert mask layers")
    errors = []
    monkeypatch.setattr(_panel, "show_error", errors.append)
    w.select(["whole", "whole (edited)"])
    assert w.run() is None
    assert errors == ["'whole' and 'whole (edited)' both hold channel 'whole'; select one of "
                      "them."]
    assert len(viewer.layers) == 2


def test_the_channels_of_one_head_name_the_new_layer(make_napari_viewer, qtbot):
    """Two sigmoid channel layers of one head: the label map is named after the head."""
    viewer = make_napari_viewer()
    m = masks()
    sig = {"kind": "decision", "run": "r", "image": "CT", "head": "bone",
           "head_kind": "sigmoid"}
    for name in ("whole", "part"):
        viewer.add_labels(m[name], name=name,
                          metadata={"segreview": {**sig, "channel": name}})
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Convert mask layers")
    out = convert(qtbot, w, ["whole", "part"], "Binary layers -> one label map",
                  "Later layers win")
    assert out == ["bone (label map)"]
    assert "'bone (label map)'" in w.status.text()
