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
window-normalised exactly as the card's ``normalize`` says. The result::

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
import torch.nn.functional as F
import yaml
from torch import nn

try:
    import napari_segreview  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from napari_segreview.card.intensity import normalize
from napari_segreview.card.spec import ModelCard
from napari_segreview.data.phantom import PHANTOM_CHANNELS, make_ct_phantom
from napari_segreview.inference.unet import UNet
from napari_segreview.labels.metrics import per_channel_dice

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


def composite_loss(
    logits: torch.Tensor, whole: torch.Tensor, parts: torch.Tensor, dice_weight: float = 0.0
) -> torch.Tensor:
    """BCEWithLogits on channel 0 plus CrossEntropy on channels 1..4, summed.

    ``whole`` is ``(N, 1, Y, X)`` float 0/1; ``parts`` is ``(N, Y, X)`` long
    class indices (no channel axis). With ``dice_weight > 0`` a soft Dice loss
    on the three parts' softmax probabilities (batch Dice, one per part,
    averaged) is added: it keeps the small parts from drowning in the
    background, which plain cross-entropy lets happen here.
    """
    loss = F.binary_cross_entropy_with_logits(logits[:, :1], whole)
    loss = loss + F.cross_entropy(logits[:, 1:], parts)
    if dice_weight > 0:
        prob = torch.softmax(logits[:, 1:], 1)[:, 1:]
        target = torch.stack([parts == k for k in (1, 2, 3)], 1).to(prob.dtype)
        inter = (prob * target).sum((0, 2, 3))
        denom = prob.sum((0, 2, 3)) + target.sum((0, 2, 3))
        loss = loss + dice_weight * (1 - (2 * inter + 1) / (denom + 1)).mean()
    return loss


def sample_batch(
    rng: np.random.Generator, batch: int, crop: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random crops of random slices from one fresh phantom (new seed, size, noise).

    Two crops in three are centred on a random bone voxel (when the slice has
    bone), the others lie anywhere, background-only crops included.
    """
    size = int(rng.choice([160, 192, 224, 256, 256, 288, 320, 384]))
    noise = float(rng.uniform(10.0, 45.0))
    ph = make_ct_phantom((12, size, size), seed=seed, noise_hu=noise)
    image = window_normalize(ph.image)
    parts = ph.parts
    xs, ws, ps = [], [], []
    for _ in range(batch):
        z = int(rng.integers(0, ph.image.shape[0]))
        bone = np.flatnonzero(ph.masks[0, z]) if rng.random() < FOREGROUND else ()
        if len(bone):  # centre the crop on a bone voxel (nnU-Net's foreground oversampling)
            cy, cx = np.unravel_index(bone[rng.integers(len(bone))], (size, size))
            y0, x0 = (int(np.clip(c - crop // 2, 0, size - crop)) for c in (cy, cx))
        else:
            y0, x0 = (int(rng.integers(0, size - crop + 1)) for _ in range(2))
        sl = (z, slice(y0, y0 + crop), slice(x0, x0 + crop))
        xs.append(image[sl])
        ws.append(ph.masks[0][sl])
        ps.append(parts[sl])
    x = torch.from_numpy(np.stack(xs)[:, None])
    w = torch.from_numpy(np.stack(ws)[:, None].astype(np.float32))
    p = torch.from_numpy(np.stack(ps).astype(np.int64))
    return x, w, p


@torch.inference_mode()
def evaluate(model: nn.Module, shape: tuple[int, int, int], seed: int) -> dict[str, float]:
    """Per-channel Dice on a held-out phantom: whole by logit > 0, parts by argmax within."""
    model.eval()
    ph = make_ct_phantom(shape, seed=seed)
    x = torch.from_numpy(window_normalize(ph.image)[:, None])
    logits = torch.cat([model(x[i:i + 8]) for i in range(0, x.shape[0], 8)])
    whole = (logits[:, 0] > 0).numpy()
    parts = logits[:, 1:].argmax(1).numpy() * whole  # `within: whole`
    pred = np.stack([whole] + [parts == k for k in (1, 2, 3)]).astype(np.uint8)
    return per_channel_dice(pred, ph.masks, PHANTOM_CHANNELS)


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
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps,
                                                pct_start=0.1)
    t0 = time.perf_counter()
    running = None
    model.train()
    for step in range(args.steps):
        if step % args.per_phantom == 0:
            phantom_seed = 1000 + step // args.per_phantom
        x, w, p = sample_batch(rng, args.batch, args.crop, phantom_seed)
        loss = composite_loss(model(x), w, p, args.dice)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if (step + 1) % 50 == 0 or step + 1 == args.steps:
            print(f"step {step + 1:4d}/{args.steps}  loss {running:.4f}  "
                  f"{time.perf_counter() - t0:6.1f} s", flush=True)
    train_s = time.perf_counter() - t0
    dice = evaluate(model, tuple(args.eval_shape), EVAL_SEED)
    metrics = {
        "dice": dice,
        "eval": {"phantom_shape": list(args.eval_shape), "seed": EVAL_SEED,
                 "decision": "whole: logit > 0; parts: argmax within whole"},
        "train": {"steps": args.steps, "batch": args.batch, "crop": args.crop,
                  "base": args.base, "depth": args.depth, "lr": args.lr,
                  "dice_weight": args.dice, "seed": args.seed, "seconds": round(train_s, 1),
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
