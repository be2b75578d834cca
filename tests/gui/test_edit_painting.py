"""The Edit panel's painting modes: napari's own brush, fill and polygon limited to an
intensity range (each stroke one undo step), the magic wand, and hierarchy-aware painting."""

import numpy as np
import pytest
from napari.layers import Labels
from scipy import ndimage

from edit_helpers import add_case, open_panel

pytestmark = pytest.mark.gui


@pytest.fixture
def case(make_napari_viewer):
    viewer = make_napari_viewer()
    image, whole, parts = add_case(viewer)
    w = open_panel(viewer)
    viewer.layers.selection.active = whole
    viewer.dims.set_point(0, 3 * 2.5)
    return viewer, w, image, whole, parts


def stroke(layer, coords, label):
    """One brush stroke of several dabs, grouped as napari's mouse drag groups them."""
    with layer.block_history():
        for c in coords:
            layer.paint(c, label, refresh=False)


def test_brush_fill_polygon_change_only_voxels_in_range_and_undo_bit_for_bit(case):
    _viewer, w, image, whole, _ = case
    w.paint.low.setValue(300)
    w.paint.high.setValue(3000)
    w.paint.limit.setChecked(True)
    ct = np.asarray(image.data)
    ok = (ct >= 300) & (ct <= 3000)
    before = whole.data.copy()
    whole.brush_size = 15
    stroke(whole, [(3, y, 32) for y in range(10, 54, 3)], 1)
    changed = whole.data != before
    assert changed.any()
    assert not (changed & ~ok).any()          # nothing outside the range was painted
    # a brush without the limit (a layer outside the viewer) paints out-of-range voxels here
    free_layer = Labels(before.copy(), scale=whole.scale)
    free_layer.brush_size = 15
    stroke(free_layer, [(3, y, 32) for y in range(10, 54, 3)], 1)
    assert ((free_layer.data != before) & ~ok).any()
    # one undo step restores every bit
    whole.undo()
    np.testing.assert_array_equal(whole.data, before)
    # erase with the brush, fill and polygon: still only in range
    whole.paint((3, 32, 32), 0)
    whole.fill((3, 2, 2), 1)                # fills background from a corner
    whole.paint_polygon([(3, 5, 5), (3, 5, 60), (3, 60, 60), (3, 60, 5)], 1)
    changed = whole.data != before
    assert changed.any() and not (changed & ~ok).any()
    for _ in range(3):
        whole.undo()
    np.testing.assert_array_equal(whole.data, before)
    # switching the limit off gives napari's own brush back
    w.paint.limit.setChecked(False)
    whole.paint((3, 2, 2), 1)
    assert whole.data[3, 2, 2] == 1 and not ok[3, 2, 2]


def test_the_panel_binds_its_keys_and_a_key_toggles_its_mode(case):
    viewer, w, _image, _whole, _ = case
    from napari_segreview._napari.edit.keys import KEYS

    assert set(w.key_bindings) == set(KEYS)
    handler = next(f for k, f in viewer.keymap.items() if str(k) in ("Shift+I", "Shift-I"))
    handler(viewer)
    assert w.paint.limit.isChecked() and w.limit.attached(w.target)
    handler(viewer)
    assert not w.paint.limit.isChecked() and not w.limit.attached(w.target)


def test_range_changes_apply_live_and_presets_come_from_the_ct_windows(case):
    _viewer, w, _image, whole, _ = case
    w.paint.limit.setChecked(True)
    i = next(k for k in range(w.paint.preset.count()) if w.paint.preset.itemText(k)
             .startswith("bone"))
    w.paint.preset.setCurrentIndex(i)
    w.paint.preset.activated.emit(i)
    assert (w.paint.low.value(), w.paint.high.value()) == (-500, 1300)
    w.paint.low.setValue(2000)                # no phantom voxel that bright: nothing painted
    w.paint.high.setValue(5000)
    before = whole.data.copy()
    whole.paint((3, 32, 32), 1)
    np.testing.assert_array_equal(whole.data, before)


def test_magic_wand_paints_the_connected_region_within_tolerance(case):
    _viewer, w, image, whole, _ = case
    whole.data[:] = 0
    whole.selected_label = 1
    w.paint.tolerance.setValue(150)
    seed = (3, 32, 32)
    before = whole.data.copy()
    n = w.wand_at(seed)
    ct = np.asarray(image.data[3]).astype(np.float64)
    ok = np.abs(ct - ct[32, 32]) <= 150
    lab, _ = ndimage.label(ok)
    want = before.copy()
    want[3][lab == lab[32, 32]] = 1
    np.testing.assert_array_equal(whole.data, want)
    assert n == int((want != before).sum()) > 0
    whole.undo()                              # one undo step
    np.testing.assert_array_equal(whole.data, before)


def test_hierarchy_painting_keeps_within_and_disjointness(case):
    viewer, w, _image, whole, parts = case
    viewer.layers.selection.active = parts
    w.paint.hierarchy.setChecked(True)
    rng = np.random.default_rng(0)
    parts.brush_size = 7
    for _ in range(6):                       # random strokes on both layers
        layer = parts if rng.random() < 0.6 else whole
        viewer.layers.selection.active = layer
        label = int(rng.integers(0, 4 if layer is parts else 2))
        coords = [(3, int(y), int(x)) for y, x in rng.integers(0, 64, (4, 2))]
        stroke(layer, coords, label)
        # within: every part voxel lies in the whole
        assert not ((parts.data > 0) & (whole.data == 0)).any()
    # painting a part in the air paints the whole there, and the whole undoes on its own
    viewer.layers.selection.active = parts
    whole_before = whole.data.copy()
    parts.brush_size = 1
    y, x = (int(v[0]) for v in np.nonzero(whole.data[3] == 0))
    parts.paint((3, y, x), 2)
    assert whole.data[3, y, x] == 1
    parts.undo()
    assert parts.data[3, y, x] == 0 and whole.data[3, y, x] == 1   # the rule still holds
    whole.undo()
    np.testing.assert_array_equal(whole.data, whole_before)
    # erasing the whole erases its parts
    viewer.layers.selection.active = whole
    ys, xs = np.nonzero(parts.data[3])
    whole.paint((3, int(ys[0]), int(xs[0])), 0)
    assert parts.data[3, ys[0], xs[0]] == 0
