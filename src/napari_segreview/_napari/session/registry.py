"""The open review sessions of this process: one writer per session folder.

:data:`_CONTROLLERS` (a weak registry, viewer -> controller) is the only
record of open sessions: a closed viewer drops out by itself. The controller
puts itself in with :func:`register` and takes itself out with
:func:`unregister`; readers ask :func:`controller_for` and
:func:`controller_for_folder` before they open a folder.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

#: The open sessions of this process: viewer -> its controller (weak: a closed
#: viewer drops out). Nothing else keeps track of them.
_CONTROLLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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


def register(viewer: Any, controller: Any) -> None:
    """Record ``controller`` as the session controller of ``viewer``."""
    _CONTROLLERS[viewer] = controller


def unregister(viewer: Any, controller: Any) -> None:
    """Forget ``viewer``'s controller if it is ``controller`` (a later one stays)."""
    if _CONTROLLERS.get(viewer) is controller:
        del _CONTROLLERS[viewer]


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
