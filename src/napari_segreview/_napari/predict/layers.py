"""The layers a Predict run shows: pure functions, no napari, Qt or torch.

:func:`prediction_layers` turns a
:class:`~napari_segreview.inference.predict.Prediction` into napari *layer data
tuples* ``(data, kwargs, layer_type)``; which old layers a re-run replaces is
:mod:`.rerun`'s. The Predict widget only adds them; the tests run them on plain
objects without a display.

Layers of one run, for a card with a sigmoid head ``whole`` (channel
``whole``) and a softmax head ``parts`` (``background, part_1, part_2``):

======================  ======  ==============================================
name                    type    data
======================  ======  ==============================================
``whole (p)``           image   probability of ``whole``, contrast 0..1
``parts: part_1 (p)``   image   one per channel; the background is hidden
``whole``               labels  binary uint8 0/1 (sigmoid channels may overlap)
``parts``               labels  label map, class names as layer ``features``
======================  ======  ==============================================

Every layer carries ``metadata["segreview"]`` as :mod:`.._meta` describes.
Probabilities kept as uint8 hold ``round(p * 255)`` (contrast 0..255).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._napari._colours import (
    BACKGROUND,
    channel_color,
    label_colormap,
    mask_colormap,
)
from napari_segreview._napari._layers import class_features
from napari_segreview._napari._meta import KEY

__all__ = [
    "channel_colors",
    "layer_name",
    "prediction_layers",
    "run_id",
    "unique_name",
]

#: Opacity of decision layers over the image.
LABEL_OPACITY = 0.6
#: Opacity of probability layers (additive blending).
PROB_OPACITY = 0.8


def run_id(image_name: str, model_path: str | Path) -> str:
    """The id shared by the layers of a run of ``model_path`` on ``image_name``.

    Running the same model on the same image again gives the same id, which
    is how a re-run finds the layers it replaces.

    Examples
    --------
    >>> run_id("CT phantom", "/models/bone.pt")
    '/models/bone.pt :: CT phantom'
    """
    return f"{model_path} :: {image_name}"


def layer_name(head: Any, channel: str | None = None, probability: bool = False) -> str:
    """The layer name of a head's decision or of one channel's decision/probability.

    A softmax head's label map is named after the head; a channel after the
    channel, prefixed with its head when the head has several channels.
    Probability layers end in ``" (p)"``.

    Examples
    --------
    >>> from napari_segreview.card.spec import HeadSpec
    >>> parts = HeadSpec("parts", "softmax", ("background", "part_1"))
    >>> whole = HeadSpec("whole", "sigmoid", ("whole_bone",))
    >>> layer_name(parts), layer_name(parts, "part_1", probability=True)
    ('parts', 'parts: part_1 (p)')
    >>> layer_name(whole, "whole_bone"), layer_name(whole, "whole_bone", probability=True)
    ('whole_bone', 'whole_bone (p)')
    """
    if channel is None:
        return head.name
    name = channel if len(head.channels) == 1 else f"{head.name}: {channel}"
    return f"{name} (p)" if probability else name


def channel_colors(card: Any) -> dict[str, str]:
    """A hex colour per output channel: its name's (:func:`.._colours.channel_color`).

    The same channel name has the same colour in every run, in the ground
    truth and in what is read back. A softmax head's first channel is its
    background (class 0), grey whatever its name.

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> card = ModelCard.from_dict({"heads": [
    ...     {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
    ...     {"name": "parts", "kind": "softmax", "channels": ["background", "a", "b"]}]})
    >>> channel_colors(card) == {"whole": channel_color("whole"), "background": "#808080",
    ...                          "a": channel_color("a"), "b": channel_color("b")}
    True
    """
    colors: dict[str, str] = {}
    for head in card.heads:
        for j, channel in enumerate(head.channels):
            background = head.kind == "softmax" and j == 0
            colors[channel] = BACKGROUND if background else channel_color(channel)
    return colors


def _read_only(array: np.ndarray) -> np.ndarray:
    out = np.array(array, copy=True)
    out.flags.writeable = False
    return out


def _common(scale: Any, translate: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if scale is not None:
        out["scale"] = tuple(float(s) for s in scale)
    if translate is not None:
        out["translate"] = tuple(float(t) for t in translate)
    return out


def prediction_layers(
    prediction: Any,
    *,
    image_name: str,
    model_path: str | Path,
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
) -> list[tuple[np.ndarray, dict[str, Any], str]]:
    """Layer data tuples for a prediction: probabilities first, then decisions.

    Parameters
    ----------
    prediction : Prediction
        What :func:`~napari_segreview.inference.predict.predict` returned; without
        probabilities (``probabilities=None``) only decision layers are made.
    image_name : str
        The image layer the model ran on (stored as ``image``).
    model_path : str or Path
        The model file (stored as ``model``; with ``image_name`` it makes the run id).
    scale, translate : sequence of float, optional
        The image layer's, so results lie on the image (voxel spacing, origin).

    Returns
    -------
    list of (data, kwargs, layer_type)
        ``layer_type`` is ``"image"`` or ``"labels"``; ``kwargs`` holds the
        name, colours, contrast, blending, visibility, ``scale``/``translate``,
        ``features`` (class names) and ``metadata``.

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> from napari_segreview.inference.heads import HeadOutput
    >>> from types import SimpleNamespace
    >>> card = ModelCard.from_dict({"heads": [
    ...     {"name": "parts", "kind": "softmax", "channels": ["background", "bone"]}]})
    >>> head = card.heads[0]
    >>> labels = np.array([[0, 1], [1, 1]], np.uint8)
    >>> pred = SimpleNamespace(card=card, heads={"parts": HeadOutput(head, labels)})
    >>> [(kw["name"], kind) for _, kw, kind in prediction_layers(
    ...     pred, image_name="ct", model_path="m.pt")]
    [('parts', 'labels')]
    >>> data, kw, _ = prediction_layers(pred, image_name="ct", model_path="m.pt")[0]
    >>> kw["features"]["class"], kw["metadata"]["segreview"]["classes"]
    (['background', 'bone'], ['background', 'bone'])
    """
    card = prediction.card
    run = run_id(image_name, model_path)
    colors = channel_colors(card)
    common = _common(scale, translate)
    base = {"image": image_name, "run": run, "model": str(model_path)}
    probs: list[tuple] = []
    decisions: list[tuple] = []
    for head in card.heads:
        out = prediction.heads[head.name]
        hm = {**base, "head": head.name, "head_kind": head.kind}
        if out.probabilities is not None:
            is_u8 = out.probabilities.dtype == np.uint8
            for j, channel in enumerate(head.channels):
                background = head.kind == "softmax" and j == 0
                probs.append((out.probabilities[j], {
                    "name": layer_name(head, channel, probability=True),
                    "colormap": colors[channel],
                    "contrast_limits": (0, 255) if is_u8 else (0.0, 1.0),
                    "blending": "additive",
                    "opacity": PROB_OPACITY,
                    "visible": not background,
                    "metadata": {KEY: {"kind": "probability", **hm, "channel": channel}},
                    **common,
                }, "image"))
        dm = {"kind": "decision", **hm}
        if head.kind == "softmax":
            decisions.append((np.array(out.decision, copy=True), {
                "name": layer_name(head),
                "colormap": label_colormap(head.channels),
                "opacity": LABEL_OPACITY,
                "features": class_features(head.channels),
                "metadata": {KEY: {**dm, "channel": None, "classes": list(head.channels),
                                   "card": card.to_dict(),
                                   "prediction": _read_only(out.decision)}},
                **common,
            }, "labels"))
            continue
        for j, channel in enumerate(head.channels):
            mask = out.decision[j]
            decisions.append((np.array(mask, dtype=np.uint8, copy=True), {
                "name": layer_name(head, channel),
                "colormap": mask_colormap(channel),
                "opacity": LABEL_OPACITY,
                "metadata": {KEY: {**dm, "channel": channel, "card": card.to_dict(),
                                   "prediction": _read_only(mask)}},
                **common,
            }, "labels"))
    taken: set[str] = set()
    for _, kw, _ in probs + decisions:  # a head may be named like another head's channel
        kw["name"] = unique_name(kw["name"], taken)
        taken.add(kw["name"])
    return probs + decisions


def unique_name(name: str, taken: Iterable[str]) -> str:
    """``name``, or ``name`` with `` 2``, `` 3``... inserted before a closing ``)``.

    Examples
    --------
    >>> unique_name("whole (edited)", ["whole (edited)"])
    'whole (edited 2)'
    >>> unique_name("whole", ["whole"])
    'whole 2'
    """
    taken = set(taken)
    if name not in taken:
        return name
    k = 2
    while True:
        candidate = f"{name[:-1]} {k})" if name.endswith(")") else f"{name} {k}"
        if candidate not in taken:
            return candidate
        k += 1
