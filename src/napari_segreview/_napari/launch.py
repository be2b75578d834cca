"""Open napari with the plugin and its sample: what ``segreview demo`` runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def has_display() -> bool:
    """True when a GUI can open: a display on Linux/BSD, always on macOS/Windows.

    >>> isinstance(has_display(), bool)
    True
    """
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


NO_DISPLAY = (
    "no display was found (DISPLAY is not set): run this on a desktop session, "
    "or on a virtual screen with `xvfb-run -a segreview demo`."
)


def open_demo(viewer: Any) -> tuple[Any, Any]:
    """Fill ``viewer`` as ``segreview demo`` shows it; returns the (Predict, Review) docks.

    The CT phantom and its ground truth, the Predict and Review panels as two
    tabs of one dock with Predict in front (the README's first step: press
    Run), the middle slice, and a window no larger than the screen.
    """
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    screen = app.primaryScreen().availableGeometry() if app is not None else None
    width, height = (1400, 900) if screen is None else (min(1400, screen.width()),
                                                        min(900, screen.height()))
    viewer.window.resize(width, height)
    viewer.open_sample("napari-segreview", "ct_phantom")
    predict, _ = viewer.window.add_plugin_dock_widget("napari-segreview", "Predict")
    review, _ = viewer.window.add_plugin_dock_widget("napari-segreview", "Review and correct",
                                                     tabify=True)
    viewer.dims.set_current_step(0, viewer.dims.nsteps[0] // 2)
    if app is not None:
        app.processEvents()  # a panel joins its neighbour's tabs when first shown
    predict.raise_()
    return predict, review


def run_demo(screenshot: str | Path | None = None) -> int:
    """Open napari with the CT phantom and the Predict and Review panels docked.

    The Predict panel starts with the bundled demo model, so pressing Run is
    all a new user has to do (:func:`open_demo`).

    With ``screenshot``, save a picture of the whole window there and close
    instead of waiting for the user (used for the docs and the tests).
    Returns the process exit code.
    """
    if not has_display():
        print(f"segreview: error: {NO_DISPLAY}", file=sys.stderr)
        return 1
    import napari

    viewer = napari.Viewer(title="napari-segreview")
    open_demo(viewer)
    if screenshot is not None:
        from qtpy.QtWidgets import QApplication

        for _ in range(5):
            QApplication.processEvents()
        viewer.reset_view()
        QApplication.processEvents()
        viewer.screenshot(str(screenshot), canvas_only=False)
        from napari.qt.threading import WorkerBase

        WorkerBase.await_workers(30_000)  # the Predict panel lists devices in a worker
        viewer.close()
        print(f"saved a screenshot of the demo window to {screenshot}")
        return 0
    napari.run()
    return 0
