r"""Take the user guide's screenshots from a real napari window (docs/user-guide.md).

Run it from the repository on a virtual screen (on a desktop, leave out the
``xvfb-run ...`` part)::

    xvfb-run -a -s "-screen 0 1600x1000x24" \
        .venv/bin/python scripts/screenshots.py [--out docs/images] [--quick]

It opens a ``napari.Viewer`` of a fixed size (1400 x 900), walks the guide's
path the way a user clicks it, and saves a picture of the whole window
(canvas, layer list and dock widgets) at each step:

====================================  ================================================
file                                  what it shows
====================================  ================================================
``guide-1-open.png``                  the CT phantom sample opened, bone window
``guide-2-predict.png``               the Predict panel after Run: probability and
                                      label layers, the layer list
``guide-3-paint.png``                 a brush stroke on the ``parts`` layer, paint mode
``guide-4-check.png``                 the Review panel: checks with a finding listed
``guide-5-fix-overlap.png``           a fix applied, the overlap view shown
``guide-6-qa.png``                    the QA tab: Dice, added, removed per channel
``guide-7-session.png``               the Review session panel, autosave status
``guide-8-export.png``                the Export panel with the statistics preview
====================================  ================================================

The widgets are driven through their public attributes, methods and signals
(as their module docstrings describe); every wait runs a local Qt event loop
until the widget's signal arrives, with a timeout that stops the script with
a clear message. ``--quick`` uses a small phantom (8 slices of 160 x 160) so
that the tests can run the whole path in seconds; the pictures in
``docs/images`` are taken without it. Exit status: 0 when every picture was
saved; 1 with one ``screenshots: error: ...`` line when there is no display or
a step does not do what the guide says (a widget's error, a timeout).
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
#: Window size in pixels (width, height): every picture has this size.
WINDOW = (1400, 900)
#: File names, in the guide's order (docs/user-guide.md links each one).
SHOTS = ("guide-1-open.png", "guide-2-predict.png", "guide-3-paint.png", "guide-4-check.png",
         "guide-5-fix-overlap.png", "guide-6-qa.png", "guide-7-session.png",
         "guide-8-export.png")
QUICK_SHAPE = (8, 160, 160)
PLUGIN = "napari-segreview"


class GuideError(RuntimeError):
    """A step did not do what the guide says (the message says which and why)."""


# ----------------------------------------------------------------------------- waiting


def _loop_until(done: Callable[[], bool], what: str, timeout_s: float) -> None:
    """Run a local Qt event loop until ``done()`` is true; GuideError after ``timeout_s``."""
    from qtpy.QtCore import QEventLoop, QTimer

    if done():
        return
    loop = QEventLoop()
    poll, limit = QTimer(), QTimer()
    poll.timeout.connect(lambda: done() and loop.quit())
    limit.setSingleShot(True)
    limit.timeout.connect(loop.quit)
    poll.start(50)
    limit.start(int(timeout_s * 1000))
    loop.exec()
    poll.stop()
    limit.stop()
    if not done():
        raise GuideError(f"timed out after {timeout_s:g} s waiting for {what}")


def wait_signal(signal: Any, start: Callable[[], Any], what: str, timeout_s: float,
                fail: Any = None) -> tuple:
    """Connect to ``signal``, call ``start()``, and wait for the signal's next emission.

    ``fail`` is a widget's error signal (carrying its sentence): when it comes
    first, the wait ends with a GuideError that quotes it.
    """
    got: list[tuple] = []
    errors: list[str] = []

    def on(*args: Any) -> None:
        got.append(args)

    def on_fail(message: Any = "") -> None:
        errors.append(str(message))

    signal.connect(on)
    if fail is not None:
        fail.connect(on_fail)
    try:
        start()
        _loop_until(lambda: bool(got or errors), what, timeout_s)
    finally:
        signal.disconnect(on)
        if fail is not None:
            fail.disconnect(on_fail)
    if errors and not got:
        raise GuideError(f"{what} failed: {errors[0]}")
    return got[0]


def close_toasts() -> None:
    """Close napari's notification pop-ups (they stay in the bell's list)."""
    from napari_segreview._napari._compat import close_notification_toasts

    close_notification_toasts()


def settle(ms: int = 400) -> None:
    """Let Qt and napari process events and redraw for ``ms`` milliseconds."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


# ----------------------------------------------------------------------------- the walk


class Walk:
    """One viewer walked through the guide's steps; each step saves one picture."""

    def __init__(self, out: Path, work: Path, *, quick: bool, timeout_s: float):
        import napari

        self.out, self.work, self.quick, self.timeout = out, work, quick, timeout_s
        self.viewer = napari.Viewer(title="napari-segreview")
        self.viewer.window.resize(*WINDOW)
        self.docks: dict[str, Any] = {}
        self.saved: list[Path] = []
        self.t0 = time.perf_counter()

    # -- helpers ------------------------------------------------------------------------
    def dock(self, name: str) -> Any:
        """Open a plugin panel (as Plugins > SegReview > name does); hide the others."""
        for other in self.docks.values():
            other[0].setVisible(False)
        dock, widget = self.viewer.window.add_plugin_dock_widget(PLUGIN, name)
        self.docks[name] = (dock, widget)
        dock.setVisible(True)
        return widget

    def shot(self, name: str, *, keep_toasts: bool = False) -> None:
        """Save a picture of the whole window (canvas and panels) as ``name``.

        Notifications of earlier steps are closed first; ``keep_toasts`` keeps
        those of this step (e.g. the message of a fix).
        """
        settle()
        if not keep_toasts:
            close_toasts()
            settle(100)
        path = self.out / name
        self.viewer.screenshot(str(path), canvas_only=False, flash=False)
        self.saved.append(path)
        print(f"saved {path} ({time.perf_counter() - self.t0:.1f} s)")
        close_toasts()

    def put_brush(self, y: float, x: float, size: float) -> None:
        """Draw napari's brush circle at world point (y, x), where the mouse would be."""
        try:
            brush = self.viewer.canvas.overlays["_brush_circle"]
        except (AttributeError, KeyError, TypeError):
            return                      # another napari version: no brush circle, no harm
        settle(200)                     # the canvas size follows the panels shown
        camera = getattr(self.viewer, "scene", self.viewer).camera
        height, width = self.viewer.canvas.size
        cy, cx = camera.center[-2:]
        brush.size = int(size)
        brush.position = (int(width / 2 + (x - cx) * camera.zoom),
                          int(height / 2 + (y - cy) * camera.zoom))

    def layer(self, name: str) -> Any:
        try:
            return self.viewer.layers[name]
        except KeyError:
            names = ", ".join(x.name for x in self.viewer.layers)
            raise GuideError(f"there is no layer {name!r} (layers: {names})") from None

    def mid(self) -> int:
        return int(self.viewer.dims.nsteps[0] // 2)

    # -- steps --------------------------------------------------------------------------
    def open_sample(self) -> None:
        """1. File > Open Sample > SegReview > CT phantom (it opens in the bone window)."""
        if self.quick:
            from napari_segreview._napari import _sample_data
            from napari_segreview.data.phantom import make_ct_phantom

            _sample_data.make_ct_phantom = functools.partial(make_ct_phantom, QUICK_SHAPE)
        self.viewer.open_sample(PLUGIN, "ct_phantom")
        self.viewer.dims.set_current_step(0, self.mid())
        self.viewer.reset_view()
        self.shot(SHOTS[0])
        # The ground-truth layers are the sample's answer key: the rest of the guide
        # works on the model's layers, so they are removed to keep the list short.
        for layer in [x for x in self.viewer.layers if x.name.endswith("(ground truth)")]:
            self.viewer.layers.remove(layer)

    def predict(self) -> None:
        """2. Plugins > SegReview > Predict, bone window, Run; wait for the layers."""
        w = self.dock("Predict")
        if w.devices is None:
            wait_signal(w.devices_found, lambda: None, "the Predict panel to list devices",
                        self.timeout)
        w.image.setCurrentText("CT phantom")
        w.set_window("bone")
        outcome = wait_signal(w.run_finished, w.run, "the prediction to finish",
                              self.timeout)[0]
        if outcome != "done":
            raise GuideError(f"Predict ended with {outcome!r}: {w.status.text()}")
        for name in ("whole", "parts", "whole (p)", "parts: part_1 (p)"):
            self.layer(name)
        self.viewer.dims.set_current_step(0, self.mid())
        self.viewer.layers.selection.active = self.layer("parts")
        self.shot(SHOTS[1])

    def paint(self) -> None:
        """3. Select ``parts``, paint mode, class 3: one stroke over the lower growth plate."""
        for dock, _widget in self.docks.values():
            dock.setVisible(False)
        parts, whole = self.layer("parts"), self.layer("whole")
        z = self.mid()
        labels, on = np.asarray(parts.data[z]), np.asarray(whole.data[z]) > 0
        shaft = np.flatnonzero((labels == 2).sum(axis=1) >= 3)
        end = np.flatnonzero((labels == 3).sum(axis=1) >= 3)
        if shaft.size == 0 or end.size == 0:
            raise GuideError(f"the model found no part_2 or part_3 on slice {z}")
        # The model leaves the growth plate between the shaft (part_2) and the
        # distal end (part_3) to `whole` alone. The stroke paints it as part_3
        # and runs a little past the bone's edge on both sides: the slip that the
        # Review panel's checks catch in the next step.
        y = (int(shaft[-1]) + int(end[end > shaft[-1]][0])) // 2 if (end > shaft[-1]).any() \
            else int(end[0])
        cols = np.flatnonzero(on[y])
        if cols.size == 0:
            raise GuideError(f"the model found no bone in row {y} of slice {z}")
        x0, x1 = int(cols[0]) - 6, int(cols[-1]) + 6
        self.viewer.layers.selection.active = parts
        parts.mode = "paint"
        parts.selected_label = 3
        parts.brush_size = 6
        with parts.block_history():        # one stroke = one undo step, like a mouse drag
            for x in range(x0, x1 + 1):
                parts.paint((z, y, x), 3, refresh=False)
        parts.refresh()
        cy, cx = parts.data_to_world((z, y, (x0 + x1) / 2))[1:]
        camera = getattr(self.viewer, "scene", self.viewer).camera   # napari >= 0.9: scene
        camera.center = (cy, cx)
        camera.zoom = camera.zoom * 2.5
        end_y, end_x = parts.data_to_world((z, y, x1))[1:]
        self.put_brush(end_y, end_x, parts.brush_size * float(parts.scale[-1]) * camera.zoom)
        self.shot(SHOTS[2])
        parts.mode = "pan_zoom"     # as pressing Z (or 6) does
        self.viewer.reset_view()

    def review(self) -> Any:
        """4. Plugins > SegReview > Review and correct: Check, Go to the finding."""
        w = self.dock("Review and correct")
        if w.source.currentData() in (None, "manual"):
            raise GuideError("the Review panel did not offer the Predict run as its masks")
        _loop_until(lambda: not w.busy, "the Review panel to be idle", self.timeout)
        report = wait_signal(w.checked, w.run_checks, "the consistency checks",
                             self.timeout, fail=w.failed)[0]
        kinds = [f.kind for f in report.findings]
        if "outside_parent" not in kinds:
            raise GuideError(f"the checks found {kinds}, not the stroke outside 'whole'")
        w.go_to(kinds.index("outside_parent"))
        self.shot(SHOTS[3])
        return w

    def fix_and_overlap(self, w: Any) -> None:
        """5. Clip children to parent (one undo step), then Overlap view."""
        wait_signal(w.fixed, lambda: w.apply_fix("clip_to_parent"), "the fix", self.timeout,
                    fail=w.failed)
        _loop_until(lambda: not w.busy, "the checks after the fix", self.timeout)
        if w.report is None or not w.report.ok:
            raise GuideError(f"findings are left after the fix: {w.status.text()}")
        layer = wait_signal(w.overlap_shown, w.show_overlap, "the overlap view",
                            self.timeout, fail=w.failed)[0]
        self.viewer.layers.selection.active = layer
        self.viewer.dims.set_current_step(0, self.mid())
        self.shot(SHOTS[4], keep_toasts=True)

    def qa(self, w: Any) -> None:
        """6. The QA tab: the stroke's part_3 voxels are 'Added'."""
        overlap = [x for x in self.viewer.layers if x.name.startswith("overlap (")]
        for layer in overlap:
            layer.visible = False
        w.tabs.setCurrentIndex(1)
        rows = {r["channel"]: r for r in w.qa.values()} if w.qa.results else {}
        if not rows.get("part_3", {}).get("added"):
            raise GuideError(f"the QA table shows no voxels added to part_3: {rows}")
        w.qa.select_channel("part_3")
        self.viewer.layers.selection.active = self.layer("parts")
        self.shot(SHOTS[5])
        for layer in overlap:       # the overlap view is for looking only: delete it
            self.viewer.layers.remove(layer)

    def export(self) -> None:
        """8. File > IO utilities > Export training targets: Preview statistics."""
        w = self.dock("Export training targets")
        w.folder.setText(str(self.work / "bone-export"))
        w.image_layer.setCurrentText("CT phantom")
        what = wait_signal(w.done, w.preview, "the statistics preview", self.timeout)[0]
        if what != "preview":
            raise GuideError(f"the statistics preview failed: {w.status.text()}")
        self.shot(SHOTS[7])

    def session(self) -> None:
        """7. Layers > Annotate > Review session: Start session; the status shows autosave."""
        from napari_segreview._napari.session.registry import controller_for

        w = self.dock("Review session")
        w.image_combo.setCurrentText("CT phantom")
        w.folder_edit.setText(str(self.work / "CT phantom.segreview"))
        w.start()
        ctl = controller_for(self.viewer)
        if ctl is None:
            raise GuideError(f"the session did not start: {w.status.text()}")
        _loop_until(lambda: ctl.last_saved is not None and not ctl.saving
                    and ctl.unsaved_edits == 0, "the session's first save", self.timeout)
        w.refresh_status()
        self.shot(SHOTS[6], keep_toasts=True)

    def run(self) -> list[Path]:
        self.open_sample()
        self.predict()
        self.paint()
        w = self.review()
        self.fix_and_overlap(w)
        self.qa(w)
        self.session()
        self.export()
        return self.saved


def walk_main(prog: str, description: str, walk_cls: type, run: str,
              argv: list[str] | None = None, *, quick_help: str, timeout_s: float = 300.0,
              expected: tuple[str, ...] = ()) -> int:
    """The command line every screenshot script shares; returns the exit status.

    Parses ``--out``, ``--quick`` and ``--timeout``, refuses to start without
    a display, makes ``walk_cls(out, work, quick=..., timeout_s=...)`` in a
    temporary work folder and calls its method ``run``. A :class:`GuideError`
    (a step that did not do what the page says) or a picture of ``expected``
    that was not saved is one ``<prog>: error: ...`` line and exit status 1.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images",
                        help="folder for the PNG files (default: docs/images)")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--timeout", type=float, default=timeout_s,
                        help=f"seconds to wait for any one step (default {timeout_s:g})")
    args = parser.parse_args(argv)
    from napari_segreview._napari.launch import has_display

    if not has_display():
        print(f"{prog}: error: no display was found (DISPLAY is not set): run it on a "
              'desktop, or with `xvfb-run -a -s "-screen 0 1600x1000x24"` in front.',
              file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"segreview-{prog}-") as work:
        walk = walk_cls(args.out, Path(work), quick=args.quick, timeout_s=args.timeout)
        try:
            getattr(walk, run)()
        except GuideError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 1
        finally:
            walk.viewer.close()
    missing = [s for s in expected if not (args.out / s).exists()]
    if missing:
        print(f"{prog}: error: not saved: {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"saved {len(walk.saved)} screenshots in {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Walk the guide and save its pictures; returns the exit status."""
    return walk_main("screenshots", __doc__.splitlines()[0], Walk, "run", argv,
                     quick_help=f"small phantom {QUICK_SHAPE} for tests: seconds, not minutes")


if __name__ == "__main__":
    sys.exit(main())
