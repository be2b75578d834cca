r"""Take the screenshots of docs/editing-tools.md from a real napari window.

Run it from the repository on a virtual screen (on a desktop, leave out the
``xvfb-run ...`` part)::

    xvfb-run -a -s "-screen 0 1600x1000x24" \
        .venv/bin/python scripts/shots_editing.py [--out docs/images] [--quick]

The CT phantom stands in for a scan, and its answer key for a model's
``whole`` and ``parts`` decision layers (made as the Predict panel makes them:
a Predict run with the demo card), with the defects a model leaves planted in
them: islands, a hole, a ragged edge, a slice missed. Each effect of the Edit
panel is run on them as a user clicks it, and the window is saved before and
after (``edit-<effect>-before.png`` / ``-after.png``): fill between slices,
islands, holes, smoothing, margin, logical operators, the intensity-limited
brush, the magic wand and hierarchy-aware painting.

``--quick`` uses a small phantom (for tests); the pictures in ``docs/images``
are taken without it. Exit status 0 when every picture was saved; 1 with one
``shots_editing: error: ...`` line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import screenshots  # the guide's helpers: waiting, settling, toasts

EFFECTS = ("interpolate", "islands", "holes", "smooth", "margin", "logic", "range", "wand",
           "hierarchy")
SHOTS = tuple(f"edit-{e}-{when}.png" for e in EFFECTS for when in ("before", "after"))
SHAPE, QUICK_SHAPE = (24, 192, 192), (8, 128, 128)


class Walk(screenshots.Walk):
    """One napari window walked through the editing page's steps."""

    def __init__(self, out: Path, work: Path, *, quick: bool, timeout_s: float):
        super().__init__(out, work, quick=quick, timeout_s=timeout_s)
        self.shape = QUICK_SHAPE if quick else SHAPE

    def add_case(self) -> None:
        from napari_segreview.card.spec import load_card
        from napari_segreview.data import demo_card_path
        from napari_segreview.data.phantom import make_ct_phantom

        ph = make_ct_phantom(self.shape)
        self.z = self.shape[0] // 2
        self.ph = ph
        self.viewer.add_image(ph.image, name="CT", scale=ph.spacing, contrast_limits=(-500, 1300),
                              metadata={"segreview": {"kind": "image", "units": "HU"}})
        card = load_card(demo_card_path()).to_dict()
        base = {"kind": "decision", "image": "CT", "run": "guide", "card": card}
        whole = ph.masks[0].astype(np.uint8)
        parts = np.asarray(ph.parts, np.uint8)
        for name, data, extra in (
                ("whole", whole, {"head": "whole", "head_kind": "sigmoid", "channel": "whole"}),
                ("parts", parts, {"head": "parts", "head_kind": "softmax", "channel": None,
                                  "classes": ["background", "part_1", "part_2", "part_3"]})):
            pred = data.copy()
            pred.flags.writeable = False
            self.viewer.add_labels(data.copy(), name=name, scale=ph.spacing,
                                   metadata={"segreview": {**base, **extra, "prediction": pred}})
        self.viewer.dims.set_current_step(0, self.z)
        self.viewer.reset_view()

    def panel(self) -> object:
        w = self.dock("Edit masks")
        self.w = w
        return w

    def focus(self, name: str) -> object:
        """Show the CT and layer ``name`` (and the whole under the parts); select it."""
        show = {"CT", name} | ({"whole"} if name == "parts" else set())
        for x in self.viewer.layers:
            x.visible = x.name in show
        layer = self.layer(name)
        self.viewer.layers.selection.active = layer
        return layer

    def effect(self, name: str, effect: str, setup=None, *, where: str = "volume") -> None:
        w = self.w
        layer = self.focus(name)
        w.effects.set_effect(effect)
        w.effects.where.setCurrentIndex(w.effects.where.findData(where))
        if setup is not None:
            setup(w)
        w.status.setText("")
        self.shot(f"edit-{self.tag}-before.png")
        if where == "slice":
            screenshots.wait_signal(w.applied, w.run_effect, f"the {effect} effect",
                                    self.timeout, fail=w.failed)
        else:
            screenshots.wait_signal(w.previewed, w.run_effect, f"the {effect} preview",
                                    self.timeout, fail=w.failed)
            screenshots.wait_signal(w.applied, w.apply_preview, f"applying {effect}",
                                    self.timeout, fail=w.failed)
        self.shot(f"edit-{self.tag}-after.png", keep_toasts=True)
        if not layer.visible:
            raise screenshots.GuideError(f"the layer {name!r} was hidden")

    # -- the steps ------------------------------------------------------------------------
    def run(self) -> None:
        self.add_case()
        self.panel()
        z, whole = self.z, self.layer("whole")
        ny, nx = self.shape[1:]
        # fill between slices: the user drew slices z-3 and z+3 of a new structure by hand
        tube = self.viewer.add_labels(np.zeros(self.shape, np.uint8), name="drawn",
                                      scale=self.ph.spacing)
        yy, xx = np.mgrid[:ny, :nx]
        for k, r in ((z - 3, 0.10), (z + 3, 0.16)):
            tube.data[k][(yy - ny * 0.3) ** 2 + (xx - nx * 0.7) ** 2 < (r * nx) ** 2] = 1
        tube.refresh()
        self.tag = "interpolate"
        self.viewer.dims.set_current_step(0, z)
        self.effect("drawn", "interpolate", lambda w: w.effects.keys.setText(f"{z - 3}, {z + 3}"))
        self.viewer.layers.remove(tube)
        # islands: specks of false positives around the bone
        rng = np.random.default_rng(1)
        for y, x in rng.integers(5, min(ny, nx) - 5, (12, 2)):
            whole.data[z, y:y + 2, x:x + 2] = 1
        whole.refresh()
        self.tag = "islands"
        self.effect("whole", "remove-small", lambda w: (w.effects.mm3.setValue(0),
                                                          w.effects.voxels.setValue(30)),
                    where="slice")
        # holes: a hole the model left inside the bone
        from scipy import ndimage

        depth = ndimage.distance_transform_edt(whole.data[z] > 0)
        cy, cx = np.unravel_index(int(np.argmax(depth)), depth.shape)
        r = max(1, int(depth[cy, cx] * 0.6))
        whole.data[z, cy - r:cy + r, cx - r:cx + r] = 0
        whole.refresh()
        self.tag = "holes"
        self.effect("whole", "fill-holes", lambda w: w.effects.per_slice.setChecked(True),
                    where="slice")
        # smoothing: a ragged edge
        edge = np.zeros(self.shape[1:], bool)
        edge[::2, ::2] = True
        ring = (whole.data[z] > 0) & ~(np.roll(whole.data[z], 3, 1) > 0)
        whole.data[z][ring & edge] = 0
        whole.refresh()
        self.tag = "smooth"
        self.effect("whole", "smooth", lambda w: (w.effects.method.setCurrentText("closing"),
                                                    w.effects.mm.setValue(1.6)), where="slice")
        # margin: grow the whole by 2 mm (previewed on the volume, then applied)
        self.tag = "margin"
        self.effect("whole", "grow", lambda w: w.effects.mm.setValue(2.0))
        # logical operators: subtract part_2's region (copied into its own layer) from whole
        shaft = self.viewer.add_labels((self.layer("parts").data == 2).astype(np.uint8),
                                       name="shaft", scale=self.ph.spacing, visible=False)
        self.tag = "logic"
        self.effect("whole", "subtract", lambda w: w.effects.modifier.setCurrentText("shaft"))
        self.viewer.layers.remove(shaft)
        whole.undo()
        whole.undo()                                     # back to the unshrunk whole
        self.painting(z)

    def painting(self, z: int) -> None:
        w, whole, parts = self.w, self.layer("whole"), self.layer("parts")
        ny, nx = self.shape[1:]
        # intensity-limited brush: a stroke across bone and soft tissue paints bone only
        self.focus("whole")
        whole.data[z] = 0
        whole.refresh()
        w.paint.low.setValue(300)
        w.paint.high.setValue(3000)
        w.paint.limit.setChecked(True)
        whole.mode = "paint"
        whole.brush_size = max(6, nx // 12)
        self.shot("edit-range-before.png")
        with whole.block_history():
            for x in range(nx // 8, nx - nx // 8, 3):
                whole.paint((z, ny // 2, x), 1, refresh=False)
        whole.refresh()
        self.put_brush(ny // 2 * self.ph.spacing[1], (nx - nx // 8) * self.ph.spacing[2],
                       whole.brush_size * 2)
        self.shot("edit-range-after.png")
        whole.undo()
        w.paint.limit.setChecked(False)
        # magic wand: one click on the bone fills it within 250 HU of the clicked voxel
        whole.data[z] = 0
        whole.refresh()
        w.paint.tolerance.setValue(250)
        w.paint.wand.setChecked(True)
        self.shot("edit-wand-before.png")
        ys, xs = np.nonzero(self.ph.masks[0][z])
        w.wand_at((z, int(ys[len(ys) // 2]), int(xs[len(xs) // 2])))
        self.shot("edit-wand-after.png")
        w.paint.wand.setChecked(False)
        whole.undo()
        # hierarchy-aware painting: part_3 painted outside the whole paints the whole too
        whole.data[:] = self.ph.masks[0]
        whole.refresh()
        self.focus("parts")
        w.paint.hierarchy.setChecked(True)
        parts.mode = "paint"
        parts.selected_label = 3
        parts.brush_size = max(6, nx // 10)
        whole.contour = 2                    # the whole as an outline over the parts
        whole.opacity = 1.0
        self.viewer.layers.move(self.viewer.layers.index(whole), len(self.viewer.layers))
        self.viewer.layers.selection.active = parts
        self.shot("edit-hierarchy-before.png")
        x = int(nx * 0.72)
        with parts.block_history():
            for y in range(ny // 4, ny // 2, 3):
                parts.paint((z, y, x), 3, refresh=False)
        parts.refresh()
        self.put_brush((ny // 2 - 3) * self.ph.spacing[1], x * self.ph.spacing[2],
                       parts.brush_size * 2)
        self.shot("edit-hierarchy-after.png")


def main(argv: list[str] | None = None) -> int:
    """Take the pictures; returns the exit status."""
    return screenshots.walk_main("shots_editing", __doc__.splitlines()[0], Walk, "run",
                                 argv, quick_help=f"small phantom {QUICK_SHAPE}", expected=SHOTS)


if __name__ == "__main__":
    sys.exit(main())
