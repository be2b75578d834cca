"""One writer per session, one layer per record, and the image's display (Xvfb).

Regression tests: a second copy of session layers (the folder opened again,
a copy carrying a record's id, a second window) must not take the place of the
layer that is autosaved; a restored image keeps its contrast limits, colormap,
units and SegReview metadata.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from napari_segreview._napari.session import controller, reader
from napari_segreview._napari.session.reader import attach, create_session
from napari_segreview._napari.session.registry import controller_for
from napari_segreview._napari.session.widget import SessionWidget
from napari_segreview.session.session import Changes, LayerUpdate, Session

SHAPE = (4, 24, 32)


def _saved(ctl):
    return (ctl.unsaved_edits == 0 and not ctl.saving and ctl.last_saved is not None
            and not ctl._dirty_left())


@pytest.fixture
def notes(monkeypatch):
    got = {"warning": [], "info": [], "error": []}
    for mod in (controller, reader):
        for kind in got:
            if hasattr(mod, f"show_{kind}"):
                monkeypatch.setattr(mod, f"show_{kind}", got[kind].append)
    return got


def _viewer_with_session(make_napari_viewer, qtbot, folder):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros(SHAPE, np.int16), name="ct", scale=(2.0, 0.5, 0.5))
    mask = viewer.add_labels(np.zeros(SHAPE, np.uint8), name="bone", scale=(2.0, 0.5, 0.5),
                             metadata={"segreview": {"kind": "mask", "channel": "bone"}})
    ctl = create_session(viewer, folder, image, interval_s=0.2)
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    return viewer, mask, ctl


def _on_disk(folder, name):
    s = Session.open(folder, writable=False)
    return {r.name: s.read_layer(r.id) for r in s.layers if not r.removed}[name]


def test_opening_the_open_session_again_adds_nothing(make_napari_viewer, qtbot, tmp_path,
                                                     notes):
    viewer, mask, ctl = _viewer_with_session(make_napari_viewer, qtbot, tmp_path / "s")
    names = [lay.name for lay in viewer.layers]
    viewer.open(str(tmp_path / "s"), plugin="napari-segreview")
    assert [lay.name for lay in viewer.layers] == names
    assert "already open in this window" in notes["warning"][-1]
    mask.data_setitem((np.array([1]), np.array([2]), np.array([3])), 1)
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    assert _on_disk(ctl.session.folder, "bone")[1, 2, 3] == 1
    assert controller_for(viewer) is ctl


def test_a_second_window_is_refused_and_the_first_keeps_saving(
        make_napari_viewer, qtbot, tmp_path, notes, monkeypatch):
    viewer, mask, ctl = _viewer_with_session(make_napari_viewer, qtbot, tmp_path / "s")
    other = make_napari_viewer()
    other.open(str(tmp_path / "s"), plugin="napari-segreview")          # File > Open
    assert len(other.layers) == 0 and controller_for(other) is None
    assert "already open in another napari window" in notes["warning"][-1]
    widget = SessionWidget(other)                                       # Restore button
    widget.folder_edit.setText(str(tmp_path / "s"))
    errors = []
    monkeypatch.setattr("napari_segreview._napari.session.widget.show_error", errors.append)
    assert widget.restore() is None
    assert "already open in another napari window" in errors[-1]
    with pytest.raises(Exception, match="already open in another napari window"):
        attach(other, tmp_path / "s")                                   # a script
    mask.data_setitem((np.array([0]), np.array([0]), np.array([0])), 1)
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    assert _on_disk(ctl.session.folder, "bone")[0, 0, 0] == 1
    viewer.close()                                    # closed there: it opens here now
    other.open(str(tmp_path / "s"), plugin="napari-segreview")
    qtbot.waitUntil(lambda: controller_for(other) is not None, timeout=10000)
    assert other.layers["bone"].data[0, 0, 0] == 1


def test_a_copy_carrying_a_record_id_becomes_a_new_layer(make_napari_viewer, qtbot, tmp_path,
                                                         notes):
    viewer, mask, ctl = _viewer_with_session(make_napari_viewer, qtbot, tmp_path / "s")
    lid = ctl.layer_id(mask)
    dup = viewer.add_labels(np.array(mask.data), name="bone copy", scale=mask.scale,
                            metadata=copy.deepcopy(mask.metadata))   # same session id
    assert ctl.layer_id(mask) == lid                  # the original keeps its record
    dup_id = ctl.layer_id(dup)
    assert dup_id not in (None, lid)
    assert dup.metadata["segreview"]["session"]["layer"] == dup_id
    assert "as a new layer" in notes["info"][-1]
    mask.data_setitem((np.array([1]), np.array([1]), np.array([1])), 1)
    dup.data_setitem((np.array([2]), np.array([2]), np.array([2])), 1)
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    s = Session.open(ctl.session.folder, writable=False)
    want_mask = np.zeros(SHAPE, np.uint8)
    want_mask[1, 1, 1] = 1
    want_dup = np.zeros(SHAPE, np.uint8)
    want_dup[2, 2, 2] = 1
    np.testing.assert_array_equal(s.read_layer(lid), want_mask)
    np.testing.assert_array_equal(s.read_layer(dup_id), want_dup)


def test_attach_binds_each_record_once_the_newest_layer(make_napari_viewer, qtbot, tmp_path):
    folder = tmp_path / "s"
    s = Session.create(folder)
    data = np.zeros(SHAPE, np.uint8)
    data[0, 0, 0] = 1
    lid = s.add_layer("bone", data, metadata={"kind": "mask"})
    s.close()
    key = {"segreview": {"kind": "mask", "session": {"folder": str(folder), "layer": lid}}}
    viewer = make_napari_viewer()
    old = viewer.add_labels(np.zeros(SHAPE, np.uint8), name="older copy",
                            metadata=copy.deepcopy(key))
    new = viewer.add_labels(data.copy(), name="bone", metadata=copy.deepcopy(key))
    ctl = attach(viewer, folder, interval_s=0.2)
    assert ctl.layer_id(new) == lid
    assert ctl.layer_id(old) not in (None, lid)
    new.data_setitem((np.array([3]), np.array([3]), np.array([3])), 1)
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    want = data.copy()
    want[3, 3, 3] = 1
    after = Session.open(folder, writable=False)
    np.testing.assert_array_equal(after.read_layer(lid), want)
    np.testing.assert_array_equal(after.read_layer(ctl.layer_id(old)), np.zeros(SHAPE))


def test_a_restored_image_keeps_its_window_colormap_units_and_metadata(
        make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = viewer.add_image(
        np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE), name="ct",
        scale=(2.0, 0.5, 0.5), units=("mm", "mm", "mm"), contrast_limits=(-500, 1300),
        colormap="magma", metadata={"segreview": {"kind": "image", "units": "HU"}})
    viewer.add_labels(np.zeros(SHAPE, np.uint8), name="bone",
                      metadata={"segreview": {"kind": "mask"}})
    ctl = create_session(viewer, tmp_path / "s", image, interval_s=0.2)
    qtbot.waitUntil(lambda: _saved(ctl) and Session.open(tmp_path / "s", writable=False)
                    .read_image() is not None, timeout=10000)
    image.contrast_limits = (-160, 240)               # changed while reviewing: autosaved
    qtbot.waitUntil(lambda: (Session.open(tmp_path / "s", writable=False).image or {})
                    .get("contrast_limits") == [-160.0, 240.0], timeout=10000)
    assert Session.open(tmp_path / "s", writable=False).image["stored"]   # merge keeps it
    viewer.close()
    back = make_napari_viewer()
    back.open(str(tmp_path / "s"), plugin="napari-segreview")
    qtbot.waitUntil(lambda: controller_for(back) is not None, timeout=10000)
    ct = back.layers["ct"]
    np.testing.assert_array_equal(ct.data, image.data)
    assert list(ct.contrast_limits) == [-160, 240]
    assert ct.colormap.name == "magma"
    assert [str(u) for u in ct.units] == ["millimeter"] * 3
    assert ct.metadata["segreview"] == {"kind": "image", "units": "HU"}


def test_an_older_session_image_record_still_restores(make_napari_viewer, qtbot, tmp_path):
    folder = tmp_path / "s"
    s = Session.create(folder, image={"name": "ct", "path": None, "shape": list(SHAPE)})
    pixels = np.ones(SHAPE, np.int16)
    s.store_image(pixels, {"name": "ct", "path": None, "shape": list(SHAPE)})  # no display keys
    s.close()
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin="napari-segreview")
    qtbot.waitUntil(lambda: controller_for(viewer) is not None, timeout=10000)
    np.testing.assert_array_equal(viewer.layers["ct"].data, pixels)
    assert viewer.layers["ct"].metadata["segreview"] == {"kind": "image"}


def test_a_layer_carrying_a_removed_record_id_does_not_overwrite_it(
        make_napari_viewer, qtbot, tmp_path):
    folder = tmp_path / "s"
    s = Session.create(folder)
    data = np.zeros(SHAPE, np.uint8)
    data[0, 0, 0] = 1
    lid = s.add_layer("bone", data, metadata={"kind": "mask"})
    s.commit(Changes(layers={lid: LayerUpdate(removed=True)}))
    s.close()
    viewer = make_napari_viewer()
    stale = viewer.add_labels(np.full(SHAPE, 2, np.uint8), name="old export", metadata={
        "segreview": {"kind": "mask", "session": {"folder": str(folder), "layer": lid}}})
    ctl = attach(viewer, folder, interval_s=0.2)
    new_id = ctl.layer_id(stale)
    assert new_id not in (None, lid)
    stale.data_setitem((np.array([1]), np.array([1]), np.array([1])), 5)
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    after = Session.open(folder, writable=False)
    np.testing.assert_array_equal(after.read_layer(lid), data)        # untouched
    assert after.layer(lid).removed
    np.testing.assert_array_equal(after.read_layer(new_id), stale.data)
