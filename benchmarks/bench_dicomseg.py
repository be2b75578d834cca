"""DICOM SEG write and read time: SegReview's calls vs highdicom's own calls, same data.

A CT series of 300 slices (512 x 512 by default) is written with pydicom, and
5 overlapping segments on it. Timed, best of ``--repeat``:

* **write**: ours, :func:`~napari_segreview.targets.dicomseg.write_seg`
  (reads the series' headers, builds and writes the SEG atomically) vs
  highdicom's ``Segmentation(...)`` + ``save_as`` after pydicom reads the
  headers (what a script on highdicom does);
* **read**: ours, :func:`~napari_segreview.io.dicomseg.read_seg` on the open
  series (masks per segment on the series' grid) vs highdicom's ``segread`` +
  ``get_pixels_by_source_instance``; and ours finding the series beside the
  SEG (reads the series' headers too).

Prints ratios measured in one run (ours / highdicom), not thresholds.

    python benchmarks/bench_dicomseg.py [--slices 300 --size 512 --segments 5]
    python benchmarks/bench_dicomseg.py --quick       # 24 slices of 64 x 64, seconds
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# the source series and the reference SEG writer are the tests' own (pydicom, highdicom)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from napari_segreview.io.dicomseg import read_seg
from napari_segreview.io.dicomseries import series_reference
from napari_segreview.targets.dicomseg import write_seg
from seg_samples import write_source_series


def best(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def masks_for(shape, n, seed=0):
    """``n`` overlapping blobs (spheres of growing radius around one centre), empty ends."""
    z, y, x = np.ogrid[:shape[0], :shape[1], :shape[2]]
    c = np.array(shape) / 2
    r2 = ((z - c[0]) / shape[0]) ** 2 + ((y - c[1]) / shape[1]) ** 2 + ((x - c[2]) / shape[2]) ** 2
    return np.stack([(r2 < (0.05 + 0.04 * i) ** 2 * 4).astype(np.uint8) for i in range(n)])


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--segments", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="24 slices of 64 x 64, one repeat")
    a = ap.parse_args(argv)
    if a.quick:
        a.slices, a.size, a.repeat = 24, 64, 1
    import highdicom as hd
    from pydicom.sr.codedict import codes

    shape = (a.slices, a.size, a.size)
    labels = [f"structure_{i + 1}" for i in range(a.segments)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        series = write_source_series(d / "ct", shape=shape)
        masks = masks_for(shape, a.segments)
        ref = series_reference(series.folder)

        write_seg(d / "warm.dcm", masks, labels, ref, algorithm="bench")  # imports, caches
        ours_w, _ = best(lambda: write_seg(d / "ours.dcm", masks, labels, ref,
                                           algorithm="bench", overwrite=True), a.repeat)
        algo = hd.AlgorithmIdentificationSequence(
            name="bench", family=codes.cid7162.ArtificialIntelligence, version="1")
        descs = [hd.seg.SegmentDescription(
            segment_number=i + 1, segment_label=lab,
            segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
            algorithm_type="AUTOMATIC", algorithm_identification=algo)
            for i, lab in enumerate(labels)]

        def theirs_write():          # a script on highdicom reads the headers too
            seg = hd.seg.Segmentation(
                source_images=series.datasets(), pixel_array=np.moveaxis(masks, 0, -1),
                segmentation_type="BINARY", segment_descriptions=descs,
                series_instance_uid=hd.UID(), series_number=1, sop_instance_uid=hd.UID(),
                instance_number=1, manufacturer="x", manufacturer_model_name="x",
                software_versions="0", device_serial_number="0")
            seg.save_as(d / "theirs.dcm")

        ref_w, _ = best(theirs_write, a.repeat)
        ours_r, seg = best(lambda: read_seg(d / "ours.dcm", ref), a.repeat)
        assert np.array_equal(seg.masks, masks)

        def theirs_read():
            s = hd.seg.segread(d / "ours.dcm")
            return s.get_pixels_by_source_instance(list(ref.sop_instance_uids),
                                                   assert_missing_frames_are_empty=True,
                                                   skip_overlap_checks=True)

        ref_r, px = best(theirs_read, a.repeat)
        assert np.array_equal(np.moveaxis(px, -1, 0), masks)
        beside, seg2 = best(lambda: read_seg(d / "ours.dcm"), a.repeat)
        assert seg2.placed_by == "series"
        size = os.path.getsize(d / "ours.dcm") / 2**20
    print(f"SEG of {a.segments} segments on {shape[0]} slices of {shape[1]} x {shape[2]} "
          f"({size:.1f} MiB), best of {a.repeat}, {os.cpu_count()} cores")
    print(f"write: ours {ours_w:.2f} s / highdicom {ref_w:.2f} s = {ours_w / ref_w:.2f}x")
    print(f"read on the open series: ours {ours_r:.2f} s / highdicom {ref_r:.2f} s = "
          f"{ours_r / ref_r:.2f}x")
    print(f"read, series found beside the SEG: ours {beside:.2f} s = {beside / ref_r:.2f}x "
          "highdicom's read")
    rows = [{"what": "write", "ours_s": ours_w, "ref_s": ref_w},
            {"what": "read", "ours_s": ours_r, "ref_s": ref_r},
            {"what": "read beside", "ours_s": beside, "ref_s": ref_r}]
    return rows


if __name__ == "__main__":
    main()
