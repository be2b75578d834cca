"""Binary class masks -> a softmax head's label map, and the checks they need first.

A CrossEntropyLoss label map's class 0 is the background: the voxels that no
class mask covers. :func:`check_class_masks` refuses a background mask among
the class masks (by name, or a one-hot set that covers every voxel exactly
once); :func:`softmax_from_masks` paints the masks with an explicit overlap
rule; :func:`overlap_sentence` lets a widget or the CLI word the overlap
error's remedy in its own terms. Re-exported by :mod:`napari_segreview.targets.build`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_segreview._util.arrays import blocks, channel_count
from napari_segreview.card.spec import HeadSpec
from napari_segreview.errors import FormatError
from napari_segreview.labels.formats import IGNORE, multihot_to_labels

__all__ = ["BACKGROUND_NAMES", "check_class_masks", "overlap_sentence", "softmax_from_masks"]

#: Mask names taken for the background (compared case-insensitively): never a class mask.
BACKGROUND_NAMES = ("background", "bg")

_NO_BACKGROUND = ("a CrossEntropyLoss label map's background is 0, the voxels no mask "
                  "covers, so leave the background mask out (or convert the one-hot stack "
                  "with `segreview convert --to labels`).")


def check_class_masks(names: Sequence[str], masks: Any = None, *,
                      head: str = "classes") -> None:
    """Refuse a background mask among the class masks of a softmax (CrossEntropyLoss) target.

    The label map's class 0 is the background: the voxels that no class mask
    covers. A mask named like the background (:data:`BACKGROUND_NAMES`), or a
    set of masks that covers every voxel exactly once (a one-hot stack, which
    always includes the background channel), would make the background a
    class of its own and leave class 0 empty.

    Parameters
    ----------
    names : sequence of str
        The masks' class names, in class order (background left out).
    masks : array (C, ...) or sequence of C arrays, optional
        The masks (non-zero is on); without them only the names are checked.
    head : str
        The softmax head's name, for the message.

    Raises
    ------
    FormatError
        One sentence that says to leave the background mask out.

    Examples
    --------
    >>> check_class_masks(["part_1", "part_2"], [np.array([1, 0, 0]), np.array([0, 1, 0])])
    >>> check_class_masks(["rest", "bone"], [np.array([1, 0, 1]), np.array([0, 1, 0])])
    Traceback (most recent call last):
    ...
    napari_segreview.errors.FormatError: the 2 masks of softmax head 'classes' (rest, \
bone) cover every voxel exactly once, so they are a one-hot stack that includes the background; \
a CrossEntropyLoss label map's background is 0, the voxels no mask covers, so leave the \
background mask out (or convert the one-hot stack with `segreview convert --to labels`).
    """
    for name in names:
        if str(name).strip().lower() in BACKGROUND_NAMES:
            raise FormatError(f"the mask {name!r} of softmax head {head!r} is the background; "
                              + _NO_BACKGROUND)
    if masks is None or len(masks) < 2:
        return
    flat = np.stack([np.asarray(m).reshape(-1) for m in masks]) if isinstance(
        masks, (list, tuple)) else np.asarray(masks).reshape(len(masks), -1)
    if flat.shape[1] == 0:
        return
    for s in blocks(flat.shape[1]):
        if (channel_count(flat, s) != 1).any():
            return
    raise FormatError(f"the {len(masks)} masks of softmax head {head!r} "
                      f"({', '.join(map(str, names))}) cover every voxel exactly once, so "
                      "they are a one-hot stack that includes the background; "
                      + _NO_BACKGROUND)


def softmax_from_masks(head: HeadSpec, masks: Sequence[Any], *, priority: Any = None,
                       painting_order: Any = None, overlap: str = "error") -> np.ndarray:
    """Paint one binary mask per non-background class into the head's label map.

    ``masks[i]`` becomes class ``i + 1``. Masks that overlap need a rule:
    ``priority`` (the class names, the first listed wins; ``"later"``: later
    classes win), ``painting_order`` (the class names in painting order, the
    last one wins) or ``overlap="ignore"`` (overlaps get 255); without one,
    :class:`~napari_segreview.errors.OverlapError` says where they overlap.
    A background mask among them (see :func:`check_class_masks`) is refused.

    Examples
    --------
    >>> head = HeadSpec("parts", "softmax", ("background", "a", "b"))
    >>> softmax_from_masks(head, [np.array([1, 1, 0]), np.array([0, 1, 1])], overlap="ignore")
    array([  1, 255,   2], dtype=uint8)
    """
    if len(masks) != len(head.channels) - 1:
        raise FormatError(f"softmax head {head.name!r} has {len(head.channels) - 1} classes "
                          f"besides background, but {len(masks)} masks were given; give one "
                          "mask per class, in class order.")
    stack = np.stack([np.asarray(m) != 0 for m in masks]).view(np.uint8)
    names = head.channels[1:]
    check_class_masks(names, stack, head=head.name)
    return multihot_to_labels(stack, priority=priority, painting_order=painting_order,
                              overlap=overlap, names=names, ignore_value=IGNORE)


def overlap_sentence(exc: Exception, remedy: str) -> str:
    """An overlap error's sentence with its API remedy replaced by ``remedy`` (a UI's words).

    The core's :class:`~napari_segreview.errors.OverlapError` names the
    API arguments (``priority``, ``overlap='ignore'``); the widget names its
    choices and the CLI its flags instead.

    Examples
    --------
    >>> from napari_segreview.labels.formats import multihot_to_labels, OverlapError
    >>> try:
    ...     multihot_to_labels(np.array([[1, 1], [0, 1]]), names=["a", "b"])
    ... except OverlapError as exc:
    ...     print(overlap_sentence(exc, "give --priority a,b or --overlap ignore."))
    1 voxels belong to more than one channel (a & b (1)), first at (1,), and a label map holds \
one value per voxel: give --priority a,b or --overlap ignore.
    """
    text = str(exc)
    head, sep, _ = text.partition(": pass a priority")
    return f"{head}: {remedy}" if sep else f"{text} {remedy}"
