"""Each head's loss, built from the model card (the second reference thread's recipe).

* **sigmoid** head (independent channels, multi-hot targets ``(N, C, ...)``
  of 0/1): ``BCEWithLogitsLoss`` with ``pos_weight = negatives / positives``
  per channel (it multiplies the loss of the positive voxels, so a rare
  channel is weighted up), plus a soft Dice per channel.
* **softmax** head (one class per voxel, an integer label map ``(N, ...)``,
  no channel axis): ``CrossEntropyLoss(ignore_index=255)`` with optional class
  weights, plus a soft Dice over the foreground classes (all but the first).
* A composite card (several heads) sums the heads' losses, each with a weight.

Voxels marked invalid (padding) or 255 (ignore, softmax targets) count in no
loss. With every voxel valid, the BCE and CE terms are exactly torch's
``BCEWithLogitsLoss(pos_weight=...)`` and ``CrossEntropyLoss(weight=...,
ignore_index=255)`` with their default mean reduction.

The soft Dice is a batch Dice, ``1 - (2 * sum(p t) + 1) / (sum(p) + sum(t) + 1)``
per channel, averaged over the channels: a channel's share of the loss does
not shrink with its size, which is why it helps small parts that voxel-wise
losses let drown in the background.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from napari_segreview.card.spec import HeadSpec, ModelCard
from napari_segreview.errors import FormatError
from napari_segreview.labels.formats import IGNORE

__all__ = ["CardLoss", "HeadLoss", "soft_dice"]


def soft_dice(prob: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
              smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice, mean over channels: ``prob``, ``target`` ``(N, C, ...)``, mask ``(N, ...)``.

    Examples
    --------
    >>> p = torch.tensor([[[1.0, 0.0]]])
    >>> round(soft_dice(p, p).item(), 6)
    0.0
    """
    if mask is not None:
        m = mask.unsqueeze(1).to(prob.dtype)
        prob, target = prob * m, target * m
    dims = [0, *range(2, prob.ndim)]
    inter = (prob * target).sum(dims)
    denom = prob.sum(dims) + target.sum(dims)
    return (1 - (2 * inter + smooth) / (denom + smooth)).mean()


@dataclass
class HeadLoss:
    """The loss of one head.

    Parameters
    ----------
    head : HeadSpec
    pos_weight : sequence of float, optional
        Sigmoid heads: one weight per channel (negatives / positives).
    class_weight : sequence of float, optional
        Softmax heads: one weight per class (CrossEntropyLoss ``weight``).
    dice : float
        Weight of the soft Dice term (0: none).
    weight : float
        The head's weight in a composite card's sum.
    """

    head: HeadSpec
    pos_weight: tuple[float, ...] | None = None
    class_weight: tuple[float, ...] | None = None
    dice: float = 1.0
    weight: float = 1.0

    def __call__(self, logits: torch.Tensor, target: torch.Tensor,
                 valid: torch.Tensor | None = None) -> torch.Tensor:
        """The head's loss from the full logits ``(N, n_outputs, ...)`` (its slice is taken)."""
        h = self.head
        x = logits[:, h.start:h.stop].float()
        if h.kind == "sigmoid":
            return self._sigmoid(x, target.to(x.dtype), valid)
        return self._softmax(x, target, valid)

    def _sigmoid(self, x, t, valid):
        pw = None
        if self.pos_weight is not None:
            shape = (-1,) + (1,) * (x.ndim - 2)  # per channel: view(-1, 1, 1[, 1])
            pw = torch.tensor(self.pos_weight, dtype=x.dtype, device=x.device).view(shape)
        if valid is None:
            loss = F.binary_cross_entropy_with_logits(x, t, pos_weight=pw)
        else:
            per = F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="none")
            m = valid.unsqueeze(1).to(x.dtype)
            loss = (per * m).sum() / (m.sum() * x.shape[1]).clamp_min(1)
        if self.dice:
            loss = loss + self.dice * soft_dice(torch.sigmoid(x), t, valid)
        return loss

    def _softmax(self, x, y, valid):
        y = y.long()
        if valid is not None:
            y = torch.where(valid, y, torch.full_like(y, IGNORE))
        w = None
        if self.class_weight is not None:
            w = torch.tensor(self.class_weight, dtype=x.dtype, device=x.device)
        if bool((y != IGNORE).any()):
            loss = F.cross_entropy(x, y, weight=w, ignore_index=IGNORE)
        else:  # every voxel ignored: no loss (torch would give NaN), gradients of zero
            loss = x.sum() * 0
        if self.dice and x.shape[1] > 1:
            keep = y != IGNORE
            safe = torch.where(keep, y, torch.zeros_like(y))
            onehot = F.one_hot(safe, x.shape[1]).movedim(-1, 1).to(x.dtype)[:, 1:]
            prob = x.softmax(dim=1)[:, 1:]
            loss = loss + self.dice * soft_dice(prob, onehot, keep)
        return loss


class CardLoss:
    """The card's loss: the weighted sum of its heads' losses.

    Parameters
    ----------
    card : ModelCard
    statistics : dict, optional
        Class statistics of the training cases (``statistics.json``'s form):
        ``pos_weight`` of sigmoid heads, ``weight`` of softmax heads.
    pos_weight : bool
        Use the statistics' ``pos_weight`` for sigmoid heads.
    class_weights : bool
        Use the statistics' class weights for softmax heads.
    head_weights : mapping, optional
        Weight per head name in the sum (default 1 each).
    dice : float or mapping
        Soft-Dice weight, one for all heads or per head name.

    Examples
    --------
    >>> card = ModelCard.from_dict({"heads": [{"name": "fg", "kind": "sigmoid",
    ...                                         "channels": ["fg"]}]})
    >>> loss = CardLoss(card, dice=0)
    >>> x, t = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    >>> total, parts = loss(x, {"fg": t})
    >>> round(total.item(), 4), round(parts["fg"], 4)
    (0.6931, 0.6931)
    """

    def __init__(self, card: ModelCard, statistics: Mapping | None = None, *,
                 pos_weight: bool = True, class_weights: bool = False,
                 head_weights: Mapping[str, float] | None = None,
                 dice: float | Mapping[str, float] = 1.0) -> None:
        stats = (statistics or {}).get("heads", {})
        head_weights = dict(head_weights or {})
        unknown = [n for n in head_weights if n not in {h.name for h in card.heads}]
        if unknown:
            raise FormatError(f"the card has no head {unknown[0]!r} to weight (it has "
                              f"{', '.join(h.name for h in card.heads)}); name its heads.")
        self.card = card
        self.heads: list[HeadLoss] = []
        for h in card.heads:
            s = stats.get(h.name, {})
            pw = tuple(s["pos_weight"]) if (pos_weight and h.kind == "sigmoid"
                                            and s.get("pos_weight")) else None
            cw = tuple(s["weight"]) if (class_weights and h.kind == "softmax"
                                        and s.get("weight")) else None
            d = dice.get(h.name, 1.0) if isinstance(dice, Mapping) else dice
            self.heads.append(HeadLoss(h, pw, cw, float(d), float(head_weights.get(h.name, 1.0))))

    def __call__(self, logits: torch.Tensor, targets: Mapping[str, torch.Tensor],
                 valid: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The total loss (a tensor to backpropagate) and each head's value (floats)."""
        if valid is not None and bool(valid.all()):
            valid = None  # nothing padded: the plain (cheaper) reductions
        total = None
        parts: dict[str, float] = {}
        for hl in self.heads:
            value = hl(logits, targets[hl.head.name], valid)
            parts[hl.head.name] = float(value.detach())
            term = hl.weight * value
            total = term if total is None else total + term
        return total, parts

    def describe(self) -> dict[str, dict]:
        """What each head's loss is (for ``training.json``)."""
        out = {}
        for hl in self.heads:
            main = "BCEWithLogitsLoss" if hl.head.kind == "sigmoid" else (
                f"CrossEntropyLoss(ignore_index={IGNORE})")
            out[hl.head.name] = {"loss": main, "pos_weight": hl.pos_weight,
                                 "class_weight": hl.class_weight, "dice": hl.dice,
                                 "weight": hl.weight}
        return out
