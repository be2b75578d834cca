"""The heads' losses against torch's own BCEWithLogitsLoss and CrossEntropyLoss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import FormatError
from napari_segreview.targets.build import build_targets
from napari_segreview.targets.classstats import class_statistics
from napari_segreview.training.losses import CardLoss, HeadLoss, soft_dice

CARD = ModelCard.from_dict({"heads": [
    {"name": "ch", "kind": "sigmoid", "channels": ["x", "y"]},
    {"name": "cls", "kind": "softmax", "channels": ["bg", "a", "b"]}]})


def _data(seed=0, shape=(2, 5, 6)):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((shape[0], 5, *shape[1:]), generator=g)
    multi = (torch.rand((shape[0], 2, *shape[1:]), generator=g) > 0.7).float()
    labels = torch.randint(0, 3, shape, generator=g)
    return logits, multi, labels


def test_bce_equals_torch_with_pos_weight():
    logits, multi, _ = _data()
    pw = (3.0, 0.5)
    hl = HeadLoss(CARD.heads[0], pos_weight=pw, dice=0)
    ref = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw).view(-1, 1, 1))(
        logits[:, :2], multi)
    assert torch.allclose(hl(logits, multi), ref, atol=1e-6)
    assert torch.allclose(HeadLoss(CARD.heads[0], dice=0)(logits, multi),
                          torch.nn.BCEWithLogitsLoss()(logits[:, :2], multi), atol=1e-6)


def test_pos_weight_weights_the_positive_voxels():
    # logit 0: each voxel's BCE is log 2; pos_weight multiplies the positive (target 1) term
    hl = HeadLoss(ModelCard.from_dict({"heads": [
        {"name": "f", "kind": "sigmoid", "channels": ["f"]}]}).heads[0], pos_weight=(3.0,), dice=0)
    x = torch.zeros(1, 1, 1, 4)
    t = torch.tensor([[[[1.0, 0, 0, 0]]]])
    assert hl(x, t).item() == pytest.approx((3 + 1 + 1 + 1) * np.log(2) / 4)


def test_pos_weight_from_the_export_is_negatives_over_positives():
    card = ModelCard.from_dict({"heads": [{"name": "f", "kind": "sigmoid", "channels": ["f"]}]})
    mask = np.zeros((1, 4, 5), np.uint8)
    mask[0, 0, :2] = 1  # 2 positives, 18 negatives: a rare channel gets weight 9, not 1/9
    stats = class_statistics([build_targets(card, {"f": mask}, (4, 5))])
    loss = CardLoss(card, stats, dice=0)
    assert loss.heads[0].pos_weight == (9.0,)
    assert CardLoss(card, stats, pos_weight=False).heads[0].pos_weight is None


def test_ce_equals_torch_with_ignore_and_weights():
    logits, _, labels = _data(1)
    labels[0, :2] = 255
    w = (0.2, 1.0, 3.0)
    hl = HeadLoss(CARD.heads[1], class_weight=w, dice=0)
    ref = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=255)(
        logits[:, 2:], labels)
    assert torch.allclose(hl(logits, labels), ref, atol=1e-6)


def test_ignored_voxels_train_nothing():
    logits, _multi, labels = _data(2)
    labels[:, 0] = 255
    logits = logits.clone().requires_grad_(True)
    hl = HeadLoss(CARD.heads[1], dice=1.0)
    loss = hl(logits, labels)
    loss.backward()
    assert torch.count_nonzero(logits.grad[:, 2:, 0]) == 0  # no gradient where ignored
    other = logits.detach().clone()
    other[:, 2:, 0] += 50 * torch.randn_like(other[:, 2:, 0])  # anything at ignored voxels
    assert torch.allclose(hl(other, labels), loss.detach())


def test_invalid_voxels_count_in_no_sigmoid_loss():
    logits, multi, _ = _data(3)
    valid = torch.ones(multi.shape[0], *multi.shape[2:], dtype=torch.bool)
    valid[:, :, :2] = False
    hl = HeadLoss(CARD.heads[0], pos_weight=(2.0, 1.0), dice=0)
    keep = valid.unsqueeze(1).expand_as(multi)
    x, t = logits[:, :2].movedim(1, -1)[keep.movedim(1, -1)], multi.movedim(1, -1)[
        keep.movedim(1, -1)]
    ref = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0, 1.0]))(
        x.view(-1, 2), t.view(-1, 2))
    assert torch.allclose(hl(logits, multi, valid), ref, atol=1e-6)


def test_soft_dice_matches_its_formula():
    g = torch.Generator().manual_seed(4)
    p, t = torch.rand(2, 3, 4, 4, generator=g), (torch.rand(2, 3, 4, 4, generator=g) > 0.5).float()
    pn, tn = p.numpy(), t.numpy()
    per = [1 - (2 * (pn[:, c] * tn[:, c]).sum() + 1) / (pn[:, c].sum() + tn[:, c].sum() + 1)
           for c in range(3)]
    assert soft_dice(p, t).item() == pytest.approx(np.mean(per), rel=1e-5)


def test_composite_is_the_weighted_sum_of_the_heads():
    logits, multi, labels = _data(5)
    loss = CardLoss(CARD, head_weights={"ch": 2.0, "cls": 0.5}, dice=0)
    total, parts = loss(logits, {"ch": multi, "cls": labels})
    bce = torch.nn.BCEWithLogitsLoss()(logits[:, :2], multi)
    ce = torch.nn.CrossEntropyLoss(ignore_index=255)(logits[:, 2:], labels)
    assert total.item() == pytest.approx(2 * bce.item() + 0.5 * ce.item(), rel=1e-6)
    assert parts["ch"] == pytest.approx(bce.item(), rel=1e-6)


def test_softmax_dice_term_covers_foreground_classes_only():
    logits, _, labels = _data(6)
    with_dice = HeadLoss(CARD.heads[1], dice=1.0)(logits, labels)
    ce = torch.nn.CrossEntropyLoss()(logits[:, 2:], labels)
    prob = logits[:, 2:].softmax(1)[:, 1:]
    onehot = torch.stack([(labels == k).float() for k in (1, 2)], 1)
    pn, tn = prob.numpy(), onehot.numpy()
    dice = np.mean([1 - (2 * (pn[:, c] * tn[:, c]).sum() + 1) / (pn[:, c].sum() + tn[:, c].sum()
                                                                   + 1) for c in range(2)])
    assert with_dice.item() == pytest.approx(ce.item() + dice, rel=1e-5)


def test_unknown_head_weight_is_one_sentence():
    with pytest.raises(FormatError, match="no head 'nope'"):
        CardLoss(CARD, head_weights={"nope": 1.0})
