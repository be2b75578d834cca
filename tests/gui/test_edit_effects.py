"""The Edit panel's effects: each changes the layer as the core function says, previews
first on the volume, applies as one undo step, and takes the user's corrected slices as
the key slices of "fill between slices"."""

import numpy as np
import pytest

from edit_helpers import SPACING, TIMEOUT, add_case, open_panel
from napari_segreview._napari.edit.widget import PREVIEW_NAME
from napari_segreview.editing.region import edit_labels, edit_mask

pytestmark = pytest.mark.gui

#: effect -> (parameters the panel is set to, the same parameters for the core call)
CASES = {
    "keep-largest": ({"connectivity": 6}, {"connectivity": 6}),
    "remove-small": ({"voxels": 40}, {"voxels": 40, "connectivity": 26}),
    "fill-holes": ({}, {"per_slice": False}),
    "smooth": ({"method": "median", "mm": 1.6}, {"method": "median", "mm": 1.6}),
    "grow": ({"mm": 2.0}, {"mm": 2.0}),
    "shrink": ({"mm": 1.0}, {"mm": 1.0}),
    "invert": ({}, {}),
}


@pytest.fixture
def case(make_napari_viewer):
    viewer = make_napari_viewer()
    image, whole, parts = add_case(viewer)
    w = open_panel(viewer)
    viewer.layers.selection.active = whole
    viewer.dims.set_point(0, 3 * SPACING[0])
    return viewer, w, image, whole, parts


def set_params(w, effect, params):
    e = w.effects
    e.set_effect(effect)
    if "connectivity" in params:
        e.connectivity.setCurrentIndex(e.connectivity.findData(params["connectivity"]))
    if "voxels" in params:
        e.mm3.setValue(0)
        e.voxels.setValue(params["voxels"])
    if "method" in params:
        e.method.setCurrentText(params["method"])
    if "mm" in params:
        e.mm.setValue(params["mm"])


def preview(qtbot, w):
    with qtbot.waitSignal(w.previewed, timeout=TIMEOUT) as blocker:
        w.run_effect()
    return blocker.args[0]


#: Two run in every pass; the others are marked slow (they still run in CI).
QUICK = ("keep-largest", "grow")


@pytest.mark.parametrize("effect", [e if e in QUICK else pytest.param(e, marks=pytest.mark.slow)
                                    for e in CASES])
def test_volume_effect_previews_applies_as_core_says_and_undoes(case, qtbot, effect):
    viewer, w, _image, whole, _ = case
    whole.data[1, 5:8, 5:8] = 1                 # a small island, and a hole in the bone
    whole.data[3, 30, 30] = 0
    before = whole.data.copy()
    panel, core = CASES[effect]
    set_params(w, effect, panel)
    preview(qtbot, w)
    want = before.copy()
    edit_mask(before, effect, spacing=SPACING, value=1, **core).apply(want)
    assert PREVIEW_NAME in viewer.layers
    shown = viewer.layers[PREVIEW_NAME].data
    np.testing.assert_array_equal(shown > 0, want != before)    # the preview shows the change
    np.testing.assert_array_equal(whole.data, before)           # nothing written yet
    with qtbot.waitSignal(w.applied, timeout=TIMEOUT):
        w.apply_preview()
    assert PREVIEW_NAME not in viewer.layers
    np.testing.assert_array_equal(whole.data, want)
    whole.undo()                                                # one undo step
    np.testing.assert_array_equal(whole.data, before)


def test_cancel_leaves_the_layer_and_a_slice_applies_at_once(case, qtbot):
    viewer, w, _image, whole, _ = case
    before = whole.data.copy()
    set_params(w, "grow", {"mm": 2.0})
    preview(qtbot, w)
    w.cancel_preview()
    assert PREVIEW_NAME not in viewer.layers
    assert "cancelled" in w.status.text()       # no stale "Apply or Cancel" left
    np.testing.assert_array_equal(whole.data, before)
    w.effects.where.setCurrentIndex(w.effects.where.findData("slice"))
    with qtbot.waitSignal(w.applied, timeout=TIMEOUT):
        w.run_effect()
    want = before.copy()
    edit_mask(before, "grow", spacing=SPACING, where="slice", axis=0, index=3, mm=2.0,
              value=1).apply(want)
    np.testing.assert_array_equal(whole.data, want)
    assert (whole.data[3] != before[3]).any()
    assert (np.delete(whole.data, 3, 0) == np.delete(before, 3, 0)).all()
    whole.undo()
    np.testing.assert_array_equal(whole.data, before)


def test_label_map_effect_on_the_selected_label(case, qtbot):
    viewer, w, _image, _whole, parts = case
    viewer.layers.selection.active = parts
    parts.selected_label = 2
    before = parts.data.copy()
    set_params(w, "grow", {"mm": 1.6})
    preview(qtbot, w)
    with qtbot.waitSignal(w.applied, timeout=TIMEOUT):
        w.apply_preview()
    want = before.copy()
    edit_labels(before, "grow", labels_to_edit=[2], spacing=SPACING, mm=1.6).apply(want)
    np.testing.assert_array_equal(parts.data, want)
    assert (parts.data != before).any()
    parts.undo()
    np.testing.assert_array_equal(parts.data, before)


def test_interpolate_my_corrections_takes_the_corrected_slices(case, qtbot):
    _viewer, w, _image, whole, _ = case
    whole.data[:] = 0                           # the model found nothing; the user draws
    whole.data[1, 20:40, 20:40] = 1             # on slices 1 and 4
    whole.data[4, 24:36, 24:36] = 1
    before = whole.data.copy()
    w.effects.set_effect("interpolate")
    # the prediction is the phantom: only slices the user changed count
    pred = whole.metadata["segreview"]["prediction"]
    changed = [z for z in range(before.shape[0]) if (before[z] != pred[z]).any()]
    assert w.use_my_corrections() == changed
    w.effects.keys.setText("1, 4")
    preview(qtbot, w)
    with qtbot.waitSignal(w.applied, timeout=TIMEOUT):
        w.apply_preview()
    want = before.copy()
    edit_mask(before, "interpolate", spacing=SPACING, key_slices=[1, 4], value=1).apply(want)
    np.testing.assert_array_equal(whole.data, want)
    assert whole.data[2].any() and whole.data[3].any()
    whole.undo()
    np.testing.assert_array_equal(whole.data, before)


def test_bad_input_is_one_sentence_and_nothing_changes(case, qtbot):
    viewer, w, _image, whole, _ = case
    before = whole.data.copy()
    w.effects.set_effect("interpolate")
    w.effects.keys.setText("3 and 4")
    with qtbot.waitSignal(w.failed, timeout=TIMEOUT) as blocker:
        w.run_effect()
    assert "key slices" in blocker.args[0]
    w.effects.keys.setText("2")                 # one key slice: the core refuses
    with qtbot.waitSignal(w.failed, timeout=TIMEOUT):
        w.run_effect()
    np.testing.assert_array_equal(whole.data, before)
    assert PREVIEW_NAME not in viewer.layers


def test_a_label_map_is_smoothed_jointly_or_not_at_all(case, qtbot):
    viewer, w, _image, _whole, parts = case
    viewer.layers.selection.active = parts
    before = parts.data.copy()
    set_params(w, "smooth", {"method": "median", "mm": 1.6})
    with qtbot.waitSignal(w.failed, timeout=TIMEOUT) as blocker:
        w.run_effect()
    assert "label map" in blocker.args[0] and "gaussian" in blocker.args[0]
    np.testing.assert_array_equal(parts.data, before)


def test_review_rechecks_after_an_effect(case, qtbot):
    viewer, w, _image, whole, _parts = case
    _, review = viewer.window.add_plugin_dock_widget("napari-segreview", "Review and correct")
    with qtbot.waitSignal(review.checked, timeout=TIMEOUT):
        review.run_checks()
    qtbot.waitUntil(lambda: not review.busy, timeout=TIMEOUT)
    assert review.report.ok
    viewer.layers.selection.active = whole
    set_params(w, "shrink", {"mm": 2.0})          # parts now stick out of the whole
    preview(qtbot, w)
    with qtbot.waitSignal(review.checked, timeout=TIMEOUT) as blocker:
        w.apply_preview()
    assert not blocker.args[0].ok
