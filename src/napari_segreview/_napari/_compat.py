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

