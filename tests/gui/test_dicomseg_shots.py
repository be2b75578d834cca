"""scripts/shots_dicom_seg.py takes the pictures docs/dicom-seg.md shows, from a real window."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from skimage.io import imread

pytestmark = [pytest.mark.gui, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def test_shots_script_quick(tmp_path):
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "shots_dicom_seg.py"),
                          "--out", str(tmp_path), "--quick"], capture_output=True, text=True,
                         timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    linked = re.findall(r"\]\(images/(dicom-seg-[\w-]+\.png)\)",
                        (REPO / "docs" / "dicom-seg.md").read_text(encoding="utf-8"))
    assert linked == ["dicom-seg-1-import.png", "dicom-seg-2-export.png"]
    for name in linked:
        img = imread(tmp_path / name)[..., :3].astype(int)
        assert img.shape[:2] == (900, 1400)
        canvas = img[100:750, 450:850]
        # the segments are drawn over the grey CT: strongly coloured pixels on the canvas
        saturation = canvas.max(axis=-1) - canvas.min(axis=-1)
        assert (saturation > 80).mean() > 0.005, name
    assert "wrote DICOM SEG" in run.stdout + run.stderr
