from pathlib import Path

import numpy as np
import pytest
import torch

from napari_segreview.card.spec import ModelCard, load_card
from napari_segreview.errors import CardError, FormatError
from napari_segreview.inference.heads import (
    HeadOutput,
    activate,
    check_outputs,
    decide,
    head_outputs,
    probabilities_to_numpy,
)

CARDS = Path(__file__).resolve().parents[2] / "examples" / "cards"


def card(name):
    return load_card(CARDS / f"{name}.yaml")


def signs(pattern):
    """Logit map from a sign pattern: 1 -> +2.5, 0 -> -1.5 (known decision by logit > 0)."""
    p = np.asarray(pattern)
    return np.where(p > 0, 2.5, -1.5).astype(np.float32)


def winner_logits(winners, n_classes, rng):
    """(n_classes, ...) logits where class `winners[...]` beats the others by at least 1."""
    winners = np.asarray(winners)
    x = rng.uniform(-3, 0, (n_classes, *winners.shape)).astype(np.float32)
    for c in range(n_classes):
        x[c][winners == c] = rng.uniform(1, 4, int((winners == c).sum()))
    return x


RNG = np.random.default_rng(42)
MASK = np.array([[0, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 0], [1, 0, 0, 0]])


def test_binary_one_logit():
    c = card("binary-one-logit")
    logits = torch.from_numpy(signs(MASK))[None, None]                 # 1x1x4x4
    d = decide(logits, c)["liver"]
    assert d.shape == (1, 1, 4, 4) and d.dtype == torch.uint8
    np.testing.assert_array_equal(d[0, 0].numpy(), MASK)
    np.testing.assert_array_equal(d.numpy(), (logits > 0).numpy())
    np.testing.assert_array_equal(d.numpy(), (torch.sigmoid(logits) > 0.5).numpy())
    assert logits.argmax(dim=1).max() == 0          # the forum pitfall: argmax of one channel


def test_binary_one_logit_random_against_numpy():
    c = card("binary-one-logit")
    x = RNG.normal(0, 3, (3, 1, 8, 8)).astype(np.float32)
    d = decide(torch.from_numpy(x), c)["liver"].numpy()
    np.testing.assert_array_equal(d, (x > 0).astype(np.uint8))
    np.testing.assert_array_equal(d, (1 / (1 + np.exp(-x)) > 0.5).astype(np.uint8))


def test_binary_two_class():
    c = card("binary-two-class")
    logits = torch.from_numpy(winner_logits(MASK, 2, RNG))[None]
    d = decide(logits, c)["liver"]
    assert d.shape == (1, 4, 4) and d.dtype == torch.uint8
    np.testing.assert_array_equal(d[0].numpy(), MASK)


def test_multiclass_3d():
    c = card("multiclass")
    winners = RNG.integers(0, 4, (2, 3, 4))                            # Z, Y, X
    logits = torch.from_numpy(winner_logits(winners, 4, RNG))[None]    # 1x4x2x3x4
    d = decide(logits, c)["organs"]
    np.testing.assert_array_equal(d[0].numpy(), winners)
    p = activate(logits, c)
    np.testing.assert_allclose(p.sum(dim=1).numpy(), 1, atol=1e-6)


def test_multilabel_overlapping():
    c = card("multilabel")
    masks = np.stack([MASK, MASK.T, np.ones_like(MASK)])
    logits = torch.from_numpy(signs(masks))[None]
    d = decide(logits, c)["structures"]
    assert d.shape == (1, 3, 4, 4)
    np.testing.assert_array_equal(d[0].numpy(), masks)
    p = activate(logits, c)
    np.testing.assert_allclose(p.numpy(), 1 / (1 + np.exp(-logits.numpy())), rtol=1e-6)


def test_bone_composite_within():
    c = card("bone-composite")
    whole = MASK
    parts = np.array([[1, 2, 3, 0], [3, 1, 2, 0], [2, 0, 3, 1], [2, 2, 0, 1]])
    logits = np.concatenate([signs(whole)[None], winner_logits(parts, 4, RNG)])[None]
    assert logits.shape == (1, 5, 4, 4)
    d = decide(torch.from_numpy(logits), c)
    np.testing.assert_array_equal(d["whole"][0, 0].numpy(), whole)
    expected = np.where(whole > 0, parts, 0)
    np.testing.assert_array_equal(d["parts"][0].numpy(), expected)
    p = activate(torch.from_numpy(logits), c)
    np.testing.assert_allclose(p[:, 1:].sum(dim=1).numpy(), 1, atol=1e-6)
    np.testing.assert_allclose(p[:, 0].numpy(), 1 / (1 + np.exp(-logits[:, 0])), rtol=1e-6)
    assert not torch.allclose(p[:, 1:].sum(dim=1), p[:, :].sum(dim=1))   # not one softmax


def test_within_sigmoid_child_and_parent_after_child():
    c = ModelCard.from_dict({"heads": [
        {"name": "lesions", "kind": "sigmoid", "channels": ["a", "b"], "within": "organ"},
        {"name": "organ", "kind": "sigmoid", "channels": ["organ"]},
    ]})
    child = np.stack([np.ones_like(MASK), MASK.T])
    logits = torch.from_numpy(np.concatenate([signs(child), signs(MASK)[None]]))[None]
    d = decide(logits, c)
    np.testing.assert_array_equal(d["lesions"][0].numpy(), child * MASK)
    np.testing.assert_array_equal(d["organ"][0, 0].numpy(), MASK)


def test_within_chain():
    c = ModelCard.from_dict({"heads": [
        {"name": "c", "kind": "softmax", "channels": ["bg", "x", "y"], "within": "b"},
        {"name": "b", "kind": "sigmoid", "channels": ["b"], "within": "a"},
        {"name": "a", "kind": "sigmoid", "channels": ["a"]},
    ]})
    a, b = np.array([[1, 1, 0, 0]]), np.array([[1, 0, 1, 0]])
    cls = np.array([[2, 1, 2, 1]])
    logits = np.concatenate([winner_logits(cls, 3, RNG), signs(b)[None], signs(a)[None]])
    d = decide(torch.from_numpy(logits)[None], c)
    assert d["b"][0, 0].tolist() == [[1, 0, 0, 0]]
    assert d["c"][0].tolist() == [[2, 0, 0, 0]]


def test_dict_output_card():
    c = card("deeplab-imagenet-rgb")
    out = {"out": torch.from_numpy(winner_logits(MASK, 2, RNG))[None],
           "aux": torch.zeros(1, 2, 4, 4)}
    logits = out[c.input.output_key]
    np.testing.assert_array_equal(decide(logits, c)["segmentation"][0].numpy(), MASK)
    assert check_outputs(logits, c) == []


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_logits(dtype):
    c = card("bone-composite")
    x = torch.from_numpy(RNG.normal(0, 3, (2, 5, 6, 6)).astype(np.float32))
    low = x.to(dtype)
    p = activate(low, c)
    assert p.dtype == dtype
    ref = activate(low.float(), c)
    torch.testing.assert_close(p.float(), ref, atol=1e-2, rtol=0)
    assert activate(low, c, dtype=torch.float32).dtype == torch.float32
    d, d_ref = decide(low, c), decide(low.float(), c)
    for k in d:
        assert d[k].dtype == torch.uint8
        torch.testing.assert_close(d[k], d_ref[k])


def test_stays_on_device():
    c = card("bone-composite")
    x = torch.empty(2, 5, 8, 8, device="meta")        # any .cpu() or numpy inside would fail
    assert activate(x, c).device.type == "meta"
    assert all(v.device.type == "meta" for v in decide(x, c).values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda():
    c = card("bone-composite")
    x = torch.randn(2, 5, 16, 16, device="cuda", dtype=torch.bfloat16)
    d = decide(x, c)
    assert all(v.is_cuda for v in d.values())
    assert activate(x, c).is_cuda and check_outputs(x, c) == []
    q = probabilities_to_numpy(activate(x, c), "uint8")
    ref = torch.round(activate(x.cpu(), c).float() * 255).to(torch.uint8).numpy()
    assert np.abs(q.astype(int) - ref).max() <= 1


# --- check_outputs ---------------------------------------------------------------------------


def test_channel_count_mismatch():
    c = card("bone-composite")
    with pytest.raises(CardError) as info:
        check_outputs(torch.zeros(1, 3, 4, 4), c)
    msg = str(info.value)
    assert "returns 3 channels" in msg and "describes 5" in msg
    assert "whole_bone, background, part_1, part_2, part_3" in msg
    for f in (decide, activate):
        with pytest.raises(CardError, match="returns 3 channels"):
            f(torch.zeros(1, 3, 4, 4), c)


def test_channel_count_hints_for_binary_confusions():
    with pytest.raises(CardError, match="one sigmoid head with one channel"):
        check_outputs(torch.zeros(1, 1, 4, 4), card("binary-two-class"))
    with pytest.raises(CardError, match=r"softmax head \[background, foreground\]"):
        check_outputs(torch.zeros(1, 2, 4, 4), card("binary-one-logit"))
    with pytest.raises(CardError, match="channel axis"):
        check_outputs(torch.zeros(4, 4), card("binary-one-logit"))


def test_warns_sigmoid_applied_twice():
    c = card("multilabel")
    logits = torch.from_numpy(RNG.normal(0, 3, (1, 3, 8, 8)).astype(np.float32))
    assert check_outputs(logits, c) == []
    w = check_outputs(torch.sigmoid(logits), c)
    assert len(w) == 1 and "'structures'" in w[0] and "applied twice" in w[0]
    assert "probabilities" in w[0]


def test_warns_softmax_in_model():
    c = card("bone-composite")
    logits = torch.from_numpy(RNG.normal(0, 3, (1, 5, 8, 8)).astype(np.float32))
    assert check_outputs(logits, c) == []
    applied = logits.clone()
    applied[:, 1:] = logits[:, 1:].softmax(dim=1)
    w = check_outputs(applied, c)
    assert len(w) == 1 and "'parts'" in w[0] and "sums to 1" in w[0]
    w = check_outputs(applied.bfloat16(), c)
    assert len(w) == 1 and "sums to 1" in w[0]
    both = applied.clone()
    both[:, :1] = torch.sigmoid(logits[:, :1])
    assert len(check_outputs(both, c)) == 2


def test_warns_probabilities_for_softmax_not_summing():
    c = card("multiclass")
    x = torch.rand(1, 4, 2, 3, 3)
    w = check_outputs(x, c)
    assert len(w) == 1 and "look like probabilities" in w[0]


def test_warns_non_finite_and_integer():
    c = card("binary-one-logit")
    x = torch.tensor([[[[1.0, float("nan")], [float("inf"), -2.0]]]])
    w = check_outputs(x, c)
    assert any("2 output values are NaN or infinite" in s for s in w)
    w = check_outputs(torch.ones(1, 1, 2, 2, dtype=torch.int64), c)
    assert len(w) == 1 and "floating-point" in w[0]


# --- host conversion -------------------------------------------------------------------------


def test_probabilities_to_numpy():
    p = torch.tensor([0.0, 0.001, 0.002, 0.5, 0.999, 1.0])
    q = probabilities_to_numpy(p, "uint8")
    assert q.dtype == np.uint8
    np.testing.assert_array_equal(q, np.round(p.numpy().astype(np.float64) * 255))
    h = probabilities_to_numpy(p, "float16")
    assert h.dtype == np.float16
    np.testing.assert_allclose(h, p.numpy(), atol=1e-3)
    assert probabilities_to_numpy(p, np.uint8).dtype == np.uint8
    assert p[3] == 0.5                                     # input untouched
    assert probabilities_to_numpy(p.bfloat16(), "uint8")[-1] == 255
    with pytest.raises(FormatError, match="'float16' or 'uint8'"):
        probabilities_to_numpy(p, "int8")


def test_head_outputs_stack_of_slices():
    c = card("bone-composite")
    logits = torch.from_numpy(RNG.normal(0, 3, (3, 5, 4, 6)).astype(np.float32))  # 3 slices
    out = head_outputs(logits, c, probabilities="uint8")
    assert set(out) == {"whole", "parts"} and isinstance(out["whole"], HeadOutput)
    whole, parts = out["whole"], out["parts"]
    assert whole.decision.shape == (1, 3, 4, 6) and whole.decision.dtype == np.uint8
    assert parts.decision.shape == (3, 4, 6) and parts.decision.dtype == np.uint8
    assert parts.probabilities.shape == (4, 3, 4, 6) and parts.probabilities.dtype == np.uint8
    assert whole.decision.flags.c_contiguous
    x = logits.numpy()
    np.testing.assert_array_equal(whole.decision[0], (x[:, 0] > 0))
    expected = np.where(x[:, 0] > 0, np.argmax(x[:, 1:], axis=1), 0)
    np.testing.assert_array_equal(parts.decision, expected)


def test_head_outputs_single_volume():
    c = card("multiclass")
    logits = torch.from_numpy(RNG.normal(0, 3, (1, 4, 2, 3, 3)).astype(np.float32))
    out = head_outputs(logits, c, probabilities="float16", squeeze_batch=True)["organs"]
    assert out.decision.shape == (2, 3, 3) and out.probabilities.shape == (4, 2, 3, 3)
    assert out.probabilities.dtype == np.float16
    assert head_outputs(logits, c)["organs"].probabilities is None
    with pytest.raises(FormatError, match="batch of one"):
        head_outputs(torch.zeros(2, 4, 2, 3, 3), c, squeeze_batch=True)
