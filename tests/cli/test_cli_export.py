"""`segreview export`: the widget's options on the command line; errors write nothing."""

import json

import numpy as np
import pytest

from napari_segreview.cli import main
from napari_segreview.data import demo_card_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.io.arrayfiles import ArrayMeta, write_array
from napari_segreview.targets.export import read_export

CARD = str(demo_card_path())


@pytest.fixture
def files(tmp_path):
    ph = make_ct_phantom((3, 32, 32), seed=2)
    write_array(tmp_path / "scan.tif", ph.image, ArrayMeta(spacing=ph.spacing))
    write_array(tmp_path / "whole.tif", ph.masks[:1], ArrayMeta("multihot", ("whole",)))
    write_array(tmp_path / "parts.tif", ph.parts,
                ArrayMeta("labels", ("background", "part_1", "part_2", "part_3")))
    write_array(tmp_path / "masks.tif", ph.masks, ArrayMeta("multihot", ph.names))
    write_array(tmp_path / "small.tif", ph.parts[:, :30], ArrayMeta("labels"))
    unsure = np.zeros(ph.image.shape, np.uint8)
    unsure[1, 5:9] = 1
    write_array(tmp_path / "unsure.tif", unsure)
    return tmp_path, ph


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_export_with_card(files, capsys):
    d, ph = files
    rc = main(["export", str(d / "scan.tif"), "--card", CARD, "--target", f"whole={d}/whole.tif",
               "--target", f"parts={d}/parts.tif", "--ignore-mask", str(d / "unsure.tif"),
               "--ignore-outside-parent", "-o", str(d / "ex"), "--case", "patient 7"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "wrote case 'patient_7'" in out and "pos_weight" in out
    (case,) = read_export(d / "ex")
    np.testing.assert_array_equal(case.image, ph.image)
    assert case.spacing == ph.spacing
    expected = ph.parts.copy()
    expected[ph.masks[0] == 0] = 255           # outside the parent 'whole'
    expected[1, 5:9] = 255                      # marked uncertain
    np.testing.assert_array_equal(case.targets[1].data, expected)


def test_export_without_card_to_nnunet(files, capsys):
    d, ph = files
    rc = main(["export", str(d / "scan.tif"), "--sigmoid", str(d / "masks.tif"),
               "-o", str(d / "ds"), "--format", "nnunet"])
    assert rc == 0
    ds = json.loads((d / "ds" / "dataset.json").read_text())
    assert set(ds["labels"]) == {"background", *ph.names}
    (case,) = read_export(d / "ds")
    np.testing.assert_array_equal(case.targets[0].data, ph.masks)


def test_overlapping_masks_into_softmax_need_a_rule(files, capsys):
    d, ph = files
    rc = main(["export", str(d / "scan.tif"), "--softmax", str(d / "masks.tif"),
               "-o", str(d / "ex")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("segreview: error: ") and err.count("\n") == 1
    assert "--priority" in err and "--overlap ignore" in err
    assert "overlap='ignore'" not in err and "pass a priority" not in err   # API words
    assert not (d / "ex").exists()
    rc = main(["export", str(d / "scan.tif"), "--softmax", str(d / "masks.tif"),
               "--priority", "later", "-o", str(d / "ex")])
    assert rc == 0
    (case,) = read_export(d / "ex")
    expected = np.zeros(ph.image.shape, np.uint8)
    for i in range(4):                          # later masks painted on top
        expected[ph.masks[i] == 1] = i + 1
    np.testing.assert_array_equal(case.targets[0].data, expected)
    assert case.targets[0].channels == ("background", *ph.names)


@pytest.mark.parametrize("rule", [["--priority", "{0},{1},{2},{3}"],
                                  ["--painting-order", "{3},{2},{1},{0}"]])
def test_the_first_listed_class_wins_and_the_last_painted(files, capsys, rule):
    d, ph = files
    assert ph.masks[0].any() and (ph.masks[0] & ph.masks[1]).any()    # they overlap
    flag, order = rule[0], rule[1].format(*ph.names)     # the first name wins in both
    out = d / f"ex{flag}"
    rc = main(["export", str(d / "scan.tif"), "--softmax", str(d / "masks.tif"),
               flag, order, "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    (case,) = read_export(out)
    expected = np.zeros(ph.image.shape, np.uint8)
    for i in (3, 2, 1, 0):                      # ph.names[0] painted last: it wins
        expected[ph.masks[i] == 1] = i + 1
    np.testing.assert_array_equal(case.targets[0].data, expected)


@pytest.mark.parametrize("argv,message", [
    (["--softmax", "{d}/small.tif"], "does not match the image's spatial shape"),
    (["--card", CARD, "--target", "nope={d}/parts.tif"], "the card has no head 'nope'"),
    (["--card", CARD, "--target", "parts={d}/masks.tif"], "takes the integer label map"),
    (["--sigmoid", "{d}/masks.tif", "--case", "../../x"], "climb out of the export folder"),
    (["--sigmoid", "{d}/masks.tif", "--format", "nnunet", "--ignore-outside-parent"],
     "does not apply to --format nnunet"),
    (["--sigmoid", "{d}/whole.tif", "--image-mode", "normalized"], "needs a model card"),
    (["--target", "parts={d}/parts.tif"], "--target needs --card"),
])
def test_user_errors_are_one_line_and_write_nothing(files, capsys, argv, message):
    d, _ = files
    main(["export", str(d / "scan.tif"), "--sigmoid", str(d / "whole.tif"), "-o", str(d / "ex")])
    before = listing(d / "ex")
    stats = (d / "ex" / "statistics.json").read_bytes()
    capsys.readouterr()
    rc = main(["export", str(d / "scan.tif"), *[a.format(d=d) for a in argv],
               "-o", str(d / "ex")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("segreview: error: ") and err.count("\n") == 1
    assert message in err
    assert listing(d / "ex") == before
    assert (d / "ex" / "statistics.json").read_bytes() == stats


def test_dry_run_writes_nothing(files, capsys):
    d, _ = files
    rc = main(["export", str(d / "scan.tif"), "--card", CARD, "--target",
               f"parts={d}/parts.tif", "-o", str(d / "ex"), "--dry-run",
               "--weights", "median_frequency"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "nothing written" in out and "part_1" in out
    assert not (d / "ex").exists()


def test_appending_and_force(files, capsys):
    d, _ = files
    args = ["export", str(d / "scan.tif"), "--sigmoid", str(d / "masks.tif"), "-o", str(d / "ex")]
    assert main(args) == 0
    assert main(args) == 2
    assert "already has a case 'scan'" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert main([*args, "--case", "scan2"]) == 0
    stats = json.loads((d / "ex" / "statistics.json").read_text())
    assert stats["cases"] == 2


@pytest.mark.parametrize("extra,message", [
    ([], "'background' of softmax head 'classes' is the background"),        # names from file
    (["--classes", "rest,a,b,c"], "cover every voxel exactly once"),           # named by hand
])
def test_a_background_mask_is_not_made_a_class(files, capsys, extra, message):
    d, ph = files
    onehot = np.stack([ph.parts == k for k in range(4)]).astype(np.uint8)
    write_array(d / "onehot.tif", onehot, ArrayMeta("multihot", ("background", "a", "b", "c")))
    capsys.readouterr()
    rc = main(["export", str(d / "scan.tif"), "--softmax", str(d / "onehot.tif"), *extra,
               "-o", str(d / "ex")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("segreview: error: ") and err.count("\n") == 1
    assert message in err and "leave the background mask out" in err
    assert not (d / "ex").exists()
    # the same masks without the background channel are the label map
    write_array(d / "classes.tif", onehot[1:], ArrayMeta("multihot", ("a", "b", "c")))
    assert main(["export", str(d / "scan.tif"), "--softmax", str(d / "classes.tif"),
                 "-o", str(d / "ex")]) == 0
    (case,) = read_export(d / "ex")
    np.testing.assert_array_equal(case.targets[0].data, ph.parts)
    assert case.targets[0].channels == ("background", "a", "b", "c")


def test_classes_of_a_label_map_leave_the_background_out(files, capsys):
    d, _ = files
    capsys.readouterr()
    rc = main(["export", str(d / "scan.tif"), "--softmax", str(d / "parts.tif"),
               "--classes", "background,a,b,c", "-o", str(d / "ex")])
    err = capsys.readouterr().err
    assert rc == 2 and "leave the background out (value 0 is the background)" in err
    assert not (d / "ex").exists()


def test_a_one_hot_stack_for_a_card_head_names_the_background(files, capsys):
    d, ph = files
    onehot = np.stack([ph.parts == k for k in range(4)]).astype(np.uint8)
    np.save(d / "onehot.npy", onehot)
    capsys.readouterr()
    rc = main(["export", str(d / "scan.tif"), "--card", CARD, "--target",
               f"parts={d}/onehot.npy", "-o", str(d / "ex")])
    err = capsys.readouterr().err
    assert rc == 2 and "its background channel becomes 0" in err
    assert not (d / "ex").exists()


def test_parser_formats_are_the_cores():
    from napari_segreview.cli.export import EXPORT_FORMATS
    from napari_segreview.targets import export as targets_io

    assert EXPORT_FORMATS == targets_io.EXPORT_FORMATS
