"""The Fine-tune panel against a fake trainer: a process that prints protocol lines.

The fake (written into the test's folder) speaks ``segreview train --json`` as
``docs/training-reference.md`` describes it, with the outcome the test asks
for: a better model, a worse one, an error event, a crash, or a run that
goes on until it is cancelled. What the panel does with each is checked here;
the real trainer is driven in test_finetune_train.py.
"""

import json
import os
import sys
import textwrap

import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from napari_segreview._napari.finetune.link import find_predict

pytestmark = pytest.mark.gui

FAKE = textwrap.dedent('''
    import json, os, sys, time
    mode, record, *args = sys.argv[1:]
    with open(record, "w") as fh:
        json.dump(args, fh)
    def emit(**event):
        print(json.dumps(event), flush=True)
    print("fake trainer starting", file=sys.stderr, flush=True)
    if mode == "error":
        emit(event="error", message="the export has no target for head 'parts'; export it "
             "again with the card.")
        sys.exit(2)
    if mode == "crash":
        print("RuntimeError: out of memory in the fake trainer", file=sys.stderr, flush=True)
        os._exit(3)
    channels = ["whole", "part_1"]
    emit(event="start", export=args[0], model=args[2], format="factory",
         cases=["a", "b"], held_out=["c"], channels=channels, steps=4, minutes=None,
         lr=3e-5, batch_size=2, device="cpu", seed=0)
    emit(event="warning", message="a fake warning from the trainer.")
    emit(event="eval", step=0, dice={"whole": 0.8, "part_1": 0.5}, mean_dice=0.65,
         best=True, elapsed_s=0.1)
    step = 0
    while True:
        step += 1
        emit(event="step", step=step, steps=4, loss=1.0 / step,
             losses={"whole": 0.4 / step, "parts": 0.6 / step}, lr=3e-5, elapsed_s=0.1 * step)
        if mode == "slow":
            time.sleep(0.05)
            continue
        if step == 4:
            break
    worse = None if "--no-held-out" in args else mode == "worse"
    after = {"whole": 0.7, "part_1": 0.45} if worse else {"whole": 0.9, "part_1": 0.8}
    mean = sum(after.values()) / 2
    emit(event="eval", step=4, dice=after, mean_dice=mean, best=not worse, elapsed_s=0.5)
    new = args[2].replace(".pt", "_v2.pt")
    emit(event="done", model=new, card=new.replace(".pt", ".card.yaml"),
         training_json=new + ".training.json", before={"whole": 0.8, "part_1": 0.5},
         after=after, mean_before=0.65, mean_after=mean,
         per_case={"c": {"whole": [0.8, after["whole"]], "part_1": [0.5, after["part_1"]]}},
         worse=worse, worse_channels=["whole", "part_1"] if worse else [], best_step=4,
         steps_run=4, stopped="steps", minutes=0.01)
''')


@pytest.fixture
def panel(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Fine-tune")
    (tmp_path / "fake_train.py").write_text(FAKE)
    (tmp_path / "export").mkdir()
    (tmp_path / "base.pt").write_bytes(b"weights")
    w.source.setText(str(tmp_path / "export"))
    w.model_path.setText(str(tmp_path / "base.pt"))
    w.card_path.setText("")
    w.factory.setText("pkg.mod:make")
    yield viewer, w, tmp_path
    w.shutdown()


def use(w, tmp_path, mode):
    w.process.command = [sys.executable, str(tmp_path / "fake_train.py"), mode,
                         str(tmp_path / "args.json")]


def run(qtbot, w, timeout=30000):
    with qtbot.waitSignal(w.run_finished, timeout=timeout) as sig:
        w.start()
    return sig.args[0]


def errors(viewer):
    from napari.utils.notifications import NotificationSeverity, notification_manager

    return [n.message for n in notification_manager.records
            if n.severity == NotificationSeverity.ERROR]


def test_a_better_model_is_tabled_and_preselected(panel, qtbot):
    _viewer, w, d = panel
    use(w, d, "better")
    w.steps.setValue(4)
    w.lr.setCurrentText("1e-4")
    assert run(qtbot, w) == "done"
    args = json.loads((d / "args.json").read_text())
    assert args == [str(d / "export"), "--model", str(d / "base.pt"), "--factory",
                    "pkg.mod:make", "--steps", "4", "--lr", "0.0001", "--batch-size", "4",
                    "--seed", "0", "--device", "auto", "--json"]
    rows = w.results.rows()
    assert rows[:3] == [("whole", "0.800", "0.900", "+0.100"),
                        ("part_1", "0.500", "0.800", "+0.300"),
                        ("mean", "0.650", "0.850", "+0.200")]
    assert rows[3:] == [("c: whole", "0.800", "0.900", "+0.100"),
                        ("c: part_1", "0.500", "0.800", "+0.300")]
    assert w.verdict.text().startswith("Better")
    new = str(d / "base_v2.pt")
    assert w.adopt.currentData() == (new, str(d / "base_v2.card.yaml"), "pkg.mod:make")
    assert w.plot.losses == [1.0, 0.5, 1 / 3, 0.25]
    assert [e["step"] for e in w.plot.evals] == [0, 4]
    assert w.use_button.isEnabled() and w.repredict_button.isEnabled()


def test_use_this_model_switches_the_predict_panel(panel, qtbot):
    viewer, w, d = panel
    use(w, d, "better")
    assert run(qtbot, w) == "done"
    (d / "base_v2.pt").write_bytes(b"new weights")
    (d / "base_v2.card.yaml").write_text("not read here")
    predict = w.use_model()
    assert predict is find_predict(viewer)            # docked now, found again
    assert predict.model_path.text() == str(d / "base_v2.pt")
    assert predict.card_path.text() == str(d / "base_v2.card.yaml")
    assert predict.factory.text() == "pkg.mod:make"


def test_a_worse_model_is_said_plainly_and_not_preselected(panel, qtbot):
    _viewer, w, d = panel
    use(w, d, "worse")
    assert run(qtbot, w) == "done"
    assert w.verdict.text().startswith("WORSE on the held-out cases")
    assert "whole, part_1" in w.verdict.text() and "keeps the base model" in w.verdict.text()
    assert w.adopt.currentData()[0] == str(d / "base.pt")    # the base, not base_v2.pt
    assert w.results.rows()[2] == ("mean", "0.650", "0.575", "-0.075")


@pytest.mark.parametrize("mode, words", [
    ("error", "the export has no target for head 'parts'"),
    ("crash", "RuntimeError: out of memory in the fake trainer"),
])
def test_a_failing_trainer_is_one_notification_and_napari_lives(panel, qtbot, mode, words):
    viewer, w, d = panel
    before = len(errors(viewer))
    use(w, d, mode)
    assert run(qtbot, w) == "error"
    new = errors(viewer)[before:]
    assert len(new) == 1 and words in new[0], new
    assert words in w.status.text()
    assert w.start_button.isEnabled() and not w.cancel_button.isEnabled()
    assert w.adopt.count() == 0 and not w.use_button.isEnabled()
    viewer.add_points([[1, 1]])                          # napari still works
    QApplication.processEvents()


def test_a_command_that_cannot_start_is_one_notification(panel, qtbot, tmp_path):
    viewer, w, _d = panel
    before = len(errors(viewer))
    w.process.command = [str(tmp_path / "no-such-program")]
    assert run(qtbot, w) == "error"
    assert len(errors(viewer)) == before + 1
    assert "could not be started" in w.status.text()


def test_cancel_ends_the_process(panel, qtbot):
    _viewer, w, d = panel
    use(w, d, "slow")
    with qtbot.waitSignal(w.run_finished, timeout=30000) as sig:
        w.start()
        qtbot.waitUntil(lambda: len(w.plot.steps) >= 3, timeout=20000)
        pid = w.process.pid
        w.cancel()
    assert sig.args == ["cancelled"]
    assert "nothing was written" in w.status.text()
    assert w.result is None and w.adopt.count() == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)                                  # gone (and reaped)


def test_every_field_becomes_its_option(panel, qtbot):
    _viewer, w, d = panel
    use(w, d, "better")
    w.card_path.setText(str(d / "base.card.yaml"))
    w.output.setText(str(d / "tuned.pt"))
    w.steps.setValue(7)
    w.minutes.setValue(2.5)
    w.patch.setText("64, 48")
    w.eval_every.setValue(5)
    w.freeze.setCurrentIndex(1)
    w.freeze_prefix.setText("down, up.0")
    w.batch_size.setValue(3)
    w.seed.setValue(11)
    w.set_device("cpu")
    w.no_held_out.setChecked(True)
    assert run(qtbot, w) == "done"
    assert json.loads((d / "args.json").read_text()) == [
        str(d / "export"), "--model", str(d / "base.pt"), "--card", str(d / "base.card.yaml"),
        "-o", str(d / "tuned.pt"), "--factory", "pkg.mod:make", "--steps", "7",
        "--minutes", "2.5", "--lr", "0.0001", "--batch-size", "3", "--seed", "11",
        "--device", "cpu", "--patch", "64", "48",
        "--eval-every", "5", "--freeze", "down,up.0", "--no-held-out", "--json"]
    assert w.verdict.text().startswith("No held-out comparison")
    assert w.adopt.currentData()[0] == str(d / "base.pt")     # nothing says it is better


def test_held_out_cases_come_from_the_export(panel, qtbot):
    _viewer, w, d = panel
    for name in ("b_case", "a_case", ".staging"):
        (d / "export" / name).mkdir()
        (d / "export" / name / "manifest.json").write_text("{}")
    (d / "export" / "no_manifest").mkdir()
    assert w.list_cases() == []                          # not an export yet: no marker
    (d / "export" / "segreview-export.json").write_text("{}")
    assert w.list_cases() == ["a_case", "b_case"]
    w.set_held_out(["b_case"])
    use(w, d, "better")
    assert run(qtbot, w) == "done"
    args = json.loads((d / "args.json").read_text())
    assert args[args.index("--held-out") + 1] == "b_case"


def test_bad_form_input_is_one_sentence_and_starts_nothing(panel, qtbot):
    _viewer, w, d = panel
    use(w, d, "better")
    w.steps.setValue(0)
    assert run(qtbot, w) == "error"
    assert w.status.text() == "set a budget: a number of steps, minutes, or both."
    assert not (d / "args.json").exists()
    w.steps.setValue(10)
    w.freeze.setCurrentIndex(1)
    assert run(qtbot, w) == "error"
    assert "prefixes to freeze" in w.status.text()
    w.freeze.setCurrentIndex(0)
    w.patch.setText("96 x")
    assert run(qtbot, w) == "error"
    assert "is not whole numbers of voxels" in w.status.text()
    w.patch.setText("")
    w.lr.setCurrentText("fast")
    assert run(qtbot, w) == "error"
    assert "learning rate 'fast'" in w.status.text()
    w.lr.setCurrentText("1e-4")
    (d / "export" / "only").mkdir()                     # an export of a single case
    (d / "export" / "only" / "manifest.json").write_text("{}")
    (d / "export" / "segreview-export.json").write_text("{}")
    assert w.list_cases() == ["only"] and "needs at least two" in w.cases_info.text()
    assert run(qtbot, w) == "error"
    assert "needs at least two" in w.status.text() and "Train on every case" in w.status.text()
    assert not (d / "args.json").exists()
    w.no_held_out.setChecked(True)                       # the opt-out trains on it
    assert run(qtbot, w) == "done"
    assert "--no-held-out" in json.loads((d / "args.json").read_text())


@pytest.fixture
def dataset(tmp_path):
    """A dataset of two done cases (their prediction files stand in for the corrections)."""
    from napari_segreview.card.spec import load_card
    from napari_segreview.data import demo_card_path
    from napari_segreview.data.phantom import make_ct_phantom
    from napari_segreview.dataset.manifest import Manifest
    from napari_segreview.io.arrayfiles import ArrayMeta, write_array
    from napari_segreview.io.results import head_file_name

    m = Manifest.create(tmp_path / "ds", "0" * 64, load_card(demo_card_path()).to_dict())
    for seed, name in enumerate(("ct_a", "ct_b")):
        image = make_ct_phantom((2, 32, 32), seed=seed).image
        write_array(tmp_path / f"{name}.tif", image, ArrayMeta(spacing=(2.5, 0.8, 0.8)))
        case = m.add_case(tmp_path / f"{name}.tif")
        pred = m.prediction_dir(case.id)
        pred.mkdir(parents=True)
        whole = (image > 300).astype(np.uint8)
        write_array(pred / head_file_name("whole", "tif"), whole[None], ArrayMeta())
        write_array(pred / head_file_name("parts", "tif"), whole, ArrayMeta())
        m.update(case.id, status="done")
    m.save()
    return tmp_path / "ds"


def test_a_dataset_source_exports_its_done_cases_first(panel, qtbot, dataset):
    """The real ``dataset.export.export_done`` writes the export the trainer is given."""
    from napari_segreview.targets.export import read_export

    _viewer, w, d = panel
    use(w, d, "better")
    w.source.setText(str(dataset))
    assert run(qtbot, w) == "done"
    out = json.loads((d / "args.json").read_text())[0]
    assert os.path.dirname(out) == str(dataset / "exports") and w.source.text() == out
    assert sorted(c.name for c in read_export(out)) == ["ct_a", "ct_b"]   # the done cases


def test_a_dataset_source_without_an_exporter_is_one_sentence(panel, qtbot, dataset,
                                                               monkeypatch):
    from napari_segreview._napari.finetune import widget

    _viewer, w, d = panel
    monkeypatch.setattr(widget, "dataset_exporter", lambda: None)
    use(w, d, "better")
    w.source.setText(str(dataset))
    assert run(qtbot, w) == "error"
    assert "segreview export" in w.status.text()
    assert not (d / "args.json").exists()


def test_the_model_defaults_to_the_predict_panels(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    _, predict = viewer.window.add_plugin_dock_widget("napari-segreview", "Predict")
    (tmp_path / "bone.pt").write_bytes(b"x")
    (tmp_path / "bone.card.yaml").write_text("name: x\n")
    predict.set_model(str(tmp_path / "bone.pt"))
    predict.factory.setText("pkg.mod:make")
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Fine-tune")
    assert w.model_path.text() == str(tmp_path / "bone.pt")
    assert w.card_path.text() == str(tmp_path / "bone.card.yaml")     # found beside it
    assert w.factory.text() == "pkg.mod:make"


def test_without_a_predict_panel_the_model_comes_from_the_decision_layers(make_napari_viewer,
                                                                         tmp_path):
    viewer = make_napari_viewer()
    (tmp_path / "bone.pt").write_bytes(b"x")
    (tmp_path / "bone.card.yaml").write_text("name: x\n")
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="parts", metadata={"segreview": {
        "kind": "decision", "model": str(tmp_path / "bone.pt")}})
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Fine-tune")
    assert w.model_path.text() == str(tmp_path / "bone.pt")
    assert w.card_path.text() == str(tmp_path / "bone.card.yaml")
