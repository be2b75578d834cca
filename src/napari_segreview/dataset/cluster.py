"""The Dask cluster a run uses: a LocalCluster of worker processes, or an existing one.

:func:`connect` yields a ``distributed.Client`` that is never the global
default (``set_as_default=False``: inside napari, napari's own dask arrays
must not be sent to the cluster), after checking that the workers can import
napari-segreview and registering the worker-local model cache
(:class:`~napari_segreview.dataset.worker.ModelCache`) on them. Every failure
to get there is one sentence (:class:`~napari_segreview.errors.FormatError`).

Without a scheduler, a ``LocalCluster`` of processes (``threads_per_worker=1``
on the CPU) starts on this machine:

* with CUDA GPUs, one worker per GPU, each seeing only its own GPU through
  ``CUDA_VISIBLE_DEVICES``, with two threads so that reading the next case and
  writing the last one overlap the GPU's work on the current one;
* on the CPU, ``workers`` processes (default: a quarter of the cores, 1 to 4)
  that share the cores: each runs torch with ``cores // workers`` threads
  (``OMP_NUM_THREADS``), so they do not oversubscribe them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_segreview._util.arrays import first_line
from napari_segreview.errors import FormatError

__all__ = ["ClusterInfo", "connect", "local_plan"]

#: How long to wait for a scheduler to answer, and for a first worker, in seconds.
CONNECT_TIMEOUT = 10
WORKER_TIMEOUT = 60


@dataclass
class ClusterInfo:
    """What :func:`connect` connected to.

    Attributes
    ----------
    where : str
        ``"a local cluster of 2 worker processes"`` or the scheduler's address.
    workers : int
        Workers connected when the run started.
    resources : dict or None
        What each task asks for (``{"GPU": 0.5}`` when the workers offer GPUs).
    """

    where: str
    workers: int
    resources: dict[str, float] | None = None


def local_plan(workers: int | None, device: str | None, cores: int | None = None,
               gpus: int | None = None) -> dict[str, Any]:
    """How many local workers, threads each, torch threads each, and which GPUs.

    Examples
    --------
    >>> local_plan(None, "cpu", cores=2, gpus=0)
    {'workers': 1, 'threads': 1, 'torch_threads': 2, 'gpus': None}
    >>> local_plan(2, "auto", cores=16, gpus=2)
    {'workers': 2, 'threads': 2, 'torch_threads': 8, 'gpus': ['0', '1']}
    """
    cores = cores or os.cpu_count() or 1
    if gpus is None:
        gpus = _gpu_count() if (device or "auto").startswith(("auto", "cuda")) else 0
    if gpus and (device or "auto").startswith(("auto", "cuda")):
        n = workers or gpus
        return {"workers": n, "threads": 2, "torch_threads": max(1, cores // n),
                "gpus": [str(i) for i in range(gpus)]}
    n = workers or min(4, max(1, cores // 4))
    return {"workers": n, "threads": 1, "torch_threads": max(1, cores // n), "gpus": None}


def _gpu_count() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and not visible.strip():
        return 0
    import re

    from napari_segreview.inference.models import find_devices

    ok, label = find_devices()["cuda"]  # "cuda (NAME)" or "cuda (NAME, 4 GPUs)"
    if not ok:
        return 0
    many = re.search(r", (\d+) GPUs\)$", label)
    return int(many.group(1)) if many else 1


def _client(scheduler: str | None, scheduler_file: str | None, timeout: float) -> Any:
    from distributed import Client

    if scheduler_file is not None:
        if not Path(scheduler_file).is_file():
            raise FormatError(f"the scheduler file {scheduler_file} does not exist; start "
                              f"the scheduler with dask scheduler --scheduler-file "
                              f"{scheduler_file} first, or check the path.")
        where = f"the scheduler in {scheduler_file}"
        kwargs = {"scheduler_file": str(scheduler_file)}
    else:
        where = f"the scheduler at {scheduler}"
        kwargs = {"address": scheduler}
        _check_address(str(scheduler))
    try:
        return Client(**kwargs, set_as_default=False, timeout=timeout), where
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise FormatError(
            f"cannot reach {where} ({first_line(exc)}); check the address (tcp://HOST:PORT) "
            "and that dask scheduler is running and reachable from this machine."
        ) from exc


def _check_address(address: str) -> None:
    """Refuse an address Dask cannot parse before a Client is made (it would linger)."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, loc = parse_address(address)
        if scheme in ("tcp", "tls", "ucx", "ws", "wss"):
            parse_host_port(loc)
    except ValueError as exc:
        raise FormatError(f"{address} is not a scheduler address ({first_line(exc)}); give "
                          "it as tcp://HOST:PORT.") from None


def _check_workers(client: Any, where: str, timeout: float) -> int:
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise FormatError(f"{where} has no workers after {timeout:.0f} s; start some with "
                          "dask worker SCHEDULER_ADDRESS.") from None
    # exec of an import: a builtin, so it reaches the worker even when our package does not
    answers = client.run(exec, "import napari_segreview.dataset.worker", on_error="return")
    for address, answer in answers.items():
        if isinstance(answer, BaseException):
            hint = ("install napari-segreview (and torch) in the workers' environment"
                    if isinstance(answer, ImportError) else "check that worker's environment")
            raise FormatError(f"the Dask worker {address} cannot import napari-segreview "
                              f"({type(answer).__name__}: {first_line(answer)}); {hint}.")
    return len(answers)


@contextlib.contextmanager
def connect(scheduler: str | None = None, scheduler_file: str | None = None, *,
            workers: int | None = None, device: str | None = None,
            timeout: float | None = None, worker_timeout: float | None = None
            ) -> Iterator[tuple[Any, ClusterInfo]]:
    """A client of a new LocalCluster, or of the scheduler given; closed on leaving.

    Raises
    ------
    FormatError
        Both a scheduler and a scheduler file, an unreachable scheduler, no
        workers, workers that cannot import the package.
    """
    from napari_segreview.dataset.worker import ModelCache

    if scheduler and scheduler_file:
        raise FormatError("give --scheduler or --scheduler-file, not both.")
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    worker_timeout = WORKER_TIMEOUT if worker_timeout is None else worker_timeout
    cluster = None
    with contextlib.ExitStack() as stack:
        if scheduler or scheduler_file:
            client, where = _client(scheduler, scheduler_file, timeout)
            gpus = None
        else:
            from distributed import Client, LocalCluster

            plan = local_plan(workers, device)
            t = str(plan["torch_threads"])
            cluster = LocalCluster(
                n_workers=plan["workers"], threads_per_worker=plan["threads"], processes=True,
                dashboard_address=None, silence_logs=logging.ERROR,
                env={"OMP_NUM_THREADS": t, "MKL_NUM_THREADS": t},
            )
            stack.callback(cluster.close)
            client = Client(cluster, set_as_default=False)
            where = f"a local cluster of {plan['workers']} worker process" + (
                "es" if plan["workers"] != 1 else "")
            gpus = plan["gpus"]
        stack.callback(client.close)
        n = _check_workers(client, where, worker_timeout)
        client.register_plugin(ModelCache(gpus=gpus), name=ModelCache.name)
        offered = [w.get("resources", {}) for w in
                   client.scheduler_info().get("workers", {}).values()]
        # half a GPU per case: a worker with two threads reads or writes one case while the
        # other runs on its GPU (the model itself runs one case at a time, behind a lock)
        resources = {"GPU": 0.5} if any("GPU" in r for r in offered) else None
        yield client, ClusterInfo(where, n, resources)
