"""Review checks and QA on a CT-sized stack: time and peak memory as ratios in one run.

The review set is the demo card's: a binary ``whole`` mask and a ``parts``
label map (3 classes) ``within`` it, with planted violations, plus the kept
predictions for QA. Ours (blockwise, :mod:`napari_segreview.review.checks` /
:mod:`~napari_segreview.review.qa`) is compared with the whole-array numpy
one-liners people write (``(child & ~parent).sum()``, ``np.argwhere(...)[0]``,
``(p & c).sum(axis=(1, 2))``), which give the same numbers (checked here).
Peak memory is measured with ``tracemalloc`` (numpy allocations), as a
multiple of one uint8 volume::

    PYTHONPATH=src python benchmarks/bench_review.py                 # 500 x 512 x 512
    PYTHONPATH=src python benchmarks/bench_review.py --quick         # 64 x 256 x 256

Goal: no temporaries of volume size (ours: peak well under one uint8 volume),
at a speed comparable to the one-liners.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

try:
    import napari_segreview  # noqa: F401
except ImportError:  # running from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from napari_segreview.review.checks import Channel, Rule, check_review
from napari_segreview.review.qa import qa_table

DEFAULT_SHAPE = (500, 512, 512)
QUICK_SHAPE = (64, 256, 256)


def make_masks(shape, seed=0):
    """whole (binary) and parts (label map 0..3) per slice, with planted violations."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    y = np.linspace(-1, 1, ny, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, nx, dtype=np.float32)[None, :]
    whole = np.zeros(shape, np.uint8)
    parts = np.zeros(shape, np.uint8)
    for z in range(nz):
        r = 0.5 + 0.1 * np.sin(z / 17.0)
        disc = (x / 0.3) ** 2 + (y / r) ** 2 < 1
        whole[z] = disc
        parts[z][disc & (y < -0.2)] = 1
        parts[z][disc & (y > -0.18) & (y < 0.2)] = 2
        parts[z][disc & (y > 0.22)] = 3
    for _ in range(20):                        # parts sticking out of whole
        z, yy, xx = rng.integers(0, nz), rng.integers(0, ny - 8), rng.integers(0, 8)
        parts[z, yy:yy + 8, xx:xx + 4] = 2
    pred_whole, pred_parts = whole.copy(), parts.copy()
    whole[nz // 3, ny // 2 - 10:ny // 2 + 10, : nx // 8] = 1   # an edit to find in QA
    return whole, parts, pred_whole, pred_parts


def ours(whole, parts, pred_whole, pred_parts):
    chans = [Channel("whole", whole)] + [Channel(f"part_{k}", parts, k, "parts")
                                         for k in (1, 2, 3)]
    rules = [Rule("whole", ("part_1", "part_2", "part_3"), union=True)]
    report = check_review(chans, rules)
    rows = qa_table(chans, {"whole": pred_whole, "parts": pred_parts})
    out = {(f.kind, f.channels[0]): (f.count, f.first_index) for f in report.findings}
    qa = {q.name: (q.added, q.removed, q.slice_added.tolist()) for q in rows}
    return out, qa


def reference(whole, parts, pred_whole, pred_parts):
    """Whole-array numpy: what people write without thinking about memory."""
    out = {}
    w = whole != 0
    for k in (1, 2, 3):
        bad = (parts == k) & ~w
        if bad.any():
            out[("outside_parent", f"part_{k}")] = (
                int(bad.sum()), tuple(int(v) for v in np.argwhere(bad)[0]))
    gap = w & (parts == 0)
    if gap.any():
        out[("parent_not_union", "whole")] = (int(gap.sum()),
                                              tuple(int(v) for v in np.argwhere(gap)[0]))
    qa = {}
    for name, now, pred in [("whole", w, pred_whole != 0)] + [
            (f"part_{k}", parts == k, pred_parts == k) for k in (1, 2, 3)]:
        both = now & pred
        added = now.sum(axis=(1, 2)) - both.sum(axis=(1, 2))
        removed = pred.sum(axis=(1, 2)) - both.sum(axis=(1, 2))
        qa[name] = (int(added.sum()), int(removed.sum()), added.tolist())
    return out, qa


def measure(fn, args, repeat):
    best, peak, result = float("inf"), 0, None
    for _ in range(repeat):
        gc.collect()
        tracemalloc.start()
        t = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - t)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return best, peak, result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", type=int, nargs=3, default=None)
    p.add_argument("--quick", action="store_true", help=f"shape {QUICK_SHAPE}")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args(argv)
    shape = tuple(args.shape) if args.shape else (QUICK_SHAPE if args.quick else DEFAULT_SHAPE)
    data = make_masks(shape)
    vol = float(np.prod(shape))
    print(f"review checks + QA, {' x '.join(map(str, shape))} voxels, "
          f"{os.cpu_count()} cores, numpy {np.__version__}, {platform.machine()}")
    t_ours, m_ours, r_ours = measure(ours, data, args.repeat)
    t_ref, m_ref, r_ref = measure(reference, data, args.repeat)
    equal = r_ours == r_ref
    rows = [{"what": "ours (blockwise)", "s": t_ours, "peak_volumes": m_ours / vol},
            {"what": "numpy one-liners", "s": t_ref, "peak_volumes": m_ref / vol}]
    for r in rows:
        print(f"  {r['what']:<18} {r['s']:8.3f} s   peak extra memory "
              f"{r['peak_volumes']:6.2f} x one uint8 volume")
    print(f"  time ours / reference = {t_ours / t_ref:.2f}; peak memory reference / ours = "
          f"{m_ref / max(m_ours, 1):.0f}x; same numbers: {equal}")
    return {"rows": rows, "equal": equal, "time_ratio": t_ours / t_ref}


if __name__ == "__main__":
    main()
