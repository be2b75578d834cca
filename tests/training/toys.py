"""A toy fine-tuning task for the training tests: a tiny model, a tiny export, every model format.

The card has a sigmoid head ``fg`` (one channel) and a softmax head ``cls``
(``bg``, ``a``, ``b``) within it. Images are smooth random fields in [0, 1];
``fg`` is ``image > 0.55``, ``cls`` is ``a`` where ``0.55 < image <= 0.7`` and
``b`` above 0.7, so a two-layer convolutional net can learn it in a few steps.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi

from napari_segreview.card.spec import ModelCard
from napari_segreview.targets.build import ExportCase, build_targets
from napari_segreview.targets.export import export_case

CARD = ModelCard.from_dict({
    "name": "toy",
    "input": {"channels": 1, "spatial_dims": 2, "normalize": {"kind": "none"},
              "tile": [32, 32]},
    "heads": [{"name": "fg", "kind": "sigmoid", "channels": ["fg"]},
              {"name": "cls", "kind": "softmax", "channels": ["bg", "a", "b"], "within": "fg"}],
})


class ToyNet(torch.nn.Module):
    """Conv 3x3 -> (batch-norm) -> ReLU -> (dropout) -> conv 1x1 to the card's 4 outputs."""

    def __init__(self, norm: bool = False, dropout: bool = False) -> None:
        super().__init__()
        self.enc = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(8) if norm else torch.nn.Identity()
        self.drop = torch.nn.Dropout(0.1) if dropout else torch.nn.Identity()
        self.head = torch.nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(torch.relu(self.norm(self.enc(x)))))


def build_toy() -> ToyNet:
    """Factory of the toy model (seeded, so the base weights are the same every time)."""
    torch.manual_seed(1)
    return ToyNet()


def toy_case(seed: int, shape=(3, 32, 32)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image (float32) and its targets: ``fg`` (1, Z, Y, X) and ``cls`` (Z, Y, X)."""
    rng = np.random.default_rng(seed)
    field = ndi.gaussian_filter(rng.normal(size=shape), sigma=(0, 2.5, 2.5))
    img = ((field - field.min()) / (np.ptp(field) + 1e-9)).astype(np.float32)
    fg = (img > 0.55).astype(np.uint8)[None]
    cls = np.where(img > 0.7, 2, np.where(img > 0.55, 1, 0)).astype(np.uint8)
    return img, fg, cls


def make_export(folder: Path, n: int = 4, card: ModelCard = CARD, shape=(3, 32, 32)) -> Path:
    """An export of ``n`` toy cases (``case_0`` ...) written with the real export code."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img, fg, cls = toy_case(10 + i, shape)
        inputs = {"fg": fg, "cls": cls}
        targets = build_targets(card, {h.name: inputs[h.name] for h in card.heads}, img.shape)
        export_case(folder, ExportCase(f"case_{i}", img, targets, card))
    return folder


def write_card(model_path: Path, card: ModelCard = CARD) -> Path:
    """The card beside a model file (``<stem>.card.yaml``)."""
    import yaml

    path = model_path.with_name(f"{model_path.stem}.card.yaml")
    path.write_text(yaml.safe_dump(card.to_dict()), encoding="utf-8")
    return path


def save_formats(folder: Path, **net_kw) -> dict[str, Path]:
    """The toy base model in every format: state dict, scripted, traced, torch.export."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(1)
    net = ToyNet(**net_kw).eval()
    out = {"factory": folder / "toy_state.pt", "torchscript": folder / "toy_script.pt",
           "traced": folder / "toy_traced.pt", "export": folder / "toy_program.pt2"}
    torch.save(net.state_dict(), out["factory"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(net).save(str(out["torchscript"]))
        torch.jit.trace(net, torch.zeros(1, 1, 32, 32)).save(str(out["traced"]))
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(net, (torch.zeros(2, 1, 32, 32),),
                                  dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, out["export"])
    for p in out.values():
        write_card(p)
    return out


def files_in(folder: Path) -> list[str]:
    """Every name in ``folder``, hidden ones included, sorted."""
    return sorted(p.name for p in Path(folder).iterdir())
