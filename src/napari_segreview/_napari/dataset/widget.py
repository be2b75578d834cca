"""Dock widget: review a dataset case by case, most uncertain first.

The panel is thin: the queue (order, Next/Previous, Mark done with its Dice,
Skip) is :mod:`napari_segreview.dataset.queue`; reading a case is
:func:`.loading.load_case` (in a worker; the next case is prefetched the same
way so Next is instant); the case in the viewer and its review session are
:class:`.caseview.OpenCase`; the table is :class:`.table.CaseTable`;
predicting and exporting the dataset is :class:`.runbox.RunBox`.

Driving it from a script (the fields are public attributes)::

    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Dataset")
    w.open_dataset("study/")      # or File > Open Folder on the dataset folder
    w.case_opened.connect(print)  # the case id, once its layers are in
    w.next()                      # Alt-N; w.previous() Alt-P
    w.mark_done()                 # Alt-D; w.skip("motion artefacts")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from napari.qt.threading import create_worker
from napari.utils.notifications import show_info
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QApplication, QFileDialog

from napari_segreview._napari._panel import failure_text, show_failure
from napari_segreview._napari.dataset.caseview import OpenCase
from napari_segreview._napari.dataset.form import KEYS, DatasetForm
from napari_segreview._napari.dataset.loading import load_case
from napari_segreview.dataset import queue
from napari_segreview.dataset.manifest import Manifest
from napari_segreview.errors import FormatError, ReadError, SessionError

if TYPE_CHECKING:
    import napari

__all__ = ["DatasetWidget"]

#: What a case fails to open with: shown as one sentence, nothing is left half-added.
OPEN_ERRORS = (FormatError, ReadError, SessionError, OSError)


class DatasetWidget(DatasetForm):
    """The Dataset panel: a table of cases, the review queue, predict and export."""

    #: A case's layers are in the viewer and its session autosaves (the case id).
    case_opened = Signal(str)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.manifest: Manifest | None = None
        self.open_case = OpenCase(napari_viewer)
        self.loading: str | None = None
        self._prefetched: dict[str, Any] = {}
        self._prefetching: str | None = None   # the case a prefetch worker reads now
        self._workers: list[Any] = []
        self._note = ""   # what the last Mark done / Skip said, shown before the next case
        self.build()
        self.browse.clicked.connect(self._browse)
        self.folder.returnPressed.connect(lambda: self.open_dataset(self.folder.text()))
        self.status_filter.currentTextChanged.connect(self._filter)
        self.table.activated_case.connect(self.open)
        self.prev_button.clicked.connect(self.previous)
        self.next_button.clicked.connect(self.next)
        self.done_button.clicked.connect(self.mark_done)
        self.skip_button.clicked.connect(lambda: self.skip(self.reason.text()))
        self.runbox.dataset_changed.connect(self._on_dataset_changed)
        for name, key in KEYS.items():
            napari_viewer.bind_key(key, self._key(name), overwrite=True)
        self._enable()
        app = QApplication.instance()
        if app is not None:  # a worker still running when Python exits aborts it
            app.aboutToQuit.connect(self.shutdown)

    @property
    def prefetched(self) -> list[str]:
        """The cases read ahead, ready to show at once (at most one: the one Next opens)."""
        return list(self._prefetched)

    def _key(self, name: str) -> Any:
        def handler(_viewer: Any) -> None:
            getattr(self, name)()
        handler.__doc__ = f"SegReview dataset: {name.replace('_', ' ')}"
        return handler

    # -- the dataset ----------------------------------------------------------------------
    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Dataset folder")
        if path:
            self.open_dataset(path)

    def open_dataset(self, folder: Any) -> bool:
        """Show the dataset in ``folder`` (its cases; nothing is opened yet)."""
        try:
            manifest = Manifest.open(str(folder).strip())
            if self.open_case.case_id is not None:
                self.open_case.close()
        except (FormatError, SessionError) as exc:
            show_failure(self.case_status, str(exc))
            return False
        self.manifest = manifest
        self._prefetched.clear()
        self.folder.setText(str(manifest.folder))
        self.runbox.set_dataset(manifest)
        self.refresh()
        return True

    def _on_dataset_changed(self, folder: str) -> None:
        from napari_segreview.dataset.manifest import is_dataset

        if self.manifest is None and is_dataset(folder):
            self.open_dataset(folder)
        elif self.manifest is not None:
            self.refresh()

    def refresh(self) -> None:
        """Read the manifest again and show it (counts, table)."""
        if self.manifest is None:
            return
        try:
            self.manifest.reload()
        except FormatError as exc:
            show_failure(self.case_status, str(exc))
            return
        self.counts.setText(queue.progress_line(self.manifest.cases))
        self.table.set_cases(self.manifest.cases, self.open_case.case_id)
        if self.open_case.case_id is None and self.loading is None:
            first = queue.next_case(self.manifest.cases, None, self._order())
            self.case_status.setText(self._note + (
                f"Press Next (or {KEYS['next']}) to open {first}." if first
                else "No case is waiting for review (predicted or in review)."))
        self._enable()

    def _filter(self, text: str) -> None:
        self.table.apply_filter(None if text == "every status" else text)

    def _order(self) -> list[str] | None:
        return self.table.order() if self.order.currentText() == "Table order" else None

    def _enable(self) -> None:
        has, is_open = self.manifest is not None, self.open_case.case_id is not None
        for w in (self.prev_button, self.next_button):
            w.setEnabled(has)
        for w in (self.done_button, self.skip_button):
            w.setEnabled(is_open)

    # -- moving through the queue -----------------------------------------------------------
    def next(self) -> Any:
        """Open the next case to review (most uncertain first, or the table's order)."""
        if self.manifest is None:
            return None
        target = queue.next_case(self.manifest.cases, self.open_case.case_id, self._order())
        if target is None:
            show_info(f"No case is left to review ({queue.progress_line(self.manifest.cases)}).")
            return None
        return self.open(target)

    def previous(self) -> Any:
        """Open the case before this one in the queue's order (done ones too)."""
        if self.manifest is None:
            return None
        target = queue.previous_case(self.manifest.cases, self.open_case.case_id,
                                     self._order())
        if target is None:
            show_info("This is the first case of the queue.")
            return None
        return self.open(target)

    def open(self, case_id: str) -> Any:
        """Close the open case (its session flushed first) and open ``case_id`` (in a worker)."""
        if self.manifest is None or self.loading is not None:
            return None
        if case_id == self.open_case.case_id:
            return None
        try:
            self.open_case.close()
            queue.start_review(self.manifest, case_id)
        except (FormatError, SessionError) as exc:
            show_failure(self.case_status, str(exc))
            self.refresh()
            return None
        self.refresh()
        self.loading = case_id
        self.case_status.setText(f"Opening {case_id} ...")
        if self._prefetching == case_id:
            self._prefetching = None        # read again below: opening it now wins
        loaded = self._prefetched.pop(case_id, None)
        if loaded is not None:
            self._show(loaded)
            return None
        worker = create_worker(load_case, self.manifest, case_id, _start_thread=False)
        worker.returned.connect(self._show)
        worker.errored.connect(lambda exc: self._open_failed(case_id, exc))
        self._start(worker)
        return worker

    def _start(self, worker: Any) -> None:
        self._workers.append(worker)
        worker.finished.connect(lambda: self._workers.remove(worker)
                                if worker in self._workers else None)
        worker.start()

    def _open_failed(self, case_id: str, exc: BaseException) -> None:
        self.loading = None
        message = str(exc) if isinstance(exc, OPEN_ERRORS) else failure_text(
            exc, f"opening of case {case_id}", "no layer was added")
        show_failure(self.case_status, message)
        self._enable()

    def _show(self, loaded: Any) -> None:
        self.loading = None
        try:
            self.open_case.show(loaded)
        except Exception as exc:  # never crash napari: one sentence, nothing half-added
            self._open_failed(loaded.case_id, exc)
            return
        case = self.manifest.case(loaded.case_id)
        what = "restored from its session" if loaded.restored else "from its prediction"
        u = "-" if case.uncertainty is None else f"{case.uncertainty:.3f}"
        note, self._note = self._note, ""
        self.case_status.setText(f"{note}{case.id} ({case.status}, uncertainty {u}): layers "
                                 f"{what}; autosave is on.")
        self.table.select(case.id)
        self._enable()
        self.case_opened.emit(case.id)
        self._prefetch()

    def _prefetch(self) -> None:
        """Read the case Next would open, in a worker, so that Next is instant."""
        nxt = queue.next_case(self.manifest.cases, self.open_case.case_id, self._order())
        if nxt is None or nxt in self._prefetched or nxt == self.open_case.case_id:
            return
        self._prefetched.clear()   # memory: one case open, one prefetched
        self._prefetching = nxt
        worker = create_worker(load_case, self.manifest, nxt, _start_thread=False)
        worker.returned.connect(self._prefetch_done)
        worker.errored.connect(lambda _exc: None)   # opening it will say why
        self._start(worker)

    def _prefetch_done(self, loaded: Any) -> None:
        # kept only while still wanted: a case opened meanwhile is read afresh
        if loaded.case_id == self._prefetching and loaded.case_id != self.open_case.case_id:
            self._prefetched = {loaded.case_id: loaded}
        self._prefetching = None

    # -- recording the review -------------------------------------------------------------
    def mark_done(self) -> None:
        """Save the open case, record it done with its Dice against the prediction."""
        cid = self.open_case.case_id
        if self.manifest is None or cid is None:
            return
        try:
            ok, message = self.open_case.flush()
            if not ok:
                raise SessionError(f"could not save the edits of {cid} ({message}); it is "
                                   "not marked done.")
            case = queue.mark_done(self.manifest, cid)
        except Exception as exc:
            show_failure(self.case_status, failure_text(exc, "Mark done", "the case is "
                                                        "unchanged"))
            return
        dice = ", ".join(f"{k} {v:.3f}" for k, v in (case.dice or {}).items())
        self._note = f"{cid} is done (Dice against the prediction: {dice}). "
        self.case_status.setText(self._note)
        self._prefetched.pop(cid, None)
        self.refresh()
        if self.advance.isChecked():
            self.next()

    def skip(self, reason: str = "") -> None:
        """Record the open case skipped with ``reason`` (the reason field's text)."""
        cid = self.open_case.case_id
        if self.manifest is None or cid is None:
            return
        try:
            queue.skip(self.manifest, cid, reason)
        except FormatError as exc:
            show_failure(self.case_status, str(exc))
            return
        self.reason.clear()
        self._note = f"{cid} is skipped ({' '.join(reason.split())}). "
        self.case_status.setText(self._note)
        self.refresh()
        if self.advance.isChecked():
            self.next()

    def shutdown(self, msecs: int = 10_000) -> None:
        """Cancel a running job and wait (at most ``msecs``) for this panel's workers."""
        from napari.qt.threading import WorkerBase

        self.runbox.job.cancel()
        WorkerBase.await_workers(msecs)
