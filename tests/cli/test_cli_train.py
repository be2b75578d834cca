"""``segreview train`` as users and the Fine-tune panel run it: terminal, JSON lines, Cancel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from napari_segreview.cli.main import main
from napari_segreview.training.progress import parse_event
from toys import files_in, make_export, save_formats

FAST = ["--steps", "6", "--lr", "0.05", "--eval-every", "3", "--batch-size", "2",
        "--threads", "1"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_train")
    return make_export(root / "export", 3), save_formats(root / "models")


def test_terminal_run_ends_with_the_table(setup, capsys, tmp_path):
    export, models = setup
    out = tmp_path / "new.pt"
    assert main(["train", str(export), "--model", str(models["torchscript"]), "-o", str(out),
                 *FAST]) == 0
    text = capsys.readouterr().out
    assert "held-out Dice" in text and "before" in text and "after" in text
    assert "case_2:" in text and f"wrote {out}" in text
    assert out.exists() and out.with_name("new.card.yaml").exists()
    # the new model predicts like any other
    assert main(["predict", str(export / "case_2" / "image.tif"), "--model", str(out),
                 "-o", str(tmp_path / "pred"), "--device", "cpu"]) == 0
    assert (tmp_path / "pred" / "cls.tif").exists()


def test_json_lines_and_nothing_else(setup, capsys, tmp_path):
    export, models = setup
    assert main(["train", str(export), "--model", str(models["traced"]), "-o",
                 str(tmp_path / "t.pt"), "--json", *FAST]) == 0
    lines = capsys.readouterr().out.splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert "warning" in kinds and "step" in kinds and kinds.count("eval") >= 2
    done = events[-1]
    assert Path(done["model"]).exists() and Path(done["training_json"]).exists()
    assert set(done["before"]) == {"fg", "a", "b"} and isinstance(done["worse"], bool)
    assert done["per_case"]["case_2"]["fg"][1] == done["after"]["fg"]


def test_bad_input_is_one_error_event(setup, capsys, tmp_path):
    export, models = setup
    code = main(["train", str(export / "case_0"), "--model", str(models["torchscript"]),
                 "-o", str(tmp_path / "x.pt"), "--json", *FAST])
    captured = capsys.readouterr()
    assert code == 2
    (event,) = [json.loads(line) for line in captured.out.splitlines()]
    assert event["event"] == "error" and "--no-held-out" in event["message"]
    assert captured.err.startswith("segreview: error: ")
    assert not (tmp_path / "x.pt").exists()
    # on a terminal: the usual one line, exit 2
    assert main(["train", str(export), "--model", str(tmp_path / "missing.pt"), *FAST]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.slow
def test_cancel_sigterm_writes_nothing(setup, tmp_path):
    """A real ``segreview train`` process, stopped by SIGTERM as the panel's Cancel does."""
    export, models = setup
    folder = tmp_path / "models"
    folder.mkdir()
    base = folder / "base.pt"
    base.write_bytes(models["torchscript"].read_bytes())
    base.with_name("base.card.yaml").write_bytes(
        models["torchscript"].with_name("toy_script.card.yaml").read_bytes())
    before = files_in(folder)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "napari_segreview.cli", "train", str(export), "--model",
         str(base), "--json", "--steps", "100000", "--eval-every", "100000", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        for raw in proc.stdout:
            event = parse_event(raw)
            if event is not None and event["event"] == "step":
                break
        else:
            pytest.fail("no step event: " + proc.stderr.read().decode())
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    rest = [parse_event(line) for line in proc.stdout.read().splitlines()]
    assert code == 130
    assert "done" not in [e["event"] for e in rest if e]
    assert files_in(folder) == before  # no new model, card, training.json or staging folder
