"""The close guard: pending edits are saved before the napari window closes.

napari has no public close hook, so :class:`CloseGuard` filters the main
window's close event (found through :func:`~napari_segreview._napari._compat.main_window`;
without a main window, headless or on a napari without that hook, there is no
guard and autosave alone keeps the edits). :func:`close_flow` flushes, and asks
(:func:`ask_unsaved`, the plugin's only modal dialog) only when that fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QMessageBox

from napari_segreview._napari._compat import main_window


def ask_unsaved(parent: Any, message: str) -> str:
    """Ask what to do with unsaved edits at window close: "save", "discard" or "cancel".

    The only modal dialog of the plugin; tests replace this function.
    """
    box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved review edits", message,
                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                      | QMessageBox.StandardButton.Cancel, parent)
    answer = box.exec()
    return {QMessageBox.StandardButton.Save: "save",
            QMessageBox.StandardButton.Discard: "discard"}.get(
        QMessageBox.StandardButton(answer), "cancel")


def close_flow(viewer: Any, folder: Any, flush_sync: Callable[[], tuple[bool, str]]) -> bool:
    """Flush before the window closes; ask only if that fails. False cancels the close.

    Asks again after each failed "save"; "discard" gives up the unsaved edits.
    """
    ok, message = flush_sync()
    while not ok:
        choice = ask_unsaved(main_window(viewer),
                             f"The review session {folder} could not be saved ({message}). "
                             "Save again, discard the unsaved edits, or cancel closing?")
        if choice == "cancel":
            return False
        if choice == "discard":
            break
        ok, message = flush_sync()
    return True


class CloseGuard(QObject):
    """Run ``on_close()`` when ``viewer``'s main window is about to close; False cancels it."""

    def __init__(self, viewer: Any, on_close: Callable[[], bool]):
        super().__init__()
        self.viewer = viewer
        self._on_close = on_close
        self.installed = False
        window = main_window(viewer)
        if window is not None:
            window.installEventFilter(self)
            self.installed = True

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if event.type() == QEvent.Type.Close and not self._on_close():
            event.ignore()
            return True
        return False

    def remove(self) -> None:
        """Stop guarding (the window may be gone already)."""
        if self.installed:
            window = main_window(self.viewer)
            if window is not None:
                window.removeEventFilter(self)
            self.installed = False
