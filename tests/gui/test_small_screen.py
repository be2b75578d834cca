"""Every panel works on a 1366x768 laptop screen, all of them docked in a real napari window.

The check runs in its own napari process on its own 1366x768 Xvfb screen
(tests/gui/small_screen_check.py says what "a button is seen whole" means):
the window must stay within the screen, and every button of every panel must be
whole and reachable (its dock in front, its tab page shown, its panel scrolled).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.gui

SCRIPT = Path(__file__).with_name("small_screen_check.py")
MANIFEST = Path(__file__).resolve().parents[2] / "napari.yaml"
WIDTH, HEIGHT = 1366, 768


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        pytest.skip("xvfb-run is needed for a screen of a given size")
    # napari as a new user starts it: no window size saved by an earlier napari on this machine
    env = {**os.environ, "NAPARI_CONFIG": str(tmp_path_factory.mktemp("napari") / "s.yaml")}
    run = subprocess.run([xvfb, "-a", "-s", f"-screen 0 {WIDTH}x{HEIGHT}x24", sys.executable,
                          str(SCRIPT)], capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_window_stays_within_a_laptop_screen(report):
    assert report["screen"] == [0, 0, WIDTH, HEIGHT]
    x, y, w, h = report["frame"]
    assert x >= 0 and y >= 0 and x + w <= WIDTH and y + h <= HEIGHT, report["frame"]


def test_every_button_of_every_panel_can_be_seen_whole(report):
    widgets = yaml.safe_load(MANIFEST.read_text())["contributions"]["widgets"]
    assert sorted(report["panels"]) == sorted(w["display_name"] for w in widgets)
    assert report["panels"] == {name: [] for name in report["panels"]}
