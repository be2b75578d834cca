"""The one place that touches napari's private API, each access feature-detected.

napari has no public hook for what a review session needs: to learn which
voxels an undo, a redo or an aborted brush stroke changed, to see the atoms
of a stroke still in progress, and to filter the main window's close event.
Every private name lives here, behind a function that checks it exists first
(``hasattr``), so that a napari without it degrades in a stated way instead of
raising ``AttributeError``:

``Labels._load_history`` (undo and redo; napari 0.5 and later)
    Wrapped to report the atoms it applied. Without it the public
    ``undo``/``redo`` methods are wrapped instead and report the whole layer
    (saved whole: slower, never lossy).
``Labels._abort_stroke`` (napari 0.8 and later)
    Wrapped to report the atoms it reverted. Older napari never aborts a
    stroke (every staged atom is committed and announced by a ``paint``
    event), so there is nothing to hook.
``Labels._staged_history``
    The atoms of a stroke in progress; an empty list without it (a stroke
    is then saved when it ends, with its ``paint`` event).
``Labels._undo_history``, ``Labels._redo_history``
    Their lengths tell an undo or redo from other data changes
    (:func:`history_lengths`); ``(0, 0)`` without them (no undo is seen).
``Window._qt_window``
    The QMainWindow, for the close guard; None without it (no close guard:
    edits are still autosaved every interval).
``Labels._paint_region_with_mask`` (napari 0.9; older: ``paint``, ``fill``, ``paint_polygon``)
    Wrapped per layer by :func:`restrict_painting` so that napari's own brush, fill
    and polygon change only the voxels an intensity range allows
    (:func:`unrestrict_painting` puts them back).
The masked history atoms of napari 0.9 (``slice_key``, ``mask``, ``new_value``)
    Read by :func:`atom_indices` and :func:`atom_change` (the voxels a stroke
    changed and their values), for hierarchy-aware painting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

#: The private methods :func:`hook_history` may replace on a layer (and :func:`unhook_history`
#: puts back).
_WRAPPED = ("_load_history", "_abort_stroke", "undo", "redo")


def unwrap_viewer(viewer: Any) -> Any:
    """Return the real viewer behind the proxy napari hands plugin widgets.

    The proxy (``napari.utils._proxies.PublicOnlyProxy``) warns on private
    attributes; it keeps the real object in ``__wrapped__``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> real = SimpleNamespace(name="viewer")
    >>> unwrap_viewer(SimpleNamespace(__wrapped__=real)) is real
    True
    >>> unwrap_viewer(real) is real
    True
    """
    return getattr(viewer, "__wrapped__", viewer)


def main_window(viewer: Any) -> Any:
    """Return the QMainWindow of ``viewer``, or None (headless, a closed viewer, no such hook).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> main_window(NS(window=NS(_qt_window="the main window")))
    'the main window'
    >>> main_window(NS(window=None)) is None, main_window(NS()) is None
    (True, True)
    """
    return getattr(getattr(unwrap_viewer(viewer), "window", None), "_qt_window", None)


def staged_atoms(layer: Any) -> list:
    """Return the history atoms of the stroke in progress on ``layer`` ([] when none).

    The list is napari's own: read it, do not change it.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> staged_atoms(NS(_staged_history=[("atom",)]))
    [('atom',)]
    >>> staged_atoms(NS())
    []
    """
    staged = getattr(layer, "_staged_history", None)
    return staged if isinstance(staged, list) else []


def history_lengths(layer: Any) -> tuple[int, int]:
    """Return the lengths of ``layer``'s undo and redo queues (``(0, 0)`` when it has none).

    An undo moves one item from the first to the second, a redo back, a new
    edit adds to the first and empties the second.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> history_lengths(NS(_undo_history=[1, 2], _redo_history=[3]))
    (2, 1)
    >>> history_lengths(NS())
    (0, 0)
    """
    return (len(getattr(layer, "_undo_history", ()) or ()),
            len(getattr(layer, "_redo_history", ()) or ()))


def can_abort_stroke(layer: Any) -> bool:
    """True when this napari can abort a stroke (and so revert staged atoms unannounced).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> can_abort_stroke(NS(_abort_stroke=lambda: None)), can_abort_stroke(NS())
    (True, False)
    """
    return callable(getattr(layer, "_abort_stroke", None))


def hook_history(layer: Any, on_atoms: Callable[[Sequence], None],
                 on_whole: Callable[[], None]) -> None:
    """Report the edits napari applies to ``layer`` without a ``paint`` event.

    Undo and redo call ``on_atoms(atoms)`` with the history atoms applied
    (through ``_load_history``), or ``on_whole()`` where this napari has no
    ``_load_history``; an aborted stroke calls ``on_atoms`` with the atoms it
    reverted (napari 0.8 and later; nothing to hook before). The wrappers are
    instance attributes: :func:`unhook_history` removes them.

    Examples
    --------
    >>> class Fake:  # a napari with neither private hook
    ...     def undo(self):
    ...         pass
    ...     def redo(self):
    ...         pass
    >>> layer, got = Fake(), []
    >>> hook_history(layer, got.append, lambda: got.append("whole"))
    >>> layer.undo(); layer.redo(); got
    ['whole', 'whole']
    >>> unhook_history(layer); layer.undo(); got
    ['whole', 'whole']
    """
    if callable(getattr(layer, "_load_history", None)):
        original_load = layer._load_history

        def load_history(before: Any, after: Any, undoing: bool = True) -> None:
            original_load(before, after, undoing)
            if after:
                on_atoms(after[-1])

        layer._load_history = load_history  # undo and redo go through it
    else:
        for name in ("undo", "redo"):
            original = getattr(layer, name, None)
            if callable(original):
                setattr(layer, name, _then(original, on_whole))
    if can_abort_stroke(layer):
        original_abort = layer._abort_stroke

        def abort_stroke() -> None:
            staged = list(staged_atoms(layer))
            original_abort()
            on_atoms(staged)

        layer._abort_stroke = abort_stroke


def _then(method: Callable[..., Any], after: Callable[[], None]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        out = method(*args, **kwargs)
        after()
        return out
    return wrapped


def unhook_history(layer: Any) -> None:
    """Remove what :func:`hook_history` put on ``layer`` (the class's methods apply again)."""
    for name in _WRAPPED:
        vars(layer).pop(name, None)


def close_notification_toasts() -> int:
    """Close napari's notification pop-ups (they stay in the bell's list); return how many.

    For scripts that take screenshots: the pop-ups are napari's private Qt
    widgets, so this is the one place that knows their class.
    """
    from napari._qt.dialogs.qt_notification import NapariQtNotification
    from qtpy.QtWidgets import QApplication

    n = 0
    for widget in QApplication.allWidgets():
        if isinstance(widget, NapariQtNotification) and widget.isVisible():
            widget.close()
            n += 1
    return n



# ---------------------------------------------------------------- painting limits (Edit panel)
#: The methods :func:`restrict_painting` may replace on a layer (:func:`unrestrict_painting`
#: puts them back): napari 0.9 paints through ``_paint_region_with_mask``; older napari
#: through ``data_setitem``, called by ``paint``, ``fill`` and ``paint_polygon``.
_PAINT_WRAPPED = ("_paint_region_with_mask", "paint", "fill", "paint_polygon", "data_setitem")


def restrict_painting(layer: Any, keep: Callable[[tuple], Any]) -> str:
    """Let napari's brush, fill and polygon on ``layer`` change only voxels ``keep`` allows.

    ``keep(key)`` gets either a box (a tuple of slices, one per axis of the
    data) and returns a boolean array of that box's shape, or a tuple of
    index arrays (one per axis) and returns a boolean vector: which of those
    voxels may change. Each stroke stays one undo step: the filtered voxels
    are simply never painted. Edits made with ``data_setitem`` outside a
    brush, fill or polygon (fixes, effects) are not filtered. Returns the
    path used: ``"mask"`` (napari 0.9 and later, through
    ``Labels._paint_region_with_mask``) or ``"indices"`` (older napari, through
    ``data_setitem`` while ``paint``/``fill``/``paint_polygon`` run).

    Examples
    --------
    >>> import numpy as np
    >>> class Old:  # a napari without _paint_region_with_mask
    ...     def __init__(self):
    ...         self.data = np.zeros(4, int)
    ...     def data_setitem(self, indices, value, refresh=True):
    ...         self.data[indices] = value
    ...     def paint(self, coord, label, refresh=True):
    ...         self.data_setitem((np.arange(4),), label)
    ...     def fill(self, coord, label, refresh=True):
    ...         pass
    ...     def paint_polygon(self, points, label):
    ...         pass
    >>> layer = Old()
    >>> restrict_painting(layer, lambda key: key[0] % 2 == 0)
    'indices'
    >>> layer.paint((0,), 7); layer.data
    array([7, 0, 7, 0])
    >>> layer.data_setitem((np.arange(4),), 1); layer.data   # not a brush: not filtered
    array([1, 1, 1, 1])
    >>> unrestrict_painting(layer); layer.paint((0,), 3); layer.data
    array([3, 3, 3, 3])
    """
    layer = getattr(layer, "__wrapped__", layer)   # a plugin's proxy: hook the real layer
    unrestrict_painting(layer)
    cls = type(layer)
    if callable(getattr(cls, "_paint_region_with_mask", None)):
        original = layer._paint_region_with_mask

        def paint_region(slice_key: tuple, mask: Any, new_label: int, dims_to_paint: Any,
                         refresh: bool = True, region_data: Any = None) -> None:
            import numpy as np

            allowed = np.asarray(keep(tuple(slice_key)), bool)
            mask = np.asarray(mask, bool) & allowed.reshape(np.shape(mask))
            if not mask.any():
                return
            original(slice_key, mask, new_label, dims_to_paint, refresh, region_data)

        layer._paint_region_with_mask = paint_region
        return "mask"
    state = {"painting": 0}
    original_set = layer.data_setitem

    def data_setitem(indices: Any, value: Any, refresh: bool = True) -> None:
        if state["painting"] and indices is not None and len(indices):
            import numpy as np

            idx = tuple(np.asarray(i) for i in indices)
            ok = np.asarray(keep(idx), bool)
            if not ok.all():
                idx = tuple(i[ok] for i in idx)
                if np.ndim(value):
                    value = np.asarray(value)[ok]
            indices = idx
        original_set(indices, value, refresh)

    def brushing(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            state["painting"] += 1
            try:
                return method(*args, **kwargs)
            finally:
                state["painting"] -= 1
        return wrapped

    layer.data_setitem = data_setitem
    for name in ("paint", "fill", "paint_polygon"):
        setattr(layer, name, brushing(getattr(layer, name)))
    return "indices"


def unrestrict_painting(layer: Any) -> None:
    """Remove what :func:`restrict_painting` put on ``layer`` (napari's own painting again)."""
    layer = getattr(layer, "__wrapped__", layer)
    for name in _PAINT_WRAPPED:
        vars(layer).pop(name, None)


def atom_indices(atom: Any) -> tuple:
    """The voxels one napari Labels history atom changed, as a tuple of index arrays.

    napari records a brush, fill or polygon as a masked atom (a box
    ``slice_key``, a ``mask`` in it or None for the whole box) and
    ``data_setitem`` as ``(indices, old_values, new_values)``.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace as NS
    >>> m = np.array([[True, False], [False, True]])
    >>> [i.tolist() for i in atom_indices(NS(slice_key=(slice(2, 4), slice(5, 7)), mask=m))]
    [[2, 3], [5, 6]]
    >>> [i.tolist() for i in atom_indices(NS(slice_key=(slice(0, 1), slice(1, 3)), mask=None))]
    [[0, 0], [1, 2]]
    >>> [i.tolist() for i in atom_indices(((np.array([4]), np.array([1])), None, 1))]
    [[4], [1]]
    """
    return atom_change(atom)[0]


def atom_change(atom: Any) -> tuple[tuple, Any]:
    """The voxels one napari Labels history atom changed and their new values.

    napari announces a lone brush dab (outside a stroke) before it writes the
    data, so the new values come from the atom, not from the layer.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace as NS
    >>> idx, new = atom_change(NS(slice_key=(slice(0, 1), slice(1, 3)), mask=None, new_value=4))
    >>> [i.tolist() for i in idx], new.tolist()
    ([[0, 0], [1, 2]], [4, 4])
    >>> idx, new = atom_change(((np.array([4, 5]),), np.array([0, 0]), np.array([2, 3])))
    >>> new.tolist()
    [2, 3]
    """
    import numpy as np

    key = getattr(atom, "slice_key", None)
    if key is not None:
        mask = getattr(atom, "mask", None)
        if mask is None:
            mask = np.ones(tuple(s.stop - s.start for s in key), bool)
        local = np.nonzero(np.asarray(mask))
        idx = tuple(i + s.start for i, s in zip(local, key, strict=True))
        return idx, np.full(idx[0].size, getattr(atom, "new_value", 0))
    first = atom[0]
    if isinstance(first, tuple) and first and all(isinstance(i, slice) for i in first):
        grid = np.indices(tuple(s.stop - s.start for s in first))
        idx = tuple((g + s.start).ravel() for g, s in zip(grid, first, strict=True))
    else:
        idx = tuple(np.asarray(i).ravel() for i in first)
    return idx, np.broadcast_to(np.asarray(atom[2]).ravel() if np.ndim(atom[2]) else atom[2],
                                idx[0].shape)
