"""The 'Convert mask layers' widget turns binary layers into label maps/atoms and back."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui


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


def select(w, names):
    for i in range(w.layers.count()):
        w.layers.item(i).setSelected(w.layers.item(i).text() in names)


def test_overlap_is_refused_with_a_message(widget):
    viewer, w = widget
    select(w, ["whole", "part"])
    w.mode.setCurrentText("Binary layers -> one label map")
    w.rule.setCurrentText("Refuse overlaps")
    w.run()
    assert len(viewer.layers) == 3, "nothing must be added on error"
    assert "12 voxels belong to more than one channel" in w.status.text()  # 3 slices x 2 x 2


def test_later_layers_win(widget):
    viewer, w = widget
    select(w, ["whole", "part"])
    w.rule.setCurrentText("Later layers win")
    w.run()
    out = viewer.layers["label map"]
    m = masks()
    expected = np.where(m["part"] == 1, 2, np.where(m["whole"] == 1, 1, 0))
    np.testing.assert_array_equal(np.asarray(out.data), expected)
    np.testing.assert_allclose(out.scale, (2.0, 0.5, 0.5))


def test_atoms_round_trip_through_layers(widget):
    viewer, w = widget
    select(w, ["whole", "part", "other"])
    w.mode.setCurrentText("Binary layers -> atoms (lossless)")
    w.run()
    atoms = viewer.layers["atoms"]
    # Combinations present: {}, {whole}, {other}, {whole, part}, {whole, other}.
    assert len(np.unique(np.asarray(atoms.data))) == 5
    select(w, ["atoms"])
    w.mode.setCurrentText("Label map or atoms -> binary layers")
    w.run()
    m = masks()
    for name in m:
        restored = [layer for layer in viewer.layers if layer.name.startswith(name)][-1]
        np.testing.assert_array_equal(np.asarray(restored.data), m[name])
