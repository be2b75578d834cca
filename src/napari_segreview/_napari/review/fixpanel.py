"""The Review panel's fixes: one button per fix, the priority list, and "Paint this channel".

The buttons come from the registry (:data:`napari_segreview.review.fixes.FIXES`:
label and tooltip); pressing one emits :attr:`FixPanel.fix_requested` with the
fix's name. The priority list (drag to reorder, highest first) feeds
``remove_overlaps``; the paint row selects a channel to paint by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_segreview._napari._panel import fit_rows
from napari_segreview.review.fixes import FIXES

__all__ = ["FixPanel"]

#: The fixes in the button grid (two a row); the priority list and its fix come below.
GRID = ("clip_to_parent", "grow_parent", "parent_from_children", "make_binary")


class FixPanel(QWidget):
    """Fix buttons, the priority list and the paint row (see the module docstring)."""

    #: A fix button was pressed: the fix's name (a key of ``FIXES``).
    fix_requested = Signal(str)
    #: "Paint this channel" was pressed.
    paint_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.fix_buttons: dict[str, QPushButton] = {}
        for name, spec in FIXES.items():
            b = QPushButton(spec.label)
            b.setToolTip(spec.tip)
            b.clicked.connect(lambda _=False, n=name: self.fix_requested.emit(n))
            self.fix_buttons[name] = b
        self.priority = QListWidget()
        self.priority.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        fit_rows(self.priority)
        self.paint_channel = QComboBox()
        self.paint_button = QPushButton("Paint this channel")
        box = QGroupBox("Fixes (Ctrl+Z on a layer undoes them)")
        grid = QGridLayout(box)
        for i, name in enumerate(GRID):
            grid.addWidget(self.fix_buttons[name], i // 2, i % 2)
        grid.addWidget(QLabel("Priority (top wins, drag to reorder):"), 2, 0, 1, 2)
        grid.addWidget(self.priority, 3, 0, 1, 2)
        grid.addWidget(self.fix_buttons["remove_overlaps"], 4, 0, 1, 2)
        paint = QHBoxLayout()
        paint.addWidget(self.paint_channel, 1)
        paint.addWidget(self.paint_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)
        layout.addLayout(paint)
        self.paint_button.clicked.connect(self.paint_requested.emit)

    def set_channels(self, names: Sequence[str], siblings: Sequence[str]) -> None:
        """Offer these channels to paint and these siblings to order (kept if unchanged)."""
        names = list(names)
        if [self.paint_channel.itemText(i) for i in range(self.paint_channel.count())] != names:
            self.paint_channel.clear()
            self.paint_channel.addItems(names)
        sib = list(siblings)
        if self.priority_order() != sib and sorted(self.priority_order()) != sorted(sib):
            self.set_priority(sib)

    def set_priority(self, names: Sequence[str]) -> None:
        """Order of the priority list, highest first."""
        self.priority.clear()
        self.priority.addItems(list(names))

    def priority_order(self) -> list[str]:
        """Channel names in the priority list, highest first."""
        return [self.priority.item(i).text() for i in range(self.priority.count())]
