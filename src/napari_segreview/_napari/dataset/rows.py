"""The Dataset table's rows: the text, sort key and tooltip of each cell (no Qt).

Columns: the case id, its status (the tooltip says why it was skipped or
failed), its uncertainty (the tooltip lists the channels), the mean Dice of
the correction against the prediction once it is reviewed
(:func:`napari_segreview.dataset.queue.mean_dice`; the tooltip lists the
channels), and one column per channel's uncertainty.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from napari_segreview.dataset.queue import mean_dice

__all__ = ["case_row", "table_columns"]


def table_columns(cases: Iterable[Any]) -> list[str]:
    """The Dataset table's columns: case, status, uncertainty, Dice, one per channel.

    Examples
    --------
    >>> from types import SimpleNamespace as C
    >>> table_columns([C(channel_uncertainty={"whole": 0.1, "parts": 0.2}),
    ...                C(channel_uncertainty={})])
    ['case', 'status', 'uncertainty', 'dice', 'whole', 'parts']
    """
    channels = dict.fromkeys(k for c in cases for k in (c.channel_uncertainty or {}))
    return ["case", "status", "uncertainty", "dice", *channels]


def _number(value: Any, digits: int = 3) -> tuple[str, float]:
    if value is None:
        return "", -1.0
    return f"{float(value):.{digits}f}", float(value)


def case_row(case: Any, columns: Sequence[str]) -> list[tuple[str, Any, str]]:
    """One table row: ``(text, sort key, tooltip)`` per column of :func:`table_columns`.

    Numbers sort as numbers (an unknown one first in ascending order); the
    status's tooltip is its reason, the uncertainty's and the Dice's list the
    channels.

    Examples
    --------
    >>> from types import SimpleNamespace as C
    >>> case = C(id="ct_1", status="done", reason=None, uncertainty=0.25,
    ...          channel_uncertainty={"whole": 0.25}, dice={"whole": 0.9})
    >>> [cell[:2] for cell in case_row(case, ["case", "status", "uncertainty", "whole",
    ...                                       "dice"])]
    [('ct_1', 'ct_1'), ('done', 'done'), ('0.250', 0.25), ('0.250', 0.25), ('0.900', 0.9)]
    >>> case_row(case, ["dice"])[0][2]
    'Dice against the prediction: whole 0.900'
    """
    per_channel = case.channel_uncertainty or {}
    row: list[tuple[str, Any, str]] = []
    for col in columns:
        if col == "case":
            row.append((case.id, case.id, str(getattr(case, "source", "") or "")))
        elif col == "status":
            row.append((case.status, case.status, case.reason or ""))
        elif col == "uncertainty":
            tip = ", ".join(f"{k} {v:.3f}" for k, v in per_channel.items())
            row.append((*_number(case.uncertainty), f"per channel: {tip}" if tip else ""))
        elif col == "dice":
            tip = ", ".join(f"{k} {v:.3f}" for k, v in (case.dice or {}).items())
            row.append((*_number(mean_dice(case)),
                        f"Dice against the prediction: {tip}" if tip else ""))
        else:
            row.append((*_number(per_channel.get(col)), f"uncertainty of {col}"))
    return row
