"""The Predict panel's prediction job: the model runs off the GUI thread, with progress.

:class:`PredictionJob` runs :func:`~.run.run_model` (the same ``load_model`` and
``predict`` as ``segreview predict``) in a napari worker, so torch is imported
there and never on the GUI thread. It carries predict's progress callback from
the worker thread to the GUI thread (and to a progress bar in napari's activity
dock), stops the model between batches on :meth:`cancel`, and says how a run
ended in one sentence. The panel adds the layers once it has returned.
"""

from __future__ import annotations

import threading
from typing import Any

from napari.qt.threading import create_worker
from napari.utils import progress
from qtpy.QtCore import QObject, Signal

from napari_segreview._napari.predict.run import error_message, run_model
from napari_segreview.errors import Cancelled
from napari_segreview.inference.words import progress_unit

__all__ = ["PredictionJob"]


class PredictionJob(QObject):
    """One prediction at a time; :attr:`record` says what runs and how far it got.

    ``record`` is the dict given to :meth:`start`, kept up to date with
    ``done`` and ``total`` and their ``unit`` (``"slices"`` for a 2-D card,
    ``"tiles"`` for a 3-D one, as predict counts them); it needs
    ``image_name`` and ``card_name`` for the sentences.
    """

    #: Slices (2-D card) or tiles (3-D card) done and their total, on the GUI thread.
    progressed = Signal(int, int)
    #: The :class:`~napari_segreview.inference.predict.Prediction`.
    returned = Signal(object)
    #: A sentence: the run failed (nothing was added).
    failed = Signal(str)
    #: A sentence: the run was cancelled (nothing was added).
    cancelled = Signal(str)
    #: The worker has ended (after returned, failed or cancelled).
    finished = Signal()
    _tick = Signal(int, int)        # emitted on the worker thread, received on the GUI thread

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.worker: Any = None
        self.record: dict[str, Any] = {}
        self._cancel = threading.Event()
        self._pbar: Any = None
        self._tick.connect(self._on_tick)

    @property
    def running(self) -> bool:
        """Whether the model is running now."""
        return self.worker is not None

    def start(self, image: Any, model: str, card: Any, *, record: dict[str, Any],
              **options: Any) -> None:
        """Run the model on ``image`` in a worker; returns at once.

        ``options`` are :func:`~.run.run_model`'s (``factory``, ``device``,
        ``batch_size``, ``probabilities``).
        """
        self.record = record
        record.update(done=0, total=0, unit=progress_unit(card))
        self._cancel = threading.Event()
        self._pbar = progress(total=0, desc=f"Predicting {record['image_name']} "
                                            f"({record['unit']})")
        self.worker = create_worker(
            run_model, image, model, card, progress=self._tick.emit, cancel=self._cancel,
            **options, _start_thread=False,
            _connect={"returned": self.returned.emit, "errored": self._on_errored,
                      "finished": self._on_finished})
        self.worker.start()

    def cancel(self) -> None:
        """Stop the model before its next batch (it raises Cancelled in the worker)."""
        self._cancel.set()

    def _on_tick(self, done: int, total: int) -> None:
        self.record.update(done=done, total=total)
        if self._pbar is not None:
            if self._pbar.total != total:
                self._pbar.total = total
            self._pbar.update(done - self._pbar.n)
        self.progressed.emit(done, total)

    def _on_errored(self, exc: BaseException) -> None:
        rec = self.record
        if isinstance(exc, Cancelled):
            done, total = rec.get("done", 0), rec.get("total", 0)
            unit = rec.get("unit", "tiles")
            where = f" after {done} of {total} {unit}" if total else ""
            self.cancelled.emit(f"Prediction cancelled{where}: no layers were added.")
            return
        self.failed.emit(error_message(exc, rec.get("image_name", ""), rec.get("card_name", "")))

    def _on_finished(self) -> None:
        self.worker = None
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        self.finished.emit()
