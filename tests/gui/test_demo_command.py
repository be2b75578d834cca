"""`segreview demo`: the README's main job, in a real napari window."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def demo(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "napari_segreview", "demo", *args],
        capture_output=True, text=True, timeout=300, env=env,
    )


def test_demo_opens_napari_and_draws(tmp_path):
    png = tmp_path / "demo.png"
    out = demo("--screenshot", str(png))
    assert out.returncode == 0, out.stderr[-3000:]
    from skimage.io import imread

    shot = imread(png)[..., :3].astype(int)
    assert shot.shape[0] > 400 and shot.shape[1] > 800
    red = (shot[..., 0] > 150) & (shot[..., 1] < 120) & (shot[..., 2] < 120)
    assert red.sum() > 100, "the sample's label colours are not in the window"
    assert np.ptp(shot.mean(axis=-1)) > 100


def test_demo_without_display_says_so_in_one_sentence():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = demo(env=env)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("segreview: error: no display")
    assert "Traceback" not in out.stderr


def test_demo_opens_with_the_predict_panel_in_front(make_napari_viewer, qtbot):
    """The README's first step is "the Predict panel: press Run": Predict is the tab in front."""
    from napari.qt.threading import WorkerBase
    from qtpy.QtWidgets import QTabBar

    from napari_segreview._napari.launch import open_demo

    viewer = make_napari_viewer(show=True)
    predict, review = open_demo(viewer)
    qtbot.wait(50)
    window = predict.parentWidget()
    assert review in window.tabifiedDockWidgets(predict), "one dock, two tabs"
    assert not predict.visibleRegion().isEmpty(), "Predict is drawn"
    assert review.visibleRegion().isEmpty(), "Review is the tab behind"
    bars = [bar for bar in window.findChildren(QTabBar)
            if predict.windowTitle() in [bar.tabText(i) for i in range(bar.count())]]
    assert len(bars) == 1 and bars[0].tabText(bars[0].currentIndex()) == predict.windowTitle()
    assert predict.windowTitle().startswith("Predict")
    assert viewer.layers[0].name == "CT phantom"
    screen = predict.screen().availableGeometry()
    size = window.size()
    assert size.width() <= screen.width() and size.height() <= screen.height()
    WorkerBase.await_workers(60_000)  # the shown Predict panel lists devices in a worker
