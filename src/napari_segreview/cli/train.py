"""``segreview train``: fine-tune a model on an export and compare held-out Dice before and after.

The command runs :func:`napari_segreview.training.run.fine_tune` (the same
function the Fine-tune panel starts in a process of its own). On a terminal
it prints progress and ends with the before/after table; with ``--json`` it
writes one JSON object per line on stdout and nothing else (the protocol is
in ``docs/training-reference.md``). SIGTERM or SIGINT (the panel's Cancel)
ends the run at once and writes nothing.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from napari_segreview.cli._common import comma_list, positive_int
from napari_segreview.errors import Cancelled, FormatError

__all__ = ["add_train", "format_table", "run_train"]

TRAIN_HELP = """\
Fine-tune a model on an export of corrected cases (segreview export or the
Export panel). Each head's loss comes from the model card: BCEWithLogitsLoss
with pos_weight plus soft Dice for a sigmoid head, CrossEntropyLoss
(ignore_index=255) plus soft Dice for a softmax head, summed. Cases held out
(--held-out; default about a fifth, at least one) are never trained on: their
Dice before and after is the table printed at the end. The new model is
written beside the base (never over it) with its card and a training.json.
"""

TRAIN_EPILOG = """\
examples:
  segreview train export/ --model bone.pt
  segreview train export/ --model bone.pt -o bone_v2.pt --steps 500 --lr 5e-5
  segreview train export/ --model weights.pth --factory mynets:build_unet --freeze encoder.
  segreview train export/ --model bone.pt --held-out case_07,case_09 --minutes 10
  segreview train export/ --model bone.pt --json        # JSON lines, for programs
"""


def _head_weights(text: str) -> dict[str, float]:
    out = {}
    for item in comma_list(text):
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"{text!r} is not a list like whole=1,parts=2")
    return out


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return v


def add_train(subparsers: Any) -> None:
    """Register ``segreview train``."""
    p = subparsers.add_parser("train", help=(
        "fine-tune a model on an export and compare held-out Dice before and after"),
        description=TRAIN_HELP, epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("export", metavar="EXPORT", help="the export folder (tif or npz format)")
    p.add_argument("--model", required=True, metavar="MODEL",
                   help="the base model: TorchScript (.pt), torch.export (.pt2), or a state "
                        "dict with --factory; never modified")
    p.add_argument("--card", metavar="CARD",
                   help="the model card; default: beside MODEL, else the export's card")
    p.add_argument("--factory", metavar="package.module:function",
                   help="the function that builds the model whose weights MODEL holds")
    p.add_argument("-o", "--output", dest="out", metavar="NEW_MODEL",
                   help="the new model file; default: the next free <stem>_vN beside MODEL")
    p.add_argument("--steps", type=positive_int,
                   help="optimiser steps (300; with --minutes alone: as many as fit)")
    p.add_argument("--minutes", type=_positive_float,
                   help="time budget; training stops at the steps or the minutes, first")
    p.add_argument("--lr", type=_positive_float, default=1e-4,
                   help="peak learning rate of AdamW (1e-4), after a short warm-up")
    p.add_argument("--batch-size", type=positive_int, default=4,
                   help="samples per step (4)")
    p.add_argument("--held-out", type=comma_list, metavar="NAME,...",
                   help="cases never trained on, compared before/after (default: about a "
                        "fifth of the cases)")
    p.add_argument("--no-held-out", action="store_true",
                   help="train on every case, without a before/after comparison")
    p.add_argument("--freeze", type=comma_list, default=[], metavar="PREFIX,...",
                   help="freeze parameters whose names start with these prefixes")
    p.add_argument("--device", default="auto", metavar="{auto,cpu,cuda}",
                   help="where to train (auto: CUDA, then MPS, then the CPU)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--no-pos-weight", action="store_true",
                   help="BCEWithLogitsLoss without the export's pos_weight")
    p.add_argument("--class-weights", action="store_true",
                   help="CrossEntropyLoss with the export's class weights")
    p.add_argument("--head-weights", type=_head_weights, default={}, metavar="HEAD=W,...",
                   help="weights of the heads' losses in the sum (default 1 each)")
    p.add_argument("--dice", type=float, default=1.0,
                   help="weight of the soft Dice term of every head (1; 0: none)")
    p.add_argument("--eval-every", type=positive_int,
                   help="steps between held-out evaluations (default: a tenth of the steps)")
    p.add_argument("--patience", type=positive_int, default=5,
                   help="evaluations without a gain before stopping early (5)")
    p.add_argument("--patch", type=positive_int, nargs="+", metavar="N",
                   help="training patch size per spatial axis (default: the card's tile)")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line on stdout (for programs), nothing else")
    p.set_defaults(func=run_train)


def _config(args: argparse.Namespace):
    from napari_segreview.training.loop import TrainConfig

    steps = args.steps or (None if args.minutes else 300)
    return TrainConfig(steps=steps, minutes=args.minutes, lr=args.lr,
                       batch_size=args.batch_size, seed=args.seed,
                       pos_weight=not args.no_pos_weight, class_weights=args.class_weights,
                       head_weights=args.head_weights, dice=args.dice,
                       freeze=tuple(args.freeze), device=args.device, amp=not args.no_amp,
                       eval_every=args.eval_every, patience=args.patience,
                       patch=None if args.patch is None else tuple(args.patch),
                       threads=args.threads)


def _fmt(v: float | None) -> str:
    return "   -  " if v is None else f"{v:6.3f}"


def format_table(done: dict[str, Any]) -> str:
    """The before/after table printed at the end (from a ``done`` event).

    Examples
    --------
    >>> print(format_table({"before": {"fg": 0.5}, "after": {"fg": 0.75}, "mean_before": 0.5,
    ...                     "mean_after": 0.75, "per_case": {}, "worse": False}))
    held-out Dice   before   after  change
    fg               0.500   0.750  +0.250
    mean             0.500   0.750  +0.250
    """
    if done.get("before") is None:
        return "no held-out comparison (--no-held-out)."
    rows = [f"{'held-out Dice':<14} {'before':>7} {'after':>7} {'change':>7}"]
    items = [*done["before"].items(), ("mean", done.get("mean_before"))]
    for ch, b in items:
        a = done.get("mean_after") if ch == "mean" else done["after"].get(ch)
        change = "      -" if a is None or b is None else f"{a - b:+7.3f}"
        rows.append(f"{ch:<14}  {_fmt(b)}  {_fmt(a)} {change}")
    for case, chans in (done.get("per_case") or {}).items():
        rows.append(f"  {case}: " + ", ".join(
            f"{ch} {_fmt(b).strip()} -> {_fmt(a).strip()}" for ch, (b, a) in chans.items()))
    if done.get("worse"):
        chans = ", ".join(done.get("worse_channels") or []) or "the mean"
        rows.append(f"WORSE on the held-out cases ({chans}): keep the base model unless you "
                    "have a reason to prefer this one.")
    return "\n".join(rows)


class _Terminal:
    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, event: str, f: dict) -> None:
        out = sys.stdout
        if event == "start":
            print(f"training on {len(f['cases'])} case(s) ({', '.join(f['cases'])}), held out: "
                  f"{', '.join(f['held_out']) or 'none'}; {f['steps'] or 'as many'} steps "
                  f"{'' if f['steps'] else 'as fit in the minutes '}on {f['device']} "
                  f"({f['format']} model)", file=out, flush=True)
        elif event == "warning":
            print(f"warning: {f['message']}", file=sys.stderr, flush=True)
        elif event == "step":
            now = time.monotonic()
            if now - self.last >= 5 or f["step"] == f["steps"] or f["step"] == 1:
                self.last = now
                parts = ", ".join(f"{k} {v:.4f}" for k, v in f["losses"].items())
                print(f"step {f['step']:5d}/{f['steps'] or '-'}  loss {f['loss']:.4f} ({parts})  "
                      f"lr {f['lr']:.2g}  {f['elapsed_s']:.0f} s", file=out, flush=True)
        elif event == "eval":
            m = f.get("mean_dice")
            what = "before training" if f["step"] == 0 else f"at step {f['step']}"
            print(f"held-out mean Dice {what}: {_fmt(m).strip()}"
                  + ("  (best so far)" if f.get("best") else ""), file=out, flush=True)
        elif event == "done":
            print(format_table(f), file=out)
            print(f"wrote {f['model']}, {f['card']} and {f['training_json']} "
                  f"({f['minutes']:.1f} min, best step {f['best_step']}, stopped: "
                  f"{f['stopped']})", file=out, flush=True)


def _raise_interrupt(signum, frame):  # SIGTERM (Cancel) behaves as Ctrl-C
    raise KeyboardInterrupt


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``segreview train``; returns the exit code."""
    from napari_segreview.training.progress import Reporter

    try:
        signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread (a test calling main() from a worker)
        pass
    reporter = (Reporter(sys.stdout, json_lines=True) if args.json
                else Reporter(text=_Terminal()))
    try:
        from napari_segreview.training.run import fine_tune

        fine_tune(args.export, args.model, card=args.card, factory=args.factory, out=args.out,
                  config=_config(args), held_out=args.held_out,
                  compare_held_out=not args.no_held_out, reporter=reporter)
    except (FormatError, OSError, ValueError) as exc:
        if not args.json:
            raise
        message = " ".join((str(exc) or type(exc).__name__).split())
        reporter.emit("error", message=message)
        print(f"segreview: error: {message}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Cancelled):
        if args.json:
            reporter.emit("cancelled")
        print("segreview: training cancelled; nothing was written.", file=sys.stderr)
        return 130
    return 0
