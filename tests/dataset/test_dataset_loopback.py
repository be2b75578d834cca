"""A real cluster on loopback: ``dask scheduler`` and two ``dask worker`` processes.

The test starts them (bounded in time, killed in teardown), runs ``segreview
dataset predict --scheduler tcp://127.0.0.1:PORT`` and checks the results
against the same cases predicted in this process.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_segreview.cli.main import main
from napari_segreview.data import demo_card_path, demo_model_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.dataset.manifest import Manifest
from napari_segreview.dataset.worker import CaseJob, ModelCache, run_case
from napari_segreview.io.arrayfiles import read_array

pytestmark = pytest.mark.slow
DASK = Path(sys.executable).with_name("dask")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, limit=120):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError("the dask scheduler did not start")


@pytest.fixture
def loopback_cluster(tmp_path):
    if not DASK.exists():
        pytest.skip("the dask command is not installed beside this python")
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = open(tmp_path / "dask.log", "w")  # closed in teardown
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port",
                               str(port), "--no-dashboard"], stdout=log, stderr=log, env=env,
                              start_new_session=True)]
    try:
        wait_for_port(port, procs[0])
        for _ in range(2):
            procs.append(subprocess.Popen(
                [str(DASK), "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1",
                 "--no-dashboard", "--resources", "GPU=1", "--host", "127.0.0.1"],
                stdout=log, stderr=log, env=env, start_new_session=True))
        yield f"tcp://127.0.0.1:{port}"
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=15)
        log.close()


def test_predict_on_a_dask_scheduler_and_two_workers(tmp_path, loopback_cluster, capsys):
    cases = tmp_path / "scans"
    cases.mkdir()
    for i in range(3):
        tifffile.imwrite(cases / f"ct_{i}.tif", make_ct_phantom((2, 32, 32), seed=300 + i).image,
                         photometric="minisblack")
    model = tmp_path / "bone.pt"
    shutil.copy(demo_model_path(), model)
    shutil.copy(demo_card_path(), tmp_path / "bone.card.yaml")
    out = tmp_path / "study"
    code = main(["dataset", "predict", "--each", str(cases), "-o", str(out), "--model",
                 str(model), "--scheduler", loopback_cluster])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"on the scheduler at {loopback_cluster}" in printed
    m = Manifest.open(out)
    assert [c.status for c in m.cases] == ["predicted"] * 3
    cache = ModelCache()
    for case in m.cases:
        ref = tmp_path / "ref" / case.id
        run_case(CaseJob(case.id, case.source, str(ref), str(model), m.card), cache)
        for name in ("whole.tif", "parts.tif"):
            a, ma = read_array(m.prediction_dir(case.id) / name)
            b, mb = read_array(ref / name)
            np.testing.assert_array_equal(a, b)
            assert (ma.kind, ma.channel_names) == (mb.kind, mb.channel_names)
