"""The Dataset panel's table of cases: sortable by any column, filtered by status.

The cells come from :mod:`.rows` (text, sort key, tooltip); this module only
shows them. Clicking a header sorts by that column (numbers as numbers);
the status filter hides the other rows; :meth:`CaseTable.order` is the
table's order of the rows shown, which the queue follows when the panel's
order is "Table order". Double-clicking a row opens that case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from napari_segreview._napari.dataset.rows import case_row, table_columns

__all__ = ["CaseTable"]

#: Column headers shown for the row keys of :func:`.rows.table_columns` (a channel's
#: uncertainty: ``"<channel> (u)"``).
HEADERS = {"case": "Case", "status": "Status", "uncertainty": "Uncertainty", "dice": "Dice"}
#: Where the row's case id is kept (the first column's item).
ID_ROLE = Qt.ItemDataRole.UserRole
#: Where a cell's sort key is kept.
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


class _Item(QTableWidgetItem):
    """A cell that sorts by its key (numbers as numbers), not by its text."""

    def __lt__(self, other: Any) -> bool:
        a, b = self.data(SORT_ROLE), other.data(SORT_ROLE)
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


class CaseTable(QTableWidget):
    """One row per case; emits :attr:`activated_case` (its id) on a double click."""

    activated_case = Signal(str)

    def __init__(self, parent: Any = None):
        super().__init__(0, 0, parent)
        self.columns: list[str] = []
        self.status_filter: str | None = None
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setSortingEnabled(True)
        self.setMinimumHeight(140)
        self.cellDoubleClicked.connect(lambda r, _c: self._activate(r))

    def _activate(self, row: int) -> None:
        item = self.item(row, 0)
        if item is not None:
            self.activated_case.emit(str(item.data(ID_ROLE)))

    def set_cases(self, cases: Sequence[Any], current: str | None = None) -> None:
        """Show ``cases``, keeping the sort column and order, selecting ``current``."""
        first = not self.columns
        self.columns = table_columns(cases)
        header = self.horizontalHeader()
        column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        self.setSortingEnabled(False)
        self.clear()
        self.setColumnCount(len(self.columns))
        self.setHorizontalHeaderLabels([HEADERS.get(c, f"{c} (u)") for c in self.columns])
        self.setRowCount(len(cases))
        for r, case in enumerate(cases):
            for c, (text, key, tip) in enumerate(case_row(case, self.columns)):
                item = _Item(text)
                item.setData(SORT_ROLE, key)
                item.setData(ID_ROLE, case.id)
                if tip:
                    item.setToolTip(tip)
                if c > 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(r, c, item)
        self.setSortingEnabled(True)
        if first and "uncertainty" in self.columns:   # as the queue goes: most uncertain first
            self.sortItems(self.columns.index("uncertainty"), Qt.SortOrder.DescendingOrder)
        elif 0 <= column < len(self.columns):
            self.sortItems(column, order)
        self.apply_filter(self.status_filter)
        self.select(current)

    def apply_filter(self, status: str | None) -> None:
        """Show only the cases of ``status`` (None: every case)."""
        self.status_filter = status
        col = self.columns.index("status") if "status" in self.columns else 1
        for r in range(self.rowCount()):
            item = self.item(r, col)
            self.setRowHidden(r, status is not None and (item is None
                                                         or item.text() != status))

    def sort_by(self, column: str, descending: bool = True) -> None:
        """Sort by the column named ``column`` (a key of :func:`.rows.table_columns`)."""
        order = (Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder)
        self.sortItems(self.columns.index(column), order)

    def order(self) -> list[str]:
        """The case ids of the rows shown, top to bottom."""
        return [str(self.item(r, 0).data(ID_ROLE)) for r in range(self.rowCount())
                if not self.isRowHidden(r) and self.item(r, 0) is not None]

    def select(self, case_id: str | None) -> None:
        """Select (and scroll to) the row of ``case_id``."""
        for r in range(self.rowCount()):
            item = self.item(r, 0)
            if item is not None and item.data(ID_ROLE) == case_id:
                self.selectRow(r)
                self.scrollToItem(item)
                return
        self.clearSelection()

    def selected_case(self) -> str | None:
        """The id of the selected row's case, or None."""
        rows = self.selectionModel().selectedRows()
        return str(self.item(rows[0].row(), 0).data(ID_ROLE)) if rows else None
