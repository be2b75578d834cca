"""The Fine-tune panel running the real ``segreview train`` on a tiny export.

The export is written in the fixture by the real export code (``segreview
export``) from phantom cases as a new scanner sees them (400 HU higher), so
the demo model has something to learn. The table's "before" and "after"
columns are checked against Dice computed here: the base model and the new
one predict the held-out case (``inference.predict``, as the Predict panel
does) and numpy compares their decisions with the exported targets.
"""

import numpy as np
import pytest

from napari_segreview.card.spec import load_card
from napari_segreview.cli import main
from napari_segreview.data import demo_card_path, demo_model_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.io.arrayfiles import ArrayMeta, write_array

pytestmark = [pytest.mark.gui, pytest.mark.slow]
SHAPE = (2, 32, 32)
CLASSES = ("background", "part_1", "part_2", "part_3")


def shifted(image):
    return (image.astype(np.int32) + 400).astype(np.int16)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    d = tmp_path_factory.mktemp("finetune")
    cases = {}
    for seed in (1, 2, 3):
        ph = make_ct_phantom(SHAPE, seed=seed)
        c = d / f"scan_{seed}"
        c.mkdir()
        write_array(c / "ct.tif", shifted(ph.image), ArrayMeta(spacing=ph.spacing))
        write_array(c / "whole.tif", ph.masks[:1], ArrayMeta("multihot", ("whole",)))
        write_array(c / "parts.tif", ph.parts, ArrayMeta("labels", CLASSES))
        assert main(["export", str(c / "ct.tif"), "--card", str(demo_card_path()),
                     "--target", f"whole={c}/whole.tif", "--target", f"parts={c}/parts.tif",
                     "-o", str(d / "export"), "--case", f"case_{seed}"]) == 0
        cases[f"case_{seed}"] = (shifted(ph.image), ph.masks[0], ph.parts)
    return d / "export", cases


@pytest.fixture
def panel(make_napari_viewer, tmp_path, export):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Fine-tune")
    models = tmp_path / "models"
    models.mkdir()
    (models / "demo.pt").write_bytes(demo_model_path().read_bytes())
    (models / "demo.card.yaml").write_bytes(demo_card_path().read_bytes())
    w.source.setText(str(export[0]))
    w.model_path.setText(str(models / "demo.pt"))
    w.card_path.setText("")
    w.factory.setText("")
    w.set_device("cpu")
    yield w, models, export[1]
    w.shutdown()


def dice(a, b):
    a, b = a.astype(bool), b.astype(bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2 * np.sum(a & b) / total


def held_out_dice(model_path, image, whole, parts):
    from napari_segreview.inference.models import load_model
    from napari_segreview.inference.predict import predict

    card = load_card(demo_card_path())
    p = predict(image, load_model(model_path, device="cpu"), card, device="cpu")
    out = {"whole": dice(p.heads["whole"].decision[0], whole)}
    for i in (1, 2, 3):
        out[CLASSES[i]] = dice(p.heads["parts"].decision == i, parts == i)
    return out


def test_a_tiny_finetune_shows_dice_before_and_after(panel, qtbot):
    w, models, cases = panel
    assert w.list_cases() == ["case_1", "case_2", "case_3"]
    w.set_held_out(["case_3"])
    w.steps.setValue(3)
    with qtbot.waitSignal(w.run_finished, timeout=300_000) as sig:
        w.start()
    assert sig.args == ["done"], w.status.text()
    new = models / "demo_v2.pt"
    assert new.is_file() and (models / "demo_v2.card.yaml").is_file()
    assert w.result["model"] == str(new)
    before = held_out_dice(models / "demo.pt", *cases["case_3"])
    after = held_out_dice(new, *cases["case_3"])
    rows = {r[0]: r[1:3] for r in w.results.rows()}
    for name in ("whole", "part_1", "part_2", "part_3"):
        assert rows[name] == (f"{before[name]:.3f}", f"{after[name]:.3f}"), name
        assert rows[f"case_3: {name}"] == rows[name]
    assert rows["mean"] == (f"{np.mean(list(before.values())):.3f}",
                            f"{np.mean(list(after.values())):.3f}")
    assert w.plot.steps[-1] == 3 and w.plot.evals[0]["step"] == 0
    assert (w.adopt.currentIndex() == 1) == bool(w.result["worse"])
    assert w.verdict.text().startswith("WORSE" if w.result["worse"] else "Better")


def test_cancel_kills_the_trainer_and_nothing_is_written(panel, qtbot):
    w, models, _cases = panel
    listing = sorted(p.name for p in models.iterdir())
    w.steps.setValue(10_000)
    with qtbot.waitSignal(w.run_finished, timeout=300_000) as sig:
        w.start()
        qtbot.waitUntil(lambda: bool(w.plot.steps) or not w.running, timeout=240_000)
        w.cancel()
    assert sig.args == ["cancelled"], w.status.text()
    assert sorted(p.name for p in models.iterdir()) == listing       # no model, no temp file
    assert w.result is None and not w.use_button.isEnabled()
