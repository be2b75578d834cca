"""The QA tables of the Review widget: per channel, and per slice for the selected channel.

Numbers come from :mod:`napari_segreview.review.qa`; this module only shows
them. Double-clicking a slice row (or "Go to slice") emits
:attr:`QATable.go_to_slice` with the channel and the slice index.
"""

from __future__ import annotations

from collections.abc import Sequence

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_segreview.review.qa import ChannelQA

CHANNEL_COLUMNS = ("Channel", "Dice", "Added", "Removed", "Predicted", "Now")
SLICE_COLUMNS = ("Slice", "Added", "Removed", "Dice")


def _table(columns: Sequence[str]) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(list(columns))
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


def _item(value) -> QTableWidgetItem:
    text = f"{value:.4f}" if isinstance(value, float) else str(value)
    item = QTableWidgetItem(text)
    if not isinstance(value, str):
        item.setTextAlignment(int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter))
    return item


class QATable(QWidget):
    """Per-channel QA (Dice, added, removed) and the changed slices of one channel."""

    go_to_slice = Signal(str, int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.results: list[ChannelQA] = []
        self.channels = _table(CHANNEL_COLUMNS)
        self.channels.setObjectName("qa_channels")
        self.slices = _table(SLICE_COLUMNS)
        self.slices.setObjectName("qa_slices")
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.go_button = QPushButton("Go to slice")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.channels)
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        row.addWidget(self.go_button)
        layout.addLayout(row)
        layout.addWidget(self.slices)
        self.channels.itemSelectionChanged.connect(self._show_slices)
        self.slices.cellDoubleClicked.connect(lambda r, _c: self.go_to_row(r))
        self.go_button.clicked.connect(self._go_selected)

    # ------------------------------------------------------------ filling
    def set_results(self, results: Sequence[ChannelQA]) -> None:
        """Show new QA results, keeping the selected channel selected."""
        keep = self.selected_channel()
        self.results = list(results)
        self.channels.setRowCount(len(self.results))
        for r, q in enumerate(self.results):
            for c, v in enumerate((q.name, q.dice, q.added, q.removed, q.n_predicted,
                                   q.n_corrected)):
                self.channels.setItem(r, c, _item(v))
        names = [q.name for q in self.results]
        if keep in names:
            self.select_channel(keep)
        elif names:
            self.select_channel(names[0])
        else:
            self._show_slices()

    def select_channel(self, name: str) -> None:
        """Select a channel's row (its changed slices show below)."""
        for r, q in enumerate(self.results):
            if q.name == name:
                self.channels.selectRow(r)
                break
        self._show_slices()

    def _show_slices(self) -> None:
        q = self._selected()
        rows = self.slice_rows()
        self.slices.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, v in enumerate(values):
                self.slices.setItem(r, c, _item(v))
        if q is None:
            self.note.setText("No kept prediction to compare with." if not self.results else "")
        elif not rows:
            self.note.setText(f"{q.name}: unchanged from the prediction.")
        else:
            n = len(rows)
            self.note.setText(f"{q.name}: {n} slice{'s' if n > 1 else ''} changed "
                              "(double-click to go there).")

    # ------------------------------------------------------------ reading (scripts, tests)
    def _selected(self) -> ChannelQA | None:
        rows = self.channels.selectionModel().selectedRows() if self.results else []
        return self.results[rows[0].row()] if rows else None

    def selected_channel(self) -> str | None:
        """Name of the selected channel, or None."""
        q = self._selected()
        return None if q is None else q.name

    def values(self) -> list[dict]:
        """The per-channel rows as dicts (see :meth:`ChannelQA.row`)."""
        return [q.row() for q in self.results]

    def slice_rows(self) -> list[tuple[int, int, int, float]]:
        """``(slice, added, removed, dice)`` for each slice the selected channel changed."""
        q = self._selected()
        if q is None:
            return []
        add, rem, dic = q.slice_added, q.slice_removed, q.slice_dice
        return [(int(z), int(add[z]), int(rem[z]), float(dic[z])) for z in q.changed_slices]

    # ------------------------------------------------------------ go to
    def go_to_row(self, row: int) -> None:
        """Emit :attr:`go_to_slice` for a row of the slice table."""
        rows = self.slice_rows()
        name = self.selected_channel()
        if name is not None and 0 <= row < len(rows):
            self.go_to_slice.emit(name, rows[row][0])

    def _go_selected(self) -> None:
        picked = self.slices.selectionModel().selectedRows()
        self.go_to_row(picked[0].row() if picked else 0)
