"""Intensity-limited and hierarchy-aware painting: napari ``paint`` time, feature on vs off.

On a 500 x 512 x 512 CT-sized stack (int16 image, uint8 masks) the script
times napari's own ``layer.paint`` call (brush 20, 2-D), interleaved in one
process, on the ``parts`` label map of a Predict run (the demo card: ``parts``
within ``whole``):

- ``off``: napari's paint, nothing of ours;
- ``range``: painting limited to an intensity range (the Edit panel's
  :class:`~napari_segreview._napari.edit.painting.PaintLimit`: the brush mask
  intersected with the range on its box);
- ``hierarchy``: the card's rules followed (the panel's
  :class:`~napari_segreview._napari.edit.linking.HierarchyLink`: each dab's
  ``paint`` event paints the parent ``whole`` where a part was painted). A lone
  ``paint`` call is its own stroke, so this is the worst case: while a user
  drags, napari announces one event per stroke, not per dab;
- ``both``.

Each variant is timed twice: lone ``paint`` calls (each its own stroke and
``paint`` event: the worst case for the hierarchy, which paints a second layer
per call) and strokes of 10 dabs grouped as a mouse drag groups them (one
history item, one ``paint`` event per stroke, as a user paints). It prints
each variant's median and its ratio to ``off``. The window is shown (a hidden
canvas never uploads its textures, so each paint would redraw the whole
layer). Needs a display::

    xvfb-run -a python benchmarks/bench_painting.py           # 500 x 512 x 512
    xvfb-run -a python benchmarks/bench_painting.py --quick   # 64 x 256 x 256

Goal: ratio <= 1.2 for strokes as a user paints them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    import napari_segreview  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _coords(n, shape, seed):
    rng = np.random.default_rng(seed)
    return [tuple(int(rng.integers(0, s)) for s in shape) for _ in range(n)]


def _time_paints(layer, coords, label):
    times = []
    for c in coords:
        t = time.perf_counter()
        layer.paint(c, label)
        times.append(time.perf_counter() - t)
    return times


def _time_strokes(layer, strokes, label):
    """Each stroke as a mouse drag makes it: one dab (and its redraw) per mouse move, grouped
    in one history item, announced by one ``paint`` event when the stroke ends."""
    times = []
    for coords in strokes:
        t = time.perf_counter()
        with layer.block_history():
            for c in coords:
                layer.paint(c, label)
        times.append(time.perf_counter() - t)
    return times


def _drag(n, shape, seed, dabs=10):
    """``n`` strokes of ``dabs`` dabs, 3 voxels apart along a line on one slice."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        z, y, x = (int(rng.integers(0, s)) for s in shape)
        x = min(x, shape[2] - 3 * dabs - 1)
        out.append([(z, y, x + 3 * k) for k in range(dabs)])
    return out


def _run_layers(viewer, shape):
    from napari_segreview.card.spec import load_card
    from napari_segreview.data import demo_card_path

    card = load_card(demo_card_path()).to_dict()
    out = {}
    for variant in ("off", "range", "hierarchy", "both"):
        base = {"kind": "decision", "image": "CT", "run": f"run-{variant}", "card": card}
        viewer.add_labels(np.zeros(shape, np.uint8), name=f"whole {variant}", metadata={
            "segreview": {**base, "head": "whole", "head_kind": "sigmoid",
                          "channel": "whole"}})
        out[variant] = viewer.add_labels(np.zeros(shape, np.uint8), name=f"parts {variant}",
                                         metadata={"segreview": {
                                             **base, "head": "parts", "head_kind": "softmax",
                                             "channel": None,
                                             "classes": ["background", "part_1", "part_2",
                                                         "part_3"]}})
        out[variant].brush_size = 20
        out[variant].n_edit_dimensions = 2
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="64 x 256 x 256 instead")
    p.add_argument("--strokes", type=int, default=300, help="paint calls per variant")
    args = p.parse_args(argv)
    shape = (64, 256, 256) if args.quick else (500, 512, 512)

    import napari

    from napari_segreview._napari.edit.linking import HierarchyLink
    from napari_segreview._napari.edit.painting import PaintLimit
    from napari_segreview.editing.paint import IntensityRange

    # A shown window (under xvfb): a hidden canvas never uploads its textures, so every
    # paint falls back to a full-layer refresh and the timings are not a user's.
    viewer = napari.Viewer(show=True)
    rng = np.random.default_rng(0)
    image = viewer.add_image(rng.integers(-1000, 2000, shape, dtype=np.int16), name="CT")
    layers = _run_layers(viewer, shape)
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    limit = PaintLimit()
    limit.set_range(IntensityRange(200, 3000))
    links = []
    for variant in ("range", "both"):
        limit.attach(layers[variant], image)
    for variant in ("hierarchy", "both"):
        link = HierarchyLink(viewer)
        link.enabled = True
        link.link(layers[variant])
        links.append(link)

    times = {v: [] for v in layers}
    drags = {v: [] for v in layers}
    for i in range(0, args.strokes, 20):          # interleave, 20 calls at a time
        for v, layer in layers.items():
            times[v] += _time_paints(layer, _coords(20, shape, i), 1 + i % 3)
        for v, layer in layers.items():
            drags[v] += _time_strokes(layer, _drag(2, shape, 10_000 + i), 1 + i % 3)
    med = {v: statistics.median(t) for v, t in times.items()}
    dmed = {v: statistics.median(t) for v, t in drags.items()}
    whole = viewer.layers["whole both"].data
    parts = layers["both"].data
    assert not ((parts > 0) & (whole == 0)).any(), "the hierarchy was not followed"
    assert not ((parts > 0) & ((image.data < 200) | (image.data > 3000))).any()
    print(f"layers {shape} uint8 (image int16), brush 20, 2-D, {args.strokes} paint calls "
          "per variant, interleaved")
    for v in layers:
        print(f"lone paint call, {v:<10} median {med[v] * 1e3:8.3f} ms   "
              f"ratio {med[v] / med['off']:6.3f}")
    print(f"strokes of 10 dabs as a drag makes them (one paint event each), "
          f"{len(drags['off'])} per variant:")
    for v in layers:
        print(f"stroke,          {v:<10} median {dmed[v] * 1e3:8.3f} ms   "
              f"ratio {dmed[v] / dmed['off']:6.3f}")
    for link in links:
        link.unlink()
    limit.detach()
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
