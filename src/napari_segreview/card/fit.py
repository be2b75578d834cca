"""Whether an image fits the card's ``input``: one decision for the CLI and the panel.

:func:`fit_input` takes an image's data and whether it holds colour (the
``rgb`` of :class:`~napari_segreview.io.ImageData` or of a napari image layer)
and returns what the model takes, or refuses in one sentence before any model
is loaded: a grey model given an RGB picture, an RGB model given a grey
image, a channel count that differs, more axes than a stack has, a 3-D card
given one 2-D image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_segreview.errors import FormatError

__all__ = ["fit_input", "guess_rgb"]


def guess_rgb(shape: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` without colour metadata holds RGB(A), as napari guesses.

    The last axis holds colour when it has 3 or 4 entries and there are at least
    two axes before it (a ``.npy`` file says nothing about colour).

    Examples
    --------
    >>> guess_rgb((96, 128, 3)), guess_rgb((4, 96, 128, 4)), guess_rgb((5, 96, 128))
    (True, True, False)
    """
    return len(shape) >= 3 and shape[-1] in (3, 4)


def fit_input(data: Any, rgb: bool | None, card: Any, name: str, *,
              noun: str = "image layer") -> Any:
    """The part of an image the card's model takes, or one sentence saying what to change.

    Parameters
    ----------
    data : array-like
        The image: ``([Z,] Y, X)`` grey or ``([Z,] Y, X, 3|4)`` colour, channels last.
    rgb : bool or None
        Whether the last axis holds colour; None when nothing says (a plain
        array), then :func:`guess_rgb` decides.
    card : ModelCard
    name : str
        The image's name (a layer name, a file name), for the message.
    noun : str
        What the caller calls the image: ``"image layer"`` (the panel) or
        ``"image"`` (``segreview predict``).

    Returns
    -------
    array-like
        ``data`` itself, or ``data[..., :3]`` for an RGBA image and an RGB model.

    Raises
    ------
    FormatError
        When the image's channels or axes do not fit ``card.input``.

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> grey = ModelCard.from_dict({"heads": [
    ...     {"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]})
    >>> fit_input(np.zeros((3, 8, 8)), False, grey, "ct").shape
    (3, 8, 8)
    >>> fit_input(np.zeros((96, 128, 3)), True, grey, "photo.png", noun="image")
    Traceback (most recent call last):
    ...
    napari_segreview.errors.FormatError: the model takes 1 input channel (the card's \
input.channels) but the image 'photo.png' is RGB: choose a grey image, or a card and model \
with input.channels: 3.
    """
    shape = tuple(getattr(data, "shape", np.shape(data)))
    if rgb is None:
        rgb = guess_rgb(shape)
    want, dims = card.input.channels, card.input.spatial_dims
    what = f"the {noun} {name!r}"
    if want == 1 and rgb:
        raise FormatError(
            f"the model takes 1 input channel (the card's input.channels) but {what} is RGB: "
            f"choose a grey {noun}, or a card and model with input.channels: 3."
        )
    if want > 1:
        if not rgb:
            raise FormatError(
                f"the model takes {want} input channels (the card's input.channels) but {what} "
                f"is grey: choose an RGB {noun}, or a card and model with input.channels: 1."
            )
        have = shape[-1]
        if have == 4 and want == 3:
            data = data[..., :3]  # RGBA image, RGB model: the alpha channel is not an input
        elif have != want:
            raise FormatError(
                f"the model takes {want} input channels but {what} has {have}: choose an "
                f"image with {want} channels or the card that fits the model."
            )
    spatial = len(shape) - (1 if rgb else 0)
    if spatial not in (2, 3):
        raise FormatError(
            f"{what} has {spatial} axes besides colour {shape}, but a model runs on one 2-D "
            f"image or a (Z, Y, X) stack: open channels or time points as separate {noun}s."
        )
    if dims == 3 and spatial == 2:
        raise FormatError(
            f"the card describes a 3-D model, which needs a (Z, Y, X) stack, but {what} is "
            f"one 2-D image {shape}: choose a stack or a 2-D card."
        )
    return data
