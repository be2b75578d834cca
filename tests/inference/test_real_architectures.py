"""Real architectures through the engine: a plain UNet and a torchvision-style dict model."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from napari_segreview.card.spec import ModelCard
from napari_segreview.inference.predict import predict
from napari_segreview.inference.unet import UNet


class DeepLabLike(nn.Module):
    """Backbone at 1/4 resolution, classifier and aux heads, upsampled, dict output."""

    def __init__(self, in_ch=3, n_cls=2):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(in_ch, 8, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.classifier = nn.Conv2d(16, n_cls, 1)
        self.aux = nn.Conv2d(16, n_cls, 1)

    def forward(self, x):
        f = self.backbone(x)
        size = x.shape[-2:]
        return {
            "out": F.interpolate(self.classifier(f), size=size, mode="bilinear"),
            "aux": F.interpolate(self.aux(f), size=size, mode="bilinear"),
        }


def test_deeplab_like_rgb_dict_output_matches_direct_forward():
    torch.manual_seed(0)
    model = DeepLabLike().eval()
    card = ModelCard.from_dict({
        "name": "deeplab", "input": {
            "channels": 3, "spatial_dims": 2, "output_key": "out",
            "normalize": {"kind": "mean_std", "scale": 255,
                          "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}},
        "heads": [{"name": "seg", "kind": "softmax", "channels": ["background", "fg"]}],
    })
    rgb = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    result = predict(rgb, model, card, device="cpu")
    # Independent expectation: ImageNet normalisation by hand, forward, argmax.
    x = (rgb.astype(np.float32) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    with torch.no_grad():
        logits = model(torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None])["out"]
    expected = logits.argmax(1)[0].numpy()
    got = result.heads["seg"].decision
    assert got.shape == (64, 64)
    assert (got == expected).mean() > 0.999


@pytest.mark.parametrize(("tile", "agree"), [(64, 0.999), (32, 0.9)])
def test_plain_unet_stack_matches_direct_forward(tile, agree):
    torch.manual_seed(0)
    model = UNet(1, 3, spatial_dims=2, base=8, depth=2).eval()
    card = ModelCard.from_dict({
        "name": "unet", "input": {"channels": 1, "spatial_dims": 2, "tile": [tile, tile],
                                  "overlap": 0.5, "normalize": {"kind": "none"}},
        "heads": [{"name": "fg", "kind": "sigmoid", "channels": ["a"]},
                  {"name": "cls", "kind": "softmax", "channels": ["bg", "x"]}],
    })
    stack = np.random.default_rng(2).normal(size=(3, 64, 64)).astype(np.float32)
    result = predict(stack, model, card, device="cpu", batch_size=4)
    with torch.no_grad():
        logits = model(torch.from_numpy(stack)[:, None])
    fg = (logits[:, 0] > 0).numpy().astype(np.uint8)
    cls = logits[:, 1:].argmax(1).numpy()
    assert result.heads["fg"].decision.shape == (1, 3, 64, 64)
    assert result.heads["cls"].decision.shape == (3, 64, 64)
    # Untiled (tile = slice) the engine is the model. Tiled, GroupNorm sees per-tile
    # statistics and the receptive field is cut at seams, so only most voxels agree.
    assert (result.heads["fg"].decision[0] == fg).mean() > agree
    assert (result.heads["cls"].decision == cls).mean() > agree
