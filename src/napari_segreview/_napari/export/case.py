"""What the Export panel exports: the chosen layers -> one :class:`ExportCase` (no Qt).

:func:`build_case` runs in the export worker. Layers that carry Predict's model
card are grouped by the card's heads (softmax: the label-map layer; sigmoid:
one layer per channel); masks with no card make a card by hand
(:func:`~napari_segreview.targets.build.card_from_choices`): the layers chosen
under Sigmoid one multi-hot head, those under Softmax one label map (one
label-map layer, or binary masks painted with the overlap rule). Whether a
layer is a label map and what its channels are called is :mod:`.._layers`'s.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from napari_segreview._napari._layers import channel_name, is_label_map, mask_channels
from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import FormatError
from napari_segreview.targets.build import (
    ExportCase,
    build_targets,
    card_from_choices,
    check_class_masks,
    image_spatial_shape,
    softmax_from_masks,
)

__all__ = ["build_case"]


def build_case(ch: dict[str, Any]) -> ExportCase:
    """The :class:`ExportCase` from :meth:`~.widget.ExportWidget.choices` (runs in the worker).

    ``ch`` holds the image (``image``, ``image_name``, ``scale``, ``source``,
    ``image_mode``), the chosen layers as ``(data, name, metadata)`` under
    ``sigmoid`` and ``softmax``, the overlap ``rule``, the ``ignore`` mask (or
    None), ``ignore_outside``, the ``case`` name and the layer ``records``.
    """
    sig, soft = ch["sigmoid"], ch["softmax"]
    cards = {json.dumps(m.get("card"), sort_keys=True) for _, _, m in [*sig, *soft]}
    if len(cards) == 1 and (sig or soft)[0][2].get("card"):
        card, inputs, parts = _from_card([*sig, *soft])
    else:
        card, inputs, parts = _by_hand(sig, soft, ch["rule"])
    if ch["image_mode"] == "normalized" and card.name == "by-hand":
        raise FormatError("a normalised image needs the model card of Predict's layers; "
                          "store the raw image instead.")
    image = np.asarray(ch["image"])
    spatial = image_spatial_shape(image, card.input)
    ignore = None if ch["ignore"] is None else np.asarray(ch["ignore"])
    targets = build_targets(card, inputs, spatial, ignore=ignore,
                            ignore_outside_parent=ch["ignore_outside"])
    recs = ch["records"]
    records = [{**recs[ch["image_name"]], "role": "image"},
               *({**recs[n], "role": "target", "head": h, "channel": c} for n, h, c in parts)]
    return ExportCase(ch["case"], image, targets, card, spacing=ch["scale"][-len(spatial):],
                      source=ch["source"], image_mode=ch["image_mode"], layers=records)


def _from_card(layers: list[tuple]) -> tuple[ModelCard, dict, list]:
    card = ModelCard.from_dict(layers[0][2]["card"])
    inputs: dict[str, Any] = {}
    parts: list[tuple] = []
    for head in card.heads:
        mine = [ly for ly in layers if ly[2].get("head") == head.name]
        if not mine:
            continue
        if head.kind == "softmax":
            if len(mine) > 1:
                raise FormatError(f"{_are_all(mine)} layers of head {head.name!r}: "
                                  "select one of them.")
            inputs[head.name] = np.asarray(mine[0][0])
            parts.append((mine[0][1], head.name, None))
            continue
        by_channel: dict[Any, tuple] = {}
        for d, n, m in mine:
            c = m.get("channel")
            if c in by_channel:
                same = [ly for ly in mine if ly[2].get("channel") == c]
                raise FormatError(f"{_are_all(same)} layers of channel {c!r} of head "
                                  f"{head.name!r}: select one of them.")
            by_channel[c] = (d, n)
        missing = [c for c in head.channels if c not in by_channel]
        if missing:
            raise FormatError(f"select the layer of every channel of head {head.name!r}: "
                              f"{', '.join(missing)} missing.")
        inputs[head.name] = np.stack([np.asarray(by_channel[c][0]) for c in head.channels])
        parts.extend((by_channel[c][1], head.name, c) for c in head.channels)
    return card, inputs, parts


def _are_all(layers: list[tuple]) -> str:
    """``'a' and 'b' are both`` / ``'a', 'b' and 'c' are all``: layer tuples in a sentence."""
    names = [repr(n) for _, n, _ in layers]
    return (f"{', '.join(names[:-1])} and {names[-1]} "
            f"{'are both' if len(names) == 2 else 'are all'}")


def _by_hand(sig: list[tuple], soft: list[tuple], rule: dict) -> tuple[ModelCard, dict, list]:
    def channel(ly: tuple) -> str:
        return channel_name(ly[2], ly[1])

    both = {n for _, n, _ in sig} & {n for _, n, _ in soft}
    if both:
        raise FormatError(f"{sorted(both)[0]!r} is selected under both Sigmoid and Softmax; "
                          "a layer belongs to one target: unselect it in one.")
    for lst, what in ((sig, "Sigmoid"), (soft, "Softmax")):
        for ly in lst:
            same = [x for x in lst if channel(x) == channel(ly)]
            if len(same) > 1:
                raise FormatError(f"{_are_all(same)} channel {channel(ly)!r} under "
                                  f"{what}: select one of them.")
    label_map = len(soft) == 1 and is_label_map(soft[0][2])
    soft_names = ([n for n, _ in mask_channels(soft[0][2], soft[0][1])] if label_map
                  else [channel(ly) for ly in soft])
    if not label_map:
        check_class_masks(soft_names)       # a mask named background: before the card
    card = card_from_choices([channel(ly) for ly in sig], soft_names)
    inputs: dict[str, Any] = {}
    parts: list[tuple] = []
    if sig:
        shapes = {np.shape(d) for d, _, _ in sig}
        if len(shapes) > 1:
            raise FormatError(f"the Sigmoid layers have different shapes {sorted(shapes)}; "
                              "select layers of one image.")
        inputs["channels"] = np.stack([np.asarray(d) for d, _, _ in sig])
        parts.extend((ly[1], "channels", channel(ly)) for ly in sig)
    if label_map:
        inputs["classes"] = np.asarray(soft[0][0])
        parts.append((soft[0][1], "classes", None))
    elif soft:
        shapes = {np.shape(d) for d, _, _ in soft}
        if len(shapes) > 1:
            raise FormatError(f"the Softmax layers have different shapes {sorted(shapes)}; "
                              "select layers of one image.")
        inputs["classes"] = softmax_from_masks(card.head("classes"),
                                               [np.asarray(d) for d, _, _ in soft], **rule)
        parts.extend((ly[1], "classes", channel(ly)) for ly in soft)
    return card, inputs, parts
