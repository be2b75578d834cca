"""What the Predict widget runs off the GUI thread, what it checks first, and its sentences.

No Qt or napari here, and torch only inside the functions: :func:`run_model`
is the Predict widget's worker (the same ``load_model`` and ``predict`` calls
as ``segreview predict``), :func:`find_devices` labels the device choices,
:func:`check_paths` and :func:`model_input` refuse a run that cannot work
before it starts, :func:`error_message` turns any exception of a run into one
sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari_segreview._util.arrays import first_line
from napari_segreview.card.fit import fit_input
from napari_segreview.errors import FormatError
from napari_segreview.inference.words import model_failure

__all__ = ["DEVICES", "FACTORY_OPTION", "card_summary", "check_paths", "error_message",
           "find_devices", "model_input", "run_model"]

#: The device choices, in the order the widget lists them.
DEVICES = ("auto", "cpu", "cuda", "mps")

#: How the panel's user gives a factory, in the sentence about a checkpoint without one.
FACTORY_OPTION = "fill in Factory with package.module:function"


def find_devices() -> dict[str, tuple[bool, str]]:
    """Each device choice: whether it can run here, and a label saying what was found.

    :func:`napari_segreview.inference.models.find_devices`, imported only when
    called (it imports torch), so the widget calls it in a worker, never at
    start-up.

    Examples
    --------
    >>> found = find_devices()
    >>> found["cpu"]
    (True, 'cpu')
    >>> sorted(found) == sorted(DEVICES) and found["auto"][0]
    True
    """
    from napari_segreview.inference.models import find_devices as probe

    return probe()


def run_model(image: Any, model_path: str, card: Any, *, factory: str | None = None,
              device: str = "auto", batch_size: int = 8, probabilities: str | None = "float16",
              progress: Any = None, cancel: Any = None) -> Any:
    """Load the model and predict ``image`` with it: what the widget's worker runs.

    The same calls as ``segreview predict``: :func:`~napari_segreview.inference.models.
    load_model` then :func:`~napari_segreview.inference.predict.predict` (which
    raises ``Cancelled`` when ``cancel`` is set between batches).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segreview.card.spec import load_card
    >>> from napari_segreview.data import demo_card_path, demo_model_path
    >>> ct = np.full((1, 32, 32), -1000, np.int16)
    >>> result = run_model(ct, str(demo_model_path()), load_card(demo_card_path()),
    ...                    device="cpu", probabilities=None)
    >>> result.heads["parts"].decision.shape, result.heads["whole"].decision.max()
    ((1, 32, 32), np.uint8(0))
    """
    from napari_segreview.inference.models import load_model, select_device
    from napari_segreview.inference.predict import predict

    dev = select_device(device)
    model = load_model(model_path, factory=factory or None, device=dev,
                       factory_option=FACTORY_OPTION)
    return predict(image, model, card, device=dev, batch_size=batch_size,
                   probabilities=probabilities, progress=progress, cancel=cancel)


def model_input(data: Any, rgb: bool, card: Any, name: str) -> Any:
    """The part of an image layer's data the card's model takes, or one clear sentence.

    :func:`napari_segreview.card.fit.fit_input`, the decision ``segreview
    predict`` makes too, worded for an image layer.

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
    >>> import numpy as np
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
    return fit_input(data, rgb, card, name, noun="image layer")


def error_message(exc: BaseException, image_name: str, card_name: str) -> str:
    r"""One sentence for the user about an exception raised by a prediction.

    Examples
    --------
    >>> error_message(FormatError("the card is wrong."), "ct", "c.yaml")
    'the card is wrong.'
    >>> error_message(RuntimeError("Given groups=1, weight of size [8, 1, 3, 3]\n..."),
    ...               "ct", "c.yaml")   # doctest: +NORMALIZE_WHITESPACE
    "the model failed on 'ct' (Given groups=1, weight of size [8, 1, 3, 3]); check that
    the card c.yaml describes this model's input (channels, spatial_dims, tile)."
    """
    if isinstance(exc, FormatError):
        return str(exc)
    if type(exc).__name__ == "OutOfMemoryError":
        return (f"the GPU ran out of memory even with one tile per batch ({first_line(exc)}): "
                "choose the cpu device or a card with a smaller tile.")
    if isinstance(exc, MemoryError):
        return ("there is not enough memory for this image: keep probabilities as uint8 or "
                "none, or crop the image.")
    if isinstance(exc, ImportError):
        return (f"PyTorch cannot be imported in napari's Python ({first_line(exc)}): install "
                "torch into the environment napari runs in and restart napari.")
    if isinstance(exc, RuntimeError):
        return model_failure(exc, image_name, card_name)
    return f"the prediction failed ({type(exc).__name__}: {first_line(exc)})."


def card_summary(card: Any, path: str | Path, found_beside: bool = False) -> str:
    """One line about a model card for the widget: its heads, channels and input.

    Examples
    --------
    >>> from napari_segreview.card.spec import load_card
    >>> from napari_segreview.data import demo_card_path
    >>> print(card_summary(load_card(demo_card_path()), demo_card_path(), True))
    demo_bone.card.yaml (found beside the model): demo-bone-phantom - whole (sigmoid: whole); \
parts (softmax: background, part_1, part_2, part_3). Input: 1 channel(s), 2-D, normalize window.
    """
    heads = "; ".join(f"{h.name} ({h.kind}: {', '.join(h.channels)})" for h in card.heads)
    where = " (found beside the model)" if found_beside else ""
    i = card.input
    return (f"{Path(path).name}{where}: {card.name} - {heads}. Input: {i.channels} "
            f"channel(s), {i.spatial_dims}-D, normalize {i.normalize.kind}.")


def check_paths(model: str, card: str) -> str:
    """The model file as an absolute path; a missing file or card is one sentence.

    Examples
    --------
    >>> from napari_segreview.data import demo_card_path, demo_model_path
    >>> check_paths(str(demo_model_path()), str(demo_card_path())) == str(demo_model_path())
    True
    >>> check_paths("/no/such/model.pt", "")
    Traceback (most recent call last):
    ...
    napari_segreview.errors.FormatError: the model file /no/such/model.pt does not \
exist: choose the model file.
    """
    if not model:
        raise FormatError("choose a model file first (Model file > Browse...).")
    path = Path(model).expanduser()
    if not path.is_file():
        what = "is a folder, not a model file" if path.is_dir() else "does not exist"
        raise FormatError(f"the model file {model} {what}: choose the model file.")
    if not card:
        raise FormatError(f"no model card was found beside {path.name}: pick its card "
                          "(YAML) in the Model card field.")
    return str(path.resolve())
