"""Kill a real napari process with SIGKILL after an Edit panel effect: the session restores it.

The child (same Xvfb display) creates a session on a mask, runs "grow 2 mm" from
the Edit panel (preview, then Apply, as a user does) and logs when the effect is
applied and when the autosave after it is on disk; the test then kills it and
reopens the session with the core API: the layer is the mask grown as the core
function grows it, and undo-free (the kill came after the save).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from napari_segreview.editing.region import edit_mask
from napari_segreview.session.session import Session

pytestmark = [pytest.mark.gui, pytest.mark.slow]

SHAPE = (8, 48, 48)
SPACING = (2.0, 1.0, 1.0)

CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import napari
    from napari_segreview._napari.edit.widget import EditWidget
    from napari_segreview._napari.session.reader import create_session

    folder, log_path = sys.argv[1], sys.argv[2]
    log = open(log_path, "w", buffering=1)
    viewer = napari.Viewer(show=False)
    image = viewer.add_image(np.zeros({shape}, np.int16), name="ct", scale={spacing})
    mask = np.zeros({shape}, np.uint8)
    mask[2:6, 15:30, 15:30] = 1
    layer = viewer.add_labels(mask, name="mask", scale={spacing},
                              metadata={{"segreview": {{"kind": "mask"}}}})
    ctl = create_session(viewer, folder, image, interval_s=0.3)
    state = {{"applied": False}}

    def saved(gen):
        if state["applied"]:
            log.write(f"saved after effect {{gen}}\\n")

    ctl.saved.connect(saved)
    w = EditWidget(viewer)
    viewer.layers.selection.active = layer
    w.effects.set_effect("grow")
    w.effects.mm.setValue(2.0)

    def applied(result):
        state["applied"] = True
        log.write("applied\\n")

    w.previewed.connect(lambda result: w.apply_preview())
    w.applied.connect(applied)
    w.run_effect()
    napari.run()
""")


def test_sigkill_after_an_effect_restores_it(tmp_path):
    folder, log = tmp_path / "ct.segreview", tmp_path / "log.txt"
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(shape=SHAPE, spacing=SPACING))
    proc = subprocess.Popen([sys.executable, str(script), str(folder), str(log)],
                            env=dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            if "saved after effect" in text:
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        else:
            raise AssertionError("the child never saved after the effect; log: " + text)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    session = Session.open(folder)
    assert session.interrupted
    (record,) = session.layers
    recovered = session.read_layer(record.id)
    mask = np.zeros(SHAPE, np.uint8)
    mask[2:6, 15:30, 15:30] = 1
    want = mask.copy()
    edit_mask(mask, "grow", spacing=SPACING, mm=2.0, value=1).apply(want)
    assert (want != mask).any()
    np.testing.assert_array_equal(recovered, want)
