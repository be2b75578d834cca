"""Dock widget: review and correct masks (consistency checks, one-click fixes, overlap view, QA).

The masks are either the decision layers of one Predict run (the model card
says which head lies ``within`` which) or Labels layers chosen by hand (a
parent and its children): :mod:`.masks`. Everything numeric is in
:mod:`napari_segreview.review.checks` and :mod:`napari_segreview.review.qa`, run
in a napari worker thread (:mod:`.sets`); the panel shows the findings
(:mod:`.findings`), the fixes (:mod:`.fixpanel`), the overlap view (:mod:`.overlap`)
and the QA (:mod:`.qa_table`), and re-checks after edits (:mod:`.edits`). Fixes come
back as edits applied with ``Labels.data_setitem`` inside ``block_history``, so
Ctrl+Z on a layer undoes a whole fix on that layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from napari_segreview._napari._panel import failure_text, scroll_panel, show_failure
from napari_segreview._napari._undo import write_as_one_step
from napari_segreview._napari.review.edits import EditWatcher
from napari_segreview._napari.review.findings import FindingsTable
from napari_segreview._napari.review.fixpanel import FixPanel
from napari_segreview._napari.review.masks import MaskChooser, covering
from napari_segreview._napari.review.overlap import overlap_layer
from napari_segreview._napari.review.qa_table import QATable
from napari_segreview._napari.review.sets import ReviewSet, analyse, compute_fix
from napari_segreview.errors import FormatError
from napari_segreview.labels.checks import CheckReport
from napari_segreview.review import checks as core_review
from napari_segreview.review.fixes import FIXES

if TYPE_CHECKING:
    import napari

__all__ = ["ReviewWidget"]

DEBOUNCE_MS = 400


class ReviewWidget(QWidget):
    """Checks, fixes, overlap view and QA for one set of masks (docs/reviewing-and-correcting.md).

    Script use: pick ``source`` (and ``parent_layer``/:meth:`set_children` for
    layers chosen by hand), call :meth:`run_checks`, :meth:`apply_fix`,
    :meth:`show_overlap`, :meth:`go_to`; wait on :attr:`checked`, :attr:`fixed`,
    :attr:`overlap_shown`.
    """

    checked = Signal(object)        # CheckReport (after the tables are filled)
    fixed = Signal(object)          # FixResult (after the edits are applied)
    overlap_shown = Signal(object)  # the overlap Labels layer
    failed = Signal(str)            # the error sentence

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.report: CheckReport | None = None
        self.review_set: ReviewSet | None = None
        self.warnings: list = []
        self._workers: set = set()
        self._warned: set[str] = set()
        self._applying = False
        self._analysis = None
        self._pending = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.run_checks)
        self._build()
        self.edits = EditWatcher(self.viewer, self)
        self.edits.edited.connect(self._edited)
        self.masks.changed.connect(self._set_changed)
        self._set_changed()

    # ------------------------------------------------------------ UI
    def _build(self) -> None:
        self.masks = MaskChooser(self.viewer)
        self.source, self.manual_box = self.masks.source, self.masks.manual_box
        self.parent_layer, self.children_list = self.masks.parent_layer, self.masks.children_list
        self.disjoint = QCheckBox("Children must not overlap")
        self.disjoint.setChecked(True)
        self.union = QCheckBox("Parent must equal the union of its children")
        self.auto = QCheckBox("Re-check after edits")
        self.auto.setChecked(True)
        self.overlap_siblings = QCheckBox("Overlap view of children only")
        self.check_button = QPushButton("Check")
        self.overlap_button = QPushButton("Overlap view")
        self.findings = FindingsTable()
        self.fixes = FixPanel()
        self.fix_buttons, self.priority = self.fixes.fix_buttons, self.fixes.priority
        self.paint_channel, self.paint_button = self.fixes.paint_channel, self.fixes.paint_button
        self.qa = QATable()
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #ffb000")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        check_tab = QWidget()
        cl = QVBoxLayout(check_tab)
        for w in (self.disjoint, self.union, self.auto):
            cl.addWidget(w)
        buttons = QHBoxLayout()
        buttons.addWidget(self.check_button)
        buttons.addWidget(self.overlap_button)
        cl.addLayout(buttons)
        cl.addWidget(self.overlap_siblings)
        cl.addWidget(self.findings, 1)
        cl.addWidget(self.fixes)
        qa_tab = QWidget()
        ql = QVBoxLayout(qa_tab)
        ql.addWidget(QLabel("The correction against the kept prediction (updates after edits):"))
        ql.addWidget(self.warning)
        ql.addWidget(self.qa, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(check_tab, "Check and fix")
        self.tabs.addTab(qa_tab, "QA")
        layout = scroll_panel(self)
        layout.addWidget(self.masks)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status)
        self.check_button.clicked.connect(self.run_checks)
        self.overlap_button.clicked.connect(self.show_overlap)
        self.findings.go_to.connect(self.go_to)
        self.fixes.fix_requested.connect(self.apply_fix)
        self.fixes.paint_requested.connect(self.paint_selected)
        self.qa.go_to_slice.connect(self.go_to_slice)
        for box in (self.disjoint, self.union):
            box.toggled.connect(lambda _=False: self._set_changed())

    # ------------------------------------------------------------ the set under review
    def _set_changed(self) -> None:
        """Refresh the channel lists (priority, paint) for the current choice."""
        try:
            rs = self.current_set()
        except (FormatError, KeyError):
            rs = None
        self.review_set = rs
        self.fixes.set_channels([c.name for c in rs.channels] if rs else [],
                                rs.siblings() if rs else [])

    def set_children(self, names: list[str]) -> None:
        """Select these layers as the children (layers chosen by hand)."""
        self.masks.set_children(names)

    def set_priority(self, names: list[str]) -> None:
        """Order of the priority list, highest first."""
        self.fixes.set_priority(names)

    def priority_order(self) -> list[str]:
        """Channel names in the priority list, highest first."""
        return self.fixes.priority_order()

    def current_set(self) -> ReviewSet:
        """Build the review set of the current choice (cheap: no data is copied)."""
        return self.masks.current_set(disjoint=self.disjoint.isChecked(),
                                      union=self.union.isChecked())

    # ------------------------------------------------------------ workers
    @property
    def busy(self) -> bool:
        """True while a computation runs or an automatic re-check is pending."""
        return bool(self._workers) or self._timer.isActive()

    def _start(self, fn, args: tuple, on_done, desc: str, on_finished=None) -> Any:
        # errored is connected here: our handler shows the sentence (no re-raise).
        worker = create_worker(fn, *args, _progress={"desc": desc}, _start_thread=False,
                               _connect={"errored": self._fail})
        self._workers.add(worker)
        worker.returned.connect(on_done)
        worker.finished.connect(lambda: self._workers.discard(worker))
        if on_finished is not None:
            worker.finished.connect(on_finished)
        worker.start()       # connect everything first: a quick worker may end at once
        return worker

    def _fail(self, exc: BaseException | str) -> None:
        msg = failure_text(exc, "review", "nothing was changed")
        show_failure(self.status, msg)
        self.failed.emit(msg)

    def _guarded_set(self) -> ReviewSet | None:
        try:
            rs = self.current_set()
        except (FormatError, KeyError) as exc:
            self._fail(exc if isinstance(exc, FormatError) else "pick the masks to review first.")
            return None
        self.review_set = rs
        return rs

    # ------------------------------------------------------------ checks and QA
    def run_checks(self) -> Any:
        """Re-check the masks and refresh the QA table (in a worker); returns the worker."""
        if self._analysis is not None:
            self._pending = True       # one check at a time; run again when it ends
            return self._analysis
        rs = self._guarded_set()
        if rs is None:
            return None
        warn = rs.key not in self._warned
        self._analysis = self._start(analyse, (rs, warn), lambda res: self._checked(rs, *res),
                                     "Checking masks", on_finished=self._analysis_ended)
        return self._analysis

    def _analysis_ended(self) -> None:
        self._analysis = None
        if self._pending:
            self._pending = False
            self.run_checks()

    def _checked(self, rs: ReviewSet, report: CheckReport, rows: list, warnings: list) -> None:
        self.report = report
        self.findings.show_report(report)
        self.qa.set_results(rows)
        if rs.key not in self._warned and rs.predictions:
            self._warned.add(rs.key)
            self.warnings = warnings
            self.warning.setText(" ".join(w.message for w in warnings))
            for w in warnings:
                show_warning(w.message)
        n = len(report.findings)
        self.status.setText("All checks passed." if report.ok else
                            f"{n} finding{'s' if n > 1 else ''}: use 'Go to', then a fix.")
        self.checked.emit(report)

    # ------------------------------------------------------------ go to
    def go_to(self, row: int) -> None:
        """Select the layer of finding ``row`` and move the viewer to its first voxel."""
        if self.report is None or not 0 <= row < len(self.report.findings):
            return
        f = self.report.findings[row]
        rs = self.review_set
        layer = rs.layer_of(f.channels[0]) if rs and f.channels else None
        if layer is None or f.first_index is None:
            return
        self._go(layer, f.first_index)

    def go_to_slice(self, channel: str, z: int) -> None:
        """Move the viewer to slice ``z`` of a channel's layer (first axis)."""
        layer = self.review_set.layer_of(channel) if self.review_set else None
        if layer is not None and layer.ndim >= 3:
            self._go(layer, (z,))

    def _go(self, layer: Labels, index: tuple[int, ...]) -> None:
        full = [*index, *([0] * (layer.ndim - len(index)))]
        world = np.asarray(layer.data_to_world(full), float)
        axes = list(range(self.viewer.dims.ndim - layer.ndim, self.viewer.dims.ndim))
        keep = len(index)
        self.viewer.dims.set_point(axes[:keep], tuple(world[:keep]))
        self.viewer.layers.selection.active = layer

    # ------------------------------------------------------------ fixes
    def apply_fix(self, fix: str) -> Any:
        """Compute fix ``fix`` (a key of ``FIXES``) in a worker, then apply it undoably."""
        rs = self._guarded_set()
        if rs is None:
            return None
        return self._start(compute_fix, (rs, fix, self.priority_order()),
                           lambda res: self._apply(rs, res), f"Fix: {FIXES[fix].label}")

    def _apply(self, rs: ReviewSet, result: core_review.FixResult) -> None:
        self._applying = True
        try:
            for source, edits in result.by_source().items():
                write_as_one_step(rs.layers[source], [(e.indices, e.value) for e in edits])
        except Exception as exc:  # a failing layer must not crash napari
            self._fail(f"the fix could not be applied to the layers ({exc}); undo any partial "
                       "change with Ctrl+Z.")
            return
        finally:
            self._applying = False
        self.status.setText(result.message)
        show_info(result.message)
        self.fixed.emit(result)
        self.run_checks()

    # ------------------------------------------------------------ overlap view
    def show_overlap(self) -> Any:
        """Compute the overlap layer (number of channels on, where 2 or more) in a worker."""
        rs = self._guarded_set()
        if rs is None:
            return None
        chans = rs.channels
        if self.overlap_siblings.isChecked() and rs.siblings():
            chans = [c for c in chans if c.name in rs.siblings()]
        names = [c.name for c in chans]
        return self._start(core_review.overlap_map, (chans,),
                           lambda data: self._show_overlap(rs, names, data), "Overlap view")

    def _show_overlap(self, rs: ReviewSet, names: list[str], data: np.ndarray) -> None:
        layer, message = overlap_layer(self.viewer, rs, names, data)
        self.status.setText(message)
        self.overlap_shown.emit(layer)

    # ------------------------------------------------------------ painting
    def paint_selected(self) -> None:
        """Select the chosen channel's layer, bring it to view and switch it to painting.

        The layers drawn over it are hidden (not moved: the layer order is the
        painting order Convert and Export use), so the strokes show; the status
        line names them.
        """
        rs = self._guarded_set()
        name = self.paint_channel.currentText()
        layer = rs.layer_of(name) if rs else None
        if layer is None:
            return
        ch = next(c for c in rs.channels if c.name == name)
        layer.visible = True
        hidden = covering(self.viewer.layers, layer)
        for above in hidden:
            above.visible = False
        self.viewer.layers.selection.active = layer
        layer.selected_label = ch.on_value
        layer.mode = "paint"
        note = (f" Hid {', '.join(repr(x.name) for x in hidden)}, drawn over it (tick them "
                "in the layer list to show them again).") if hidden else ""
        self.status.setText(f"Painting {name!r} (label {ch.on_value}) on {layer.name!r}; "
                            f"press E to erase, Ctrl+Z to undo.{note}")

    # ------------------------------------------------------------ automatic re-check
    def _edited(self, layer: Any) -> None:
        rs = self.review_set    # by name: plugins see proxies, events carry the layer itself
        watched = rs is not None and getattr(layer, "name", None) in rs.layers
        if self.auto.isChecked() and not self._applying and watched:
            self._timer.start()
