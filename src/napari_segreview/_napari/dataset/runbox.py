"""The Dataset panel's lower half: predict the dataset, export its done cases.

**Predict**: every readable entry of the images folder becomes a case of the
dataset folder (or, with no images folder, the dataset's own cases are run
again: those already predicted by the same model and card are skipped), on a
Dask LocalCluster of worker processes (:func:`.jobs.run_predict`, the engine
of ``segreview dataset predict``), with napari's progress bar and Cancel.
**Export done cases**: the ``done`` cases become a training-target folder
(:func:`.jobs.run_export`, ``segreview dataset export``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_segreview._napari._panel import show_failure
from napari_segreview._napari.dataset.jobs import DatasetJob, run_export, run_predict

__all__ = ["RunBox", "row"]

#: Export formats offered (``segreview dataset export --format``).
EXPORT_FORMATS = ("tif", "npz", "nnunet")


def row(*widgets: QWidget) -> QHBoxLayout:
    """The widgets side by side."""
    box = QHBoxLayout()
    for w in widgets:
        box.addWidget(w)
    return box


def _browse(edit: QLineEdit, title: str, parent: QWidget, file: bool = False) -> None:
    path = (QFileDialog.getOpenFileName(parent, title)[0] if file
            else QFileDialog.getExistingDirectory(parent, title))
    if path:
        edit.setText(path)


class RunBox(QWidget):
    """Predict and export controls; the panel gives it the dataset folder to work on."""

    #: The dataset folder changed on disk (a run ended or progressed): reload it.
    dataset_changed = Signal(str)

    def __init__(self, dataset_folder: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.dataset_folder = dataset_folder   # a callable: the panel's folder (str)
        self.job = DatasetJob(self)
        self.images = QLineEdit()
        self.images.setPlaceholderText("a folder: each image in it is one case")
        self.model = QLineEdit()
        self.workers = QSpinBox()
        self.workers.setRange(0, 64)
        self.workers.setSpecialValueText("auto")
        self.workers.setValue(0)
        self.predict_button = QPushButton("Predict dataset")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.export_to = QLineEdit()
        self.export_format = QComboBox()
        self.export_format.addItems(EXPORT_FORMATS)
        self.export_button = QPushButton("Export done cases")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        browse_images, browse_model, browse_out = (QPushButton("...") for _ in range(3))
        for b in (browse_images, browse_model, browse_out):
            b.setMaximumWidth(32)
        browse_images.clicked.connect(lambda: _browse(self.images, "Images folder", self))
        browse_model.clicked.connect(lambda: _browse(self.model, "Model file", self, True))
        browse_out.clicked.connect(lambda: _browse(self.export_to, "Export folder", self))
        predict = QGroupBox("Predict (Dask, worker processes)")
        form = QFormLayout(predict)
        form.addRow("Images", row(self.images, browse_images))
        form.addRow("Model", row(self.model, browse_model))
        form.addRow("Workers", self.workers)
        form.addRow(row(self.predict_button, self.cancel_button))
        form.addRow(self.progress)
        export = QGroupBox("Export done cases")
        eform = QFormLayout(export)
        eform.addRow("To", row(self.export_to, browse_out))
        eform.addRow("Format", self.export_format)
        eform.addRow(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(predict)
        layout.addWidget(export)
        layout.addWidget(self.status)
        self.predict_button.clicked.connect(self.predict)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self.export)
        self.job.progressed.connect(self._on_progress)
        self.job.returned.connect(self._on_returned)
        self.job.failed.connect(lambda msg: show_failure(self.status, msg))
        self.job.finished.connect(self._on_finished)
        from napari_segreview.data import demo_model_path

        try:
            self.model.setText(str(demo_model_path()))
        except FileNotFoundError:
            pass

    def set_dataset(self, manifest: Any) -> None:
        """Fill in the dataset's model and a default export folder."""
        if manifest.model:
            self.model.setText(str(manifest.model))
        if not self.export_to.text().strip():
            self.export_to.setText(str(Path(manifest.folder).with_name(
                Path(manifest.folder).name + "-export")))

    def _busy(self, what: str) -> bool:
        if self.job.running:
            show_info(f"{self.job.what} is running: wait for it or press Cancel.")
            return True
        if not self.dataset_folder():
            show_failure(self.status, f"choose the dataset folder first ({what}).")
            return True
        return False

    def predict(self) -> None:
        """Predict the dataset (in a worker; returns at once)."""
        if self._busy("where the predictions go"):
            return
        folder, images = self.dataset_folder(), self.images.text().strip()
        model = self.model.text().strip()
        if not model:
            show_failure(self.status, "choose the model file first (Model ...).")
            return
        options: dict[str, Any] = {"workers": self.workers.value() or None}  # 0: auto
        if images:
            options["each"] = images
        else:
            from napari_segreview.dataset.manifest import is_dataset

            if not is_dataset(folder):
                show_failure(self.status, "choose an images folder: its images become the "
                             "cases of the new dataset.")
                return
        # no images folder: the engine runs the dataset's own cases (resume)
        self.progress.setRange(0, 0)
        self.status.setText(f"Predicting into {folder} ...")
        self.predict_button.setEnabled(False)
        self.export_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.job.start(run_predict, [], folder, model, None, what="Dataset prediction",
                       **options)

    def cancel(self) -> None:
        """Stop the prediction after the cases that run now (they are kept)."""
        if self.job.running:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling: the cases running now finish first...")

    def export(self) -> None:
        """Export the done cases into the export folder (in a worker)."""
        if self._busy("whose done cases to export"):
            return
        out = self.export_to.text().strip()
        if not out:
            show_failure(self.status, "choose the folder to export the done cases to.")
            return
        self.progress.setRange(0, 0)
        self.status.setText(f"Exporting the done cases to {out} ...")
        self.predict_button.setEnabled(False)
        self.export_button.setEnabled(False)
        self.job.start(run_export, self.dataset_folder(), out,
                       fmt=self.export_format.currentText(), what="Export of the done cases")

    def _on_progress(self, done: int, total: int, line: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.status.setText(line)
        self.dataset_changed.emit(self.dataset_folder())

    def _on_returned(self, result: Any) -> None:
        if self.job.what.startswith("Export"):
            show_info(f"Exported the done cases to {result}.")
            self.status.setText(f"Exported the done cases to {result}.")
            return
        failed = list(getattr(result, "failed", []) or [])
        found = (getattr(result, "found", "") or "").strip().rstrip(".")
        outcome = f"{len(failed)} failed." if failed else "Every case is predicted."
        line = f"{found}. {outcome}" if found else outcome
        self.status.setText(line)
        (show_warning if failed else show_info)(
            line + "".join(f" {cid}: {why}" for cid, why in failed[:5]))

    def _on_finished(self) -> None:
        self.progress.setRange(0, 1)
        self.predict_button.setEnabled(True)
        self.export_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.dataset_changed.emit(self.dataset_folder())
