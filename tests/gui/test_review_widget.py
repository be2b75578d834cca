"""The 'Review and correct' widget: checks, go-to, fixes with undo, overlap view, QA.

Decision layers are built here the way the Predict widget makes them
(``_napari/_meta.py``): one binary layer for the sigmoid head ``whole`` and one
label map for the softmax head ``parts``, from the CT phantom, with the demo
card and the kept prediction in their metadata. Expected values are computed
with plain numpy in the tests.
"""

import numpy as np
import pytest

from napari_segreview._napari import _panel
from napari_segreview._napari.review import widget as rw
from napari_segreview.card.spec import load_card
from napari_segreview.data import demo_card_path
from napari_segreview.data.phantom import make_ct_phantom

pytestmark = pytest.mark.gui

SHAPE = (4, 64, 64)
SPACING = (2.5, 0.8, 0.8)
TIMEOUT = 30000


def read_only(a):
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


def add_run(viewer, whole, parts, *, pred_whole=None, pred_parts=None):
    card = load_card(demo_card_path()).to_dict()
    base = {"kind": "decision", "image": "CT", "run": "r1", "model": "/tmp/demo_bone.pt",
            "card": card}
    lw = viewer.add_labels(whole.copy(), name="whole", scale=SPACING, metadata={"segreview": {
        **base, "head": "whole", "head_kind": "sigmoid", "channel": "whole",
        "prediction": read_only(whole if pred_whole is None else pred_whole)}})
    lp = viewer.add_labels(parts.copy(), name="parts", scale=SPACING, metadata={"segreview": {
        **base, "head": "parts", "head_kind": "softmax", "channel": None,
        "classes": ["background", "part_1", "part_2", "part_3"],
        "prediction": read_only(parts if pred_parts is None else pred_parts)}})
    return lw, lp


@pytest.fixture
def phantom():
    ph = make_ct_phantom(SHAPE)
    return ph.masks[0].copy(), ph.parts


@pytest.fixture
def viewer_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Review and correct")
    return viewer, w


def check(qtbot, w):
    with qtbot.waitSignal(w.checked, timeout=TIMEOUT) as blocker:
        w.run_checks()
    return blocker.args[0]


def fix(qtbot, w, name):
    with qtbot.waitSignal(w.fixed, timeout=TIMEOUT) as blocker:
        w.apply_fix(name)
    result = blocker.args[0]
    with qtbot.waitSignal(w.checked, timeout=TIMEOUT) as after:
        pass                        # the widget re-checks after every fix
    qtbot.waitUntil(lambda: not w.busy, timeout=TIMEOUT)
    return result, after.args[0]


def test_planted_violation_found_go_to_clip_and_undo(viewer_widget, phantom, qtbot):
    viewer, w = viewer_widget
    whole, parts = phantom
    planted = parts.copy()
    planted[2, 0:2, 0:3] = 2              # part_2 in the air: outside whole, slice 2
    assert not whole[2, 0:2, 0:3].any()
    _, lp = add_run(viewer, whole, planted, pred_parts=parts)
    assert w.source.currentData() == "run:r1"
    report = check(qtbot, w)
    assert [(f.kind, f.channels, f.count, f.first_index) for f in report.findings] == [
        ("outside_parent", ("part_2", "whole"), 6, (2, 0, 0))]
    assert w.findings.rowCount() == 1 and w.findings.item(0, 1).text() == "6"
    assert w.findings.item(0, 2).text() == "2"

    viewer.dims.set_point(0, 0.0)
    w.findings.cellWidget(0, 3).click()    # "Go to"
    assert viewer.dims.point[0] == pytest.approx(2 * SPACING[0])
    assert viewer.layers.selection.active is lp

    result, after = fix(qtbot, w, "clip_to_parent")
    assert result.changed == 6 and after.ok and w.findings.rowCount() == 0
    np.testing.assert_array_equal(lp.data, np.where(whole == 1, planted, 0))
    lp.undo()                              # napari's own undo restores the data
    np.testing.assert_array_equal(lp.data, planted)


def test_union_rule_and_parent_from_children_with_undo(viewer_widget, phantom, qtbot):
    viewer, w = viewer_widget
    whole, parts = phantom
    lw, _ = add_run(viewer, whole, parts)
    assert check(qtbot, w).ok              # the phantom is consistent...
    w.union.setChecked(True)               # ...but whole is more than its parts (growth plates)
    report = check(qtbot, w)
    gap = (whole == 1) & (parts == 0)
    first = tuple(int(v) for v in np.argwhere(gap)[0])
    assert [(f.kind, f.count, f.first_index) for f in report.findings] == [
        ("parent_not_union", int(gap.sum()), first)]
    result, after = fix(qtbot, w, "parent_from_children")
    assert after.ok and result.changed == int(gap.sum())
    np.testing.assert_array_equal(lw.data, (parts > 0).astype(np.uint8))
    lw.undo()
    np.testing.assert_array_equal(lw.data, whole)


def ground_truth_layers(viewer):
    """Plain binary layers, no card: whole plus two parts that overlap and stick out."""
    whole = np.zeros((3, 10, 10), np.uint8)
    whole[:, 2:8, 2:8] = 1
    p1 = np.zeros_like(whole)
    p1[:, 2:5, 2:8] = 1
    p2 = np.zeros_like(whole)
    p2[:, 4:8, 2:8] = 1                    # overlaps p1 on row 4: 6 voxels a slice
    p2[1, 9, 0:4] = 1                      # 4 voxels outside whole, slice 1
    layers = {}
    for name, data in {"whole": whole, "p1": p1, "p2": p2}.items():
        layers[name] = viewer.add_labels(data.copy(), name=name, metadata={
            "segreview": {"kind": "mask", "channel": name}})
    return layers, whole, p1, p2


def choose_by_hand(w, parent, children):
    w.source.setCurrentIndex(w.source.findData("manual"))
    w.parent_layer.setCurrentText(parent)
    w.set_children(children)


def test_layers_chosen_by_hand_overlap_fix_and_overlap_view(viewer_widget, qtbot):
    viewer, w = viewer_widget
    layers, whole, p1, p2 = ground_truth_layers(viewer)
    choose_by_hand(w, "whole", ["p1", "p2"])
    assert w.manual_box.isVisibleTo(w)
    report = check(qtbot, w)
    got = {(f.kind, f.channels): (f.count, f.first_slice) for f in report.findings}
    assert got == {("outside_parent", ("p2", "whole")): (4, 1),
                   ("overlap", ("p1", "p2")): (18, 0)}
    assert w.priority_order() == ["p1", "p2"]
    w.set_priority(["p2", "p1"])           # p2 wins: p1 loses its row 4
    result, after = fix(qtbot, w, "remove_overlaps")
    assert result.changed == 18
    np.testing.assert_array_equal(layers["p1"].data, p1 & (1 - p2))
    np.testing.assert_array_equal(layers["p2"].data, p2)
    assert [f.kind for f in after.findings] == ["outside_parent"]

    with qtbot.waitSignal(w.overlap_shown, timeout=TIMEOUT) as blocker:
        w.show_overlap()
    qtbot.waitUntil(lambda: not w.busy, timeout=TIMEOUT)
    ov = blocker.args[0]
    count = whole.astype(int) + layers["p1"].data + p2
    np.testing.assert_array_equal(ov.data, np.where(count >= 2, count, 0))
    assert ov.metadata["segreview"]["kind"] == "overlap"
    assert ov.metadata["segreview"]["channels"] == ["whole", "p1", "p2"]
    layers["p1"].undo()
    with qtbot.waitSignal(w.overlap_shown, timeout=TIMEOUT) as again:
        w.show_overlap()                   # refreshed in place, not a second layer
    qtbot.waitUntil(lambda: not w.busy, timeout=TIMEOUT)
    overlaps = [x for x in viewer.layers if x.name.startswith("overlap")]
    assert len(overlaps) == 1 and again.args[0].name == ov.name   # (plugins get proxies)
    count = whole.astype(int) + p1 + p2
    np.testing.assert_array_equal(ov.data, np.where(count >= 2, count, 0))


def test_grow_parent_and_make_binary(viewer_widget, qtbot):
    viewer, w = viewer_widget
    layers, whole, p1, p2 = ground_truth_layers(viewer)
    layers["p1"].data_setitem((np.array([0]), np.array([3]), np.array([3])), 2)  # label 2
    choose_by_hand(w, "whole", ["p1", "p2"])
    report = check(qtbot, w)
    nb = [f for f in report.findings if f.kind == "non_binary"]
    assert [(f.channels, f.count, f.first_index) for f in nb] == [(("p1",), 1, (0, 3, 3))]
    fix(qtbot, w, "make_binary")
    np.testing.assert_array_equal(layers["p1"].data, p1)
    fix(qtbot, w, "grow_parent")
    np.testing.assert_array_equal(layers["whole"].data, whole | p1 | p2)
    layers["whole"].undo()
    np.testing.assert_array_equal(layers["whole"].data, whole)


def test_painted_edit_changes_the_qa_table(viewer_widget, phantom, qtbot):
    viewer, w = viewer_widget
    whole, parts = phantom
    lw, lp = add_run(viewer, whole, parts)
    check(qtbot, w)
    before = {r["channel"]: r for r in w.qa.values()}
    assert before["whole"]["dice"] == 1.0 and before["whole"]["added"] == 0
    assert [r["channel"] for r in w.qa.values()] == ["whole", "part_1", "part_2", "part_3"]

    lw.brush_size = 5
    lw.selected_label = 1
    viewer.dims.set_point(0, 1 * SPACING[0])
    with qtbot.waitSignal(w.checked, timeout=TIMEOUT):   # debounced re-check after the edit
        lw.paint((1, 5.0, 5.0), 1)                     # a brush dab in the air, slice 1
    qtbot.waitUntil(lambda: not w.busy, timeout=TIMEOUT)
    data = np.asarray(lw.data)
    added = int(((data == 1) & (whole == 0)).sum())
    assert added > 0 and int(((data == 0) & (whole == 1)).sum()) == 0
    row = {r["channel"]: r for r in w.qa.values()}["whole"]
    n = int(whole.sum())
    assert (row["added"], row["removed"]) == (added, 0)
    assert row["dice"] == pytest.approx(2 * n / (2 * n + added))
    w.qa.select_channel("whole")
    assert w.qa.slice_rows() == [(1, added, 0, pytest.approx(
        2 * whole[1].sum() / (2 * whole[1].sum() + added)))]
    viewer.dims.set_point(0, 0.0)
    w.qa.go_to_row(0)
    assert viewer.dims.point[0] == pytest.approx(1 * SPACING[0])

    # erase one class voxel of the label map: only part_1 changes
    z, y, x = (int(v) for v in np.argwhere(parts == 1)[0])
    with qtbot.waitSignal(w.checked, timeout=TIMEOUT):
        lp.data_setitem((np.array([z]), np.array([y]), np.array([x])), 0)
    qtbot.waitUntil(lambda: not w.busy, timeout=TIMEOUT)
    rows = {r["channel"]: r for r in w.qa.values()}
    assert (rows["part_1"]["removed"], rows["part_2"]["removed"]) == (1, 0)
    with qtbot.waitSignal(w.checked, timeout=TIMEOUT):   # undo is noticed too
        lp.undo()
    qtbot.waitUntil(lambda: not w.busy, timeout=TIMEOUT)
    assert {r["channel"]: r for r in w.qa.values()}["part_1"]["removed"] == 0


def test_identical_predictions_warn(viewer_widget, phantom, qtbot, monkeypatch):
    viewer, w = viewer_widget
    shown = []
    monkeypatch.setattr(rw, "show_warning", shown.append)
    whole, parts = phantom
    # The thread's symptom: every channel predicts the whole bone.
    add_run(viewer, whole, parts, pred_parts=np.where(whole == 1, 2, 0).astype(np.uint8))
    check(qtbot, w)
    assert any("'whole' and 'part_2' are nearly identical" in m for m in shown)
    assert "nearly identical" in w.warning.text()
    assert [x.kind for x in w.warnings] == ["empty", "empty", "identical"]
    n = len(shown)
    check(qtbot, w)                        # warned once per run, not at every check
    assert len(shown) == n


def test_bad_choice_is_a_notification_not_a_crash(viewer_widget, qtbot, monkeypatch):
    viewer, w = viewer_widget
    errors = []
    monkeypatch.setattr(_panel, "show_error", errors.append)
    layers, *_ = ground_truth_layers(viewer)
    choose_by_hand(w, "whole", [])
    assert w.run_checks() is None
    assert errors == ["pick one or more child layers (e.g. the parts) under 'Children'."]
    choose_by_hand(w, "whole", ["p1"])
    layers["p1"].data = np.zeros((2, 10, 10), np.uint8)   # another shape
    with qtbot.waitSignal(w.failed, timeout=TIMEOUT):
        w.run_checks()
    qtbot.waitUntil(lambda: not w.busy, timeout=TIMEOUT)
    assert "different shapes" in errors[-1] and "different shapes" in w.status.text()
    assert len(viewer.layers) == 3


def test_paint_button_prepares_the_layer(viewer_widget, phantom):
    viewer, w = viewer_widget
    whole, parts = phantom
    _, lp = add_run(viewer, whole, parts)
    w.paint_channel.setCurrentText("part_3")
    w.paint_selected()
    assert viewer.layers.selection.active is lp
    assert (lp.mode, lp.selected_label) == ("paint", 3)


def test_layers_made_by_the_predict_widgets_builder(viewer_widget, qtbot):
    """The layers Predict makes (its own layer builder) are found as one run with its rules."""
    from types import SimpleNamespace

    from napari_segreview._napari.predict.layers import prediction_layers
    from napari_segreview.inference.heads import HeadOutput

    viewer, w = viewer_widget
    ph = make_ct_phantom(SHAPE)
    card = load_card(demo_card_path())
    pred = SimpleNamespace(card=card, heads={
        "whole": HeadOutput(card.heads[0], ph.masks[:1].copy()),
        "parts": HeadOutput(card.heads[1], ph.parts.copy())})
    for data, kwargs, kind in prediction_layers(pred, image_name="CT", model_path="demo.pt",
                                                scale=SPACING):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    assert w.source.count() == 2 and w.source.currentData().startswith("run:")
    assert [r.children for r in w.current_set().rules] == [("part_1", "part_2", "part_3")]
    parts = next(x for x in viewer.layers if x.metadata["segreview"].get("classes"))
    parts.data_setitem((np.array([1, 1]), np.array([0, 0]), np.array([0, 1])), 3)
    report = check(qtbot, w)
    assert [(f.kind, f.channels, f.count, f.first_index) for f in report.findings] == [
        ("outside_parent", ("part_3", "whole"), 2, (1, 0, 0))]
    row = {r["channel"]: r for r in w.qa.values()}["part_3"]
    assert (row["added"], row["removed"]) == (2, 0)


def test_paint_brings_a_covered_layer_into_view(make_napari_viewer, qtbot):
    """Issue 15: "Paint this channel" on ground truth under the prediction layers selected it,
    but its strokes were drawn under them. The layers over it are hidden (not moved), and
    a stroke then shows in the channel's own colour."""
    from napari_segreview._napari._colours import mask_colormap

    viewer = make_napari_viewer(show=True)
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Review and correct")
    layers, *_ = ground_truth_layers(viewer)
    layers["p1"].colormap = mask_colormap("part_1")
    layers["p1"].opacity = 1.0
    cover = viewer.add_labels(np.ones((3, 10, 10), np.uint8), name="prediction on top",
                              colormap=mask_colormap("whole"), opacity=0.6)
    prob = viewer.add_image(np.full((3, 10, 10), 0.5, np.float32), name="p (p)",
                            blending="additive", colormap="#42d4f4")
    below = [ly.name for ly in viewer.layers]
    choose_by_hand(w, "whole", ["p1", "p2"])
    w.paint_channel.setCurrentText("p1")
    w.paint_selected()
    p1 = layers["p1"]
    assert viewer.layers.selection.active is p1 and p1.mode == "paint" and p1.visible
    assert [ly.name for ly in viewer.layers] == below, "the layer order is the painting order"
    assert not layers["p2"].visible and not cover.visible and not prob.visible
    assert layers["whole"].visible, "layers under it stay as they were"
    assert "Hid 'p2', 'prediction on top', 'p (p)'" in w.status.text()
    viewer.dims.set_current_step(0, 0)
    data = np.zeros((3, 10, 10), np.uint8)
    data[0] = 1                                      # a stroke over the whole slice
    p1.data = data
    viewer.reset_view()
    qtbot.wait(50)
    rgb = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)
    red = np.array([0xE6, 0x19, 0x4B])
    assert (np.abs(rgb - red).max(axis=-1) <= 3).mean() > 0.2, "the stroke shows in part_1's red"


def test_children_picked_with_the_mouse_fill_the_priority_list(viewer_widget, qtbot):
    """Picking parent and children in the lists (not through set_children) must update the
    priority list, so that Remove overlaps works on what the user picked."""
    viewer, w = viewer_widget
    layers, _, p1, p2 = ground_truth_layers(viewer)
    w.source.setCurrentIndex(w.source.findData("manual"))
    w.parent_layer.setCurrentText("whole")
    items = {w.children_list.item(i).text(): w.children_list.item(i)
             for i in range(w.children_list.count())}
    for name in ("p1", "p2"):             # as a click on each row does
        items[name].setSelected(True)
    qtbot.waitUntil(lambda: sorted(w.priority_order()) == ["p1", "p2"], timeout=TIMEOUT)
    result, _ = fix(qtbot, w, "remove_overlaps")
    assert result.changed == 18           # row 4 of p2 (6 voxels in 3 slices), p1 first
    np.testing.assert_array_equal(layers["p2"].data, p2 & (1 - p1))
