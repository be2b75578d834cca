"""Dock widget: fine-tune the model on corrected cases, compare held-out Dice, adopt or not.

The widget is thin: its form (:mod:`.form`) says what to train and becomes the
arguments of ``segreview train``, which runs in a process of its own
(:mod:`.runner`, so napari stays responsive and a crash stays there); its JSON
events draw the live plot (:mod:`.plot`) and, at the end, the table of Dice
before -> after (:mod:`.results`). **Use this model** switches the Predict
panel to the chosen model (:mod:`.link`), **Re-predict** runs it on the Predict
panel's image. When held-out Dice got worse the panel says so in red and
preselects the base model, not the new one.

Driving it from a script (the fields are public attributes)::

    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Fine-tune")
    w.source.setText("export/")               # the held-out list fills from it
    w.set_held_out(["case_3"]); w.steps.setValue(50)
    w.run_finished.connect(print)             # "done", "cancelled" or "error"
    w.start()                                 # returns at once; w.cancel() stops it
    w.results.rows(); w.adopt.currentData()   # after "done"
    w.use_model(); w.repredict()
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.qt.threading import create_worker
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QApplication, QComboBox, QLabel, QProgressBar, QPushButton

from napari_segreview._napari._panel import failure_text, scroll_panel, show_failure
from napari_segreview._napari.finetune.form import FinetuneForm, row
from napari_segreview._napari.finetune.link import (
    dataset_exporter,
    done_export_folder,
    is_dataset_folder,
    use_model,
)
from napari_segreview._napari.finetune.plot import ProgressPlot
from napari_segreview._napari.finetune.results import ResultsTable, verdict
from napari_segreview._napari.finetune.runner import TrainProcess
from napari_segreview.errors import FormatError

if TYPE_CHECKING:
    import napari

__all__ = ["FinetuneWidget"]


class FinetuneWidget(FinetuneForm):
    """Fine-tune a model in a separate process; show loss, Dice before -> after; adopt."""

    #: Emitted when a run ends: ``"done"``, ``"cancelled"`` or ``"error"``.
    run_finished = Signal(str)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer)
        self.setObjectName("segreview_finetune")
        self.process = TrainProcess(self)
        self.result: dict[str, Any] | None = None
        self.base: tuple[str, str | None, str | None] | None = None
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.plot = ProgressPlot()
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        self.results = ResultsTable()
        self.adopt = QComboBox()
        self.adopt.setToolTip("The model Use this model and Re-predict give the Predict panel.")
        self.use_button = QPushButton("Use this model")
        self.repredict_button = QPushButton("Re-predict")
        for button in (self.use_button, self.repredict_button):
            button.setEnabled(False)
        layout = scroll_panel(self)
        layout.addLayout(self.form)
        layout.addLayout(row(self.start_button, self.cancel_button))
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot)
        layout.addWidget(self.verdict)
        layout.addWidget(self.results)
        layout.addLayout(row(QLabel("Model to use"), self.adopt))
        layout.addLayout(row(self.use_button, self.repredict_button))
        layout.addStretch()
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button.clicked.connect(self.use_model)
        self.repredict_button.clicked.connect(self.repredict)
        self.process.received.connect(self._on_event)
        self.process.ended.connect(self._on_ended)
        app = QApplication.instance()
        if app is not None:  # never leave a training process behind when napari quits
            app.aboutToQuit.connect(self.process.shutdown)

    @property
    def running(self) -> bool:
        """Whether a training process is running now."""
        return self.process.running

    # -- running --------------------------------------------------------------------------
    def start(self) -> None:
        """Start ``segreview train`` in its own process; returns at once (see run_finished)."""
        if self.running:
            show_info("A fine-tune is already running: wait for it or press Cancel.")
            return
        source = Path(self.source.text().strip()).expanduser()
        if self.source.text().strip() and is_dataset_folder(source):
            self._export_dataset(source)
            return
        try:
            args = self.arguments()
        except FormatError as exc:
            show_failure(self.status, str(exc))
            self.run_finished.emit("error")
            return
        self.base = (self.model_path.text().strip(), self.card_path.text().strip() or None,
                     self.factory.text().strip() or None)
        self.result = None
        self.plot.clear()
        self.results.clear_rows()
        self.verdict.setText("")
        self.adopt.clear()
        for button in (self.use_button, self.repredict_button):
            button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.status.setText(f"Starting the fine-tune of {Path(self.base[0]).name}...")
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.process.start(args)

    def _export_dataset(self, dataset: Path) -> None:
        """Export the dataset's done cases (in a worker), then train on that export."""
        exporter = dataset_exporter()
        if exporter is None:
            show_failure(self.status, "this version cannot export a dataset's done cases from "
                         "here; export them with segreview export and choose that folder.")
            self.run_finished.emit("error")
            return
        out = done_export_folder(dataset)
        try:  # the export writes into an existing parent folder only
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            show_failure(self.status, f"cannot create {out.parent} ({exc.strerror or exc}); "
                         "export the done cases with segreview export and choose that folder.")
            self.run_finished.emit("error")
            return
        self.start_button.setEnabled(False)
        self.status.setText(f"Exporting the done cases of {dataset.name} to {out}...")

        def exported(result: Any) -> None:
            self.start_button.setEnabled(True)
            self.source.setText(str(result or out))
            self.start()

        def failed(exc: BaseException) -> None:
            self.start_button.setEnabled(True)
            show_failure(self.status, failure_text(exc, "export of the done cases",
                                                   "nothing was trained"))
            self.run_finished.emit("error")

        create_worker(exporter, dataset, out,
                      _connect={"returned": exported, "errored": failed})

    def cancel(self) -> None:
        """End the training process; nothing is written, the base model stays."""
        if self.running:
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling the fine-tune...")
            self.process.cancel()

    def shutdown(self, msecs: int = 5000) -> None:
        """Cancel a running fine-tune and wait (at most ``msecs``) for its process to end."""
        self.process.shutdown(msecs)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            steps = int(event.get("steps") or 0)
            self.progress.setRange(0, max(steps, 1))
            held = ", ".join(event.get("held_out") or []) or "none"
            self.status.setText(f"Training on {len(event.get('cases') or [])} cases "
                                f"({event.get('device', '?')}); held out: {held}.")
        elif kind == "step":
            self.progress.setRange(0, max(int(event.get("steps") or 0), 1))
            self.progress.setValue(int(event["step"]))
            loss = event.get("loss")
            loss = f"{loss:.4f}" if isinstance(loss, (int, float)) else "undefined"
            self.status.setText(f"Step {event['step']} of {event.get('steps', '?')}: loss "
                                f"{loss} ({event.get('elapsed_s') or 0:.0f} s).")
        elif kind == "warning":
            show_warning(str(event.get("message", "")))
        if kind in ("step", "eval"):
            self.plot.add(event)

    def _on_ended(self, outcome: str, message: str) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if outcome == "done" else 0)
        if outcome == "done":
            try:
                self._show_done(self.process.last("done"))
            except Exception as exc:  # a done line this panel cannot read: say so, stay up
                outcome = "error"
                show_failure(self.status, failure_text(
                    exc, "reading of the trainer's result", "see the training.json beside "
                    "the new model"))
        elif outcome == "cancelled":
            self.status.setText(message)
            show_info(message)
        else:
            show_failure(self.status, message)
        self.run_finished.emit(outcome)

    def _show_done(self, done: dict[str, Any]) -> None:
        self.result = done
        self.results.show_done(done)
        worse, sentence = verdict(done)
        self.verdict.setText(sentence)
        self.verdict.setStyleSheet("color: #ff6b6b; font-weight: bold;" if worse else "")
        model, base = str(done["model"]), self.base
        self.adopt.clear()
        self.adopt.addItem(f"new: {Path(model).name}", (model, done.get("card"), base[2]))
        self.adopt.addItem(f"base: {Path(base[0]).name}", base)
        self.adopt.setCurrentIndex(0 if worse is False else 1)  # the base unless better
        for button in (self.use_button, self.repredict_button):
            button.setEnabled(True)
        minutes = done.get("minutes")
        took = f" in {minutes:.1f} min" if isinstance(minutes, (int, float)) else ""
        self.status.setText(f"Wrote {model}{took} ({done.get('steps_run', '?')} steps, best "
                            f"at step {done.get('best_step', '?')}).")
        if worse:
            show_warning(sentence)

    # -- adopting -------------------------------------------------------------------------
    def use_model(self) -> Any:
        """Switch the Predict panel to the model chosen in ``adopt``; returns the panel."""
        choice = self.adopt.currentData()
        if choice is None:
            show_info("Run a fine-tune first: there is no new model to use yet.")
            return None
        model, card, factory = choice
        panel = use_model(self.viewer, model, card=card, factory=factory)
        self.status.setText(f"The Predict panel now uses {Path(model).name}.")
        return panel

    def repredict(self) -> Any:
        """Use the chosen model in the Predict panel and run it on its image; returns the panel."""
        panel = self.use_model()
        if panel is not None:
            panel.run()
        return panel
