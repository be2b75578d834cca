"""The Dataset panel in a real napari: open, Next/Previous, paint, Mark done, Skip, reader.

The dataset is built here without the Dask engine: the demo model is run on
three CT phantoms by ``segreview predict`` (in process) into
``cases/<id>/prediction/``, and the manifest is written with
:class:`~napari_segreview.dataset.manifest.Manifest`; the uncertainties are
set by hand so that the review order is known.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile
from napari.utils.key_bindings import KeyBinding

from napari_segreview._napari.dataset.form import KEYS
from napari_segreview.card.spec import load_card
from napari_segreview.cli.main import main
from napari_segreview.data import demo_card_path, demo_model_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.dataset.manifest import Manifest, file_sha256
from napari_segreview.io.arrayfiles import ArrayMeta, write_array

SHAPE = (3, 48, 48)
SPACING = (2.5, 0.8, 0.8)
#: case id -> uncertainty: the review order is mid, high... most uncertain first.
UNCERTAINTY = {"ct_a": 0.30, "ct_b": 0.90, "ct_c": 0.60}
TIMEOUT = 60_000


def build_dataset(root):
    """A dataset of three predicted cases in ``root`` (made with ``segreview predict``)."""
    src = root.parent / f"{root.name}-images"
    src.mkdir()
    card = load_card(demo_card_path())
    m = Manifest.create(root, file_sha256(demo_model_path()), card.to_dict(),
                        model=str(demo_model_path()))
    for seed, (cid, u) in enumerate(UNCERTAINTY.items()):
        path = src / f"{cid}.tif"
        write_array(path, make_ct_phantom(SHAPE, seed=seed).image, ArrayMeta(spacing=SPACING))
        m.add_case(path)
        m.case_dir(cid).mkdir(parents=True)
        assert main(["predict", str(path), "--model", str(demo_model_path()), "-o",
                     str(m.prediction_dir(cid)), "--device", "cpu"]) == 0
        m.update(cid, status="predicted", uncertainty=u, model_sha256=m.model_sha256,
                 card_sha256=m.card_sha256, channel_uncertainty={"whole": u, "parts": u / 2})
    m.save()
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_dataset(tmp_path_factory.mktemp("ds") / "study")


@pytest.fixture
def dataset(built, tmp_path):
    root = tmp_path / "study"
    shutil.copytree(built, root)
    return root


@pytest.fixture
def panel(make_napari_viewer):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Dataset")
    return viewer, w


def go(qtbot, w, action, *args):
    with qtbot.waitSignal(w.case_opened, timeout=TIMEOUT) as blocker:
        getattr(w, action)(*args)
    return blocker.args[0]


def layer(viewer, name):
    return next(x for x in viewer.layers if x.name == name)


def test_open_next_paint_done_previous(panel, dataset, qtbot):
    viewer, w = panel
    assert w.open_dataset(dataset)
    assert w.counts.text() == "0 / 3 done"
    assert go(qtbot, w, "next") == "ct_b"                     # the most uncertain first
    assert Manifest.open(dataset).case("ct_b").status == "in_review"
    image = layer(viewer, "ct_b")
    np.testing.assert_allclose(image.scale, SPACING)
    np.testing.assert_array_equal(np.asarray(image.data),
                                  tifffile.imread(Manifest.open(dataset).case("ct_b").source))
    pred = dataset / "cases" / "ct_b" / "prediction"
    whole = layer(viewer, "whole")
    on_disk = tifffile.imread(pred / "whole.tif")[0]
    np.testing.assert_array_equal(whole.data, on_disk)
    np.testing.assert_array_equal(whole.metadata["segreview"]["prediction"], on_disk)
    np.testing.assert_array_equal(layer(viewer, "parts").data, tifffile.imread(pred / "parts.tif"))
    np.testing.assert_allclose(whole.scale, SPACING)
    assert whole.metadata["segreview"]["image"] == "ct_b"

    whole.data_setitem((np.array([1] * 6), np.arange(6), np.zeros(6, int)), 1)
    painted = np.asarray(whole.data).copy()
    qtbot.waitUntil(lambda: w.prefetched == ["ct_c"], timeout=TIMEOUT)  # read ahead
    w.advance.setChecked(False)
    w.mark_done()
    case = Manifest.open(dataset).case("ct_b")
    inter = int((painted.astype(bool) & on_disk.astype(bool)).sum())
    expected = 2 * inter / (int(painted.astype(bool).sum()) + int(on_disk.astype(bool).sum()))
    assert expected < 1.0
    assert case.status == "done" and case.dice["whole"] == pytest.approx(expected)
    assert case.dice["part_1"] == 1.0 and case.reviewed
    assert w.counts.text() == "1 / 3 done"
    dice_col = w.table.columns.index("dice")
    row = next(r for r in range(w.table.rowCount()) if w.table.item(r, 0).text() == "ct_b")
    assert w.table.item(row, dice_col).text() != "" and w.table.item(row, 1).text() == "done"

    opened = []
    w.case_opened.connect(opened.append)
    w.next()                                                  # instant: it was read ahead
    assert opened == ["ct_c"] and w.prefetched == []
    names = [x.name for x in viewer.layers]
    assert "ct_b" not in names and "ct_c" in names            # one case in memory
    assert names.count("whole") == 1
    assert go(qtbot, w, "previous") == "ct_b"                 # back to the done case
    np.testing.assert_array_equal(layer(viewer, "whole").data, painted)  # its correction
    assert Manifest.open(dataset).case("ct_b").status == "done"


def test_review_qa_sees_the_prediction_of_a_case(panel, dataset, qtbot):
    viewer, w = panel
    w.open_dataset(dataset)
    go(qtbot, w, "next")
    _, review = viewer.window.add_plugin_dock_widget("napari-segreview", "Review and correct")
    assert review.source.count() >= 1 and review.source.currentData().startswith("run:")
    whole = layer(viewer, "whole")
    whole.data_setitem((np.array([0, 0]), np.array([0, 0]), np.array([0, 1])), 1)
    with qtbot.waitSignal(review.checked, timeout=TIMEOUT):
        review.run_checks()
    qtbot.waitUntil(lambda: not review.busy, timeout=TIMEOUT)
    rows = {r["channel"]: r for r in review.qa.values()}
    before = tifffile.imread(dataset / "cases" / "ct_b" / "prediction" / "whole.tif")[0]
    assert rows["whole"]["added"] == int((before[0, 0, :2] == 0).sum())
    assert set(rows) == {"whole", "part_1", "part_2", "part_3"}


def test_skip_filter_and_table_order(panel, dataset, qtbot):
    viewer, w = panel
    w.open_dataset(dataset)
    assert go(qtbot, w, "next") == "ct_b"
    w.advance.setChecked(False)
    w.skip("  ")                                              # no reason: refused
    assert Manifest.open(dataset).case("ct_b").status == "in_review"
    assert "say why" in w.case_status.text()
    w.skip("motion artefacts")
    case = Manifest.open(dataset).case("ct_b")
    assert (case.status, case.reason) == ("skipped", "motion artefacts")
    assert w.counts.text() == "0 / 3 done, 1 skipped"
    w.status_filter.setCurrentText("skipped")
    assert w.table.order() == ["ct_b"]
    w.status_filter.setCurrentText("every status")
    w.table.sort_by("uncertainty", descending=False)
    assert w.table.order() == ["ct_a", "ct_c", "ct_b"]
    w.order.setCurrentText("Table order")
    assert go(qtbot, w, "next") == "ct_a"                     # the table's order now
    with qtbot.waitSignal(w.case_opened, timeout=TIMEOUT):
        w.advance.setChecked(True)
        w.skip("wrong series")                                # and on to the next one
    assert w.open_case.case_id == "ct_c"
    assert w.case_status.text().startswith("ct_a is skipped (wrong series). ct_c")
    press = viewer.keymap[KeyBinding.from_str(KEYS["previous"])]   # the keyboard shortcut
    with qtbot.waitSignal(w.case_opened, timeout=TIMEOUT) as blocker:
        press(viewer)
    assert blocker.args[0] == "ct_a"                          # skipped cases can be reopened


def test_opening_the_folder_opens_the_panel(make_napari_viewer, dataset, qtbot):
    viewer = make_napari_viewer()
    viewer.open(str(dataset), plugin="napari-segreview")
    panels = [d.widget() for d in viewer.window._qt_window.findChildren(object)
              if type(d).__name__ == "QtViewerDockWidget"]
    found = [p for p in panels if p.findChild(object, "segreview_dataset_counts") is not None]
    assert found, "the Dataset panel was not docked"
    label = found[0].findChild(object, "segreview_dataset_counts")
    assert label.text() == "0 / 3 done"
    assert len(viewer.layers) == 0


def test_a_prediction_that_cannot_start_is_one_sentence(panel, tmp_path, qtbot):
    _, w = panel
    images = tmp_path / "images"
    images.mkdir()
    write_array(images / "ct.tif", make_ct_phantom((2, 32, 32)).image)
    w.folder.setText(str(tmp_path / "new"))
    w.runbox.images.setText(str(images))
    w.runbox.model.setText(str(tmp_path / "no_such_model.pt"))
    with qtbot.waitSignal(w.runbox.job.finished, timeout=TIMEOUT):
        w.runbox.predict()
    assert "no_such_model.pt" in w.runbox.status.text()
    assert not (tmp_path / "new").exists()                    # nothing was written
    assert w.runbox.predict_button.isEnabled() and w.manifest is None
