"""The uncertainty score: entropy over the voxels that are not confidently background."""

import numpy as np
import pytest
import torch
from scipy.special import expit, softmax

from napari_segreview.card.spec import ModelCard
from napari_segreview.inference.predict import predict
from napari_segreview.inference.uncertainty import CONFIDENT, UncertaintyAccumulator

CARD = ModelCard.from_dict({"input": {"normalize": {"kind": "none"}}, "heads": [
    {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
    {"name": "parts", "kind": "softmax", "channels": ["background", "a", "b"]}]})


def model(x):
    # four logits from the one input channel: a sigmoid, then a 3-class softmax
    return torch.cat([6 * x - 3, 4 - 8 * x, 8 * x - 4, 3 * torch.sin(9 * x)], 1)


def expected(image):
    """The documented formula, in numpy, on the logits the model gives for the image."""
    x = image.astype(np.float64)
    sig = expit(6 * x - 3)
    h_sig = -(sig * np.log2(sig) + (1 - sig) * np.log2(1 - sig))
    m_sig = sig > CONFIDENT
    p = softmax(np.stack([4 - 8 * x, 8 * x - 4, 3 * np.sin(9 * x)]), axis=0)
    h_soft = -(p * np.log(p)).sum(0) / np.log(3)
    m_soft = p[0] < 1 - CONFIDENT
    whole, parts = h_sig[m_sig].mean(), h_soft[m_soft].mean()
    return {"whole": whole, "parts": parts}, (whole + parts) / 2


@pytest.mark.parametrize("batch_size", [1, 3])
def test_predict_scores_match_the_formula(batch_size):
    image = np.random.default_rng(3).random((5, 9, 11)).astype(np.float32)
    got = predict(image, model, CARD, device="cpu", batch_size=batch_size, uncertainty=True)
    channels, score = expected(image)
    assert got.uncertainty.channels == pytest.approx(channels, rel=1e-4)
    assert got.uncertainty.score == pytest.approx(score, rel=1e-4)
    plain = predict(image, model, CARD, device="cpu", batch_size=batch_size)
    assert plain.uncertainty is None
    for name in ("whole", "parts"):  # scoring changes no decision
        np.testing.assert_array_equal(plain.heads[name].decision, got.heads[name].decision)


def test_confidently_empty_volume_does_not_dilute():
    acc = UncertaintyAccumulator(CARD)
    doubtful = torch.zeros((1, 4, 2, 2))           # p = 0.5 everywhere: H = 1 in the sigmoid
    empty = torch.full((1, 4, 50, 50), -30.0)
    empty[:, 1] = 30.0                             # softmax background sure, sigmoid sure absent
    acc.add(doubtful)
    acc.add(empty)
    u = acc.result()
    assert u.channels["whole"] == pytest.approx(1.0)
    assert u.voxels["whole"] == 4 and u.voxels["parts"] == 4


def test_nothing_found_scores_zero():
    acc = UncertaintyAccumulator(CARD)
    sure = torch.full((2, 4, 3, 3), -30.0)
    sure[:, 1] = 30.0
    acc.add(sure)
    u = acc.result()
    assert u.score == 0.0 and u.channels == {"whole": 0.0, "parts": 0.0}
