"""What the front ends are told: a model error's cause, a file that is no model, progress."""

import numpy as np
import pytest
import torch

from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import ModelLoadError
from napari_segreview.inference.models import load_model
from napari_segreview.inference.predict import predict
from napari_segreview.inference.words import cause_line, model_failure, progress_unit

jit_deprecated = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")


def card(**inp):
    return ModelCard.from_dict({"name": "t", "input": inp, "heads": [
        {"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]})


@jit_deprecated
def test_torchscript_error_gives_the_convolution_line(tmp_path):
    path = tmp_path / "rgb.pt"
    torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 1, 3, padding=1))).save(str(path))
    model = load_model(path)
    with pytest.raises(RuntimeError) as info:     # a grey slice for an RGB model
        predict(np.zeros((1, 16, 16), np.float32), model, card(), device="cpu")
    assert str(info.value).startswith("The following operation failed in the TorchScript")
    line = cause_line(info.value)
    assert "to have 3 channels, but got 1 channels instead" in line
    assert not line.startswith("RuntimeError") and "TorchScript" not in line
    sentence = model_failure(info.value, "ct.tif", "grey.card.yaml")
    assert sentence.startswith("the model failed on 'ct.tif' (Given groups=1, weight of size")
    assert sentence.endswith("check that the card grey.card.yaml describes this model's input "
                             "(channels, spatial_dims, tile).")


@pytest.mark.parametrize("name", ["junk.pt", "junk.pth", "junk.pt2"])
def test_random_bytes_are_not_a_model_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"PK" + np.random.default_rng(3).bytes(4000))  # not even a zip file
    for factory in (None, "os:getcwd"):
        with pytest.raises(ModelLoadError) as info:
            load_model(path, factory=factory)
        message = str(info.value)
        assert message.startswith(f"{name} is not a TorchScript, torch.export or checkpoint "
                                  "file, so not a model file: choose the file saved with")
        assert "miniz" not in message and "PytorchStreamReader" not in message


def test_a_checkpoint_without_factory_names_the_callers_option(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save(torch.nn.Conv2d(1, 1, 1).state_dict(), path)
    with pytest.raises(ModelLoadError, match=r"pass factory='package\.module:function', "
                                             "naming the function that builds the model"):
        load_model(path)
    with pytest.raises(ModelLoadError, match=r"holds weights .*: add --factory package"):
        load_model(path, factory_option="add --factory package.module:function")


def test_progress_counts_slices_for_a_2d_card_and_tiles_for_a_3d_one():
    image = np.zeros((3, 40, 44), np.float32)
    calls = []
    predict(image, lambda x: x, card(tile=[32, 32]), device="cpu", batch_size=2,
            progress=lambda d, t: calls.append((d, t)))
    # 32 < 40 and 32 < 44: at least 2 x 2 tiles per slice, so at least 6 batches of 2.
    assert progress_unit(card()) == "slices" and len(calls) >= 6
    assert {t for _, t in calls} == {3} and calls[-1] == (3, 3)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    calls.clear()
    predict(image, lambda x: x, card(spatial_dims=3, tile=[2, 32, 32]), device="cpu",
            batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert progress_unit(card(spatial_dims=3)) == "tiles"
    # 2 positions in z (2 < 3), and at least 2 in y and in x: at least 8 tiles.
    assert calls[-1][0] == calls[-1][1] >= 8 and len(calls) == -(-calls[-1][1] // 2)
