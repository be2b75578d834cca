"""The Dataset panel's long jobs, off the GUI thread: predict the dataset, export done cases.

:class:`DatasetJob` runs one job at a time in a napari worker with a progress
bar in napari's activity dock: :func:`napari_segreview.dataset.engine.
predict_dataset` (the same call as ``segreview dataset predict``; Cancel sets
its ``cancel`` event, finished cases are kept) or :func:`napari_segreview.
dataset.export.export_done` (``segreview dataset export``). The engine is
Dask's: it starts a LocalCluster of worker processes and never makes its
client napari's default (``set_as_default=False``), so napari's own dask
arrays stay in this process.
"""

from __future__ import annotations

import threading
from typing import Any

from napari.qt.threading import create_worker
from napari.utils import progress
from qtpy.QtCore import QObject, Signal

from napari_segreview._napari._panel import failure_text
from napari_segreview.errors import Cancelled

__all__ = ["DatasetJob", "run_export", "run_predict"]


def run_predict(sources: list[str], out: str, model: str, card: Any = None, *,
                cancel: threading.Event, progress: Any, **options: Any) -> Any:
    """``predict_dataset`` of the engine (imported here, in the worker)."""
    from napari_segreview.dataset.engine import predict_dataset

    return predict_dataset(sources, out, model, card, progress=progress, cancel=cancel,
                           **options)


def run_export(dataset: str, out: str, *, fmt: str = "tif", **options: Any) -> Any:
    """``export_done`` of the dataset's done cases (imported here, in the worker)."""
    from napari_segreview.dataset.export import export_done

    return export_done(dataset, out, fmt=fmt, **options)


class DatasetJob(QObject):
    """One job at a time; its progress reaches the GUI thread as signals."""

    #: ``(done + failed, total, line)`` for the panel's progress bar and status line.
    progressed = Signal(int, int, str)
    #: The job's result (a RunResult, the export folder).
    returned = Signal(object)
    #: One sentence: the job failed or was cancelled.
    failed = Signal(str)
    #: The worker has ended.
    finished = Signal()
    _tick = Signal(object)          # emitted on the worker thread

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.worker: Any = None
        self.what = ""
        self.cancel_event = threading.Event()
        self._pbar: Any = None
        self._tick.connect(self._on_tick)

    @property
    def running(self) -> bool:
        """Whether a job runs now."""
        return self.worker is not None

    def start(self, fn: Any, *args: Any, what: str, **kwargs: Any) -> None:
        """Run ``fn(*args, **kwargs)`` in a worker; ``what`` names it in sentences."""
        self.what = what
        self.cancel_event = threading.Event()
        self._pbar = progress(total=0, desc=what)
        if fn is run_predict:
            kwargs = {**kwargs, "cancel": self.cancel_event, "progress": self._tick.emit}
        self.worker = create_worker(
            fn, *args, **kwargs, _start_thread=False,
            _connect={"returned": self.returned.emit, "errored": self._on_errored,
                      "finished": self._on_finished})
        self.worker.start()

    def cancel(self) -> None:
        """Ask the job to stop (the prediction stops after the cases running now)."""
        self.cancel_event.set()

    def _on_tick(self, p: Any) -> None:
        done, failed = int(getattr(p, "done", 0)), int(getattr(p, "failed", 0))
        total = int(getattr(p, "total", 0))
        eta = getattr(p, "eta_s", None)
        line = (f"{done} predicted, {failed} failed, {getattr(p, 'remaining', 0)} to go"
                + (f", about {eta:.0f} s left" if eta else "")
                + (f" (last: {p.last_case})" if getattr(p, "last_case", None) else ""))
        if self._pbar is not None:
            if self._pbar.total != total:
                self._pbar.total = total
            self._pbar.update(done + failed - self._pbar.n)
        self.progressed.emit(done + failed, total, line)

    def _on_errored(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self.failed.emit(f"{self.what} cancelled: the cases finished so far are kept; run "
                             "it again to do the rest.")
            return
        self.failed.emit(failure_text(exc, self.what.lower(), "the cases finished are kept"))

    def _on_finished(self) -> None:
        self.worker = None
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        self.finished.emit()
