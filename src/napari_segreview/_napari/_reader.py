"""napari reader: CT stacks and images through :func:`napari_segreview.io.read.read_images`.

``get_reader(path)`` is cheap: it returns :func:`read_layers` for paths the
core can read (by suffix, DICOM magic bytes or folder contents) and None for
everything else, including SegReview session and export folders (their own
readers open them) and ``.npy``/``.npz`` (napari's own reader opens those).
A grey stack whose values look like HU and that carries no window of its
own opens with a CT preset (:func:`napari_segreview.io.read.display_window`).
A file that turns out to be corrupt is reported with one ``show_error``
sentence and nothing is added; napari never sees an exception. Notes about
what was assumed (spacing varies, duplicate DICOM slices, other series in
the folder) are shown with ``show_warning``. When the image has a review
session next to it (``scan.segreview`` beside ``scan.tif``), a notification
says so and how to restore it.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from typing import Any

from napari_segreview.errors import ReadError
from napari_segreview.io.read import can_read, display_window, read_images

#: napari's "empty file" answer: nothing is added and no error is raised.
NOTHING = [(None,)]


def get_reader(path: str | os.PathLike | list) -> Callable[[Any], list] | None:
    """Return :func:`read_layers` when SegReview can open ``path``, else None."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    # npe2 tries a plugin's file readers in no fixed order, so a DICOM SEG that reaches this
    # reader first is handed to the SEG reader (one Labels layer per segment).
    from napari_segreview._napari.dicomseg import get_seg_reader

    seg = get_seg_reader(path)
    if seg is not None:
        return seg
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
    import napari

    offer = session_offer(path, napari.current_viewer())
    if offer:
        show_info(offer)
    # a lazy HU stack is judged here: napari decodes some of it to show it anyway
    return [display_window(image, lazy=True).layer_data() for image in images]


def session_offer(path: str | os.PathLike, viewer: Any = None) -> str | None:
    """The sentence telling that ``path`` has a review session to restore, else None.

    None too when ``viewer`` was told about that session already (by this
    reader or by the Review session panel): one notification per viewer and
    session, whoever notices it first.

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
    from napari_segreview._napari.session.registry import offer_once, restore_offer

    return restore_offer(folder, os.fspath(path)) if offer_once(viewer, folder) else None


#: The plugin name napari knows SegReview's readers by.
PLUGIN = "napari-segreview"
#: Folders napari should open with SegReview without asking: review sessions are named
#: ``<image>.segreview`` (:func:`napari_segreview.session.format.default_folder`).
FOLDER_PATTERNS = ("*.segreview" + os.sep,)


def prefer_segreview_readers(folder: str | os.PathLike | None = None) -> list[str]:
    """Tell napari to open SegReview's folders with SegReview, without its reader dialog.

    napari offers every reader that accepts folders for File > Open Folder
    (its own included) and asks which one, unless its reader preferences
    (Preferences > Plugins, ``settings.plugins.extension2reader``) name one
    for that folder. This adds :data:`FOLDER_PATTERNS` (session folders) and,
    when given, ``folder`` itself (an export folder just written), as napari's
    own "Remember this choice" would; a pattern the user set is never changed.

    Returns
    -------
    list of str
        The patterns added (empty when every one was there already).
    """
    from napari.settings import get_settings

    patterns = list(FOLDER_PATTERNS)
    if folder is not None:
        exact = os.path.join(os.path.realpath(os.fspath(folder)), "")
        # a folder a pattern already covers (``x.segreview``) is not listed one by one
        if not any(fnmatch.fnmatch(exact, p) for p in FOLDER_PATTERNS):
            patterns.append(exact)
    prefs = get_settings().plugins.extension2reader
    added = [p for p in patterns if p not in prefs]
    if added:
        get_settings().plugins.extension2reader = {**prefs, **dict.fromkeys(added, PLUGIN)}
    return added


def open_folder(viewer: Any, path: str | os.PathLike) -> list:
    """Open a SegReview folder (session, export, case) or image with SegReview's readers.

    What the panels' Open button does: it goes straight to SegReview's
    readers, so napari never asks which reader to use. A path that none of
    them reads is reported with one ``show_error`` sentence and nothing is
    added.

    Returns
    -------
    list
        The layers added.
    """
    from napari.utils.notifications import show_error

    if not os.path.exists(path):
        show_error(f"{os.fspath(path)} does not exist; choose another folder.")
        return []
    try:
        return viewer.open(os.fspath(path), plugin=PLUGIN)
    except Exception:  # napari: no reader of the plugin took it
        show_error(f"{os.fspath(path)} is not a SegReview review session, export or image "
                   "folder; choose the folder that holds session.json or "
                   "segreview-export.json, or an image.")
        return []
