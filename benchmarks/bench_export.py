"""Class statistics throughput: blockwise counting vs plain numpy on the whole volume.

Prints ratios (ours / reference, same run), not absolute times. The reference
``np.bincount(volume.ravel())`` makes an int64 copy of the whole volume (8 bytes
per voxel); ours counts in blocks of 2**18 voxels.

    python benchmarks/bench_export.py [--shape 128 512 512]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from napari_segreview.targets.build import Target
from napari_segreview.targets.classstats import count_target


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", type=int, nargs=3, default=(128, 512, 512))
    shape = tuple(ap.parse_args(argv).shape)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=shape, dtype=np.uint8)
    labels[:, :8] = 255
    stack = (rng.integers(0, 5, size=(4, *shape), dtype=np.uint8) == 0).view(np.uint8)
    soft = Target("parts", "softmax", ("bg", "a", "b", "c"), labels)
    sig = Target("all", "sigmoid", ("w", "a", "b", "c"), stack)
    assert count_target(soft)["counts"] == np.bincount(labels.ravel(), minlength=256)[:4].tolist()
    ours_soft = best(lambda: count_target(soft))
    ref_soft = best(lambda: np.bincount(labels.ravel(), minlength=256))
    ours_sig = best(lambda: count_target(sig))
    ref_sig = best(lambda: [int(np.count_nonzero(c)) for c in stack])
    n = labels.size
    print(f"volume {shape} ({n / 1e6:.0f} M voxels), best of 3")
    print(f"softmax counts: ours/bincount time ratio {ours_soft / ref_soft:.2f} "
          f"(ours {n / ours_soft / 1e6:.0f} M voxels/s; reference temp {8 * n / 2**20:.0f} MiB "
          f"int64, ours {8 * (1 << 18) / 2**20:.0f} MiB)")
    print(f"sigmoid counts: ours/count_nonzero time ratio {ours_sig / ref_sig:.2f}")


if __name__ == "__main__":
    main()
