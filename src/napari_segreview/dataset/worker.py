"""The task one Dask worker runs per case: read, predict, write, return a small record.

:func:`run_case` reads the case's image with the same functions ``segreview
predict`` uses (:func:`~napari_segreview.io.read.read_image`,
:func:`~napari_segreview.card.fit.fit_input`), runs
:func:`~napari_segreview.inference.predict.predict` (with the uncertainty
scores), and writes the files :func:`~napari_segreview.io.results.prediction_files`
lists, exactly as
``segreview predict -o`` writes them, into a hidden staging folder in the
case's folder that is renamed onto ``cases/<id>/prediction`` once all exist:
a case appears whole or not at all, and a rerun replaces it in one rename.

The model is loaded once per worker process: :class:`ModelCache` is a Dask
``WorkerPlugin`` that the engine registers on every worker; it holds the loaded
models and a lock, so a worker with two threads reads case *i + 1* and writes
case *i - 1* while the model runs case *i*. Outside a worker (tests, a loop in
one process) pass a :class:`ModelCache` yourself.

What comes back is a dict of JSON types (status, scores, volumes, timings),
never an array. A case that fails for a reason that will recur (an unreadable
file, an image the card does not fit, the model failing on it) comes back
``failed`` with its sentence; other errors (a file system hiccup) are raised,
so that Dask retries them (``retries``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin

from napari_segreview._util.arrays import first_line
from napari_segreview._util.files import staged
from napari_segreview.errors import FormatError
from napari_segreview.io.results import prediction_files

__all__ = ["PLUGIN_NAME", "CaseJob", "ModelCache", "channel_volumes", "run_case"]

#: The name the :class:`ModelCache` plugin is registered under on the workers.
PLUGIN_NAME = "segreview-models"


@dataclass(frozen=True)
class CaseJob:
    """Everything a worker needs for one case (paths must be valid on the worker)."""

    case_id: str
    source: str
    prediction_dir: str
    model: str
    card: dict[str, Any]
    card_name: str = "the card"
    model_sha256: str | None = None
    factory: str | None = None
    device: str = "auto"
    batch_size: int = 8
    amp: bool = True
    fmt: str = "tif"


@dataclass
class ModelCache(WorkerPlugin):
    """Models loaded in this worker process, keyed by file, hash, factory and device.

    Parameters
    ----------
    gpus : list of str, optional
        For a LocalCluster on a GPU machine: worker ``i`` sets
        ``CUDA_VISIBLE_DEVICES`` to ``gpus[i % len(gpus)]`` when the plugin
        is set up, before CUDA starts in that process.

    Examples
    --------
    >>> cache = ModelCache()
    >>> cache.get(("m", None), lambda: "loaded"), cache.get(("m", None), lambda: "again")
    ('loaded', 'loaded')
    """

    gpus: list[str] | None = None
    loads: int = 0
    models: dict[Any, Any] = field(default_factory=dict, repr=False)
    lock: Any = field(default_factory=threading.Lock, repr=False)
    name: str = PLUGIN_NAME

    def setup(self, worker: Any) -> None:
        """Pick this worker's GPU (LocalCluster on a GPU machine)."""
        if self.gpus:
            try:
                index = int(worker.name)
            except (TypeError, ValueError):
                index = 0
            os.environ["CUDA_VISIBLE_DEVICES"] = str(self.gpus[index % len(self.gpus)])

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        """The model for ``key``, loaded with ``load()`` the first time."""
        with self.lock:
            if key not in self.models:
                self.models.clear()  # one model per process: a new one replaces the old
                self.models[key] = load()
                self.loads += 1
            return self.models[key]

    def __getstate__(self) -> dict[str, Any]:  # the lock and models stay in the process
        return {"gpus": self.gpus}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(gpus=state.get("gpus"))


def _worker_cache() -> ModelCache | None:
    try:
        from distributed import get_worker

        return get_worker().plugins.get(PLUGIN_NAME)
    except (ValueError, ImportError):
        return None


def channel_volumes(prediction: Any, spacing: Any) -> dict[str, float]:
    """Volume per predicted channel: mm^3 with a spacing, else a voxel count.

    A sigmoid head gives each of its channels, a softmax head its classes after
    the first (background).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> head = NS(kind="softmax", channels=("bg", "a", "b"))
    >>> pred = NS(heads={"p": NS(head=head, decision=np.array([[0, 1], [1, 2]], np.uint8))})
    >>> channel_volumes(pred, (2.0, 0.5))
    {'a': 2.0, 'b': 1.0}
    """
    unit = float(np.prod(spacing)) if spacing else 1.0
    out: dict[str, float] = {}
    for out_ in prediction.heads.values():
        head, dec = out_.head, out_.decision
        if head.kind == "softmax":
            counts = np.bincount(dec.ravel(), minlength=len(head.channels))
            for i, ch in enumerate(head.channels[1:], start=1):
                out[ch] = float(counts[i]) * unit
        else:
            for ch, row in zip(head.channels, dec, strict=True):
                out[ch] = float(np.count_nonzero(row)) * unit
    return out


def _failed(job: CaseJob, reason: str, t0: float, **extra: Any) -> dict[str, Any]:
    return {"id": job.case_id, "status": "failed", "reason": " ".join(reason.split()),
            "seconds": {"total": time.perf_counter() - t0}, **extra}


def run_case(job: CaseJob, cache: ModelCache | None = None) -> dict[str, Any]:
    """Predict one case and write its files; return its record (JSON types only).

    Parameters
    ----------
    job : CaseJob
    cache : ModelCache, optional
        Where the model is kept; default: the worker's plugin, else a new one.

    Returns
    -------
    dict
        ``id``, ``status`` (``"predicted"`` or ``"failed"``), ``reason``,
        ``uncertainty``, ``channel_uncertainty``, ``volumes``, ``shape``,
        ``spacing``, ``device``, ``warnings``, ``seconds`` (``read``,
        ``load``, ``wait``, ``predict``, ``write``, ``total``), ``pid`` and
        ``model_loads`` (models this process has loaded so far).
    """
    from napari_segreview.card.fit import fit_input
    from napari_segreview.card.spec import ModelCard
    from napari_segreview.inference.models import load_model, select_device
    from napari_segreview.inference.predict import OutOfMemoryError, predict
    from napari_segreview.inference.words import model_failure
    from napari_segreview.io.arrayfiles import write_array
    from napari_segreview.io.read import read_image

    t0 = time.perf_counter()
    cache = cache or _worker_cache() or ModelCache()
    name = Path(job.source).name
    try:
        card = ModelCard.from_dict(job.card)
        loaded = read_image(job.source)
        rgb = None if loaded.format == "array" else loaded.rgb
        image = np.asarray(fit_input(loaded.data, rgb, card, name, noun="image"))
    except FormatError as exc:
        return _failed(job, str(exc), t0)
    spacing = tuple(loaded.spacing) if loaded.calibrated else None
    t_read = time.perf_counter()
    device = select_device(job.device)
    model = cache.get(
        (job.model, job.model_sha256, job.factory, str(device)),
        lambda: load_model(job.model, factory=job.factory, device=device,
                           factory_option="add --factory package.module:function"),
    )
    t_load = time.perf_counter()
    try:
        with cache.lock:  # one case on the model at a time; reads and writes overlap it
            t_start = time.perf_counter()
            prediction = predict(image, model, card, device=device, batch_size=job.batch_size,
                                 amp=job.amp, uncertainty=True)
            t_pred = time.perf_counter()
    except OutOfMemoryError as exc:
        return _failed(job, f"the GPU ran out of memory even at batch size 1 "
                            f"({first_line(exc)}); use --device cpu.", t0)
    except FormatError as exc:
        return _failed(job, str(exc), t0)
    except RuntimeError as exc:
        return _failed(job, model_failure(exc, name, job.card_name), t0)
    del image
    files = prediction_files(prediction, spacing, job.fmt)
    dest = Path(job.prediction_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with staged(dest.parent, dest.name) as st:
        for fname, array, meta in files:
            write_array(st.path / fname, array, meta)
        st.replace_folder(dest)  # one rename; an older prediction is removed after it
    t_write = time.perf_counter()
    unc = prediction.uncertainty
    return {
        "id": job.case_id, "status": "predicted", "reason": None,
        "uncertainty": unc.score, "channel_uncertainty": dict(unc.channels),
        "volumes": channel_volumes(prediction, spacing),
        "shape": [int(s) for s in loaded.data.shape],
        "spacing": None if spacing is None else [float(s) for s in spacing],
        "device": prediction.device, "warnings": list(prediction.warnings),
        "seconds": {"read": t_read - t0, "load": t_load - t_read, "wait": t_start - t_load,
                    "predict": t_pred - t_start, "write": t_write - t_pred,
                    "total": t_write - t0},
        "pid": os.getpid(), "model_loads": cache.loads,
    }
