"""Autosave: bind a viewer's correction layers to a review session on disk.

:class:`SessionController` hooks napari's Labels change events (``paint``,
``data``, undo/redo through :func:`~napari_segreview._napari._compat.hook_history`)
and tells its :class:`~._dirty.DirtyTracker` which chunks an edit touched;
its :class:`~._autosave.Autosave` worker writes them every ``interval_s``
seconds without making the main thread wait on the disk, except when a
session layer is removed or the window closes (:mod:`._guard`): then pending
edits are flushed synchronously first. Layer <-> file conversion
(:func:`~.reader.session_layer_data`) has no Qt in it.

One writer per session folder per process (:mod:`.registry`): :func:`.reader.attach`
refuses a folder that another viewer's controller writes. A session record is
bound to one live layer at a time: a second layer that carries the id of a
bound record (the folder read again, an export of session layers read back, a
copy) becomes a new layer of the session with its own id.
"""

from __future__ import annotations

import secrets
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING, Any

from napari.layers import Image, Labels
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import QTimer

from napari_segreview._napari._compat import hook_history, unhook_history
from napari_segreview._napari._meta import KEY, meta
from napari_segreview._napari.session import registry
from napari_segreview._napari.session._autosave import DEFAULT_INTERVAL_S, Autosave
from napari_segreview._napari.session._dirty import DirtyTracker
from napari_segreview._napari.session._guard import CloseGuard, close_flow
from napari_segreview.errors import SessionError
from napari_segreview.session.session import Session

if TYPE_CHECKING:
    import napari

#: SegReview Labels kinds that belong to a session automatically.
SESSION_KINDS = ("decision", "mask", "labels", "atoms")
#: SegReview Image kinds that belong to a session automatically (Predict's probabilities).
SESSION_IMAGE_KINDS = ("probability",)


def is_session_layer(layer: Any) -> bool:
    """True for layers that join a session by themselves.

    Labels layers of the SegReview kinds :data:`SESSION_KINDS` and Image
    layers of the kinds :data:`SESSION_IMAGE_KINDS` (probabilities).
    """
    kind = meta(layer).get("kind")
    return ((isinstance(layer, Labels) and kind in SESSION_KINDS)
            or (isinstance(layer, Image) and kind in SESSION_IMAGE_KINDS))


class SessionController:
    """Keep a viewer's session layers saved in ``session`` as they are edited.

    Parameters
    ----------
    viewer : napari.Viewer
    session : Session
        Opened for writing.
    interval_s : float
        Autosave delay: edits reach the disk at most about this long after
        they happen (plus the write itself).

    Signals (of its ``autosave`` worker): ``saved(int)`` after each commit
    (its generation), ``failed(str)`` with the error sentence.
    """

    def __init__(self, viewer: napari.Viewer, session: Session, *,
                 interval_s: float = DEFAULT_INTERVAL_S):
        self.viewer = viewer
        self.session = session
        self.attached = True
        self.dirty = DirtyTracker(viewer.layers)
        self.autosave = Autosave(session, self.dirty, interval_s=interval_s)
        self._hooks: dict[str, list] = {}
        self._removed: dict[str, str | None] = {}  # layer id -> name (None: not Labels)
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self._on_removed)
        self._guard = CloseGuard(viewer, self.on_window_close)
        registry.register(viewer, self)

    # ------------------------------------------------------------ state

    @property
    def saved(self) -> Any:
        """Signal ``saved(int)``: a commit is on disk (its generation)."""
        return self.autosave.saved

    @property
    def failed(self) -> Any:
        """Signal ``failed(str)``: autosave failed (the error sentence)."""
        return self.autosave.failed

    @property
    def layers(self) -> dict[str, Labels]:
        """The bound layers by session id."""
        return self.dirty.layers

    @property
    def interval_s(self) -> float:
        """Seconds between autosaves."""
        return self.autosave.interval_s

    @interval_s.setter
    def interval_s(self, value: float) -> None:
        self.autosave.interval_s = value

    @property
    def last_saved(self) -> float | None:
        """``time.monotonic()`` of the last commit (None before the first)."""
        return self.autosave.last_saved

    @property
    def last_error(self) -> str | None:
        """The last autosave error sentence (None once a commit succeeds)."""
        return self.autosave.last_error

    @property
    def unsaved_edits(self) -> int:
        """Edits (strokes, fills, undos...) not committed yet, in flight included."""
        return self.dirty.count

    @property
    def saving(self) -> bool:
        """True while a commit runs in the worker thread."""
        return self.autosave.saving

    def _dirty_left(self) -> bool:
        return self.dirty.left()

    def layer_id(self, layer: Any) -> str | None:
        """The session id of a bound layer."""
        return next((lid for lid, lay in self.layers.items() if lay is layer), None)

    def record(self, lid: str) -> dict | None:
        """The ``session.json`` record of layer ``lid`` (None when the session has none)."""
        return next((d for d in self.session.doc["layers"] if d["id"] == lid), None)

    # ------------------------------------------------------------ binding

    def add_layer(self, layer: Labels | Image, layer_id: str | None = None) -> str:
        """Bind a layer; with no ``layer_id`` it is new and saved whole next flush.

        Any Labels layer can be bound; an Image layer only when it is a
        probability layer (:func:`is_session_layer`).
        """
        if not (isinstance(layer, Labels) or is_session_layer(layer)):
            raise SessionError(f"{layer.name!r} is not a Labels layer; only Labels layers "
                               "(masks and label maps) and Predict's probability layers "
                               "are saved in a session.")
        known = self.layer_id(layer)
        if known is not None:
            return known
        if layer_id is None:
            layer_id = secrets.token_hex(4)
            self.dirty.bind(layer_id, layer)
        else:
            self.dirty.bind(layer_id, layer, self.session.layer(layer_id))
        if not isinstance(layer.metadata.get(KEY), dict):
            layer.metadata[KEY] = {}
        layer.metadata[KEY]["session"] = {"folder": str(self.session.folder), "layer": layer_id}
        self._hook(layer_id, layer)
        return layer_id

    def _hook(self, lid: str, layer: Labels | Image) -> None:
        on_data = partial(self._on_data, lid)
        layer.events.data.connect(on_data)
        self._hooks[lid] = [on_data]
        if isinstance(layer, Labels):  # probabilities are not painted
            on_paint = partial(self._on_paint, lid)
            layer.events.paint.connect(on_paint)
            hook_history(layer, partial(self.dirty.mark, lid), partial(self.dirty.replaced, lid))
            self._hooks[lid].append(on_paint)

    def _unhook(self, lid: str) -> None:
        layer = self.layers.get(lid)
        hooks = self._hooks.pop(lid, None)
        if layer is None or hooks is None:
            return
        layer.events.data.disconnect(hooks[0])
        if isinstance(layer, Labels):
            layer.events.paint.disconnect(hooks[1])
            unhook_history(layer)

    # ------------------------------------------------------------ events

    def _on_paint(self, lid: str, event: Any) -> None:
        self.dirty.painted(lid, event.value)

    def _on_data(self, lid: str, event: Any) -> None:
        self.dirty.replaced(lid)

    def _on_inserted(self, event: Any) -> None:
        layer = event.value
        if not isinstance(layer, Labels | Image) or self.layer_id(layer) is not None:
            return
        copy = self.drop_copy_id(layer)
        if is_session_layer(layer) or (copy and isinstance(layer, Labels)):
            lid = self.add_layer(layer)  # a new record: never one bound to another layer
            if copy:
                show_info(f"{layer.name!r} carries the session id of another layer; it is "
                          f"saved in the session {self.session.folder} as a new layer "
                          f"({lid}), next to the original.")

    def drop_copy_id(self, layer: Labels | Image) -> bool:
        """True when ``layer`` carries the id of a record of this session (a stale id).

        The id is dropped so that nothing binds ``layer`` to that record again.
        """
        bound = meta(layer).get("session")
        if not isinstance(bound, dict) or not registry.same_folder(bound.get("folder"),
                                                                   self.session.folder):
            return False
        del layer.metadata[KEY]["session"]
        return self.record(str(bound.get("layer", ""))) is not None

    def _on_removed(self, event: Any) -> None:
        layer = event.value
        lid = self.layer_id(layer)
        if lid is None:
            return
        ok, message = self.flush_sync()
        if not ok:
            show_warning(f"could not save the edits of {layer.name!r} ({message}); the layer "
                         "is put back so that nothing is lost.")
            QTimer.singleShot(0, partial(self.viewer.layers.append, layer))
            return
        self._unhook(lid)
        self.layers.pop(lid, None)
        # Viewer.close() removes every layer before it closes the window: mark the
        # record removed only if the viewer lives on (the window close detaches first).
        self._removed[lid] = layer.name if isinstance(layer, Labels) else None
        QTimer.singleShot(0, self._mark_removed)

    def _mark_removed(self) -> None:
        if not self.attached or not self._removed:
            return
        for lid, name in self._removed.items():
            if name is None:
                continue  # a probability layer (a Predict re-run replaces them): no edits
            show_info(f"{name!r} left the viewer; its edits are saved in the session "
                      f"{self.session.folder} (layer {lid}): 'segreview session export' "
                      "writes them out.")
        self.dirty.removed |= set(self._removed)
        self._removed.clear()
        self.flush()

    # ------------------------------------------------------------ saving

    def track_image(self, layer: Image | None) -> None:
        """Record ``layer``'s contrast limits, colormap and units with each autosave."""
        self.dirty.track_image(layer)

    @property
    def image_layer(self) -> Image | None:
        """The image layer whose display is saved with each autosave."""
        return self.dirty.image_layer

    def save_state(self, name: str, value: dict) -> None:
        """Store a JSON blob (QA state...) with the next autosave."""
        self.dirty.save_state(name, value)

    def flush(self) -> Future | None:
        """Start an autosave now if anything changed and none is running (never blocks)."""
        return self.autosave.flush()

    def flush_sync(self, timeout: float | None = 120) -> tuple[bool, str]:
        """Flush everything now and wait; return ``(ok, error sentence)``."""
        return self.autosave.flush_sync(timeout)

    # ------------------------------------------------------------ closing

    def on_window_close(self) -> bool:
        """Flush before the window closes; ask only if that fails. False cancels the close."""
        if not close_flow(self.viewer, self.session.folder, self.flush_sync):
            return False
        self.detach(close_session=True)
        return True

    def detach(self, close_session: bool = True) -> None:
        """Stop autosaving (after a final flush by the caller) and release the viewer."""
        self.attached = False
        self.autosave.timer.stop()
        for lid in list(self._hooks):
            self._unhook(lid)
        for event, handler in ((self.viewer.layers.events.inserted, self._on_inserted),
                               (self.viewer.layers.events.removed, self._on_removed)):
            event.disconnect(handler)
        self._guard.remove()
        self.autosave.shutdown()
        if close_session:
            try:
                self.session.close()
            except Exception as exc:
                show_warning(f"could not mark the session {self.session.folder} closed: {exc}")
        registry.unregister(self.viewer, self)
