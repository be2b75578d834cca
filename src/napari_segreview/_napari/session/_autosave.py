"""The autosave worker: a timer on the main thread and one writer thread per session.

Every ``interval_s`` seconds :meth:`Autosave.flush` collects what the
:class:`~._dirty.DirtyTracker` holds (cheap copies, on the main thread) and
hands it to a single worker thread that writes it and commits
``session.json`` (:meth:`Session.commit`). At most one commit runs at a time;
its outcome comes back to the main thread through a queued Qt signal. The main
thread never waits on the disk, except in :meth:`Autosave.flush_sync` (a layer
removed, the window closing).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from qtpy.QtCore import QObject, QTimer, Signal

from napari_segreview._napari.session._dirty import DirtyTracker
from napari_segreview.session.session import Changes, Session

#: Seconds between autosaves unless the user or the caller chooses otherwise.
DEFAULT_INTERVAL_S = 2.0


class Autosave(QObject):
    """Commit ``tracker``'s changes into ``session`` from one worker thread, on a timer.

    Signals: ``saved(int)`` after each commit (its generation), ``failed(str)``
    with the error sentence (once per distinct error, not at every retry).
    """

    saved = Signal(int)
    failed = Signal(str)
    _finished = Signal(object)

    def __init__(self, session: Session, tracker: DirtyTracker, *,
                 interval_s: float = DEFAULT_INTERVAL_S):
        super().__init__()
        self.session = session
        self.tracker = tracker
        self.last_saved: float | None = None  # time.monotonic() of the last commit
        self.last_error: str | None = None
        self._future: Future | None = None
        self._changes: Changes | None = None  # what the running commit holds
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="segreview-autosave")
        self._finished.connect(self._on_finished)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.flush)
        self.interval_s = interval_s
        self.timer.start()

    @property
    def interval_s(self) -> float:
        """Seconds between autosaves."""
        return self.timer.interval() / 1000

    @interval_s.setter
    def interval_s(self, value: float) -> None:
        self.timer.setInterval(max(50, int(value * 1000)))

    @property
    def saving(self) -> bool:
        """True while a commit runs in the worker thread."""
        return self._future is not None and not self._future.done()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` in the writer thread, in turn with the commits.

        Its error, if any, is reported like a failed commit (``last_error``,
        ``failed``); nothing is retried.
        """
        job = self._executor.submit(fn, *args)
        job.add_done_callback(self._finished.emit)
        return job

    def flush(self) -> Future | None:
        """Start a commit now if anything changed and none is running (never blocks)."""
        if self.saving:
            return None
        changes = self.tracker.collect()
        if not changes.layers and not changes.states and changes.image is None:
            return None
        self.tracker.sending(changes)
        self._changes = changes
        self._future = self._executor.submit(self.session.commit, changes)
        self._future.add_done_callback(self._finished.emit)
        return self._future

    def _on_finished(self, future: Future) -> None:
        if future is not self._future:  # a job from submit (the image copy of a new session)
            if future.exception() is not None:
                self.last_error = str(future.exception())
                self.failed.emit(self.last_error)
            return
        if self._changes is None:
            return
        changes, self._changes = self._changes, None
        error = future.exception()
        if error is None:
            self.tracker.saved()
            self.last_saved = time.monotonic()
            self.last_error = None
            self.saved.emit(future.result())
            return
        self.tracker.requeue(changes)
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
        ok = self.tracker.count == 0 and not self.tracker.left() and self.last_error is None
        return ok, self.last_error or ("" if ok else "edits are still waiting to be saved")

    def _wait(self, timeout: float | None) -> None:
        """Wait (at most ``timeout`` s) for the running commit and take its outcome if done."""
        if self._future is None:
            return
        with contextlib.suppress(Exception):  # its error is read by _on_finished
            self._future.result(timeout)
        if self._future.done():  # a commit still running after the timeout stays pending
            self._on_finished(self._future)

    def shutdown(self) -> None:
        """Stop the timer and wait for the writer thread to finish what it holds."""
        self.timer.stop()
        self._executor.shutdown(wait=True)
