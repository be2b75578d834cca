"""Training targets per head: label maps for softmax, multi-hot stacks for sigmoid."""

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_segreview.card.spec import HeadSpec, load_card
from napari_segreview.data import demo_card_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.errors import FormatError, OverlapError
from napari_segreview.targets.build import (
    ExportCase,
    Target,
    build_targets,
    card_from_choices,
    check_class_masks,
    model_input_image,
    overlap_sentence,
    safe_name,
    sigmoid_target,
    softmax_from_masks,
    softmax_target,
)

PARTS = HeadSpec("parts", "softmax", ("background", "part_1", "part_2", "part_3"), "whole")


@pytest.fixture(scope="module")
def card():
    return load_card(demo_card_path())


@pytest.fixture(scope="module")
def phantom():
    return make_ct_phantom((3, 40, 40), seed=1)


def test_composite_targets_are_aligned_and_typed(card, phantom):
    ts = build_targets(card, {"whole": phantom.masks[0], "parts": phantom.parts},
                       phantom.image.shape)
    whole, parts = ts
    assert (whole.kind, whole.data.dtype, whole.data.shape) == ("sigmoid", np.uint8,
                                                                (1, 3, 40, 40))
    assert (parts.kind, parts.data.dtype, parts.data.shape) == ("softmax", np.uint8, (3, 40, 40))
    np.testing.assert_array_equal(whole.data[0], phantom.masks[0])
    # parts label map painted by hand from the phantom's part masks
    expected = np.zeros((3, 40, 40), np.uint8)
    for i in (1, 2, 3):
        expected[phantom.masks[i] == 1] = i
    np.testing.assert_array_equal(parts.data, expected)
    assert parts.ignore_value == 255 and whole.ignore_value is None


def test_ignore_mask_and_outside_parent(card):
    whole = np.array([[[0, 1, 1, 1, 1, 0]]], np.uint8)
    parts = np.array([[0, 1, 2, 3, 0, 0]], np.uint8)
    unsure = np.array([[0, 0, 0, 1, 0, 0]], bool)
    (_, plain) = build_targets(card, {"whole": whole, "parts": parts}, (1, 6), ignore=unsure)
    assert plain.data.tolist() == [[0, 1, 2, 255, 0, 0]]
    (_, outside) = build_targets(card, {"whole": whole, "parts": parts}, (1, 6), ignore=unsure,
                                 ignore_outside_parent=True)
    assert outside.data.tolist() == [[255, 1, 2, 255, 0, 255]]


def test_outside_parent_needs_the_parent(card):
    with pytest.raises(FormatError, match="needs its parent head 'whole'"):
        build_targets(card, {"parts": np.zeros((2, 2), np.uint8)}, (2, 2),
                      ignore_outside_parent=True)


def test_shape_mismatch_is_one_sentence(card):
    with pytest.raises(FormatError, match=r"does not match the image's spatial shape") as e:
        build_targets(card, {"parts": np.zeros((3, 8, 9), np.uint8)}, (3, 8, 8))
    assert "nothing was written" in str(e.value)
    with pytest.raises(FormatError, match="does not fit the image"):
        build_targets(card, {"whole": np.zeros((1, 3, 8, 9), np.uint8)}, (3, 8, 8))


def test_onehot_for_a_softmax_head_is_refused(card):
    onehot = np.zeros((4, 2, 5, 5), np.uint8)
    onehot[0] = 1
    with pytest.raises(FormatError, match="CrossEntropyLoss takes the integer label map"):
        build_targets(card, {"parts": onehot}, (2, 5, 5))


def test_bad_label_values_and_non_binary_masks(card):
    with pytest.raises(FormatError, match=r"outside 0..3 or 255 \(such as 7\)"):
        softmax_target(PARTS, np.array([[0, 7]]))
    with pytest.raises(FormatError, match="paint it with label 1 only"):
        sigmoid_target(card.head("whole"), np.array([[0, 2]]))
    with pytest.raises(FormatError, match="not float32 data"):
        softmax_target(PARTS, np.zeros((2, 2), np.float32))
    with pytest.raises(FormatError, match="no head 'nope'"):
        build_targets(card, {"nope": np.zeros((2, 2))}, (2, 2))


def test_overlapping_masks_into_a_label_map_need_a_rule():
    a = np.array([1, 1, 0, 0])
    b = np.array([0, 1, 1, 0])
    c = np.array([0, 0, 0, 1])
    with pytest.raises(OverlapError, match="1 voxels belong to more than one channel"):
        softmax_from_masks(PARTS, [a, b, c])
    assert softmax_from_masks(PARTS, [a, b, c], priority="later").tolist() == [1, 2, 2, 3]
    # voxel 1 is part_1 (1) and part_2 (2): the first listed wins it
    assert softmax_from_masks(PARTS, [a, b, c],
                              priority=["part_2", "part_1", "part_3"]).tolist() == [1, 2, 2, 3]
    assert softmax_from_masks(PARTS, [a, b, c],
                              priority=["part_1", "part_2", "part_3"]).tolist() == [1, 1, 2, 3]
    # in painting order, the last painted wins it
    assert softmax_from_masks(PARTS, [a, b, c], painting_order=["part_2", "part_1", "part_3"]
                              ).tolist() == [1, 1, 2, 3]
    assert softmax_from_masks(PARTS, [a, b, c], overlap="ignore").tolist() == [1, 255, 2, 3]


def test_sigmoid_keeps_overlaps_never_onehot():
    head = HeadSpec("all", "sigmoid", ("whole", "part"))
    t = sigmoid_target(head, [np.array([1, 1, 0], bool), np.array([0, 1, 0], bool)])
    assert t.data.tolist() == [[1, 1, 0], [0, 1, 0]]
    assert t.data[:, 1].sum() == 2  # two ones in one voxel: multi-hot


@pytest.mark.parametrize("bad", ["../x", "..", "/etc/passwd", "a/../../b", "  ", "...", "._"])
def test_unsafe_names_are_refused(bad):
    with pytest.raises(FormatError):
        safe_name(bad, "case name")


@pytest.mark.parametrize(("raw", "safe"), [("CT phantom", "CT_phantom"), ("a/b", "a_b"),
                                           ("x:y*z?", "x_y_z"), ("case-01.v2", "case-01.v2")])
def test_names_are_sanitised(raw, safe):
    assert safe_name(raw) == safe


def test_clashing_and_reserved_head_names(phantom):
    card = card_from_choices(["whole"], sigmoid_head="image")
    t = Target("image", "sigmoid", ("whole",), phantom.masks[:1])
    with pytest.raises(FormatError, match="may not be called 'image'"):
        ExportCase("c", phantom.image, [t], card)
    t1 = Target("a b", "sigmoid", ("x",), phantom.masks[:1])
    t2 = Target("a_b", "sigmoid", ("y",), phantom.masks[1:2])
    with pytest.raises(FormatError, match="clashing file names"):
        ExportCase("c", phantom.image, [t1, t2], card)


def test_case_checks_grid_and_spacing(card, phantom):
    t = Target("parts", "softmax", PARTS.channels, np.zeros((3, 40, 41), np.uint8))
    with pytest.raises(FormatError, match="voxel grid"):
        ExportCase("c", phantom.image, [t], card)
    t = Target("parts", "softmax", PARTS.channels, phantom.parts)
    with pytest.raises(FormatError, match="spacing"):
        ExportCase("c", phantom.image, [t], card, spacing=(1.0, 1.0))


def test_normalised_image_is_what_the_model_saw(card):
    img = np.array([[-500, 400, 1300, 2000]], np.int16)
    out = model_input_image(img, card, "normalized")
    # window center 400 width 1800: [-500, 1300] -> [0, 1], by hand
    np.testing.assert_allclose(out, [[0.0, 0.5, 1.0, 1.0]])
    assert out.dtype == np.float32
    assert model_input_image(img, card, "raw") is img


def test_card_from_choices_has_the_heads_asked_for():
    c = card_from_choices(["whole"], ["part_1", "part_2"], within="channels")
    assert [h.kind for h in c.heads] == ["sigmoid", "softmax"]
    assert c.head("classes").channels == ("background", "part_1", "part_2")
    with pytest.raises(FormatError, match="at least one"):
        card_from_choices()


# ------------------------------------------------------------------ background masks (one-hot)
BG_SENTENCE = "a CrossEntropyLoss label map's background is 0, the voxels no mask covers"


@pytest.mark.parametrize("name", ["background", "Background", " BG "])
def test_a_mask_named_background_is_refused(name):
    with pytest.raises(FormatError, match="is the background") as info:
        check_class_masks([name, "bone"])
    assert BG_SENTENCE in str(info.value) and "segreview convert --to labels" in str(info.value)


def test_a_one_hot_stack_with_background_is_refused_for_softmax():
    labels = np.array([[0, 1, 2], [2, 1, 0]])
    onehot = [labels == k for k in range(3)]           # [background, a, b]: one-hot
    head = HeadSpec("classes", "softmax", ("background", "rest", "a", "b"))
    with pytest.raises(FormatError, match="cover every voxel exactly once") as info:
        softmax_from_masks(head, onehot)
    assert BG_SENTENCE in str(info.value) and "'classes'" in str(info.value)
    # without the background mask it is the label map, by hand
    head = HeadSpec("classes", "softmax", ("background", "a", "b"))
    np.testing.assert_array_equal(softmax_from_masks(head, onehot[1:]), labels)


def test_masks_that_cover_everything_with_overlaps_are_not_one_hot():
    a = np.array([1, 1, 0, 1])
    b = np.array([0, 1, 1, 0])                          # voxel 1 in both: not one-hot
    head = HeadSpec("classes", "softmax", ("background", "a", "b"))
    assert softmax_from_masks(head, [a, b], priority="later").tolist() == [1, 2, 2, 1]
    check_class_masks(["a"], [np.ones(4)])              # one mask: no background to leave out
    check_class_masks(["a", "b"], np.zeros((2, 0)))     # nothing to look at


@settings(max_examples=40, deadline=None)
@given(labels=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                         elements=st.integers(0, 3)))
def test_one_hot_with_background_is_refused_and_without_it_round_trips(labels):
    k = 4
    head = HeadSpec("classes", "softmax", ("background", "c1", "c2", "c3"))
    class_masks = [(labels == c).astype(np.uint8) for c in range(1, k)]
    if (labels == 0).any():                             # some voxel no mask covers: fine
        np.testing.assert_array_equal(softmax_from_masks(head, class_masks), labels)
    else:                                               # the class masks alone are one-hot
        with pytest.raises(FormatError, match="exactly once"):
            softmax_from_masks(head, class_masks)
    with_bg = [(labels == 0).astype(np.uint8), *class_masks]   # always one-hot
    with pytest.raises(FormatError, match=BG_SENTENCE):
        check_class_masks(["rest", "c1", "c2", "c3"], with_bg)


def test_overlap_sentence_names_the_ui_choices():
    head = HeadSpec("classes", "softmax", ("background", "a", "b"))
    with pytest.raises(OverlapError) as info:
        softmax_from_masks(head, [np.array([1, 1, 0]), np.array([0, 1, 0])])
    text = overlap_sentence(info.value, "choose 'Later layers win'.")
    assert text == ("1 voxels belong to more than one channel (a & b (1)), first at (1,), and "
                    "a label map holds one value per voxel: choose 'Later layers win'.")
    assert overlap_sentence(ValueError("other."), "do x.") == "other. do x."
