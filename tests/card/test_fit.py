"""fit_input: the one decision, for segreview predict and the panel, of what the model takes."""

import numpy as np
import pytest

from napari_segreview.card.fit import fit_input, guess_rgb
from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import FormatError


def card(**inp):
    return ModelCard.from_dict({"input": inp, "heads": [
        {"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]})


def test_what_fits_is_given_back():
    grey = np.zeros((3, 8, 8))
    assert fit_input(grey, False, card(), "ct") is grey
    rgba = np.arange(2 * 8 * 8 * 4).reshape(2, 8, 8, 4)
    np.testing.assert_array_equal(fit_input(rgba, True, card(channels=3), "x"), rgba[..., :3])
    # A plain array says nothing about colour: (Y, X, 3) is colour, (Z, Y, X) is not.
    assert guess_rgb((8, 8, 3)) and not guess_rgb((3, 8, 8)) and not guess_rgb((8, 3))
    assert fit_input(np.zeros((8, 8, 3)), None, card(channels=3), "a.npy").shape == (8, 8, 3)


@pytest.mark.parametrize(("data", "rgb", "inp", "message"), [
    (np.zeros((96, 128, 3)), None, {},
     "the model takes 1 input channel (the card's input.channels) but the image 'p' is RGB: "
     "choose a grey image, or a card and model with input.channels: 3."),
    (np.zeros((8, 8)), False, {"channels": 3},
     "the model takes 3 input channels (the card's input.channels) but the image 'p' is grey: "
     "choose an RGB image, or a card and model with input.channels: 1."),
    (np.zeros((8, 8, 4)), True, {"channels": 2},
     "the model takes 2 input channels but the image 'p' has 4: choose an image with 2 "
     "channels or the card that fits the model."),
    (np.zeros((2, 3, 8, 8)), False, {},
     "the image 'p' has 4 axes besides colour (2, 3, 8, 8), but a model runs on one 2-D image "
     "or a (Z, Y, X) stack: open channels or time points as separate images."),
    (np.zeros((8, 8)), False, {"spatial_dims": 3},
     "the card describes a 3-D model, which needs a (Z, Y, X) stack, but the image 'p' is one "
     "2-D image (8, 8): choose a stack or a 2-D card."),
])
def test_what_does_not_fit_is_one_sentence(data, rgb, inp, message):
    with pytest.raises(FormatError) as info:
        fit_input(data, rgb, card(**inp), "p", noun="image")
    assert str(info.value) == message
