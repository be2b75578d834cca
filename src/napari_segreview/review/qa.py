"""QA of a correction against the model's kept prediction, and prediction sanity warnings.

* :func:`channel_qa` / :func:`qa_table`: per channel Dice between the
  corrected mask and the prediction, voxels added and removed by the
  correction, in total and per slice (first axis of a stack).
* :func:`prediction_warnings`: channels whose predictions are nearly identical
  (the "same output in all three channels" symptom) or empty, each with a
  sentence that names the likely cause.

Channels are :class:`~napari_segreview.review.checks.Channel` objects (a binary
mask or a class of a label map); a prediction is the array of the same layer
as the model decided it. Everything runs in blocks aligned to slices: no
temporary of the volume's size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_segreview._util.arrays import blocks
from napari_segreview.errors import ReviewError
from napari_segreview.labels.metrics import dice_counts
from napari_segreview.review.checks import Channel, count_per_slice, slice_blocks

__all__ = [
    "ChannelQA",
    "PredictionWarning",
    "channel_qa",
    "prediction_warnings",
    "qa_table",
]


@dataclass(frozen=True)
class ChannelQA:
    """One channel's correction compared with its prediction, per slice.

    Attributes
    ----------
    name : str
        Channel name.
    intersection, predicted, corrected : ndarray of int64, shape (n_slices,)
        Per slice: voxels on in both, on in the prediction, on in the
        correction. A 2-D image is one slice.
    """

    name: str
    intersection: np.ndarray
    predicted: np.ndarray
    corrected: np.ndarray

    @property
    def n_predicted(self) -> int:
        """Voxels on in the prediction."""
        return int(self.predicted.sum())

    @property
    def n_corrected(self) -> int:
        """Voxels on in the correction."""
        return int(self.corrected.sum())

    @property
    def added(self) -> int:
        """Voxels the correction switched on."""
        return int((self.corrected - self.intersection).sum())

    @property
    def removed(self) -> int:
        """Voxels the correction switched off."""
        return int((self.predicted - self.intersection).sum())

    @property
    def dice(self) -> float:
        """Dice of correction and prediction (1.0 when both are empty)."""
        return dice_counts(int(self.intersection.sum()), self.n_predicted, self.n_corrected)

    @property
    def slice_added(self) -> np.ndarray:
        """Voxels switched on, per slice."""
        return self.corrected - self.intersection

    @property
    def slice_removed(self) -> np.ndarray:
        """Voxels switched off, per slice."""
        return self.predicted - self.intersection

    @property
    def slice_dice(self) -> np.ndarray:
        """Dice per slice (1.0 on slices where both are empty)."""
        return dice_counts(self.intersection, self.predicted, self.corrected)

    @property
    def changed_slices(self) -> np.ndarray:
        """Indices of the slices the correction changed."""
        return np.flatnonzero((self.slice_added + self.slice_removed) > 0)

    def row(self) -> dict[str, Any]:
        """The totals as a plain dict (a table row, JSON-ready)."""
        return {"channel": self.name, "dice": self.dice, "added": self.added,
                "removed": self.removed, "predicted": self.n_predicted,
                "corrected": self.n_corrected}


def channel_qa(corrected: Channel, predicted: Any) -> ChannelQA:
    """Compare one channel of a correction with the same layer's prediction.

    Parameters
    ----------
    corrected : Channel
        The channel as it is now (a binary mask, or class ``value`` of a label
        map).
    predicted : array, same shape as ``corrected.data``, or Channel
        The layer's kept prediction; an array is read the same way as the
        correction (non-zero, or equal to ``corrected.value``). A Channel is
        read as it says, so a prediction stored as a label map can be compared
        with a binary correction (and back) without converting either.

    Returns
    -------
    ChannelQA

    Raises
    ------
    ReviewError
        If the shapes differ.

    Examples
    --------
    >>> pred = np.array([[[1, 1, 0, 0]], [[0, 0, 0, 0]]], np.uint8)
    >>> now = np.array([[[1, 0, 0, 0]], [[0, 1, 1, 0]]], np.uint8)
    >>> q = channel_qa(Channel("bone", now), pred)
    >>> q.dice, q.added, q.removed, q.changed_slices.tolist()
    (0.4, 2, 1, [0, 1])
    """
    pc = predicted if isinstance(predicted, Channel) else Channel(
        corrected.name, predicted, corrected.value, corrected.source)
    if pc.shape != corrected.shape:
        raise ReviewError(
            f"the kept prediction of {corrected.name!r} has shape {pc.shape} but the layer has "
            f"shape {corrected.shape}; the layer was resized, so run the model again."
        )
    shape = corrected.shape
    nz = shape[0] if len(shape) >= 3 else 1
    inter, npred, ncorr = (np.zeros(nz, np.int64) for _ in range(3))
    for s, z0, n in slice_blocks(shape):
        p, c = pc.mask(s), corrected.mask(s)
        count_per_slice(p, z0, n, npred)
        count_per_slice(c, z0, n, ncorr)
        count_per_slice(p & c, z0, n, inter)
    return ChannelQA(corrected.name, inter, npred, ncorr)


def qa_table(channels: Sequence[Channel], predictions: Mapping[str, Any]) -> list[ChannelQA]:
    """:func:`channel_qa` of every channel whose source has a kept prediction.

    Parameters
    ----------
    channels : sequence of Channel
    predictions : mapping of source name to array
        The kept prediction of each array (layer); channels of other sources
        are skipped.

    Examples
    --------
    >>> lab = np.array([[0, 1, 2, 2]], np.uint8)
    >>> pred = np.array([[0, 1, 1, 2]], np.uint8)
    >>> chans = [Channel("a", lab, 1, "parts"), Channel("b", lab, 2, "parts")]
    >>> [(q.name, q.added, q.removed) for q in qa_table(chans, {"parts": pred})]
    [('a', 0, 1), ('b', 1, 0)]
    """
    return [channel_qa(c, predictions[c.source]) for c in channels if c.source in predictions]


@dataclass(frozen=True)
class PredictionWarning:
    """A suspicious prediction: ``kind`` is ``"identical"`` or ``"empty"``."""

    kind: str
    channels: tuple[str, ...]
    dice: float | None
    message: str


def _identical_message(a: str, b: str, d: float) -> str:
    return (
        f"The predictions of {a!r} and {b!r} are nearly identical (Dice {d:.3f}): the model "
        "gives the same output in both channels. Likely causes: training collapsed onto the "
        "channel with the most foreground (a 'whole' channel dominating BCEWithLogitsLoss; "
        "weight the channels, e.g. pos_weight, or train the whole and its parts as separate "
        "heads with 'within'), the same target mask was given for every channel, or the "
        "channels were decoded the wrong way (a sigmoid head trained or read as softmax/argmax, "
        "or the reverse): check 'kind' in the model card."
    )


def _empty_message(a: str) -> str:
    return (
        f"The prediction of {a!r} is empty in the whole image: either there is no {a!r} here, "
        "or the model never predicts it (argmax over a single output channel is always 0: "
        "declare such a head kind: sigmoid, decided by logit > 0; or training collapsed to "
        "background on an unbalanced class)."
    )


def prediction_warnings(channels: Sequence[Channel], *, threshold: float = 0.95
                        ) -> list[PredictionWarning]:
    """Warn about empty channels and pairs of nearly identical channels in a prediction.

    Parameters
    ----------
    channels : sequence of Channel
        The prediction, one channel each (binary masks or label-map classes).
    threshold : float
        Pairs with Dice at or above it are reported. Two classes of one label
        map never overlap and are not compared.

    Returns
    -------
    list of PredictionWarning
        ``empty`` warnings first, then ``identical`` pairs in channel order.

    Examples
    --------
    >>> a = np.zeros((2, 16), np.uint8); a[:, :10] = 1
    >>> b = a.copy(); b[0, 0] = 0
    >>> w = prediction_warnings([Channel("whole", a), Channel("part_1", b),
    ...                          Channel("part_2", np.zeros_like(a))])
    >>> [(x.kind, x.channels) for x in w]
    [('empty', ('part_2',)), ('identical', ('whole', 'part_1'))]
    >>> round(w[1].dice, 3)
    0.974
    """
    chans = list(channels)
    if not chans:
        return []
    n = chans[0].size
    if any(c.size != n for c in chans):
        raise ReviewError("the predictions have different shapes; compare channels of one image.")
    k = len(chans)
    counts = np.zeros(k, np.int64)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)
             if chans[i].source != chans[j].source or chans[i].binary or chans[j].binary]
    inter = np.zeros(len(pairs), np.int64)
    for s in blocks(n):
        masks = [c.mask(s) for c in chans]
        for i, m in enumerate(masks):
            counts[i] += int(np.count_nonzero(m))
        for p, (i, j) in enumerate(pairs):
            inter[p] += int(np.count_nonzero(masks[i] & masks[j]))
    out = [PredictionWarning("empty", (c.name,), None, _empty_message(c.name))
           for c, cnt in zip(chans, counts, strict=True) if cnt == 0]
    for p, (i, j) in enumerate(pairs):
        if counts[i] == 0 or counts[j] == 0:
            continue
        d = dice_counts(int(inter[p]), int(counts[i]), int(counts[j]))
        if d >= threshold:
            a, b = chans[i].name, chans[j].name
            out.append(PredictionWarning("identical", (a, b), d, _identical_message(a, b, d)))
    return out
