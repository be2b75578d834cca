"""nnU-Net v2 raw datasets: regions from atoms, round trips, appending, nnU-Net's own check."""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from napari_segreview.card.spec import load_card
from napari_segreview.data import demo_card_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.errors import FormatError
from napari_segreview.io.nifti import read_nifti_array as read_nifti
from napari_segreview.labels.formats import labels_to_multihot
from napari_segreview.targets.build import ExportCase, build_targets, card_from_choices
from napari_segreview.targets.export import export_case, read_export, read_statistics

pytest.importorskip("nibabel", reason="the nnU-Net format writes NIfTI through nibabel")

CARD = load_card(demo_card_path())
HAVE_NNUNET = importlib.util.find_spec("nnunetv2") is not None


def phantom_case(seed=0, shape=(3, 32, 32), ignore=None):
    ph = make_ct_phantom(shape, seed=seed)
    ts = build_targets(CARD, {"whole": ph.masks[0], "parts": ph.parts}, ph.image.shape,
                       ignore=ignore)
    return ExportCase(f"case {seed}", ph.image, ts, CARD, spacing=ph.spacing), ph


def decode_with_dataset_json(folder: Path, case: str, names):
    """Decode labelsTr/<case> into the multi-hot stack using only dataset.json's regions."""
    ds = json.loads((folder / "dataset.json").read_text())
    labels, _ = read_nifti(folder / "labelsTr" / f"{case}.nii.gz", 3)
    regions = {n: np.atleast_1d(ds["labels"][n]).tolist() for n in names}
    return labels_to_multihot(labels, regions), ds


def test_dataset_json_and_region_round_trip(tmp_path):
    case, ph = phantom_case(1)
    export_case(tmp_path / "ds", case, fmt="nnunet")
    stack, ds = decode_with_dataset_json(tmp_path / "ds", "case_1", ph.names)
    np.testing.assert_array_equal(stack, ph.masks)   # overlapping whole + parts, exactly
    assert ds["channel_names"] == {"0": "CT"} and ds["file_ending"] == ".nii.gz"
    assert ds["numTraining"] == 1 and ds["labels"]["background"] == 0
    # whole is the largest region: listed (and painted) first, with its most specific atom
    assert list(ds["labels"])[1] == "whole"
    labels, _ = read_nifti(tmp_path / "ds" / "labelsTr" / "case_1.nii.gz", 3)
    painted = np.zeros_like(labels)
    for name, value in zip(list(ds["labels"])[1:], ds["regions_class_order"], strict=True):
        painted[ph.masks[ph.names.index(name)] == 1] = value   # how nnU-Net paints regions
    np.testing.assert_array_equal(painted, labels)   # nested regions: exact
    (back,) = read_export(tmp_path / "ds")
    np.testing.assert_array_equal(back.image, ph.image)
    assert back.image.dtype == np.int16
    np.testing.assert_array_equal(back.targets[0].data, case.targets[0].data)
    np.testing.assert_array_equal(back.targets[1].data, case.targets[1].data)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks=st.lists(arrays(np.uint8, (3, 2, 4, 5), elements=st.integers(0, 1)),
                       min_size=1, max_size=3))
def test_overlapping_channels_through_atoms_round_trip(stacks):
    names = ["a", "b", "c"]
    card = card_from_choices(names)
    image = np.zeros((2, 4, 5), np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ds"
        for i, s in enumerate(stacks):   # appending: the atom table grows, old files stay valid
            ts = build_targets(card, {"channels": s}, image.shape)
            export_case(folder, ExportCase(f"c{i}", image, ts, card), fmt="nnunet")
        for i, s in enumerate(stacks):
            stack, ds = decode_with_dataset_json(folder, f"c{i}", names)
            np.testing.assert_array_equal(stack, s)
        assert ds["numTraining"] == len(stacks)
        back = read_export(folder)
        for b, s in zip(back, stacks, strict=True):
            np.testing.assert_array_equal(b.targets[0].data, s)
        stats = read_statistics(folder)["heads"]["channels"]
        assert stats["positives"] == np.sum(stacks, axis=(0, 2, 3, 4)).tolist()


def test_softmax_only_dataset_uses_plain_labels_and_ignore(tmp_path):
    ph = make_ct_phantom((3, 24, 24))
    card = card_from_choices(softmax=["part_1", "part_2", "part_3"])
    unsure = np.zeros(ph.image.shape, bool)
    unsure[0, :4] = True
    ts = build_targets(card, {"classes": ph.parts}, ph.image.shape, ignore=unsure)
    export_case(tmp_path / "ds", ExportCase("p", ph.image, ts, card, spacing=ph.spacing),
                fmt="nnunet")
    ds = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert ds["labels"] == {"background": 0, "part_1": 1, "part_2": 2, "part_3": 3, "ignore": 4}
    assert "regions_class_order" not in ds
    labels, spacing = read_nifti(tmp_path / "ds" / "labelsTr" / "p.nii.gz", 3)
    expected = ph.parts.copy()
    expected[unsure] = 4
    np.testing.assert_array_equal(labels, expected)
    assert spacing == pytest.approx(ph.spacing)
    (back,) = read_export(tmp_path / "ds")
    np.testing.assert_array_equal(back.targets[0].data, ts[0].data)   # 255 restored


def test_ignore_in_regions_is_the_label_after_the_last_atom(tmp_path):
    unsure = np.zeros((3, 32, 32), bool)
    unsure[1, 10:12] = True
    case, _ = phantom_case(0, ignore=unsure)
    export_case(tmp_path / "ds", case, fmt="nnunet")
    ds = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    atoms = sorted({a for v in ds["labels"].values() if v != 0 for a in np.atleast_1d(v)}
                   - {ds["labels"]["ignore"]})
    assert ds["labels"]["ignore"] == max(atoms) + 1


def test_two_d_images_and_reserved_names(tmp_path):
    card = card_from_choices(["fg", "edge"])
    image = np.arange(30, dtype=np.uint16).reshape(5, 6)
    stack = np.zeros((2, 5, 6), np.uint8)
    stack[0, 1:4, 1:4] = 1
    stack[1, 1, 1:4] = 1
    ts = build_targets(card, {"channels": stack}, image.shape)
    export_case(tmp_path / "ds", ExportCase("img", image, ts, card, spacing=(0.5, 0.25)),
                fmt="nnunet")
    (back,) = read_export(tmp_path / "ds")
    np.testing.assert_array_equal(back.image, image)
    assert back.image.dtype == np.uint16
    np.testing.assert_array_equal(back.targets[0].data, stack)
    bad = card_from_choices(["background"])
    ts = build_targets(bad, {"channels": stack[:1]}, image.shape)
    with pytest.raises(FormatError, match="may not be called 'background'"):
        export_case(tmp_path / "ds2", ExportCase("img", image, ts, bad), fmt="nnunet")
    assert not (tmp_path / "ds2").exists()


def test_failure_midway_leaves_the_dataset_as_it_was(tmp_path, monkeypatch):
    from napari_segreview.targets import nnunet

    export_case(tmp_path / "ds", phantom_case(0)[0], fmt="nnunet")
    before = {str(p.relative_to(tmp_path)): p.read_bytes()
              for p in sorted((tmp_path / "ds").rglob("*")) if p.is_file()}
    calls = []
    real = nnunet.write_nifti

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*a, **k)

    monkeypatch.setattr(nnunet, "write_nifti", flaky)
    with pytest.raises(OSError, match="disk full"):
        export_case(tmp_path / "ds", phantom_case(1)[0], fmt="nnunet")
    after = {str(p.relative_to(tmp_path)): p.read_bytes()
             for p in sorted((tmp_path / "ds").rglob("*")) if p.is_file()}
    assert after == before
    assert not [p for p in (tmp_path / "ds").iterdir() if p.name.startswith(".")]


@pytest.mark.skipif(not HAVE_NNUNET, reason="nnunetv2 is not installed: nnU-Net's own dataset "
                    "check is skipped (scripts/test.sh installs it)")
def test_nnunet_accepts_the_dataset(tmp_path, monkeypatch):
    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(var, str(tmp_path / var))
    from nnunetv2.imageio.nibabel_reader_writer import NibabelIO
    from nnunetv2.utilities.label_handling.label_handling import LabelManager

    folder = tmp_path / "Dataset501_Bone"
    for seed in (0, 1):
        export_case(folder, phantom_case(seed, shape=(3, 24, 24))[0], fmt="nnunet")
    # nnU-Net's check starts a multiprocessing pool; forking this test process (which holds
    # Qt, OpenGL and Dask threads from earlier tests) can deadlock the child, so the check
    # runs in a fresh interpreter. It raises (exit status 1) on a bad dataset.
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from nnunetv2.experiment_planning."
         "verify_dataset_integrity import verify_dataset_integrity as v; "
         "v(sys.argv[1], num_processes=1)", str(folder)],
        capture_output=True, text=True, timeout=300, env={**os.environ})
    out = run.stdout
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Error" not in out and "verify_dataset_integrity Done" in out
    ds = json.loads((folder / "dataset.json").read_text())
    lm = LabelManager(ds["labels"], ds.get("regions_class_order"))
    assert lm.has_regions and len(lm.all_regions) == 4
    images, props = NibabelIO().read_images([str(folder / "imagesTr" / "case_0_0000.nii.gz")])
    ph = make_ct_phantom((3, 24, 24), seed=0)
    np.testing.assert_array_equal(images[0], ph.image)
    assert props["spacing"] == pytest.approx(list(ph.spacing))
