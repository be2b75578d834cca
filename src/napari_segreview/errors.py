"""The exceptions users catch: one family, each message one sentence that says what to change.

Every user error is a :class:`FormatError` (a :class:`ValueError`), so a caller
that only wants "tell the user" catches that one class; the subclasses say
which part of the program refused:

>>> issubclass(CardError, FormatError) and issubclass(FormatError, ValueError)
True
>>> try:
...     raise ReadError("scan.xyz is not an image; open a .tif, DICOM or NIfTI file.")
... except FormatError as exc:
...     print(exc)
scan.xyz is not an image; open a .tif, DICOM or NIfTI file.

:class:`Cancelled` is not an error: a run stopped because its caller asked.
This module imports nothing of the package, so every layer may import it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Cancelled",
    "CardError",
    "FormatError",
    "MissingDependency",
    "ModelLoadError",
    "OverlapError",
    "ReadError",
    "ReviewError",
    "SessionError",
    "WindowError",
]


class FormatError(ValueError):
    """A user error in a mask, label map or channel stack.

    The message is one sentence that says what is wrong and what to change.
    """


class OverlapError(FormatError):
    """Channels overlap where a label map (one value per voxel) was asked for.

    ``report`` holds the :class:`~napari_segreview.labels.checks.CheckReport`
    with one finding per channel pair.
    """

    def __init__(self, message: str, report: Any):
        super().__init__(message)
        self.report = report


class CardError(FormatError):
    """A problem in a model card: one sentence naming the field and what to write instead."""


class WindowError(FormatError):
    """A window that cannot be shown: unknown preset, width not positive, not a number."""


class ReadError(FormatError):
    """A path that cannot be opened as an image; the message says what to change."""


class MissingDependency(ReadError):
    """An optional package (pydicom, nibabel) is needed and not installed."""


class ModelLoadError(FormatError):
    """A model file, factory, device or model output that cannot be used.

    The message is one sentence that says what is wrong and what to change.
    """


class ReviewError(FormatError):
    """The masks or rules given to a review cannot be used; the message says what to change."""


class SessionError(FormatError):
    """A session folder that cannot be read or written: one sentence saying what to do."""


class Cancelled(Exception):
    """The caller's ``cancel`` fired; the prediction stopped between batches."""
