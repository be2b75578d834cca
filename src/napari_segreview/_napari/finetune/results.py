"""The end of a fine-tune: Dice before -> after per channel and per held-out case, and a verdict.

:func:`verdict` says in one sentence whether the new model is better on the
held-out cases (the trainer's ``worse`` flag decides: the mean dropped, or a
channel dropped by more than 0.02); :class:`ResultsTable` lists the figures of
a ``done`` event, changes that lost Dice in red.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtGui import QBrush, QColor, QFont
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

__all__ = ["COLUMNS", "ResultsTable", "verdict"]

COLUMNS = ("held-out Dice", "before", "after", "change")
#: A change below this counts as a loss (the trainer's threshold for a channel).
DROP = -0.02
RED, GREEN = QColor("#ff6b6b"), QColor("#7bd389")
#: Rows shown before the table scrolls.
MOST_ROWS = 12


def _fmt(value: Any) -> str:
    """A Dice for the table (``"-"`` when undefined).

    Examples
    --------
    >>> _fmt(0.81234), _fmt(None)
    ('0.812', '-')
    """
    return "-" if value is None else f"{value:.3f}"


def _change(before: Any, after: Any) -> float | None:
    return None if before is None or after is None else after - before


def verdict(done: dict[str, Any]) -> tuple[bool | None, str]:
    """``(worse, sentence)`` for a ``done`` event (``worse`` None: nothing was held out).

    Examples
    --------
    >>> verdict({"worse": False, "mean_before": 0.5, "mean_after": 0.8, "model": "m_v2.pt"})
    (False, 'Better on the held-out cases: mean Dice 0.500 -> 0.800 (+0.300). Press Use this \
model to predict with m_v2.pt.')
    >>> verdict({"worse": True, "mean_before": 0.8, "mean_after": 0.7, "model": "m_v2.pt",
    ...          "worse_channels": ["part_2"]})[0]
    True
    """
    worse = done.get("worse")
    name = Path(str(done.get("model", "the new model"))).name
    before, after = done.get("mean_before"), done.get("mean_after")
    if worse is None:
        return None, (f"No held-out comparison (every case was trained on): {name} was "
                      "written, but nothing says it is better; try it on an image before "
                      "you adopt it.")
    change = _change(before, after)
    figures = f"mean Dice {_fmt(before)} -> {_fmt(after)}"
    if change is not None:
        figures += f" ({change:+.3f})"
    if worse:
        channels = done.get("worse_channels") or []
        which = f"; worse on {', '.join(channels)}" if channels else ""
        return True, (f"WORSE on the held-out cases: {figures}{which}. The Predict panel "
                      f"keeps the base model; {name} is kept on disk if you want it anyway.")
    return False, (f"Better on the held-out cases: {figures}. Press Use this model to "
                   f"predict with {name}.")


class ResultsTable(QTableWidget):
    """Dice before -> after: one row per channel, the mean, then per held-out case."""

    def __init__(self) -> None:
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i in range(1, len(COLUMNS)):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self._fit()

    def _fit(self) -> None:
        """As tall as its rows, up to :data:`MOST_ROWS` (then it scrolls)."""
        rows = min(max(self.rowCount(), 2), MOST_ROWS)
        self.setFixedHeight(self.horizontalHeader().sizeHint().height()
                            + rows * self.verticalHeader().defaultSectionSize()
                            + 2 * self.frameWidth() + 2)

    def show_done(self, done: dict[str, Any]) -> None:
        """Fill the table from a ``done`` event."""
        before, after = done.get("before") or {}, done.get("after") or {}
        rows: list[tuple[str, Any, Any, bool]] = [
            (name, before.get(name), after.get(name), False) for name in before]
        if before:
            rows.append(("mean", done.get("mean_before"), done.get("mean_after"), True))
        for case, channels in (done.get("per_case") or {}).items():
            rows += [(f"{case}: {name}", pair[0], pair[1], False)
                     for name, pair in channels.items()]
        self.setRowCount(len(rows))
        for r, (label, b, a, bold) in enumerate(rows):
            change = _change(b, a)
            texts = (label, _fmt(b), _fmt(a), "-" if change is None else f"{change:+.3f}")
            for c, text in enumerate(texts):
                item = QTableWidgetItem(text)
                if bold:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                if c == 3 and change is not None:
                    if change < DROP:
                        item.setForeground(QBrush(RED))
                    elif change > 0:
                        item.setForeground(QBrush(GREEN))
                self.setItem(r, c, item)
        self._fit()

    def clear_rows(self) -> None:
        """Empty the table (a new run)."""
        self.setRowCount(0)
        self._fit()

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row (for scripts and tests)."""
        return [tuple(self.item(r, c).text() for c in range(self.columnCount()))
                for r in range(self.rowCount())]
