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
