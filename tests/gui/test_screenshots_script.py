"""scripts/screenshots.py takes every picture the user guide shows, from a real napari window.

The script runs as a user runs it (a separate Python process, ``--quick`` for a
small phantom) into a temporary folder; each picture must be the whole window
at the script's fixed size and actually show the CT and the label colours.
"""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage.io import imread

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "screenshots.py"
GUIDE = REPO / "docs" / "user-guide.md"
WIDTH, HEIGHT = 1400, 900
#: Part of the window that is canvas in every picture (left panel and right dock excluded).
CANVAS = (slice(100, 750), slice(450, 850))


def guide_images() -> list[str]:
    """The guide-*.png files docs/user-guide.md links, in order."""
    return re.findall(r"\]\(images/(guide-[\w-]+\.png)\)", GUIDE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    out = tmp_path_factory.mktemp("shots")
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--quick"],
                         capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    return out, run


def test_guide_links_every_picture_once_and_the_repository_has_them():
    names = guide_images()
    assert len(names) == 8 and len(set(names)) == len(names), names
    for name in names:
        assert (REPO / "docs" / "images" / name).is_file(), f"docs/images/{name} is missing"


def test_script_saves_exactly_the_pictures_the_guide_shows(shots):
    out, run = shots
    assert sorted(p.name for p in out.glob("*.png")) == sorted(guide_images())
    assert f"saved {len(guide_images())} screenshots in {out}" in run.stdout


@pytest.mark.parametrize("name", guide_images())
def test_picture_is_the_whole_window_and_not_blank(shots, name):
    out, _ = shots
    rgb = imread(out / name)[..., :3].astype(int)
    assert rgb.shape == (HEIGHT, WIDTH, 3)
    # The whole window: many colours (dark panels, light text, the CT, label colours).
    assert len(np.unique(rgb // 16 @ np.array([256, 16, 1]))) > 50
    canvas = rgb[CANVAS]
    bright = canvas.max(axis=-1) > 40
    assert bright.mean() > 0.2, f"{name}: the canvas is (nearly) black"
    assert canvas.std() > 10, f"{name}: the canvas is one flat colour"
    grey = (np.ptp(canvas, axis=-1) < 12) & bright
    assert grey.mean() > 0.05, f"{name}: no CT image on the canvas"
    coloured = np.ptp(canvas, axis=-1) > 100
    assert coloured.sum() > 200, f"{name}: no label or probability colours on the canvas"


def test_script_without_a_display_says_so_in_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("screenshots: error: no display")
    assert not list(tmp_path.glob("*.png"))
