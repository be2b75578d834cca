"""The workflow on the command line: predict, correct, export, sessions, export again.

A CT stack is written as an ImageJ TIFF with its voxel spacing (tifffile, not
our writer), ``segreview predict`` runs the demo model on it (as a real
subprocess: the command a user types), the masks are corrected with numpy,
and ``segreview export`` turns them into training targets (npz and, when
nnunetv2 is installed, an nnU-Net v2 dataset). A review session holding the
corrections is listed and exported by ``segreview session``, and its files go
into ``segreview export`` again. Every expected value is computed in the test
with plain numpy; outputs are read with numpy, tifffile and nibabel.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_segreview.cli import main
from napari_segreview.data import demo_card_path, demo_model_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.io.arrayfiles import read_array
from napari_segreview.session.session import Session

SHAPE = (4, 64, 64)
SPACING = (2.5, 0.8, 0.8)
CARD = str(demo_card_path())
CLASSES = ["background", "part_1", "part_2", "part_3"]
HAVE_NNUNET = (importlib.util.find_spec("nnunetv2") is not None
               and importlib.util.find_spec("nibabel") is not None)


def write_ct(path, image):
    """An ImageJ hyperstack TIFF with z spacing and pixel size in mm."""
    tifffile.imwrite(path, image, imagej=True, resolution=(1 / SPACING[1], 1 / SPACING[2]),
                     metadata={"spacing": SPACING[0], "unit": "mm", "axes": "ZYX"})


def dice(a, b) -> float:
    return 2 * np.sum(a & b) / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    """The phantom on disk and what `segreview predict` wrote for it."""
    d = tmp_path_factory.mktemp("workflow_cli")
    ph = make_ct_phantom(SHAPE)
    write_ct(d / "ct.tif", ph.image)
    cmd = [sys.executable, "-m", "napari_segreview", "predict", str(d / "ct.tif"),
           "--model", str(demo_model_path()), "-o", str(d / "pred"), "--device", "cpu",
           "--probabilities", "float16"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return d, ph


def test_predict_writes_decisions_that_match_the_probabilities(predicted):
    d, ph = predicted
    assert sorted(p.name for p in (d / "pred").iterdir()) == [
        "parts.tif", "parts_probabilities.tif", "whole.tif", "whole_probabilities.tif"]
    whole = tifffile.imread(d / "pred" / "whole.tif")
    parts = tifffile.imread(d / "pred" / "parts.tif")
    p_whole = tifffile.imread(d / "pred" / "whole_probabilities.tif").astype(np.float32)
    p_parts = tifffile.imread(d / "pred" / "parts_probabilities.tif").astype(np.float32)
    assert whole.shape == p_whole.shape == (1, *SHAPE) and whole.dtype == np.uint8
    assert parts.shape == SHAPE and parts.dtype == np.uint8 and p_parts.shape == (4, *SHAPE)
    sure = np.abs(p_whole - 0.5) > 1e-2                     # float16 ties aside
    np.testing.assert_array_equal(whole[sure], (p_whole > 0.5)[sure])
    top2 = np.sort(p_parts, axis=0)[-2:]
    sure = top2[1] - top2[0] > 1e-2
    np.testing.assert_array_equal(parts[sure], p_parts.argmax(0)[sure])
    assert dice(whole[0] == 1, ph.masks[0] == 1) > 0.9      # trained on this phantom
    assert dice(parts > 0, ph.parts > 0) > 0.9
    for name, kind, names in (("whole", "multihot", ("whole",)), ("parts", "labels", CLASSES)):
        _, meta = read_array(d / "pred" / f"{name}.tif")
        assert (meta.kind, meta.channel_names) == (kind, tuple(names))
        assert meta.spacing == pytest.approx(SPACING)       # from the ImageJ TIFF


def corrected(d):
    """What a reviewer makes of the prediction: numpy edits, written as plain TIFFs."""
    whole = tifffile.imread(d / "pred" / "whole.tif")[0].copy()
    parts = tifffile.imread(d / "pred" / "parts.tif").copy()
    air = whole == 0
    parts[1:3, 2:6, 2:9][air[1:3, 2:6, 2:9]] = 2            # a part_2 block in the air...
    whole[1:3, 2:6, 2:9] = 1                                # ...and the bone grown over it
    inside = np.argwhere(parts == 1)
    z, y, x = inside[len(inside) // 2]
    parts[z, y, max(x - 2, 0):x + 3] = 3                    # part_1 -> part_3 in the bone
    parts[whole == 0] = 0                                   # parts inside the bone only
    tifffile.imwrite(d / "whole_fixed.tif", whole, photometric="minisblack")
    tifffile.imwrite(d / "parts_fixed.tif", parts, photometric="minisblack")
    return whole, parts


def expected_statistics(whole, parts):
    pos = int(whole.sum())
    counts = np.bincount(parts.ravel(), minlength=4)
    freq = counts / counts.sum()
    present = counts > 0
    weight = np.where(present, 1 / (present.sum() * np.where(present, freq, 1)), 0.0)
    return pos, (whole.size - pos) / pos, counts.tolist(), weight


def test_corrected_masks_export_as_training_targets(predicted, capsys):
    d, ph = predicted
    whole, parts = corrected(d)
    rc = main(["export", str(d / "ct.tif"), "--card", CARD, "--target",
               f"whole={d / 'whole_fixed.tif'}", "--target", f"parts={d / 'parts_fixed.tif'}",
               "-o", str(d / "ex"), "--format", "npz"])
    assert rc == 0, capsys.readouterr().err
    case = d / "ex" / "ct"
    assert sorted(p.name for p in case.iterdir()) == [
        "image.npz", "manifest.json", "parts.npz", "whole.npz"]
    np.testing.assert_array_equal(np.load(case / "image.npz")["data"], ph.image)
    got_whole = np.load(case / "whole.npz")["data"]
    assert got_whole.shape == (1, *SHAPE) and got_whole.dtype == np.uint8
    np.testing.assert_array_equal(got_whole[0], whole)
    got_parts = np.load(case / "parts.npz")["data"]
    assert got_parts.dtype == np.uint8
    np.testing.assert_array_equal(got_parts, parts)         # no channel axis: CE's target
    stats = json.loads((d / "ex" / "statistics.json").read_text())["heads"]
    pos, pos_weight, counts, weight = expected_statistics(whole, parts)
    assert stats["whole"]["positives"] == [pos]
    assert stats["whole"]["pos_weight"] == pytest.approx([pos_weight])   # negatives/positives
    assert stats["parts"]["counts"] == counts
    assert stats["parts"]["weight"] == pytest.approx(weight.tolist())
    manifest = json.loads((case / "manifest.json").read_text())
    assert json.dumps(manifest)                              # plain JSON


@pytest.mark.skipif(not HAVE_NNUNET, reason="nnunetv2 and nibabel are not installed")
def test_corrected_masks_export_as_an_nnunet_dataset(predicted, capsys):
    import nibabel as nib

    d, ph = predicted
    whole, parts = corrected(d)
    rc = main(["export", str(d / "ct.tif"), "--card", CARD, "--target",
               f"whole={d / 'whole_fixed.tif'}", "--target", f"parts={d / 'parts_fixed.tif'}",
               "-o", str(d / "Dataset501_Bone"), "--format", "nnunet"])
    assert rc == 0, capsys.readouterr().err
    ds = d / "Dataset501_Bone"
    meta = json.loads((ds / "dataset.json").read_text())
    assert meta["numTraining"] == 1 and meta["file_ending"] == ".nii.gz"
    image = nib.load(ds / "imagesTr" / "ct_0000.nii.gz")
    labels = nib.load(ds / "labelsTr" / "ct.nii.gz")
    # NIfTI stores (x, y, z); spacing in the header, in the same order
    assert labels.header.get_zooms() == pytest.approx(SPACING[::-1])
    np.testing.assert_array_equal(np.asarray(image.dataobj).transpose(2, 1, 0), ph.image)
    seg = np.asarray(labels.dataobj).transpose(2, 1, 0)
    # every channel is a region (a union of integer labels): decode them with numpy
    want = {"whole": whole == 1, **{c: parts == k for k, c in enumerate(CLASSES) if k}}
    assert set(meta["labels"]) == {"background", *want}
    for name, mask in want.items():
        region = np.atleast_1d(meta["labels"][name])
        np.testing.assert_array_equal(np.isin(seg, region), mask, err_msg=name)


def test_session_info_export_and_export_again(predicted, capsys):
    d, _ = predicted
    whole, parts = corrected(d)
    s = Session.create(d / "ct.segreview", image={"name": "ct", "path": str(d / "ct.tif"),
                                                  "shape": list(SHAPE)})
    s.add_layer("whole", whole, metadata={"kind": "decision", "head": "whole",
                                          "head_kind": "sigmoid", "channel": "whole"})
    s.add_layer("parts", parts, metadata={"kind": "decision", "head": "parts",
                                          "head_kind": "softmax", "channel": None,
                                          "classes": CLASSES})
    s.close()
    capsys.readouterr()
    assert main(["session", "info", str(d / "ct.segreview")]) == 0
    info = capsys.readouterr().out
    assert "closed cleanly" in info and "'whole'" in info and "'parts'" in info
    assert main(["session", "export", str(d / "ct.segreview"), "-o", str(d / "sout"),
                 "--format", "npz"]) == 0
    # a head's layers come out as predict writes them: whole as a (1, Z, Y, X) stack
    np.testing.assert_array_equal(np.load(d / "sout" / "whole.npz")["data"], whole[None])
    np.testing.assert_array_equal(np.load(d / "sout" / "parts.npz")["data"], parts)
    _, meta = read_array(d / "sout" / "parts.npz")
    assert meta.channel_names == tuple(CLASSES)
    _, meta = read_array(d / "sout" / "whole.npz")
    assert (meta.kind, meta.channel_names) == ("multihot", ("whole",))
    # the session's files are training-target inputs as they are
    rc = main(["export", str(d / "ct.tif"), "--card", CARD, "--target",
               f"whole={d / 'sout' / 'whole.npz'}", "--target",
               f"parts={d / 'sout' / 'parts.npz'}", "-o", str(d / "ex2"), "--format", "npz"])
    assert rc == 0, capsys.readouterr().err
    np.testing.assert_array_equal(np.load(d / "ex2" / "ct" / "whole.npz")["data"][0], whole)
    np.testing.assert_array_equal(np.load(d / "ex2" / "ct" / "parts.npz")["data"], parts)


def test_a_mask_of_the_wrong_shape_is_one_sentence_and_writes_nothing(predicted, capsys):
    d, _ = predicted
    np.save(d / "cropped.npy", np.zeros((SHAPE[0], 60, 64), np.uint8))
    capsys.readouterr()
    rc = main(["export", str(d / "ct.tif"), "--card", CARD, "--target",
               f"whole={d / 'pred' / 'whole.tif'}", "--target", f"parts={d / 'cropped.npy'}",
               "-o", str(d / "bad")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("segreview: error: ") and err.count("\n") == 1
    assert "(4, 60, 64)" in err and "(4, 64, 64)" in err
    assert not (d / "bad").exists()


@pytest.mark.parametrize("suffix", ["npy", "tif"])
def test_a_one_hot_stack_with_background_is_refused_for_cross_entropy(
        predicted, capsys, suffix):
    from napari_segreview.io.arrayfiles import ArrayMeta, write_array

    d, ph = predicted
    onehot = np.stack([ph.parts == k for k in range(4)]).astype(np.uint8)   # [bg, p1, p2, p3]
    path = d / f"onehot.{suffix}"
    if suffix == "npy":
        np.save(path, onehot)                               # no names: exported silently
    else:
        write_array(path, onehot, ArrayMeta("multihot", tuple(CLASSES)))
    capsys.readouterr()
    rc = main(["export", str(d / "ct.tif"), "--softmax", str(path), "-o",
               str(d / f"onehot-{suffix}"), "--dry-run"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "background" in err and "heads[0]" not in err
