"""Train the demo model: a small UNet with the five-output composite head, on CT phantoms.

The model follows the second reference thread: five output channels, the first
a sigmoid channel for the whole bone (``BCEWithLogitsLoss`` on a 0/1 mask),
the last four a softmax over ``[background, part_1, part_2, part_3]``
(``CrossEntropyLoss`` on an integer label map, no channel axis); the two
losses are summed. The thread's advice is to add a soft Dice loss only if it
clearly helps, and here it does: with BCE + CE alone the model settles on
calling every bone voxel ``part_2`` (held-out Dice part_1 0.00, part_2 0.68,
part_3 0.00 after 900 steps; whole 0.998), while adding a soft Dice on the
three parts gives whole 0.994, part_1 0.981, part_2 0.989, part_3 0.985 in the
same time (``--dice 0`` reproduces the first). Every few steps a fresh
phantom is generated (new seed, size, noise and position), and random crops
of random slices feed the model, two in three centred on the bone,
window-normalised exactly as the card's ``normalize`` says.

The training itself is :mod:`napari_segreview.training`, the code behind
``segreview train``: the loss is the card's (:class:`~napari_segreview.training.losses.CardLoss`,
without ``pos_weight``, soft Dice on the parts only), crops come from its
:class:`~napari_segreview.training.sampling.Sampler`, the optimisation is its
:func:`~napari_segreview.training.loop.fit` (AdamW, warm-up then cosine decay)
and the held-out Dice its :func:`~napari_segreview.training.evaluate.evaluate`
(the decoding of ``segreview predict``). Only the data differ: fresh phantoms
instead of an export. The shipped ``demo_bone.pt`` was trained by the
previous, self-contained version of this script (same loss, OneCycle
schedule); a rerun of this one trains an equivalent model, not the same bytes.
The result::

    src/napari_segreview/data/demo_bone.pt            TorchScript (torch.jit.script)
    src/napari_segreview/data/demo_bone.card.yaml     its model card
    src/napari_segreview/data/demo_bone.metrics.json  per-channel Dice on a held-out phantom

Run (about five minutes on two CPU cores; deterministic for a given torch build)::

    python scripts/train_demo_model.py
    python scripts/train_demo_model.py --steps 20 --out /tmp/demo   # a quick smoke run
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

try:
    import napari_segreview  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from napari_segreview.card.intensity import normalize
from napari_segreview.card.spec import ModelCard
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.inference.unet import UNet
from napari_segreview.training.data import CaseData
from napari_segreview.training.evaluate import Evaluation
from napari_segreview.training.loop import TrainConfig, fit
from napari_segreview.training.losses import CardLoss
from napari_segreview.training.progress import Reporter
from napari_segreview.training.sampling import Sampler
from napari_segreview.training.trainable import Trainable

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "napari_segreview" / "data"
STEM = "demo_bone"
NAME = "demo-bone-phantom"
WINDOW = (400.0, 1800.0)  # center, width in HU: the card's normalize
FOREGROUND = 2 / 3  # share of crops centred on the bone, the rest anywhere
EVAL_SEED = 987_654  # never used for training (training seeds are 1000 + k)

CARD_YAML = """\
# Model card of the demo model (written by scripts/train_demo_model.py).
# A small UNet trained on the synthetic CT phantom: one sigmoid channel for the
# whole bone (BCEWithLogitsLoss) and a four-class softmax for its substructures
# (CrossEntropyLoss on integer targets, plus a soft Dice on the parts), summed.
# Held-out Dice: demo_bone.metrics.json beside this file.
name: {name}
input:
  channels: 1
  spatial_dims: 2
  normalize: {{kind: window, center: {center:g}, width: {width:g}}}
  tile: [{tile}, {tile}]
heads:
  - name: whole
    kind: sigmoid
    channels: [whole]
  - name: parts
    kind: softmax
    channels: [background, part_1, part_2, part_3]
    within: whole
"""


@functools.lru_cache
def demo_card(tile: int = 256) -> ModelCard:
    """The demo model's card, parsed and validated by :mod:`napari_segreview.card.spec`."""
    return ModelCard.from_dict(yaml.safe_load(card_text(tile)))


def card_text(tile: int = 256) -> str:
    """The YAML text of the demo card (with comments), as written beside the model."""
    return CARD_YAML.format(name=NAME, center=WINDOW[0], width=WINDOW[1], tile=tile)


def window_normalize(image: np.ndarray) -> np.ndarray:
    """The card's ``normalize`` (window 400/1800 HU to [0, 1]), float32.

    This is :func:`napari_segreview.card.intensity.normalize` with the card's own
    spec, so training sees exactly what prediction feeds the model.
    """
    return normalize(image, demo_card().input.normalize)


def build_model(base: int, depth: int) -> UNet:
    """The demo architecture: 1 input channel, 5 outputs ([whole] + 4 parts)."""
    return UNet(1, 5, spatial_dims=2, base=base, depth=depth, norm="group")


def card_loss(dice_weight: float) -> CardLoss:
    """BCEWithLogits on ``whole`` plus CrossEntropy on ``parts`` (+ soft Dice on the parts).

    The card's loss as ``segreview train`` builds it, without ``pos_weight``
    (the phantoms are generated, not counted) and with the soft Dice only on
    the parts: it keeps the small parts from drowning in the background,
    which plain cross-entropy lets happen here.
    """
    return CardLoss(demo_card(), pos_weight=False, dice={"whole": 0.0, "parts": dice_weight})


def phantom_case(seed: int, shape: tuple[int, int, int], noise_hu: float = 25.0) -> CaseData:
    """A phantom as a training case: window-normalised image, ``whole`` and ``parts`` targets."""
    ph = make_ct_phantom(shape, seed=seed, noise_hu=noise_hu)
    return CaseData(f"phantom_{seed}", window_normalize(ph.image)[None],
                    {"whole": ph.masks[:1].copy(), "parts": ph.parts})


class PhantomSampler:
    """Crops from a fresh phantom (new seed, size, noise) every ``per_phantom`` batches."""

    def __init__(self, rng: np.random.Generator, crop: int, per_phantom: int) -> None:
        self.rng, self.crop, self.per_phantom = rng, crop, per_phantom
        self.calls = 0
        self.sampler: Sampler | None = None

    def batch(self, n: int):
        if self.calls % self.per_phantom == 0:
            size = int(self.rng.choice([160, 192, 224, 256, 256, 288, 320, 384]))
            noise = float(self.rng.uniform(10.0, 45.0))
            case = phantom_case(1000 + self.calls // self.per_phantom, (12, size, size), noise)
            self.sampler = Sampler([case], demo_card(), (self.crop, self.crop), self.rng,
                                   foreground=FOREGROUND, augment=False)
        self.calls += 1
        return self.sampler.batch(n)


#: The untrained network's Dice is not measured (``fit`` skips its "before" evaluation).
_NOT_MEASURED = Evaluation({})


def _progress(event: str, f: dict, _last: list = [0]) -> None:  # noqa: B006 (a counter)
    if event == "step" and (f["step"] - _last[0] >= 50 or f["step"] == f["steps"]):
        _last[0] = f["step"]
        print(f"step {f['step']:4d}/{f['steps']}  loss {f['loss']:.4f}  "
              f"{f['elapsed_s']:6.1f} s", flush=True)


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; package data is world-readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(model: nn.Module, metrics: dict, args: argparse.Namespace) -> list[Path]:
    """Write the TorchScript model, its card and the metrics, each atomically."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    with warnings.catch_warnings():  # torch >= 2.10 marks torch.jit as deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(model)
    paths = [out / f"{STEM}.pt", out / f"{STEM}.card.yaml", out / f"{STEM}.metrics.json"]
    card = card_text(args.tile)
    demo_card(args.tile)  # validate before writing anything
    _atomic_write(paths[0], lambda p: scripted.save(str(p)))
    _atomic_write(paths[1], lambda p: p.write_text(card, encoding="utf-8"))
    _atomic_write(paths[2], lambda p: p.write_text(json.dumps(metrics, indent=2) + "\n",
                                                   encoding="utf-8"))
    return paths


def main(argv: list[str] | None = None) -> dict:
    """Train, evaluate and save; return the metrics dict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=900, help="optimiser steps")
    parser.add_argument("--batch", type=int, default=8, help="crops per step")
    parser.add_argument("--crop", type=int, default=128, help="crop size (multiple of 2**depth)")
    parser.add_argument("--per-phantom", type=int, default=3,
                        help="steps per generated phantom before a fresh one")
    parser.add_argument("--base", type=int, default=8, help="UNet base width")
    parser.add_argument("--depth", type=int, default=4, help="UNet depth")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--dice", type=float, default=1.0,
                        help="weight of the soft Dice loss on the parts (0: BCE + CE only)")
    parser.add_argument("--tile", type=int, default=256, help="tile size written to the card")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--eval-shape", type=int, nargs=3, default=(48, 256, 256),
                        metavar=("Z", "Y", "X"), help="held-out phantom shape")
    parser.add_argument("--out", default=str(OUT_DIR), help="output folder")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)
    model = build_model(args.base, args.depth)
    trainable = Trainable(model.train(), "factory", OUT_DIR / f"{STEM}.pt", None,
                          params=list(model.parameters()))
    held_out = [phantom_case(EVAL_SEED, tuple(args.eval_shape))]
    cfg = TrainConfig(steps=args.steps, lr=args.lr, warmup=max(1, args.steps // 10),
                      batch_size=args.batch, eval_every=args.steps, seed=args.seed,
                      pos_weight=False, dice=args.dice, device="cpu",
                      patch=(args.crop, args.crop), threads=args.threads)
    t0 = time.perf_counter()
    reporter = Reporter(text=_progress)
    result = fit(trainable, PhantomSampler(rng, args.crop, args.per_phantom),
                 card_loss(args.dice), held_out, demo_card(), cfg,
                 device=torch.device("cpu"), reporter=reporter, before=_NOT_MEASURED)
    train_s = time.perf_counter() - t0
    dice = result.after.dice
    metrics = {
        "dice": dice,
        "eval": {"phantom_shape": list(args.eval_shape), "seed": EVAL_SEED,
                 "decision": "whole: logit > 0; parts: argmax within whole"},
        "train": {"steps": args.steps, "batch": args.batch, "crop": args.crop,
                  "base": args.base, "depth": args.depth, "lr": args.lr,
                  "dice_weight": args.dice, "seed": args.seed, "seconds": round(train_s, 1),
                  "trainer": "napari_segreview.training.loop.fit",
                  "loss": "BCEWithLogits(whole) + CrossEntropy(parts)"
                          + (f" + {args.dice:g} * soft Dice(parts)" if args.dice else "")},
    }
    shape = "x".join(map(str, args.eval_shape))
    scores = ", ".join(f"{k} {v:.4f}" for k, v in dice.items())
    print(f"Dice on a held-out phantom (seed {EVAL_SEED}, {shape}): {scores}", flush=True)
    paths = save(model, metrics, args)
    print(f"trained in {train_s:.0f} s; wrote " + ", ".join(p.name for p in paths))
    return metrics


if __name__ == "__main__":
    main()
