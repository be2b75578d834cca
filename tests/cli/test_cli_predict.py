"""Tests for ``segreview predict`` with the real demo model on a small phantom."""

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from io_samples import write_ct_series
from napari_segreview import cli
from napari_segreview.cli.main import build_parser
from napari_segreview.cli.predict import ProgressBar, run_predict
from napari_segreview.data import demo_card_path, demo_model_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import read_array
from napari_segreview.labels.metrics import dice

SHAPE = (4, 128, 128)
PARTS = ("background", "part_1", "part_2", "part_3")


@pytest.fixture(scope="module")
def phantom():
    return make_ct_phantom(SHAPE, seed=4242)


@pytest.fixture
def files(tmp_path, phantom):
    tifffile.imwrite(tmp_path / "scan.tif", phantom.image, photometric="minisblack")
    np.save(tmp_path / "scan.npy", phantom.image)
    model = tmp_path / "model" / "bone.pt"
    model.parent.mkdir()
    shutil.copy(demo_model_path(), model)
    shutil.copy(demo_card_path(), model.with_name("bone.card.yaml"))
    return tmp_path, model


def run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("name", ["scan.tif", "scan.npy"])
def test_predict_writes_one_file_per_head(files, capsys, phantom, name):
    tmp, model = files
    out_dir = tmp / "out"
    rc, out, err = run(capsys, "predict", tmp / name, "--model", model, "-o", out_dir,
                       "--device", "cpu", "--batch-size", "3")
    assert rc == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["parts.tif", "whole.tif"]
    whole, meta = read_array(out_dir / "whole.tif")
    assert whole.shape == (1, *SHAPE) and whole.dtype == np.uint8
    assert meta.kind == "multihot" and meta.channel_names == ("whole",)
    parts, pmeta = read_array(out_dir / "parts.tif")
    assert parts.shape == SHAPE and parts.dtype == np.uint8
    assert pmeta.kind == "labels" and pmeta.channel_names == PARTS
    assert parts.max() <= 3 and not (parts[whole[0] == 0]).any()  # parts within whole
    # The demo model really segments (held-out Dice here: 0.98 whole, 0.94-0.98 parts).
    assert dice(whole[0], phantom.masks[0]) > 0.9
    for k in (1, 2, 3):
        assert dice(parts == k, phantom.masks[k]) > 0.85
    assert "wrote" in out and "parts.tif" in out and err == ""
    assert not [p for p in tmp.iterdir() if p.name.startswith(".")]  # no staging left


def test_probabilities_npz_and_force(files, capsys):
    tmp, model = files
    out_dir = tmp / "out"
    argv = ["predict", tmp / "scan.npy", "--model", model, "-o", out_dir, "--device", "cpu",
            "--probabilities", "uint8", "--format", "npz"]
    assert run(capsys, *argv)[0] == 0
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == ["parts.npz", "parts_probabilities.npz", "whole.npz",
                     "whole_probabilities.npz"]
    prob, meta = read_array(out_dir / "parts_probabilities.npz")
    assert prob.shape == (4, *SHAPE) and prob.dtype == np.uint8
    assert meta.channel_names == PARTS
    assert np.abs(prob.astype(int).sum(0) - 255).max() <= 4  # softmax sums to 1
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and "already exists" in err and "--force" in err
    assert run(capsys, *argv, "--force")[0] == 0


def test_float16_probabilities_and_explicit_card(files, capsys):
    tmp, model = files
    card = tmp / "elsewhere.yaml"
    shutil.move(model.with_name("bone.card.yaml"), card)
    rc, _, err = run(capsys, "predict", tmp / "scan.tif", "--model", model, "--card", card,
                     "-o", tmp / "out", "--probabilities", "float16", "--no-amp")
    assert rc == 0, err
    prob, _ = read_array(tmp / "out" / "whole_probabilities.tif")
    assert prob.dtype == np.float16 and prob.shape == (1, *SHAPE)
    assert 0 <= prob.min() and prob.max() <= 1


def test_missing_card_is_one_sentence(files, capsys):
    tmp, model = files
    model.with_name("bone.card.yaml").unlink()
    rc, out, err = run(capsys, "predict", tmp / "scan.tif", "--model", model, "-o", tmp / "o")
    assert rc == 2 and out == ""
    assert err.startswith("segreview: error: no model card found beside") and "--card" in err
    assert err.count("\n") == 1 and not (tmp / "o").exists()


@pytest.mark.parametrize("bad", ["missing.pt", "folder", "garbage.pt"])
def test_bad_model_path(files, capsys, bad):
    tmp, _ = files
    (tmp / "folder").mkdir()
    (tmp / "garbage.pt").write_bytes(b"not a model at all")
    rc, _, err = run(capsys, "predict", tmp / "scan.tif", "--model", tmp / bad,
                     "--card", demo_card_path(), "-o", tmp / "out")
    assert rc == 2 and err.startswith("segreview: error: ") and err.count("\n") == 1
    assert "Traceback" not in err and not (tmp / "out").exists()


def test_card_that_does_not_match_the_model(files, capsys):
    tmp, model = files
    model.with_name("bone.card.yaml").write_text(
        "name: wrong\ninput: {channels: 1, normalize: {kind: window, center: 400, width: 1800},"
        " tile: [128, 128]}\nheads:\n  - {name: fg, kind: sigmoid, channels: [a, b, c]}\n"
    )
    rc, _, err = run(capsys, "predict", tmp / "scan.tif", "--model", model, "-o", tmp / "out")
    assert rc == 2 and err.count("\n") == 1
    assert "5" in err and "3" in err  # the model returns 5 channels, the card describes 3
    assert not (tmp / "out").exists()


def test_invalid_card_and_bad_options(files, capsys):
    tmp, model = files
    model.with_name("bone.card.yaml").write_text("name: x\nheads: []\n")
    rc, _, err = run(capsys, "predict", tmp / "scan.tif", "--model", model, "-o", tmp / "out")
    assert rc == 2 and err.startswith("segreview: error: ")
    rc, _, err = run(capsys, "predict", tmp / "scan.tif", "--model", model, "-o", tmp / "out",
                     "--batch-size", "0")
    assert rc == 2 and "at least 1" in err
    rc, _, err = run(capsys, "predict", tmp / "scan.tif", "--model", model, "-o", tmp / "out",
                     "--probabilities", "float32")
    assert rc == 2 and "float16" in err


def test_unreadable_image_and_wrong_layout(files, capsys):
    tmp, model = files
    (tmp / "bad.tif").write_bytes(b"nope")
    rc, _, err = run(capsys, "predict", tmp / "bad.tif", "--model", model, "-o", tmp / "out")
    assert rc == 2 and "bad.tif" in err
    np.save(tmp / "vol4d.npy", np.zeros((2, 2, 16, 16), np.int16))
    rc, _, err = run(capsys, "predict", tmp / "vol4d.npy", "--model", model, "-o", tmp / "out")
    assert rc == 2 and "(Z, Y, X)" in err and not (tmp / "out").exists()


def test_failure_while_writing_leaves_nothing(files, capsys, monkeypatch):
    tmp, model = files
    import napari_segreview.io.arrayfiles as af

    real, calls = af.write_array, []

    def flaky(path, *a, **k):
        calls.append(path)
        if len(calls) == 2:
            raise af.FormatError("disk full.")
        return real(path, *a, **k)

    monkeypatch.setattr(af, "write_array", flaky)
    out_dir = tmp / "out"
    rc, _, err = run(capsys, "predict", tmp / "scan.tif", "--model", model, "-o", out_dir)
    assert rc == 2 and "disk full" in err and len(calls) == 2
    assert not out_dir.exists()
    assert sorted(p.name for p in tmp.iterdir()) == ["model", "scan.npy", "scan.tif"]


def test_progress_bar_draws_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = ProgressBar("predicting", stream=stream, width=10)
    bar(1, 4)
    bar(4, 4)
    bar.close()
    text = stream.getvalue()
    assert "\rpredicting [##........] 1/4" in text and "[##########] 4/4" in text
    assert text.endswith("\n")
    quiet = ProgressBar("x", stream=io.StringIO())
    quiet(1, 2)
    quiet.close()
    assert quiet.stream.getvalue() == ""


def test_help_mentions_the_card(capsys):
    rc, out, _ = run(capsys, "predict", "--help")
    assert rc == 0 and "--card" in out and "--probabilities" in out
    assert Path(demo_model_path()).with_name("demo_bone.card.yaml") == demo_card_path()


def test_predict_on_a_dicom_folder(files, capsys, phantom):
    pytest.importorskip("pydicom")
    tmp, model = files
    # Shuffled file names, InstanceNumbers in reverse, HU stored with intercept -1024.
    write_ct_series(tmp / "dicom", phantom.image, pixel_spacing=(0.8, 0.7), step=2.5)
    (tmp / "dicom" / "DICOMDIR.txt").write_text("not an image")
    rc, _, err = run(capsys, "predict", tmp / "dicom", "--model", model, "-o", tmp / "a",
                       "--device", "cpu")
    assert rc == 0, err
    assert err == ""
    rc, _, err = run(capsys, "predict", tmp / "scan.npy", "--model", model, "-o", tmp / "b",
                     "--device", "cpu")
    assert rc == 0, err
    for head in ("whole", "parts"):
        from_dicom, meta = read_array(tmp / "a" / f"{head}.tif")
        from_npy, npy_meta = read_array(tmp / "b" / f"{head}.tif")
        np.testing.assert_array_equal(from_dicom, from_npy)   # same voxels, same order
        np.testing.assert_allclose(meta.spacing, (2.5, 0.8, 0.7))
        assert npy_meta.spacing is None                          # a plain .npy has none
    whole, _ = read_array(tmp / "a" / "whole.tif")
    assert dice(whole[0], phantom.masks[0]) > 0.9


def test_predict_on_nifti_and_a_folder_of_slices(files, capsys, phantom):
    nib = pytest.importorskip("nibabel")
    tmp, model = files
    affine = np.diag([-0.8, -0.8, 2.5, 1.0])                     # voxel axes already L, P, S
    nifti = nib.Nifti1Image(phantom.image.transpose(2, 1, 0), affine)
    nifti.header.set_xyzt_units("mm")
    nib.save(nifti, tmp / "ct.nii.gz")
    slices = tmp / "slices"
    slices.mkdir()
    for k, plane in enumerate(phantom.image):                    # 16-bit TIFF slices
        tifffile.imwrite(slices / f"slice{k + 1}.tif", plane)
    rc, _, err = run(capsys, "predict", tmp / "scan.tif", "--model", model, "-o", tmp / "ref",
                     "--device", "cpu")
    assert rc == 0, err
    reference, _ = read_array(tmp / "ref" / "parts.tif")
    for name, spacing in (("ct.nii.gz", (2.5, 0.8, 0.8)), ("slices", None)):
        out_dir = tmp / f"out_{name}"
        rc, _, err = run(capsys, "predict", tmp / name, "--model", model, "-o", out_dir,
                         "--device", "cpu")
        assert rc == 0, err
        parts, meta = read_array(out_dir / "parts.tif")
        np.testing.assert_array_equal(parts, reference)
        assert meta.spacing == spacing


def test_unreadable_inputs_are_one_sentence(files, capsys):
    tmp, model = files
    (tmp / "empty").mkdir()
    (tmp / "bad.dcm").write_bytes(b"garbage" * 30)
    (tmp / "cut.nii.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(30))
    for name in ("empty", "bad.dcm", "cut.nii.gz", "missing.tif", "notes.txt"):
        rc, out, err = run(capsys, "predict", tmp / name, "--model", model, "-o", tmp / "out")
        assert rc == 2 and out == "", name
        assert err.startswith("segreview: error: ") and err.count("\n") == 1, err
        assert "Traceback" not in err and not (tmp / "out").exists()


GREY_CARD = ("name: grey\ninput: {channels: 1%s}\n"
             "heads:\n  - {name: fg, kind: sigmoid, channels: [fg]}\n")


class Threshold(torch.nn.Module):
    """Logit x - 0.5 per pixel (a 1x1 convolution): decisions are ``image > 0.5``."""

    def __init__(self, channels=1):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.fill_(-0.5)

    def forward(self, x):
        return self.conv(x)


@pytest.fixture
def grey(tmp_path):
    """A grey card, and a (3, 40, 44) stack with no value near the model's threshold."""
    (tmp_path / "grey.card.yaml").write_text(GREY_CARD % "")
    values = np.random.default_rng(5).uniform(0, 1, (3, 40, 44)).astype(np.float32)
    np.save(tmp_path / "ct.npy", np.where(np.abs(values - 0.5) < 0.05, 0.9, values))
    return tmp_path


def predict_grey(capsys, tmp, image, model, *extra):
    return run(capsys, "predict", tmp / image, "--model", model, "--card",
               tmp / "grey.card.yaml", "-o", tmp / "out", "--device", "cpu", *extra)


def test_rgb_picture_with_a_grey_card_is_refused(grey, capsys):
    from PIL import Image

    Image.fromarray(np.full((96, 128, 3), 200, np.uint8)).save(grey / "photo.png")
    torch.jit.script(Threshold()).save(str(grey / "grey.pt"))
    # Before: exit 0 and a 96x128x3 "stack" (colour read as X, rows as slices).
    rc, out, err = predict_grey(capsys, grey, "photo.png", grey / "grey.pt")
    assert rc == 2 and out == "" and not (grey / "out").exists()
    assert err == ("segreview: error: the model takes 1 input channel (the card's "
                   "input.channels) but the image 'photo.png' is RGB: choose a grey image, or "
                   "a card and model with input.channels: 3.\n")
    from napari_segreview._napari.predict.run import model_input
    from napari_segreview.card.spec import load_card
    from napari_segreview.io.read import read_image

    loaded = read_image(grey / "photo.png")  # the panel's path: the same decision
    with pytest.raises(FormatError, match="the image layer 'photo' is RGB: choose a grey"):
        model_input(loaded.data, loaded.rgb, load_card(grey / "grey.card.yaml"), "photo")


@pytest.mark.parametrize("batch", [1, 2])
def test_fixed_size_torch_export_program(grey, capsys, batch):
    program = torch.export.export(Threshold().eval(), (torch.zeros(batch, 1, 32, 32),))
    torch.export.save(program, grey / "fixed.pt2")
    # Before: a traceback, "AssertionError: Guard failed: x.size()[0] == 1".
    rc, _, err = predict_grey(capsys, grey, "ct.npy", grey / "fixed.pt2")
    assert rc == 0, err
    fg, _ = read_array(grey / "out" / "fg.tif")
    np.testing.assert_array_equal(fg[0], np.load(grey / "ct.npy") > 0.5)
    (grey / "grey.card.yaml").write_text(GREY_CARD % ", tile: [64, 64]")
    rc, _, err = predict_grey(capsys, grey, "ct.npy", grey / "fixed.pt2", "--force")
    assert rc == 2 and err.count("\n") == 1 and "set input.tile: [32, 32]" in err


def test_torchscript_failure_names_its_cause(grey, capsys):
    torch.jit.script(Threshold(channels=3)).save(str(grey / "rgb.pt"))
    rc, _, err = predict_grey(capsys, grey, "ct.npy", grey / "rgb.pt")
    assert rc == 2 and err.count("\n") == 1 and not (grey / "out").exists()
    assert err.startswith("segreview: error: the model failed on 'ct.npy' (Given groups=1, "
                          "weight of size [1, 3, 1, 1], expected input[")
    assert "to have 3 channels, but got 1 channels instead" in err
    assert "TorchScript interpreter" not in err


def test_random_bytes_are_not_a_model_file(grey, capsys):
    (grey / "junk.pt").write_bytes(np.random.default_rng(1).bytes(3000).replace(b"\x80", b"1"))
    rc, _, err = predict_grey(capsys, grey, "ct.npy", grey / "junk.pt")
    assert rc == 2 and err.count("\n") == 1 and not (grey / "out").exists()
    assert ("junk.pt is not a TorchScript, torch.export or checkpoint file, so not a model "
            "file: choose the file saved with torch.jit.save (.pt)") in err
    assert "miniz" not in err and "PytorchStreamReader" not in err


def test_checkpoint_needs_the_factory_option(grey, capsys, monkeypatch):
    torch.save(Threshold().conv.state_dict(), grey / "weights.pth")  # weight 1, bias -0.5
    rc, _, err = predict_grey(capsys, grey, "ct.npy", grey / "weights.pth")
    assert rc == 2 and "add --factory package.module:function, naming the function" in err
    assert "factory=" not in err and not (grey / "out").exists()
    (grey / "segreview_cli_nets.py").write_text(
        "import torch\n\n\ndef build():\n    return torch.nn.Conv2d(1, 1, 1)\n")
    monkeypatch.syspath_prepend(str(grey))
    rc, _, err = predict_grey(capsys, grey, "ct.npy", grey / "weights.pth",
                              "--factory", "segreview_cli_nets:build")
    assert rc == 0, err
    fg, _ = read_array(grey / "out" / "fg.tif")
    np.testing.assert_array_equal(fg[0], np.load(grey / "ct.npy") > 0.5)


def test_progress_bar_counts_slices_for_a_2d_card(grey, capsys):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    torch.jit.script(Threshold()).save(str(grey / "grey.pt"))
    args = build_parser().parse_args(
        ["predict", str(grey / "ct.npy"), "--model", str(grey / "grey.pt"), "--card",
         str(grey / "grey.card.yaml"), "-o", str(grey / "out"), "--device", "cpu",
         "--batch-size", "2"])
    stream = Tty()
    assert run_predict(args, progress_stream=stream) == 0
    assert "] 2/3 slices" in stream.getvalue() and "] 3/3 slices" in stream.getvalue()
