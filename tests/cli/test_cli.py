"""Tests for ``segreview convert`` (napari_segreview.cli and core.convert).

Expected arrays are written out by hand from the small inputs below.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_segreview.cli import main
from napari_segreview.io.arrayfiles import ArrayMeta, read_array, write_array

SRC = Path(__file__).resolve().parents[2] / "src"

# A 2 x 3 label map: 0 background, 1 part_1, 2 part_2, 3 part_3.
LABELS = np.array([[0, 1, 2],
                   [3, 0, 1]], dtype=np.uint8)
REGIONS = {"whole": [1, 2, 3], "part_1": [1]}
# By hand: whole = label in {1, 2, 3}; part_1 = label == 1.
MULTIHOT = np.array([[[0, 1, 1], [1, 0, 1]],
                     [[0, 1, 0], [0, 0, 1]]], dtype=np.uint8)
# One-hot of LABELS with 4 classes, by hand.
ONEHOT = np.array([[[1, 0, 0], [0, 1, 0]],
                   [[0, 1, 0], [0, 0, 1]],
                   [[0, 0, 1], [0, 0, 0]],
                   [[0, 0, 0], [1, 0, 0]]], dtype=np.uint8)


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def listing(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def assert_user_error(capsys, folder, *argv, words=()):
    before = listing(folder)
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert out == ""
    assert err.startswith("segreview: error: "), err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err
    assert listing(folder) == before  # nothing written, nothing changed
    return err


@pytest.fixture
def files(tmp_path):
    write_array(tmp_path / "labels.npy", LABELS)
    write_array(tmp_path / "masks.tif", MULTIHOT, ArrayMeta("multihot", ("whole", "part_1")))
    write_array(tmp_path / "regions_only.npy", MULTIHOT)  # no metadata at all
    (tmp_path / "regions.json").write_text(json.dumps(REGIONS))
    return tmp_path


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".tif", ".tiff", ".npy", ".npz"])
def test_labels_to_onehot_and_back(files, capsys, suffix):
    oh = files / f"oh{suffix}"
    rc, out, err = run(capsys, "convert", files / "labels.npy", "-o", oh, "--to", "onehot",
                       "--names", "bg,p1,p2,p3")
    assert (rc, err) == (0, "")
    assert out.count("\n") == 1 and "4x2x3 uint8" in out and "bg, p1, p2, p3" in out
    data, meta = read_array(oh)
    assert data.dtype == np.uint8 and data.tobytes() == ONEHOT.tobytes()
    assert (meta.kind, meta.channel_names) == ("onehot", ("bg", "p1", "p2", "p3"))

    back = files / f"back{suffix}"
    rc, out, _ = run(capsys, "convert", oh, "-o", back, "--to", "labels")
    assert rc == 0 and "from a one-hot stack" in out
    data, meta = read_array(back)
    assert data.dtype == np.uint8 and data.tobytes() == LABELS.tobytes()
    assert (meta.kind, meta.channel_names) == ("labels", ("bg", "p1", "p2", "p3"))


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".npz"])
def test_labels_to_multihot_with_regions(files, capsys, suffix):
    out_path = files / f"mh{suffix}"
    rc, out, _ = run(capsys, "convert", files / "labels.npy", "-o", out_path, "--to",
                     "multihot", "--regions", files / "regions.json")
    assert rc == 0 and "channels whole, part_1" in out
    data, meta = read_array(out_path)
    assert data.tobytes() == MULTIHOT.tobytes() and data.shape == (2, 2, 3)
    assert (meta.kind, meta.channel_names) == ("multihot", ("whole", "part_1"))


def test_nnunet_dataset_json_works_as_region_table(files, capsys):
    (files / "dataset.json").write_text(json.dumps(
        {"labels": {"background": 0, "whole": [1, 2, 3], "part_1": 1},
         "regions_class_order": [1, 2]}))
    rc, _, _ = run(capsys, "convert", files / "labels.npy", "-o", files / "mh.npz", "--to",
                   "multihot", "--regions", files / "dataset.json")
    assert rc == 0
    data, meta = read_array(files / "mh.npz")
    assert data.tolist() == MULTIHOT.tolist() and meta.channel_names == ("whole", "part_1")


def test_labels_to_multihot_one_channel_per_label(files, capsys):
    rc, out, _ = run(capsys, "convert", files / "labels.npy", "-o", files / "m.npz",
                     "--to", "multihot")
    assert rc == 0 and "from a label map" in out
    data, meta = read_array(files / "m.npz")
    assert data.tolist() == ONEHOT[1:].tolist()
    assert meta.channel_names == ("label_1", "label_2", "label_3")


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # whole -> 1, part_1 -> 2; where both are set (0, 1) and (1, 2), the first
        # channel listed in --priority wins, the last in --painting-order
        (["--priority", "whole,part_1"], [[0, 1, 1], [1, 0, 1]]),
        (["--priority", "part_1,whole"], [[0, 2, 1], [1, 0, 2]]),
        (["--priority", "1,0"], [[0, 2, 1], [1, 0, 2]]),
        (["--priority", "later"], [[0, 2, 1], [1, 0, 2]]),
        (["--painting-order", "whole,part_1"], [[0, 2, 1], [1, 0, 2]]),
        (["--painting-order", "part_1,whole"], [[0, 1, 1], [1, 0, 1]]),
        (["--painting-order", "0,1"], [[0, 2, 1], [1, 0, 2]]),
        (["--overlap", "ignore"], [[0, 255, 1], [1, 0, 255]]),
        (["--overlap", "ignore", "--ignore-value", "9"], [[0, 9, 1], [1, 0, 9]]),
    ],
)
def test_multihot_to_labels_with_rule(files, capsys, rule, expected):
    rc, out, _ = run(capsys, "convert", files / "masks.tif", "-o", files / "l.npz",
                     "--to", "labels", *rule)
    assert rc == 0 and "from a multi-hot stack" in out
    data, meta = read_array(files / "l.npz")
    assert data.dtype == np.uint8 and data.tolist() == expected
    assert meta.channel_names == ("background", "whole", "part_1")


def test_onehot_inferred_by_content_without_metadata(files, capsys):
    np.save(files / "oh.npy", ONEHOT)
    rc, out, _ = run(capsys, "convert", files / "oh.npy", "-o", files / "l.tif", "--to", "labels")
    assert rc == 0 and "from a one-hot stack" in out
    assert read_array(files / "l.tif")[0].tolist() == LABELS.tolist()


def test_from_overrides_content(files, capsys):
    np.save(files / "oh.npy", ONEHOT)
    rc, _, _ = run(capsys, "convert", files / "oh.npy", "-o", files / "l.tif", "--to", "labels",
                   "--from", "multihot")
    assert rc == 0  # channel c -> c + 1, nothing overlaps
    assert read_array(files / "l.tif")[0].tolist() == (LABELS + 1).tolist()


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".npz"])
def test_atoms_round_trip(files, capsys, suffix):
    atoms = files / f"atoms{suffix}"
    rc, out, _ = run(capsys, "convert", files / "masks.tif", "-o", atoms, "--to", "atoms")
    assert rc == 0 and "with 3 atoms" in out
    data, meta = read_array(atoms)
    # atom 0: none, 1: {whole}, 2: {whole, part_1}
    assert data.tolist() == [[0, 2, 1], [1, 0, 2]]
    assert meta.kind == "atoms"
    assert meta.atom_table == {"names": ["whole", "part_1"],
                               "atoms": [[], ["whole"], ["whole", "part_1"]]}
    back = files / f"back{suffix}"
    rc, _, _ = run(capsys, "convert", atoms, "-o", back, "--to", "multihot")
    assert rc == 0
    data, meta = read_array(back)
    assert data.tobytes() == MULTIHOT.tobytes() and meta.channel_names == ("whole", "part_1")


def test_force_overwrites(files, capsys):
    (files / "out.npz").write_bytes(b"old")
    rc, _, _ = run(capsys, "convert", files / "labels.npy", "-o", files / "out.npz", "--to",
                   "onehot", "--force")
    assert rc == 0
    assert read_array(files / "out.npz")[0].tolist() == ONEHOT.tolist()


# ----------------------------------------------------------------------------- user errors


def test_float_labels(files, capsys):
    np.save(files / "f.npy", np.array([[0.0, 1.0], [0.7, 1.0]], np.float32))
    assert_user_error(capsys, files, "convert", files / "f.npy", "-o", files / "o.npz",
                      "--to", "onehot", words=["float32", "integers"])


def test_2d_file_where_stack_expected(files, capsys):
    for to in ("labels", "atoms"):
        assert_user_error(capsys, files, "convert", files / "labels.npy", "-o",
                          files / "o.tif", "--to", to, words=["(2, 3)", "channel stack"])


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".npz"])
def test_unreadable_file(files, capsys, suffix):
    (files / f"bad{suffix}").write_bytes(b"\x00garbage" * 7)
    assert_user_error(capsys, files, "convert", files / f"bad{suffix}", "-o", files / "o.tif",
                      "--to", "labels", words=[f"bad{suffix}"])


def test_truncated_file(files, capsys):
    raw = (files / "masks.tif").read_bytes()
    (files / "cut.tif").write_bytes(raw[: len(raw) - 5])
    assert_user_error(capsys, files, "convert", files / "cut.tif", "-o", files / "o.npz",
                      "--to", "labels", "--priority", "later", words=["cut.tif"])


def test_missing_input(files, capsys):
    assert_user_error(capsys, files, "convert", files / "nope.tif", "-o", files / "o.npz",
                      "--to", "labels", words=["nope.tif", "does not exist"])


def test_object_npy(files, capsys):
    np.save(files / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    assert_user_error(capsys, files, "convert", files / "obj.npy", "-o", files / "o.npz",
                      "--to", "onehot", words=["obj.npy"])


@pytest.mark.parametrize("src", ["masks.tif", "regions_only.npy"])
def test_overlap_without_rule(files, capsys, src):
    err = assert_user_error(capsys, files, "convert", files / src, "-o", files / "o.tif",
                            "--to", "labels", words=["overlap", "--priority", "--overlap ignore"])
    assert "4 voxels" not in err  # the pair count is 2 voxels, computed by hand
    assert "in 2 voxels" in err


@pytest.mark.parametrize(
    ("text", "words"),
    [('{"whole": [1, 2, 3], "part_1": [1}', ["not valid JSON"]),
     ('["whole", "part_1"]', ["JSON object"]),
     ('{"whole": [1, -2]}', ["'whole'", "non-negative"]),
     ('{"whole": []}', ["'whole'"]),
     ('{"whole": "1,2"}', ["'whole'"])],
)
def test_bad_regions_file(files, capsys, text, words):
    (files / "r.json").write_text(text)
    assert_user_error(capsys, files, "convert", files / "labels.npy", "-o", files / "o.npz",
                      "--to", "multihot", "--regions", files / "r.json", words=["r.json", *words])


def test_missing_regions_file(files, capsys):
    assert_user_error(capsys, files, "convert", files / "labels.npy", "-o", files / "o.npz",
                      "--to", "multihot", "--regions", files / "none.json", words=["none.json"])


@pytest.mark.parametrize("name", ["o.png", "o.nii.gz", "o"])
def test_unsupported_output_suffix(files, capsys, name):
    assert_user_error(capsys, files, "convert", files / "labels.npy", "-o", files / name,
                      "--to", "onehot", words=[name, ".npz"])


def test_existing_output_without_force(files, capsys):
    (files / "o.npz").write_bytes(b"keep me")
    assert_user_error(capsys, files, "convert", files / "labels.npy", "-o", files / "o.npz",
                      "--to", "onehot", words=["already exists", "--force"])


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--to", "labels", "--priority", "whole"], ["every channel"]),
        (["--to", "labels", "--priority", "whole,bone"], ["'bone'"]),
        (["--to", "labels", "--priority", "a,b", "--overlap", "ignore"], ["not allowed"]),
        (["--to", "labels", "--priority", "a,b", "--painting-order", "b,a"], ["not allowed"]),
        (["--to", "labels", "--painting-order", "whole"], ["every channel"]),
        (["--to", "atoms", "--painting-order", "whole,part_1"], ["painting order"]),
        (["--to", "labels", "--names", "a,b,c"], ["3 channel names"]),
        (["--to", "labels", "--names", "a,,b"], ["--names"]),
        (["--to", "pictures"], ["invalid choice"]),
        (["--to", "multihot", "--regions", "regions.json"], ["already"]),
        (["--to", "onehot"], ["label map", "multi-hot stack"]),
        (["--to", "atoms", "--priority", "later"], ["priority"]),
        (["--to", "labels", "--overlap", "ignore", "--ignore-value", "-1"], ["--ignore-value"]),
        (["--to", "onehot", "--num-classes", "0"], ["--num-classes"]),
        (["--to", "onehot", "--num-classes", "four"], ["--num-classes"]),
    ],
)
def test_bad_options(files, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(files)
    assert_user_error(capsys, files, "convert", "masks.tif", "-o", "o.npz", *argv, words=words)


def test_label_beyond_num_classes(files, capsys):
    assert_user_error(capsys, files, "convert", files / "labels.npy", "-o", files / "o.npz",
                      "--to", "onehot", "--num-classes", "3", words=["labels.npy", "0..2"])


def test_atoms_without_table(files, capsys):
    assert_user_error(capsys, files, "convert", files / "labels.npy", "-o", files / "o.npz",
                      "--to", "multihot", "--from", "atoms", words=["atom table"])


def test_no_command_and_help(capsys):
    assert main([]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["convert", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.lower().split())
    assert "the first listed wins" in text and "--painting-order" in text


# ----------------------------------------------------------------------------- atomicity


def test_failure_mid_write_leaves_nothing(files, capsys, monkeypatch):
    def boom(target, *args, **kwargs):
        target.write(b"half a tiff")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", boom)
    err = assert_user_error(capsys, files, "convert", files / "labels.npy", "-o",
                            files / "o.tif", "--to", "onehot", words=["No space left"])
    assert "o.tif" in err


def test_unexpected_failure_mid_write_leaves_nothing(files, monkeypatch):
    def boom(fh, *args, **kwargs):
        fh.write(b"half")
        raise RuntimeError("bug in a writer")

    monkeypatch.setattr(np, "savez_compressed", boom)
    before = listing(files)
    with pytest.raises(RuntimeError):  # a bug is not a user error: it is not swallowed
        main(["convert", str(files / "labels.npy"), "-o", str(files / "o.npz"), "--to",
              "onehot"])
    assert listing(files) == before


# ----------------------------------------------------------------------------- real entry


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return env


def test_python_m_entry_point(files):
    cmd = [sys.executable, "-m", "napari_segreview", "convert", "masks.tif", "-o", "l.npz",
           "--to", "labels", "--priority", "part_1,whole"]
    done = subprocess.run(cmd, cwd=files, env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote l.npz: a label map 2x3 uint8")
    assert read_array(files / "l.npz")[0].tolist() == [[0, 2, 1], [1, 0, 2]]   # part_1 wins

    done = subprocess.run(cmd, cwd=files, env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr == ("segreview: error: l.npz already exists; choose another output or "
                           "allow overwriting (--force).\n")


def test_rule_is_harmless_on_onehot_content(files, capsys):
    np.save(files / "oh.npy", ONEHOT)
    rc, out, _ = run(capsys, "convert", files / "oh.npy", "-o", files / "l.npz", "--to",
                     "labels", "--priority", "later")
    assert rc == 0 and "from a one-hot stack" in out
    assert read_array(files / "l.npz")[0].tolist() == LABELS.tolist()


def test_convert_array_is_pure_and_keeps_spacing():
    from napari_segreview.io.convert import convert_array

    meta = ArrayMeta("labels", spacing=(1.0, 0.5))
    out, out_meta, src = convert_array(LABELS, meta, to="multihot", regions=REGIONS)
    assert src == "labels" and out.tolist() == MULTIHOT.tolist()
    assert out_meta == ArrayMeta("multihot", ("whole", "part_1"), spacing=(1.0, 0.5))
    assert LABELS.tolist() == [[0, 1, 2], [3, 0, 1]]  # input untouched
