"""The Dataset panel runs the Dask engine (a LocalCluster of worker processes) and exports.

Slow: each run starts a LocalCluster whose worker process imports torch and
loads the model, so one test does cancel, resume, review and export in turn.
"""

from __future__ import annotations

import json

import pytest

from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.dataset.manifest import Manifest
from napari_segreview.io.arrayfiles import ArrayMeta, write_array

pytestmark = pytest.mark.slow
SHAPE = (2, 48, 48)
RUN_TIMEOUT = 400_000


def _images(folder, n):
    folder.mkdir()
    for seed in range(n):
        ph = make_ct_phantom(SHAPE, seed=seed)
        write_array(folder / f"scan_{seed}.tif", ph.image, ArrayMeta(spacing=ph.spacing))
    return folder


def test_predict_cancel_resume_review_and_export_from_the_panel(make_napari_viewer,
                                                               tmp_path, qtbot):
    """One panel, two runs (each starts a LocalCluster): cancel, resume, review, export."""
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Dataset")
    root = tmp_path / "study"
    w.folder.setText(str(root))
    w.runbox.images.setText(str(_images(tmp_path / "images", 4)))
    w.runbox.workers.setValue(1)
    job = w.runbox.job

    def cancel_after_one(done, total, line):
        if done >= 1:
            w.runbox.cancel()

    job.progressed.connect(cancel_after_one)
    with qtbot.waitSignal(job.finished, timeout=RUN_TIMEOUT):
        w.runbox.predict()
    assert "cancelled" in w.runbox.status.text(), w.runbox.status.text()
    m = Manifest.open(root)
    kept = {c.id: c.predicted for c in m.cases if c.status == "predicted"}
    assert 1 <= len(kept) < 4 and m.counts()["todo"] == 4 - len(kept)
    assert w.manifest is not None and w.counts.text() == "0 / 4 done"

    job.progressed.disconnect(cancel_after_one)
    w.runbox.images.clear()                                   # resume the dataset's own cases
    with qtbot.waitSignal(job.finished, timeout=RUN_TIMEOUT):
        w.runbox.predict()
    m = Manifest.open(root)
    assert m.counts()["predicted"] == 4, w.runbox.status.text()
    assert {cid: m.case(cid).predicted for cid in kept} == kept   # not predicted twice
    assert sorted(w.table.order()) == [f"scan_{i}" for i in range(4)]
    first = max(m.cases, key=lambda c: c.uncertainty).id       # the engine's scores

    with qtbot.waitSignal(w.case_opened, timeout=60_000) as opened:
        w.next()
    assert opened.args[0] == first
    assert {"whole", "parts", first} <= {x.name for x in viewer.layers}
    w.advance.setChecked(False)
    w.mark_done()
    assert Manifest.open(root).case(first).dice["whole"] == 1.0   # nothing was corrected
    assert w.counts.text() == "1 / 4 done"

    out = tmp_path / "export"
    w.runbox.export_to.setText(str(out))
    with qtbot.waitSignal(job.finished, timeout=RUN_TIMEOUT):
        w.runbox.export()
    assert "Exported" in w.runbox.status.text(), w.runbox.status.text()
    assert json.loads((out / "segreview-export.json").read_text())["format"] == "tif"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [first]  # the done case
