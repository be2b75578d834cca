"""The Fine-tune panel's form: source, model, budget, learning rate, batch, seed, freeze, held-out.

:class:`FinetuneForm` holds the fields (public attributes, for scripts) and
turns them into the arguments of ``segreview train`` (:meth:`FinetuneForm.arguments`),
so the panel runs exactly what a user would type. The model defaults to the
Predict panel's model and card (:mod:`.link`); the held-out cases are listed
from the export folder (checked = held out; none checked lets the trainer
hold out about a fifth). A dataset folder is accepted as the source once the
dataset package can export its done cases (:func:`.link.export_dataset`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QWidget,
)

from napari_segreview._napari._panel import fit_rows
from napari_segreview._napari.finetune.link import export_cases, predict_model
from napari_segreview.errors import FormatError

if TYPE_CHECKING:
    import napari

__all__ = ["DEVICES", "FREEZE", "LEARNING_RATES", "FinetuneForm", "row"]

#: Learning rates offered (the trainer's documented range; any value can be typed).
LEARNING_RATES = ("1e-5", "3e-5", "1e-4", "3e-4")
#: Freeze choices: combo-box text -> whether a prefix list is asked for.
FREEZE = {"none (train every weight)": False, "parameters starting with...": True}
DEVICES = ("auto", "cpu", "cuda")


def row(*widgets: QWidget) -> QHBoxLayout:
    """The widgets side by side (one row of a form)."""
    box = QHBoxLayout()
    for widget in widgets:
        box.addWidget(widget)
    return box


def _absolute(path: str) -> str:
    """``path`` made absolute (the process's paths then mean the same wherever it runs).

    Examples
    --------
    >>> _absolute("/data/export")
    '/data/export'
    """
    return os.path.abspath(os.path.expanduser(path))


class FinetuneForm(QWidget):
    """The fields of the Fine-tune panel (see the module docstring)."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.source = QLineEdit()
        self.source.setPlaceholderText("an export folder (segreview export, Export panel)")
        self.source.setToolTip("The export folder the model trains on: its cases, targets "
                               "and statistics are exactly what you exported.")
        self.source_browse = QPushButton("Browse...")
        self.model_path = QLineEdit()
        self.model_path.setPlaceholderText("the base model (the Predict panel's by default)")
        self.model_browse = QPushButton("Browse...")
        self.from_predict = QPushButton("From Predict")
        self.from_predict.setToolTip("Take the model, card and factory of the Predict panel.")
        self.card_path = QLineEdit()
        self.card_path.setPlaceholderText("found beside the model")
        self.factory = QLineEdit()
        self.factory.setPlaceholderText("only for a weights checkpoint: package.module:function")
        self.output = QLineEdit()
        self.output.setPlaceholderText("beside the base model, with a version suffix")
        self.output.setToolTip("Where the new model is written; the base is never overwritten.")
        self.steps = QSpinBox()
        self.steps.setRange(0, 1_000_000)
        self.steps.setValue(300)
        self.steps.setSpecialValueText("no step limit")
        self.steps.setToolTip("Optimiser steps (0: no limit, then set minutes).")
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0, 24 * 60)
        self.minutes.setDecimals(1)
        self.minutes.setSpecialValueText("no time limit")
        self.minutes.setToolTip("Wall-clock budget in minutes (0: no limit); the first limit "
                                "reached ends the run.")
        self.lr = QComboBox()
        self.lr.setEditable(True)
        self.lr.addItems(LEARNING_RATES)
        self.lr.setCurrentText("1e-4")
        self.lr.setToolTip("AdamW learning rate; fine-tuning wants a small one (1e-5 to 1e-4).")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 1024)
        self.batch_size.setValue(4)
        self.batch_size.setToolTip("Samples per optimiser step (--batch-size).")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed: the same seed repeats the run (--seed).")
        self.patch = QLineEdit()
        self.patch.setPlaceholderText("the card's tile; e.g. 96 96")
        self.patch.setToolTip("Training patch size per spatial axis: smaller patches make "
                              "faster steps on a CPU.")
        self.eval_every = QSpinBox()
        self.eval_every.setRange(0, 100_000)
        self.eval_every.setSpecialValueText("the trainer's default")
        self.eval_every.setToolTip("Steps between two held-out evaluations.")
        self.freeze = QComboBox()
        for label, asks in FREEZE.items():
            self.freeze.addItem(label, asks)
        self.freeze_prefix = QLineEdit()
        self.freeze_prefix.setPlaceholderText("e.g. down (the demo's encoder); comma-separated")
        self.freeze_prefix.setToolTip("Parameters whose names start with one of these keep "
                                      "their weights.")
        self.freeze_prefix.setEnabled(False)
        self.device = QComboBox()
        for name in DEVICES:
            self.device.addItem(name, name)
        self.held_out = QListWidget()
        self.held_out.setToolTip("Checked cases are held out: never trained on, used for "
                                 "Dice before and after. None checked: about a fifth.")
        self.no_held_out = QCheckBox("Train on every case (no before/after comparison)")
        self.no_held_out.setToolTip("Only for a single case: nothing is held out, so no Dice "
                                    "before and after is measured.")
        self.cases_info = QLabel("")
        self.cases_info.setWordWrap(True)
        self.form = QFormLayout()
        self.form.addRow("Source", row(self.source, self.source_browse))
        self.form.addRow("Model file", row(self.model_path, self.model_browse))
        self.form.addRow("", self.from_predict)
        self.form.addRow("Model card", self.card_path)
        self.form.addRow("Factory", self.factory)
        self.form.addRow("New model", self.output)
        self.form.addRow("Steps", self.steps)
        self.form.addRow("Minutes", self.minutes)
        self.form.addRow("Learning rate", self.lr)
        self.form.addRow("Batch size", row(self.batch_size, QLabel("Seed"), self.seed))
        self.form.addRow("Patch", self.patch)
        self.form.addRow("Evaluate every", self.eval_every)
        self.form.addRow("Freeze", self.freeze)
        self.form.addRow("", self.freeze_prefix)
        self.form.addRow("Device", self.device)
        self.form.addRow("Held-out cases", self.held_out)
        self.form.addRow("", self.cases_info)
        self.form.addRow("", self.no_held_out)
        fit_rows(self.held_out, most=5)
        self.source.textChanged.connect(self.list_cases)
        self.source_browse.clicked.connect(self._browse_source)
        self.model_browse.clicked.connect(self._browse_model)
        self.from_predict.clicked.connect(self.take_predict_model)
        self.no_held_out.toggled.connect(lambda on: self.held_out.setEnabled(not on))
        self.freeze.currentIndexChanged.connect(
            lambda *_: self.freeze_prefix.setEnabled(bool(self.freeze.currentData())))
        self.take_predict_model()

    # -- defaults -------------------------------------------------------------------------
    def take_predict_model(self) -> bool:
        """Fill model, card and factory from the Predict panel (or decision layers); True if so."""
        found = predict_model(self.viewer)
        if found is None:
            return False
        model, card, factory = found
        self.model_path.setText(model)
        self.card_path.setText(card or "")
        self.factory.setText(factory or "")
        return True

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self.model_path.text().strip():   # the Predict panel may have come since
            self.take_predict_model()

    def list_cases(self, *_args: Any) -> list[str]:
        """List the source's cases as checkable held-out choices; returns their names."""
        self.held_out.clear()
        text = self.source.text().strip()
        names = export_cases(Path(text).expanduser()) if text else []
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.held_out.addItem(item)
        if not text:
            self.cases_info.setText("")
        elif len(names) == 1:
            self.cases_info.setText("1 case: a held-out comparison needs at least two; export "
                                    "more cases, or check Train on every case below.")
        elif names:
            self.cases_info.setText(f"{len(names)} cases. Check the ones to hold out (none: "
                                    "about a fifth, at least one).")
        else:
            self.cases_info.setText("No exported cases there yet.")
        return names

    def set_held_out(self, names: list[str]) -> None:
        """Check exactly the cases in ``names`` (the others are trained on)."""
        for i in range(self.held_out.count()):
            item = self.held_out.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in names
                               else Qt.CheckState.Unchecked)

    def set_device(self, name: str) -> None:
        """Train on ``"auto"``, ``"cpu"`` or ``"cuda"``."""
        self.device.setCurrentIndex(self.device.findData(name))

    def held_out_names(self) -> list[str]:
        """The checked cases."""
        return [self.held_out.item(i).text() for i in range(self.held_out.count())
                if self.held_out.item(i).checkState() == Qt.CheckState.Checked]

    # -- the command ----------------------------------------------------------------------
    def arguments(self) -> list[str]:
        """The ``segreview train`` arguments the form says (FormatError with a sentence)."""
        source = self.source.text().strip()
        model = self.model_path.text().strip()
        if not source:
            raise FormatError("choose the export folder to train on (Source).")
        if not Path(source).expanduser().is_dir():
            raise FormatError(f"the source folder {source} does not exist; choose an export "
                              "folder.")
        if not model:
            raise FormatError("choose the model to fine-tune (Model file), or press From "
                              "Predict.")
        if self.steps.value() == 0 and self.minutes.value() == 0:
            raise FormatError("set a budget: a number of steps, minutes, or both.")
        try:
            lr = float(self.lr.currentText())
        except ValueError:
            lr = -1.0
        if not 0 < lr < 1:
            raise FormatError(f"the learning rate {self.lr.currentText()!r} is not a number "
                              "between 0 and 1; try 1e-4.")
        args = [_absolute(source), "--model", _absolute(model)]
        for flag, field in (("--card", self.card_path), ("-o", self.output)):
            if field.text().strip():
                args += [flag, _absolute(field.text().strip())]
        if self.factory.text().strip():
            args += ["--factory", self.factory.text().strip()]
        if self.steps.value():
            args += ["--steps", str(self.steps.value())]
        if self.minutes.value():
            args += ["--minutes", f"{self.minutes.value():g}"]
        args += ["--lr", f"{lr:g}", "--batch-size", str(self.batch_size.value()),
                 "--seed", str(self.seed.value()), "--device", self.device.currentData()]
        patch = self.patch.text().replace(",", " ").split()
        if patch:
            if not all(p.isdigit() and int(p) > 0 for p in patch):
                raise FormatError(f"the patch size {self.patch.text()!r} is not whole numbers "
                                  "of voxels (e.g. 96 96); clear it to use the card's tile.")
            args += ["--patch", *patch]
        if self.eval_every.value():
            args += ["--eval-every", str(self.eval_every.value())]
        if self.freeze.currentData():
            prefixes = [p.strip() for p in self.freeze_prefix.text().split(",") if p.strip()]
            if not prefixes:
                raise FormatError("name the parameter prefixes to freeze (e.g. encoder), or "
                                  "choose Freeze: none.")
            args += ["--freeze", ",".join(prefixes)]
        if self.no_held_out.isChecked():
            args.append("--no-held-out")
        elif self.held_out.count() == 1:
            raise FormatError("the export has a single case, and a held-out comparison needs "
                              "at least two: export more cases, or check Train on every case.")
        elif self.held_out_names():
            args += ["--held-out", ",".join(self.held_out_names())]
        return args

    # -- browsing -------------------------------------------------------------------------
    def _browse_source(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export folder", self.source.text())
        if path:
            self.source.setText(path)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Model file", self.model_path.text(),
            "PyTorch models (*.pt *.pth *.pt2 *.ts *.ckpt);;All files (*)")
        if path:
            self.model_path.setText(path)
