r"""Take the screenshots of docs/reviewing-a-dataset.md from a real napari window.

Run it from the repository on a virtual screen (on a desktop, leave out the
``xvfb-run ...`` part)::

    xvfb-run -a -s "-screen 0 1600x1000x24" \
        .venv/bin/python scripts/shots_dataset.py [--out docs/images] [--quick]

The story: six CT scans, two of them from a scanner that reads 400 HU too
high (the demo model is unsure there). The Dataset panel predicts them all on
a Dask LocalCluster (the real engine, one worker process), then the review
goes most uncertain first: a correction is painted, the case is marked done
(its Dice against the prediction appears), another is skipped, and the done
case is exported as training targets.

====================================  ================================================
file                                  what it shows
====================================  ================================================
``dataset-1-predict.png``             Predict dataset running: progress, cases arriving
``dataset-2-case.png``                Next: the most uncertain case with its prediction
``dataset-3-done.png``                a correction painted, Mark done: the Dice column,
                                      "1 / 6 done", the next case opened
``dataset-4-export.png``              a case skipped with its reason, the done case
                                      exported
====================================  ================================================

``--quick`` uses small cases (for tests); the pictures in ``docs/images`` are
taken without it. Exit status 0 when every picture was saved; 1 with one
``shots_dataset: error: ...`` line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import screenshots  # the guide's helpers: waiting, settling, toasts

SHOTS = ("dataset-1-predict.png", "dataset-2-case.png", "dataset-3-done.png",
         "dataset-4-export.png")
#: Cases read by the "new scanner" (every voxel OFFSET HU higher): the model is unsure there.
NEW_SCANNER, OFFSET = (2, 4), 400


def make_images(folder: Path, shape: tuple[int, int, int], n: int) -> Path:
    """``n`` CT phantoms as TIFF files with their spacing; some from the new scanner."""
    from napari_segreview.data.phantom import make_ct_phantom
    from napari_segreview.io.arrayfiles import ArrayMeta, write_array

    folder.mkdir()
    for seed in range(n):
        ph = make_ct_phantom(shape, seed=seed)
        image = ph.image
        if seed in NEW_SCANNER:
            image = (image.astype(np.int32) + OFFSET).clip(-1024, 3071).astype(np.int16)
        write_array(folder / f"ct_{seed + 1:02d}.tif", image, ArrayMeta(spacing=ph.spacing))
    return folder


class Walk(screenshots.Walk):
    """One napari window walked through the dataset page's steps."""

    def run_dataset(self) -> None:
        shape = (4, 96, 96) if self.quick else (12, 192, 192)
        images = make_images(self.work / "scans", shape, 6)
        w = self.dock("Dataset")
        w.folder.setText(str(self.work / "study"))
        w.runbox.images.setText(str(images))
        w.runbox.workers.setValue(1)
        ticks: list[int] = []
        w.runbox.job.progressed.connect(lambda done, total, line: ticks.append(done))
        finished: list[bool] = []
        w.runbox.job.finished.connect(lambda: finished.append(True))
        w.runbox.predict()
        screenshots._loop_until(lambda: any(t >= 2 for t in ticks) or bool(finished),
                                "the first predicted cases", self.timeout)
        w.refresh() if w.manifest is not None else w.open_dataset(w.folder.text())
        w.scroll_area.ensureWidgetVisible(w.runbox.progress)
        self.shot(SHOTS[0])
        screenshots._loop_until(lambda: bool(finished), "the prediction to finish",
                                self.timeout)
        if w.manifest is None or w.manifest.counts()["predicted"] != 6:
            raise screenshots.GuideError(f"the prediction did not predict every case: "
                                         f"{w.runbox.status.text()}")

        w.table.sort_by("uncertainty", descending=True)
        screenshots.wait_signal(w.case_opened, w.next, "the first case to open", self.timeout)
        self.viewer.dims.set_current_step(0, self.mid())
        w.scroll_area.ensureWidgetVisible(w.table)
        self.shot(SHOTS[1])

        whole = self.layer("whole")
        z = self.mid()
        on = np.asarray(whole.data[z]) > 0
        rows = np.flatnonzero(on.any(axis=1))
        if rows.size == 0:
            raise screenshots.GuideError("the model found no bone on the middle slice")
        y = int(rows[len(rows) // 2])
        cols = np.flatnonzero(on[y])
        whole.brush_size = 8
        with whole.block_history():            # one stroke: the missed rim of the bone
            for x in range(int(cols[-1]), int(cols[-1]) + 10):
                whole.paint((z, y, x), 1, refresh=False)
        whole.refresh()
        screenshots.wait_signal(w.case_opened, w.mark_done, "Mark done and the next case",
                                self.timeout)
        self.viewer.dims.set_current_step(0, self.mid())
        self.shot(SHOTS[2], keep_toasts=True)

        w.reason.setText("motion artefacts")
        screenshots.wait_signal(w.case_opened, lambda: w.skip(w.reason.text()),
                                "Skip and the next case", self.timeout)
        w.runbox.export_to.setText(str(self.work / "export"))
        done: list[bool] = []
        w.runbox.job.finished.connect(lambda: done.append(True))
        w.runbox.export()
        screenshots._loop_until(lambda: bool(done), "the export", self.timeout)
        if "Exported" not in w.runbox.status.text():
            raise screenshots.GuideError(f"the export failed: {w.runbox.status.text()}")
        w.scroll_area.ensureWidgetVisible(w.runbox.status)
        self.shot(SHOTS[3], keep_toasts=True)


def main(argv: list[str] | None = None) -> int:
    """Take the pictures; returns the exit status."""
    return screenshots.walk_main("shots_dataset", __doc__.splitlines()[0], Walk, "run_dataset",
                                 argv, quick_help="small cases", timeout_s=600)


if __name__ == "__main__":
    sys.exit(main())
