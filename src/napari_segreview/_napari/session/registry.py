"""The open review sessions of this process: one writer per session folder.

:data:`_CONTROLLERS` (a weak registry, viewer -> controller) is the only
record of open sessions: a closed viewer drops out by itself. The controller
puts itself in with :func:`register` and takes itself out with
:func:`unregister`; readers ask :func:`controller_for` and
:func:`controller_for_folder` before they open a folder. Panels that show
whether a session runs subscribe with :func:`on_change` and hear of it at once.

:func:`offer_once` makes "this image has a review session"
(:func:`restore_offer`) a single notification per viewer and session folder,
whoever notices it first (the image reader or the Review session panel).
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

from napari_segreview.errors import SessionError
from napari_segreview.session.session import Session

#: The open sessions of this process: viewer -> its controller (weak: a closed
#: viewer drops out). Nothing else keeps track of them.
_CONTROLLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Who wants to hear that a viewer's session started or ended: weak references to
#: callables taking the viewer.
_LISTENERS: list[weakref.ref] = []
#: Per viewer, the session folders it was told about (see :func:`offer_once`).
_OFFERED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def same_folder(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` name the same folder (False for anything unreadable).

    Examples
    --------
    >>> same_folder("/tmp/scan.segreview", "/tmp/../tmp/scan.segreview")
    True
    >>> same_folder("/tmp/a", None)
    False
    """
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, TypeError, ValueError):
        return False


def on_change(callback: Any) -> None:
    """Call ``callback(viewer)`` whenever a session of a viewer starts or ends.

    A bound method is held weakly (the panel may go away first); a callback
    whose Qt object is deleted is dropped.

    Examples
    --------
    >>> class Panel:
    ...     def refresh(self, viewer):
    ...         print("a session runs:", controller_for(viewer) is not None)
    >>> class Viewer:
    ...     pass
    >>> panel, viewer, ctl = Panel(), Viewer(), object()
    >>> on_change(panel.refresh)
    >>> register(viewer, ctl)
    a session runs: True
    >>> unregister(viewer, ctl)
    a session runs: False
    >>> del panel
    >>> register(viewer, ctl)  # the panel is gone: nothing is called
    >>> unregister(viewer, ctl)
    """
    ref = weakref.WeakMethod(callback) if hasattr(callback, "__self__") else weakref.ref(
        callback)
    _LISTENERS.append(ref)


def _changed(viewer: Any) -> None:
    for ref in list(_LISTENERS):
        callback = ref()
        if callback is None:
            _LISTENERS.remove(ref)
            continue
        try:
            callback(viewer)
        except RuntimeError:  # its Qt widget was deleted
            _LISTENERS.remove(ref)


def register(viewer: Any, controller: Any) -> None:
    """Record ``controller`` as the session controller of ``viewer``."""
    _CONTROLLERS[viewer] = controller
    _changed(viewer)


def unregister(viewer: Any, controller: Any) -> None:
    """Forget ``viewer``'s controller if it is ``controller`` (a later one stays)."""
    if _CONTROLLERS.get(viewer) is controller:
        del _CONTROLLERS[viewer]
        _changed(viewer)


def offer_once(viewer: Any, folder: Any) -> bool:
    """True the first time ``viewer`` is told about the session in ``folder``, then False.

    Without a viewer (a script, a headless reader) it is always True.

    Examples
    --------
    >>> class Viewer:
    ...     pass
    >>> v = Viewer()
    >>> offer_once(v, "/data/scan.segreview"), offer_once(v, "/data/../data/scan.segreview")
    (True, False)
    >>> offer_once(None, "/data/scan.segreview")
    True
    """
    if viewer is None:
        return True
    try:
        key = str(Path(folder).resolve())
    except (OSError, TypeError, ValueError):
        return True
    try:
        told = _OFFERED.setdefault(viewer, set())
    except TypeError:  # not weakly referenceable: cannot remember
        return True
    if key in told:
        return False
    told.add(key)
    return True


def controller_for(viewer: Any) -> Any:
    """The session controller (a :class:`~.controller.SessionController`) of ``viewer``, or None.

    Examples
    --------
    >>> class Viewer:
    ...     pass
    >>> controller_for(Viewer()) is None
    True
    """
    return _CONTROLLERS.get(viewer)


def controller_for_folder(folder: str | Path) -> Any:
    """The attached controller of this process that autosaves into ``folder``, or None."""
    return next((c for c in list(_CONTROLLERS.values())
                 if c.attached and same_folder(c.session.folder, folder)), None)


def restore_offer(folder: str | Path, image: str | Path | None = None) -> str:
    """The one sentence that tells a session can be restored (and when it was interrupted).

    The image reader and the Review session panel both say it, once per
    viewer and folder (:func:`offer_once`).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "scan.segreview"
    >>> Session.create(folder).close()
    >>> restore_offer(folder, "scan.tif").startswith("scan.tif has a review session in")
    True
    """
    try:
        session = Session.open(folder, writable=False)
    except SessionError as exc:
        return f"a review session exists in {folder} but cannot be read: {exc}"
    crashed = (f" napari stopped without closing it: it holds edits autosaved up to "
               f"{session.doc.get('saved_at')}." if session.interrupted else "")
    what = "This image" if image is None else str(image)
    return (f"{what} has a review session in {folder}.{crashed} To get your corrections "
            "back, click Restore in the Review session panel (Plugins > SegReview > Review "
            "session), or open that folder (File > Open Folder).")
