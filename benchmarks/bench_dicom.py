"""DICOM as PACS sends it: share of a corpus read equal to pydicom, and time vs a pydicom loop.

Builds a corpus in a temporary folder: CT series written with pydicom in every
transfer syntax it (and its encoder plugins) can write (explicit and implicit
VR little endian, explicit big endian, deflated, RLE, JPEG-LS lossless, JPEG
2000 lossless), signed, unsigned and fractional-slope variants, enhanced
(multi-frame) CT files with per-frame rescale in several syntaxes, and every
image file pydicom itself ships (``pydicom.data``). Each item is read with
``read_dicom`` and compared with pydicom's own reading computed here:
``pixel_array * RescaleSlope + RescaleIntercept`` per file (per frame from the
functional groups), slices sorted along the slice normal. Printed per transfer
syntax and single/multi-frame: items, equal, and items pydicom itself cannot
decode (left out of the share).

Then times, on a warm page cache, reading a series of ``--slices`` slices
(512 x 512) eagerly with ``read_dicom`` against a plain loop
``dcmread(f).pixel_array * slope + intercept`` stacked in file order (the
reference; goal: ratio <= 1.2), for uncompressed and compressed syntaxes, and
the lazy open (header scan, then a dask array) with its first slice::

    PYTHONPATH=src python benchmarks/bench_dicom.py            # 120 slices of 512 x 512
    PYTHONPATH=src python benchmarks/bench_dicom.py --quick    # small, for a smoke test
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

try:
    import napari_segreview  # noqa: F401
except ImportError:  # running from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pydicom
from pydicom import uid

from dicom_samples import transcode, write_enhanced_ct
from io_samples import ct_volume, write_ct_series
from napari_segreview.io.dicom import read_dicom

SYNTAXES = [uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, uid.ExplicitVRBigEndian,
            uid.DeflatedExplicitVRLittleEndian, uid.RLELossless, uid.JPEGLSLossless,
            uid.JPEG2000Lossless]


def _fg(ds, k, seq, kw):
    for group in (ds.get("PerFrameFunctionalGroupsSequence"),
                  ds.get("SharedFunctionalGroupsSequence")):
        if not group:
            continue
        item = group[k] if group is ds.get("PerFrameFunctionalGroupsSequence") else group[0]
        if seq in item and kw in item[seq][0]:
            return item[seq][0][kw].value
    return None


def reference(files: list[Path]) -> np.ndarray:
    """pydicom's reading of a series or a multi-frame file, slices along the normal."""
    frames = []
    for f in files:
        ds = pydicom.dcmread(f)
        arr = ds.pixel_array.astype(np.float64)
        n = int(ds.get("NumberOfFrames", 1) or 1)
        grey = int(ds.get("SamplesPerPixel", 1)) == 1
        if n == 1:
            arr = arr[None]
        for k in range(n):
            slope = _fg(ds, k, "PixelValueTransformationSequence", "RescaleSlope")
            icept = _fg(ds, k, "PixelValueTransformationSequence", "RescaleIntercept")
            slope = float(ds.get("RescaleSlope", 1) if slope is None else slope)
            icept = float(ds.get("RescaleIntercept", 0) if icept is None else icept)
            pos = _fg(ds, k, "PlanePositionSequence", "ImagePositionPatient")
            ori = _fg(ds, k, "PlaneOrientationSequence", "ImageOrientationPatient")
            pos = ds.get("ImagePositionPatient") if pos is None else pos
            ori = ds.get("ImageOrientationPatient") if ori is None else ori
            key = float(k)
            if pos is not None and ori is not None:
                o = np.asarray(ori, float)
                normal = np.cross(o[:3], o[3:])
                key = float(np.dot(np.asarray(pos, float), normal))
                if n > 1 and "GridFrameOffsetVector" in ds:
                    key += float(ds.GridFrameOffsetVector[k])
            value = arr[k] * slope + icept if grey else arr[k]
            frames.append((key, value))
    frames.sort(key=lambda t: t[0])
    out = np.stack([v for _, v in frames])
    return out[0] if len(out) == 1 else out


def build_corpus(root: Path, quick: bool) -> list[tuple[str, str, Path, list[Path]]]:
    """(syntax name, "single"/"multi", path to read, files) for every item."""
    items = []
    plane = (32, 32) if quick else (64, 64)
    z = 3 if quick else 6
    variants = {"signed": (ct_volume((z, *plane), seed=1), 1.0, -1024.0),
                "slope 0.5": (np.random.default_rng(2).integers(0, 4000, (z, *plane)) * 0.5
                              - 1000.0, 0.5, -1000.0),
                "unsigned": (np.random.default_rng(3).integers(0, 60000, (z, *plane)),
                             1.0, 0.0)}
    for syntax in SYNTAXES:
        for name, (values, slope, icept) in variants.items():
            folder = root / f"{syntax.name[:20]}-{name}".replace(" ", "_")
            try:
                paths = write_ct_series(folder, values, slope=slope, intercept=icept)
                if syntax != uid.ExplicitVRLittleEndian:
                    transcode(paths, syntax)
            except Exception as exc:  # an encoder this pydicom lacks
                print(f"  (not written: {syntax.name} {name}: {type(exc).__name__})")
                shutil.rmtree(folder, ignore_errors=True)
                continue
            items.append((syntax.name, "single", folder, paths))
        for shared in (False, True):
            path = root / f"enhanced-{syntax.name[:20]}-{shared}.dcm".replace(" ", "_")
            hu = (ct_volume((z + 2, *plane), seed=4) // 2 * 2).astype(np.int16)
            try:
                native = syntax in (uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian,
                                    uid.ExplicitVRBigEndian,
                                    uid.DeflatedExplicitVRLittleEndian)
                write_enhanced_ct(path, hu, shared_rescale=shared,
                                  syntax=None if native else syntax)
                if native and syntax != uid.ExplicitVRLittleEndian:
                    transcode([path], syntax)
            except Exception as exc:
                print(f"  (not written: enhanced {syntax.name}: {type(exc).__name__})")
                continue
            items.append((syntax.name, "multi", path, [path]))
    from pydicom.data import get_testdata_files

    shipped = root / "pydicom-data"      # one folder each: several share a series UID
    for src in sorted(get_testdata_files("*.dcm")):
        try:
            ds = pydicom.dcmread(src, stop_before_pixels=True)
            ts = ds.file_meta.TransferSyntaxUID
            if "Rows" not in ds or str(ds.get("SOPClassUID", "")).endswith("66.4"):
                continue
        except Exception:
            continue
        dest = shipped / Path(src).stem / Path(src).name
        dest.parent.mkdir(parents=True)
        shutil.copy(src, dest)
        frames = int(ds.get("NumberOfFrames", 1) or 1) if str(ds.get("NumberOfFrames", "1")
                                                               ).isdigit() else 1
        items.append((ts.name, "multi" if frames > 1 else "single", dest, [dest]))
    return items


def check(items) -> dict:
    table: dict = defaultdict(lambda: [0, 0, 0, []])   # items, equal, pydicom fails, misses
    for syntax, kind, path, files in items:
        row = table[(syntax, kind)]
        row[0] += 1
        try:
            ref = reference(files)
        except Exception:
            row[2] += 1
            continue
        try:
            images = read_dicom(path, lazy=False)
            got = np.asarray(images[0].data, np.float64)
            if got.shape == ref.shape and np.array_equal(got, ref):
                row[1] += 1
            else:
                row[3].append(f"{path.name}: {got.shape} vs {ref.shape}")
        except Exception as exc:
            row[3].append(f"{path.name}: {type(exc).__name__}: {str(exc)[:90]}")
    return table


def plain_loop(files: list[Path]) -> np.ndarray:
    out = []
    for f in files:
        ds = pydicom.dcmread(f)
        out.append(ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
    return np.stack(out)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def timing(root: Path, slices: int, plane: tuple[int, int], repeat: int) -> list[tuple]:
    rows = []
    from bench_io import ct_slice

    hu = np.stack([ct_slice(k, plane) for k in range(slices)])
    for syntax in (uid.ExplicitVRLittleEndian, uid.RLELossless, uid.JPEGLSLossless,
                   uid.JPEG2000Lossless):
        folder = root / f"time-{syntax.name[:12]}".replace(" ", "_")
        try:
            paths = write_ct_series(folder, hu)
            if syntax != uid.ExplicitVRLittleEndian:
                transcode(paths, syntax)
        except Exception as exc:
            print(f"  (no timing for {syntax.name}: {type(exc).__name__})")
            continue
        files = sorted(paths)
        plain_loop(files)                                  # warm the page cache
        t_ref = best(lambda files=files: plain_loop(files), repeat)
        t_ours = best(lambda folder=folder: read_dicom(folder, lazy=False), repeat)
        t_open = best(lambda folder=folder: read_dicom(folder, lazy=True), repeat)
        (lazy,) = read_dicom(folder, lazy=True)
        t_first = best(lambda lazy=lazy: np.asarray(lazy.data.data[slices // 2]
                                                    if hasattr(lazy.data, "data") else
                                                    lazy.data[slices // 2]), repeat)
        rows.append((syntax.name, t_ref, t_ours, t_open, t_first))
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small corpus and series")
    parser.add_argument("--slices", type=int, default=120, help="slices of the timed series")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big", type=int, default=0,
                        help="also time opening a series of this many slices as napari does "
                             "(lazily: header scan, then one slice)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    slices, plane = (6, (64, 64)) if args.quick else (args.slices, (512, 512))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    print(f"python {platform.python_version()}, pydicom {pydicom.__version__}, "
          f"{os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        items = build_corpus(root / "corpus", args.quick)
        table = check(items)
        print("\nread equal to pydicom (pixel_array * slope + intercept), per syntax:")
        print(f"{'transfer syntax':58} {'kind':6} {'items':>5} {'equal':>5} {'pydicom':>7}")
        total = [0, 0, 0]
        for (syntax, kind), (n, eq, fails, misses) in sorted(table.items()):
            print(f"{syntax[:58]:58} {kind:6} {n:5d} {eq:5d} {fails:7d}")
            for m in misses:
                print(f"    differs: {m}")
            total = [total[0] + n, total[1] + eq, total[2] + fails]
        share = total[1] / max(total[0] - total[2], 1)
        print(f"all: {total[1]} of {total[0] - total[2]} items pydicom decodes read equal "
              f"({share:.1%}); {total[2]} that pydicom itself cannot decode left out")
        rows = timing(root / "timing", slices, plane, args.repeat)
        big = open_big(root / "big", args.big, plane) if args.big else None
    print(f"\nreading {slices} slices of {plane[0]} x {plane[1]} (best of {args.repeat}):")
    print(f"{'transfer syntax':44} {'pydicom loop':>12} {'read_dicom':>10} {'ratio':>6} "
          f"{'lazy open':>9} {'1st slice':>9}")
    for name, ref, ours, open_, first in rows:
        print(f"{name[:44]:44} {ref:11.3f}s {ours:9.3f}s {ours / ref:6.2f} {open_:8.3f}s "
              f"{first * 1000:7.1f}ms")
    if big:
        print(f"\nopening {args.big} slices of {plane[0]} x {plane[1]} as napari does "
              f"(read_image: lazy above 128 MiB): {big[0]:.2f}s, then a slice {big[1] * 1000:.0f}"
              f" ms; plain pydicom loop over all: {big[2]:.2f}s")
    return {"table": dict(table), "timing": rows, "share": share, "big": big}


def open_big(folder: Path, slices: int, plane: tuple[int, int]) -> tuple[float, float, float]:
    from bench_io import ct_slice

    from napari_segreview.io.read import read_image

    base = ct_slice(0, plane)
    paths = write_ct_series(folder, np.stack([base + (k % 7) for k in range(slices)]))
    files = sorted(paths)
    t_ref = best(lambda: plain_loop(files), 1)           # also warms the page cache
    t = time.perf_counter()
    img = read_image(folder)
    t_open = time.perf_counter() - t
    t = time.perf_counter()
    np.asarray(img.data[slices // 2])
    return t_open, time.perf_counter() - t, t_ref


if __name__ == "__main__":
    main()
