"""scripts/shots_finetune.py takes every picture docs/fine-tuning.md shows, from a real window.

The script runs as a user runs it (its own process, ``--quick``: small cases,
a few steps of the real ``segreview train``); each picture must be the whole
window and the page must link each one, and the repository must hold them.
"""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage.io import imread

pytestmark = [pytest.mark.gui, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "shots_finetune.py"
PAGE = REPO / "docs" / "fine-tuning.md"


def page_images() -> list[str]:
    return re.findall(r"\]\(images/(finetune-[\w-]+\.png)\)", PAGE.read_text(encoding="utf-8"))


def test_the_page_links_every_picture_once_and_the_repository_has_them():
    names = page_images()
    assert len(names) == 5 and len(set(names)) == 5, names
    for name in names:
        assert (REPO / "docs" / "images" / name).is_file(), f"docs/images/{name} is missing"


def test_the_script_saves_the_pages_pictures(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--quick"],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(page_images())
    for name in page_images():
        picture = imread(tmp_path / name)
        assert picture.shape[:2] == (900, 1400), name
        dock = picture[60:850, 930:1370, :3].astype(int)     # the panel, right of the canvas
        assert np.ptp(dock) > 100, f"{name}: the panel is blank"
