"""How mask files are read for a review (napari_segreview.review.files)."""

from pathlib import Path

import numpy as np
import pytest

from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import ArrayMeta, write_array
from napari_segreview.review.files import (
    MaskFile,
    mask_paths,
    read_masks,
    review_channels,
)

CARD = ModelCard.from_dict({"heads": [
    {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
    {"name": "parts", "kind": "softmax", "within": "whole",
     "channels": ["background", "p1", "p2"]}]})

LAB = np.array([[[0, 1, 2], [2, 0, 255]]], np.uint8)    # (1, 2, 3): classes 1, 2 and ignore
BIN = np.array([[[0, 1, 1], [1, 0, 0]]], np.uint8)


def layouts(files):
    return [(f.path.name, f.layout, f.names) for f in files]


def test_plain_files_of_one_shape_are_masks_or_label_maps(tmp_path):
    np.save(tmp_path / "bone.npy", BIN)
    np.save(tmp_path / "parts.npy", LAB)
    files = read_masks([tmp_path / "bone.npy", tmp_path / "parts.npy"])
    assert layouts(files) == [("bone.npy", "mask", ("bone",)),
                              ("parts.npy", "labels", ("parts_1", "parts_2"))]
    chans = review_channels(files)
    assert [(c.name, c.value, c.source) for c in chans] == [
        ("bone", None, "bone"), ("parts_1", 1, "parts.npy"), ("parts_2", 2, "parts.npy")]


def test_plain_file_beside_a_known_one_is_read_against_its_shape(tmp_path):
    write_array(tmp_path / "masks.tif", np.stack([BIN, BIN]), ArrayMeta("multihot", ("a", "b")))
    np.save(tmp_path / "extra.npy", np.stack([BIN, BIN, BIN]))   # a stack of 3 such masks
    np.save(tmp_path / "c.npy", BIN)                             # one mask
    files = read_masks([tmp_path / "masks.tif", tmp_path / "extra.npy", tmp_path / "c.npy"])
    assert [(f.layout, len(f.names)) for f in files] == [("stack", 2), ("stack", 3),
                                                         ("mask", 1)]


def test_single_plain_file_is_a_stack_unless_one_name_is_given(tmp_path):
    np.save(tmp_path / "m.npy", np.zeros((3, 4, 5), np.uint8))
    assert layouts(read_masks([tmp_path / "m.npy"])) == [("m.npy", "stack",
                                                           ("ch0", "ch1", "ch2"))]
    assert layouts(read_masks([tmp_path / "m.npy"], names=["bone"])) == [
        ("m.npy", "mask", ("bone",))]
    np.save(tmp_path / "one.npy", np.zeros((1, 3, 4, 5), np.uint8))
    assert layouts(read_masks([tmp_path / "one.npy"], names=["bone"])) == [
        ("one.npy", "stack", ("bone",))]


def test_card_heads_name_the_files(tmp_path):
    write_array(tmp_path / "parts.tif", LAB)
    np.save(tmp_path / "whole.npy", BIN)        # one mask, no channel axis
    write_array(tmp_path / "parts_probabilities.tif", LAB.astype(np.float32))
    write_array(tmp_path / ".parts.tmp-1234.tif", LAB)
    files = read_masks([tmp_path], card=CARD)
    assert layouts(files) == [("whole.npy", "mask", ("whole",)),
                              ("parts.tif", "labels", ("p1", "p2"))]
    assert all(f.head == n for f, n in zip(files, ("whole", "parts"), strict=True))
    np.save(tmp_path / "whole.npy", BIN[None])  # the same mask with a channel axis
    assert layouts(read_masks([tmp_path], card=CARD))[0] == ("whole.npy", "stack", ("whole",))
    np.save(tmp_path / "whole.npy", BIN[:, :1])
    with pytest.raises(FormatError, match="is one mask of shape"):
        read_masks([tmp_path], card=CARD)
    (tmp_path / "parts.tif").unlink()
    np.save(tmp_path / "whole.npy", np.zeros((3, 4, 5), np.uint8))   # alone: one 3-D mask
    assert [f.spatial for f in read_masks([tmp_path], card=CARD)] == [(3, 4, 5)]


def test_files_that_contradict_the_card_are_refused(tmp_path):
    write_array(tmp_path / "parts.tif", np.stack([BIN, BIN]), ArrayMeta("multihot", ("p1", "p2")))
    with pytest.raises(FormatError, match="head 'parts' is softmax"):
        read_masks([tmp_path / "parts.tif"], card=CARD)
    write_array(tmp_path / "parts.tif", LAB, ArrayMeta("labels", ("bg", "x", "y")))
    with pytest.raises(FormatError, match="names its classes bg, x, y, but the card's head"):
        read_masks([tmp_path / "parts.tif"], card=CARD)
    write_array(tmp_path / "whole.tif", LAB, ArrayMeta("labels"))
    with pytest.raises(FormatError, match="head 'whole' is sigmoid"):
        read_masks([tmp_path / "whole.tif"], card=CARD)


def test_label_map_metadata_names_its_classes(tmp_path):
    write_array(tmp_path / "l.tif", LAB, ArrayMeta("labels", ("background", "x", "y")))
    assert layouts(read_masks([tmp_path / "l.tif"])) == [("l.tif", "labels", ("x", "y"))]
    assert layouts(read_masks([tmp_path / "l.tif"], names=["u", "v", "w"])) == [
        ("l.tif", "labels", ("u", "v", "w"))]


@pytest.mark.parametrize("setup, match", [
    (lambda d: write_array(d / "a.tif", LAB, ArrayMeta("atoms")), "is an atom map"),
    (lambda d: write_array(d / "a.tif", LAB.astype(np.float16)), "float16 values, not masks"),
    (lambda d: (np.save(d / "a.npy", BIN), np.save(d / "b.npy", BIN[:, :1])),
     "different shapes"),
    (lambda d: (np.save(d / "a.npy", BIN), np.save(d / "b.npy", np.stack([BIN, BIN])),
                np.save(d / "c.npy", np.zeros((4, 4), np.uint8))), "different shapes"),
    (lambda d: (write_array(d / "a.tif", np.stack([BIN]), ArrayMeta("multihot", ("x",))),
                write_array(d / "b.tif", np.stack([BIN]), ArrayMeta("multihot", ("x",)))),
     "two channels are called 'x'"),
    (lambda d: (d / "sub").mkdir(), "holds no mask files"),
])
def test_bad_inputs(tmp_path, setup, match):
    setup(tmp_path)
    inputs = [tmp_path / "sub"] if (tmp_path / "sub").exists() else [tmp_path]
    with pytest.raises(FormatError, match=match):
        read_masks(inputs)


def test_mask_paths_refuses_missing_and_same_names(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        mask_paths([tmp_path / "nope.tif"])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        np.save(tmp_path / d / "m.npy", BIN)
    with pytest.raises(FormatError, match=r"two inputs are called m\.npy"):
        mask_paths([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(FormatError, match="no file named after the card's heads"):
        mask_paths([tmp_path / "a"], card=CARD)


def test_fixed_puts_new_masks_back_by_layout():
    lab = MaskFile(Path("parts.tif"), LAB, "labels", ("p1", "p2"), ArrayMeta())
    new = np.zeros_like(LAB, dtype=np.int64)
    out = lab.fixed({"parts.tif": new})
    assert out.dtype == np.uint8 and not out.any()
    mask = MaskFile(Path("w.npy"), BIN, "mask", ("w",), ArrayMeta(), named=False)
    assert mask.fixed({"w": 1 - BIN}).tolist() == (1 - BIN).tolist()
    assert mask.fixed({}) is None and mask.out_meta() == ArrayMeta()
    named = MaskFile(Path("l.npy"), LAB, "labels", ("a", "b"), ArrayMeta())
    assert named.out_meta() == ArrayMeta("labels", ("background", "a", "b"))


def test_probability_files_given_by_name_are_refused(tmp_path):
    write_array(tmp_path / "parts_probabilities.tif", LAB, ArrayMeta(None, ("bg", "a", "b")))
    with pytest.raises(FormatError, match=r"holds probabilities .* not masks"):
        read_masks([tmp_path / "parts_probabilities.tif"])
