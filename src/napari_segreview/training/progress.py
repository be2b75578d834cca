"""The JSON-lines events of ``segreview train --json``, without torch (the panel imports this).

A training process writes one JSON object per line on stdout; every object has
an ``"event"`` key, one of :data:`EVENTS`. The full protocol (which keys each
event has) is in ``docs/training-reference.md``. :func:`event_line` writes a
line, :func:`parse_event` reads one back (None for anything that is not an
event, so a reader can skip stray output).

Examples
--------
>>> line = event_line("eval", step=0, dice={"fg": 0.5, "bg": float("nan")}, mean_dice=0.5)
>>> line
'{"event": "eval", "step": 0, "dice": {"fg": 0.5, "bg": null}, "mean_dice": 0.5}'
>>> parse_event(line)["dice"]
{'fg': 0.5, 'bg': None}
>>> parse_event("not json") is None
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import IO, Any

__all__ = ["EVENTS", "Reporter", "clean", "event_line", "parse_event"]

#: Every event name a training process may write.
EVENTS = ("start", "step", "eval", "warning", "error", "done", "cancelled")


def clean(value: Any) -> Any:
    """``value`` with NaN and infinities as None, tuples as lists, numpy scalars as floats.

    Examples
    --------
    >>> clean({"a": (1.0, float("inf"))})
    {'a': [1.0, None]}
    """
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "f") in "iu":
        return int(value)
    return f if math.isfinite(f) else None


def event_line(event: str, **fields: Any) -> str:
    """One event as a JSON line (no newline), ``"event"`` first, NaN written as null.

    Examples
    --------
    >>> event_line("eval", step=0, mean_dice=float("nan"))
    '{"event": "eval", "step": 0, "mean_dice": null}'
    """
    if event not in EVENTS:
        raise ValueError(f"unknown training event {event!r}; use one of {', '.join(EVENTS)}.")
    return json.dumps({"event": event, **clean(fields)}, allow_nan=False)


def parse_event(line: str | bytes) -> dict[str, Any] | None:
    r"""The event in one line of a training process's stdout, or None if it is not one.

    Examples
    --------
    >>> parse_event(b'{"event": "done", "worse": false}\n')
    {'event': 'done', 'worse': False}
    >>> parse_event('{"event": "other"}') is None
    True
    """
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("event") not in EVENTS:
        return None
    return obj


class Reporter:
    """Where a training run sends its events: JSON lines, text for a terminal, or a callback.

    Parameters
    ----------
    stream : file, optional
        With ``json_lines``, each event is written there as one line and flushed.
    json_lines : bool
        Write JSON lines (``--json``) instead of calling ``text``.
    text : callable, optional
        ``text(event, fields)`` for a terminal; None drops the events.
    callback : callable, optional
        ``callback(event_dict)`` for every event as well (tests, Python callers).

    Examples
    --------
    >>> seen = []
    >>> r = Reporter(callback=seen.append)
    >>> r.emit("warning", message="careful.")
    >>> seen
    [{'event': 'warning', 'message': 'careful.'}]
    """

    def __init__(self, stream: IO[str] | None = None, *, json_lines: bool = False,
                 text: Callable[[str, dict], None] | None = None,
                 callback: Callable[[dict], None] | None = None) -> None:
        self.stream = stream
        self.json_lines = json_lines
        self.text = text
        self.callback = callback

    def emit(self, event: str, **fields: Any) -> None:
        """Send one event."""
        line = event_line(event, **fields)
        if self.json_lines and self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()
        elif self.text is not None:
            self.text(event, clean(fields))
        if self.callback is not None:
            self.callback(json.loads(line))
