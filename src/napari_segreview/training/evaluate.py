"""Held-out Dice with exactly the decoding ``segreview predict`` uses.

Each held-out case runs through :func:`napari_segreview.inference.predict.predict`
(tiling, padding, ``logit > 0`` for sigmoid heads, ``argmax`` for softmax heads,
``within``), and its decisions are compared with the exported targets. The
channels scored are every sigmoid channel and every softmax class but each
head's first (background). Voxels marked 255 (ignore) in a softmax target
count in no Dice of that head. Dice per channel is pooled over the held-out
cases (voxel counts summed, then ``2 I / (P + T)``; 1.0 when both are empty),
and also reported per case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_segreview.card.spec import ModelCard
from napari_segreview.inference.predict import predict
from napari_segreview.labels.formats import IGNORE
from napari_segreview.labels.metrics import dice_counts
from napari_segreview.training.data import CaseData, plain_card

__all__ = ["Evaluation", "evaluate", "mean_dice", "metric_channels"]


def metric_channels(card: ModelCard) -> list[tuple[str, str, int]]:
    """``(channel name, head name, index)`` of every channel scored, in card order.

    Examples
    --------
    >>> card = ModelCard.from_dict({"heads": [
    ...     {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
    ...     {"name": "parts", "kind": "softmax", "channels": ["bg", "a", "b"]}]})
    >>> [c[0] for c in metric_channels(card)]
    ['whole', 'a', 'b']
    """
    out = []
    for h in card.heads:
        first = 0 if h.kind == "sigmoid" else 1
        out += [(name, h.name, i) for i, name in enumerate(h.channels) if i >= first]
    return out


def mean_dice(dice: dict[str, float | None]) -> float | None:
    """Mean of the defined values (None when there is none).

    Examples
    --------
    >>> mean_dice({"a": 0.5, "b": 1.0, "c": None})
    0.75
    """
    vals = [v for v in dice.values() if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else None


@dataclass
class Evaluation:
    """Held-out Dice: pooled per channel, and per case."""

    dice: dict[str, float]
    per_case: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def mean(self) -> float | None:
        """Mean Dice over the channels."""
        return mean_dice(self.dice)


def _model_image(case: CaseData) -> np.ndarray:
    img = case.image  # (C, Z, Y, X)
    img = img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1)
    return img[0] if case.flat else img


def _counts(case: CaseData, heads: dict[str, Any], card: ModelCard) -> dict[str, np.ndarray]:
    out = {}
    for name, head, i in metric_channels(card):
        dec = heads[head].decision
        target = case.targets[head]
        if card.head(head).kind == "sigmoid":
            p = dec[i].reshape(target[i].shape) != 0
            t = target[i] != 0
            keep = None
        else:
            d = dec.reshape(target.shape)
            keep = target != IGNORE
            p, t = (d == i) & keep, (target == i)
        out[name] = np.array([np.count_nonzero(p & t), np.count_nonzero(p),
                              np.count_nonzero(t)], np.int64)
    return out


def evaluate(model: Any, cases: Sequence[CaseData], card: ModelCard, *,
             device: Any = "cpu", batch_size: int = 4, amp: bool = True) -> Evaluation:
    """Dice of ``model`` on ``cases`` against their targets (the model is left in eval mode).

    Parameters
    ----------
    model : torch.nn.Module or callable
    cases : list of CaseData
        Held-out cases (their images are normalised already).
    card : ModelCard
    device, batch_size, amp
        As for :func:`~napari_segreview.inference.predict.predict`.

    Examples
    --------
    >>> card = ModelCard.from_dict({"heads": [{"name": "fg", "kind": "sigmoid",
    ...                                         "channels": ["fg"]}]})
    >>> img = np.array([[[[0.0, 1.0], [1.0, 0.0]]]], np.float32)
    >>> case = CaseData("c", img, {"fg": np.array([[[[0, 1], [1, 1]]]], np.uint8)}, flat=True)
    >>> ev = evaluate(lambda x: x - 0.5, [case], card)
    >>> round(ev.dice["fg"], 4), round(ev.per_case["c"]["fg"], 4)
    (0.8, 0.8)
    """
    plain = plain_card(card)
    names = [c[0] for c in metric_channels(card)]
    total = {n: np.zeros(3, np.int64) for n in names}
    per_case = {}
    for case in cases:
        result = predict(_model_image(case), model, plain, device=device,
                         batch_size=batch_size, amp=amp)
        counts = _counts(case, result.heads, card)
        per_case[case.name] = {n: float(dice_counts(*counts[n])) for n in names}
        for n in names:
            total[n] += counts[n]
    return Evaluation({n: float(dice_counts(*total[n])) for n in names}, per_case)
