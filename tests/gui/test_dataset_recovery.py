"""Kill a real napari with SIGKILL in the middle of a dataset case; the corrections come back.

The child process (same Xvfb display) opens the Dataset panel on a dataset,
presses Next, paints a block into the case's ``whole`` layer and logs once
an autosave after the stroke is on disk; the test then kills it with
SIGKILL, opens the dataset again in a napari of its own, presses Next (the
case is still ``in_review``, the most uncertain) and finds the block.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import tifffile
from test_dataset_panel import TIMEOUT, build_dataset

from napari_segreview.dataset.manifest import Manifest

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import napari
    from napari_segreview._napari.dataset.widget import DatasetWidget

    root, log_path = sys.argv[1], sys.argv[2]
    log = open(log_path, "w", buffering=1)
    viewer = napari.Viewer(show=False)
    w = DatasetWidget(viewer)
    w.open_case.interval_s = 0.3
    painted = []

    def saved(gen):
        ctl = w.open_case.controller
        if painted and ctl.unsaved_edits == 0:  # this commit holds the stroke
            log.write(f"saved {gen} after painting {painted[0]}\\n")

    def opened(cid):
        whole = next(x for x in viewer.layers if x.name == "whole")
        w.open_case.controller.saved.connect(saved)
        yy, xx = np.meshgrid(np.arange(0, 8), np.arange(0, 8), indexing="ij")
        whole.data_setitem((np.zeros(64, int), yy.ravel(), xx.ravel()), 1)
        painted.append(cid)
        log.write(f"painted {cid}\\n")

    w.case_opened.connect(opened)
    w.open_dataset(root)
    w.next()
    napari.run()
""")


def test_sigkill_mid_case_keeps_the_corrections(make_napari_viewer, tmp_path, qtbot):
    root = build_dataset(tmp_path / "study")
    script, log = tmp_path / "child.py", tmp_path / "log.txt"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(root), str(log)],
                            env=dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if log.exists() and "saved" in log.read_text():
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            time.sleep(0.05)
        else:
            raise AssertionError("the child napari never saved a stroke; log: "
                                 + (log.read_text() if log.exists() else "(none)"))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert "painted ct_b" in log.read_text()
    assert Manifest.open(root).case("ct_b").status == "in_review"

    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Dataset")
    w.open_dataset(root)
    with qtbot.waitSignal(w.case_opened, timeout=TIMEOUT) as blocker:
        w.next()
    assert blocker.args[0] == "ct_b"
    assert "restored from its session" in w.case_status.text()
    whole = next(x for x in viewer.layers if x.name == "whole")
    expected = tifffile.imread(root / "cases" / "ct_b" / "prediction" / "whole.tif")[0].copy()
    expected[0, :8, :8] = 1
    np.testing.assert_array_equal(np.asarray(whole.data), expected)
    # the kept prediction came back too, so Mark done compares with the model's output
    w.advance.setChecked(False)
    w.mark_done()
    case = Manifest.open(root).case("ct_b")
    pred = expected.copy()
    pred[0, :8, :8] = tifffile.imread(root / "cases" / "ct_b" / "prediction" / "whole.tif")[
        0][0, :8, :8]
    added = int(expected.astype(bool).sum() - pred.astype(bool).sum())
    n = int(pred.astype(bool).sum())
    assert case.status == "done"
    assert case.dice["whole"] == 2 * n / (2 * n + added)
