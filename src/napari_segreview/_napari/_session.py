"""Autosave: bind a viewer's correction layers to a review session on disk.

:class:`SessionController` hooks napari's Labels change events (``paint``,
``data``, undo/redo), marks the chunks an edit touched, and every
``interval_s`` seconds copies those chunks (cheap, on the main thread) and
hands them to a single worker thread that writes them and commits
``session.json`` (:meth:`Session.commit`). The main thread never waits on
the disk, except when a session layer is removed or the window closes: then
pending edits are flushed synchronously first. Layer <-> file conversion
(``_session_reader.session_layer_data``) has no Qt in it.

One writer per session folder per process: :data:`_CONTROLLERS` (a weak
registry, viewer -> controller) is the only record of open sessions;
:func:`attach` refuses a folder that another viewer's controller writes. A
session record is bound to one live layer at a time: a second layer that
carries the id of a bound record (the folder read again, an export of session
layers read back, a copy) becomes a new layer of the session with its own id.
"""

from __future__ import annotations

import contextlib
import json
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image, Labels
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import QEvent, QObject, QTimer, Signal
from qtpy.QtWidgets import QMessageBox

from napari_segreview._napari._meta import KEY, meta
from napari_segreview._napari._session_records import (
    image_display,
    layer_info,
)
from napari_segreview.errors import SessionError
from napari_segreview.session.session import Changes, LayerUpdate, Session, full_update
from napari_segreview.session.store import chunk_slices, keys_of_atom

if TYPE_CHECKING:
    import napari

#: SegReview layer kinds that belong to a session automatically.
SESSION_KINDS = ("decision", "mask", "labels", "atoms")


def _main_window(viewer: Any) -> Any:
    """Return the QMainWindow of ``viewer``, or None (headless, or a closed viewer).

    napari has no public close hook, so the session filters the main window's
    close event. Plugin widgets get a proxy viewer that warns on private
    attributes; the proxy is unwrapped first.
    """
    real = getattr(viewer, "__wrapped__", viewer)
    return getattr(getattr(real, "window", None), "_qt_window", None)


#: The open sessions of this process: viewer -> its controller (weak: a closed
#: viewer drops out). Nothing else keeps track of them.
_CONTROLLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def controller_for(viewer: Any) -> SessionController | None:
    """The session controller attached to ``viewer``, if any."""
    return _CONTROLLERS.get(viewer)


def _same_folder(a: Any, b: Any) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, TypeError, ValueError):
        return False


def controller_for_folder(folder: str | Path) -> SessionController | None:
    """The controller of this process that autosaves into ``folder``, if any."""
    return next((c for c in list(_CONTROLLERS.values())
                 if c.attached and _same_folder(c.session.folder, folder)), None)


def is_session_layer(layer: Any) -> bool:
    """True for Labels layers that join a session by themselves (SegReview kinds)."""
    return isinstance(layer, Labels) and meta(layer).get("kind") in SESSION_KINDS


def ask_unsaved(parent: Any, message: str) -> str:
    """Ask what to do with unsaved edits at window close: "save", "discard" or "cancel".

    The only modal dialog of the plugin; tests replace this function.
    """
    box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved review edits", message,
                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                      | QMessageBox.StandardButton.Cancel, parent)
    answer = box.exec()
    return {QMessageBox.StandardButton.Save: "save",
            QMessageBox.StandardButton.Discard: "discard"}.get(
        QMessageBox.StandardButton(answer), "cancel")


class _CloseGuard(QObject):
    def __init__(self, controller: SessionController):
        super().__init__()
        self._controller = controller

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if event.type() == QEvent.Type.Close and not self._controller.on_window_close():
            event.ignore()
            return True
        return False


class SessionController(QObject):
    """Keep a viewer's session layers saved in ``session`` as they are edited.

    Parameters
    ----------
    viewer : napari.Viewer
    session : Session
        Opened for writing.
    interval_s : float
        Autosave delay: edits reach the disk at most about this long after
        they happen (plus the write itself).

    Signals: ``saved(int)`` after each commit (its generation), ``failed(str)``
    with the error sentence.
    """

    saved = Signal(int)
    failed = Signal(str)
    _finished = Signal(object)

    def __init__(self, viewer: napari.Viewer, session: Session, *, interval_s: float = 2.0):
        super().__init__()
        self.viewer = viewer
        self.session = session
        self.layers: dict[str, Labels] = {}
        self.last_saved: float | None = None  # time.monotonic() of the last commit
        self.last_error: str | None = None
        self._dirty: dict[str, set] = {}
        self._full: set[str] = set()
        self._sent: dict[str, dict] = {}
        self._pred: dict[str, int] = {}
        self._staged_seen: dict[str, int] = {}
        self._geom: dict[str, tuple] = {}  # layer id -> (chunk shape, shape)
        self._hooks: dict[str, list] = {}
        self._removed: dict[str, str] = {}  # layer id -> name, removed from the viewer
        self._removed_flags: set[str] = set()  # to be marked removed in the next commit
        self.attached = True
        self._states: dict[str, dict] = {}
        self.image_layer: Image | None = None
        self._image_sent: dict | None = None
        self._unsaved = 0
        self._inflight = 0
        self._future: Future | None = None
        self._inflight_changes: Changes | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="segreview-autosave")
        self._finished.connect(self._on_finished)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.flush)
        self.interval_s = interval_s
        self.timer.start()
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self._on_removed)
        self._guard = None
        qt_window = _main_window(viewer)
        if qt_window is not None:
            self._guard = _CloseGuard(self)
            qt_window.installEventFilter(self._guard)
        _CONTROLLERS[viewer] = self

    # ------------------------------------------------------------ state

    @property
    def interval_s(self) -> float:
        """Seconds between autosaves."""
        return self.timer.interval() / 1000

    @interval_s.setter
    def interval_s(self, value: float) -> None:
        self.timer.setInterval(max(50, int(value * 1000)))

    @property
    def unsaved_edits(self) -> int:
        """Edits (strokes, fills, undos...) not committed yet, in flight included."""
        return self._unsaved + self._inflight + len(self._full)

    @property
    def saving(self) -> bool:
        """True while a commit runs in the worker thread."""
        return self._future is not None and not self._future.done()

    def layer_id(self, layer: Any) -> str | None:
        """The session id of a bound layer."""
        return next((lid for lid, lay in self.layers.items() if lay is layer), None)

    # ------------------------------------------------------------ binding

    def add_layer(self, layer: Labels, layer_id: str | None = None) -> str:
        """Bind a Labels layer; with no ``layer_id`` it is new and saved whole next flush."""
        if not isinstance(layer, Labels):
            raise SessionError(f"{layer.name!r} is not a Labels layer; only Labels layers "
                               "(masks and label maps) are saved in a session.")
        known = self.layer_id(layer)
        if known is not None:
            return known
        if layer_id is None:
            import secrets
            layer_id = secrets.token_hex(4)
            self._full.add(layer_id)
        else:
            rec = self.session.layer(layer_id)
            self._geom[layer_id] = (rec.chunk_shape, rec.shape)
            self._sent[layer_id] = layer_info(layer)
            self._pred[layer_id] = id(meta(layer).get("prediction"))
        self.layers[layer_id] = layer
        self._dirty[layer_id] = set()
        self._staged_seen[layer_id] = 0
        if not isinstance(layer.metadata.get(KEY), dict):
            layer.metadata[KEY] = {}
        layer.metadata[KEY]["session"] = {"folder": str(self.session.folder), "layer": layer_id}
        self._hook(layer_id, layer)
        return layer_id

    def _hook(self, lid: str, layer: Labels) -> None:
        on_paint, on_data = partial(self._on_paint, lid), partial(self._on_data, lid)
        layer.events.paint.connect(on_paint)
        layer.events.data.connect(on_data)
        original_load, original_abort = layer._load_history, layer._abort_stroke

        def load_history(before, after, undoing=True):
            original_load(before, after, undoing)
            if after:
                self._mark(lid, after[-1])

        def abort_stroke():
            staged = list(getattr(layer, "_staged_history", ()))
            original_abort()
            self._mark(lid, staged)

        layer._load_history = load_history  # undo and redo go through it
        layer._abort_stroke = abort_stroke
        self._hooks[lid] = [on_paint, on_data]

    def _unhook(self, lid: str) -> None:
        layer = self.layers.get(lid)
        hooks = self._hooks.pop(lid, None)
        if layer is None or hooks is None:
            return
        layer.events.paint.disconnect(hooks[0])
        layer.events.data.disconnect(hooks[1])
        for name in ("_load_history", "_abort_stroke"):
            layer.__dict__.pop(name, None)

    # ------------------------------------------------------------ events

    def _geometry(self, lid: str) -> tuple[tuple, tuple] | None:
        return None if lid in self._full else self._geom.get(lid)

    def _record(self, lid: str) -> dict | None:
        return next((d for d in self.session.doc["layers"] if d["id"] == lid), None)

    def _mark(self, lid: str, atoms: Any) -> None:
        geom = self._geometry(lid)
        if geom is None:
            return  # saved whole at the next flush anyway
        dirty = self._dirty[lid]
        for atom in atoms:
            dirty |= keys_of_atom(atom, *geom)

    def _on_paint(self, lid: str, event: Any) -> None:
        self._mark(lid, event.value)
        self._staged_seen[lid] = 0
        self._unsaved += 1

    def _on_data(self, lid: str, event: Any) -> None:
        self._full.add(lid)

    def _on_inserted(self, event: Any) -> None:
        layer = event.value
        if not isinstance(layer, Labels) or self.layer_id(layer) is not None:
            return
        copy = self._is_copy(layer)
        if copy or is_session_layer(layer):
            lid = self.add_layer(layer)  # a new record: never one bound to another layer
            if copy:
                show_info(f"{layer.name!r} carries the session id of another layer; it is "
                          f"saved in the session {self.session.folder} as a new layer "
                          f"({lid}), next to the original.")

    def _is_copy(self, layer: Labels) -> bool:
        """True when ``layer`` carries the id of a record of this session (a stale id).

        The id is dropped so that nothing binds ``layer`` to that record again.
        """
        bound = meta(layer).get("session")
        if not isinstance(bound, dict) or not _same_folder(bound.get("folder"),
                                                           self.session.folder):
            return False
        del layer.metadata[KEY]["session"]
        return self._record(str(bound.get("layer", ""))) is not None

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
        self._removed[lid] = layer.name
        QTimer.singleShot(0, self._mark_removed)

    def _mark_removed(self) -> None:
        if not self.attached or not self._removed:
            return
        for lid, name in self._removed.items():
            show_info(f"{name!r} left the viewer; its edits are saved in the session "
                      f"{self.session.folder} (layer {lid}): 'segreview session export' "
                      "writes them out.")
        self._removed_flags |= set(self._removed)
        self._removed.clear()
        self.flush()

    # ------------------------------------------------------------ saving

    def track_image(self, layer: Image | None) -> None:
        """Record ``layer``'s contrast limits, colormap and units with each autosave."""
        self.image_layer = layer
        self._image_sent = None if layer is None else image_display(layer)

    def _image_changes(self) -> dict | None:
        layer = self.image_layer
        if layer is None or layer not in self.viewer.layers:
            return None
        display = image_display(layer)
        if display == self._image_sent:
            return None
        self._image_sent = display
        return display

    def save_state(self, name: str, value: dict) -> None:
        """Store a JSON blob (QA state...) with the next autosave."""
        json.dumps(value)
        self._states[name] = value

    def _collect(self) -> Changes:
        changes = Changes(states=dict(self._states), image=self._image_changes())
        self._states.clear()
        for lid in self._removed_flags:
            changes.layers[lid] = LayerUpdate(removed=True)
        self._removed_flags = set()
        for lid, layer in list(self.layers.items()):
            staged = getattr(layer, "_staged_history", None)
            if isinstance(staged, list) and len(staged) > self._staged_seen[lid]:
                self._mark(lid, staged[self._staged_seen[lid]:])  # a stroke in progress
                self._staged_seen[lid] = len(staged)
            info = layer_info(layer)
            m = meta(layer)
            pred = m.get("prediction")
            new_pred = pred if id(pred) != self._pred.get(lid) and pred is not None else None
            if lid in self._full:
                update = full_update(np.asarray(layer.data), **info)
                update.prediction = None if pred is None else np.asarray(pred)
                self._geom[lid] = (tuple(update.info["chunk_shape"]),
                                   tuple(update.info["shape"]))
            else:
                chunk_shape, shape = self._geom[lid]
                chunks = {k: np.array(layer.data[chunk_slices(k, chunk_shape, shape)])
                          for k in self._dirty[lid]}
                same = info == self._sent.get(lid)
                if not chunks and same and new_pred is None:
                    continue
                update = LayerUpdate(info={} if same else info, chunks=chunks,
                                     prediction=None if new_pred is None
                                     else np.asarray(new_pred))
            self._dirty[lid] = set()
            self._sent[lid] = info
            self._pred[lid] = id(pred)
            changes.layers[lid] = update
        return changes

    def flush(self) -> Future | None:
        """Start an autosave now if anything changed and none is running (never blocks)."""
        if self.saving:
            return None
        changes = self._collect()
        if not changes.layers and not changes.states and changes.image is None:
            return None
        self._inflight, self._unsaved = self._unsaved, 0
        self._inflight_changes = changes
        self._full -= set(changes.layers)
        self._future = self._executor.submit(self.session.commit, changes)
        self._future.add_done_callback(self._finished.emit)
        return self._future

    def _on_finished(self, future: Future) -> None:
        if future is not self._future:  # the image copy of a new session
            if future.exception() is not None:
                self.last_error = str(future.exception())
                self.failed.emit(self.last_error)
            return
        if self._inflight_changes is None:
            return
        changes, self._inflight_changes = self._inflight_changes, None
        error = future.exception()
        if error is None:
            self._inflight = 0
            self.last_saved = time.monotonic()
            self.last_error = None
            self.saved.emit(future.result())
            return
        # keep everything that was not saved for the next try
        self._unsaved += self._inflight
        self._inflight = 0
        for lid, update in changes.layers.items():
            if update.removed:
                self._removed_flags.add(lid)
            if update.full:
                self._full.add(lid)
            elif lid in self._dirty:
                self._dirty[lid] |= set(update.chunks)
                self._sent.pop(lid, None)
                self._pred.pop(lid, None)
        for name, value in changes.states.items():
            self._states.setdefault(name, value)
        if changes.image is not None:
            self._image_sent = None  # sent again next time
        first = self.last_error != str(error)
        self.last_error = str(error)
        if first:  # say it once, not at every retry
            self.failed.emit(self.last_error)

    def flush_sync(self, timeout: float | None = 120) -> tuple[bool, str]:
        """Flush everything now and wait; return ``(ok, error sentence)``."""
        for _ in range(2):  # a running commit first, then what it did not hold
            self._wait(timeout)
            self.flush()
        self._wait(timeout)
        ok = self.unsaved_edits == 0 and not self._dirty_left() and self.last_error is None
        return ok, self.last_error or ("" if ok else "edits are still waiting to be saved")

    def _wait(self, timeout: float | None) -> None:
        """Wait (at most ``timeout`` s) for the running commit and take its outcome if done."""
        if self._future is None:
            return
        with contextlib.suppress(Exception):  # its error is read by _on_finished
            self._future.result(timeout)
        if self._future.done():  # a commit still running after the timeout stays pending
            self._on_finished(self._future)

    def _dirty_left(self) -> bool:
        return bool(self._full or self._states or self._removed_flags
                    or any(self._dirty.values()))

    # ------------------------------------------------------------ closing

    def on_window_close(self) -> bool:
        """Flush before the window closes; ask only if that fails. False cancels the close."""
        ok, message = self.flush_sync()
        while not ok:
            choice = ask_unsaved(_main_window(self.viewer),
                                 f"The review session {self.session.folder} could not be "
                                 f"saved ({message}). Save again, discard the unsaved edits, "
                                 "or cancel closing?")
            if choice == "cancel":
                return False
            if choice == "discard":
                break
            ok, message = self.flush_sync()
        self.detach(close_session=True)
        return True

    def detach(self, close_session: bool = True) -> None:
        """Stop autosaving (after a final flush by the caller) and release the viewer."""
        self.attached = False
        self.timer.stop()
        for lid in list(self._hooks):
            self._unhook(lid)
        for event, handler in ((self.viewer.layers.events.inserted, self._on_inserted),
                               (self.viewer.layers.events.removed, self._on_removed)):
            event.disconnect(handler)
        if self._guard is not None:
            qt_window = _main_window(self.viewer)
            if qt_window is not None:
                qt_window.removeEventFilter(self._guard)
            self._guard = None
        self._executor.shutdown(wait=True)
        if close_session:
            try:
                self.session.close()
            except Exception as exc:
                show_warning(f"could not mark the session {self.session.folder} closed: {exc}")
        if _CONTROLLERS.get(self.viewer) is self:
            del _CONTROLLERS[self.viewer]
