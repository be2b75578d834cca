"""Header values read tolerantly (a malformed optional value is a missing one); the slice header.

pydicom keeps a value it cannot convert as text (an ``IS`` holding ``'1A'``)
or raises when it is used; these helpers give None instead and record the
keyword, so that the reader can say which values it read as missing.
:class:`SliceHeader` is what the stacker needs of one slice or frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SliceHeader", "as_float", "as_floats", "as_int", "get_value"]


@dataclass
class SliceHeader:
    """What the stacker needs of one slice: a single-frame file, or one frame of a file."""

    path: Path
    uid: str                                # the group: series UID (+ stack of a multi-frame)
    number: int | None
    description: str
    instance: int | None
    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    shape: tuple[int, int, int]             # rows, columns, samples
    pixel_spacing: tuple[float, ...] | None
    frames: int
    modality: str
    window: tuple[float | None, float | None]
    thickness: float | None
    between: float | None
    slope: float = 1.0
    intercept: float = 0.0
    rescale_type: str = ""
    units: str = ""
    bits_stored: int = 16
    signed: bool = False
    transfer_syntax: str = ""
    sop_class: str = ""
    sop_instance: str = ""
    study: str = ""
    frame_of_reference: str = ""
    frame: int | None = None                # 1-based frame number in a multi-frame file
    stack: str = ""                         # stack label of a multi-frame file, else ""
    float_pixels: bool = False


def get_value(ds: Any, keyword: str, bad: set[str]) -> Any:
    """``ds.keyword``, or None when absent, empty or not readable (recorded in ``bad``).

    Examples
    --------
    >>> bad = set()
    >>> get_value({"Rows": 4}, "Rows", bad), get_value({}, "Rows", bad), bad
    (4, None, set())
    """
    try:
        value = ds.get(keyword)
    except Exception:  # pydicom raises on values it cannot convert
        bad.add(keyword)
        return None
    return None if value is None or value == "" else value


def as_int(value: Any, keyword: str = "", bad: set[str] | None = None) -> int | None:
    """An integer, or None when ``value`` is missing or malformed ('1A').

    Examples
    --------
    >>> bad = set()
    >>> as_int("12", "InstanceNumber", bad), as_int("1A", "InstanceNumber", bad), bad
    (12, None, {'InstanceNumber'})
    """
    if value is None or value == "":
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        if bad is not None:
            bad.add(keyword)
        return None
    if not np.isfinite(f) or not f.is_integer():
        if bad is not None:
            bad.add(keyword)
        return None
    return int(f)


def as_floats(value: Any, n: int, keyword: str = "", bad: set[str] | None = None, *,
              positive: bool = False) -> tuple[float, ...] | None:
    """``n`` finite floats (all above 0 when ``positive``: sizes), or None (missing or malformed).

    Examples
    --------
    >>> as_floats(["0.7", "0.6"], 2), as_floats(["0.7", "zz"], 2), as_floats([1.0], 2)
    ((0.7, 0.6), None, None)
    >>> as_floats(["0", "0"], 2), as_floats(["0", "0"], 2, positive=True)
    ((0.0, 0.0), None)
    """
    if value is None or value == "":
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        out = ()
    if len(out) == n and all(np.isfinite(out)) and not (positive and min(out) <= 0):
        return out
    if bad is not None:
        bad.add(keyword)
    return None


def as_float(value: Any, keyword: str = "", bad: set[str] | None = None, *,
             positive: bool = False) -> float | None:
    """The first value as a finite float (above 0 when ``positive``), or None.

    Examples
    --------
    >>> as_float(["40", "400"]), as_float("abc"), as_float("-1024")
    (40.0, None, -1024.0)
    >>> as_float("0", positive=True)
    """
    if value is None or value == "":
        return None
    if not isinstance(value, (str, bytes)):
        try:
            value = value[0]
        except (TypeError, IndexError):
            pass
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float("nan")
    if np.isfinite(f) and not (positive and f <= 0):
        return f
    if bad is not None:
        bad.add(keyword)
    return None
