"""The Predict dock widget runs a model in a worker and shows its per-channel layers."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from napari_segreview._napari import _panel
from napari_segreview._napari.predict import widget as pw
from napari_segreview.card.spec import load_card
from napari_segreview.data import demo_card_path, demo_model_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.inference.models import load_model
from napari_segreview.inference.predict import predict

pytestmark = pytest.mark.gui

SPACING = (2.5, 0.8, 0.8)
ORIGIN = (10.0, -4.0, 3.0)
RUN_TIMEOUT = 120_000  # ms; generous for a busy 2-core machine, never a speed assertion
DEMO_NAMES = ["whole (p)", "parts: background (p)", "parts: part_1 (p)", "parts: part_2 (p)",
              "parts: part_3 (p)", "whole", "parts"]


@pytest.fixture(scope="module")
def phantom():
    return make_ct_phantom((3, 128, 128), seed=3)


@pytest.fixture(scope="module")
def expected(phantom):
    """The demo model's decisions and probabilities, from a direct predict() call."""
    card = load_card(demo_card_path())
    return predict(phantom.image, load_model(demo_model_path()), card, device="cpu",
                   probabilities="float16")


@pytest.fixture
def notes(monkeypatch):
    """Every notification the widget sends, by kind."""
    got = {"error": [], "warning": [], "info": []}
    for kind in got:
        monkeypatch.setattr(_panel if kind == "error" else pw, f"show_{kind}", got[kind].append)
    return got


@pytest.fixture
def widget(make_napari_viewer, phantom):
    viewer = make_napari_viewer()
    viewer.add_image(phantom.image, name="CT", scale=SPACING, translate=ORIGIN,
                     contrast_limits=(-1000, 1000))
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Predict")
    w.set_device("cpu")
    return viewer, w


def run(qtbot, w):
    with qtbot.waitSignal(w.run_finished, timeout=RUN_TIMEOUT) as blocker:
        w.run()
    return blocker.args[0]


def test_defaults_are_the_demo_model_and_its_card(widget):
    viewer, w = widget
    assert w.image.currentText() == "CT"
    assert w.model_path.text() == str(demo_model_path())
    assert w.card_path.text() == str(demo_card_path())
    assert "found beside the model" in w.card_info.text()
    assert "parts (softmax: background, part_1, part_2, part_3)" in w.card_info.text()
    # The image list follows the layer list.
    viewer.add_image(np.zeros((8, 8)), name="other")
    assert [w.image.itemText(i) for i in range(w.image.count())] == ["CT", "other"]
    viewer.layers.remove("other")
    assert w.image.count() == 1


def test_run_adds_the_expected_layers(qtbot, widget, expected, notes):
    viewer, w = widget
    assert run(qtbot, w) == "done", w.status.text()
    assert notes["error"] == []
    assert [layer.name for layer in viewer.layers] == ["CT", *DEMO_NAMES]
    assert w._job["done"] == w._job["total"] == 3          # one 256-px tile per 128-px slice
    for layer in list(viewer.layers)[1:]:
        np.testing.assert_allclose(layer.scale, SPACING)
        np.testing.assert_allclose(layer.translate, ORIGIN)
        m = layer.metadata["segreview"]
        assert m["image"] == "CT" and m["model"] == str(demo_model_path())
        assert m["run"] == viewer.layers["whole"].metadata["segreview"]["run"]
    # Probabilities: float16 images, contrast 0..1, additive, background hidden.
    probs = expected.heads["parts"].probabilities
    for k, channel in enumerate(["background", "part_1", "part_2", "part_3"]):
        layer = viewer.layers[f"parts: {channel} (p)"]
        assert layer._type_string == "image" and layer.data.dtype == np.float16
        assert tuple(layer.contrast_limits) == (0, 1) and layer.blending == "additive"
        assert layer.visible == (channel != "background")
        np.testing.assert_array_equal(layer.data, probs[k])
        m = layer.metadata["segreview"]
        assert (m["kind"], m["head"], m["head_kind"], m["channel"]) == (
            "probability", "parts", "softmax", channel)
    colormaps = {viewer.layers[n].colormap.name for n in DEMO_NAMES[:5] if "background" not in n}
    assert len(colormaps) == 4, "each channel has its own colour"
    # Decisions: a label map for the softmax head, a binary layer for the sigmoid channel.
    parts, whole = viewer.layers["parts"], viewer.layers["whole"]
    assert parts._type_string == whole._type_string == "labels"
    assert parts.data.dtype == whole.data.dtype == np.uint8
    np.testing.assert_array_equal(parts.data, expected.heads["parts"].decision)
    np.testing.assert_array_equal(whole.data, expected.heads["whole"].decision[0])
    assert set(np.unique(whole.data)) <= {0, 1}
    assert list(parts.features["class"]) == ["background", "part_1", "part_2", "part_3"]
    two = parts.data == 2
    inner = two[:, 1:-1, 1:-1] & two[:, :-2, 1:-1] & two[:, 2:, 1:-1] & two[:, 1:-1, :-2] \
        & two[:, 1:-1, 2:]                          # away from the edge: no rounding doubts
    z, y, x = np.argwhere(inner)[0] + (0, 1, 1)
    viewer.dims.set_current_step(0, z)               # hovering reads the shown slice
    world = np.array([z, y, x]) * SPACING + ORIGIN
    assert "class: part_2" in parts.get_status(world, world=True)["coordinates"]
    pm, wm = parts.metadata["segreview"], whole.metadata["segreview"]
    assert (pm["kind"], pm["channel"], pm["classes"]) == (
        "decision", None, ["background", "part_1", "part_2", "part_3"])
    assert (wm["kind"], wm["head"], wm["head_kind"], wm["channel"]) == (
        "decision", "whole", "sigmoid", "whole")
    assert pm["card"] == load_card(demo_card_path()).to_dict()
    for layer in (parts, whole):
        kept = layer.metadata["segreview"]["prediction"]
        assert not kept.flags.writeable
        np.testing.assert_array_equal(kept, layer.data)
        assert not np.shares_memory(kept, layer.data)


def test_labels_only_and_uint8_probabilities(qtbot, widget, expected):
    viewer, w = widget
    w.set_probabilities(None)
    assert run(qtbot, w) == "done"
    assert [layer.name for layer in viewer.layers] == ["CT", "whole", "parts"]
    w.set_probabilities("uint8")
    assert run(qtbot, w) == "done"
    layer = viewer.layers["whole (p)"]
    assert layer.data.dtype == np.uint8 and tuple(layer.contrast_limits) == (0, 255)
    p = expected.heads["whole"].probabilities[0].astype(np.float32)
    assert np.abs(layer.data / 255.0 - p).max() <= 1 / 255 + 1e-3


def test_window_presets_set_contrast_limits(widget):
    viewer, w = widget
    ct = viewer.layers["CT"]
    assert tuple(ct.contrast_limits) == (-1000, 1000), "opening the widget changes nothing"
    w.window.setCurrentIndex(w.window.findData("lung"))
    assert tuple(ct.contrast_limits) == (-1350, 150)          # -600 -/+ 750
    w.set_window("brain")
    assert tuple(ct.contrast_limits) == (0, 80)
    w.set_window("custom", center=100, width=50)
    assert tuple(ct.contrast_limits) == (75, 125)
    w.width_hu.setValue(500)
    assert tuple(ct.contrast_limits) == (-150, 350)
    assert "input.normalize" in w.window.toolTip()


def test_a_window_applies_to_the_image_it_was_chosen_for(widget):
    """Issue 15: a bone window chosen for one CT replaced the own window of images opened later."""
    viewer, w = widget
    w.set_window("bone")
    bone = tuple(viewer.layers["CT"].contrast_limits)
    series = viewer.add_image(np.zeros((2, 8, 8), np.int16) + np.arange(8, dtype=np.int16) * 100,
                              name="DICOM series", contrast_limits=(-160, 240))  # its own window
    w.image.setCurrentText("DICOM series")           # to run on it, as the user did
    assert w.image_picker.value is series
    assert tuple(series.contrast_limits) == (-160, 240)
    assert w.window.currentData() is None, "back to 'keep current contrast'"
    assert (w.center.value(), w.width_hu.value()) == (40, 400)   # the series' own window
    viewer.layers.remove("CT")                        # the chosen image closed, another opened
    later = viewer.add_image(np.ones((8, 8), np.float32), name="later", contrast_limits=(0, 2))
    w.image.setCurrentText("later")
    assert tuple(later.contrast_limits) == (0, 2) and tuple(series.contrast_limits) == (-160, 240)
    assert bone == (-500, 1300)


def test_status_line_follows_the_run_layers_being_deleted(qtbot, widget):
    viewer, w = widget
    w.set_probabilities(None)
    assert run(qtbot, w) == "done"
    assert w.status.text().startswith("Added 2 layers for 'CT'")
    viewer.layers.remove("parts")
    assert w.status.text() == ("1 of the 2 layers of the last run on 'CT' are left; the others "
                               "were deleted.")
    viewer.layers.remove("whole")
    assert w.status.text() == ("The layers of the last run on 'CT' were deleted; press Run to "
                               "predict again.")
    viewer.add_image(np.zeros((4, 4)), name="x")
    viewer.layers.remove("x")                          # other layers leave the line alone
    assert w.status.text().startswith("The layers of the last run on 'CT' were deleted")


def test_a_second_model_on_the_same_image_is_named_by_its_card(qtbot, widget, tmp_path):
    viewer, w = widget
    w.set_probabilities(None)
    assert run(qtbot, w) == "done"
    shutil.copy(demo_model_path(), tmp_path / "other.pt")
    card = yaml.safe_load(demo_card_path().read_text())
    card["name"] = "other-net"
    (tmp_path / "other.card.yaml").write_text(yaml.safe_dump(card))
    w.model_path.setText(str(tmp_path / "other.pt"))
    assert run(qtbot, w) == "done", w.status.text()
    names = ["CT", "whole", "parts", "whole [other-net]", "parts [other-net]"]
    assert [layer.name for layer in viewer.layers] == names
    assert viewer.layers["parts [other-net]"].metadata["segreview"]["model"] == str(
        tmp_path / "other.pt")
    assert run(qtbot, w) == "done"                    # a re-run replaces its own layers
    assert [layer.name for layer in viewer.layers] == names


def test_rerun_replaces_layers_and_keeps_an_edited_one(qtbot, widget, expected, notes):
    viewer, w = widget
    assert run(qtbot, w) == "done"
    edited = np.asarray(viewer.layers["whole"].data).copy()
    edited[1, 10:20, 10:20] = 1 - edited[1, 10:20, 10:20]
    viewer.layers["whole"].data = edited
    assert run(qtbot, w) == "done"
    names = [layer.name for layer in viewer.layers]
    assert sorted(names) == sorted(["CT", "whole (edited)", *DEMO_NAMES]), names
    kept = viewer.layers["whole (edited)"]
    np.testing.assert_array_equal(kept.data, edited)
    assert kept.metadata["segreview"]["superseded"] is True
    np.testing.assert_array_equal(viewer.layers["whole"].data,
                                  expected.heads["whole"].decision[0])
    assert any("'whole' -> 'whole (edited)'" in m for m in notes["info"])
    # A third run (labels only) leaves the kept layer alone and replaces the rest: the
    # second run's probability layers go, as the third run keeps none.
    w.set_probabilities(None)
    assert run(qtbot, w) == "done"
    assert [layer.name for layer in viewer.layers] == ["CT", "whole (edited)", "whole", "parts"]
    np.testing.assert_array_equal(viewer.layers["whole (edited)"].data, edited)


def test_bad_model_file_is_one_error_and_changes_nothing(qtbot, widget, tmp_path, notes):
    viewer, w = widget
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a model")
    shutil.copy(demo_card_path(), tmp_path / "bad.card.yaml")
    before = [layer.name for layer in viewer.layers]
    w.model_path.setText(str(bad))
    assert w.card_path.text() == str(tmp_path / "bad.card.yaml")
    assert run(qtbot, w) == "error"
    assert len(notes["error"]) == 1
    assert notes["error"][0].startswith("bad.pt is not a TorchScript, torch.export or checkpoint")
    assert "Traceback" not in notes["error"][0]
    assert [layer.name for layer in viewer.layers] == before
    assert w.run_button.isEnabled() and not w.running
    # A missing file is refused before any work starts.
    w.model_path.setText(str(tmp_path / "missing.pt"))
    assert run(qtbot, w) == "error"
    assert "missing.pt does not exist" in notes["error"][-1]
    assert "No model card beside missing.pt" in w.card_info.text()


def test_card_that_does_not_fit_the_model(qtbot, widget, tmp_path, notes):
    viewer, w = widget
    card = yaml.safe_load(demo_card_path().read_text())
    card["heads"][1]["channels"] = ["background", "bone"]          # 3 outputs, model has 5
    (tmp_path / "small.card.yaml").write_text(yaml.safe_dump(card))
    w.card_path.setText(str(tmp_path / "small.card.yaml"))
    assert run(qtbot, w) == "error"
    assert "the model returns 5 channels but the card describes 3" in notes["error"][0]
    assert [layer.name for layer in viewer.layers] == ["CT"]


SLOW = '''
import time
import torch

class Slow(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 1)

    def forward(self, x):
        time.sleep(0.05)
        return self.conv(x)

def build():
    return Slow()
'''


def test_cancel_stops_a_long_run_and_adds_nothing(qtbot, widget, tmp_path, monkeypatch, notes):
    viewer, w = widget
    (tmp_path / "slow_segreview_factory.py").write_text(SLOW)
    monkeypatch.syspath_prepend(str(tmp_path))
    import slow_segreview_factory

    torch.save(slow_segreview_factory.build().state_dict(), tmp_path / "slow.pth")
    (tmp_path / "slow.card.yaml").write_text(textwrap.dedent("""
        name: slow
        input: {channels: 1, spatial_dims: 2, normalize: none}
        heads:
          - {name: fg, kind: softmax, channels: [background, fg]}
    """))
    viewer.add_image(np.zeros((400, 8, 8), np.float32), name="long stack")
    w.image.setCurrentText("long stack")
    w.model_path.setText(str(tmp_path / "slow.pth"))
    w.factory.setText("slow_segreview_factory:build")
    w.batch_size.setValue(1)
    before = [layer.name for layer in viewer.layers]
    with qtbot.waitSignal(w.run_finished, timeout=RUN_TIMEOUT) as blocker:
        w.run()
        qtbot.waitUntil(lambda: w._job["done"] >= 3 or not w.running, timeout=RUN_TIMEOUT)
        assert w.running, notes["error"]
        w.cancel_button.click()
    assert blocker.args == ["cancelled"]
    assert 3 <= w._job["done"] < 400 and w._job["total"] == 400, "it stopped early"
    assert [layer.name for layer in viewer.layers] == before
    assert notes["error"] == []
    assert notes["info"][-1].startswith("Prediction cancelled after")
    assert "no layers were added" in w.status.text()


def test_rgb_image_with_an_rgb_model(qtbot, make_napari_viewer, tmp_path, notes):
    torch.manual_seed(0)
    net = torch.jit.script(torch.nn.Conv2d(3, 2, 1))
    net.save(str(tmp_path / "rgb.pt"))
    card = {"name": "rgb", "input": {"channels": 3, "spatial_dims": 2, "normalize": {
        "kind": "mean_std", "scale": 255, "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225]}},
        "heads": [{"name": "fg", "kind": "softmax", "channels": ["background", "fg"]}]}
    (tmp_path / "rgb.card.yaml").write_text(yaml.safe_dump(card))
    rgb = np.random.default_rng(1).integers(0, 256, (24, 32, 4), dtype=np.uint8)  # RGBA
    viewer = make_napari_viewer()
    viewer.add_image(rgb, name="photo", rgb=True, scale=(0.5, 0.5))
    viewer.add_image(rgb[..., 0], name="grey")
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Predict")
    w.set_device("cpu")
    w.model_path.setText(str(tmp_path / "rgb.pt"))
    w.image.setCurrentText("grey")
    assert run(qtbot, w) == "error"
    assert "takes 3 input channels" in notes["error"][0] and "'grey' is grey" in notes["error"][0]
    w.image.setCurrentText("photo")
    assert run(qtbot, w) == "done", w.status.text()
    out = viewer.layers["fg"]
    direct = predict(rgb[..., :3], torch.jit.load(str(tmp_path / "rgb.pt")),
                     load_card(tmp_path / "rgb.card.yaml"), device="cpu")
    np.testing.assert_array_equal(out.data, direct.heads["fg"].decision)
    assert out.data.shape == (24, 32)
    np.testing.assert_allclose(out.scale, (0.5, 0.5))


def test_devices_are_listed_in_a_worker(qtbot, widget):
    _, w = widget
    with qtbot.waitSignal(w.devices_found, timeout=RUN_TIMEOUT) as blocker:
        w.detect_devices()
    found = blocker.args[0]
    labels = [w.device.itemText(i) for i in range(w.device.count())]
    assert labels[1] == "cpu" and labels[0].startswith("auto: ")
    cuda = w.device.model().item(w.device.findData("cuda"))
    assert cuda.isEnabled() == torch.cuda.is_available() == found["cuda"][0]
    assert w.device.currentData() == "cpu"


def test_no_plugin_module_imports_torch():
    """Every module napari.yaml names loads without torch (napari imports them at use)."""
    manifest = Path(demo_model_path()).parents[1] / "napari.yaml"
    commands = yaml.safe_load(manifest.read_text())["contributions"]["commands"]
    modules = sorted({c["python_name"].split(":")[0] for c in commands})
    assert len(modules) >= 8, modules
    code = f"import sys, {', '.join(modules)}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_result_layers_are_drawn(qtbot, make_napari_viewer, phantom):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(phantom.image, name="CT", scale=SPACING, contrast_limits=(-500, 1300))
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Predict")
    # Shown, so devices are being listed in a worker: let it finish first.
    qtbot.waitUntil(lambda: w.devices is not None, timeout=RUN_TIMEOUT)
    w.set_device("cpu")
    assert run(qtbot, w) == "done"
    viewer.dims.set_current_step(0, 1)
    results = list(viewer.layers)[1:]

    def shot(*visible):
        for layer in results:
            layer.visible = layer.name in visible
        qtbot.wait(50)
        return viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)

    def count(rgb, pattern):
        """Pixels bright (> 150) where ``pattern`` is 1 and dark (< 120) where it is 0."""
        ok = np.ones(rgb.shape[:2], bool)
        for c, on in enumerate(pattern):
            ok &= rgb[..., c] > 150 if on else rgb[..., c] < 120
        return int(ok.sum())

    colours = {"red": (1, 0, 0), "yellow": (1, 1, 0), "green": (0, 1, 0), "blue": (0, 0, 1)}
    plain = shot()
    assert plain.std() > 10, "the CT is not drawn"
    assert all(count(plain, c) < 20 for c in colours.values()), "grey only"
    parts = shot("parts")
    for name in ("red", "yellow", "green"):                        # part_1, part_2, part_3
        assert count(parts, colours[name]) > 50, f"{name} labels are not drawn"
    whole = shot("whole")
    assert count(whole, colours["blue"]) > 50, "the whole-bone labels are not drawn"
    prob = shot("parts: part_2 (p)")
    added = prob - plain                            # additive: what the layer adds to the CT
    yellow = (added[..., 0] > 100) & (added[..., 1] > 80) & (added[..., 2] < 60)
    assert yellow.sum() > 50, "the part_2 probability is not drawn in part_2's yellow"
    hidden = shot()
    assert count(hidden, colours["yellow"]) < count(parts, colours["yellow"]) / 10


THRESHOLD = '''
import torch

class Threshold(torch.nn.Module):
    """Logit x - 0.5 per pixel: decisions are image > 0.5."""

    def __init__(self, channels=1):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.fill_(-0.5)

    def forward(self, x):
        return self.conv(x)

def build():
    return Threshold()
'''


def test_what_a_new_user_hit_in_the_panel(qtbot, widget, tmp_path, monkeypatch, notes):
    """Issue 15, items 1-3 and 13 (progress): the panel's sentences and a fixed-size .pt2."""
    from PIL import Image

    from napari_segreview._napari.predict.run import run_model
    from napari_segreview.io.read import read_image

    viewer, w = widget
    (tmp_path / "segreview_threshold.py").write_text(THRESHOLD)
    monkeypatch.syspath_prepend(str(tmp_path))
    import segreview_threshold as nets

    (tmp_path / "grey.card.yaml").write_text(
        "name: grey\ninput: {channels: 1}\n"
        "heads:\n  - {name: fg, kind: sigmoid, channels: [fg]}\n")
    card = load_card(tmp_path / "grey.card.yaml")
    values = np.random.default_rng(5).uniform(0, 1, (3, 40, 44)).astype(np.float32)
    stack = np.where(np.abs(values - 0.5) < 0.05, 0.9, values)
    viewer.add_image(stack, name="stack")
    Image.fromarray(np.full((96, 128, 3), 200, np.uint8)).save(tmp_path / "photo.png")
    photo = read_image(tmp_path / "photo.png")
    viewer.add_image(photo.data, rgb=photo.rgb, name="photo")

    def attempt(image, model, factory=""):
        w.image.setCurrentText(image)
        w.model_path.setText(str(model))
        w.card_path.setText(str(tmp_path / "grey.card.yaml"))
        w.factory.setText(factory)
        return run(qtbot, w)

    # 1. An RGB picture and a grey card: the sentence segreview predict gives too.
    torch.jit.script(nets.Threshold()).save(str(tmp_path / "grey.pt"))
    assert attempt("photo", tmp_path / "grey.pt") == "error"
    assert notes["error"][-1] == (
        "the model takes 1 input channel (the card's input.channels) but the image layer "
        "'photo' is RGB: choose a grey image layer, or a card and model with input.channels: 3.")
    # 2. A torch.export program exported at 1 x 1 x 32 x 32: it runs as 32 x 32 tiles.
    program = torch.export.export(nets.Threshold().eval(), (torch.zeros(1, 1, 32, 32),))
    torch.export.save(program, tmp_path / "fixed.pt2")
    direct = run_model(stack, str(tmp_path / "fixed.pt2"), card, device="cpu")
    np.testing.assert_array_equal(direct.heads["fg"].decision[0], stack > 0.5)
    assert attempt("stack", tmp_path / "fixed.pt2") == "done", w.status.text()
    np.testing.assert_array_equal(viewer.layers[-1].data, stack > 0.5)
    # 13. Progress counts slices for a 2-D card (4 tiles per 40 x 44 slice ran).
    assert (w._job["done"], w._job["total"], w._job["unit"]) == (3, 3, "slices")
    # 3. The causes: a convolution's channel count, not a model file, the Factory field.
    torch.jit.script(nets.Threshold(channels=3)).save(str(tmp_path / "rgb.pt"))
    assert attempt("stack", tmp_path / "rgb.pt") == "error"
    assert "to have 3 channels, but got 1 channels instead" in notes["error"][-1]
    assert "TorchScript interpreter" not in notes["error"][-1]
    (tmp_path / "junk.pt").write_bytes(b"PK" + np.random.default_rng(1).bytes(3000))
    assert attempt("stack", tmp_path / "junk.pt") == "error"
    assert "so not a model file" in notes["error"][-1] and "miniz" not in notes["error"][-1]
    torch.save(nets.build().state_dict(), tmp_path / "weights.pth")
    assert attempt("stack", tmp_path / "weights.pth") == "error"
    assert "fill in Factory with package.module:function" in notes["error"][-1]
    assert attempt("stack", tmp_path / "weights.pth", "segreview_threshold:build") == "done"
    np.testing.assert_array_equal(viewer.layers[-1].data, stack > 0.5)
