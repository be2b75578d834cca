import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_segreview.card.intensity import normalize
from napari_segreview.card.spec import (
    HeadSpec,
    InputSpec,
    ModelCard,
    NormalizeSpec,
    find_card,
    load_card,
)
from napari_segreview.errors import CardError, FormatError

CARDS = Path(__file__).resolve().parents[2] / "examples" / "cards"
EXAMPLES = sorted(CARDS.glob("*.yaml"))

BONE = {
    "name": "bone",
    "input": {"channels": 1, "spatial_dims": 2, "tile": [256, 256],
              "normalize": {"kind": "window", "center": 400, "width": 1800}},
    "heads": [
        {"name": "whole", "kind": "sigmoid", "channels": ["whole_bone"]},
        {"name": "parts", "kind": "softmax", "within": "whole",
         "channels": ["background", "part_1", "part_2", "part_3"]},
    ],
}


def test_examples_exist():
    names = {p.stem for p in EXAMPLES}
    assert {"binary-one-logit", "binary-two-class", "multiclass", "multilabel",
            "bone-composite", "deeplab-imagenet-rgb"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_load_and_round_trip(path):
    card = load_card(path)
    assert ModelCard.from_dict(card.to_dict()) == card
    assert ModelCard.from_dict(yaml.safe_load(yaml.safe_dump(card.to_dict()))) == card
    assert card.n_outputs == len(card.channel_names)


def test_reference_cases():
    one = load_card(CARDS / "binary-one-logit.yaml")
    assert [(h.kind, h.channels) for h in one.heads] == [("sigmoid", ("liver",))]
    two = load_card(CARDS / "binary-two-class.yaml")
    assert two.heads[0].kind == "softmax" and two.n_outputs == 2
    multi = load_card(CARDS / "multiclass.yaml")
    assert multi.input.spatial_dims == 3 and multi.input.tile == (96, 160, 160)
    assert multi.heads[0].loss == "CrossEntropyLoss"
    ml = load_card(CARDS / "multilabel.yaml")
    assert ml.heads[0].loss == "BCEWithLogitsLoss" and ml.n_outputs == 3
    rgb = load_card(CARDS / "deeplab-imagenet-rgb.yaml")
    assert rgb.input.output_key == "out" and rgb.input.channels == 3
    assert rgb.input.normalize.scale == 255 and rgb.input.normalize.std == (0.229, 0.224, 0.225)


def test_bone_card_layout():
    card = ModelCard.from_dict(BONE)
    assert card.n_outputs == 5
    assert card.channel_names == ("whole_bone", "background", "part_1", "part_2", "part_3")
    whole, parts = card.heads
    assert (whole.start, whole.stop, parts.start, parts.stop) == (0, 1, 1, 5)
    assert card.head("parts") is parts and parts.within == "whole"
    assert load_card(CARDS / "bone-composite.yaml").heads == card.heads


def test_within_parent_may_come_after():
    d = copy.deepcopy(BONE)
    d["heads"].reverse()
    card = ModelCard.from_dict(d)
    assert card.head("whole").start == 4 and card.head("parts").start == 0


def test_defaults_and_shorthands():
    card = ModelCard.from_dict({"heads": [{"name": "a", "kind": "sigmoid", "channels": ["a"]}]})
    assert card.name == "model" and card.input == InputSpec()
    d = {"input": {"channels": 3, "normalize": {"kind": "mean_std", "mean": 0.5, "std": 0.25},
                   "tile": 128}, "heads": BONE["heads"]}
    card = ModelCard.from_dict(d)
    assert card.input.normalize.mean == (0.5, 0.5, 0.5) and card.input.tile == (128, 128)
    z = ModelCard.from_dict({"input": {"normalize": "zscore"}, "heads": BONE["heads"]})
    assert z.input.normalize == NormalizeSpec("zscore")


def test_direct_construction_computes_starts_and_validates():
    card = ModelCard("m", InputSpec(), (HeadSpec("a", "sigmoid", ["a"]),
                                        HeadSpec("b", "softmax", ("bg", "x"))))
    assert card.heads[1].start == 1 and card.heads[0].channels == ("a",)
    with pytest.raises(CardError, match="argmax over one channel always gives 0"):
        ModelCard("m", InputSpec(), (HeadSpec("b", "softmax", ("x",)),))


def test_head_lookup_suggests():
    card = ModelCard.from_dict(BONE)
    with pytest.raises(CardError, match="'parts'"):
        card.head("prts")


def _with(path, value):
    """BONE with the value at a dotted path replaced (value None deletes it)."""
    d = copy.deepcopy(BONE)
    *parents, last = path
    node = d
    for p in parents:
        node = node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return d


_DELETE = object()

ERRORS = [
    (("nmae",), "x", ["nmae", "'name'"]),
    (("input", "chanels"), 1, ["input.chanels", "'channels'"]),
    (("heads", 1, "withn"), "whole", ["heads[1].withn", "'within'"]),
    (("input", "normalize", "widht"), 3, ["input.normalize.widht", "'width'"]),
    (("heads",), _DELETE, ["heads is missing"]),
    (("heads",), [], ["heads is empty"]),
    (("heads",), {"a": 1}, ["heads must be a list"]),
    (("heads", 0), "whole", ["heads[0] must be a mapping"]),
    (("heads", 1, "channels"), "background", ["heads[1].channels must be a list"]),
    (("heads", 1, "channels"), [], ["heads[1].channels is empty"]),
    (("heads", 1, "channels"), ["background", 3], ["heads[1].channels[1]"]),
    (("heads", 1, "channels"), ["background", "whole_bone"], ["heads[1].channels repeats",
                                                              "'whole_bone'", "heads[0]"]),
    (("heads", 1, "channels"), ["part_1", "part_1"], ["heads[1].channels repeats"]),
    (("heads", 1, "kind"), "sofmax", ["heads[1].kind", "'softmax'"]),
    (("heads", 1, "kind"), 3, ["heads[1].kind"]),
    (("heads", 1, "name"), "whole", ["heads[1].name", "heads[0]"]),
    (("heads", 1, "name"), "", ["heads[1].name"]),
    (("heads", 1, "channels"), ["part_1"], ["heads[1].kind", "argmax over one channel always "
                                            "gives 0", "kind: sigmoid", "logit > 0"]),
    (("heads", 1, "within"), "hole", ["heads[1].within", "'whole'"]),
    (("heads", 1, "within"), "parts", ["heads[1].within", "itself"]),
    (("heads", 0, "within"), "parts", ["heads[0].within", "one-channel sigmoid"]),
    (("heads", 0, "name"), _DELETE, ["heads[0].name is missing"]),
    (("name",), 5, ["name must be"]),
    (("input",), [1], ["input must be a mapping"]),
    (("input", "channels"), 0, ["input.channels", ">= 1"]),
    (("input", "channels"), "1", ["input.channels"]),
    (("input", "channels"), True, ["input.channels"]),
    (("input", "spatial_dims"), 4, ["input.spatial_dims", "2", "3"]),
    (("input", "spatial_dims"), 2.0, ["input.spatial_dims"]),
    (("input", "tile"), [256], ["input.tile", "spatial_dims"]),
    (("input", "tile"), [256, 0], ["input.tile[1]"]),
    (("input", "tile"), [256, 25.5], ["input.tile[1]"]),
    (("input", "overlap"), 1.0, ["input.overlap"]),
    (("input", "overlap"), "a", ["input.overlap"]),
    (("input", "output_key"), 3, ["input.output_key"]),
    (("input", "output_index"), -1, ["input.output_index"]),
    (("input", "normalize", "width"), 0, ["input.normalize.width", "> 0"]),
    (("input", "normalize", "width"), float("nan"), ["input.normalize.width", "finite"]),
    (("input", "normalize", "center"), _DELETE, ["input.normalize", "center and width"]),
    (("input", "normalize", "kind"), "windw", ["input.normalize.kind", "'window'"]),
    (("input", "normalize", "kind"), _DELETE, ["input.normalize.kind is missing"]),
    (("input", "normalize"), {"kind": "zscore", "low": 1}, ["input.normalize.low", "zscore"]),
    (("input", "normalize"), {"kind": "percentile", "low": 50, "high": 10},
     ["input.normalize", "low < high"]),
    (("input", "normalize"), {"kind": "percentile", "high": 101}, ["input.normalize", "100"]),
    (("input", "normalize"), {"kind": "mean_std", "mean": [0.5], "std": [0]},
     ["input.normalize.std", "> 0"]),
    (("input", "normalize"), {"kind": "mean_std", "mean": [0.5]}, ["input.normalize",
                                                                   "mean and std"]),
    (("input", "normalize"), {"kind": "mean_std", "mean": [0.5, 0.5], "std": [1, 1]},
     ["input.normalize.mean", "input.channels"]),
    (("input", "normalize"), {"kind": "mean_std", "mean": [0.5], "std": [1, 1]},
     ["input.normalize.mean", "input.normalize.std"]),
    (("input", "normalize"), {"kind": "mean_std", "mean": [0.5], "std": [1], "scale": 0},
     ["input.normalize.scale"]),
    (("input", "normalize"), 3, ["input.normalize must be a mapping"]),
]


@pytest.mark.parametrize(("path", "value", "expected"), ERRORS,
                         ids=[".".join(map(str, e[0])) + f"={e[1]!r}"[:20] for e in ERRORS])
def test_validation_errors(path, value, expected):
    with pytest.raises(CardError) as info:
        ModelCard.from_dict(_with(path, value))
    msg = str(info.value)
    for part in expected:
        assert part in msg, (part, msg)
    assert isinstance(info.value, FormatError) and isinstance(info.value, ValueError)
    plain = msg.replace("e.g. ", "").replace("i.e. ", "")
    assert msg.endswith((".", "?")) and plain.count(". ") == 0, msg   # one sentence


def test_within_cycle_and_parent_kind():
    heads = [{"name": "a", "kind": "sigmoid", "channels": ["a"], "within": "b"},
             {"name": "b", "kind": "sigmoid", "channels": ["b"], "within": "a"}]
    with pytest.raises(CardError, match=r"heads\[0\].within makes a cycle"):
        ModelCard.from_dict({"heads": heads})
    heads = [{"name": "a", "kind": "sigmoid", "channels": ["a", "b"]},
             {"name": "c", "kind": "softmax", "channels": ["bg", "c"], "within": "a"}]
    with pytest.raises(CardError, match=r"heads\[1\].within.*2 channels"):
        ModelCard.from_dict({"heads": heads})
    chain = [{"name": "a", "kind": "sigmoid", "channels": ["a"]},
             {"name": "b", "kind": "sigmoid", "channels": ["b"], "within": "a"},
             {"name": "c", "kind": "softmax", "channels": ["bg", "c"], "within": "b"}]
    assert ModelCard.from_dict({"heads": chain}).n_outputs == 4


def test_yaml_files(tmp_path):
    good = tmp_path / "m.card.yaml"
    good.write_text(yaml.safe_dump(BONE))
    assert ModelCard.from_yaml(good) == ModelCard.from_dict(BONE)
    with pytest.raises(CardError, match="cannot read"):
        load_card(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nheads:\n  - name: a\n   kind: sigmoid\n")
    with pytest.raises(CardError, match="not valid YAML at line"):
        load_card(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(CardError, match="mapping"):
        load_card(scalar)
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({**BONE, "hedas": []}))
    with pytest.raises(CardError, match=r"typo.yaml: hedas .*'heads'"):
        load_card(typo)


def test_find_card(tmp_path):
    model = tmp_path / "net.pt"
    model.write_bytes(b"")
    assert find_card(model) is None
    (tmp_path / "card.yaml").write_text("")
    assert find_card(model) == tmp_path / "card.yaml"
    (tmp_path / "net.yaml").write_text("")
    assert find_card(model) == tmp_path / "net.yaml"
    (tmp_path / "net.card.yaml").write_text("")
    assert find_card(model) == tmp_path / "net.card.yaml"


# --- normalize -------------------------------------------------------------------------------


def test_window():
    spec = NormalizeSpec("window", center=400, width=1800)
    x = np.array([-1024, -500, 400, 850, 1300, 3000], np.int16)
    out = normalize(x, spec)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0, 0, 0.5, 0.75, 1, 1], atol=1e-6)


def test_mean_std_rgb_channel_last_and_axis():
    spec = NormalizeSpec("mean_std", scale=255, mean=(0.485, 0.456, 0.406),
                         std=(0.229, 0.224, 0.225))
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    expected = (rgb / 255.0 - np.array(spec.mean)) / np.array(spec.std)
    out = normalize(rgb, spec)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    chw = np.moveaxis(rgb, -1, 0)
    np.testing.assert_allclose(normalize(chw, spec, channel_axis=0),
                               np.moveaxis(expected, -1, 0), rtol=1e-5, atol=1e-5)
    with pytest.raises(CardError, match=r"input.normalize.mean has 3 values"):
        normalize(chw, spec)
    one = NormalizeSpec("mean_std", mean=(10.0,), std=(2.0,))
    np.testing.assert_allclose(normalize(np.array([10, 14]), one), [0, 2])


def test_zscore():
    x = np.random.default_rng(1).normal(100, 20, (3, 50, 40)).astype(np.float32)
    out = normalize(x, NormalizeSpec("zscore"))
    assert out.dtype == np.float32
    assert abs(float(out.mean())) < 1e-4 and abs(float(out.std()) - 1) < 1e-4
    np.testing.assert_array_equal(normalize(np.full((4, 4), 7), NormalizeSpec("zscore")), 0)


def test_percentile():
    x = np.arange(1001, dtype=np.float64)
    out = normalize(x, NormalizeSpec("percentile", low=10, high=90))
    assert out.dtype == np.float32
    assert out[100] == 0 and out[0] == 0 and out[900] == 1 and out[1000] == 1
    np.testing.assert_allclose(out[500], 0.5, atol=1e-6)
    assert normalize(np.array([5, 5]), NormalizeSpec("percentile")).tolist() == [0, 0]


def test_percentile_large_uses_subsample(monkeypatch):
    import napari_segreview.card.intensity as card_mod

    monkeypatch.setattr(card_mod, "PERCENTILE_SAMPLE", 1000)
    x = np.arange(100_000, dtype=np.float32)
    out = normalize(x, NormalizeSpec("percentile", low=0, high=100))
    assert out.min() == 0 and out.max() == 1 and 0.49 < out[50_000] < 0.51


def test_none_and_input_untouched():
    x = np.array([[1, 2]], np.uint16)
    out = normalize(x, NormalizeSpec("none"))
    assert out.dtype == np.float32 and out.tolist() == [[1, 2]]
    f = np.array([1000.0, 2000.0], np.float32)
    for spec in (NormalizeSpec("window", 0, 10), NormalizeSpec("zscore"),
                 NormalizeSpec("percentile"), NormalizeSpec("mean_std", mean=(1,), std=(2,))):
        normalize(f, spec)
        assert f.tolist() == [1000.0, 2000.0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-5000, 5000, allow_nan=False), min_size=1, max_size=50),
    st.floats(-1000, 1000),
    st.floats(1, 4000),
)
def test_window_properties(values, center, width):
    x = np.sort(np.array(values, np.float32))
    out = normalize(x, NormalizeSpec("window", center=center, width=width))
    assert out.dtype == np.float32
    assert (out >= 0).all() and (out <= 1).all()
    assert (np.diff(out) >= 0).all()          # monotonic


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-3000, 3000), min_size=2, max_size=60),
       st.sampled_from([(0.5, 99.5), (0, 100), (5, 60)]))
def test_percentile_properties(values, bounds):
    x = np.sort(np.array(values, np.int16))
    out = normalize(x, NormalizeSpec("percentile", low=bounds[0], high=bounds[1]))
    assert (out >= 0).all() and (out <= 1).all() and (np.diff(out) >= 0).all()


def test_head_codes_round_trip_and_name_a_channel():
    d = {"heads": [{"name": "bone", "kind": "sigmoid", "channels": ["whole"],
                    "codes": {"whole": {"category": "SCT:85756007:Tissue", "type": "Bone"}}}]}
    card = ModelCard.from_dict(d)
    assert card.heads[0].codes == {"whole": {"category": "SCT:85756007:Tissue", "type": "Bone"}}
    assert ModelCard.from_dict(card.to_dict()).heads[0].codes == card.heads[0].codes
    hash(card.heads[0])  # still hashable with a codes mapping
    bad = {"heads": [{"name": "bone", "kind": "sigmoid", "channels": ["whole"],
                      "codes": {"hole": {"type": "Bone"}}}]}
    with pytest.raises(CardError, match=r"heads\[0\]\.codes names 'hole'.*'whole'"):
        ModelCard.from_dict(bad)
    odd = {"heads": [{"name": "bone", "kind": "sigmoid", "channels": ["whole"],
                      "codes": {"whole": {"colour": "red"}}}]}
    with pytest.raises(CardError, match="colour"):
        ModelCard.from_dict(odd)
