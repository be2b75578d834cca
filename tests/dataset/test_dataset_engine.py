"""The Dask engine on real worker processes: equal to ``segreview predict``, faults, resume.

Cases are tiny (a few 32 x 32 slices of CT phantoms, the demo model: its
cost is per slice, each padded to the card's 256 x 256 tile). Every test
shares one LocalCluster of two worker processes (module scope: the workers
start and import torch once); the kill test restarts one of them through its
nanny. Marked slow: they start worker processes.
"""

import logging
import os
import shutil
import signal
import threading

import numpy as np
import pytest
import tifffile

from io_samples import write_ct_series
from napari_segreview.cli.main import main
from napari_segreview.data import demo_card_path, demo_model_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.dataset.engine import predict_dataset
from napari_segreview.dataset.manifest import Manifest
from napari_segreview.dataset.worker import CaseJob, ModelCache, run_case
from napari_segreview.io.arrayfiles import read_array
from napari_segreview.io.read import read_image

pytestmark = pytest.mark.slow
distributed = pytest.importorskip("distributed")


def make_cases(folder, n, shape=(2, 32, 32), corrupt=False, dicom=True):
    folder.mkdir()
    for i in range(n):
        image = make_ct_phantom(shape, seed=100 + i).image
        if dicom and i == 0:  # a DICOM series: a folder, with a spacing
            write_ct_series(folder / "series_0", image.astype(np.int16) + 1024,
                            pixel_spacing=(0.7, 0.6), step=2.5)
        else:
            tifffile.imwrite(folder / f"ct_{i}.tif", image, photometric="minisblack")
    if corrupt:
        (folder / "broken.tif").write_bytes(b"II*\x00 this is no tiff")
    return folder


def model_copy(tmp_path):
    model = tmp_path / "model" / "bone.pt"
    model.parent.mkdir()
    shutil.copy(demo_model_path(), model)
    shutil.copy(demo_card_path(), model.with_name("bone.card.yaml"))
    return model


def files_of(folder):
    return sorted(p.name for p in folder.iterdir())


def assert_same_files(got_dir, ref_dir):
    assert files_of(got_dir) == files_of(ref_dir)
    for name in files_of(ref_dir):
        a, ma = read_array(got_dir / name)
        b, mb = read_array(ref_dir / name)
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
        assert (ma.kind, ma.channel_names, ma.spacing) == (mb.kind, mb.channel_names, mb.spacing)


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes with one torch thread each, shared by every test here."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR,
                                  env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}) as c:
        yield c


def test_local_cluster_equals_plain_predict(tmp_path, cluster):
    cases = make_cases(tmp_path / "scans", 4, shape=(4, 32, 32), corrupt=True)
    model = model_copy(tmp_path)
    result = predict_dataset([], tmp_path / "study", model, each=cases,
                             scheduler=cluster.scheduler_address)
    m = Manifest.open(tmp_path / "study")
    assert result.found.startswith("5 cases, 0 already predicted")
    assert [c for c, _ in result.failed] == ["broken"]
    assert "broken.tif" in m.case("broken").reason and m.case("broken").status == "failed"
    good = [c for c in m.cases if c.id != "broken"]
    assert len(good) == 4 and all(c.status == "predicted" for c in good)
    pids = {}
    for rec in result.records:
        if rec["status"] == "predicted":
            pids.setdefault(rec["pid"], []).append(rec["model_loads"])
    assert all(loads == [1] * len(loads) for loads in pids.values())  # once per process
    for case in good:
        ref = tmp_path / "ref" / case.id
        ref.parent.mkdir(exist_ok=True)
        assert main(["predict", case.source, "--model", str(model), "-o", str(ref)]) == 0
        assert_same_files(m.prediction_dir(case.id), ref)
        whole, meta = read_array(ref / "whole.tif")
        unit = float(np.prod(meta.spacing)) if meta.spacing else 1.0
        assert case.volumes["whole"] == pytest.approx(np.count_nonzero(whole) * unit)
        assert 0.0 < case.uncertainty < 1.0 and set(case.channel_uncertainty) == {
            "whole", "parts"}
    assert m.case("series_0").spacing == pytest.approx(
        read_image(m.case("series_0").source).spacing)
    assert files_of(m.case_dir("ct_1")) == ["prediction"]  # no staging folder left


def test_resume_skips_predicted_and_force_redoes(tmp_path, cluster):
    cases = make_cases(tmp_path / "scans", 2, dicom=False)
    model = model_copy(tmp_path)
    addr = cluster.scheduler_address
    first = predict_dataset([], tmp_path / "study", model, each=cases, scheduler=addr)
    assert len(first.records) == 2
    (cases / "ct_2.tif").write_bytes((cases / "ct_0.tif").read_bytes())
    again = predict_dataset([], tmp_path / "study", model, each=cases, scheduler=addr)
    assert again.found.startswith("3 cases, 2 already predicted")
    assert [r["id"] for r in again.records] == ["ct_2"]
    forced = predict_dataset([], tmp_path / "study", model, each=cases, scheduler=addr,
                             force=True)
    assert sorted(r["id"] for r in forced.records) == ["ct_0", "ct_1", "ct_2"]
    assert all(c.attempts == 2 for c in Manifest.open(tmp_path / "study").cases
               if c.id != "ct_2")
    # nothing left to predict: no cluster is needed (this address would be refused)
    kept = predict_dataset([], tmp_path / "study", model, each=cases,
                           scheduler="tcp://127.0.0.1:1")
    assert kept.records == [] and kept.found.startswith("3 cases, 3 already predicted")


def test_other_model_is_refused_without_force(tmp_path, cluster):
    from napari_segreview.errors import FormatError

    cases = make_cases(tmp_path / "scans", 1, dicom=False)
    model = model_copy(tmp_path)
    predict_dataset([], tmp_path / "study", model, each=cases,
                    scheduler=cluster.scheduler_address)
    other = tmp_path / "other.pt"
    other.write_bytes(model.read_bytes() + b"\0")
    shutil.copy(demo_card_path(), tmp_path / "other.card.yaml")
    before = (tmp_path / "study" / "segreview-dataset.json").read_bytes()
    with pytest.raises(FormatError, match=r"predicted with another model.*--force"):
        predict_dataset([], tmp_path / "study", other, each=cases,
                        scheduler=cluster.scheduler_address)
    assert (tmp_path / "study" / "segreview-dataset.json").read_bytes() == before


def test_killed_worker_case_is_rerun_once(tmp_path, cluster):
    cases = make_cases(tmp_path / "scans", 4, shape=(6, 32, 32), dicom=False)
    model = model_copy(tmp_path)
    client = distributed.Client(cluster, set_as_default=False)
    pids = list(client.run(os.getpid).values())
    killed = threading.Event()

    def progress(p):
        if p.done >= 1 and not killed.is_set():
            os.kill(pids[0], signal.SIGKILL)
            killed.set()

    try:
        result = predict_dataset([], tmp_path / "study", model, each=cases,
                                 scheduler=cluster.scheduler_address, progress=progress)
        assert killed.is_set()
        new = set(client.run(os.getpid).values())
    finally:
        client.close()
    assert pids[0] not in new  # the nanny started another process
    m = Manifest.open(tmp_path / "study")
    assert sorted(r["id"] for r in result.records) == sorted(c.id for c in m.cases)
    assert all(c.status == "predicted" and c.attempts == 1 for c in m.cases)
    cache = ModelCache()
    for case in m.cases:  # equal to one process predicting alone
        assert files_of(m.case_dir(case.id)) == ["prediction"]
        ref = tmp_path / "ref" / case.id / "prediction"
        job = CaseJob(case.id, case.source, str(ref), str(model), m.card)
        assert run_case(job, cache)["status"] == "predicted"
        assert_same_files(m.prediction_dir(case.id), ref)


def test_cancel_keeps_finished_cases(tmp_path, cluster):
    from napari_segreview.errors import Cancelled

    cases = make_cases(tmp_path / "scans", 4, shape=(6, 32, 32), dicom=False)
    model = model_copy(tmp_path)
    stop = threading.Event()

    def progress(p):
        if p.done >= 1:
            stop.set()

    with pytest.raises(Cancelled) as info:
        predict_dataset([], tmp_path / "study", model, each=cases,
                        scheduler=cluster.scheduler_address, progress=progress, cancel=stop)
    partial = info.value.result
    m = Manifest.open(tmp_path / "study")
    done = {c.id for c in m.cases if c.status == "predicted"}
    assert done and len(done) < 4 and done == {r["id"] for r in partial.records}
    rest = predict_dataset([], tmp_path / "study", model, each=cases,
                           scheduler=cluster.scheduler_address)
    assert {r["id"] for r in rest.records} == {c.id for c in m.cases} - done
