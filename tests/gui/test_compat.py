"""napari's private API behind _napari._compat, on whichever napari is installed (Xvfb).

The floor run of scripts/test.sh runs these with the lowest supported napari too,
which has no ``Labels._abort_stroke``: binding must work there, without that hook.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Labels
from qtpy.QtWidgets import QMainWindow

from napari_segreview._napari._compat import (
    can_abort_stroke,
    history_lengths,
    hook_history,
    main_window,
    staged_atoms,
    unhook_history,
)
from napari_segreview.session.store import keys_of_atom

SHAPE = (4, 8, 8)
CHUNKS = (1, 4, 4)
#: The voxel painted below, and so the one chunk it lies in: z 1, y 2 // 4, x 6 // 4.
VOXEL, CHUNK = (1, 2, 6), (1, 0, 1)


def _layer():
    layer = Labels(np.zeros(SHAPE, np.uint8))
    layer.brush_size = 1
    return layer


def _keys(atoms):
    return set().union(*(keys_of_atom(a, CHUNKS, SHAPE) for a in atoms))


def test_undo_and_redo_report_the_atoms_they_apply():
    layer, got, whole = _layer(), [], []
    hook_history(layer, got.append, lambda: whole.append(1))
    layer.paint(VOXEL, 5)
    assert got == [] and layer.data[VOXEL] == 5  # a paint is announced by its event
    layer.undo()
    assert len(got) == 1 and _keys(got[0]) == {CHUNK}
    assert not layer.data.any()  # napari's own undo still ran
    layer.redo()
    assert len(got) == 2 and _keys(got[1]) == {CHUNK} and layer.data[VOXEL] == 5
    assert whole == []
    unhook_history(layer)
    layer.undo()
    assert len(got) == 2 and not layer.data.any()
    assert not {"_load_history", "_abort_stroke", "undo", "redo"} & set(vars(layer))


def test_an_aborted_stroke_reports_what_it_reverted_where_napari_can_abort():
    layer, got = _layer(), []
    hook_history(layer, got.append, lambda: None)
    if not can_abort_stroke(layer):  # napari before 0.8: nothing to hook, nothing added
        assert not hasattr(layer, "_abort_stroke")
        return
    layer._begin_stroke()
    layer.paint(VOXEL, 3)
    layer._abort_stroke()
    assert len(got) == 1 and _keys(got[0]) == {CHUNK}
    assert not layer.data.any()


def test_without_load_history_undo_and_redo_report_the_whole_layer():
    class OldLayer:
        def __init__(self):
            self.calls = []

        def undo(self):
            self.calls.append("undo")
            return "undone"

        def redo(self):
            self.calls.append("redo")

    layer, atoms, whole = OldLayer(), [], []
    hook_history(layer, atoms.append, lambda: whole.append(len(layer.calls)))
    assert layer.undo() == "undone"
    layer.redo()
    assert layer.calls == ["undo", "redo"] and whole == [1, 2] and atoms == []
    unhook_history(layer)
    layer.undo()
    assert whole == [1, 2]


def test_staged_atoms_are_the_stroke_in_progress():
    layer = _layer()
    assert staged_atoms(layer) == []
    with layer.block_history():
        layer.paint(VOXEL, 2)
        staged = list(staged_atoms(layer))
        assert len(staged) == 1 and _keys(staged) == {CHUNK}
    assert staged_atoms(layer) == []


def test_main_window_is_the_viewers_qt_main_window(make_napari_viewer):
    viewer = make_napari_viewer()
    assert isinstance(main_window(viewer), QMainWindow)
    assert main_window(None) is None


def test_history_lengths_follow_edits_undo_and_redo():
    layer = _layer()
    assert history_lengths(layer) == (0, 0)
    layer.paint(VOXEL, 1)
    layer.paint((2, 5, 5), 1)
    assert history_lengths(layer) == (2, 0)
    layer.undo()
    assert history_lengths(layer) == (1, 1)
    layer.redo()
    assert history_lengths(layer) == (2, 0)
