"""Editing effects on a CT-sized mask: our time and peak memory against the library call.

On a 300 x 512 x 512 uint8 mask (a few ellipsoids, a tube and speckle; voxels
1 x 0.7 x 0.7 mm), each effect of :mod:`napari_segreview.editing` is timed
against the scipy / scikit-image call it wraps, in the same run, on the same
data (goal: ours <= 1.5x, the bookkeeping costs little), and ``edit_mask``
(the panel's and the CLI's path, which also builds the undo change) is timed
too. Peak extra memory is ``tracemalloc``'s peak (numpy allocations; scipy's
internal C buffers are not seen) as a multiple of the mask's bytes. Results are
checked equal to the reference where the reference computes the same thing.

Then fill between slices: Dice against the truth for ellipsoids and a bent tube
with key slices every k = 3, 5, 10 (ITK's MorphologicalContourInterpolator too
when ``itk`` happens to be importable; it is not a dependency)::

    PYTHONPATH=src python benchmarks/bench_editing.py            # 300 x 512 x 512
    PYTHONPATH=src python benchmarks/bench_editing.py --quick    # 48 x 128 x 128
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
from scipy import ndimage as ndi

try:
    import napari_segreview  # noqa: F401
except ImportError:  # running from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from skimage import morphology

from napari_segreview.editing.holes import fill_holes
from napari_segreview.editing.interpolate import interpolate_slices
from napari_segreview.editing.islands import keep_largest, remove_small
from napari_segreview.editing.logic import logical
from napari_segreview.editing.margin import grow, shrink
from napari_segreview.editing.region import edit_mask
from napari_segreview.editing.smooth import smooth

DEFAULT_SHAPE = (300, 512, 512)
QUICK_SHAPE = (48, 128, 128)
SPACING = (1.0, 0.7, 0.7)


def ellipsoid(shape, centre, radii, spacing=(1.0, 1.0, 1.0)):
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    total = sum((((g - c) * s) / r) ** 2
                for g, c, r, s in zip(grids, centre, radii, spacing, strict=True))
    return total <= 1.0


def bent_tube(shape, radius, amplitude):
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    phase = 2 * np.pi * z / shape[0]
    cy = shape[1] / 2 + amplitude * np.sin(phase)
    cx = shape[2] / 2 + amplitude * (np.cos(phase) - 1) / 2
    return (y - cy) ** 2 + (x - cx) ** 2 <= radius ** 2


def branching(shape, radius):
    """One tube for the first half of the slices, then two that part (a split)."""
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    half = shape[0] / 2
    off = np.clip(z - half, 0, None) / half * shape[2] * 0.3
    cy, cx = shape[1] / 2, shape[2] / 2
    left = (y - cy) ** 2 + (x - cx + off) ** 2 <= radius ** 2
    right = (y - cy) ** 2 + (x - cx - off) ** 2 <= radius ** 2
    return left | right


def make_mask(shape, seed=0):
    """Bone-like blobs with holes, a tube and speckle (about 10 % of the voxels)."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    m = np.zeros(shape, bool)
    for cz, cy, cx, rz, ry, rx in [(0.5, 0.35, 0.3, 0.4, 0.2, 0.15),
                                   (0.5, 0.65, 0.7, 0.3, 0.15, 0.2),
                                   (0.3, 0.7, 0.3, 0.15, 0.1, 0.1)]:
        e = ellipsoid(shape, (cz * nz, cy * ny, cx * nx),
                      (rz * nz * SPACING[0], ry * ny * SPACING[1], rx * nx * SPACING[2]), SPACING)
        m |= e
        inner = ellipsoid(shape, (cz * nz, cy * ny, cx * nx),
                          (rz * nz * 0.5, ry * ny * 0.35, rx * nx * 0.35), SPACING)
        m &= ~inner          # marrow: a hole
    m |= bent_tube(shape, max(2, nx // 40), nx // 8)
    speck = rng.random(shape, dtype=np.float32) > 0.999
    m |= speck
    return m.view(np.uint8)


def measure(fn, *args, **kwargs):
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, dt, peak


def footprint(mm, spacing):
    r = [int(np.ceil(mm / s)) for s in spacing]
    g = np.ogrid[tuple(slice(-k, k + 1) for k in r)]
    return sum((a * s) ** 2 for a, s in zip(g, spacing, strict=True)) <= mm * mm + 1e-9


def rows_for(mask, quick):
    m = mask.view(bool)
    st = ndi.generate_binary_structure(3, 3)

    def ref_keep_largest(a):
        lab, _ = ndi.label(a, structure=st)
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        return lab == sizes.argmax()

    mm = 2.0
    cases = [
        ("keep-largest", lambda: keep_largest(mask), ref_keep_largest, (m,),
         "ndi.label + bincount", {}),
        ("remove-small 100 vox", lambda: remove_small(mask, voxels=100),
         lambda a: morphology.remove_small_objects(a, max_size=99, connectivity=3), (m,),
         "skimage remove_small_objects", {"voxels": 100}),
        ("fill-holes 3-D", lambda: fill_holes(mask), ndi.binary_fill_holes, (m,),
         "ndi.binary_fill_holes", {}),
        (f"grow {mm} mm", lambda: grow(mask, mm, spacing=SPACING),
         lambda a: ndi.distance_transform_edt(~a, sampling=SPACING) <= mm, (m,),
         "ndi.distance_transform_edt", {"mm": mm}),
        (f"shrink {mm} mm", lambda: shrink(mask, mm, spacing=SPACING),
         lambda a: ndi.distance_transform_edt(a, sampling=SPACING) > mm, (m,),
         "ndi.distance_transform_edt", {"mm": mm}),
        ("smooth median 1 mm", lambda: smooth(mask, "median", mm=1.0, spacing=SPACING),
         lambda a: ndi.median_filter(a.view(np.uint8), footprint=footprint(1.0, SPACING)) > 0,
         (m,), "ndi.median_filter", {"method": "median", "mm": 1.0}),
        ("smooth gaussian 1 mm", lambda: smooth(mask, "gaussian", mm=1.0, spacing=SPACING),
         lambda a: ndi.gaussian_filter(a.astype(np.float32), [1.0 / s for s in SPACING],
                                       truncate=3.0) >= 0.5,
         (m,), "ndi.gaussian_filter float32", {"method": "gaussian", "mm": 1.0}),
        ("smooth opening 1.5 mm", lambda: smooth(mask, "opening", mm=1.5, spacing=SPACING),
         lambda a: ndi.binary_opening(a, structure=footprint(1.5, SPACING)), (m,),
         "ndi.binary_opening", {"method": "opening", "mm": 1.5}),
        ("union", lambda: logical("union", mask, mask[::-1]), np.logical_or, (m, m[::-1]),
         "np.logical_or", None),
    ]
    effect_of = {"keep-largest": "keep-largest", "remove-small 100 vox": "remove-small",
                 "fill-holes 3-D": "fill-holes", f"grow {mm} mm": "grow",
                 f"shrink {mm} mm": "shrink", "smooth median 1 mm": "smooth",
                 "smooth gaussian 1 mm": "smooth", "smooth opening 1.5 mm": "smooth"}
    rows = []
    for name, ours, ref, ref_args, ref_name, params in cases:
        got, t_ours, p_ours = measure(ours)
        want, t_ref, p_ref = measure(ref, *ref_args)
        row = {"effect": name, "ours_s": t_ours, "ref_s": t_ref, "ref": ref_name,
               "ratio": t_ours / t_ref, "mem_ours": p_ours / mask.nbytes,
               "mem_ref": p_ref / mask.nbytes}
        if name.startswith("smooth opening"):   # scipy erodes at the volume border
            inner = (slice(3, -3),) * 3
            row["equal"] = bool((got[inner] == want[inner]).all())
        else:
            row["equal"] = bool((got == want).all())
        del got, want
        if params is not None:
            _, t_edit, p_edit = measure(edit_mask, mask, effect_of[name], spacing=SPACING,
                                        **params)
            row["edit_s"], row["mem_edit"] = t_edit, p_edit / mask.nbytes
            row["edit_ratio"] = t_edit / t_ref
        rows.append(row)
        print(f"  {name:24s} ours {t_ours:7.2f} s  {ref_name:30s} {t_ref:7.2f} s  "
              f"ratio {row['ratio']:5.2f}  edit_mask {row.get('edit_ratio', float('nan')):5.2f}x"
              f"  peak ours {row['mem_ours']:4.1f}x edit {row.get('mem_edit', float('nan')):4.1f}x"
              f" ref {row['mem_ref']:4.1f}x mask"
              f"  equal {row['equal']}", flush=True)
    return rows


def cc3d_rows(mask):
    """Our keep-largest against ``cc3d.largest_k`` (a dependency; skipped where missing)."""
    try:
        import cc3d  # a dependency; the scipy fallback runs where it is missing
    except ImportError:
        return []
    ours, t_ours, _ = measure(keep_largest, mask)
    fast, t_fast, p_fast = measure(cc3d.largest_k, mask, k=1, connectivity=26)
    row = {"effect": "keep-largest, cc3d.largest_k", "ours_s": t_ours, "ref_s": t_fast,
           "ratio": t_ours / t_fast, "mem_ref": p_fast / mask.nbytes,
           "equal": bool(((fast > 0) == ours).all())}
    print(f"  keep-largest: ours {t_ours:.2f} s, cc3d.largest_k {t_fast:.2f} s: "
          f"ours / cc3d {row['ratio']:.1f}, cc3d peak {row['mem_ref']:.1f}x mask, "
          f"equal {row['equal']}", flush=True)
    return [row]


def edt_rows(mask, mm=2.0):
    """Our grow against the ``edt`` package (float32, anisotropic; skipped where missing)."""
    try:
        import edt  # a dependency; the scipy fallback runs where it is missing
    except ImportError:
        return []
    ours, t_ours, _ = measure(grow, mask, mm, spacing=SPACING)

    def fast_grow(m):
        return edt.edt(m == 0, anisotropy=SPACING, black_border=False, parallel=1) <= mm

    fast, t_fast, p_fast = measure(fast_grow, mask)
    row = {"effect": "grow, edt.edt", "ours_s": t_ours, "ref_s": t_fast,
           "ratio": t_ours / t_fast, "mem_ref": p_fast / mask.nbytes,
           "equal": bool((fast == ours).all())}
    print(f"  grow {mm} mm: ours {t_ours:.2f} s, edt.edt (1 thread) {t_fast:.2f} s: "
          f"ours / edt {row['ratio']:.1f}, edt peak {row['mem_ref']:.1f}x mask, "
          f"equal {row['equal']}", flush=True)
    return [row]


def dice(a, b):
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return 2.0 * (a & b).sum() / max(1, a.sum() + b.sum())


def itk_interpolate(mask, keys):
    try:
        import itk  # optional: only when it happens to be installed
    except ImportError:
        return None
    sparse = np.zeros(mask.shape, np.uint8)
    sparse[keys] = mask[keys]
    image = itk.image_from_array(sparse)
    filt = itk.MorphologicalContourInterpolator.New(image)
    filt.SetAxis(2)   # itk's axis 2 is numpy's axis 0
    filt.Update()
    return itk.array_from_image(filt.GetOutput()).astype(bool)


def interpolation_rows(quick):
    shape = (48, 96, 96) if quick else (120, 192, 192)
    shapes = {
        "ellipsoid": ellipsoid(shape, (shape[0] / 2, shape[1] / 2, shape[2] / 2),
                               (shape[0] * 0.42, shape[1] * 0.35, shape[2] * 0.22)),
        "bent tube": bent_tube(shape, shape[1] // 14, shape[1] // 4),
        "branching tube": branching(shape, shape[1] // 14),
    }
    spacing: dict[str, tuple[float, ...]] = {}
    rows = []
    for name, truth in shapes.items():
        for k in (3, 5, 10):
            keys = list(range(0, shape[0], k))
            sparse = np.zeros_like(truth)
            sparse[keys] = truth[keys]
            t = time.perf_counter()
            out = interpolate_slices(sparse, key_slices=keys, spacing=spacing.get(name))
            dt = time.perf_counter() - t
            part = slice(keys[0], keys[-1] + 1)
            between = np.zeros(shape[0], bool)
            between[part] = True
            between[keys] = False
            row = {"shape": name, "k": k, "dice": dice(out[part], truth[part]),
                   "dice_between": dice(out[between], truth[between]),
                   "dice_keys_only": dice(sparse[part], truth[part]), "s": dt}
            ref = itk_interpolate(truth, keys)
            if ref is not None:
                row["dice_itk"] = dice(ref[part], truth[part])
            rows.append(row)
            extra = f"  ITK {row['dice_itk']:.4f}" if "dice_itk" in row else ""
            print(f"  {name:22s} k={k:2d}  Dice {row['dice']:.4f} (slices between "
                  f"{row['dice_between']:.4f}; key slices alone {row['dice_keys_only']:.4f})"
                  f"{extra}  {dt:.2f} s", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_SHAPE} instead")
    ap.add_argument("--shape", type=int, nargs=3, default=None)
    ap.add_argument("--no-interpolation", action="store_true")
    args = ap.parse_args(argv)
    shape = tuple(args.shape) if args.shape else (QUICK_SHAPE if args.quick else DEFAULT_SHAPE)
    print(f"bench_editing: mask {' x '.join(map(str, shape))} uint8, spacing {SPACING} mm; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"numpy {np.__version__}")
    mask = make_mask(shape)
    print(f"  {mask.mean() * 100:.1f} % of the voxels set; {mask.nbytes / 2**20:.0f} MiB")
    rows = rows_for(mask, args.quick)
    rows += cc3d_rows(mask)
    rows += edt_rows(mask)
    if not args.no_interpolation:
        print("fill between slices (Dice against the truth, key slices every k):")
        rows += interpolation_rows(args.quick or args.shape is not None)
    return rows


if __name__ == "__main__":
    main()
