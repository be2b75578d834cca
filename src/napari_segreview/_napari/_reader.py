"""napari reader: CT stacks and images through :func:`napari_segreview.io.read.read_images`.

``get_reader(path)`` is cheap: it returns :func:`read_layers` for paths the
core can read (by suffix, DICOM magic bytes or folder contents) and None for
everything else, including SegReview session and export folders (their own
readers open them) and ``.npy``/``.npz`` (napari's own reader opens those).
A file that turns out to be corrupt is reported with one ``show_error``
sentence and nothing is added; napari never sees an exception. Notes about
what was assumed (spacing varies, duplicate DICOM slices, other series in
the folder) are shown with ``show_warning``. When the image has a review
session next to it (``scan.segreview`` beside ``scan.tif``), a notification
says so and how to restore it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from napari_segreview.errors import ReadError
from napari_segreview.io.read import can_read, read_images

#: napari's "empty file" answer: nothing is added and no error is raised.
NOTHING = [(None,)]


def get_reader(path: str | os.PathLike | list) -> Callable[[Any], list] | None:
    """Return :func:`read_layers` when SegReview can open ``path``, else None."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    try:
        return read_layers if can_read(path, arrays=False) else None
    except OSError:
        return None


def read_layers(path: str | os.PathLike | list) -> list[tuple]:
    """Read ``path`` into napari LayerData tuples (one per DICOM series)."""
    from napari.utils.notifications import show_error, show_info, show_warning

    if isinstance(path, (list, tuple)):
        path = path[0]
    try:
        images = read_images(path)
    except ReadError as exc:
        show_error(str(exc))
        return NOTHING
    except MemoryError:
        show_error(f"{os.fspath(path)} does not fit in memory; close other layers or open a "
                   "smaller part of it.")
        return NOTHING
    except Exception as exc:  # never let a reader crash napari
        show_error(f"could not open {os.fspath(path)} ({type(exc).__name__}: {exc}).")
        return NOTHING
    for image in images:
        for note in image.notes:
            show_warning(note)
    offer = session_offer(path)
    if offer:
        show_info(offer)
    return [image.layer_data() for image in images]


def session_offer(path: str | os.PathLike) -> str | None:
    """Return the sentence telling that ``path`` has a review session to restore, else None.

    Examples
    --------
    >>> session_offer("/nonexistent/scan.tif") is None
    True
    """
    from napari_segreview.session.format import find_session

    try:
        folder = find_session(path)
    except (OSError, ValueError):
        return None
    if folder is None:
        return None
    return (f"{os.fspath(path)} has a review session in {folder}: open Plugins > SegReview > "
            "Review session and click Restore, or open that folder (File > Open Folder) to "
            "get your corrections back.")
