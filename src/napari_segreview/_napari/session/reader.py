"""Opening review sessions: start, read back (napari's reader), re-attach autosave.

:func:`create_session` starts one; :func:`read_session` is the napari reader
for a session folder or its ``session.json``; :func:`attach` binds autosave
to restored layers.

The layers come back as they were last autosaved (names, scale, colours,
metadata, the kept predictions); then autosave is attached again, and the
image is reopened from its path when it is not in the viewer yet (with the
contrast limits and colormap the session recorded).

A session has one writer per process: opening a folder that a napari window
of this process already autosaves into (this one or another) adds nothing and
says so, since a second copy of its layers would compete with the first for
the same records.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.layers import Image, Labels
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer

from napari_segreview._napari._meta import meta
from napari_segreview._napari._reader import prefer_segreview_readers
from napari_segreview._napari.session._autosave import DEFAULT_INTERVAL_S
from napari_segreview._napari.session._records import (
    image_info,
    image_kwargs,
    layer_kwargs,
    plain_json,
)
from napari_segreview._napari.session.controller import SessionController, is_session_layer
from napari_segreview._napari.session.registry import (
    controller_for,
    controller_for_folder,
    same_folder,
)
from napari_segreview.errors import SessionError
from napari_segreview.session.session import Session, is_session, session_folder

if TYPE_CHECKING:
    import napari


def session_layer_data(folder: str | Path) -> tuple[Session, list[tuple]]:
    """Read a session's layers as napari layer-data tuples (no Qt: usable in a thread).

    Layers removed from the viewer in an earlier run are left out; label
    layers come back as ``"labels"`` (with their class-name ``features``),
    probability layers as ``"image"``. Each layer's metadata gets
    ``session = {"folder", "layer"}`` so that ``attach`` binds it to its
    record again.
    """
    session = Session.open(folder, writable=False)
    out: list[tuple] = []
    img = session.image or {}
    stored = session.read_image()
    if stored is not None:
        out.append((stored, {"name": img.get("name", "image"), "scale": img.get("scale"),
                             "translate": img.get("translate"), **image_kwargs(img)},
                    "image"))
    for rec in session.layers:
        if rec.removed:
            continue
        m = dict(rec.metadata)
        prediction = session.read_prediction(rec.id)
        if prediction is not None:
            m["prediction"] = prediction
        m["session"] = {"folder": str(session.folder), "layer": rec.id}
        kwargs, kind = layer_kwargs(rec.name, m, rec.display, rec.scale, rec.translate)
        out.append((session.read_layer(rec.id), kwargs, kind))
    return session, out


def get_session_reader(path: str | list[str]) -> Any:
    """Return a reader for a session folder or its ``session.json``, None for anything else."""
    if isinstance(path, list | tuple):
        if len(path) != 1:
            return None
        path = path[0]
    return read_session if is_session(path) else None


def already_open(folder: str | Path, viewer: Any) -> str | None:
    """Why ``folder`` cannot be opened into ``viewer`` now (a sentence), or None if it can.

    A session folder that a controller of this process autosaves into is
    never opened a second time (in this window or another), and a viewer
    holds one session at a time.
    """
    owner = controller_for_folder(folder)
    if owner is not None:
        if viewer is not None and owner is controller_for(viewer):
            return (f"the session {folder} is already open in this window: its layers are "
                    "the ones in the layer list, autosaved; nothing was added.")
        return (f"the session {folder} is already open in another napari window; edit it "
                "there, or close that window and open the session again.")
    own = None if viewer is None else controller_for(viewer)
    if own is not None:
        return (f"this window already autosaves the session {own.session.folder}; open "
                f"{folder} in a new window (File > New Window) instead.")
    return None


#: What a reader returns when it handled a path but adds no layer (npe2's null layer).
NO_LAYERS = [(None,)]


def read_session(path: str | list[str]) -> list[tuple]:
    """Read a session's layers; autosave is re-attached once napari has added them.

    Nothing is read (napari's empty result, ``[(None,)]``) when the session is
    already open in this process (see :func:`already_open`) or cannot be read;
    a notification says why.
    """
    if isinstance(path, list | tuple):
        path = path[0]
    folder = session_folder(path)
    import napari

    viewer = napari.current_viewer()
    refusal = already_open(folder, viewer)
    if refusal is not None:
        show_warning(refusal)
        return NO_LAYERS
    try:
        session, layers = session_layer_data(folder)
    except SessionError as exc:
        show_error(str(exc))
        return NO_LAYERS
    if viewer is not None:
        QTimer.singleShot(0, partial(finish_restore, viewer, session))
    return layers


def reopen_image(viewer: Any, image: dict[str, Any] | None) -> None:
    """Open the session's image from its path when no layer of that name is in the viewer."""
    path = (image or {}).get("path")
    if not path or any(isinstance(lay, Image) and lay.name == image.get("name")
                       for lay in viewer.layers):
        return
    if not Path(path).exists():
        show_warning(f"the session's image {path} is gone; the masks are restored without it.")
        return
    shown = {k: v for k, v in image_kwargs(image).items() if k in ("contrast_limits",
                                                                   "colormap")}
    before = len(viewer.layers)
    for plugin in ("napari-segreview", None):
        try:
            viewer.open(path, plugin=plugin)
            break
        except Exception as exc:
            error = exc
    else:
        show_warning(f"could not reopen the image {path} ({error}); open it yourself.")
        return
    for i in range(len(viewer.layers) - before):  # images go under the masks
        layer = viewer.layers[before + i]
        if isinstance(layer, Image) and layer.name == image.get("name"):
            for key, value in shown.items():  # the window the user had chosen
                setattr(layer, key, value)
        viewer.layers.move(before + i, i)


def finish_restore(viewer: Any, session: Session) -> None:
    """After a session's layers are in ``viewer``: reopen its image, re-attach autosave."""
    reopen_image(viewer, session.image)
    try:
        attach(viewer, session.folder)
    except SessionError as exc:
        show_error(f"{exc} The layers are restored but not autosaved.")
        return
    note = (" It holds edits autosaved after the last clean close (napari stopped without "
            "closing); check them." if session.interrupted else "")
    show_info(f"Restored the review session {session.folder}; autosave is on.{note}")


def create_session(viewer: napari.Viewer, folder: str | Path, image: Image | None,
                   *, interval_s: float = DEFAULT_INTERVAL_S) -> SessionController:
    """Create a session in ``folder`` for ``image`` and the viewer's session layers."""
    if controller_for(viewer) is not None:
        raise SessionError("this viewer already has a review session; close it first.")
    card = next((meta(lay).get("card") for lay in viewer.layers
                 if meta(lay).get("kind") == "decision" and meta(lay).get("card")), None)
    info = image_info(image)
    session = Session.create(folder, image=info, card=plain_json(card) if card else None)
    prefer_segreview_readers(folder)  # File > Open Folder on it: no reader dialog
    ctl = SessionController(viewer, session, interval_s=interval_s)
    ctl.track_image(image)
    if image is not None and info is not None and info["path"] is None:
        ctl.autosave.submit(session.store_image, image.data, info)  # read in the worker
    for layer in list(viewer.layers):
        if is_session_layer(layer):
            ctl.add_layer(layer)
    ctl.flush()
    return ctl


def attach(viewer: napari.Viewer, folder: str | Path, *,
           interval_s: float = DEFAULT_INTERVAL_S) -> SessionController:
    """Re-attach autosave to a restored session: bind layers that carry its ids.

    Each record is bound to one layer: the newest one that carries its id
    (the layers just restored come last). Older copies, and layers that carry
    the id of a record removed from the viewer, become new layers.

    Raises
    ------
    SessionError
        When this viewer has another session, or another viewer of this
        process autosaves into ``folder`` (one writer per session).
    """
    ctl = controller_for(viewer)
    if ctl is not None:
        if same_folder(ctl.session.folder, folder):
            return ctl
        raise SessionError("this viewer already has another review session; close it first.")
    if controller_for_folder(folder) is not None:
        raise SessionError(f"the session {folder} is already open in another napari window; "
                           "edit it there, or close that window and open the session again.")
    session = Session.open(folder, writable=True)
    ctl = SessionController(viewer, session, interval_s=interval_s)
    name = (session.image or {}).get("name")
    ctl.track_image(next((lay for lay in viewer.layers
                          if isinstance(lay, Image) and lay.name == name), None))
    copies = []
    for layer in reversed(list(viewer.layers)):
        bound = meta(layer).get("session") or {}
        lid = str(bound.get("layer", ""))
        if not isinstance(layer, Labels | Image) or not same_folder(bound.get("folder"),
                                                                    session.folder):
            continue
        record = ctl.record(lid)
        if lid in ctl.layers or record is None or record.get("removed"):
            copies.append(layer)  # only a live record is bound, and to one layer
        else:
            ctl.add_layer(layer, lid)
    for layer in reversed(copies):
        if ctl.drop_copy_id(layer):
            ctl.add_layer(layer)
    return ctl
