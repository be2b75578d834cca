"""Held-out Dice: predict's decoding, ignore voxels in no metric; a volumetric card trains too."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_segreview.card.spec import ModelCard
from napari_segreview.inference.models import load_model
from napari_segreview.targets.build import ExportCase, build_targets
from napari_segreview.targets.export import export_case
from napari_segreview.training.data import CaseData
from napari_segreview.training.evaluate import evaluate, metric_channels
from napari_segreview.training.loop import TrainConfig
from napari_segreview.training.run import compare, fine_tune
from toys import files_in

CARD = ModelCard.from_dict({"heads": [
    {"name": "fg", "kind": "sigmoid", "channels": ["fg"]},
    {"name": "cls", "kind": "softmax", "channels": ["bg", "a", "b"], "within": "fg"}]})


def _logits(x):
    """A fixed 'model': fg where x > 0.5; class a where x < 0.8, else b."""
    fg = x - 0.5
    return torch.cat([fg, torch.zeros_like(x), 0.8 - x, x - 0.8], 1)


def _dice(p, t):
    p, t = np.asarray(p, bool), np.asarray(t, bool)
    return 2 * (p & t).sum() / (p.sum() + t.sum()) if (p.sum() + t.sum()) else 1.0


def test_dice_uses_predicts_decoding_and_skips_ignored_voxels():
    x = np.array([[0.1, 0.6, 0.9, 0.95], [0.7, 0.2, 0.6, 0.85]], np.float32)
    fg_t = np.array([[0, 1, 1, 1], [1, 1, 0, 1]], np.uint8)
    cls_t = np.array([[0, 1, 2, 255], [1, 255, 0, 1]], np.uint8)  # two voxels ignored
    case = CaseData("c", x[None, None], {"fg": fg_t[None, None], "cls": cls_t[None]}, flat=True)
    ev = evaluate(_logits, [case], CARD)
    pred_fg = x > 0.5
    pred_cls = np.where(pred_fg, np.where(x < 0.8, 1, 2), 0)  # within fg
    keep = cls_t != 255
    assert ev.dice["fg"] == pytest.approx(_dice(pred_fg, fg_t))
    assert ev.dice["a"] == pytest.approx(_dice((pred_cls == 1) & keep, (cls_t == 1) & keep))
    assert ev.dice["b"] == pytest.approx(_dice((pred_cls == 2) & keep, (cls_t == 2) & keep))
    # an ignored voxel where the prediction is wrong in every way costs nothing
    x2 = x.copy()
    x2[0, 3], x2[1, 1] = 0.0, 0.99
    case2 = CaseData("c", x2[None, None], {"fg": fg_t[None, None], "cls": cls_t[None]},
                     flat=True)
    ev2 = evaluate(_logits, [case2], CARD)
    assert ev2.dice["a"] == ev.dice["a"] and ev2.dice["b"] == ev.dice["b"]
    assert [c[0] for c in metric_channels(CARD)] == ["fg", "a", "b"]


def test_pooled_over_cases_and_per_case():
    rng = np.random.default_rng(0)
    cases = []
    for i in range(2):
        x = rng.random((1, 3, 8, 8)).astype(np.float32)
        fg = (rng.random((1, 3, 8, 8)) > 0.4).astype(np.uint8)
        cases.append(CaseData(f"c{i}", x, {"fg": fg, "cls": fg[0]}))
    ev = evaluate(_logits, cases, CARD)
    p = [c.image[0] > 0.5 for c in cases]
    t = [c.targets["fg"][0] for c in cases]
    assert ev.per_case["c1"]["fg"] == pytest.approx(_dice(p[1], t[1]))
    assert ev.dice["fg"] == pytest.approx(_dice(np.concatenate(p), np.concatenate(t)))


def test_worse_is_flagged():
    from napari_segreview.training.evaluate import Evaluation

    same = compare(Evaluation({"a": 0.8, "b": 0.5}), Evaluation({"a": 0.79, "b": 0.6}))
    assert same["worse"] is False  # a fell by 0.01 (within 0.02), the mean rose
    assert compare(Evaluation({"a": 0.8}), Evaluation({"a": 0.7}))["worse"] is True
    assert compare(None, None)["worse"] is None


def test_a_volumetric_card_trains_on_patches(tmp_path):
    card = ModelCard.from_dict({"input": {"spatial_dims": 3, "tile": [4, 16, 16]}, "heads": [
        {"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]})
    rng = np.random.default_rng(1)
    for i in range(3):
        img = rng.random((6, 20, 20)).astype(np.float32)
        targets = build_targets(card, {"fg": (img > 0.6).astype(np.uint8)[None]}, img.shape)
        export_case(tmp_path / "export", ExportCase(f"v{i}", img, targets, card))
    torch.manual_seed(0)
    net = torch.nn.Conv3d(1, 1, 1)
    with torch.no_grad():
        net.weight.fill_(-1.0)  # starts backwards: fg where the image is dark
        net.bias.fill_(0.6)
    models = tmp_path / "models"
    models.mkdir()
    torch.jit.script(net).save(str(models / "vol.pt"))
    result = fine_tune(tmp_path / "export", models / "vol.pt", card=card,
                       config=TrainConfig(steps=60, lr=0.3, eval_every=20, batch_size=2,
                                          dice=0, pos_weight=False, threads=1))
    c = result.comparison
    assert c["after"]["fg"] > c["before"]["fg"] + 0.3
    assert result.record["hyperparameters"]["patch"] == [4, 16, 16]
    assert "vol_v2.pt" in files_in(models)
    assert load_model(models / "vol_v2.pt")(torch.zeros(1, 1, 4, 16, 16)).shape[1] == 1
