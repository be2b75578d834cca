"""The layers a Predict run shows, and which old layers a re-run replaces: pure functions.

Nothing here imports napari, Qt or torch. :func:`prediction_layers` turns a
:class:`~napari_segreview.inference.predict.Prediction` into napari *layer data
tuples* ``(data, kwargs, layer_type)``; :func:`plan_rerun` decides, from the
layers already in the viewer, which ones a re-run removes and which edited
ones it keeps under a new name. The Predict widget only applies both; the
tests run them on plain objects without a display.

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

Every layer carries ``metadata["segreview"]`` as :mod:`._meta` describes.
Probabilities kept as uint8 hold ``round(p * 255)`` (contrast 0..255).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._napari._meta import KEY, meta
from napari_segreview.errors import FormatError

__all__ = [
    "PALETTE",
    "RerunPlan",
    "channel_colors",
    "is_edited",
    "layer_name",
    "model_input",
    "plan_rerun",
    "prediction_layers",
    "run_id",
    "unique_name",
]

#: Colours given to the card's channels in order (softmax backgrounds excluded):
#: a probability layer ramps from black to its colour, the decision uses it flat.
PALETTE = (
    "#ff00ff", "#00ffff", "#ffff00", "#00ff00", "#ff8000",
    "#4080ff", "#ff4060", "#a060ff", "#80ffc0", "#c08040",
)
#: Colour of a softmax head's background channel (its probability is hidden).
BACKGROUND = "#808080"
#: Colour of label values a layer does not know (painted by hand, e.g. 255).
UNKNOWN = "#ffffff"
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
    """A hex colour per output channel: :data:`PALETTE` in order, grey for backgrounds.

    A softmax head's first channel is its background (class 0): it gets
    :data:`BACKGROUND` and no palette colour.

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> card = ModelCard.from_dict({"heads": [
    ...     {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
    ...     {"name": "parts", "kind": "softmax", "channels": ["background", "a", "b"]}]})
    >>> channel_colors(card)
    {'whole': '#ff00ff', 'background': '#808080', 'a': '#00ffff', 'b': '#ffff00'}
    """
    colors: dict[str, str] = {}
    i = 0
    for head in card.heads:
        for j, channel in enumerate(head.channels):
            if head.kind == "softmax" and j == 0:
                colors[channel] = BACKGROUND
            else:
                colors[channel] = PALETTE[i % len(PALETTE)]
                i += 1
    return colors


def model_input(data: Any, rgb: bool, card: Any, name: str) -> Any:
    """The part of an image layer's data the card's model takes, or one clear sentence.

    Parameters
    ----------
    data : array-like
        The image layer's data (level 0 of a multiscale image).
    rgb : bool
        Whether napari shows the layer as RGB(A), channels last.
    card : ModelCard
    name : str
        The layer's name, for the message.

    Returns
    -------
    array-like
        ``data`` itself, or ``data[..., :3]`` for an RGBA layer and an RGB model.

    Raises
    ------
    FormatError
        When the layer's channels or axes do not fit ``card.input``.

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> rgb_card = ModelCard.from_dict({"input": {"channels": 3}, "heads": [
    ...     {"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]})
    >>> model_input(np.zeros((8, 8, 4)), True, rgb_card, "photo").shape
    (8, 8, 3)
    >>> model_input(np.zeros((8, 8)), False, rgb_card, "ct")
    Traceback (most recent call last):
    ...
    napari_segreview.errors.FormatError: the model takes 3 input channels (the card's \
input.channels) but the image layer 'ct' is grey: choose an RGB image layer, or a card and \
model with input.channels: 1.
    """
    shape = tuple(getattr(data, "shape", np.shape(data)))
    want, dims = card.input.channels, card.input.spatial_dims
    if want == 1 and rgb:
        raise FormatError(
            f"the model takes 1 input channel (the card's input.channels) but the image layer "
            f"{name!r} is RGB: choose a grey image layer, or a card and model with "
            "input.channels: 3."
        )
    if want > 1:
        if not rgb:
            raise FormatError(
                f"the model takes {want} input channels (the card's input.channels) but the "
                f"image layer {name!r} is grey: choose an RGB image layer, or a card and model "
                "with input.channels: 1."
            )
        have = shape[-1]
        if have == 4 and want == 3:
            return data[..., :3]  # RGBA image, RGB model: the alpha channel is not an input
        if have != want:
            raise FormatError(
                f"the model takes {want} input channels but the image layer {name!r} has "
                f"{have}: choose an image with {want} channels or the card that fits the model."
            )
    spatial = len(shape) - (1 if rgb else 0)
    if spatial not in (2, 3):
        raise FormatError(
            f"the image layer {name!r} has {spatial} axes besides colour {shape}, but a model "
            "runs on one 2-D image or a (Z, Y, X) stack: open channels or time points as "
            "separate layers."
        )
    if dims == 3 and spatial == 2:
        raise FormatError(
            f"the card describes a 3-D model, which needs a (Z, Y, X) stack, but the image "
            f"layer {name!r} is one 2-D image {shape}: choose a stack or a 2-D card."
        )
    return data


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
            cmap: dict[Any, str] = {0: "transparent", None: UNKNOWN}
            cmap.update({k: colors[c] for k, c in enumerate(head.channels) if k > 0})
            decisions.append((np.array(out.decision, copy=True), {
                "name": layer_name(head),
                "colormap": cmap,
                "opacity": LABEL_OPACITY,
                "features": {"index": list(range(len(head.channels))),
                             "class": list(head.channels)},
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
                "colormap": {0: "transparent", 1: colors[channel], None: UNKNOWN},
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


def is_edited(layer: Any) -> bool:
    """Whether a decision layer's data differs from the prediction kept in its metadata.

    A layer whose kept prediction is missing (or of another shape) counts as
    edited, so that it is never removed without asking.

    Examples
    --------
    >>> from types import SimpleNamespace as L
    >>> p = np.array([0, 1], np.uint8)
    >>> is_edited(L(data=p.copy(), metadata={"segreview": {"prediction": p}}))
    False
    >>> is_edited(L(data=np.array([1, 1]), metadata={"segreview": {"prediction": p}}))
    True
    """
    kept = meta(layer).get("prediction")
    if kept is None:
        return True
    data = np.asarray(layer.data)
    return data.shape != np.shape(kept) or not np.array_equal(data, kept)


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


@dataclass
class RerunPlan:
    """What a re-run does to the layers of the run it repeats.

    Attributes
    ----------
    remove : list
        Layers to remove: the run's probability layers and unedited decisions.
    keep : list of (layer, new_name)
        Edited decision layers, kept under a new name (and marked superseded).
    """

    remove: list = field(default_factory=list)
    keep: list = field(default_factory=list)

    @property
    def message(self) -> str:
        """One sentence for the user about the kept layers ('' when none).

        Examples
        --------
        >>> from types import SimpleNamespace as L
        >>> RerunPlan(keep=[(L(name="whole"), "whole (edited)")]).message
        "Your edited layer was kept under a new name ('whole' -> 'whole (edited)'); the new \
prediction takes the old name."
        """
        if not self.keep:
            return ""
        pairs = ", ".join(f"{layer.name!r} -> {new!r}" for layer, new in self.keep)
        many = len(self.keep) > 1
        return (f"Your edited layer{'s were' if many else ' was'} kept under "
                f"{'new names' if many else 'a new name'} ({pairs}); the new prediction "
                f"takes the old name{'s' if many else ''}.")


def plan_rerun(layers: Iterable[Any], run: str) -> RerunPlan:
    """Which layers a new run with id ``run`` replaces, and which edited ones it keeps.

    Layers of that run (``metadata["segreview"]["run"] == run``, not already
    superseded): probability layers and decision layers equal to their kept
    prediction are removed; decision layers the user edited are kept under
    ``"<name> (edited)"``. Other layers, including other runs', are untouched.

    Examples
    --------
    >>> from types import SimpleNamespace as L
    >>> p = np.zeros(3, np.uint8)
    >>> def layer(name, kind, data):
    ...     return L(name=name, data=data,
    ...              metadata={"segreview": {"kind": kind, "run": "r", "prediction": p}})
    >>> plan = plan_rerun([layer("a (p)", "probability", p), layer("a", "decision", p),
    ...                    layer("b", "decision", p + 1), L(name="ct", metadata={})], "r")
    >>> [x.name for x in plan.remove], [(x.name, new) for x, new in plan.keep]
    (['a (p)', 'a'], [('b', 'b (edited)')])
    """
    layers = list(layers)
    taken = {layer.name for layer in layers}
    plan = RerunPlan()
    for layer in layers:
        m = meta(layer)
        if m.get("run") != run or m.get("superseded"):
            continue
        if m.get("kind") == "probability":
            plan.remove.append(layer)
        elif m.get("kind") == "decision":
            if is_edited(layer):
                new = unique_name(f"{layer.name} (edited)", taken)
                taken.add(new)
                plan.keep.append((layer, new))
            else:
                plan.remove.append(layer)
    return plan
