"""Throughput of ``segreview dataset predict`` on a LocalCluster against a loop in one process.

On the same cases (default 16 CT phantoms of 32 x 256 x 256, written as TIFF
files) and the demo model, the script times, in one run:

(a) **loop**: one process reading each case, calling
    :func:`napari_segreview.inference.predict.predict` and writing its files
    (what a user's own script does, torch with all the cores);
(b) **dataset, 1 worker** and (c) **dataset, 2 workers**:
    :func:`napari_segreview.dataset.engine.predict_dataset` with a LocalCluster
    of worker processes (torch threads = cores // workers), the manifest,
    uncertainty scores and atomic case folders included.

It prints cases/s for each, the throughput ratios dataset/loop (goal >= 0.9
with one worker), with and without the cluster's start-up, and the overhead
per case as a share of the model's time (goal <= 5%): in the task (reading,
writing, waiting for the model) and outside it (scheduling, the manifest),
from the per-case timings the workers send back. Compare ratios, never
absolute times; on a loaded machine the figures are noisy::

    python benchmarks/bench_dataset.py            # 16 cases of 32 x 256 x 256
    python benchmarks/bench_dataset.py --quick    # 4 cases of 8 x 128 x 128 (smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

try:
    import napari_segreview  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from napari_segreview.card.fit import fit_input
from napari_segreview.card.spec import load_card
from napari_segreview.data import demo_card_path, demo_model_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.dataset.engine import predict_dataset
from napari_segreview.dataset.worker import prediction_files
from napari_segreview.inference.models import load_model, select_device
from napari_segreview.inference.predict import predict
from napari_segreview.io.arrayfiles import write_array
from napari_segreview.io.read import read_image


def write_cases(folder: Path, n: int, shape: tuple[int, int, int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"ct_{i:02d}.tif"
        tifffile.imwrite(path, make_ct_phantom(shape, seed=i).image, photometric="minisblack")
        paths.append(path)
    return paths


def run_loop(paths: list[Path], out: Path, batch_size: int) -> dict[str, float]:
    """Read, predict, write each case in this process; seconds in total and in predict()."""
    card = load_card(demo_card_path())
    device = select_device("cpu")
    t0 = time.perf_counter()
    model = load_model(demo_model_path(), device=device)
    in_model = 0.0
    for path in paths:
        loaded = read_image(path)
        image = np.asarray(fit_input(loaded.data, loaded.rgb, card, path.name, noun="image"))
        t = time.perf_counter()
        pred = predict(image, model, card, device=device, batch_size=batch_size)
        in_model += time.perf_counter() - t
        dest = out / path.stem
        dest.mkdir(parents=True)
        spacing = loaded.spacing if loaded.calibrated else None
        for name, array, meta in prediction_files(pred, spacing, "tif"):
            write_array(dest / name, array, meta)
    return {"seconds": time.perf_counter() - t0, "model": in_model}


def run_dataset(paths: list[Path], out: Path, workers: int, batch_size: int) -> dict:
    marks: dict[str, float] = {}

    def progress(p):
        marks.setdefault("first", time.perf_counter())  # tasks submitted, cluster up
        if p.remaining == 0:
            marks["last"] = time.perf_counter()  # before the cluster closes

    t0 = time.perf_counter()
    result = predict_dataset(paths, out, demo_model_path(), workers=workers, device="cpu",
                             batch_size=batch_size, progress=progress)
    total = time.perf_counter() - t0
    recs = [r for r in result.records if r["status"] == "predicted"]
    sec = {k: float(np.mean([r["seconds"][k] for r in recs]))
           for k in ("read", "load", "wait", "predict", "write", "total")}
    return {"seconds": total, "steady": marks["last"] - marks["first"], "per_case": sec,
            "cases": len(recs), "workers": workers}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=16)
    ap.add_argument("--shape", type=int, nargs=3, default=(32, 256, 256), metavar=("Z", "Y", "X"))
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="4 cases of 8 x 128 x 128")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    if args.quick:
        args.cases, args.shape = 4, (8, 128, 128)
    shape = tuple(args.shape)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_cases(root / "scans", args.cases, shape)
        loop = run_loop(paths, root / "loop", args.batch_size)
        runs = [run_dataset(paths, root / f"study_{w}", w, args.batch_size)
                for w in (1, 2)]
    n = args.cases
    print(f"{n} cases of {' x '.join(map(str, shape))}, demo model, CPU, {cores} cores")
    print(f"  loop in one process : {n / loop['seconds']:6.3f} cases/s "
          f"({loop['seconds']:.1f} s, {loop['model'] / n:.2f} s/case in predict())")
    figures = {"cases": n, "shape": list(shape), "cores": cores, "loop": loop, "runs": runs}
    for r in runs:
        pc = r["per_case"]
        task_over = (pc["read"] + pc["wait"] + pc["write"]) / pc["predict"]
        outside = (r["steady"] * r["workers"] / n - pc["total"]) / pc["predict"]
        r["ratio"] = loop["seconds"] / r["seconds"]
        r["ratio_steady"] = loop["seconds"] / r["steady"]
        r["overhead_task"], r["overhead_outside"] = task_over, outside
        print(f"  dataset, {r['workers']} worker{'s' if r['workers'] > 1 else ' '}  : "
              f"{n / r['seconds']:6.3f} cases/s ({r['seconds']:.1f} s, "
              f"{r['seconds'] - r['steady']:.1f} s of it starting and closing the cluster)")
        print(f"      throughput ratio dataset/loop: {r['ratio']:.2f} "
              f"(cases only, without start and close {r['ratio_steady']:.2f}; "
              "goal >= 0.9 with 1 worker)")
        print(f"      overhead per case / model time: in the task {100 * task_over:.1f}% "
              f"(read {pc['read']:.3f} s, write {pc['write']:.3f} s, model load "
              f"{pc['load']:.3f} s avg), scheduling and manifest {100 * outside:.1f}% "
              "(goal <= 5%)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
