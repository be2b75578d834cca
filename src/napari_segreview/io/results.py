"""The file a model head's masks are written as: one rule for every command.

``segreview predict`` writes each head's decision through :func:`head_file`,
and ``segreview session export`` writes a head's corrected layers through it
too, so ``segreview check``, ``qa`` and ``export`` read both alike, with no
conversion in between:

- a sigmoid head: a multi-hot stack ``(C, [Z,] Y, X)`` uint8 (kind
  ``"multihot"``), one row per channel, named by the head's channels;
- a softmax head: a label map ``([Z,] Y, X)`` (kind ``"labels"``; uint8 up to
  256 classes, the smallest unsigned type that holds the values beyond), whose
  class ``i`` is the head's channel ``i``;
- the image's voxel spacing, when it is known.

The file is ``<head>.<format>`` (:func:`head_file_name`). A head's
probabilities (``segreview predict --probabilities``) are one stack
``(C, [Z,] Y, X)`` of all its channels, float16 or uint8, with the channel
names and no kind, in ``<head>_probabilities.<format>``
(:func:`probabilities_file`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_segreview._util.arrays import label_dtype
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import ArrayMeta

__all__ = ["HEAD_KINDS", "PROBABILITIES", "head_file", "head_file_name", "prediction_files",
           "probabilities_file"]

#: What ends the file name of a head's probabilities: ``whole_probabilities.tif``.
PROBABILITIES = "_probabilities"

#: The head kinds of a model card and the array kind each is written as.
HEAD_KINDS = {"sigmoid": "multihot", "softmax": "labels"}


def head_file_name(head: str, fmt: str, probabilities: bool = False) -> str:
    """The file name of a head's masks, ``<head>.<fmt>``, or of its probabilities.

    Examples
    --------
    >>> head_file_name("whole", "tif"), head_file_name("whole", "npz", probabilities=True)
    ('whole.tif', 'whole_probabilities.npz')
    """
    return f"{head}{PROBABILITIES if probabilities else ''}.{fmt}"


def probabilities_file(channels: Sequence[str], probabilities: Any,
                       spacing: Sequence[float] | None = None) -> tuple[np.ndarray, ArrayMeta]:
    """The array and metadata a head's probabilities are written with (dtype kept).

    Examples
    --------
    >>> p = [np.full((2, 2), 0.25, np.float16), np.full((2, 2), 0.75, np.float16)]
    >>> stack, meta = probabilities_file(["bg", "bone"], p)
    >>> stack.shape, stack.dtype, meta.kind, meta.channel_names
    ((2, 2, 2), dtype('float16'), None, ('bg', 'bone'))
    """
    channels = tuple(channels)
    rows = [np.asarray(r) for r in probabilities]
    if len(rows) != len(channels) or len({r.shape for r in rows}) > 1:
        raise FormatError(f"give one probability map per channel ({', '.join(channels)}), "
                          "all of one shape.")
    return np.stack(rows), ArrayMeta(None, channels, spacing=spacing)


def head_file(kind: str, channels: Sequence[str], masks: Any,
              spacing: Sequence[float] | None = None) -> tuple[np.ndarray, ArrayMeta]:
    """The array and metadata a head's masks are written with.

    Parameters
    ----------
    kind : {"sigmoid", "softmax"}
        The head's kind (the model card's ``heads[].kind``).
    channels : sequence of str
        The head's channel names (a softmax head's class names, background first).
    masks : array or sequence of arrays
        Sigmoid: the stack ``(C, [Z,] Y, X)``, or one binary mask per channel.
        Softmax: the label map ``([Z,] Y, X)``.
    spacing : sequence of float, optional
        The voxel spacing of the image the masks belong to.

    Returns
    -------
    array : ndarray
        What is written: the uint8 stack, or the label map.
    meta : ArrayMeta
        Its kind, channel names and spacing.

    Raises
    ------
    FormatError
        If ``kind`` is unknown, the number of masks is not the number of
        channels, the masks differ in shape, or their values are not integers
        (or do not fit a stack's uint8).

    Examples
    --------
    >>> whole = np.array([[0, 1], [1, 1]], np.int32)
    >>> stack, meta = head_file("sigmoid", ["whole"], [whole], spacing=(0.5, 0.5))
    >>> stack.shape, stack.dtype, meta.kind, meta.channel_names, meta.spacing
    ((1, 2, 2), dtype('uint8'), 'multihot', ('whole',), (0.5, 0.5))
    >>> labels, meta = head_file("softmax", ["background", "a", "b"], whole)
    >>> labels.dtype, meta.kind, meta.channel_names
    (dtype('uint8'), 'labels', ('background', 'a', 'b'))
    """
    if kind not in HEAD_KINDS:
        raise FormatError(f"a head is 'sigmoid' or 'softmax', not {kind!r}.")
    channels = tuple(channels)
    meta = ArrayMeta(HEAD_KINDS[kind], channels, spacing=spacing)
    if kind == "softmax":
        labels = _integers(np.asarray(masks), "the label map")
        need = label_dtype(max(len(channels) - 1, 0))
        if np.can_cast(labels.dtype, need):  # every value fits: no pass over the volume
            return labels.astype(need, copy=False), meta
        top = max(len(channels) - 1, int(labels.max(initial=0)))
        return labels.astype(label_dtype(top), copy=False), meta
    rows = [np.asarray(m) for m in masks]
    if len(rows) != len(channels):
        raise FormatError(f"{len(rows)} masks were given for the {len(channels)} channels "
                          f"({', '.join(channels)}); give one mask per channel.")
    shapes = {r.shape for r in rows}
    if len(shapes) > 1:
        raise FormatError(f"the masks of {', '.join(channels)} have different shapes "
                          f"({', '.join(map(str, sorted(shapes)))}); give masks of one image.")
    for name, r in zip(channels, rows, strict=True):
        _integers(r, f"the mask of {name!r}")
        # one-byte values (uint8, bool, int8 after the sign check) always fit: no pass
        if r.dtype.itemsize > 1 and r.size and int(r.max()) > 255:
            raise FormatError(f"the mask of {name!r} holds values up to {int(r.max())}, which "
                              "is no binary mask; make it binary (0/1) first.")
    if not rows:
        return np.zeros((0,), np.uint8), meta
    # a stack given as one array (what predict decides) is written as it is, not copied
    stack = masks if isinstance(masks, np.ndarray) else np.stack(rows)
    return stack.astype(np.uint8, copy=False), meta


def _integers(a: np.ndarray, what: str) -> np.ndarray:
    if a.dtype.kind not in "biu":
        raise FormatError(f"{what} holds {a.dtype} values, not integer labels; give decided "
                          "masks, not probabilities.")
    if a.dtype.kind == "i" and a.size and int(a.min()) < 0:
        raise FormatError(f"{what} holds negative values; labels are 0, 1, 2, ...")
    return a


def prediction_files(prediction: Any, spacing: Any, fmt: str) -> list[tuple[str, Any, Any]]:
    """``(file name, array, ArrayMeta)`` for every file ``segreview predict`` writes.

    One decision file per head (:func:`head_file`) and, when the prediction
    kept them, one probabilities file per head (:func:`probabilities_file`).
    ``segreview predict`` and the dataset workers both write exactly these.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> head = NS(kind="sigmoid", channels=("fg",))
    >>> pred = NS(heads={"fg": NS(head=head, decision=np.zeros((1, 2, 2), np.uint8),
    ...                           probabilities=None)})
    >>> [(name, meta.kind) for name, _, meta in prediction_files(pred, None, "tif")]
    [('fg.tif', 'multihot')]
    """
    files = []
    for name, out in prediction.heads.items():
        head = out.head
        files.append((head_file_name(name, fmt),
                      *head_file(head.kind, head.channels, out.decision, spacing)))
        if out.probabilities is not None:
            files.append((head_file_name(name, fmt, probabilities=True),
                          *probabilities_file(head.channels, out.probabilities, spacing)))
    return files
