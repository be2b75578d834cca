"""The layer pickers of the panels follow the layer list; the label-map decision is shared."""

import numpy as np
import pytest
from napari.layers import Image, Labels

from napari_segreview._napari._layers import channel_name, is_label_map, mask_channels
from napari_segreview._napari._pickers import LayerSync, layer_picker, layers_in_order

pytestmark = pytest.mark.gui


def names(picker):
    return [None if x is None else x.name for x in picker.choices]


@pytest.fixture
def viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 4)), name="ct")
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="a")
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="b",
                      metadata={"segreview": {"kind": "overlap"}})
    return viewer


def test_pickers_offer_their_layers_and_follow_the_list(viewer):
    one = layer_picker(viewer, Labels, exclude=("overlap",))
    many = layer_picker(viewer, Labels, multiple=True)
    none = layer_picker(viewer, Labels, none="(none)")
    sync = LayerSync(viewer, [one, many, none])
    assert names(one) == ["a"] and names(many) == ["a", "b"]
    assert none.native.itemText(0) == "(none)" and none.value is None
    assert [none.native.itemText(i) for i in range(none.native.count())] == ["(none)", "a", "b"]
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="c")
    assert names(one) == ["a", "c"] and names(many) == ["a", "b", "c"]
    many.value = [viewer.layers["c"]]
    one.value = viewer.layers["c"]
    viewer.layers.move(3, 1)                              # c before a: the lists follow
    assert [ly.name for ly in viewer.layers] == ["ct", "c", "a", "b"]
    assert names(one) == ["c", "a"] and names(many) == ["c", "a", "b"]
    assert [none.native.itemText(i) for i in range(none.native.count())] == [
        "(none)", "c", "a", "b"]
    assert one.value.name == "c" and [x.name for x in many.value] == ["c"]
    viewer.layers["c"].name = "renamed"                   # still chosen under its new name
    assert one.native.currentText() == "renamed"
    assert [i.text() for i in many.native.selectedItems()] == ["renamed"]
    viewer.layers.remove("renamed")
    assert names(one) == ["a"] and one.value.name == "a" and many.value == []
    assert sync.pickers == [one, many, none]


def test_changed_is_emitted_only_when_the_value_changes(viewer):
    one = layer_picker(viewer, Labels)
    sync = LayerSync(viewer, [one])     # napari holds it weakly: its owner keeps it
    seen = []
    one.changed.connect(lambda v: seen.append(None if v is None else v.name))
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="later")   # "a" stays chosen
    viewer.layers.move(3, 0)
    assert seen == [] and one.value.name == "a"
    viewer.layers.remove("a")                                      # the choice is gone
    assert seen == ["later"]
    one.native.setCurrentText("b")                                 # as scripts do
    assert seen == ["later", "b"] and one.value.name == "b"
    assert sync.pickers == [one]


def test_image_picker_and_layers_in_order(viewer):
    image = layer_picker(viewer, Image, exclude=("probability",))
    viewer.add_image(np.zeros((4, 4)), name="p", metadata={"segreview": {"kind": "probability"}})
    image.reset_choices()
    assert names(image) == ["ct"]
    chosen = [viewer.layers["b"], viewer.layers["a"], None]
    assert [x.name for x in layers_in_order(viewer, chosen)] == ["a", "b"]


@pytest.mark.parametrize("md,binary,expected,label_map", [
    ({"kind": "decision", "channel": None, "classes": ["background", "p1", "p2"]}, "parts",
     [("p1", 1), ("p2", 2)], True),
    ({"kind": "labels", "classes": ["background", "x"]}, "label map", [("x", 1)], True),
    ({"kind": "decision", "channel": "whole", "classes": ["background", "x"]}, "whole",
     [("whole", None)], False),
    ({"kind": "mask", "channel": "part_1"}, "part_1", [("part_1", None)], False),
    ({}, "plain", [("plain", None)], False),
    ({"classes": []}, "empty", [("empty", None)], False),
])
def test_label_map_or_binary_mask(md, binary, expected, label_map):
    assert is_label_map(md) is label_map
    assert mask_channels(md, binary) == expected


def test_channel_name_prefers_the_metadata():
    assert channel_name({"channel": "part_1"}, "part_1 (ground truth)") == "part_1"
    assert channel_name({"channel": None}, "mine") == "mine"
    assert channel_name({}, "mine") == "mine"
