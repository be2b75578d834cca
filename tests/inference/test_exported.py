"""torch.export programs with fixed sizes: predict runs them at those sizes, or says which."""

import numpy as np
import pytest
import torch

from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import ModelLoadError
from napari_segreview.inference.exported import input_shape, program_plan
from napari_segreview.inference.models import load_model
from napari_segreview.inference.predict import predict


class Threshold(torch.nn.Module):
    """Logit x - 0.5 per voxel: decisions are ``image > 0.5`` whatever the tiling."""

    def __init__(self, dims=2):
        super().__init__()
        conv = torch.nn.Conv2d if dims == 2 else torch.nn.Conv3d
        self.conv = conv(1, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.fill_(-0.5)

    def forward(self, x):
        return self.conv(x)


def card(**inp):
    return ModelCard.from_dict({"name": "t", "input": inp, "heads": [
        {"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]})


def saved(tmp_path, shape, dims=2, dynamic=None):
    program = torch.export.export(Threshold(dims).eval(), (torch.zeros(shape),),
                                  dynamic_shapes=dynamic)
    path = tmp_path / "fixed.pt2"
    torch.export.save(program, path)
    return load_model(path)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(7)
    values = rng.uniform(0, 1, (3, 40, 44)).astype(np.float32)
    return np.where(np.abs(values - 0.5) < 0.05, 0.9, values)  # no value near the threshold


@pytest.mark.parametrize("batch", [1, 2])
def test_fixed_size_program_runs_as_tiles_of_its_size(tmp_path, image, batch):
    model = saved(tmp_path, (batch, 1, 32, 32))
    assert input_shape(model) == (batch, 1, 32, 32)
    # Before: "Guard failed: x.size()[0] == 1" from the first batch of 8 whole slices.
    result = predict(image, model, card(), device="cpu", batch_size=8)
    np.testing.assert_array_equal(result.heads["fg"].decision[0], image > 0.5)


def test_program_tile_fills_the_dynamic_axes(tmp_path, image):
    batch, width = torch.export.Dim("batch"), torch.export.Dim("width", min=2, max=64)
    model = saved(tmp_path, (2, 1, 32, 40), dynamic={"x": {0: batch, 3: width}})
    assert input_shape(model) == (None, 1, 32, None)
    assert program_plan(input_shape(model), card(), (40, 44)) == ((32, 44), None)
    result = predict(image, model, card(), device="cpu", batch_size=2)
    np.testing.assert_array_equal(result.heads["fg"].decision[0], image > 0.5)


def test_3d_program_with_fixed_size(tmp_path, image):
    model = saved(tmp_path, (1, 1, 2, 24, 24), dims=3)
    result = predict(image, model, card(spatial_dims=3), device="cpu", batch_size=4)
    np.testing.assert_array_equal(result.heads["fg"].decision[0], image > 0.5)


@pytest.mark.parametrize(("inp", "words"), [
    ({"tile": [64, 64]}, "takes tiles of exactly 32 x 32 (it was exported for inputs of "
                         "1 x 1 x 32 x 32) but the card's input.tile is [64, 64]: set "
                         "input.tile: [32, 32]"),
    ({"channels": 3}, "takes 1 input channel (it was exported for inputs of 1 x 1 x 32 x 32) "
                      "but the card's input.channels is 3: set input.channels: 1"),
    ({"spatial_dims": 3}, "takes 2-D inputs (it was exported for inputs of 1 x 1 x 32 x 32) "
                          "but the card's input.spatial_dims is 3: set input.spatial_dims: 2"),
])
def test_a_card_that_contradicts_the_program_is_one_sentence(tmp_path, image, inp, words):
    model = saved(tmp_path, (1, 1, 32, 32))
    data = image if inp.get("channels", 1) == 1 else np.stack([image] * 3, -1)
    with pytest.raises(ModelLoadError) as info:
        predict(data, model, card(**inp), device="cpu")
    assert words in str(info.value)


def test_a_dynamic_size_out_of_range_is_one_sentence(tmp_path, image):
    side = torch.export.Dim("side", min=2, max=32)
    model = saved(tmp_path, (1, 1, 32, 32), dynamic={"x": {2: side, 3: side}})
    with pytest.raises(ModelLoadError) as info:  # whole 40 x 44 slices: above the range
        predict(image, model, card(), device="cpu")
    message = str(info.value)
    assert message.startswith("the torch.export program refused an input of 1 x 1 x 40 x 44")
    assert "set the card's input.tile" in message and "\n" not in message
    result = predict(image, model, card(tile=[32, 32]), device="cpu")
    np.testing.assert_array_equal(result.heads["fg"].decision[0], image > 0.5)


def test_models_without_a_recorded_input():
    assert input_shape(Threshold()) is None and input_shape(lambda x: x) is None
    assert program_plan(None, card(tile=[16, 16]), (40, 44)) == ((16, 16), None)
