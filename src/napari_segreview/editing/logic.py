"""Logical operators between channels: copy, union, intersect, subtract, invert, clear.

As in 3D Slicer's *Logical operators* effect: the result replaces the target
channel; ``modifier`` is the other channel (copy, union, intersect, subtract).
"""

from __future__ import annotations

import numpy as np

from napari_segreview.errors import FormatError

__all__ = ["LOGICAL_OPS", "NEEDS_MODIFIER", "logical"]

LOGICAL_OPS = ("copy", "union", "intersect", "subtract", "invert", "clear")
NEEDS_MODIFIER = ("copy", "union", "intersect", "subtract")


def _numeric(mask: np.ndarray, name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype.kind not in "biuf":
        raise FormatError(f"{name} holds {mask.dtype} data; give a bool or integer array.")
    return mask


def logical(op: str, target: np.ndarray, modifier: np.ndarray | None = None) -> np.ndarray:
    """The new target channel after ``op``.

    ``copy``: the modifier; ``union``: target or modifier; ``intersect``: both;
    ``subtract``: target and not modifier; ``invert``: not target; ``clear``: nothing.

    Examples
    --------
    >>> t = np.array([1, 1, 0, 0], bool); m = np.array([1, 0, 1, 0], bool)
    >>> [logical(op, t, m).astype(int).tolist() for op in ("union", "intersect", "subtract")]
    [[1, 1, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]]
    >>> logical("invert", t).astype(int).tolist()
    [0, 0, 1, 1]
    """
    if op not in LOGICAL_OPS:
        raise FormatError(f"unknown operator {op!r}; use one of {', '.join(LOGICAL_OPS)}.")
    target = _numeric(target, "the target channel")
    if op == "invert":
        return np.logical_not(target)
    if op == "clear":
        return np.zeros(target.shape, bool)
    if modifier is None:
        raise FormatError(f"{op} needs a second channel; choose the modifier channel.")
    modifier = _numeric(modifier, "the modifier channel")
    if modifier.shape != target.shape:
        raise FormatError(f"the modifier channel has shape {modifier.shape} and the target "
                          f"{target.shape}; choose channels of the same image.")
    if op == "copy":
        return modifier.astype(bool)
    if op == "union":
        return np.logical_or(target, modifier)   # nonzero is inside: no bool copies first
    if op == "intersect":
        return np.logical_and(target, modifier)
    out = np.logical_not(modifier)
    return np.logical_and(target, out, out=out)
