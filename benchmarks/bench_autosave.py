"""Autosave overhead while painting: ratios measured in one run, napari as the reference.

On a 500 x 512 x 512 uint8 Labels layer (the issue's 512 x 512 x 500 stack)
the script times, interleaved in one process:

- ``paint``: napari's own ``layer.paint`` call (brush 20, 2-D), no session;
- ``paint+session``: the same calls on a layer bound to a session (napari's
  paint plus our ``paint`` event hook);
- ``hook``: our hook alone (marking the touched chunks from the event), on
  the history atoms napari emitted;
- ``tick``: the main-thread part of one autosave (copying the dirty chunks
  of 20 strokes and handing them to the writer thread).

It prints the hook's cost as a fraction of a paint call, and one autosave
tick in paint calls. Needs a display (napari): run under xvfb-run::

    xvfb-run -a python benchmarks/bench_autosave.py           # 500 x 512 x 512
    xvfb-run -a python benchmarks/bench_autosave.py --quick   # 64 x 256 x 256

Goal: hook / paint <= 0.05 (painting never stalls on the session).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import napari_segreview  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _coords(n, shape, seed):
    rng = np.random.default_rng(seed)
    return [tuple(int(rng.integers(0, s)) for s in shape) for _ in range(n)]


def _time_paints(layer, coords, label):
    times = []
    for c in coords:
        t = time.perf_counter()
        layer.paint(c, label)
        times.append(time.perf_counter() - t)
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="64 x 256 x 256 instead")
    p.add_argument("--strokes", type=int, default=300, help="paint calls per variant")
    args = p.parse_args(argv)
    shape = (64, 256, 256) if args.quick else (500, 512, 512)

    import napari

    from napari_segreview._napari.session.reader import create_session

    viewer = napari.Viewer(show=False)
    plain = viewer.add_labels(np.zeros(shape, np.uint8), name="plain")
    bound = viewer.add_labels(np.zeros(shape, np.uint8), name="bound",
                              metadata={"segreview": {"kind": "mask"}})
    for layer in (plain, bound):
        layer.brush_size = 20
        layer.n_edit_dimensions = 2
    folder = Path(tempfile.mkdtemp()) / "bench.segreview"
    ctl = create_session(viewer, folder, None, interval_s=3600)  # ticks run by hand
    ctl.flush_sync()
    lid = ctl.layer_id(bound)
    atoms = []
    bound.events.paint.connect(lambda e: atoms.append(e.value))

    t_plain, t_bound = [], []
    n = args.strokes
    for i in range(0, n, 20):  # interleave the variants, 20 calls at a time
        t_plain += _time_paints(plain, _coords(20, shape, i), 1 + i % 5)
        t_bound += _time_paints(bound, _coords(20, shape, i), 1 + i % 5)
        ctl.flush_sync()  # keep the dirty set like a running autosave does

    t_hook = []
    for value in atoms:
        t = time.perf_counter()
        ctl.dirty.mark(lid, value)
        ctl.dirty.unsaved += 1
        t_hook.append(time.perf_counter() - t)
    ctl.flush_sync()

    t_tick, n_chunks = [], []
    for i in range(10):
        _time_paints(bound, _coords(20, shape, 10_000 + i), 2)
        n_chunks.append(len(ctl.dirty.dirty[lid]))
        t = time.perf_counter()
        ctl.flush()
        t_tick.append(time.perf_counter() - t)
        ctl.flush_sync()

    med = statistics.median
    paint, paint_s, hook, tick = med(t_plain), med(t_bound), med(t_hook), med(t_tick)
    print(f"layer {shape} uint8, chunks {ctl.dirty.geom[lid][0]}, {n} paint calls per variant")
    print(f"napari paint (no session)     median {paint * 1e3:8.3f} ms   (reference)")
    print(f"napari paint (with session)   median {paint_s * 1e3:8.3f} ms   "
          f"ratio {paint_s / paint:6.3f}")
    print(f"our paint-event hook alone    median {hook * 1e3:8.3f} ms   "
          f"hook / paint {hook / paint:6.4f}")
    print(f"autosave tick, main thread    median {tick * 1e3:8.3f} ms   "
          f"= {tick / paint:5.1f} paint calls ({med(n_chunks):.0f} dirty chunks of 20 strokes)")
    ctl.on_window_close()
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
