r"""Take the screenshots of docs/fine-tuning.md from a real napari window.

Run it from the repository on a virtual screen (on a desktop, leave out the
``xvfb-run ...`` part)::

    xvfb-run -a -s "-screen 0 1600x1000x24" \
        .venv/bin/python scripts/shots_finetune.py [--out docs/images] [--quick]

The story the pictures tell: a new scanner reads every voxel 400 HU too high,
and the demo model (trained on the phantom as the old scanner saw it) misses
most of ``part_3``. Three corrected cases (the phantom's ground truth stands
in for the corrections) are exported with the real export code
(``segreview export``); the Fine-tune panel trains on two and holds one out,
running the real ``segreview train`` in its own process.

====================================  ================================================
file                                  what it shows
====================================  ================================================
``finetune-1-before.png``             the base model's prediction on the new scan
``finetune-2-form.png``               the Fine-tune panel filled in, before Start
``finetune-3-training.png``           the live plot while it trains
``finetune-4-results.png``            Dice before -> after per channel and case
``finetune-5-adopted.png``            Use this model, Re-predict: the new layers
====================================  ================================================

``--quick`` uses small cases and a few steps (for tests: seconds to a minute);
the pictures in ``docs/images`` are taken without it. Exit status 0 when
every picture was saved; 1 with one ``shots_finetune: error: ...`` line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import screenshots  # the guide's helpers: waiting, settling, toasts

SHOTS = ("finetune-1-before.png", "finetune-2-form.png", "finetune-3-training.png",
         "finetune-4-results.png", "finetune-5-adopted.png")
#: The new scanner's calibration offset, in HU.
OFFSET = 400


def new_scanner(image: np.ndarray) -> np.ndarray:
    """The image as the new scanner reads it: every voxel ``OFFSET`` HU higher."""
    return (image.astype(np.int32) + OFFSET).clip(-1024, 3071).astype(np.int16)


def make_export(folder: Path, shape: tuple[int, int, int], seeds: list[int]) -> Path:
    """Export corrected cases of the new scanner with ``segreview export``; returns the export."""
    from napari_segreview.cli import main
    from napari_segreview.data import demo_card_path
    from napari_segreview.data.phantom import make_ct_phantom
    from napari_segreview.io.arrayfiles import ArrayMeta, write_array

    out = folder / "export"
    for seed in seeds:
        ph = make_ct_phantom(shape, seed=seed)
        case = folder / f"scan_{seed}"
        case.mkdir()
        write_array(case / "ct.tif", new_scanner(ph.image), ArrayMeta(spacing=ph.spacing))
        write_array(case / "whole.tif", ph.masks[:1], ArrayMeta("multihot", ("whole",)))
        write_array(case / "parts.tif", ph.parts, ArrayMeta("labels", (
            "background", "part_1", "part_2", "part_3")))
        rc = main(["export", str(case / "ct.tif"), "--card", str(demo_card_path()),
                   "--target", f"whole={case}/whole.tif", "--target",
                   f"parts={case}/parts.tif", "-o", str(out), "--case", f"case_{seed}"])
        if rc != 0:
            raise screenshots.GuideError(f"segreview export failed for case {seed}")
    return out


class Walk(screenshots.Walk):
    """One napari window walked through the fine-tuning page's steps."""

    def run_finetune(self) -> None:
        from napari_segreview.data import demo_model_path
        from napari_segreview.data.phantom import make_ct_phantom

        quick = self.quick
        shape = (4, 96, 96) if quick else (8, 160, 160)
        export = make_export(self.work, shape, [1, 2, 3])
        model = self.work / "models" / "demo_bone.pt"   # the base is copied: the new
        model.parent.mkdir()                             # version is written beside it
        model.write_bytes(demo_model_path().read_bytes())
        card = demo_model_path().with_name("demo_bone.card.yaml")
        model.with_name("demo_bone.card.yaml").write_bytes(card.read_bytes())

        ph = make_ct_phantom((6, 160, 160) if quick else (16, 256, 256), seed=7)
        self.viewer.add_image(new_scanner(ph.image), name="CT (new scanner)",
                              scale=ph.spacing, metadata={"segreview": {"kind": "image",
                                                                        "units": "HU"}})
        self.viewer.dims.set_current_step(0, self.mid())
        self.viewer.reset_view()
        predict = self.dock("Predict")
        predict.set_model(str(model))
        predict.set_device("cpu")
        predict.set_window("bone")
        predict.set_probabilities(None)
        self._predict(predict)
        self.shot(SHOTS[0])

        w = self.dock("Fine-tune")
        w.take_predict_model()
        w.source.setText(str(export))
        w.set_held_out(["case_3"])
        w.steps.setValue(12 if quick else 40)
        w.lr.setCurrentText("3e-4")
        w.patch.setText("64 64" if quick else "96 96")
        w.eval_every.setValue(4 if quick else 10)
        w.set_device("cpu")
        self.shot(SHOTS[1])

        finished: list[str] = []
        w.run_finished.connect(finished.append)
        w.start()
        evals = 2 if quick else 3                     # step 0 and the first ones
        screenshots._loop_until(lambda: len(w.plot.evals) >= evals or bool(finished),
                                "the first evaluations", self.timeout)
        w.scroll_area.ensureWidgetVisible(w.plot)
        self.shot(SHOTS[2])
        screenshots._loop_until(lambda: bool(finished), "the fine-tune to finish",
                                self.timeout)
        if finished[0] != "done":
            raise screenshots.GuideError(f"the fine-tune ended with {finished[0]!r}: "
                                         f"{w.status.text()}")
        screenshots.settle()                          # the table has grown: scroll after
        w.scroll_area.ensureWidgetVisible(w.repredict_button)
        self.shot(SHOTS[3], keep_toasts=True)

        w.adopt.setCurrentIndex(0)                    # the new model, whatever the verdict
        panel = w.use_model()
        self.docks["Predict"] = (self.docks["Predict"][0], panel)
        self._predict(panel)
        w2 = self.dock("Fine-tune")                   # the panel in front again
        screenshots.settle()
        w2.scroll_area.ensureWidgetVisible(w2.repredict_button)
        self.shot(SHOTS[4])

    def _predict(self, predict: object) -> None:
        if predict.devices is None:
            screenshots.wait_signal(predict.devices_found, lambda: None,
                                    "the Predict panel to list devices", self.timeout)
        predict.image.setCurrentText("CT (new scanner)")
        outcome = screenshots.wait_signal(predict.run_finished, predict.run,
                                          "the prediction to finish", self.timeout)[0]
        if outcome != "done":
            raise screenshots.GuideError(f"Predict ended with {outcome!r}: "
                                         f"{predict.status.text()}")
        self.viewer.layers.selection.active = self.layer("parts")


def main(argv: list[str] | None = None) -> int:
    """Take the pictures; returns the exit status."""
    return screenshots.walk_main("shots_finetune", __doc__.splitlines()[0], Walk, "run_finetune",
                                 argv, quick_help="small cases, a few steps", timeout_s=600)


if __name__ == "__main__":
    sys.exit(main())
