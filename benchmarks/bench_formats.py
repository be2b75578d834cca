"""Label-format conversions: speed as ratios measured in one run.

For each direction the script times our conversion, a plain copy of an array
with the output's bytes (``out.copy()``, allocation included, as ours), and the
usual one-liners people write (``np.eye(C)[labels]``, ``F.one_hot``,
``np.argmax``...), on one realistic label map (ellipsoids and boxes, not noise).
Every reference is checked to give the same result as ours. Ratios, never
absolute times, are what to compare between machines::

    PYTHONPATH=src python benchmarks/bench_formats.py            # 256 x 512 x 512, 5 classes
    PYTHONPATH=src python benchmarks/bench_formats.py --quick    # 32 x 256 x 256

Goals: ours / copy <= 2 (we run at the speed of writing the output) and
reference / ours >= 10 for the one-hot one-liners.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

try:
    import napari_segreview  # noqa: F401
except ImportError:  # running from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from napari_segreview.labels.formats import (
    atoms_to_multihot,
    labels_to_multihot,
    labels_to_onehot,
    multihot_to_atoms,
    multihot_to_labels,
    onehot_to_labels,
)

try:
    import torch
except ImportError:  # the torch references are skipped
    torch = None

DEFAULT_SHAPE = (256, 512, 512)
QUICK_SHAPE = (32, 256, 256)


def phantom_labels(shape: tuple[int, ...], classes: int, seed: int = 0) -> np.ndarray:
    """Label map of random ellipsoids and boxes (values 1..classes-1) on background 0."""
    rng = np.random.default_rng(seed)
    dt = np.uint8 if classes <= 256 else np.uint16
    labels = np.zeros(shape, dt)
    size = np.array(shape, float)
    for k in range(6 * max(classes - 1, 1)):
        value = 1 + k % max(classes - 1, 1)
        center = rng.uniform(0.15, 0.85, len(shape)) * size
        radii = np.maximum(rng.uniform(0.04, 0.2, len(shape)) * size, 1.0)
        lo = np.clip(np.floor(center - radii), 0, size).astype(int)
        hi = np.clip(np.ceil(center + radii) + 1, 0, size).astype(int)
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        if k % 3 == 2:
            labels[box] = value
            continue
        grids = np.ogrid[box]
        dist = sum(((g + 0.5 - c) / r) ** 2 for g, c, r in zip(grids, center, radii, strict=True))
        labels[box][dist <= 1.0] = value
    return labels


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls; each result is freed before the next call."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - t0
        del result
        best = min(best, elapsed)
    return best


def available_bytes() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**34


def machine() -> str:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    parts = [f"{platform.machine()} {platform.processor() or ''}".strip(),
             f"{cores} cores ({usable} usable)",
             f"{available_bytes() / 2**30:.1f} GiB free",
             f"numpy {np.__version__}"]
    if torch is not None:
        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    return ", ".join(parts)


class Bench:
    """Collects one table row per direction and one per reference."""

    def __init__(self, repeat: int):
        self.repeat = repeat
        self.rows: list[dict] = []

    def direction(self, name: str, ours: Callable[[], Any], inp: np.ndarray, refs: dict,
                  output: Callable[[Any], np.ndarray] = lambda out: out) -> Any:
        """Time ``ours`` against copies of its output and input, and each reference.

        ``output(result)`` is the array whose bytes the copy baseline copies.
        ``refs`` maps a label to ``(fn, same)``: ``fn()`` computes the reference,
        ``same(ref_result, our_result)`` says whether both agree; ``None`` marks
        a reference skipped because it needs more memory than is free.
        """
        out = ours()
        t_ours = best_of(ours, self.repeat)
        t_out = best_of(output(out).copy, self.repeat)
        t_in = best_of(inp.copy, self.repeat)
        self.rows.append({"direction": name, "ours_s": t_ours, "copy_out_s": t_out,
                          "copy_in_s": t_in, "ours_over_copy": t_ours / t_out,
                          "ours_over_copy_in": t_ours / t_in})
        for label, spec in refs.items():
            if spec is None:
                self.rows.append({"direction": name, "reference": label, "skipped": "memory"})
                continue
            fn, same = spec
            result = fn()
            equal = bool(same(result, out))
            del result
            assert equal, f"{name}: reference {label} disagrees with ours"
            t_ref = best_of(fn, self.repeat)
            self.rows.append({"direction": name, "reference": label, "ref_s": t_ref,
                              "ref_over_ours": t_ref / t_ours, "equal": equal})
        return out

    def print_table(self) -> None:
        head = (f"{'direction':<20} {'ours s':>7} {'copy(out)':>9} {'ours/copy':>9} "
                f"{'ours/copy(in)':>13}   {'reference':<42} {'ref s':>7} {'ref/ours':>8}")
        print(head)
        print("-" * len(head))
        for r in self.rows:
            if "reference" not in r:
                print(f"{r['direction']:<20} {r['ours_s']:7.3f} {r['copy_out_s']:9.3f} "
                      f"{r['ours_over_copy']:9.2f} {r['ours_over_copy_in']:13.2f}")
            elif "skipped" in r:
                print(f"{'':<63}   {r['reference'] + ' (skipped: memory)':<42}")
            else:
                print(f"{'':<63}   {r['reference']:<42} {r['ref_s']:7.3f} "
                      f"{r['ref_over_ours']:8.1f}")
        print("ours/copy: our time over a copy of the output's bytes (goal <= 2); for the "
              "reductions\n(stack -> label map) the input is C times larger, so ours/copy(in) "
              "is the fair bound.\nref/ours: reference time over ours (goal >= 10 for the "
              "one-hot one-liners). Every reference\nwas checked to give the same result as "
              "ours.")


def fits(n_bytes: int) -> bool:
    """Whether a temporary of ``n_bytes`` leaves a safety margin of free memory."""
    return n_bytes < 0.6 * available_bytes()


def _same(ref: Any, ours: np.ndarray) -> bool:
    if torch is not None and isinstance(ref, torch.Tensor):
        ref = ref.numpy()
    return np.array_equal(ref, ours)


def _channel_first(ndim: int) -> tuple[int, ...]:
    return (ndim, *range(ndim))


def step_labels_to_onehot(bench: Bench, labels: np.ndarray, c: int) -> np.ndarray:
    first = _channel_first(labels.ndim)
    eye8 = np.eye(c, dtype=np.uint8)
    wide = labels.size * (c + 1) * 8  # int64/float64 one-hot plus int64 labels
    refs: dict = {"np.eye(C, uint8)[labels] (channel-first)":
                  (lambda: eye8[labels].transpose(first), _same)}
    eye64 = np.eye(c)
    refs["np.eye(C)[labels] float64 (channel-first)"] = (
        (lambda: eye64[labels].transpose(first), _same) if fits(wide) else None)
    if torch is not None:
        def one_hot():
            return torch.nn.functional.one_hot(torch.from_numpy(labels).long(), c).permute(first)

        refs["F.one_hot(labels.long(), C).permute"] = (one_hot, _same) if fits(wide) else None
    return bench.direction("labels -> onehot", lambda: labels_to_onehot(labels, c), labels,
                           refs)


def step_onehot_to_labels(bench: Bench, onehot: np.ndarray) -> None:
    refs: dict = {"np.argmax(onehot, axis=0)": (lambda: np.argmax(onehot, axis=0), _same)}
    if torch is not None:
        t_onehot = torch.from_numpy(onehot)
        refs["torch.argmax(onehot, dim=0)"] = (lambda: torch.argmax(t_onehot, dim=0), _same)
    bench.direction("onehot -> labels", lambda: onehot_to_labels(onehot), onehot, refs)


def step_labels_to_multihot(bench: Bench, labels: np.ndarray, regions: dict) -> np.ndarray:
    refs = {"np.stack([np.isin(labels, r) ...])":
            (lambda: np.stack([np.isin(labels, r) for r in regions.values()]), _same)}
    return bench.direction("labels -> multihot", lambda: labels_to_multihot(labels, regions),
                           labels, refs)


def step_multihot_to_labels(bench: Bench, parts: np.ndarray) -> None:
    refs = {"where(any, argmax + 1, 0)": (
        lambda: np.where(parts.any(axis=0), np.argmax(parts, axis=0) + 1, 0), _same)}
    bench.direction("multihot -> labels", lambda: multihot_to_labels(parts), parts, refs)


def step_multihot_to_atoms(bench: Bench, multihot: np.ndarray) -> tuple:
    def unique_codes():
        codes = np.zeros(multihot.shape[1:], np.int64)
        for k in range(multihot.shape[0]):
            codes |= multihot[k].astype(np.int64) << k
        return np.unique(codes, return_inverse=True)

    def same_atoms(ref, ours):
        values, inverse = ref
        atoms, table = ours
        code_of_atom = (table.combos.astype(np.int64) << np.arange(table.combos.shape[1])).sum(1)
        return np.array_equal(code_of_atom[atoms], values[inverse].reshape(atoms.shape))

    return bench.direction("multihot -> atoms", lambda: multihot_to_atoms(multihot), multihot,
                           {"np.unique(bit codes, return_inverse)": (unique_codes, same_atoms)},
                           output=lambda out: out[0])


def step_atoms_to_multihot(bench: Bench, atoms: np.ndarray, table: Any) -> np.ndarray:
    combos8 = table.combos.astype(np.uint8)
    first = _channel_first(atoms.ndim)
    refs = {"table.combos[atoms] (channel-first)":
            (lambda: combos8[atoms].transpose(first), _same)}
    return bench.direction("atoms -> multihot", lambda: atoms_to_multihot(atoms, table), atoms,
                           refs)


def run(shape: tuple[int, ...], classes: int, repeat: int, seed: int = 0) -> list[dict]:
    """Run every direction on one phantom label map; print and return the table rows."""
    labels = phantom_labels(shape, classes, seed)
    bench = Bench(repeat)
    onehot = step_labels_to_onehot(bench, labels, classes)
    gc.collect()
    step_onehot_to_labels(bench, onehot)
    del onehot
    gc.collect()
    # the five-output case: whole = union of the parts, then one channel per part
    regions = {"whole": list(range(1, classes)),
               **{f"part_{k}": [k] for k in range(1, classes)}}
    multihot = step_labels_to_multihot(bench, labels, regions)
    step_multihot_to_labels(bench, multihot[1:])  # the parts do not overlap
    atoms, table = step_multihot_to_atoms(bench, multihot)
    gc.collect()
    back = step_atoms_to_multihot(bench, atoms, table)
    assert np.array_equal(back, multihot), "atoms -> multihot is not lossless"
    bench.print_table()
    return bench.rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs="+", default=list(DEFAULT_SHAPE),
                        help="spatial shape of the label map (default 256 512 512)")
    parser.add_argument("--classes", type=int, default=5,
                        help="number of classes including background (default 5)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help=f"use the shape {' '.join(map(str, QUICK_SHAPE))} "
                             "unless --shape is given")
    args = parser.parse_args(argv)
    shape = tuple(args.shape)
    if args.quick and "--shape" not in (argv if argv is not None else sys.argv[1:]):
        shape = QUICK_SHAPE
    if args.classes < 2:
        parser.error("--classes must be at least 2")
    n = int(np.prod(shape))
    print(f"machine: {machine()}")
    print(f"shape: {' x '.join(map(str, shape))} ({n / 1e6:.1f} M voxels), "
          f"{args.classes} classes, best of {args.repeat}; "
          f"one-hot uint8 = {n * args.classes / 1e6:.0f} MB")
    return run(shape, args.classes, args.repeat, args.seed)


if __name__ == "__main__":
    main()
