"""`segreview export --format dicom-seg`, and SEG files as mask inputs of other commands."""

import subprocess
import sys

import numpy as np
import pydicom
import pytest
import yaml

from napari_segreview.cli import main
from napari_segreview.io.arrayfiles import ArrayMeta, read_array, write_array
from seg_samples import highdicom_seg, random_masks, write_source_series

pytest.importorskip("highdicom")


@pytest.fixture
def files(tmp_path):
    series = write_source_series(tmp_path / "ct")
    card = {"name": "bone-net", "heads": [
        {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
        {"name": "parts", "kind": "softmax", "channels": ["background", "part_1", "part_2"]}]}
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(card))
    m = random_masks(2, series.shape, seed=3)
    parts = np.zeros(series.shape, np.uint8)
    parts[m[1] == 1] = 1
    parts[4, 1:4, 1:4] = 2
    write_array(tmp_path / "whole.tif", m[:1], ArrayMeta("multihot", ("whole",)))
    write_array(tmp_path / "parts.tif", parts,
                ArrayMeta("labels", ("background", "part_1", "part_2")))
    return tmp_path, series, m[0], parts


def test_export_dicom_seg_from_the_command_line(files, capsys):
    d, series, whole, parts = files
    rc = main(["export", str(series.folder), "--card", str(d / "card.yaml"),
               "--target", f"whole={d}/whole.tif", "--target", f"parts={d}/parts.tif",
               "-o", str(d / "seg"), "--format", "dicom-seg", "--corrected", "--case", "p7"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "wrote DICOM SEG" in out and "SEMIAUTOMATIC" in out
    ds = pydicom.dcmread(d / "seg" / "p7.seg.dcm")
    assert [s.SegmentLabel for s in ds.SegmentSequence] == ["whole", "part_1", "part_2"]
    assert {s.SegmentAlgorithmType for s in ds.SegmentSequence} == {"SEMIAUTOMATIC"}
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == series.series_uid
    data, meta = read_array(d / "seg" / "p7.seg.dcm")
    assert meta.kind == "multihot" and meta.channel_names == ("whole", "part_1", "part_2")
    np.testing.assert_array_equal(data, np.stack([whole, parts == 1, parts == 2]))


def test_a_tiff_image_cannot_be_exported_as_seg(files, tmp_path):
    d, series, _, _ = files
    write_array(d / "scan.tif", np.zeros(series.shape, np.int16), ArrayMeta())
    proc = subprocess.run([sys.executable, "-m", "napari_segreview.cli", "export",
                           str(d / "scan.tif"), "--card", str(d / "card.yaml"),
                           "--target", f"whole={d}/whole.tif", "-o", str(d / "seg"),
                           "--format", "dicom-seg"], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "did not come from a DICOM series" in lines[0]
    assert "Traceback" not in proc.stderr and not (d / "seg").exists()


def test_commands_that_read_masks_take_a_seg(files, capsys):
    d, series, whole, parts = files
    masks = np.stack([whole, (parts > 0).astype(np.uint8)])
    highdicom_seg(series, masks, ["whole", "part_1"], path=d / "ext.dcm")
    outside = int(((parts > 0) & (whole == 0)).sum())          # computed here, not by us
    assert outside > 0
    assert main(["check", str(d / "ext.dcm"), "--parent", "whole", "--children",
                 "part_1"]) == 1
    out = capsys.readouterr().out
    assert "ext.dcm (stack: whole, part_1)" in out
    assert f"{outside} voxels of 'part_1' lie outside its parent 'whole'" in out
    rc = main(["export", str(series.folder), "--sigmoid", str(d / "ext.dcm"), "-o",
               str(d / "ex"), "--format", "npz"])
    assert rc == 0
    back, meta = read_array(d / "ex" / "ct" / "channels.npz")
    np.testing.assert_array_equal(back, masks)
    assert meta.channel_names == ("whole", "part_1")
    assert main(["qa", str(d / "ext.dcm"), str(d / "ext.dcm")]) == 0
    assert main(["convert", str(d / "ext.dcm"), "-o", str(d / "labels.tif"), "--to", "labels",
                 "--priority", "later"]) == 0
    labels, meta = read_array(d / "labels.tif")
    expected = np.where(masks[1] == 1, 2, np.where(masks[0] == 1, 1, 0))   # later wins
    np.testing.assert_array_equal(labels, expected)
    assert meta.channel_names == ("background", "whole", "part_1")


def test_a_fractional_seg_is_said_on_stderr(files):
    d, series, whole, parts = files
    probs = np.stack([whole * 0.8, (parts > 0) * 0.3]).astype(np.float32)
    highdicom_seg(series, probs, ["whole", "part_1"], seg_type="FRACTIONAL", path=d / "f.dcm")
    proc = subprocess.run([sys.executable, "-m", "napari_segreview.cli", "convert",
                           str(d / "f.dcm"), "-o", str(d / "f.tif"), "--to", "labels"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "f.dcm is a FRACTIONAL SEG" in proc.stderr and "thresholded at 0.5" in proc.stderr
    labels, _ = read_array(d / "f.tif")
    np.testing.assert_array_equal(labels, np.where(whole == 1, 1, 0))   # 0.3 < 0.5: no part_1


def test_a_seg_of_another_frame_of_reference_is_refused(files, tmp_path, capsys):
    d, series, whole, _ = files
    other = write_source_series(tmp_path / "elsewhere" / "ct2", seed=9)   # another space
    assert other.frame_uid != series.frame_uid and other.shape == series.shape
    highdicom_seg(other, np.stack([whole]), ["whole"], path=tmp_path / "elsewhere" / "o.dcm")
    rc = main(["export", str(series.folder), "--sigmoid", str(tmp_path / "elsewhere" / "o.dcm"),
               "-o", str(d / "refused"), "--format", "dicom-seg"])
    assert rc == 2 and not (d / "refused").exists()
    err = capsys.readouterr().err.strip()
    assert "another frame of reference" in err and err.count("\n") == 0
