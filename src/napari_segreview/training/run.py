"""One fine-tune from start to finish: what ``segreview train`` and the Fine-tune panel run.

Read and check the export, split it by case, load the base model, build the
card's loss, train (:func:`~napari_segreview.training.loop.fit`), compare
held-out Dice before and after, and save the new version beside the base
(:func:`~napari_segreview.training.save.save_model`). Every check that can
fail on the user's input runs before the first step, and nothing is written
before the last one.
"""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_segreview.card.spec import ModelCard, find_card, load_card
from napari_segreview.errors import FormatError
from napari_segreview.inference.exported import program_plan
from napari_segreview.inference.models import select_device
from napari_segreview.training.data import load_cases, split_cases, train_statistics
from napari_segreview.training.evaluate import Evaluation, metric_channels
from napari_segreview.training.loop import FitResult, TrainConfig, fit
from napari_segreview.training.losses import CardLoss
from napari_segreview.training.progress import Reporter
from napari_segreview.training.sampling import Sampler, default_patch
from napari_segreview.training.save import check_output, file_sha256, save_model
from napari_segreview.training.trainable import load_trainable

__all__ = ["WORSE_TOLERANCE", "TrainResult", "compare", "fine_tune", "resolve_card"]

#: A channel whose held-out Dice drops by more than this makes the new model "worse".
WORSE_TOLERANCE = 0.02


@dataclass
class TrainResult:
    """What :func:`fine_tune` wrote and measured."""

    paths: dict[str, Path]
    fit: FitResult
    record: dict[str, Any]
    comparison: dict[str, Any] = field(default_factory=dict)


def resolve_card(model: str | os.PathLike, card: str | os.PathLike | ModelCard | None
                 ) -> ModelCard | None:
    """The card given, else the one beside the model, else None (the export's card is used)."""
    if isinstance(card, ModelCard):
        return card
    if card is not None:
        return load_card(card)
    found = find_card(model)
    return None if found is None else load_card(found)


def compare(before: Evaluation | None, after: Evaluation | None) -> dict[str, Any]:
    """Before/after Dice per channel and per case, and whether the new model is worse.

    Worse: the mean dropped, or a channel dropped by more than :data:`WORSE_TOLERANCE`.

    Examples
    --------
    >>> b, a = Evaluation({"x": 0.5, "y": 0.9}), Evaluation({"x": 0.8, "y": 0.85})
    >>> c = compare(b, a)
    >>> c["worse"], c["worse_channels"], round(c["mean_after"], 3)
    (True, ['y'], 0.825)
    """
    if before is None or after is None:
        return {"before": None, "after": None, "mean_before": None, "mean_after": None,
                "per_case": {}, "worse": None, "worse_channels": []}
    worse_ch = [ch for ch, b in before.dice.items()
                if b is not None and after.dice.get(ch) is not None
                and after.dice[ch] < b - WORSE_TOLERANCE]
    mean_b, mean_a = before.mean, after.mean
    worse = bool(worse_ch) or (mean_b is not None and mean_a is not None and mean_a < mean_b)
    per_case = {case: {ch: [d, after.per_case.get(case, {}).get(ch)] for ch, d in dice.items()}
                for case, dice in before.per_case.items()}
    return {"before": before.dice, "after": after.dice, "mean_before": mean_b,
            "mean_after": mean_a, "per_case": per_case, "worse": worse,
            "worse_channels": worse_ch}


def _program_check(model, card: ModelCard, cfg: TrainConfig, patch, reporter) -> tuple:
    if model.program_shape is None:
        return patch, cfg.batch_size
    tile, batch = program_plan(model.program_shape, card, patch)
    tile = tuple(tile) if tile is not None else patch
    if batch is not None and batch != cfg.batch_size:
        reporter.emit("warning", message=(
            f"the torch.export program was exported for batches of {batch}, so it trains "
            f"with {batch} samples per step instead of {cfg.batch_size}."))
    return tile, batch or cfg.batch_size


def fine_tune(export: str | os.PathLike, model: str | os.PathLike, *,
              card: str | os.PathLike | ModelCard | None = None, factory: Any = None,
              out: str | os.PathLike | None = None, config: TrainConfig | None = None,
              held_out: list[str] | None = None, compare_held_out: bool = True,
              reporter: Reporter | None = None,
              cancel: Callable[[], bool] | None = None) -> TrainResult:
    """Fine-tune ``model`` on the export and save the new version beside it.

    Parameters
    ----------
    export : path
        An export folder (``segreview export`` or the Export panel).
    model : path
        The base model file; never modified.
    card : path or ModelCard, optional
        Default: the card beside the model, else the export's card.
    factory : str or callable, optional
        For a state-dict model: ``"package.module:function"``.
    out : path, optional
        The new model file; default the next free ``<stem>_vN`` beside the base.
    config : TrainConfig, optional
    held_out : list of str, optional
        Case names never trained on; default about a fifth of the cases.
    compare_held_out : bool
        False: train on every case, without a before/after comparison.
    reporter : Reporter, optional
        Receives every event (see :mod:`~napari_segreview.training.progress`).
    cancel : callable, optional
        Checked before every step.

    Raises
    ------
    FormatError
        Bad input (one sentence; nothing written): see ``docs/training-reference.md``.
    Cancelled
        ``cancel`` fired; nothing written.
    """
    cfg = config or TrainConfig()
    reporter = reporter or Reporter()
    if cfg.steps is None and not cfg.minutes:
        raise FormatError("give a budget: a number of steps, minutes, or both.")
    if cfg.steps is not None and cfg.steps < 1:
        raise FormatError(f"--steps must be at least 1, not {cfg.steps}.")
    if not 0 < cfg.lr < 1:
        raise FormatError(f"the learning rate must be between 0 and 1 (e.g. 1e-4), not {cfg.lr}.")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    base = Path(model)
    out_path = check_output(base, None if out is None else Path(out))
    card_obj, cases = load_cases(export, resolve_card(base, card))
    train, held = split_cases(cases, held_out, compare=compare_held_out)
    device = select_device(cfg.device)
    trainable = load_trainable(base, factory=factory, device=device, freeze=cfg.freeze)
    patch = cfg.patch or default_patch(card_obj, train)
    patch, batch_size = _program_check(trainable, card_obj, cfg, tuple(patch), reporter)
    cfg = TrainConfig(**{**cfg.to_dict(), "batch_size": batch_size, "patch": tuple(patch)})
    stats = train_statistics(export, train)
    loss_fn = CardLoss(card_obj, stats, pos_weight=cfg.pos_weight,
                       class_weights=cfg.class_weights, head_weights=cfg.head_weights,
                       dice=cfg.dice)
    rng = np.random.default_rng(cfg.seed)
    sampler = Sampler(train, card_obj, patch, rng, foreground=cfg.foreground,
                      augment=cfg.augment, flip_axes=cfg.flip_axes)
    reporter.emit("start", export=str(export), model=str(base), format=trainable.format,
                  cases=[c.name for c in train], held_out=[c.name for c in held],
                  channels=[c[0] for c in metric_channels(card_obj)], steps=cfg.steps,
                  minutes=cfg.minutes, lr=cfg.lr, batch_size=cfg.batch_size,
                  device=str(device), seed=cfg.seed, out=str(out_path))
    for w in trainable.warnings:
        reporter.emit("warning", message=w)
    result = fit(trainable, sampler, loss_fn, held, card_obj, cfg, device=device,
                 reporter=reporter, cancel=cancel)
    cmp = compare(result.before, result.after)
    minutes = (time.perf_counter() - t0) / 60
    record = _record(export, base, factory, trainable.format, card_obj, train, held, cfg,
                     loss_fn, result, cmp, device, started, minutes, trainable.warnings)
    paths = save_model(trainable, card_obj, out_path, record)
    reporter.emit("done", model=str(paths["model"]), card=str(paths["card"]),
                  training_json=str(paths["training_json"]), **cmp,
                  best_step=result.best_step, steps_run=result.steps_run,
                  stopped=result.stopped, minutes=round(minutes, 3))
    return TrainResult(paths, result, record, cmp)


def _record(export, base, factory, fmt, card, train, held, cfg, loss_fn, result, cmp, device,
            started, minutes, warns) -> dict[str, Any]:
    from napari_segreview import __version__
    from napari_segreview.training.progress import clean

    return clean({
        "segreview_training": 1,
        "program": {"name": "napari-segreview", "version": __version__,
                    "torch": torch.__version__, "python": platform.python_version()},
        "base_model": {"path": str(base), "sha256": file_sha256(base), "format": fmt,
                       "factory": factory if isinstance(factory, str) else (
                           None if factory is None else getattr(factory, "__name__", "callable"))},
        "card": card.name,
        "export": str(Path(export).resolve()),
        "cases": [c.name for c in train], "held_out": [c.name for c in held],
        "hyperparameters": cfg.to_dict(), "losses": loss_fn.describe(),
        "evaluations": result.evals,
        "loss_history": result.losses[:: max(1, len(result.losses) // 500)],
        "dice": cmp, "best_step": result.best_step, "steps_run": result.steps_run,
        "stopped": result.stopped, "device": str(device), "seed": cfg.seed,
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(minutes * 60, 2), "warnings": list(warns),
    })
