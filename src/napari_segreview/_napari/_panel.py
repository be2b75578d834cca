"""What the panels share: the overlap rules they offer, and how they show a failure.

Every panel shows a failure the same way: one sentence in its status line and
as a napari error notification (:func:`show_failure`); a user error
(:class:`~napari_segreview.errors.FormatError`) is its own sentence, anything
else says what failed and that nothing was changed (:func:`failure_text`).
"""

from __future__ import annotations

from typing import Any

from napari.utils.notifications import show_error

from napari_segreview.errors import FormatError

__all__ = ["RULES", "failure_text", "show_failure"]

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
