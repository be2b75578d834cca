"""Which layers a Predict run makes and which ones a re-run replaces: no display needed."""

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from napari_segreview._napari._colours import BACKGROUND, FIXED, PALETTE, channel_color
from napari_segreview._napari.predict.layers import (
    prediction_layers,
    run_id,
    unique_name,
)
from napari_segreview._napari.predict.rerun import (
    RerunPlan,
    is_edited,
    plan_rerun,
    result_name,
)
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
    # Each channel its name's colour (liver and kidney are fixed entries), the softmax
    # background grey.
    assert colours == ["#f58231", "#42d4f4", BACKGROUND, channel_color("fat"),
                       channel_color("muscle")]


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
    assert kw["colormap"][1] == channel_color("fat")
    assert kw["colormap"][2] == channel_color("muscle")
    m = kw["metadata"]["segreview"]
    assert (m["kind"], m["head"], m["head_kind"], m["channel"], m["classes"]) == (
        "decision", "tissue", "softmax", None, ["background", "fat", "muscle"])
    assert ModelCard.from_dict(m["card"]) == CARD
    for name, k, colour in [("organs: liver", 0, "#f58231"), ("organs: kidney", 1, "#42d4f4")]:
        data, kw, _ = layers[name]
        np.testing.assert_array_equal(data, pred.heads["organs"].decision[k])
        assert set(np.unique(data)) <= {0, 1}
        assert kw["colormap"][1] == colour and kw["colormap"][0] == "transparent"
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
    # One colour per channel name, the same whatever card the name is in.
    offered = [c for c in names if c != names[cut]]
    assert shown == [channel_color(c) for c in offered]
    assert set(shown) <= set(PALETTE) | set(FIXED.values())


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


# -- one colour per channel name ----------------------------------------------------------

def test_a_channel_has_its_colour_in_every_card_and_in_the_ground_truth():
    from napari_segreview._napari._sample_data import ct_phantom
    from napari_segreview.data import demo_card_path
    from napari_segreview.data.phantom import PHANTOM_CHANNELS

    card = ModelCard.from_dict({"heads": [
        {"name": "parts", "kind": "sigmoid", "channels": ["part_3", "part_1"]}]})
    demo = ModelCard.from_dict(__import__("yaml").safe_load(demo_card_path().read_text()))
    colours = {}
    for c in (card, demo):
        for _, kw, kind in prediction_layers(fake_prediction(c, shape=(2, 2)), image_name="i",
                                             model_path="m"):
            m = kw["metadata"]["segreview"]
            if kind == "image" and kw["visible"]:
                colours.setdefault(m["channel"], set()).add(kw["colormap"])
            elif kind == "labels" and m["channel"] is not None:
                colours.setdefault(m["channel"], set()).add(kw["colormap"][1])
            elif kind == "labels":
                for k, cls in enumerate(m["classes"][1:], 1):
                    colours.setdefault(cls, set()).add(kw["colormap"][k])
    for _, kw, _ in ct_phantom()[1:]:
        colours.setdefault(kw["metadata"]["segreview"]["channel"], set()).add(kw["colormap"][1])
    assert {c: len(v) for c, v in colours.items()} == {c: 1 for c in PHANTOM_CHANNELS}
    assert len({v.pop() for v in colours.values()}) == 4, "the four channels differ"


def rgb(hex_colour):
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], float) / 255


def seen_over_whole(part, whole, ct=0.67, opacity=0.6):
    """A part's pixel over the whole bone over a bone-grey CT, and the part alone over it."""
    grey = np.full(3, ct)
    under = opacity * rgb(whole) + (1 - opacity) * grey
    return (opacity * rgb(part) + (1 - opacity) * under,
            opacity * rgb(part) + (1 - opacity) * grey)


def delta_e(a, b):
    from skimage.color import deltaE_ciede2000, rgb2lab

    return float(deltaE_ciede2000(rgb2lab(a.reshape(1, 1, 3)), rgb2lab(b.reshape(1, 1, 3)))[0, 0])


def test_parts_over_the_whole_bone_keep_their_own_colour():
    """A part drawn over ``whole`` (Predict's opacity 0.6, over bone-grey CT) looks like itself.

    The issue's case: yellow over the old magenta ``whole`` read as orange, a CIEDE2000
    difference of about 20 from yellow alone; the parts now stay within 12 of
    themselves and far from each other.
    """
    old_on, old_alone = seen_over_whole("#ffff00", "#ff00ff")
    assert delta_e(old_on, old_alone) > 18, "the criterion sees the issue's orange"
    parts = ["part_1", "part_2", "part_3"]
    seen = {}
    for part in parts:
        on, alone = seen_over_whole(channel_color(part), channel_color("whole"))
        assert delta_e(on, alone) < 12, part
        seen[part] = on
    for i, a in enumerate(parts):
        for b in parts[i + 1:]:
            assert delta_e(seen[a], seen[b]) > 20, (a, b)


# -- names across models ------------------------------------------------------------------

def named(name, model, image="ct"):
    return SimpleNamespace(name=name, metadata={"segreview": {"model": model, "image": image}})


def test_three_models_on_one_image_are_told_apart_by_the_model_name():
    layers = [SimpleNamespace(name="ct", metadata={})]
    got = []
    for model, card_name in [("/m/a.pt", "bone-a"), ("/m/b.pt", "bone-b"), ("/m/c.pt", "bone-c")]:
        name = result_name("bone", layers, image_name="ct", model_path=model,
                           model_name=card_name)
        layers.append(named(name, model))
        got.append(name)
    assert got == ["bone", "bone [bone-b]", "bone [bone-c]"]


def test_same_card_name_adds_the_model_file_and_another_image_the_image_name():
    layers = [named("bone", "/m/a.pt"), named("bone [net]", "/m/b.pt")]
    assert result_name("bone", layers, image_name="ct", model_path="/x/c.pt",
                       model_name="net") == "bone [net, c.pt]"
    assert result_name("bone", layers, image_name="ct 2", model_path="/m/a.pt",
                       model_name="net") == "bone [ct 2]"
    layers.append(named("bone [net, c.pt]", "/y/c.pt"))
    assert result_name("bone", layers, image_name="ct", model_path="/z/c.pt",
                       model_name="net") == "bone [net, c.pt] 2"
