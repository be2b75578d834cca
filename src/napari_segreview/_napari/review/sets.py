"""The masks a Review widget works on: which layers, channels, rules and kept predictions.

Qt-free glue between napari layers and :mod:`napari_segreview.review.checks` /
:mod:`napari_segreview.review.qa`: a :class:`ReviewSet` is built from the
decision layers of one Predict run (rules from the model card's ``within``)
or from a parent and child layers picked by hand; :func:`analyse` and
:func:`compute_fix` are what the widget runs in its worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from napari.layers import Labels

from napari_segreview._napari._layers import mask_channels
from napari_segreview._napari._meta import layers_of, meta
from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import ReviewError
from napari_segreview.labels.checks import CheckReport
from napari_segreview.review import checks as core_review
from napari_segreview.review import qa as core_qa
from napari_segreview.review.checks import Channel, FixResult, Rule, run_fix

__all__ = ["MISSING", "ReviewSet", "analyse", "compute_fix", "decision_runs", "set_from_layers",
           "set_from_run"]

#: What the panel says when a fix lacks an input (:func:`napari_segreview.review.fixes.run_fix`).
MISSING = {
    "priority": ("there are no sibling channels to de-overlap; tick 'Children must not "
                 "overlap' and pick at least two children."),
    "rules": ("these masks have no parent/children rule: pick layers by hand, or a run whose "
              "card has a head 'within' another."),
}


@dataclass
class ReviewSet:
    """The channels under review, their rules, and the layers they live in."""

    key: str
    channels: list[Channel]
    rules: list[Rule]
    layers: dict[str, Labels]
    predictions: dict[str, np.ndarray]
    run: str | None = None
    image: str | None = None

    def layer_of(self, channel: str) -> Labels | None:
        """The layer a channel lives in."""
        for c in self.channels:
            if c.name == channel:
                return self.layers.get(c.source)
        return None

    def siblings(self) -> list[str]:
        """Children of the ``disjoint`` rules, in order, each once."""
        out: list[str] = []
        for r in self.rules:
            out += [c for c in r.children if c not in out and r.disjoint]
        return out


def _channels_of(layer: Labels, binary_name: str) -> list[Channel]:
    return [Channel(name, layer.data, value, source=layer.name)
            for name, value in mask_channels(meta(layer), binary_name)]


def _prediction(layer: Labels) -> np.ndarray | None:
    p = meta(layer).get("prediction")
    return p if isinstance(p, np.ndarray) and p.shape == layer.data.shape else None


def decision_runs(layers) -> dict[str, list[Labels]]:
    """Decision Labels layers grouped by Predict run (superseded copies left out)."""
    runs: dict[str, list[Labels]] = {}
    for layer in layers_of(layers, kind="decision"):
        m = meta(layer)
        if isinstance(layer, Labels) and m.get("run") and not m.get("superseded"):
            runs.setdefault(m["run"], []).append(layer)
    return runs


def set_from_run(layers: list[Labels], *, disjoint: bool, union: bool) -> ReviewSet:
    """The review set of one run's decision layers, with the rules of its card."""
    m = meta(layers[0])
    card_dict = next((meta(x)["card"] for x in layers if meta(x).get("card")), None)
    channels = [c for x in layers for c in _channels_of(x, str(meta(x).get("channel")))]
    rules = []
    if card_dict is not None:
        have = {c.name for c in channels}
        for r in core_review.rules_from_card(ModelCard.from_dict(card_dict),
                                             disjoint=disjoint, union=union):
            kids = tuple(k for k in r.children if k in have)
            if r.parent in have and kids:
                rules.append(Rule(r.parent, kids, r.disjoint, r.union))
    preds = {x.name: p for x in layers if (p := _prediction(x)) is not None}
    return ReviewSet(f"run:{m['run']}", channels, rules, {x.name: x for x in layers}, preds,
                     run=m["run"], image=m.get("image"))


def set_from_layers(parent: Labels | None, children: list[Labels], *, disjoint: bool,
                    union: bool) -> ReviewSet:
    """The review set of a parent layer and child layers picked by hand."""
    if parent is None:
        raise ReviewError("pick a parent layer (e.g. 'whole') under 'Parent'.")
    kids = [x for x in children if x.name != parent.name]   # by name: plugins see proxies
    if not kids:
        raise ReviewError("pick one or more child layers (e.g. the parts) under 'Children'.")
    layers = [parent, *kids]
    channels = [c for x in layers for c in _channels_of(x, x.name)]
    rules = [Rule(channels[0].name, tuple(c.name for c in channels[1:]), disjoint, union)]
    if not channels[0].binary:
        raise ReviewError(f"the parent {parent.name!r} is a label map; pick a binary layer.")
    preds = {x.name: p for x in layers if (p := _prediction(x)) is not None}
    return ReviewSet("manual", channels, rules, {x.name: x for x in layers}, preds)


def analyse(rs: ReviewSet, warn: bool) -> tuple[CheckReport, list, list]:
    """Checks, QA and (when ``warn``) prediction warnings of a review set (worker side)."""
    report = core_review.check_review(rs.channels, rs.rules)
    rows = core_qa.qa_table(rs.channels, rs.predictions)
    warnings = []
    if warn:
        pred = [Channel(c.name, rs.predictions[c.source], c.value, c.source)
                for c in rs.channels if c.source in rs.predictions]
        warnings = core_qa.prediction_warnings(pred)
    return report, rows, warnings


def compute_fix(rs: ReviewSet, fix: str, priority: list[str]) -> FixResult:
    """Compute a fix on a review set (worker side), with the panel's sentences."""
    return run_fix(fix, rs.channels, rs.rules, priority, missing=MISSING)
