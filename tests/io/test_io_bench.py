"""The I/O benchmark script runs end to end on small stacks (no timing thresholds)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_io.py"


def test_bench_io_runs(capsys, tmp_path):
    spec = importlib.util.spec_from_file_location("bench_io", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--mib", "4", "--repeat", "1", "--dir", str(tmp_path)])
    assert [r["kind"] for r in rows] == ["memmap", "Array"]        # memmap, then dask
    assert all(r["equal"] for r in rows)
    assert rows[0]["spacing"] == (1.25, 0.7, 0.7)
    out = capsys.readouterr().out
    assert "imread/(open+slice)" in out and "MISMATCH" not in out
    assert list(tmp_path.iterdir()) == []                          # stacks removed
