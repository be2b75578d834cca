"""The inference benchmark runs end to end on a tiny stack (no timing thresholds)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_predict.py"


def load():
    spec = importlib.util.spec_from_file_location("bench_predict", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_predict_runs(capsys):
    result = load().main(["--slices", "3", "--size", "32", "--device", "cpu", "--base", "4",
                          "--batch-size", "2"])
    assert set(result["slices_per_s"]) == {"engine", "raw", "naive"}
    assert all(v > 0 for v in result["slices_per_s"].values())
    assert set(result["ratios"]) == {"engine/raw", "engine/naive"}
    assert result["agreement"] > 0.999  # the same fp32 arithmetic on the CPU
    out = capsys.readouterr().out
    assert "engine/raw" in out and "engine/naive" in out and "3 x 32 x 32" in out


def test_bench_predict_with_a_model_file(capsys):
    from napari_segreview.data import demo_model_path

    result = load().main(["--slices", "2", "--size", "64", "--device", "cpu",
                          "--model", str(demo_model_path()), "--repeat", "1"])
    assert result["agreement"] > 0.999
    assert "demo_bone.pt" in capsys.readouterr().out
