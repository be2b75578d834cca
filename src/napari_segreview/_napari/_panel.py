"""What the panels share: the overlap rules they offer, how they show a failure, their frame.

Every panel shows a failure the same way: one sentence in its status line and
as a napari error notification (:func:`show_failure`); a user error
(:class:`~napari_segreview.errors.FormatError`) is its own sentence, anything
else says what failed and that nothing was changed (:func:`failure_text`).

Every panel fits a small screen (a 1366x768 laptop with all five docked): its
content lies in a scroll area (:func:`scroll_panel`), so a dock asks napari's
window for little height and the content keeps its own, reachable by
scrolling; lists show as many rows as they hold, up to a few
(:func:`fit_rows`). A SegReview panel docked where another SegReview panel
already is joins it as a tab (and comes to the front) instead of splitting the
side of the window into slivers; drag a tab out to see two panels at once.
"""

from __future__ import annotations

import contextlib
from typing import Any

from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFrame,
    QMainWindow,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from napari_segreview.errors import FormatError

__all__ = ["RULES", "failure_text", "fit_rows", "is_panel", "join_tabs", "scroll_panel",
           "show_failure"]

#: How binary masks that overlap become one label map (combo-box text -> the
#: keyword arguments of :func:`~napari_segreview.labels.formats.multihot_to_labels`).
RULES = {
    "Refuse overlaps": {"overlap": "error"},
    "Later layers win": {"priority": "later"},
    "Mark overlaps as ignore (255)": {"overlap": "ignore"},
}


def failure_text(exc: BaseException | str, action: str, unchanged: str) -> str:
    """One sentence about a failure: a user error's own, else what failed and what is intact.

    Examples
    --------
    >>> failure_text(FormatError("select one or more Labels layers first."), "conversion",
    ...              "nothing was added")
    'select one or more Labels layers first.'
    >>> failure_text(KeyError("x"), "review", "nothing was changed")
    "the review failed (KeyError: 'x'); nothing was changed."
    """
    if isinstance(exc, (FormatError, str)):
        return str(exc)
    return f"the {action} failed ({type(exc).__name__}: {exc}); {unchanged}."


def show_failure(status: Any, message: str) -> None:
    """Show ``message`` in a panel's status line (a ``QLabel``) and as an error notification."""
    status.setText(message)
    show_error(message)


def scroll_panel(panel: QWidget) -> QVBoxLayout:
    """Put a scroll area over the whole of ``panel``; returns the layout to fill.

    The area (``panel.scroll_area``) scrolls vertically only: its content keeps
    its minimum height (nothing is squeezed or clipped) and is never narrower
    than its minimum width, so every control stays whole and reachable. The
    panel expands vertically, so napari adds no stretch below it.
    """
    content = QWidget()
    content.setObjectName(f"{panel.objectName() or 'panel'}_content")
    area = QScrollArea(panel)
    area.setObjectName("segreview_scroll")
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(content)
    outer = QVBoxLayout(panel)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(area)
    panel.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
    panel.scroll_area = area
    layout = QVBoxLayout(content)
    _Frame(panel, area, content)
    return layout


def is_panel(widget: Any) -> bool:
    """Whether ``widget`` (a dock's widget, or what napari wrapped it in) is a SegReview panel."""
    if widget is None:
        return False
    return any(type(w).__module__.startswith("napari_segreview.")
               for w in (widget, *widget.findChildren(QWidget)))


def join_tabs(dock: QDockWidget) -> bool:
    """Tabify ``dock`` with a SegReview dock in the same area of its window; True if it did.

    A dock already in a tab group, floating, or alone in its area is left as it is.
    """
    window = dock.parentWidget()
    if not isinstance(window, QMainWindow) or dock.isFloating():
        return False
    if window.tabifiedDockWidgets(dock):
        return False
    area = window.dockWidgetArea(dock)
    others = [d for d in window.findChildren(QDockWidget)
              if d is not dock and not d.isHidden() and not d.isFloating()
              and window.dockWidgetArea(d) == area and is_panel(d.widget())]
    if not others:
        return False
    window.tabifyDockWidget(others[0], dock)
    dock.show()
    dock.raise_()
    return True


class _Frame(QObject):
    """A panel's frame: a scroll area as wide as its content, joining other panels' tabs.

    The scroll area stays as wide as the content's minimum (nothing is clipped
    sideways); the first time the panel is shown in a dock it joins the other
    SegReview panels there as a tab (:func:`join_tabs`).
    """

    def __init__(self, panel: QWidget, area: QScrollArea, content: QWidget):
        super().__init__(area)
        self._panel, self._area, self._content = panel, area, content
        self._joined = False
        content.installEventFilter(self)
        panel.installEventFilter(self)
        self._fit()

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if obj is self._content and event.type() == QEvent.Type.LayoutRequest:
            self._fit()
        elif obj is self._panel and event.type() == QEvent.Type.Show and not self._joined:
            self._joined = True
            QTimer.singleShot(0, self._join)
        return False

    def _join(self) -> None:
        try:
            widget = self._panel.parentWidget()
            while widget is not None and not isinstance(widget, QDockWidget):
                widget = widget.parentWidget()
        except RuntimeError:  # the panel was closed before the event loop came back
            return
        if widget is not None:
            join_tabs(widget)

    def _fit(self) -> None:
        bar = self._area.verticalScrollBar().sizeHint().width()
        self._area.setMinimumWidth(self._content.minimumSizeHint().width() + bar)


def fit_rows(view: QAbstractItemView, most: int = 6, least: int = 2) -> None:
    """Size a list to show all its rows, at least ``least`` and at most ``most``.

    Follows the rows as they come and go, so a list of preselected layers
    shows them all instead of a fixed four-row box.
    """
    def fit(*_args: Any) -> None:
        with contextlib.suppress(RuntimeError):     # the list may be gone (panel closed)
            count = view.model().rowCount()
            row = max(view.sizeHintForRow(0) if count else 0, view.fontMetrics().height() + 4)
            view.setFixedHeight(min(max(count, least), most) * row + 2 * view.frameWidth() + 2)

    model = view.model()
    for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
        signal.connect(fit)
    fit()
