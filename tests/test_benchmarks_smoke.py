"""The benchmark script runs end to end on a tiny shape (no timing thresholds)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_formats.py"


def test_bench_formats_runs(capsys):
    spec = importlib.util.spec_from_file_location("bench_formats", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--quick", "--shape", "4", "32", "32", "--repeat", "1",
                        "--classes", "3"])
    directions = {r["direction"] for r in rows}
    assert directions == {"labels -> onehot", "onehot -> labels", "labels -> multihot",
                          "multihot -> labels", "multihot -> atoms", "atoms -> multihot"}
    assert all(r["equal"] for r in rows if "ref_s" in r)
    out = capsys.readouterr().out
    assert "4 x 32 x 32" in out and "cores" in out


def _load(name):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_editing_runs(capsys):
    rows = _load("bench_editing").main(["--shape", "12", "40", "40"])
    assert all(r["equal"] for r in rows if "equal" in r)
    assert {r["k"] for r in rows if "k" in r} == {3, 5, 10}
    assert "12 x 40 x 40" in capsys.readouterr().out


def test_bench_dicom_runs(capsys):
    out = _load("bench_dicom").main(["--quick", "--repeat", "1"])
    assert out["share"] > 0.9 and out["timing"]


@pytest.mark.slow
def test_bench_dataset_runs(capsys):
    assert _load("bench_dataset").main(["--cases", "2", "--shape", "4", "64", "64"]) == 0
    out = capsys.readouterr().out
    assert "throughput ratio dataset/loop" in out and "2 workers" in out


def test_bench_dicomseg_runs(capsys):
    pytest.importorskip("highdicom")
    rows = _load("bench_dicomseg").main(["--quick"])
    assert [r["what"] for r in rows] == ["write", "read", "read beside"]
    assert "write: ours" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_finetune_runs(capsys):
    out = _load("bench_finetune").main(["--quick"])
    assert isinstance(out, dict) and out
    assert "held out" in capsys.readouterr().out
