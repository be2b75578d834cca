"""The optimisation loop: AdamW from the loaded weights, held-out Dice, the best checkpoint.

* AdamW, learning rate :data:`DEFAULT_LR` by default (fine-tuning range
  1e-5..1e-4), a linear warm-up over the first steps, then a cosine decay to a
  tenth of the rate.
* A budget in steps and/or minutes (whichever ends first).
* Every ``eval_every`` steps (and at the end) the held-out cases are predicted
  with the same decoding as ``segreview predict``; the best checkpoint by
  held-out mean Dice is kept (step 0, the base model, is the "before" and not
  a candidate); ``patience`` evaluations without a gain stop the run early.
* A seed makes runs repeatable (numpy sampling and torch).
* On CUDA: autocast (bf16, else fp16 with a gradient scaler) and pinned host
  memory with non-blocking copies. The CPU works too.
* A loss that is not finite stops the run with one sentence naming the
  learning rate as the likely cause; nothing is written.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import Cancelled, FormatError
from napari_segreview.inference.heads import check_outputs
from napari_segreview.inference.models import select_output
from napari_segreview.training.evaluate import Evaluation, evaluate
from napari_segreview.training.losses import CardLoss
from napari_segreview.training.progress import Reporter
from napari_segreview.training.sampling import Batch, Sampler
from napari_segreview.training.trainable import Trainable, set_mode

__all__ = ["DEFAULT_LR", "FitResult", "TrainConfig", "fit", "lr_at"]

#: Default peak learning rate (the fine-tuning anchors use 1e-5 to 1e-4).
DEFAULT_LR = 1e-4


@dataclass
class TrainConfig:
    """Hyperparameters of a fine-tune (all written to ``training.json``)."""

    steps: int | None = 300            # None: as many as ``minutes`` allows
    minutes: float | None = None
    lr: float = DEFAULT_LR
    weight_decay: float = 1e-4
    warmup: int | None = None          # None: a tenth of the steps, at most 50
    batch_size: int = 4
    eval_every: int | None = None      # None: a tenth of the steps, at least 10
    patience: int = 5
    seed: int = 0
    pos_weight: bool = True
    class_weights: bool = False
    head_weights: dict[str, float] = field(default_factory=dict)
    dice: float = 1.0
    freeze: tuple[str, ...] = ()
    device: str = "auto"
    amp: bool = True
    foreground: float = 1 / 3
    augment: bool = True
    flip_axes: tuple[int, ...] = ()
    patch: tuple[int, ...] | None = None   # None: the card's tile
    threads: int | None = None             # torch CPU threads (None: torch's default)

    def warmup_steps(self) -> int:
        """Warm-up length in steps."""
        if self.warmup is not None:
            return self.warmup
        return 50 if self.steps is None else min(50, max(1, self.steps // 10))

    def eval_interval(self) -> int:
        """Steps between held-out evaluations."""
        if self.eval_every is not None:
            return self.eval_every
        return 100 if self.steps is None else max(10, min(self.steps, 1000) // 10)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)


def lr_at(step: int, cfg: TrainConfig, elapsed_s: float = 0.0) -> float:
    """Learning rate at optimiser step ``step`` (0-based): warm-up, then cosine to lr / 10.

    With a minutes budget, the decay follows whichever budget is further spent
    (steps or time), so a run limited by time still ends at the low rate.

    Examples
    --------
    >>> cfg = TrainConfig(steps=100, lr=1e-4, warmup=10)
    >>> lr_at(0, cfg), lr_at(9, cfg), round(lr_at(99, cfg), 7)
    (1e-05, 0.0001, 1e-05)
    """
    w = cfg.warmup_steps()
    if step < w:
        return cfg.lr * (step + 1) / w
    t = 0.0 if cfg.steps is None else (step - w) / max(1, cfg.steps - w - 1)
    if cfg.minutes:
        t = max(t, elapsed_s / (60.0 * cfg.minutes))
    t = min(1.0, t)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


@dataclass
class FitResult:
    """What a run did: the before/after evaluations and its history."""

    before: Evaluation | None
    after: Evaluation | None
    best_step: int
    steps_run: int
    stopped: str
    seconds: float
    evals: list[dict] = field(default_factory=list)
    losses: list[dict] = field(default_factory=list)


def _to_device(batch: Batch, card: ModelCard, dev: torch.device):
    pin = dev.type == "cuda"

    def put(a: np.ndarray, dtype) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a))
        if pin:
            t = t.pin_memory()
        return t.to(dev, non_blocking=pin).to(dtype)

    x = put(batch.x, torch.float32)
    targets = {h.name: put(batch.targets[h.name],
                           torch.float32 if h.kind == "sigmoid" else torch.long)
               for h in card.heads}
    return x, targets, put(batch.valid, torch.bool)


class _Amp:
    def __init__(self, dev: torch.device, on: bool) -> None:
        self.on = on and dev.type == "cuda"
        self.dtype = (torch.bfloat16 if self.on and torch.cuda.is_bf16_supported()
                      else torch.float16)
        self.scaler = (torch.amp.GradScaler("cuda")
                       if self.on and self.dtype == torch.float16 else None)

    def autocast(self):
        return torch.autocast("cuda", dtype=self.dtype, enabled=self.on)

    def step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(opt)
            self.scaler.update()
        else:
            loss.backward()
            opt.step()


def _nan_error(step: int, lr: float) -> FormatError:
    return FormatError(f"the loss became NaN at step {step}, so training stopped; the learning "
                       f"rate ({lr:g}) is the likely cause: try a smaller --lr such as "
                       f"{lr / 10:g}. The base model is unchanged and nothing was written.")


def _snapshot(module: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def fit(model: Trainable, sampler: Sampler, loss_fn: CardLoss, held_out: list, card: ModelCard,
        cfg: TrainConfig, *, device: torch.device, reporter: Reporter | None = None,
        cancel: Callable[[], bool] | None = None, before: Evaluation | None = None) -> FitResult:
    """Train ``model`` in place; on return it holds the best checkpoint's weights.

    Parameters
    ----------
    model : Trainable
    sampler : Sampler
    loss_fn : CardLoss
    held_out : list of CaseData
        Evaluated every ``cfg.eval_interval()`` steps; empty: no evaluation, the last step wins.
    card : ModelCard
    cfg : TrainConfig
    device : torch.device
    reporter : Reporter, optional
        Receives ``step`` and ``eval`` events.
    cancel : callable, optional
        Checked before every step; true raises :class:`Cancelled`.
    before : Evaluation, optional
        The base model's held-out Dice, when the caller has it already.

    Raises
    ------
    FormatError
        The loss became NaN (the learning rate is the likely cause).
    Cancelled
    """
    reporter = reporter or Reporter()
    module = model.module
    torch.manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    amp = _Amp(device, cfg.amp)
    t0 = time.perf_counter()
    deadline = None if cfg.minutes is None else t0 + 60.0 * cfg.minutes
    every = cfg.eval_interval()
    evals: list[dict] = []
    losses: list[dict] = []

    def run_eval(step: int) -> Evaluation:
        ev = evaluate(module, held_out, card, device=device, batch_size=cfg.batch_size,
                      amp=cfg.amp)
        set_mode(module, True)
        return ev

    def record(step: int, ev: Evaluation, best: bool) -> None:
        evals.append({"step": step, "dice": ev.dice, "mean_dice": ev.mean, "best": best})
        reporter.emit("eval", step=step, dice=ev.dice, mean_dice=ev.mean, best=best,
                      elapsed_s=round(time.perf_counter() - t0, 3))

    if held_out and before is None:
        before = run_eval(0)
    if before is not None and before.dice:
        record(0, before, False)
    best_mean, best_eval, best_state, best_step = -1.0, None, None, 0
    since_best, stopped, step, last_emit = 0, "steps", 0, 0.0
    limit = math.inf if cfg.steps is None else cfg.steps
    while step < limit:
        if cancel is not None and cancel():
            raise Cancelled("the training was cancelled; nothing was written.")
        if deadline is not None and time.perf_counter() >= deadline:
            stopped = "minutes"
            break
        lr = lr_at(step, cfg, time.perf_counter() - t0)
        for g in opt.param_groups:
            g["lr"] = lr
        x, targets, valid = _to_device(sampler.batch(cfg.batch_size), card, device)
        opt.zero_grad(set_to_none=True)
        with amp.autocast():
            logits = select_output(module(x), card.input)
        if step == 0:
            for w in check_outputs(logits.detach(), card):  # raises on a wrong channel count
                reporter.emit("warning", message=w)
        loss, parts = loss_fn(logits, targets, valid)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise _nan_error(step + 1, cfg.lr)
        amp.step(loss, opt)
        step += 1
        now = time.perf_counter()
        losses.append({"step": step, "loss": value, "losses": parts})
        if now - last_emit >= 0.2 or step == limit or step == 1:
            last_emit = now
            reporter.emit("step", step=step, steps=cfg.steps, loss=value, losses=parts, lr=lr,
                          elapsed_s=round(now - t0, 3))
        if held_out and (step % every == 0 or step == limit):
            ev = run_eval(step)
            mean = ev.mean if ev.mean is not None else -1.0
            improved = mean > best_mean + 1e-4 or best_eval is None
            if improved:
                best_mean, best_eval, best_step = mean, ev, step
                best_state, since_best = _snapshot(module), 0
            else:
                since_best += 1
            record(step, ev, improved)
            if since_best >= cfg.patience:
                stopped = "plateau"
                break
    if held_out and step > 0 and (best_eval is None or evals[-1]["step"] != step):
        ev = run_eval(step)  # the budget ran out between evaluations
        improved = best_eval is None or (ev.mean or -1.0) > best_mean + 1e-4
        if improved:
            best_mean, best_eval, best_step, best_state = ev.mean or -1.0, ev, step, _snapshot(
                module)
        record(step, ev, improved)
    if best_state is not None:
        module.load_state_dict(copy.copy(best_state))
    else:
        best_step = step
    set_mode(module, False)
    return FitResult(before, best_eval, best_step, step, stopped,
                     time.perf_counter() - t0, evals, losses)
