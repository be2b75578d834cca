"""Which layers a Predict run makes and which ones a re-run replaces: no display needed."""

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from napari_segreview._napari.predict.layers import (
    BACKGROUND,
    PALETTE,
    prediction_layers,
    run_id,
    unique_name,
)
from napari_segreview._napari.predict.rerun import RerunPlan, is_edited, plan_rerun
from napari_segreview._napari.predict.run import model_input
from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import FormatError
from napari_segreview.inference.heads import HeadOutput

CARD = ModelCard.from_dict({"name": "organs", "heads": [
    {"name": "organs", "kind": "sigmoid", "channels": ["liver", "kidney"]},
    {"name": "tissue", "kind": "softmax", "channels": ["background", "fat", "muscle"]},
]})


def fake_prediction(card=CARD, shape=(2, 4, 5), probabilities="float16", seed=0):
    """A Prediction-like object with random decisions and probabilities of known layout."""
    rng = np.random.default_rng(seed)
    heads = {}
    for h in card.heads:
        n = len(h.channels)
        if h.kind == "softmax":
            decision = rng.integers(0, n, shape).astype(np.uint8)
        else:
            decision = rng.integers(0, 2, (n, *shape)).astype(np.uint8)
        probs = None
        if probabilities == "float16":
            probs = rng.random((n, *shape)).astype(np.float16)
        elif probabilities == "uint8":
            probs = rng.integers(0, 256, (n, *shape)).astype(np.uint8)
        heads[h.name] = HeadOutput(h, decision, probs)
    return SimpleNamespace(card=card, heads=heads, warnings=[], device="cpu")


def by_name(tuples):
    return {kw["name"]: (data, kw, kind) for data, kw, kind in tuples}


def test_layers_names_types_and_order():
    pred = fake_prediction()
    tuples = prediction_layers(pred, image_name="scan", model_path="/m/organs.pt",
                               scale=(2.5, 0.8, 0.8), translate=[1, 2, 3])
    assert [(kw["name"], kind) for _, kw, kind in tuples] == [
        ("organs: liver (p)", "image"), ("organs: kidney (p)", "image"),
        ("tissue: background (p)", "image"), ("tissue: fat (p)", "image"),
        ("tissue: muscle (p)", "image"),
        ("organs: liver", "labels"), ("organs: kidney", "labels"), ("tissue", "labels"),
    ]
    for _, kw, _ in tuples:
        assert kw["scale"] == (2.5, 0.8, 0.8) and kw["translate"] == (1.0, 2.0, 3.0)
        m = kw["metadata"]["segreview"]
        assert m["image"] == "scan" and m["model"] == "/m/organs.pt"
        assert m["run"] == run_id("scan", "/m/organs.pt")


def test_probability_layers():
    pred = fake_prediction()
    layers = by_name(prediction_layers(pred, image_name="scan", model_path="m.pt"))
    for head, channel, k in [("organs", "kidney", 1), ("tissue", "muscle", 2)]:
        data, kw, _ = layers[f"{head}: {channel} (p)"]
        np.testing.assert_array_equal(data, pred.heads[head].probabilities[k])
        assert kw["contrast_limits"] == (0.0, 1.0) and kw["blending"] == "additive"
        assert kw["metadata"]["segreview"] == {
            "kind": "probability", "image": "scan", "run": run_id("scan", "m.pt"),
            "model": "m.pt", "head": head,
            "head_kind": "sigmoid" if head == "organs" else "softmax", "channel": channel}
    visible = {name: kw["visible"] for name, (_, kw, kind) in layers.items() if kind == "image"}
    assert [n for n, v in visible.items() if not v] == ["tissue: background (p)"]
    colours = [kw["colormap"] for _, kw, kind in layers.values() if kind == "image"]
    # Palette in card order, skipping the softmax background (grey).
    assert colours == [PALETTE[0], PALETTE[1], BACKGROUND, PALETTE[2], PALETTE[3]]


def test_uint8_probabilities_use_the_0_255_contrast():
    pred = fake_prediction(probabilities="uint8")
    layers = by_name(prediction_layers(pred, image_name="scan", model_path="m.pt"))
    data, kw, _ = layers["organs: liver (p)"]
    assert data.dtype == np.uint8 and kw["contrast_limits"] == (0, 255)


def test_no_probabilities_gives_decisions_only():
    pred = fake_prediction(probabilities=None)
    names = [kw["name"] for _, kw, _ in prediction_layers(pred, image_name="s", model_path="m")]
    assert names == ["organs: liver", "organs: kidney", "tissue"]


def test_decision_layers():
    pred = fake_prediction()
    layers = by_name(prediction_layers(pred, image_name="scan", model_path="m.pt"))
    data, kw, kind = layers["tissue"]
    expected = pred.heads["tissue"].decision
    assert kind == "labels" and data.dtype == np.uint8
    np.testing.assert_array_equal(data, expected)
    assert kw["features"] == {"index": [0, 1, 2], "class": ["background", "fat", "muscle"]}
    assert kw["colormap"][0] == "transparent"
    assert kw["colormap"][1] == PALETTE[2] and kw["colormap"][2] == PALETTE[3]
    m = kw["metadata"]["segreview"]
    assert (m["kind"], m["head"], m["head_kind"], m["channel"], m["classes"]) == (
        "decision", "tissue", "softmax", None, ["background", "fat", "muscle"])
    assert ModelCard.from_dict(m["card"]) == CARD
    for name, k in [("organs: liver", 0), ("organs: kidney", 1)]:
        data, kw, _ = layers[name]
        np.testing.assert_array_equal(data, pred.heads["organs"].decision[k])
        assert set(np.unique(data)) <= {0, 1}
        assert kw["colormap"][1] == PALETTE[k] and kw["colormap"][0] == "transparent"
        m = kw["metadata"]["segreview"]
        assert (m["kind"], m["head_kind"], m["channel"]) == ("decision", "sigmoid",
                                                            name.split(": ")[1])
        assert "classes" not in m
    # The kept prediction: equal, read-only, and not the layer's (editable) data.
    for name in ("tissue", "organs: kidney"):
        data, kw, _ = layers[name]
        kept = kw["metadata"]["segreview"]["prediction"]
        np.testing.assert_array_equal(kept, data)
        assert not kept.flags.writeable and data.flags.writeable
        assert not np.shares_memory(kept, data)
        data[...] = 0
        assert kept.any(), "editing the layer must not change the kept prediction"
    # Each decision layer owns its card dict (editing one's metadata leaves others alone).
    cards = [kw["metadata"]["segreview"]["card"] for _, kw, kind in layers.values()
             if kind == "labels"]
    assert len({id(c) for c in cards}) == len(cards)


def test_a_head_named_like_a_channel_gets_a_distinct_layer_name():
    card = ModelCard.from_dict({"heads": [
        {"name": "bone", "kind": "sigmoid", "channels": ["parts"]},
        {"name": "parts", "kind": "softmax", "channels": ["background", "a"]}]})
    names = [kw["name"] for _, kw, kind in prediction_layers(
        fake_prediction(card), image_name="s", model_path="m") if kind == "labels"]
    assert names == ["parts", "parts 2"]


def test_one_channel_sigmoid_head_is_named_after_its_channel():
    card = ModelCard.from_dict({"heads": [
        {"name": "whole", "kind": "sigmoid", "channels": ["whole_bone"]}]})
    names = [kw["name"] for _, kw, _ in prediction_layers(
        fake_prediction(card), image_name="s", model_path="m")]
    assert names == ["whole_bone (p)", "whole_bone"]


channel_names = st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), min_size=2,
                         max_size=12, unique=True)


@settings(max_examples=40, deadline=None)
@given(channel_names, st.data())
def test_any_card_gives_one_layer_per_channel_with_unique_names(names, data):
    cut = data.draw(st.integers(0, len(names) - 2), label="sigmoid channels")
    # The softmax head may be named like the sigmoid head's only channel: names collide.
    soft = data.draw(st.sampled_from(["soft", names[0]]), label="softmax head name")
    assume(soft != "sig")
    heads = []
    if cut:
        heads.append({"name": "sig", "kind": "sigmoid", "channels": names[:cut]})
    heads.append({"name": soft, "kind": "softmax", "channels": names[cut:]})
    card = ModelCard.from_dict({"heads": heads})
    tuples = prediction_layers(fake_prediction(card, shape=(3, 3)), image_name="i",
                               model_path="m")
    kinds = [kind for _, _, kind in tuples]
    assert kinds.count("image") == len(names)
    assert kinds.count("labels") == cut + 1
    assert len({kw["name"] for _, kw, _ in tuples}) == len(tuples)
    shown = [kw["colormap"] for _, kw, kind in tuples if kind == "image" and kw["visible"]]
    assert len(shown) == len(names) - 1            # every channel but the background
    assert len(set(shown)) == min(len(shown), len(PALETTE))


# -- re-runs ------------------------------------------------------------------------------

def layer(name, kind, run="r", data=None, prediction="same", **extra):
    data = np.zeros((2, 3), np.uint8) if data is None else data
    m = {"kind": kind, "run": run, **extra}
    if kind == "decision" and prediction is not None:
        m["prediction"] = data.copy() if isinstance(prediction, str) else prediction
    return SimpleNamespace(name=name, data=data, metadata={"segreview": m})


def test_rerun_removes_unedited_layers_and_keeps_edited_ones():
    edited = layer("liver", "decision", prediction=np.ones((2, 3), np.uint8))
    layers = [
        SimpleNamespace(name="scan", data=None, metadata={}),
        layer("liver (p)", "probability"),
        edited,
        layer("tissue", "decision"),
        layer("liver (edited)", "decision", prediction=np.ones((2, 3), np.uint8)),
        layer("old", "decision", superseded=True, prediction=np.ones((2, 3), np.uint8)),
        layer("other run", "decision", run="r2"),
        layer("overlap", "overlap"),
    ]
    plan = plan_rerun(layers, "r")
    assert [x.name for x in plan.remove] == ["liver (p)", "tissue"]
    # "liver (edited)" is the run's too (edited, not superseded) and "liver (edited)"
    # is taken, so the names count up.
    assert [(x.name, new) for x, new in plan.keep] == [
        ("liver", "liver (edited 2)"), ("liver (edited)", "liver (edited) (edited)")]
    assert "('liver' -> 'liver (edited 2)'" in plan.message


def test_layer_without_kept_prediction_counts_as_edited():
    lost = layer("liver", "decision", prediction=None)
    assert is_edited(lost)
    assert plan_rerun([lost], "r").keep == [(lost, "liver (edited)")]


def test_shape_change_counts_as_edited():
    x = layer("liver", "decision", prediction=np.zeros((3, 3), np.uint8))
    assert is_edited(x)


def test_nothing_to_replace():
    plan = plan_rerun([layer("a", "decision", run="other")], "r")
    assert plan == RerunPlan() and plan.message == ""


def test_unique_name_counts_up():
    assert unique_name("a (edited)", ["a (edited)", "a (edited 2)"]) == "a (edited 3)"
    assert unique_name("a", []) == "a"


# -- what the model takes from a layer ----------------------------------------------------

RGB = ModelCard.from_dict({"input": {"channels": 3}, "heads": [
    {"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]})
VOL = ModelCard.from_dict({"input": {"spatial_dims": 3}, "heads": [
    {"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]})


def test_model_input_passes_grey_stacks_and_rgb_through():
    grey = np.zeros((4, 8, 8))
    assert model_input(grey, False, CARD, "ct") is grey
    rgb = np.zeros((2, 8, 8, 3))
    assert model_input(rgb, True, RGB, "photo") is rgb


def test_model_input_drops_alpha_for_an_rgb_model():
    rgba = np.arange(2 * 2 * 4).reshape(2, 2, 4)
    np.testing.assert_array_equal(model_input(rgba, True, RGB, "p"), rgba[..., :3])


@pytest.mark.parametrize(("data", "rgb", "card", "words"), [
    (np.zeros((8, 8, 3)), True, CARD, "is RGB: choose a grey image layer"),
    (np.zeros((8, 8)), False, RGB, "is grey: choose an RGB image layer"),
    (np.zeros((8, 8, 2)), True, RGB, "has 2: choose an image with 3 channels"),
    (np.zeros((2, 3, 8, 8)), False, CARD, "has 4 axes besides colour"),
    (np.zeros((8, 8)), False, VOL, "3-D model, which needs a (Z, Y, X) stack"),
])
def test_model_input_mismatch_is_one_sentence(data, rgb, card, words):
    with pytest.raises(FormatError, match=None) as info:
        model_input(data, rgb, card, "img")
    msg = str(info.value)
    assert words in msg and "'img'" in msg
    assert msg.endswith(".") and "\n" not in msg
