"""How unsure the model is about an image: entropy of its probabilities, on the device.

:func:`~napari_segreview.inference.predict.predict` with ``uncertainty=True``
feeds every finished slice group's logits to an :class:`UncertaintyAccumulator`
(the probabilities it already computes, no extra forward pass, no probability
file), which keeps two numbers per key on the host: the sum of entropies and
the number of voxels counted.

The formula (all entropies normalised to 0..1):

* a **sigmoid channel** with probability ``p = sigmoid(logit)``: the binary
  entropy ``H = -(p log p + (1 - p) log(1 - p)) / log 2``, averaged over the
  voxels where the channel is not confidently absent, ``p > t``;
* a **softmax head** of ``K`` classes: ``H = -sum_k p_k log p_k / log K``,
  averaged over the voxels where the head's background (class 0) is not
  confident, ``p_0 < 1 - t``;
* ``t`` is :data:`CONFIDENT` (0.05). Restricting the mean to those voxels keeps
  a large, confidently empty volume from diluting the score of a small,
  doubtful structure. A key with no such voxel scores 0.0 (the model is sure
  there is nothing) and is left out of the case's score;
* the case's score is the mean of the per-key scores that counted voxels
  (``nanmean``), 0.0 when none did.

MONAI Label's epistemic strategy is the anchor: it averages (``nanmean``) the
entropy of several dropout samples over a case. Here one deterministic pass
gives the entropy of the model's own probabilities (aleatoric plus the part
of epistemic uncertainty a single pass shows), which costs nothing extra.

Examples
--------
>>> from napari_segreview.card.spec import ModelCard
>>> card = ModelCard.from_dict({"heads": [{"name": "fg", "kind": "sigmoid",
...                                        "channels": ["fg"]}]})
>>> acc = UncertaintyAccumulator(card)
>>> acc.add(torch.tensor([[[[0.0, -20.0, 20.0]]]]))   # p = 0.5 (H = 1), ~0 (skipped), ~1 (H ~ 0)
>>> u = acc.result()
>>> round(u.score, 3), round(u.channels["fg"], 3), u.voxels["fg"]
(0.5, 0.5, 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from napari_segreview.card.spec import ModelCard

__all__ = ["CONFIDENT", "Uncertainty", "UncertaintyAccumulator", "uncertainty_keys"]

#: A probability below this (or a background probability above 1 - this) is confident.
CONFIDENT = 0.05


@dataclass
class Uncertainty:
    """The scores of one image.

    Attributes
    ----------
    score : float
        The case's score (0..1): mean of the keys that counted voxels.
    channels : dict of str to float
        Per sigmoid channel (its name) and per softmax head (its name).
    voxels : dict of str to int
        How many voxels each key's mean is over.
    """

    score: float
    channels: dict[str, float] = field(default_factory=dict)
    voxels: dict[str, int] = field(default_factory=dict)


def uncertainty_keys(card: ModelCard) -> list[str]:
    """The keys of the scores: sigmoid channels and softmax heads, in card order.

    A name already used is prefixed with its head (``head/channel``).

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> uncertainty_keys(ModelCard.from_dict({"heads": [
    ...     {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
    ...     {"name": "parts", "kind": "softmax", "channels": ["background", "a"]}]}))
    ['whole', 'parts']
    """
    keys: list[str] = []
    for h in card.heads:
        names = list(h.channels) if h.kind == "sigmoid" else [h.name]
        for n in names:
            keys.append(n if n not in keys else f"{h.name}/{n}")
    return keys


class UncertaintyAccumulator:
    """Sums of entropies and voxel counts per key, fed with logits ``(N, K, [Z,] Y, X)``.

    Parameters
    ----------
    card : ModelCard
    threshold : float
        :data:`CONFIDENT` by default.
    """

    def __init__(self, card: ModelCard, threshold: float = CONFIDENT) -> None:
        self.card = card
        self.threshold = float(threshold)
        self.keys = uncertainty_keys(card)
        self.sums = [0.0] * len(self.keys)
        self.counts = [0] * len(self.keys)

    def add(self, logits: torch.Tensor) -> None:
        """Count the voxels of finished logits (each voxel must be added once)."""
        t = self.threshold
        parts_sum: list[torch.Tensor] = []
        parts_n: list[torch.Tensor] = []
        for h in self.card.heads:
            x = logits[:, h.start:h.stop].float()
            if h.kind == "sigmoid":
                p = torch.sigmoid(x)
                # -(p log p + (1-p) log(1-p)) with log p = -softplus(-x), log(1-p) = -softplus(x)
                ent = (p * F.softplus(-x) + (1 - p) * F.softplus(x)) / math.log(2)
                mask = p > t
                dims = [0, *range(2, x.ndim)]
                parts_sum.append((ent * mask).sum(dim=dims))
                parts_n.append(mask.sum(dim=dims))
            else:
                logp = torch.log_softmax(x, dim=1)
                ent = -(logp.exp() * logp).sum(dim=1) / math.log(max(len(h.channels), 2))
                mask = logp[:, 0].exp() < 1 - t
                parts_sum.append((ent * mask).sum().reshape(1))
                parts_n.append(mask.sum().reshape(1))
        sums = torch.cat(parts_sum).double().cpu().tolist()
        counts = torch.cat(parts_n).cpu().tolist()
        for i, (s, n) in enumerate(zip(sums, counts, strict=True)):
            self.sums[i] += s
            self.counts[i] += int(n)

    def result(self) -> Uncertainty:
        """The per-key means and the case's score."""
        channels, voxels, counted = {}, {}, []
        for k, s, n in zip(self.keys, self.sums, self.counts, strict=True):
            value = min(max(s / n, 0.0), 1.0) if n else 0.0
            channels[k], voxels[k] = value, n
            if n:
                counted.append(value)
        score = sum(counted) / len(counted) if counted else 0.0
        return Uncertainty(score=score, channels=channels, voxels=voxels)
