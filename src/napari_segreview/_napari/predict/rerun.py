"""Which layers a Predict re-run replaces, and which edited ones it keeps: pure functions.

Running the same model on the same image again (the same run id,
:func:`~.layers.run_id`) replaces that run's probability layers and the
decision layers nobody edited; an edited decision layer is kept under
``"<name> (edited)"`` and marked superseded, so no correction is lost.
:func:`plan_rerun` decides from the layers in the viewer; the Predict widget
only applies the plan.

Another model's results on the same image (or the same model's on another
image) take the same layer names, so :func:`result_name` tells them apart by
what differs: ``bone`` and ``bone [other-model]`` (the model card's ``name``),
or ``whole [second CT]`` (the image). A re-run removes its own layers first,
so it gets the names it had.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._napari._meta import meta
from napari_segreview._napari.predict.layers import unique_name

__all__ = ["RerunPlan", "is_edited", "plan_rerun", "result_name"]


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


def result_name(name: str, layers: Iterable[Any], *, image_name: str,
                model_path: str | Path, model_name: str) -> str:
    """The name a new result layer takes: ``name``, or ``name`` tagged with what differs.

    ``name`` when no layer has it. When a layer of the same model file on
    another image has it: ``"<name> [<image_name>]"``. Otherwise (another
    model, or a layer that is not a result): ``"<name> [<model_name>]"``, the
    model card's name; ``"<name> [<model_name>, <model file>]"`` when that is
    taken too (two model files whose cards share a name), then counted up.

    Examples
    --------
    >>> from types import SimpleNamespace as L
    >>> a = L(name="bone", metadata={"segreview": {"model": "/m/a.pt", "image": "ct"}})
    >>> result_name("bone", [a], image_name="ct", model_path="/m/b.pt", model_name="net-b")
    'bone [net-b]'
    >>> b = L(name="bone [net-b]", metadata={"segreview": {"model": "/m/b.pt", "image": "ct"}})
    >>> result_name("bone", [a, b], image_name="ct", model_path="/m/c.pt", model_name="net-b")
    'bone [net-b, c.pt]'
    >>> result_name("bone", [a], image_name="ct 2", model_path="/m/a.pt", model_name="net-a")
    'bone [ct 2]'
    >>> result_name("liver", [a], image_name="ct", model_path="/m/b.pt", model_name="net-b")
    'liver'
    """
    by_name = {layer.name: layer for layer in layers}
    if name not in by_name:
        return name
    same_model = meta(by_name[name]).get("model") == str(model_path)
    candidates = [f"{name} [{image_name if same_model else model_name}]"]
    if not same_model:
        candidates.append(f"{name} [{model_name}, {Path(model_path).name}]")
    for candidate in candidates:
        if candidate not in by_name:
            return candidate
    return unique_name(candidates[-1], by_name)
