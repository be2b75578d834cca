"""Dock widget: run a PyTorch segmentation model on an image layer, show what it decided.

The widget is thin: its form (:mod:`.form`, with the CT window of
:mod:`.window`) says what to run, a :class:`~.job.PredictionJob` runs it in a
napari ``thread_worker``, and the layers :mod:`.layers` makes are added one per
event-loop turn, replacing those of an earlier run of the same model on the
same image (:mod:`.rerun`). torch is imported only inside the worker (and when devices are
listed, the first time the widget is shown), never when napari starts or the
plugin loads.

Driving it from a script (the fields are public attributes)::

    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Predict")
    w.image.setCurrentText("CT phantom")     # or w.image_picker.value = layer
    w.model_path.setText("bone.pt")          # the card is found beside it
    w.set_device("cpu"); w.batch_size.setValue(4); w.set_probabilities("uint8")
    w.run_finished.connect(print)            # "done", "cancelled" or "error"
    w.run()                                  # returns at once; w.cancel() stops it
"""

from __future__ import annotations

import contextlib
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import QProgressBar, QPushButton

from napari_segreview._napari._meta import KEY, meta
from napari_segreview._napari._panel import scroll_panel
from napari_segreview._napari.predict.form import PredictForm, row
from napari_segreview._napari.predict.job import PredictionJob
from napari_segreview._napari.predict.layers import prediction_layers, run_id
from napari_segreview._napari.predict.rerun import plan_rerun, result_name
from napari_segreview._napari.predict.run import check_paths, error_message, model_input
from napari_segreview.card.spec import load_card
from napari_segreview.errors import FormatError

if TYPE_CHECKING:
    import napari

__all__ = ["PredictWidget"]

FIELDS = ("image", "model_path", "factory", "card_path", "device", "batch_size", "window",
          "center", "width_hu", "probabilities", "run_button", "cancel_button", "progress",
          "status")


class PredictWidget(PredictForm):
    """Run a model on an image layer; results become probability and Labels layers."""

    #: Emitted when a run ends: ``"done"``, ``"cancelled"`` or ``"error"``.
    run_finished = Signal(str)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer)
        self.setObjectName("segreview_predict")
        self.job = PredictionJob(self)
        self._job: dict[str, Any] = {}
        self._outcome = "error"
        self._steps: list = []
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        for name in FIELDS:
            getattr(self, name).setObjectName(f"segreview_predict_{name}")
        layout = scroll_panel(self)
        layout.addLayout(self.form)
        layout.addLayout(row(self.run_button, self.cancel_button))
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch()
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.job.progressed.connect(self._on_progress)
        self.job.returned.connect(self._on_returned)
        self.job.failed.connect(self._fail)
        self.job.cancelled.connect(self._on_cancelled)
        self.job.finished.connect(self._on_finished)
        self._shown: tuple | None = None  # (run id, layers added, image) the status reports
        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        from napari_segreview.data import demo_model_path

        try:
            self.model_path.setText(str(demo_model_path()))
        except FileNotFoundError as exc:
            self.status.setText(str(exc))

    @property
    def running(self) -> bool:
        """Whether a prediction is running now (the model, or adding its layers)."""
        return self.job.running or bool(self._steps)

    def shutdown(self, msecs: int = 10_000) -> None:
        """Cancel a running prediction and wait (at most ``msecs``) for this widget's workers."""
        self.job.cancel()
        super().shutdown(msecs)

    # -- running --------------------------------------------------------------------------
    def run(self) -> None:
        """Start a prediction in a worker thread; returns at once (see :attr:`run_finished`)."""
        if self.running:
            show_info("A prediction is already running: wait for it or press Cancel.")
            return
        try:
            layer = self.image_layer()
            model, card_text = self.model_path.text().strip(), self.card_path.text().strip()
            model = check_paths(model, card_text)  # absolute: one run id however it is typed
            card = load_card(card_text)
            data = layer.data[0] if layer.multiscale else layer.data
            image = model_input(data, layer.rgb, card, layer.name)
        except FormatError as exc:
            self._fail(str(exc))
            self.run_finished.emit("error")
            return
        self._job = {"image_name": layer.name, "model_path": model, "scale": layer.scale,
                     "translate": layer.translate, "card_name": Path(card_text).name,
                     "model_name": card.name,
                     "start": time.perf_counter()}
        self.progress.setRange(0, 0)
        self.status.setText(f"Loading {Path(model).name} and predicting {layer.name!r}...")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._outcome = "error"
        self.job.start(image, model, card, record=self._job,
                       factory=self.factory.text().strip() or None,
                       device=self.device.currentData(), batch_size=self.batch_size.value(),
                       probabilities=self.probabilities.currentData())

    def cancel(self) -> None:
        """Stop the running prediction before its next batch; no layers are added."""
        if self.running:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling after the current batch...")

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _on_cancelled(self, message: str) -> None:
        self.status.setText(message)
        show_info(message)
        self._outcome = "cancelled"

    def _on_returned(self, prediction: Any) -> None:
        """Queue the layer changes; they run one per event-loop turn so napari can redraw."""
        job = self._job
        try:
            for warning in prediction.warnings:
                show_warning(warning)
            tuples = prediction_layers(prediction, image_name=job["image_name"],
                                       model_path=job["model_path"], scale=job["scale"],
                                       translate=job["translate"])
        except Exception as exc:  # never crash napari: one sentence, viewer as it was
            self._fail(error_message(exc, job["image_name"], job["card_name"]))
            return
        plan = plan_rerun(self.viewer.layers, run_id(job["image_name"], job["model_path"]))
        self._steps = [partial(self._replace, plan)]  # one step: no edit slips in between
        self._steps += [partial(self._add_layer, *t) for t in tuples]
        seconds = time.perf_counter() - job["start"]
        msg = (f"Added {len(tuples)} layers for {job['image_name']!r} "
               f"({prediction.device}, {seconds:.1f} s). {plan.message}").strip()
        self._steps.append(partial(self._report, msg, plan.message,
                                   (run_id(job["image_name"], job["model_path"]), len(tuples),
                                    job["image_name"])))

    def _replace(self, plan: Any) -> None:
        for layer, new_name in plan.keep:
            layer.name = new_name
            layer.metadata = {**layer.metadata, KEY: {**meta(layer), "superseded": True}}
        for layer in plan.remove:
            self.viewer.layers.remove(layer)

    def _add_layer(self, data: Any, kwargs: dict, kind: str) -> None:
        job = self._job  # another model's (or image's) layer may have this name
        name = result_name(kwargs["name"], self.viewer.layers, image_name=job["image_name"],
                           model_path=job["model_path"], model_name=job["model_name"])
        kwargs = {**kwargs, "name": name}
        getattr(self.viewer, f"add_{kind}")(data, **kwargs)

    def _report(self, message: str, kept: str, shown: tuple) -> None:
        self.status.setText(message)
        self._shown = shown
        if kept:
            show_info(kept)
        self._outcome = "done"

    def _on_layer_removed(self, _event: Any = None) -> None:
        """Keep the status line true when the reported run's layers are deleted."""
        if self._shown is None or self.running:
            return
        run, added, image = self._shown
        left = sum(1 for layer in self.viewer.layers
                   if meta(layer).get("run") == run and not meta(layer).get("superseded"))
        if left >= added:
            return
        with contextlib.suppress(RuntimeError):  # the panel's label may be gone
            if left == 0:
                self._shown = None
                self.status.setText(f"The layers of the last run on {image!r} were deleted; "
                                    "press Run to predict again.")
            else:
                self.status.setText(f"{left} of the {added} layers of the last run on "
                                    f"{image!r} are left; the others were deleted.")

    def _next_step(self) -> None:
        if self._steps:
            step = self._steps.pop(0)
            try:
                step()
            except Exception as exc:  # napari refused a layer: say so, stop, keep napari up
                self._steps = []
                self._fail(error_message(exc, self._job["image_name"], self._job["card_name"]))
        if self._steps:
            QTimer.singleShot(0, self._next_step)
        else:
            self._end()

    def _on_finished(self) -> None:
        self.cancel_button.setEnabled(False)  # the model is done; only layers are added now
        if self._steps:
            self.status.setText("Adding the layers...")
            QTimer.singleShot(0, self._next_step)
        else:
            self._end()

    def _end(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self._outcome == "done" else 0)
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.run_finished.emit(self._outcome)
