"""Predict every case of a dataset on a Dask cluster; the manifest is kept by the client.

:func:`predict_dataset` is what ``segreview dataset predict`` and the Dataset
panel call. It plans first, writing nothing (:func:`plan_run`: the cases, the
model's hash, whether an existing dataset was predicted by the same model and
card), then connects (:func:`~napari_segreview.dataset.cluster.connect`: an
unreachable scheduler is one sentence and nothing is written), then submits
one task per case (:func:`~napari_segreview.dataset.worker.run_case`) and
records each small result in the manifest as it arrives.

Faults: a case that fails for a reason that recurs comes back ``failed`` with
its sentence and the others go on; other errors are retried ``retries`` times;
a worker process that dies mid-case has its case rerun on another worker by
the scheduler (a case whose workers die ``distributed.scheduler.allowed-failures``
times is recorded failed). A case's files are renamed into place whole, so no
case is half-written and a rerun replaces, never duplicates. ``cancel`` (or
Ctrl-C) cancels what is left, keeps every finished case and raises
:class:`~napari_segreview.errors.Cancelled`, whose ``result`` attribute holds
the :class:`RunResult` so far.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_segreview._util.arrays import first_line
from napari_segreview.dataset.manifest import Manifest, card_sha256, file_sha256, is_dataset
from napari_segreview.dataset.manifest import timestamp as now
from napari_segreview.dataset.scan import describe, scan_sources
from napari_segreview.errors import Cancelled, FormatError

__all__ = ["Plan", "Progress", "RunResult", "plan_run", "predict_dataset"]

#: Statuses whose prediction is kept on resume (with the same model and card).
PREDICTED = ("predicted", "in_review", "done")
#: Reviewed statuses, kept when such a case is predicted again (``force``).
REVIEWED = ("in_review", "done", "skipped")


@dataclass
class Progress:
    """What ``progress(p)`` receives after each finished case."""

    done: int
    failed: int
    remaining: int
    total: int
    eta_s: float | None
    last_case: str | None


@dataclass
class RunResult:
    """What a run did: per-case records, the dataset's counts, the failures."""

    dataset: Path
    found: str
    records: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0
    where: str = ""
    seconds: float = 0.0


@dataclass
class Plan:
    """What :func:`plan_run` found; nothing is written yet."""

    out: Path
    model: Path
    card: Any
    card_path: Path | None
    model_sha256: str
    card_sha256: str
    sources: list[Path]
    unreadable: list[tuple[Path, str]]
    run: list[Path]
    kept: list[str]
    manifest: Manifest | None
    found: str


def _card(model: Path, card: str | os.PathLike | None) -> tuple[Any, Path]:
    from napari_segreview.card.spec import find_card, load_card

    if card is not None:
        return load_card(card), Path(card)
    found = find_card(model)
    if found is None:
        raise FormatError(f"no model card found beside {model} (looked for {model.stem}.card.yaml"
                          f", {model.stem}.yaml and card.yaml); pass --card CARD.")
    return load_card(found), Path(found)


def plan_run(sources: Sequence[str | os.PathLike], out: str | os.PathLike,
             model: str | os.PathLike, card: str | os.PathLike | None = None, *,
             each: str | os.PathLike | None = None, force: bool = False) -> Plan:
    """Find the cases and check the dataset and model; write nothing.

    With no sources and no ``each``, the cases are those already in ``out``.
    """
    out, model = Path(out), Path(model)
    if not model.is_file():
        what = "is a folder, not a model file" if model.is_dir() else "does not exist"
        raise FormatError(f"the model file {model} {what}; check the --model path.")
    card_obj, card_path = _card(model, card)
    msha, csha = file_sha256(model), card_sha256(card_obj.to_dict())
    manifest = Manifest.open(out) if is_dataset(out) else None
    if manifest is None and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FormatError(f"{out} exists and is not a dataset; choose a new or empty folder "
                          "for -o.")
    if manifest is None and not out.parent.is_dir():
        raise FormatError(f"the folder {out.parent} does not exist; create it first.")
    if manifest is not None and not force and manifest.cases and (
            manifest.model_sha256, manifest.card_sha256) != (msha, csha):
        what = "model" if manifest.model_sha256 != msha else "model card"
        raise FormatError(f"the dataset {out} was predicted with another {what} "
                          f"({manifest.model or 'unknown'}); pass --force to predict it again "
                          "with this one, or choose another -o.")
    if sources or each is not None:
        scan = scan_sources(sources, each)
        found, unreadable = scan.sources, scan.unreadable
    elif manifest is not None:
        found, unreadable = [Path(c.source) for c in manifest.cases], []
    else:
        raise FormatError("no cases given; name image files or folders, or --each DIR.")
    run, kept = [], []
    for src in found:
        case = manifest.find_source(src) if manifest is not None else None
        same = case is not None and (case.model_sha256, case.card_sha256) == (msha, csha)
        if case is not None and same and case.status in (*PREDICTED, "skipped") and not force:
            kept.append(case.id)
        else:
            run.append(src)
    n_pred = sum(1 for cid in kept if manifest.case(cid).status in PREDICTED)
    text = describe(len(found), n_pred, unreadable)
    if not found:
        raise FormatError(f"found no case to predict ({text}); name image files or DICOM "
                          "series folders, or --each DIR.")
    return Plan(out, model, card_obj, card_path, msha, csha, found, unreadable, run, kept,
                manifest, text)


def _clean_staging(case_dir: Path) -> None:
    """Remove staging folders a killed worker left; restore a prediction moved aside."""
    if not case_dir.is_dir():
        return
    pred = case_dir / "prediction"
    for p in case_dir.iterdir():
        if p.name.startswith(".prediction.tmp-"):
            shutil.rmtree(p, ignore_errors=True)
        elif p.name.startswith(".prediction.old-"):
            if pred.exists():
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.rename(p, pred)


def _fault_sentence(exc: BaseException, retries: int) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return ("every worker that ran it died (killed, or out of memory); free memory, use "
                "fewer workers or a smaller --batch-size.")
    if isinstance(exc, ImportError):
        return (f"a Dask worker cannot import what the case needs ({name}: {first_line(exc)}); "
                "install napari-segreview in the workers' environment.")
    tries = f" after {retries + 1} tries" if retries else ""
    return f"it failed{tries} with {name}: {first_line(exc)}."


def _record(manifest: Manifest, rec: dict[str, Any], plan: Plan) -> None:
    case = manifest.case(rec["id"])
    fields: dict[str, Any] = {"attempts": case.attempts + 1, "seconds": rec.get("seconds", {}),
                              "reason": rec.get("reason")}
    if rec["status"] == "predicted":
        fields.update(
            model_sha256=plan.model_sha256, card_sha256=plan.card_sha256, predicted=now(),
            uncertainty=rec["uncertainty"], channel_uncertainty=rec["channel_uncertainty"],
            volumes=rec["volumes"], shape=rec["shape"], spacing=rec["spacing"])
        if case.status not in REVIEWED:
            fields["status"] = "predicted"
        else:
            fields.pop("reason")
    elif case.status not in REVIEWED:
        fields["status"] = "failed"
    else:  # a reviewed case keeps its status, its review and its reason
        fields.pop("reason")
    manifest.update(rec["id"], **fields)


def predict_dataset(
    sources: Sequence[str | os.PathLike], out: str | os.PathLike, model: str | os.PathLike,
    card: str | os.PathLike | None = None, *, each: str | os.PathLike | None = None,
    scheduler: str | None = None, scheduler_file: str | None = None,
    workers: int | None = None, device: str | None = None, batch_size: int | None = None,
    retries: int = 0, force: bool = False, fmt: str = "tif",
    progress: Callable[[Progress], None] | None = None, cancel: Any = None,
    on_plan: Callable[[Plan], None] | None = None, factory: str | None = None,
) -> RunResult:
    """Predict the cases of ``sources`` (or ``each``) into the dataset ``out``.

    Parameters
    ----------
    sources, each
        The cases (see :func:`~napari_segreview.dataset.scan.scan_sources`);
        neither: the cases already in ``out``.
    out : path
        The dataset folder (created; its parent must exist).
    model, card, factory
        As for ``segreview predict`` (paths must be valid on the workers).
    scheduler, scheduler_file, workers, device
        The cluster (:func:`~napari_segreview.dataset.cluster.connect`).
    batch_size, retries, force, fmt
        Per-case batch size; retries of transient errors; redo predicted
        cases (and accept another model); the files' format.
    progress : callable, optional
        ``progress(Progress)`` after each finished case (and once at the start).
    cancel : threading.Event, optional
        Set it to stop: what is left is cancelled, :class:`Cancelled` raised.
    on_plan : callable, optional
        ``on_plan(Plan)`` before connecting (the CLI prints ``plan.found``).

    Returns
    -------
    RunResult
    """
    from distributed import as_completed

    from napari_segreview.dataset.cluster import connect
    from napari_segreview.dataset.worker import CaseJob, run_case

    t0 = time.perf_counter()
    plan = plan_run(sources, out, model, card, each=each, force=force)
    if on_plan is not None:
        on_plan(plan)
    result = RunResult(Path(out), plan.found, skipped=len(plan.kept))
    if not plan.run:  # every case is kept: no cluster to start
        result.counts, result.seconds = plan.manifest.counts(), time.perf_counter() - t0
        return result
    with connect(scheduler, scheduler_file, workers=workers, device=device) as (client, info):
        result.where = info.where
        m = plan.manifest
        if m is None:
            m = Manifest.create(plan.out, plan.model_sha256, plan.card.to_dict(),
                                model=str(plan.model.resolve()), exist_ok=True)
        elif (m.model_sha256, m.card_sha256) != (plan.model_sha256, plan.card_sha256):
            m.set_model(plan.model_sha256, plan.card.to_dict(), str(plan.model.resolve()))
        ids = []
        for src in plan.run:
            case = m.find_source(src) or m.add_case(src)
            ids.append(case.id)
            _clean_staging(m.case_dir(case.id))
        m.save()
        card_name = plan.card_path.name if plan.card_path else "the card"
        futures = {}
        for cid in ids:
            job = CaseJob(cid, m.case(cid).source, str(m.prediction_dir(cid)),
                          str(plan.model.resolve()), plan.card.to_dict(), card_name,
                          plan.model_sha256, factory, device or "auto", batch_size or 8,
                          fmt=fmt)
            fut = client.submit(run_case, job, key=f"segreview-{cid}-{os.urandom(4).hex()}",
                                retries=retries, pure=False, resources=info.resources)
            futures[fut] = cid
        pending, total, ok, bad = set(futures), len(futures), 0, 0
        last_save, started = time.monotonic(), time.perf_counter()

        def report(last: str | None) -> None:
            if progress is None:
                return
            n = ok + bad
            elapsed = time.perf_counter() - started
            eta = elapsed / n * (total - n) if n else None
            progress(Progress(ok, bad, total - n, total, eta, last))

        report(None)
        queue = as_completed(list(futures), loop=client.loop)
        try:
            while pending:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("the dataset prediction was cancelled.")
                finished = queue.next_batch(block=False)
                if not finished:
                    time.sleep(0.1)
                    continue
                pending.difference_update(finished)
                for fut in finished:
                    cid = futures[fut]
                    if fut.status == "finished":
                        rec = fut.result()
                    elif fut.status == "cancelled":
                        rec = {"id": cid, "status": "failed", "reason": (
                            "the cluster cancelled it (did the scheduler restart?); run "
                            "again to resume.")}
                    else:
                        exc = fut.exception()
                        rec = {"id": cid, "status": "failed",
                               "reason": _fault_sentence(exc, retries)}
                    _record(m, rec, plan)
                    result.records.append(rec)
                    if rec["status"] == "predicted":
                        ok += 1
                    else:
                        bad += 1
                        result.failed.append((cid, rec["reason"]))
                    fut.release()
                    report(cid)
                if finished and time.monotonic() - last_save > 1.0:
                    m.save()
                    last_save = time.monotonic()
        except (KeyboardInterrupt, Cancelled) as exc:
            client.cancel(list(pending))
            m.save()
            result.counts, result.seconds = m.counts(), time.perf_counter() - t0
            stop = Cancelled("the dataset prediction was stopped; the finished cases are kept.")
            stop.result = result
            raise stop from exc
        m.save()
        result.counts = m.counts()
    result.seconds = time.perf_counter() - t0
    return result
