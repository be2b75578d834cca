"""The Review panel's findings table: one row per finding, with a "Go to" button.

Each row shows the finding's sentence, its voxel count and first slice; the
tooltip names the fix that resolves it (from the registry,
:data:`napari_segreview.review.fixes.FIXES`). "Go to" emits :attr:`FindingsTable.go_to`
with the row.
"""

from __future__ import annotations

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from napari_segreview.labels.checks import CheckReport
from napari_segreview.review.fixes import FIXES, fixes_for

__all__ = ["COLUMNS", "FindingsTable"]

COLUMNS = ("Finding", "Voxels", "Slice", "")


def fix_tip(message: str, kind: str) -> str:
    """A finding's tooltip: its sentence and the usual fix for its kind.

    Examples
    --------
    >>> fix_tip("6 voxels of 'a' lie outside its parent 'b'.", "outside_parent")
    "6 voxels of 'a' lie outside its parent 'b'. Fix: Clip children to parent."
    >>> fix_tip("label map 'p' holds 2 voxels with other values.", "unexpected_label")
    "label map 'p' holds 2 voxels with other values."
    """
    fixes = fixes_for(kind)
    return f"{message} Fix: {FIXES[fixes[0]].label}." if fixes else message


class FindingsTable(QTableWidget):
    """The findings of a :class:`~napari_segreview.labels.checks.CheckReport`."""

    #: "Go to" on a row: the row (the finding's index in the report).
    go_to = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("findings")
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.setWordWrap(True)
        self.setMinimumHeight(140)

    def show_report(self, report: CheckReport) -> None:
        """Fill the table with the report's findings (empty when all checks passed)."""
        self.setRowCount(len(report.findings))
        for r, f in enumerate(report.findings):
            first = "" if f.first_slice is None else str(f.first_slice)
            for c, text in enumerate((f.message, str(f.count), first)):
                item = QTableWidgetItem(text)
                item.setToolTip(fix_tip(f.message, f.kind))
                self.setItem(r, c, item)
            go = QPushButton("Go to")
            go.clicked.connect(lambda _=False, i=r: self.go_to.emit(i))
            self.setCellWidget(r, 3, go)
        self.resizeRowsToContents()
