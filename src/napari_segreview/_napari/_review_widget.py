"""Dock widget: review and correct masks (consistency checks, one-click fixes, overlap view, QA).

The masks are either the decision layers of one Predict run (the model card
says which head lies ``within`` which) or Labels layers chosen by hand (a
parent and its children). Everything numeric is in
:mod:`napari_segreview.review.checks` and :mod:`napari_segreview.review.qa`, run
in a napari worker thread; fixes come back as edits applied with
``Labels.data_setitem`` inside ``block_history``, so Ctrl+Z on a layer undoes a
whole fix on that layer.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from napari_segreview._napari._meta import KEY, layers_of, meta
from napari_segreview._napari._qa_table import QATable
from napari_segreview._napari._review_sets import (
    ReviewSet,
    analyse,
    decision_runs,
    run_fix,
    set_from_layers,
    set_from_run,
)
from napari_segreview.errors import FormatError
from napari_segreview.labels.checks import CheckReport
from napari_segreview.review import checks as core_review

if TYPE_CHECKING:
    import napari

MANUAL = "Layers chosen by hand"
#: Fix name -> (button text, what it does).
FIXES = {
    "clip_to_parent": ("Clip children to parent",
                       "Set child voxels that lie outside their parent to 0."),
    "grow_parent": ("Grow parent over children",
                    "Set parent voxels to 1 wherever a child is on."),
    "parent_from_children": ("Parent = union of children",
                             "Set the parent to exactly the union of its children (adds and "
                             "removes parent voxels)."),
    "remove_overlaps": ("Remove overlaps by priority",
                        "Where children overlap, keep the one highest in the priority list."),
    "make_binary": ("Make masks binary", "Set values other than 0 and 1 in binary masks to 1."),
}
#: The fix that resolves each kind of finding.
FIX_FOR = {"outside_parent": "clip_to_parent", "overlap": "remove_overlaps",
           "parent_not_union": "parent_from_children", "non_binary": "make_binary"}
OVERLAP_COLORS = {0: "transparent", 2: "#ffb000", 3: "#ff3030", None: "#ff00ff"}
DEBOUNCE_MS = 400
FINDING_COLUMNS = ("Finding", "Voxels", "Slice", "")


class ReviewWidget(QWidget):
    """Checks, fixes, overlap view and QA for one set of masks (docs/reviewing-and-correcting.md).

    Script use: pick ``source`` (and ``parent``/``children`` for layers chosen
    by hand), call :meth:`run_checks`, :meth:`apply_fix`, :meth:`show_overlap`,
    :meth:`go_to`; wait on :attr:`checked`, :attr:`fixed`, :attr:`overlap_shown`.
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
        self._history: dict[int, tuple[int, int]] = {}
        self._applying = False
        self._analysis = None
        self._pending = False
        self._build()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.run_checks)
        for event in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            event.connect(self._refresh_layers)
        for layer in self.viewer.layers:
            self._watch(layer)
        self._refresh_layers()

    # ------------------------------------------------------------ UI
    def _build(self) -> None:
        self.source = QComboBox()
        self.parent_layer = QComboBox()
        self.children_list = QListWidget()
        self.children_list.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.children_list.setMaximumHeight(80)
        self.disjoint = QCheckBox("Children must not overlap")
        self.disjoint.setChecked(True)
        self.union = QCheckBox("Parent must equal the union of its children")
        self.auto = QCheckBox("Re-check after edits")
        self.auto.setChecked(True)
        self.overlap_siblings = QCheckBox("Overlap view of children only")
        self.check_button = QPushButton("Check")
        self.overlap_button = QPushButton("Overlap view")
        self.findings = QTableWidget(0, len(FINDING_COLUMNS))
        self.findings.setObjectName("findings")
        self.findings.setHorizontalHeaderLabels(list(FINDING_COLUMNS))
        self.findings.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.findings.verticalHeader().setVisible(False)
        self.findings.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.findings.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.findings.setWordWrap(True)
        self.findings.setMinimumHeight(140)
        self.fix_buttons = {}
        for name, (text, tip) in FIXES.items():
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, n=name: self.apply_fix(n))
            self.fix_buttons[name] = b
        self.priority = QListWidget()
        self.priority.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.priority.setMaximumHeight(70)
        self.paint_channel = QComboBox()
        self.paint_button = QPushButton("Paint this channel")
        self.qa = QATable()
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #ffb000")
        self.status = QLabel("")
        self.status.setWordWrap(True)

        self.manual_box = QGroupBox("Layers chosen by hand")
        mform = QFormLayout(self.manual_box)
        mform.addRow("Parent", self.parent_layer)
        mform.addRow("Children", self.children_list)
        check_tab = QWidget()
        cl = QVBoxLayout(check_tab)
        for w in (self.disjoint, self.union, self.auto):
            cl.addWidget(w)
        row = QHBoxLayout()
        row.addWidget(self.check_button)
        row.addWidget(self.overlap_button)
        cl.addLayout(row)
        cl.addWidget(self.overlap_siblings)
        cl.addWidget(self.findings, 1)
        fixes = QGroupBox("Fixes (Ctrl+Z on a layer undoes them)")
        grid = QGridLayout(fixes)
        for i, name in enumerate(("clip_to_parent", "grow_parent", "parent_from_children",
                                  "make_binary")):
            grid.addWidget(self.fix_buttons[name], i // 2, i % 2)
        grid.addWidget(QLabel("Priority (top wins, drag to reorder):"), 2, 0, 1, 2)
        grid.addWidget(self.priority, 3, 0, 1, 2)
        grid.addWidget(self.fix_buttons["remove_overlaps"], 4, 0, 1, 2)
        cl.addWidget(fixes)
        paint = QHBoxLayout()
        paint.addWidget(self.paint_channel, 1)
        paint.addWidget(self.paint_button)
        cl.addLayout(paint)
        qa_tab = QWidget()
        ql = QVBoxLayout(qa_tab)
        ql.addWidget(QLabel("The correction against the kept prediction (updates after edits):"))
        ql.addWidget(self.warning)
        ql.addWidget(self.qa, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(check_tab, "Check and fix")
        self.tabs.addTab(qa_tab, "QA")
        form = QFormLayout()
        form.addRow("Masks", self.source)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.manual_box)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status)
        self.source.currentIndexChanged.connect(self._source_changed)
        self.check_button.clicked.connect(self.run_checks)
        self.overlap_button.clicked.connect(self.show_overlap)
        self.paint_button.clicked.connect(self.paint_selected)
        self.qa.go_to_slice.connect(self.go_to_slice)
        for box in (self.disjoint, self.union):
            box.toggled.connect(lambda _=False: self._set_changed())

    # ------------------------------------------------------------ layers and sources
    def _labels(self) -> list[Labels]:
        return [x for x in self.viewer.layers if isinstance(x, Labels)
                and meta(x).get("kind") not in ("overlap", "atoms")]

    def _refresh_layers(self, event=None) -> None:
        if event is not None and getattr(event, "type", "") == "inserted":
            self._watch(event.value)
        current = self.source.currentData()
        if self.source.count() <= 1:
            current = None             # only "by hand" was offered: a new run takes over
        self.source.blockSignals(True)
        self.source.clear()
        for run, layers in decision_runs(self.viewer.layers).items():
            m = meta(layers[0])
            self.source.addItem(f"{m.get('image', '?')} / {Path(str(m.get('model'))).name}",
                                f"run:{run}")
        self.source.addItem(MANUAL, "manual")
        idx = self.source.findData(current)
        self.source.setCurrentIndex(idx if idx >= 0 else 0)
        self.source.blockSignals(False)
        parent = self.parent_layer.currentText()
        kids = {i.text() for i in self.children_list.selectedItems()}
        names = [x.name for x in self._labels()]
        self.parent_layer.clear()
        self.parent_layer.addItems(names)
        if parent in names:
            self.parent_layer.setCurrentText(parent)
        self.children_list.clear()
        for n in names:
            self.children_list.addItem(n)
            self.children_list.item(self.children_list.count() - 1).setSelected(n in kids)
        self._source_changed()

    def _source_changed(self, *_args) -> None:
        self.manual_box.setVisible(self.source.currentData() == "manual")
        self._set_changed()

    def _set_changed(self) -> None:
        """Refresh the channel lists (priority, paint) for the current choice."""
        try:
            rs = self.current_set()
        except (FormatError, KeyError):
            rs = None
        self.review_set = rs
        names = [c.name for c in rs.channels] if rs else []
        if self.paint_channel.count() != len(names) or [
                self.paint_channel.itemText(i) for i in range(len(names))] != names:
            self.paint_channel.clear()
            self.paint_channel.addItems(names)
        sib = rs.siblings() if rs else []
        if self.priority_order() != sib and sorted(self.priority_order()) != sorted(sib):
            self.set_priority(sib)

    def set_children(self, names: list[str]) -> None:
        """Select these layers as the children (layers chosen by hand)."""
        for i in range(self.children_list.count()):
            item = self.children_list.item(i)
            item.setSelected(item.text() in names)
        self._set_changed()

    def set_priority(self, names: list[str]) -> None:
        """Order of the priority list, highest first."""
        self.priority.clear()
        self.priority.addItems(list(names))

    def priority_order(self) -> list[str]:
        """Channel names in the priority list, highest first."""
        return [self.priority.item(i).text() for i in range(self.priority.count())]

    def current_set(self) -> ReviewSet:
        """Build the review set of the current choice (cheap: no data is copied)."""
        key = self.source.currentData()
        opts = {"disjoint": self.disjoint.isChecked(), "union": self.union.isChecked()}
        if key and key.startswith("run:"):
            return set_from_run(decision_runs(self.viewer.layers)[key[4:]], **opts)
        names = {i.text() for i in self.children_list.selectedItems()}
        by_name = {x.name: x for x in self._labels()}
        parent = by_name.get(self.parent_layer.currentText())
        return set_from_layers(parent, [x for x in self._labels() if x.name in names], **opts)

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
        msg = str(exc) if isinstance(exc, (FormatError, str)) else (
            f"the review failed ({type(exc).__name__}: {exc}); nothing was changed.")
        self.status.setText(msg)
        show_error(msg)
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
        self.findings.setRowCount(len(report.findings))
        for r, f in enumerate(report.findings):
            first = "" if f.first_slice is None else str(f.first_slice)
            for c, text in enumerate((f.message, str(f.count), first)):
                item = QTableWidgetItem(text)
                fix = FIX_FOR.get(f.kind)
                item.setToolTip(f"{f.message} Fix: {FIXES[fix][0]}." if fix else f.message)
                self.findings.setItem(r, c, item)
            go = QPushButton("Go to")
            go.clicked.connect(lambda _=False, i=r: self.go_to(i))
            self.findings.setCellWidget(r, 3, go)
        self.findings.resizeRowsToContents()
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
        """Compute fix ``fix`` (a key of :data:`FIXES`) in a worker, then apply it undoably."""
        rs = self._guarded_set()
        if rs is None:
            return None
        return self._start(run_fix, (rs, fix, self.priority_order()),
                           lambda res: self._apply(rs, res), f"Fix: {FIXES[fix][0]}")

    def _apply(self, rs: ReviewSet, result: core_review.FixResult) -> None:
        self._applying = True
        try:
            for source, edits in result.by_source().items():
                layer = rs.layers[source]
                with layer.block_history():
                    for e in edits:
                        layer.data_setitem(e.indices, e.value)
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
        first = rs.layers[rs.channels[0].source]
        md = {"kind": "overlap", "image": rs.image, "run": rs.run, "channels": names}
        old = [x for x in layers_of(self.viewer.layers, kind="overlap", run=rs.run,
                                    channels=names)]
        if old:
            layer = old[0]
            layer.data = data
        else:
            layer = self.viewer.add_labels(
                data, name=f"overlap ({', '.join(names)})", scale=first.scale,
                translate=first.translate, opacity=0.8, colormap=OVERLAP_COLORS,
                metadata={KEY: md})
        n = int(np.count_nonzero(data))
        msg = (f"{n} voxels lie in two or more of {', '.join(names)} "
               "(value = number of channels).")
        self.status.setText(msg)
        self.overlap_shown.emit(layer)

    # ------------------------------------------------------------ painting
    def paint_selected(self) -> None:
        """Select the chosen channel's layer and switch it to painting that channel."""
        rs = self._guarded_set()
        name = self.paint_channel.currentText()
        layer = rs.layer_of(name) if rs else None
        if layer is None:
            return
        ch = next(c for c in rs.channels if c.name == name)
        layer.visible = True
        self.viewer.layers.selection.active = layer
        layer.selected_label = ch.on_value
        layer.mode = "paint"
        self.status.setText(f"Painting {name!r} (label {ch.on_value}) on {layer.name!r}; "
                            "press E to erase, Ctrl+Z to undo.")

    # ------------------------------------------------------------ automatic re-check
    def _watch(self, layer) -> None:
        if isinstance(layer, Labels):
            layer.events.paint.connect(self._edited)
            layer.events.set_data.connect(self._maybe_undone)
            layer.events.name.connect(self._renamed)

    def _renamed(self, _event=None) -> None:
        with contextlib.suppress(RuntimeError):   # the widget may be closed already
            self._refresh_layers()

    def _watched(self, layer) -> bool:
        rs = self.review_set    # by name: plugins see proxies, events carry the layer itself
        return rs is not None and getattr(layer, "name", None) in rs.layers

    def _edited(self, event) -> None:
        with contextlib.suppress(RuntimeError):   # the widget may be closed already
            if self.auto.isChecked() and not self._applying and self._watched(event.source):
                self._timer.start()

    def _maybe_undone(self, event) -> None:
        """Undo/redo emit no paint event: notice them through the history lengths."""
        layer = event.source
        sig = (len(getattr(layer, "_undo_history", ())), len(getattr(layer, "_redo_history", ())))
        old = self._history.get(id(layer))
        self._history[id(layer)] = sig
        if old is not None and old != sig:
            self._edited(event)
