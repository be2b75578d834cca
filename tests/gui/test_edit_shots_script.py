"""scripts/shots_editing.py walks the editing page's path end to end (--quick, a temp folder)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gui, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "shots_editing.py"


def test_shots_editing_quick_saves_every_picture(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    sys.path.insert(0, str(SCRIPT.parent))
    import shots_editing

    for name in shots_editing.SHOTS:
        assert (tmp_path / name).stat().st_size > 10_000, name
