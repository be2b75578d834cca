"""Overlap metrics per channel: Dice on binary masks (numpy only).

Empty prediction and empty target agree perfectly, so their Dice is 1.0 (not
NaN, not 0): a model that correctly finds no ``part_3`` on a slice is right.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from napari_segreview.errors import FormatError

__all__ = ["dice", "dice_counts", "per_channel_dice"]


def dice(pred: np.ndarray, target: np.ndarray) -> float:
    """Dice coefficient ``2 |P & T| / (|P| + |T|)`` of two binary masks.

    Parameters
    ----------
    pred, target : array-like of the same shape
        Masks; any non-zero value counts as foreground.

    Returns
    -------
    float
        In ``[0, 1]``; 1.0 when both masks are empty.

    Raises
    ------
    FormatError
        If the shapes differ.

    Examples
    --------
    >>> import numpy as np
    >>> dice(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    0.6666666666666666
    >>> dice(np.zeros((2, 3)), np.zeros((2, 3)))   # empty/empty agree
    1.0
    >>> dice(np.zeros(3), np.ones(3))
    0.0
    """
    p = np.asarray(pred) != 0
    t = np.asarray(target) != 0
    if p.shape != t.shape:
        raise FormatError(
            f"cannot compare masks of shapes {p.shape} and {t.shape}; give masks of one shape."
        )
    return dice_counts(np.count_nonzero(p & t), np.count_nonzero(p), np.count_nonzero(t))


def dice_counts(intersection, n_pred, n_target):
    """Dice ``2 I / (P + T)`` from voxel counts, elementwise; 1.0 where ``P + T == 0``.

    Parameters
    ----------
    intersection, n_pred, n_target : int or array of int
        Voxels in both masks, in the prediction, in the target.

    Returns
    -------
    float or ndarray of float64
        A float for scalar counts, an array for array counts.

    Examples
    --------
    >>> dice_counts(1, 2, 1)
    0.6666666666666666
    >>> dice_counts(np.array([0, 3, 0]), np.array([0, 3, 2]), np.array([0, 3, 0])).tolist()
    [1.0, 1.0, 0.0]
    """
    i = np.asarray(intersection, np.float64)
    total = np.asarray(n_pred, np.float64) + np.asarray(n_target, np.float64)
    safe = np.where(total > 0, total, 1.0)
    out = np.where(total > 0, 2.0 * i / safe, 1.0)
    return float(out) if out.ndim == 0 else out


def per_channel_dice(
    pred_stack: np.ndarray, target_stack: np.ndarray, names: Sequence[str]
) -> dict[str, float]:
    """Dice of every channel of two multi-hot stacks ``(C, ...)``.

    Parameters
    ----------
    pred_stack, target_stack : array-like, shape (C, ...)
        Predicted and reference masks, channel axis first.
    names : sequence of str
        One name per channel, used as the keys of the result.

    Returns
    -------
    dict of str to float
        ``{name: dice}`` in channel order.

    Raises
    ------
    FormatError
        If the shapes differ or ``names`` does not have one entry per channel.

    Examples
    --------
    >>> import numpy as np
    >>> pred = np.array([[1, 1, 0], [0, 0, 0]])
    >>> target = np.array([[1, 0, 0], [0, 0, 0]])
    >>> per_channel_dice(pred, target, ["bone", "cyst"])
    {'bone': 0.6666666666666666, 'cyst': 1.0}
    """
    pred_stack = np.asarray(pred_stack)
    target_stack = np.asarray(target_stack)
    if pred_stack.shape != target_stack.shape:
        raise FormatError(
            f"cannot compare stacks of shapes {pred_stack.shape} and {target_stack.shape}; "
            "give stacks of one shape."
        )
    names = list(names)
    if pred_stack.ndim == 0 or len(names) != pred_stack.shape[0]:
        count = pred_stack.shape[0] if pred_stack.ndim else 0
        raise FormatError(
            f"got {len(names)} channel names for {count} channels; give one name per channel."
        )
    return {name: dice(pred_stack[i], target_stack[i]) for i, name in enumerate(names)}
