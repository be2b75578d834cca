"""A restored session brings back every layer as it was: Predict's layers, features and all (Xvfb).

Regression tests for issue 15, item 6: class names gone from the hover text
(features not restored), probability layers not coming back, two "has a review
session" notifications (reader and panel), "Start session" enabled while a
session runs.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
from napari.layers import Image, Labels, Layer

from napari_segreview._napari.predict.layers import prediction_layers
from napari_segreview._napari.session.reader import create_session
from napari_segreview._napari.session.registry import controller_for
from napari_segreview._napari.session.widget import SessionWidget
from napari_segreview.card.spec import ModelCard
from napari_segreview.inference.heads import HeadOutput
from napari_segreview.session.session import Session

SHAPE = (4, 20, 24)
SCALE = (2.5, 0.8, 0.7)
TRANSLATE = (10.0, -5.0, 3.0)
CARD = ModelCard.from_dict({"name": "bone", "heads": [
    {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
    {"name": "parts", "kind": "softmax", "channels": ["background", "head", "shaft"]},
]})


def _prediction(dtype):
    rng = np.random.default_rng(3)
    whole = rng.integers(0, 2, (1, *SHAPE)).astype(np.uint8)
    parts = rng.integers(0, 3, SHAPE).astype(np.uint8)
    if dtype == np.uint8:
        pw = rng.integers(0, 256, (1, *SHAPE)).astype(np.uint8)
        pp = rng.integers(0, 256, (3, *SHAPE)).astype(np.uint8)
    else:
        pw = rng.random((1, *SHAPE)).astype(np.float16)
        pp = rng.random((3, *SHAPE)).astype(np.float16)
    heads = {"whole": HeadOutput(CARD.heads[0], whole, pw),
             "parts": HeadOutput(CARD.heads[1], parts, pp)}
    return SimpleNamespace(card=CARD, heads=heads, warnings=[], device="cpu")


def _predicted_viewer(viewer, dtype):
    image = viewer.add_image(np.random.default_rng(0).normal(size=SHAPE).astype(np.float32),
                             name="ct", scale=SCALE, translate=TRANSLATE)
    for data, kwargs, kind in prediction_layers(_prediction(dtype), image_name="ct",
                                                model_path="/models/bone.pt", scale=SCALE,
                                                translate=TRANSLATE):
        viewer.add_layer(Layer.create(data, kwargs, kind))
    return image


def _layer(viewer, kind, channel):
    """The layer of a kind and channel (Predict's names may change; its metadata does not)."""
    (layer,) = [lay for lay in viewer.layers
                if lay.metadata.get("segreview", {}).get("kind") == kind
                and lay.metadata["segreview"].get("channel") == channel]
    return layer


def _saved(ctl):
    return (ctl.unsaved_edits == 0 and not ctl.saving and ctl.last_saved is not None
            and not ctl._dirty_left())


def _snapshot(layer):
    """Everything a user sees of a layer, as plain values (computed from napari, not from us)."""
    md = dict(layer.metadata.get("segreview", {}))
    md.pop("session", None)
    prediction = md.pop("prediction", None)
    out = {"type": type(layer).__name__, "data": np.asarray(layer.data).copy(),
           "dtype": str(np.asarray(layer.data).dtype), "scale": tuple(layer.scale),
           "translate": tuple(layer.translate), "opacity": layer.opacity,
           "visible": layer.visible, "blending": str(layer.blending), "metadata": md,
           "prediction": None if prediction is None else np.asarray(prediction).copy()}
    if isinstance(layer, Labels):
        values = np.arange(0, 4)
        out["colors"] = np.asarray(layer.colormap.map(values)).round(4)
        out["features"] = layer.features.to_dict("list")
    else:
        out["colors"] = np.asarray(layer.colormap.map(np.linspace(0, 1, 5))).round(4)
        out["contrast_limits"] = tuple(layer.contrast_limits)
    return out


def _assert_same(got, want):
    assert got.keys() == want.keys()
    for key in want:
        if isinstance(want[key], np.ndarray):
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
        elif key == "opacity":
            assert got[key] == pytest.approx(want[key])
        else:
            assert got[key] == want[key], key


@pytest.mark.parametrize("dtype", [np.float16, np.uint8])
def test_a_predicted_session_restores_every_layer_as_it_was(make_napari_viewer, qtbot,
                                                            tmp_path, dtype):
    viewer = make_napari_viewer()
    image = _predicted_viewer(viewer, dtype)
    _layer(viewer, "decision", None).paint((1, 5, 5), 2)    # an edit, saved like the rest
    _layer(viewer, "probability", "background").visible = True
    _layer(viewer, "probability", "head").opacity = 0.35   # display changed by the user
    _layer(viewer, "probability", "shaft").visible = False
    before = [(lay.name, _snapshot(lay)) for lay in viewer.layers]
    assert {s["type"] for _, s in before} == {"Image", "Labels"}
    assert before[-1][1]["features"]["class"] == ["background", "head", "shaft"]
    ctl = create_session(viewer, tmp_path / "ct.segreview", image, interval_s=0.2)
    qtbot.waitUntil(lambda: _saved(ctl) and Session.open(
        tmp_path / "ct.segreview", writable=False).read_image() is not None, timeout=10000)
    viewer.close()

    back = make_napari_viewer()
    back.open(str(tmp_path / "ct.segreview"), plugin="napari-segreview")
    qtbot.waitUntil(lambda: controller_for(back) is not None, timeout=10000)
    after = [(lay.name, _snapshot(lay)) for lay in back.layers]
    assert [n for n, _ in after] == [n for n, _ in before]
    for (name, got), (_, want) in zip(after, before, strict=True):
        if name == "ct":   # the session's image: its own record (tested elsewhere)
            np.testing.assert_array_equal(got["data"], want["data"])
            continue
        _assert_same(got, want)
    parts = _layer(back, "decision", None)
    assert parts.get_status(position=(1 * 2.5 + 10, 5 * 0.8 - 5, 5 * 0.7 + 3),
                            world=True)["coordinates"].endswith("shaft")  # hover text
    ctl = controller_for(back)
    assert sorted(lay.name for lay in ctl.layers.values()) == sorted(
        n for n, _ in before if n != "ct")


def test_restore_in_the_panel_beside_the_open_image_brings_the_probabilities_back(
        make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = _predicted_viewer(viewer, np.float16)
    names = [lay.name for lay in viewer.layers]
    ctl = create_session(viewer, tmp_path / "s", image, interval_s=0.2)
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    viewer.close()
    back = make_napari_viewer()
    back.add_image(np.asarray(image.data), name="ct", scale=SCALE, translate=TRANSLATE)
    widget = SessionWidget(back)
    widget.folder_edit.setText(str(tmp_path / "s"))
    with qtbot.waitSignal(widget.restored, timeout=10000):
        widget.restore()
    assert [lay.name for lay in back.layers] == names
    probs = [lay for lay in back.layers if isinstance(lay, Image) and lay.name != "ct"]
    assert len(probs) == 4 and all(lay.data.dtype == np.float16 for lay in probs)


def test_a_rerun_replaces_the_stored_probabilities(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = _predicted_viewer(viewer, np.uint8)
    ctl = create_session(viewer, tmp_path / "s", image, interval_s=0.2)
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    old = _layer(viewer, "probability", "whole")
    viewer.layers.remove(old)                          # what a Predict re-run does
    new = viewer.add_image(np.full(SHAPE, 7, np.uint8), name=old.name,
                           metadata={"segreview": dict(old.metadata["segreview"])})
    new.metadata["segreview"].pop("session")
    qtbot.waitUntil(lambda: _saved(ctl) and ctl.layer_id(new) is not None, timeout=10000)
    s = Session.open(tmp_path / "s", writable=False)
    live = {r.name: r for r in s.layers if not r.removed}
    np.testing.assert_array_equal(s.read_layer(live[old.name].id), np.full(SHAPE, 7, np.uint8))
    assert [r.removed for r in s.layers if r.name == old.name] == [True, False]


def test_one_notification_for_an_image_with_a_session(make_napari_viewer, qtbot, tmp_path,
                                                      monkeypatch):
    import napari.utils.notifications as notifications

    from napari_segreview._napari.session import widget as widget_module

    said = []
    monkeypatch.setattr(notifications, "show_info", said.append)   # the image reader's
    monkeypatch.setattr(widget_module, "show_info", said.append)    # the panel's
    tifffile.imwrite(tmp_path / "scan.tif", np.zeros(SHAPE, np.int16),
                     photometric="minisblack")
    s = Session.create(tmp_path / "scan.segreview", image={"name": "scan"})
    s.add_layer("bone", np.zeros(SHAPE, np.uint8), metadata={"kind": "mask"})  # not closed
    viewer = make_napari_viewer()
    widget = SessionWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.open(tmp_path / "scan.tif", plugin="napari-segreview")
    qtbot.wait(50)
    offers = [m for m in said if "has a review session" in m]
    assert len(offers) == 1, said
    assert "napari stopped without closing it" in offers[0] and "Restore" in offers[0]
    assert widget.restore_button.isEnabled()
    assert widget.folder_edit.text() == str(tmp_path / "scan.segreview")


def test_start_session_is_disabled_while_one_runs(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros(SHAPE, np.int16), name="ct")
    viewer.add_labels(np.zeros(SHAPE, np.uint8), name="bone",
                      metadata={"segreview": {"kind": "mask"}})
    widget = SessionWidget(viewer)
    widget.folder_edit.setText(str(tmp_path / "s"))
    assert widget.start_button.isEnabled() and not widget.save_button.isEnabled()
    ctl = create_session(viewer, tmp_path / "s", image, interval_s=0.2)  # not from the panel
    assert not widget.start_button.isEnabled()       # at once, not at the next clock tick
    assert widget.save_button.isEnabled() and not widget.restore_button.isEnabled()
    qtbot.waitUntil(lambda: _saved(ctl), timeout=10000)
    ctl.flush_sync()
    ctl.detach()
    assert controller_for(viewer) is None
    assert widget.start_button.isEnabled() and not widget.save_button.isEnabled()
    assert widget.restore_button.isEnabled()         # the folder holds a session again
