"""Checks of raw card values (YAML scalars, lists, mappings) with the field path in the message."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from napari_segreview.errors import CardError

__all__ = ["as_floats", "as_int", "as_mapping", "as_name", "as_number", "check_keys", "suggest"]


def suggest(word: Any, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if close:
        return f"write {close[0]!r} instead"
    return f"write one of {', '.join(options)}"


def check_keys(d: Mapping, allowed: tuple[str, ...], path: str) -> None:
    for key in d:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            hint = suggest(key, allowed).replace("one of", "one of the fields")
            raise CardError(f"{where} is not a model card field: {hint} (or remove it).")


def as_mapping(v: Any, path: str) -> Mapping:
    if not isinstance(v, Mapping):
        raise CardError(f"{path} must be a mapping of fields (key: value lines), not {v!r}.")
    return v


def as_int(v: Any, path: str, minimum: int, hint: str = "") -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise CardError(f"{path} must be a whole number >= {minimum}{hint}, not {v!r}.")
    return int(v)


def as_number(v: Any, path: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not math.isfinite(v):
        raise CardError(f"{path} must be a finite number, not {v!r}.")
    return float(v)


def as_name(v: Any, path: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise CardError(f"{path} must be a non-empty name (text), not {v!r}.")
    return v


def as_floats(v: Any, path: str, n: int) -> tuple[float, ...]:
    if not isinstance(v, (list, tuple)):
        return (as_number(v, path),) * n          # one number applies to every input channel
    return tuple(as_number(x, f"{path}[{i}]") for i, x in enumerate(v))
