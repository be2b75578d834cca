"""``segreview dataset predict|status|export``: exit codes, messages, Ctrl-C and resume."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile

from napari_segreview.cli.main import main
from napari_segreview.data import demo_card_path, demo_model_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.dataset import cluster as cluster_mod
from napari_segreview.dataset.manifest import DATASET_FILE, Manifest
from napari_segreview.io.arrayfiles import read_array


def make_cases(folder, n, shape=(2, 32, 32)):
    folder.mkdir()
    for i in range(n):
        image = make_ct_phantom(shape, seed=200 + i).image
        tifffile.imwrite(folder / f"ct_{i}.tif", image, photometric="minisblack")
    return folder


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model" / "bone.pt"
    path.parent.mkdir()
    shutil.copy(demo_model_path(), path)
    shutil.copy(demo_card_path(), path.with_name("bone.card.yaml"))
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_one_sentence_exit_2_nothing_written(
        tmp_path, model, capsys, monkeypatch):
    monkeypatch.setattr(cluster_mod, "CONNECT_TIMEOUT", 1)
    cases = make_cases(tmp_path / "scans", 1)
    out = tmp_path / "study"
    code = main(["dataset", "predict", "--each", str(cases), "-o", str(out), "--model",
                 str(model), "--scheduler", f"tcp://127.0.0.1:{free_port()}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("segreview: error: cannot reach the scheduler")
    assert not out.exists()


def test_bad_options_exit_2(tmp_path, model, capsys):
    out = tmp_path / "study"
    assert main(["dataset", "predict", "-o", str(out), "--model", str(model)]) == 2
    assert "no cases given" in capsys.readouterr().err
    assert main(["dataset", "predict", str(tmp_path / "missing.tif"), "-o", str(out),
                 "--model", str(tmp_path / "nope.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["dataset", "predict", "x.tif", "-o", str(out), "--model", str(model),
                 "--scheduler", "tcp://a:1", "--scheduler-file", "f.json"]) == 2
    capsys.readouterr()
    # each refused before a cluster starts or anything is written
    assert main(["dataset", "predict", str(tmp_path / "missing.tif"), "-o", str(out),
                 "--model", str(model)]) == 2
    assert capsys.readouterr().err.startswith("segreview: error: found no case to predict")
    scan = make_cases(tmp_path / "scans", 1) / "ct_0.tif"
    assert main(["dataset", "predict", str(scan), "-o", str(out), "--model", str(model),
                 "--scheduler", "nonsense"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["segreview: error: nonsense is not a scheduler address (missing port "
                   "number in address 'nonsense'); give it as tcp://HOST:PORT."]
    assert main(["dataset", "predict", str(scan), "-o", str(tmp_path / "no" / "study"),
                 "--model", str(model)]) == 2
    assert "the folder" in capsys.readouterr().err
    assert main(["dataset", "predict", str(scan), "-o", str(out), "--model", str(model),
                 "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "no").exists()


def write_dataset(tmp_path):
    """A dataset written through the manifest API, as the engine and panel would leave it."""
    from napari_segreview.io.arrayfiles import ArrayMeta, write_array

    cases = make_cases(tmp_path / "scans", 3, shape=(4, 64, 64))
    from napari_segreview.card.spec import load_card

    card = load_card(demo_card_path()).to_dict()
    m = Manifest.create(tmp_path / "study", "00" * 32, card)
    for i, unc in enumerate((0.1, 0.7, 0.4)):
        c = m.add_case(cases / f"ct_{i}.tif")
        pred = m.prediction_dir(c.id)
        pred.mkdir(parents=True)
        whole = np.zeros((1, 4, 64, 64), np.uint8)
        whole[0, :, 10:30, 10:30] = 1
        parts = np.zeros((4, 64, 64), np.uint8)
        parts[:, 10:20, 10:30] = 1 + i
        write_array(pred / "whole.tif", whole, ArrayMeta("multihot", ("whole",)))
        write_array(pred / "parts.tif", parts,
                    ArrayMeta("labels", ("background", "part_1", "part_2", "part_3")))
        m.update(c.id, status="done" if i < 2 else "predicted", uncertainty=unc,
                 channel_uncertainty={"whole": unc, "parts": unc / 2})
    m.save()
    return m


def test_status_table_sorted_by_uncertainty_and_json(tmp_path, capsys):
    m = write_dataset(tmp_path)
    assert main(["dataset", "status", str(m.folder), "--sort", "uncertainty"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("2 / 3 done; 1 predicted, 2 done")
    assert [ln.split()[0] for ln in lines[2:]] == ["ct_1", "ct_2", "ct_0"]
    assert main(["dataset", "status", str(m.folder), "--json", "--status", "done"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"]["done"] == 2 and [c["id"] for c in doc["cases"]] == ["ct_0", "ct_1"]


def test_export_done_cases_become_targets(tmp_path, capsys):
    from napari_segreview.targets.export import read_export, read_statistics

    m = write_dataset(tmp_path)
    out = tmp_path / "targets"
    assert main(["dataset", "export", str(m.folder), "-o", str(out)]) == 0
    cases = {c.name: c for c in read_export(out)}
    assert sorted(cases) == ["ct_0", "ct_1"]  # only the done ones
    for name, case in cases.items():
        whole, _ = read_array(m.prediction_dir(name) / "whole.tif")
        got = {t.head: t.data for t in case.targets}
        np.testing.assert_array_equal(got["whole"], whole)
    stats = read_statistics(out)
    assert stats["cases"] == 2
    # statistics over the set: "whole" is a 20 x 20 square on 4 slices in both cases
    assert stats["heads"]["whole"]["positives"] == [2 * 4 * 400]
    assert stats["heads"]["whole"]["voxels"] == 2 * 4 * 64 * 64
    assert "exported the done cases" in capsys.readouterr().out
    assert main(["dataset", "export", str(tmp_path / "empty_study"), "-o", str(out)]) == 2


@pytest.mark.slow
def test_sigint_stops_cleanly_and_resume_runs_only_the_rest(tmp_path, model):
    cases = make_cases(tmp_path / "scans", 5, shape=(6, 32, 32))
    out = tmp_path / "study"
    cmd = [sys.executable, "-m", "napari_segreview.cli", "dataset", "predict", "--each",
           str(cases), "-o", str(out), "--model", str(model), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / DATASET_FILE).is_file() and Manifest.open(out).counts()["predicted"]:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "Resume with: segreview dataset predict -o" in stderr
    m = Manifest.open(out)
    kept = {c.id for c in m.cases if c.status == "predicted"}
    assert 0 < len(kept) < 5
    for cid in kept:
        assert sorted(p.name for p in m.prediction_dir(cid).iterdir()) == [
            "parts.tif", "whole.tif"]
    resume = [sys.executable, "-m", "napari_segreview.cli", "dataset", "predict", "-o",
              str(out), "--model", str(model), "--workers", "1"]
    done = subprocess.run(resume, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"5 cases, {len(kept)} already predicted; {5 - len(kept)} to predict" in done.stdout
    assert Manifest.open(out).counts()["predicted"] == 5
