"""The Predict widget's cost over a direct predict() call, and how responsive napari stays.

In one napari window (needs a display: run under ``xvfb-run`` on a server),
on the CT phantom and the demo model, the script times:

(a) **direct**: :func:`napari_segreview.inference.predict.predict` alone (model
    loaded once before), as a script would call it;
(b) **widget**: pressing Run in the Predict widget until its layers are in the
    viewer: model loading and predict() in a worker, then the layers added on
    the main thread;
(c) **layers**: the part of (b) spent adding layers on the main thread
    (one layer per event-loop turn, so napari redraws in between).

While (b) runs, a 10 ms Qt timer measures how late the event loop serves it:
the longest gap is what a user feels as a freeze. It prints the ratios
widget/direct and layers/widget, and the longest gaps while the worker runs
and once layers are being added. Compare ratios between machines, not times::

    xvfb-run -a python benchmarks/bench_predict_widget.py                 # 48 x 256 x 256
    xvfb-run -a python benchmarks/bench_predict_widget.py --slices 8 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slices", type=int, default=48)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--probabilities", default="float16", choices=("float16", "uint8", "none"))
    args = p.parse_args(argv)
    probs = None if args.probabilities == "none" else args.probabilities

    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_segreview.card.spec import load_card
    from napari_segreview.data import demo_card_path, demo_model_path
    from napari_segreview.data.phantom import make_ct_phantom
    from napari_segreview.inference.models import load_model
    from napari_segreview.inference.predict import predict

    image = make_ct_phantom((args.slices, args.size, args.size), seed=1).image
    card, model = load_card(demo_card_path()), load_model(demo_model_path())
    predict(image[:1], model, card, device="cpu")  # warm-up
    direct = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        predict(image, model, card, device="cpu", probabilities=probs)
        direct.append(time.perf_counter() - t0)

    viewer = napari.Viewer(show=True)
    viewer.add_image(image, name="CT", scale=(2.5, 0.8, 0.8))
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Predict")
    w.set_device("cpu")
    w.set_probabilities(probs)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    add_spans: list[tuple[float, float]] = []
    original = w._add_layer

    def timed_add(*layer_tuple):
        t0 = time.perf_counter()
        try:
            return original(*layer_tuple)
        finally:
            add_spans.append((t0, time.perf_counter()))

    w._add_layer = timed_add
    widget, layers, gap_worker, gap_layers = [], [], [], []
    for _ in range(args.repeat):
        done: list[str] = []
        w.run_finished.connect(done.append)
        ticks.clear()
        add_spans.clear()
        timer.start()
        t0 = time.perf_counter()
        w.run()
        while not done:
            QApplication.processEvents()
            time.sleep(0.002)
        t1 = time.perf_counter()
        timer.stop()
        w.run_finished.disconnect(done.append)
        assert done == ["done"], w.status.text()
        a0 = add_spans[0][0]
        ts = np.array([t0, *ticks, t1])
        starts, ends = ts[:-1], ts[1:]
        gaps = ends - starts
        widget.append(t1 - t0)
        layers.append(sum(b - a for a, b in add_spans))
        gap_worker.append(float(gaps[ends < a0 - 0.5].max(initial=0)))   # well before the end
        gap_layers.append(float(gaps[ends > a0].max(initial=0)))
    viewer.close()

    best = {"direct": min(direct), "widget": min(widget), "layers": min(layers)}
    ratios = {"widget/direct": best["widget"] / best["direct"],
              "layers/widget": best["layers"] / best["widget"]}
    gaps = {"worker": min(gap_worker), "layers": min(gap_layers)}
    print(f"{args.slices} x {args.size} x {args.size} CT phantom, demo model, cpu, "
          f"probabilities {args.probabilities}, {os.cpu_count()} cores, best of {args.repeat}")
    for k, v in best.items():
        print(f"  {k:8s} {v:7.2f} s")
    for k, v in ratios.items():
        print(f"  {k:14s} {v:5.2f}")
    print(f"  longest event-loop gap while the worker runs: {gaps['worker'] * 1000:6.0f} ms")
    print(f"  longest event-loop gap while layers are added: {gaps['layers'] * 1000:6.0f} ms")
    return {"seconds": best, "ratios": ratios, "gaps_s": gaps}


if __name__ == "__main__":
    main()
