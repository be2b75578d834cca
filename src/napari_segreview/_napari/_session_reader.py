"""napari reader for review sessions: open a session folder (or its ``session.json``).

The layers come back as they were last autosaved (names, scale, colours,
metadata, the kept predictions); then autosave is attached again, and the
image is reopened from its path when it is not in the viewer yet.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from napari.layers import Image
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer

from napari_segreview._napari._meta import KEY
from napari_segreview._napari._session_records import colormap_from_json
from napari_segreview.core.session import Session, SessionError, is_session, session_folder


def session_layer_data(folder: str | Path) -> tuple[Session, list[tuple]]:
    """Read a session's layers as napari layer-data tuples (no Qt: usable in a thread).

    Layers removed from the viewer in an earlier run are left out. Each
    layer's metadata gets ``session = {"folder", "layer"}`` so that
    ``attach`` binds it to its record again.
    """
    session = Session.open(folder, writable=False)
    out: list[tuple] = []
    img = session.image or {}
    stored = session.read_image()
    if stored is not None:
        out.append((stored, {"name": img.get("name", "image"), "scale": img.get("scale"),
                             "translate": img.get("translate"),
                             "metadata": {KEY: {"kind": "image"}}}, "image"))
    for rec in session.layers:
        if rec.removed:
            continue
        m = dict(rec.metadata)
        prediction = session.read_prediction(rec.id)
        if prediction is not None:
            m["prediction"] = prediction
        m["session"] = {"folder": str(session.folder), "layer": rec.id}
        kwargs: dict[str, Any] = {"name": rec.name, "metadata": {KEY: m}}
        for k in ("scale", "translate"):
            if getattr(rec, k) is not None:
                kwargs[k] = getattr(rec, k)
        disp = rec.display
        for k in ("opacity", "visible", "blending"):
            if k in disp:
                kwargs[k] = disp[k]
        cmap = colormap_from_json(disp.get("colormap"))
        if cmap is not None:
            kwargs["colormap"] = cmap
        out.append((session.read_layer(rec.id), kwargs, "labels"))
    return session, out


def get_session_reader(path: str | list[str]) -> Any:
    """Return a reader for a session folder or its ``session.json``, None for anything else."""
    if isinstance(path, list | tuple):
        if len(path) != 1:
            return None
        path = path[0]
    return read_session if is_session(path) else None


def read_session(path: str | list[str]) -> list[tuple]:
    """Read a session's layers; autosave is re-attached once napari has added them."""
    if isinstance(path, list | tuple):
        path = path[0]
    folder = session_folder(path)
    try:
        session, layers = session_layer_data(folder)
    except SessionError as exc:
        show_error(str(exc))
        return []
    import napari

    viewer = napari.current_viewer()
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
        viewer.layers.move(before + i, i)


def finish_restore(viewer: Any, session: Session) -> None:
    """After a session's layers are in ``viewer``: reopen its image, re-attach autosave."""
    from napari_segreview._napari._session import attach

    reopen_image(viewer, session.image)
    try:
        attach(viewer, session.folder)
    except SessionError as exc:
        show_error(f"{exc} The layers are restored but not autosaved.")
        return
    note = (" It holds edits autosaved after the last clean close (napari stopped without "
            "closing); check them." if session.interrupted else "")
    show_info(f"Restored the review session {session.folder}; autosave is on.{note}")
