"""The benchmark script runs end to end on a tiny shape (no timing thresholds)."""

import importlib.util
from pathlib import Path

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
