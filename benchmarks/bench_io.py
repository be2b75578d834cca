"""Opening big TIFF stacks: lazy open vs reading the whole stack, as ratios measured in one run.

Writes a CT-like int16 stack (512 x 512 slices) once in a temporary folder,
uncompressed (opened as a memory map) and zlib-compressed (opened as a
page-wise dask array), then times, on a warm page cache:

- ``read_image(path, lazy=True)``: what the napari reader and the CLI do for
  stacks above 128 MiB (memmap or dask; below that they read the file whole);
- the first look at a slice (the middle one), as napari shows it;
- ``tifffile.imread(path)``: reading the whole stack into memory (the reference).

Ratios, never absolute times, are what to compare between machines::

    PYTHONPATH=src python benchmarks/bench_io.py               # 1 GiB uncompressed, 256 MiB zlib
    PYTHONPATH=src python benchmarks/bench_io.py --mib 4096    # a stack bigger than 1/4 of 16 GB
    PYTHONPATH=src python benchmarks/bench_io.py --quick       # 32 MiB, for a smoke test
    PYTHONPATH=src python benchmarks/bench_io.py --mib 6144 --raw-only --skip-imread
                                          # > 1/4 of RAM here: open and slice times only

Goal: opening plus showing one slice costs a small fraction of reading the stack
(``imread / (open + slice)`` >= 50 for the 1 GiB stack), so a stack larger than
a quarter of RAM opens in seconds and scrolls.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

try:
    import napari_segreview  # noqa: F401
except ImportError:  # running from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from napari_segreview.io.read import read_image

PLANE = (512, 512)


def ct_slice(k: int, plane: tuple[int, int]) -> np.ndarray:
    """A CT-like slice: air around a disc of soft tissue and a bone ring (compresses like CT)."""
    y, x = np.indices(plane)
    r = np.hypot(y - plane[0] / 2, x - plane[1] / 2)
    out = np.full(plane, -1000, np.int16)
    out[r < plane[0] * 0.4] = 40
    out[(r > plane[0] * 0.15) & (r < plane[0] * 0.2)] = 900 + k % 50
    noise = np.random.default_rng(k).normal(0, 20, plane).astype(np.int16)
    return out + noise


def write_stack(path: Path, z: int, compression: str | None) -> None:
    """Write the stack slice by slice (never the whole of it in memory)."""
    meta = {"spacing": 1.25, "unit": "mm", "axes": "ZYX"}
    if compression is None:
        out = tifffile.memmap(path, shape=(z, *PLANE), dtype=np.int16, imagej=True,
                              photometric="minisblack", resolution=(1 / 0.7, 1 / 0.7),
                              metadata=meta)
        for k in range(z):
            out[k] = ct_slice(k, PLANE)
        out.flush()
        del out
        return
    pages = (ct_slice(k, PLANE) for k in range(z))
    tifffile.imwrite(path, pages, shape=(z, *PLANE), dtype=np.int16, bigtiff=True,
                     compression=compression, photometric="minisblack")


def timed(fn, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def measure(path: Path, z: int, repeat: int, imread: bool = True) -> dict[str, Any]:
    middle = z // 2
    with open(path, "rb") as fh:  # warm the page cache, 64 MiB at a time
        while fh.read(64 * 2**20):
            pass

    t_open, img = timed(lambda: read_image(path, lazy=True), repeat)
    slice_times, one = [], None
    for _ in range(repeat):  # the first look at a slice of a freshly opened image
        fresh = read_image(path, lazy=True)
        t0 = time.perf_counter()
        one = np.array(fresh.data[middle])
        slice_times.append(time.perf_counter() - t0)
        del fresh
    t_slice = statistics.median(slice_times)
    if imread:
        t_full, full = timed(lambda: tifffile.imread(path), repeat)
        equal = bool(np.array_equal(one, full[middle]))
        del full
    else:
        t_full, equal = float("nan"), bool(np.array_equal(one, ct_slice(middle, PLANE)))
    return {"file": path.name, "mib": path.stat().st_size / 2**20, "kind": type(img.data).__name__,
            "open_s": t_open, "slice_s": t_slice, "imread_s": t_full, "equal": equal,
            "spacing": img.spacing}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mib", type=int, default=1024, help="size of the uncompressed stack")
    p.add_argument("--quick", action="store_true", help="32 MiB stacks (smoke test)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dir", help="where to write the stacks (default: a temporary folder)")
    p.add_argument("--raw-only", action="store_true", help="skip the zlib stack")
    p.add_argument("--skip-imread", action="store_true",
                   help="do not read the whole stack (for stacks near the memory size)")
    args = p.parse_args(argv)
    mib = 32 if args.quick else args.mib
    z = max(2, mib * 2**20 // (PLANE[0] * PLANE[1] * 2))
    z_zlib = max(2, z // 4)
    print(f"python {platform.python_version()}, numpy {np.__version__}, tifffile "
          f"{tifffile.__version__}, {os.cpu_count()} cores, warm page cache")
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        stacks = [("raw.tif", z, None), ("zlib.tif", z_zlib, "zlib")]
        for name, depth, comp in stacks[: 1 if args.raw_only else 2]:
            path = Path(tmp) / name
            write_stack(path, depth, comp)
            row = measure(path, depth, args.repeat, imread=not args.skip_imread)
            row["shape"] = f"{depth} x {PLANE[0]} x {PLANE[1]}"
            rows.append(row)
            path.unlink()
    print(f"{'file':9} {'stack':>17} {'MiB':>6} {'opened as':>10} {'open ms':>8} "
          f"{'slice ms':>8} {'imread ms':>9} {'imread/open':>11} {'imread/(open+slice)':>19}")
    for r in rows:
        ratio_open = r["imread_s"] / r["open_s"]
        ratio_both = r["imread_s"] / (r["open_s"] + r["slice_s"])
        r.update(ratio_open=ratio_open, ratio_both=ratio_both)
        print(f"{r['file']:9} {r['shape']:>17} {r['mib']:6.0f} {r['kind']:>10} "
              f"{r['open_s'] * 1e3:8.1f} {r['slice_s'] * 1e3:8.1f} {r['imread_s'] * 1e3:9.0f} "
              f"{ratio_open:11.0f} {ratio_both:19.0f}" + ("" if r["equal"] else "  MISMATCH"))
    return rows


if __name__ == "__main__":
    main()
