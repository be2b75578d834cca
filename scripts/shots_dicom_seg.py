r"""Take the screenshots of docs/dicom-seg.md from a real napari window.

Run it from the repository on a virtual screen (on a desktop, leave out the
``xvfb-run ...`` part)::

    xvfb-run -a -s "-screen 0 1600x1000x24" \
        .venv/bin/python scripts/shots_dicom_seg.py [--out docs/images] [--quick]

The story: the CT phantom stored as a DICOM series (one file per slice), and
a DICOM SEG of its bone and three parts made by "another tool" (highdicom,
directly). The series is opened, then the SEG: one Labels layer per segment,
on the series' slices. The Export panel then writes the (reviewed) layers back
as a DICOM SEG.

====================================  ================================================
file                                  what it shows
====================================  ================================================
``dicom-seg-1-import.png``            the SEG's segments over the CT series, the
                                      layer list (one layer per segment)
``dicom-seg-2-export.png``            the Export panel, format dicom-seg, after the
                                      export: "wrote DICOM SEG ..."
====================================  ================================================

``--quick`` uses a small phantom (for tests); the pictures in ``docs/images``
are taken without it. Exit status 0 when every picture was saved; 1 with one
``shots_dicom_seg: error: ...`` line.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import screenshots  # the guide's helpers: waiting, settling, toasts

from seg_samples import highdicom_seg, write_source_series  # pydicom / highdicom writers

SHOTS = ("dicom-seg-1-import.png", "dicom-seg-2-export.png")
SEG_READER = "napari-segreview.read_dicom_seg"


class Walk(screenshots.Walk):
    """One napari window walked through the DICOM SEG page's steps."""

    def run_seg(self) -> None:
        from napari_segreview.data.phantom import make_ct_phantom

        shape = (6, 96, 96) if self.quick else (24, 256, 256)
        ph = make_ct_phantom(shape, seed=3)
        series = write_source_series(self.work / "ct", spacing=ph.spacing, hu=ph.image)
        highdicom_seg(series, ph.masks, list(ph.names), path=self.work / "seg.dcm")
        self.viewer.open(str(series.folder), plugin=screenshots.PLUGIN)
        self.viewer.open(str(self.work / "seg.dcm"), plugin=SEG_READER)
        segs = [ly for ly in self.viewer.layers
                if ly.metadata.get("segreview", {}).get("format") == "dicom-seg"]
        if len(segs) != len(ph.names):
            raise screenshots.GuideError(f"the SEG gave {len(segs)} layers, not "
                                         f"{len(ph.names)}")
        self.viewer.dims.set_current_step(0, self.mid())
        self.viewer.reset_view()
        self.shot(SHOTS[0])
        w = self.dock("Export training targets")
        w.folder.setText(str(self.work / "seg_out"))
        w.format.setCurrentText("dicom-seg")
        w.image_layer.setCurrentText(self.viewer.layers[0].name)
        from napari_segreview._napari.export.widget import select

        select(w.sigmoid_list, [ly.name for ly in segs])
        outcome = screenshots.wait_signal(w.done, w.export, "the SEG export", self.timeout)[0]
        if outcome != "export":
            raise screenshots.GuideError(f"the export ended with {outcome!r}: "
                                         f"{w.status.text()}")
        self.shot(SHOTS[1])


def main(argv: list[str] | None = None) -> int:
    """Take the pictures; returns the exit status."""
    return screenshots.walk_main("shots_dicom_seg", __doc__.splitlines()[0], Walk, "run_seg",
                                 argv, quick_help="a small phantom, for tests")


if __name__ == "__main__":
    sys.exit(main())
