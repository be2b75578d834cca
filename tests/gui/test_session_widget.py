"""Session widget, autosave controller and session reader in a real viewer (Xvfb)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segreview._napari.session import _guard
from napari_segreview._napari.session.registry import controller_for
from napari_segreview._napari.session.widget import SessionWidget
from napari_segreview.session.session import Session

SHAPE = (6, 40, 48)


def _saved(ctl):
    return (ctl.unsaved_edits == 0 and not ctl.saving and ctl.last_saved is not None
            and not ctl._dirty_left())


def _setup(viewer):
    rng = np.random.default_rng(0)
    image = viewer.add_image(rng.normal(size=SHAPE).astype(np.float32), name="ct",
                             scale=(2.0, 0.5, 0.5))
    pred = np.zeros(SHAPE, np.uint8)
    pred[2:4, 10:20, 10:30] = 1
    decision = viewer.add_labels(
        pred.copy(), name="whole (decision)", scale=(2.0, 0.5, 0.5), opacity=0.6,
        colormap={0: "transparent", 1: "#ff0000", None: "transparent"},
        metadata={"segreview": {"kind": "decision", "channel": "whole", "head": "whole",
                                "head_kind": "sigmoid", "prediction": pred,
                                "card": {"name": "demo"}}})
    plain = viewer.add_labels(np.zeros(SHAPE, np.uint16), name="my notes")
    return image, decision, plain


def _start(viewer, qtbot, folder, interval=0.2):
    widget = SessionWidget(viewer)
    widget.folder_edit.setText(str(folder))
    widget.interval_spin.setValue(0.5)
    widget.start()
    ctl = controller_for(viewer)
    assert ctl is not None
    ctl.interval_s = interval
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    return widget, ctl


def test_paint_autosave_and_reopen_bit_for_bit(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, decision, plain = _setup(viewer)
    widget, ctl = _start(viewer, qtbot, tmp_path / "ct.segreview")
    assert len(ctl.layers) == 1  # the plain layer joins only when asked
    viewer.layers.selection.active = plain
    widget.add_selected()
    assert len(ctl.layers) == 2

    decision.brush_size = 5
    decision.paint((3, 30, 40), 1)
    decision.paint((5, 5, 5), 1)
    plain.data_setitem((np.array([0, 5]), np.array([0, 39]), np.array([0, 47])), 7)
    assert ctl.unsaved_edits > 0
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    widget.refresh_status()
    assert widget.status.text().startswith("saved")

    ct = np.array(viewer.layers["ct"].data)
    viewer.close()  # one writer per session: the window that has it closes it first
    viewer2 = make_napari_viewer()
    viewer2.open(str(tmp_path / "ct.segreview"), plugin="napari-segreview")
    qtbot.waitUntil(lambda: controller_for(viewer2) is not None, timeout=10000)
    names = [lay.name for lay in viewer2.layers]
    assert names == ["ct", "whole (decision)", "my notes"]
    for old in (decision, plain):
        new = viewer2.layers[old.name]
        assert new.data.dtype == old.data.dtype
        np.testing.assert_array_equal(new.data, old.data)
        np.testing.assert_array_equal(new.scale, old.scale)
        assert new.opacity == pytest.approx(old.opacity)
    new_meta = viewer2.layers["whole (decision)"].metadata["segreview"]
    assert {k: v for k, v in new_meta.items() if k not in ("session", "prediction")} == {
        "kind": "decision", "channel": "whole", "head": "whole", "head_kind": "sigmoid",
        "card": {"name": "demo"}}
    np.testing.assert_array_equal(new_meta["prediction"], decision.metadata["segreview"][
        "prediction"])
    np.testing.assert_array_equal(viewer2.layers["ct"].data, ct)
    cm = viewer2.layers["whole (decision)"].colormap
    np.testing.assert_allclose(cm.map(np.array([1]))[0], [1, 0, 0, 1])


def test_undo_is_saved(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, decision, _ = _setup(viewer)
    _, ctl = _start(viewer, qtbot, tmp_path / "s")
    before = np.array(decision.data)
    decision.paint((1, 30, 30), 1)
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    decision.undo()
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    lid = ctl.layer_id(decision)
    np.testing.assert_array_equal(Session.open(ctl.session.folder, writable=False)
                                  .read_layer(lid), before)


def test_removing_a_layer_flushes_its_edits_first(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, decision, _ = _setup(viewer)
    _, ctl = _start(viewer, qtbot, tmp_path / "s", interval=60)
    lid = ctl.layer_id(decision)
    decision.paint((4, 20, 20), 1)
    expected = np.array(decision.data)
    viewer.layers.remove(decision)  # long before the next autosave
    s = Session.open(ctl.session.folder, writable=False)
    np.testing.assert_array_equal(s.read_layer(lid), expected)
    assert lid not in ctl.layers
    qtbot.waitUntil(lambda: Session.open(ctl.session.folder, writable=False).layer(lid).removed,
                    timeout=10000)


def test_closing_the_window_flushes_and_marks_clean(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, decision, _ = _setup(viewer)
    _, ctl = _start(viewer, qtbot, tmp_path / "s", interval=60)
    decision.paint((4, 20, 20), 1)
    expected = np.array(decision.data)
    lid = ctl.layer_id(decision)
    viewer.close()  # removes every layer, then closes the window
    s = Session.open(tmp_path / "s", writable=False)
    np.testing.assert_array_equal(s.read_layer(lid), expected)
    assert s.closed_cleanly and not s.interrupted
    assert not s.layer(lid).removed  # closing is not deleting
    assert controller_for(viewer) is None


def test_failed_save_at_close_asks_and_cancel_keeps_the_window(
        make_napari_viewer, qtbot, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    _, decision, _ = _setup(viewer)
    _, ctl = _start(viewer, qtbot, tmp_path / "s", interval=60)
    decision.paint((4, 20, 20), 1)
    asked = []

    def broken(changes):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ctl.session, "commit", broken)
    monkeypatch.setattr(_guard, "ask_unsaved", lambda parent, msg: asked.append(msg) or
                        "cancel")
    assert ctl.on_window_close() is False
    assert "No space left" in asked[0]
    assert controller_for(viewer) is ctl and ctl.unsaved_edits > 0  # nothing dropped
    monkeypatch.setattr(_guard, "ask_unsaved", lambda parent, msg: "discard")
    assert ctl.on_window_close() is True
    assert controller_for(viewer) is None


def test_reopening_the_image_offers_restore(make_napari_viewer, qtbot, tmp_path):
    from napari.layers._source import layer_source

    path = tmp_path / "scan.tif"
    path.write_bytes(b"")  # only its name matters here
    folder = tmp_path / "scan.segreview"
    s = Session.create(folder, image={"name": "scan", "path": str(path), "shape": list(SHAPE)})
    data = np.zeros(SHAPE, np.uint8)
    data[1, 2:5, 3:9] = 2
    s.add_layer("parts", data, metadata={"kind": "decision"})  # never closed: a crash
    viewer = make_napari_viewer()
    widget = SessionWidget(viewer)
    with layer_source(path=str(path)):
        viewer.add_image(np.zeros(SHAPE, np.float32), name="scan")
    assert widget.folder_edit.text() == str(folder)
    assert widget.restore_button.isEnabled()
    with qtbot.waitSignal(widget.restored, timeout=10000):
        widget.restore()
    np.testing.assert_array_equal(viewer.layers["parts"].data, data)
    assert [lay.name for lay in viewer.layers] == ["scan", "parts"]
    ctl = controller_for(viewer)
    assert ctl is not None and len(ctl.layers) == 1
    viewer.layers["parts"].paint((1, 20, 20), 1)
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    np.testing.assert_array_equal(Session.open(folder, writable=False).read_layer(
        ctl.layer_id(viewer.layers["parts"])), viewer.layers["parts"].data)


def test_a_drag_in_progress_is_saved_as_far_as_it_got(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, decision, _ = _setup(viewer)
    _, ctl = _start(viewer, qtbot, tmp_path / "s")
    lid = ctl.layer_id(decision)
    # A mouse drag stages its atoms until the release commits them; block_history (public,
    # every supported napari) stages them the same way.
    with decision.block_history():
        decision.paint((2, 30, 30), 1)
        expected = np.array(decision.data)

        def on_disk():
            return np.array_equal(
                Session.open(ctl.session.folder, writable=False).read_layer(lid), expected)

        qtbot.waitUntil(on_disk, timeout=10000)
