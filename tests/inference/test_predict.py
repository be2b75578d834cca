import threading

import numpy as np
import pytest
import torch

from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import Cancelled, CardError, ModelLoadError
from napari_segreview.inference import predict as predict_mod
from napari_segreview.inference.predict import Prediction, predict
from napari_segreview.inference.tiling import tile_grid

HEADS = [
    {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
    {"name": "parts", "kind": "softmax", "channels": ["bg", "p1", "p2"], "within": "whole"},
]
A = np.array([4.0, 1.0, -2.0, 3.0], np.float32)  # logits = A * x + B per channel
B = np.array([-2.0, 0.0, 1.0, -1.5], np.float32)
WINDOW = {"kind": "window", "center": 0, "width": 200}  # x = clip((raw + 100) / 200, 0, 1)


def make_card(heads=HEADS, **inp):
    inp.setdefault("normalize", WINDOW)
    return ModelCard.from_dict({"name": "test", "input": inp, "heads": heads})


def linear(a=A, b=B, dims=2):
    """1x1 conv with fixed weights: logits[c] = a[c] * x + b[c]."""
    conv = (torch.nn.Conv2d if dims == 2 else torch.nn.Conv3d)(1, len(a), 1)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(a).view(len(a), 1, *([1] * dims)))
        conv.bias.copy_(torch.from_numpy(b))
    return conv.eval()


def window(raw):
    return np.clip((raw.astype(np.float64) + 100) / 200, 0, 1)


def by_hand(x):
    """Decisions and probabilities of the linear model for normalised x, in numpy."""
    logits = A[:, None] * x.reshape(1, -1) + B[:, None]
    whole = (logits[0] > 0).astype(np.uint8)
    parts = np.argmax(logits[1:], axis=0).astype(np.uint8) * whole
    p_whole = 1 / (1 + np.exp(-logits[0]))
    e = np.exp(logits[1:] - logits[1:].max(0))
    p_parts = e / e.sum(0)
    shape = x.shape
    return (
        whole.reshape(1, *shape),
        parts.reshape(shape),
        p_whole.reshape(1, *shape),
        p_parts.reshape(3, *shape),
    )


def raw_image(shape, seed=0):
    return np.random.default_rng(seed).uniform(-150, 150, shape).astype(np.float32)


def test_linear_stack_matches_hand_computation():
    raw = raw_image((5, 12, 16))
    calls = []
    res = predict(raw, linear(), make_card(), device="cpu", batch_size=2,
                  probabilities="float16", progress=lambda d, t: calls.append((d, t)))
    assert isinstance(res, Prediction)
    whole, parts, p_whole, p_parts = by_hand(window(raw))
    np.testing.assert_array_equal(res.heads["whole"].decision, whole)
    np.testing.assert_array_equal(res.heads["parts"].decision, parts)
    assert res.heads["whole"].decision.dtype == np.uint8
    assert res.heads["parts"].decision.dtype == np.uint8
    assert res.heads["whole"].probabilities.dtype == np.float16
    np.testing.assert_allclose(res.heads["whole"].probabilities, p_whole, atol=1e-3)
    np.testing.assert_allclose(res.heads["parts"].probabilities, p_parts, atol=1e-3)
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert res.logits_shape == (4, 5, 12, 16)
    assert res.device == "cpu" and res.warnings == []


def test_uint8_probabilities_and_no_probabilities():
    raw = raw_image((2, 8, 8))
    res = predict(raw, linear(), make_card(), device="cpu", probabilities="uint8")
    _, _, p_whole, p_parts = by_hand(window(raw))
    assert res.heads["parts"].probabilities.dtype == np.uint8
    np.testing.assert_allclose(res.heads["parts"].probabilities, p_parts * 255, atol=1)
    np.testing.assert_allclose(res.heads["whole"].probabilities, p_whole * 255, atol=1)
    res = predict(raw, linear(), make_card(), device="cpu")
    assert res.heads["whole"].probabilities is None


def test_single_2d_image_has_no_z_axis():
    raw = raw_image((10, 14))
    res = predict(raw, linear(), make_card(), device="cpu", probabilities="float16")
    whole, parts, _, _ = by_hand(window(raw))
    assert res.heads["whole"].decision.shape == (1, 10, 14)
    assert res.heads["parts"].decision.shape == (10, 14)
    assert res.heads["parts"].probabilities.shape == (3, 10, 14)
    np.testing.assert_array_equal(res.heads["whole"].decision, whole)
    np.testing.assert_array_equal(res.heads["parts"].decision, parts)
    assert res.logits_shape == (4, 10, 14)


def test_rgb_image_channels_last():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    w = np.array([[1.0, -2.0, 0.5], [-1.0, 1.5, 2.0]], np.float32)
    b = np.array([0.2, -0.1], np.float32)
    conv = torch.nn.Conv2d(3, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w).view(2, 3, 1, 1))
        conv.bias.copy_(torch.from_numpy(b))
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    card = make_card(
        heads=[{"name": "cls", "kind": "softmax", "channels": ["bg", "fg"]}],
        channels=3,
        normalize={"kind": "mean_std", "scale": 255, "mean": mean, "std": std},
    )
    res = predict(rgb, conv.eval(), card, device="cpu")
    x = (rgb / 255.0 - np.array(mean)) / np.array(std)  # (Y, X, 3)
    logits = np.einsum("yxc,kc->kyx", x, w) + b[:, None, None]
    np.testing.assert_array_equal(res.heads["cls"].decision, np.argmax(logits, 0))
    assert res.heads["cls"].decision.shape == (9, 11)


def test_tiled_linear_model_equals_hand_computation():
    raw = raw_image((3, 45, 70), seed=1)
    res = predict(raw, linear(), make_card(tile=[16, 24], overlap=0.5), device="cpu",
                  batch_size=5, probabilities="float16")
    whole, parts, _, p_parts = by_hand(window(raw))
    np.testing.assert_array_equal(res.heads["whole"].decision, whole)
    np.testing.assert_array_equal(res.heads["parts"].decision, parts)
    np.testing.assert_allclose(res.heads["parts"].probabilities, p_parts, atol=1e-3)


class Scale(torch.nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def conv_net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 2, 3, padding=1),
        Scale(20.0),  # logits spread over several units, not all near 0
    ).eval()


@pytest.mark.parametrize("overlap", [0.25, 0.5])
def test_tiled_equals_untiled_for_a_conv_net(overlap):
    raw = raw_image((2, 70, 90), seed=2)
    heads = [{"name": "cls", "kind": "softmax", "channels": ["bg", "fg"]}]
    net = conv_net()  # three 3x3 convs: an output depends on inputs up to 3 voxels away
    whole = predict(raw, net, make_card(heads=heads), device="cpu", probabilities="float16")
    tiled = predict(raw, net, make_card(heads=heads, tile=[32, 32], overlap=overlap),
                    device="cpu", probabilities="float16")
    p0 = whole.heads["cls"].probabilities.astype(np.float32)
    p1 = tiled.heads["cls"].probabilities.astype(np.float32)
    diff = np.abs(p0 - p1)
    # voxels within 3 of a tile edge inside the image see zero padding instead of image
    # context in that tile; everywhere else every tile computes the untiled value
    dirty = np.zeros((70, 90), bool)
    for where in tile_grid((70, 90), (32, 32), overlap):
        for axis, s in enumerate(where):
            for lo, hi, edge in ((s.start, s.start + 3, s.start), (s.stop - 3, s.stop, s.stop)):
                if edge not in (0, (70, 90)[axis]):
                    band = list(where)
                    band[axis] = slice(lo, hi)
                    dirty[tuple(band)] = True
    assert (~dirty).sum() > 200
    assert diff[:, :, ~dirty].max() < 2e-3  # float16 rounding
    # where a tile edge does interfere, the Gaussian weights keep its share small
    assert np.median(diff) < 1e-3
    agree = (whole.heads["cls"].decision == tiled.heads["cls"].decision).mean()
    assert agree > 0.99


def test_constant_model_blends_without_seams():
    heads = [{"name": "cls", "kind": "softmax", "channels": ["bg", "a", "b"]},
             {"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]
    const = torch.tensor([0.3, -1.2, 0.9, 0.4]).view(1, 4, 1, 1)

    def model(x):
        return const.expand(x.shape[0], 4, *x.shape[2:]) + 0 * x

    res = predict(raw_image((2, 61, 47)), model, make_card(heads=heads, tile=[16, 16]),
                  device="cpu", probabilities="float16")
    for name in ("cls", "fg"):
        p = res.heads[name].probabilities.astype(np.float32)
        assert (p.max(axis=(1, 2, 3)) - p.min(axis=(1, 2, 3)) < 1e-5).all()
    e = np.exp([0.3, -1.2, 0.9])
    np.testing.assert_allclose(res.heads["cls"].probabilities[:, 0, 0, 0], e / e.sum(),
                               atol=1e-3)
    assert (res.heads["cls"].decision == 2).all() and (res.heads["fg"].decision == 1).all()


@pytest.mark.parametrize("wrap", ["tuple", "list", "dict", "dict-key"])
def test_tuple_and_dict_outputs(wrap):
    lin = linear()
    models = {
        "tuple": lambda x: (lin(x), torch.zeros(1)),
        "list": lambda x: [torch.zeros(1), lin(x)],
        "dict": lambda x: {"out": lin(x), "aux": lin(x) * 0 - 5},
        "dict-key": lambda x: {"seg": lin(x), "aux": lin(x) * 0 - 5},
    }
    extra = {"list": {"output_index": 1}, "dict-key": {"output_key": "seg"}}.get(wrap, {})
    raw = raw_image((2, 8, 9))
    res = predict(raw, models[wrap], make_card(**extra), device="cpu")
    whole, parts, _, _ = by_hand(window(raw))
    np.testing.assert_array_equal(res.heads["whole"].decision, whole)
    np.testing.assert_array_equal(res.heads["parts"].decision, parts)


def test_wrong_channel_count_is_a_card_error():
    with pytest.raises(CardError, match="3 channels but the card describes 4"):
        predict(raw_image((1, 8, 8)), linear(A[:3], B[:3]), make_card(), device="cpu")


def test_probabilities_where_logits_are_promised_warns():
    heads = [{"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]
    res = predict(raw_image((1, 8, 8)), lambda x: torch.sigmoid(x), make_card(heads=heads),
                  device="cpu")
    assert len(res.warnings) == 1 and "twice" in res.warnings[0]


def test_3d_card_on_tiles():
    raw = raw_image((9, 20, 26), seed=4)
    card = make_card(spatial_dims=3, tile=[4, 8, 8], overlap=0.25)
    calls = []
    res = predict(raw, linear(dims=3), card, device="cpu", batch_size=4,
                  probabilities="float16", progress=lambda d, t: calls.append((d, t)))
    whole, parts, p_whole, _ = by_hand(window(raw))
    np.testing.assert_array_equal(res.heads["whole"].decision, whole)
    np.testing.assert_array_equal(res.heads["parts"].decision, parts)
    np.testing.assert_allclose(res.heads["whole"].probabilities, p_whole, atol=1e-3)
    assert calls[-1][0] == calls[-1][1] > 4
    assert res.logits_shape == (4, 9, 20, 26)


def test_3d_volume_smaller_than_tile_is_padded():
    raw = raw_image((3, 10, 12), seed=5)
    lin = linear(dims=3)
    seen = []

    def model(x):
        seen.append(tuple(x.shape[2:]))
        return lin(x)

    card = make_card(spatial_dims=3, tile=[8, 16, 16])
    res = predict(raw, model, card, device="cpu")
    assert set(seen) == {(8, 16, 16)}
    parts = by_hand(window(raw))[1]
    np.testing.assert_array_equal(res.heads["parts"].decision, parts)


@pytest.mark.parametrize("pad_mode", ["reflect", "constant", "edge"])
def test_small_slices_are_padded_to_the_tile_and_cropped(pad_mode):
    raw = raw_image((3, 20, 12), seed=6)
    lin = linear()

    def fixed_size_model(x):
        assert tuple(x.shape[2:]) == (32, 32), x.shape
        return lin(x)

    res = predict(raw, fixed_size_model, make_card(tile=[32, 32]), device="cpu",
                  pad_mode=pad_mode)
    whole, parts, _, _ = by_hand(window(raw))
    np.testing.assert_array_equal(res.heads["whole"].decision, whole)
    np.testing.assert_array_equal(res.heads["parts"].decision, parts)


def test_zscore_uses_whole_image_statistics_even_when_tiled():
    raw = raw_image((2, 40, 40), seed=7) + np.linspace(0, 300, 40, dtype=np.float32)
    card = make_card(tile=[16, 16], normalize={"kind": "zscore"})
    res = predict(raw, linear(), card, device="cpu")
    x = (raw - raw.mean()) / raw.std()
    whole, parts, _, _ = by_hand(x)
    np.testing.assert_array_equal(res.heads["whole"].decision, whole)
    np.testing.assert_array_equal(res.heads["parts"].decision, parts)


class OOMModel(torch.nn.Module):
    """Raises CUDA out-of-memory for batches larger than k, or always while `gpu`."""

    def __init__(self, k=1 << 30, gpu=False):
        super().__init__()
        self.lin, self.k, self.gpu, self.calls = linear(), k, gpu, []

    def forward(self, x):
        self.calls.append(x.shape[0])
        if self.gpu or x.shape[0] > self.k:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")
        return self.lin(x)


def test_oom_halves_the_batch_and_retries():
    raw = raw_image((10, 8, 8))
    model = OOMModel(k=2)
    progress = []
    res = predict(raw, model, make_card(), device="cpu", batch_size=8,
                  progress=lambda d, t: progress.append(d))
    assert model.calls == [8, 4, 2, 2, 2, 2, 2]
    assert progress == [2, 4, 6, 8, 10]
    parts = by_hand(window(raw))[1]
    np.testing.assert_array_equal(res.heads["parts"].decision, parts)
    assert res.warnings == []


def test_oom_at_batch_one_falls_back_to_cpu(monkeypatch):
    raw = raw_image((10, 8, 8))
    model = OOMModel(gpu=True)

    def fall_back(device):  # pretend the device was a GPU; the CPU has room
        model.gpu = False
        return True

    monkeypatch.setattr(predict_mod, "_can_fall_back", fall_back)
    res = predict(raw, model, make_card(tile=[8, 8]), device="cpu", batch_size=4)
    assert model.calls == [4, 2, 1, 4, 4, 2]
    assert res.device == "cpu"
    assert len(res.warnings) == 1 and "CPU" in res.warnings[0]
    whole, parts, _, _ = by_hand(window(raw))
    np.testing.assert_array_equal(res.heads["whole"].decision, whole)
    np.testing.assert_array_equal(res.heads["parts"].decision, parts)


def test_oom_fall_back_keeps_partly_blended_tiles(monkeypatch):
    """OOM in the middle of a tiled slice: tiles already added are not added twice."""
    raw = raw_image((2, 30, 30), seed=8)
    lin = linear()
    state = {"n": 0, "gpu": True}

    def model(x):
        state["n"] += 1
        if state["n"] == 2 and state["gpu"]:
            raise torch.cuda.OutOfMemoryError("fake")
        return lin(x)

    def fall_back(device):
        state["gpu"] = False
        return True

    monkeypatch.setattr(predict_mod, "_can_fall_back", fall_back)
    res = predict(raw, model, make_card(tile=[16, 16]), device="cpu", batch_size=1)
    parts = by_hand(window(raw))[1]
    np.testing.assert_array_equal(res.heads["parts"].decision, parts)
    assert len(res.warnings) == 1


def test_oom_on_cpu_at_batch_one_is_raised():
    with pytest.raises(torch.cuda.OutOfMemoryError):
        predict(raw_image((2, 8, 8)), OOMModel(gpu=True), make_card(), device="cpu")


def test_cancel_event_after_first_batch():
    event = threading.Event()
    model = OOMModel()
    with pytest.raises(Cancelled):
        predict(raw_image((10, 8, 8)), model, make_card(), device="cpu", batch_size=2,
                progress=lambda d, t: event.set(), cancel=event)
    assert len(model.calls) == 1


def test_cancel_callable():
    model = OOMModel()
    with pytest.raises(Cancelled):
        predict(raw_image((10, 8, 8)), model, make_card(), device="cpu", batch_size=2,
                cancel=lambda: len(model.calls) >= 2)
    assert len(model.calls) == 2


def test_training_module_is_put_in_eval_mode():
    net = torch.nn.Sequential(linear(), torch.nn.Dropout(0.9)).train()
    raw = raw_image((1, 16, 16))
    res = predict(raw, net, make_card(), device="cpu")
    assert not net.training
    np.testing.assert_array_equal(res.heads["parts"].decision, by_hand(window(raw))[1])


def test_input_and_output_errors():
    card = make_card()
    with pytest.raises(ModelLoadError, match=r"\(Y, X\) or \(Z, Y, X\)"):
        predict(np.zeros((2, 3, 4, 5)), linear(), card, device="cpu")
    with pytest.raises(ModelLoadError, match="channels last"):
        predict(np.zeros((4, 5)), linear(), make_card(channels=3, normalize="none"),
                device="cpu")
    with pytest.raises(ModelLoadError, match="3-D model"):
        predict(np.zeros((4, 5)), linear(dims=3), make_card(spatial_dims=3), device="cpu")
    with pytest.raises(ModelLoadError, match="input's size"):
        predict(np.zeros((1, 8, 8)), lambda x: linear()(x)[..., ::2, ::2], card, device="cpu")
    with pytest.raises(ModelLoadError, match="probabilities"):
        predict(np.zeros((8, 8)), linear(), card, device="cpu", probabilities="float32")
    with pytest.raises(ModelLoadError, match="batch_size"):
        predict(np.zeros((8, 8)), linear(), card, device="cpu", batch_size=0)
