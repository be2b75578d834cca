"""Fine-tuning from corrections: the held-out gain end to end, and training throughput.

1. **The gain, end to end on the CPU.** A domain shift the shipped demo model
   was not trained for: *low-density bone* (osteopenic, or another scanner's
   calibration): inside the bone, HU are pulled towards soft tissue,
   ``40 + 0.35 (HU - 40)`` (cortical ~450 HU instead of ~1200, marrow ~150
   instead of ~350), so the model's main cue, bright cortex, is faint. Five
   phantoms of this variant are exported with the real export code (ground
   truth standing in for the user's corrections); three are trained on, two
   held out. ``segreview train --json`` runs in a process of its own, as the
   Fine-tune panel starts it, with a 10-minute budget on 2 threads. Goal:
   held-out mean Dice over the channels rises by at least 0.15, and no channel
   drops by more than 0.02.
2. **Throughput**: :func:`napari_segreview.training.loop.fit` against a plain
   hand-written PyTorch loop of the same model, loss (BCEWithLogits + CE +
   soft Dice on the parts) and batch, in the same run (steps per second,
   ours / plain; goal >= 0.9).

    python benchmarks/bench_finetune.py [--quick] [--threads 2]

Prints figures measured in one run; on a shared machine the minutes are noisy,
the ratio less so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from napari_segreview.card.spec import load_card
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.targets.build import ExportCase, build_targets
from napari_segreview.targets.export import export_case
from napari_segreview.training.data import load_cases
from napari_segreview.training.loop import TrainConfig, fit
from napari_segreview.training.losses import CardLoss
from napari_segreview.training.progress import parse_event
from napari_segreview.training.sampling import Sampler
from napari_segreview.training.trainable import load_trainable

DATA = Path(__file__).resolve().parents[1] / "src" / "napari_segreview" / "data"
MODEL, CARD = DATA / "demo_bone.pt", DATA / "demo_bone.card.yaml"


def low_density_bone(seed: int, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The variant phantom: image (int16 HU), whole mask (1, Z, Y, X), parts label map."""
    ph = make_ct_phantom(shape, seed=seed)
    hu = ph.image.astype(np.float32)
    hu = np.where(ph.masks[0] > 0, 40 + 0.35 * (hu - 40), hu)
    return hu.astype(np.int16), ph.masks[:1].copy(), ph.parts


def write_export(folder: Path, shape, n: int) -> list[str]:
    card = load_card(CARD)
    names = []
    for i in range(n):
        img, whole, parts = low_density_bone(500 + i, shape)
        targets = build_targets(card, {"whole": whole, "parts": parts}, img.shape)
        names.append(f"case_{i}")
        export_case(folder, ExportCase(names[-1], img, targets, card))
    return names


def gain(work: Path, args) -> dict:
    shape = (6, 128, 128) if args.quick else (16, 256, 256)
    names = write_export(work / "export", shape, 5)
    held = names[3:]
    base = work / "models" / "demo_bone.pt"
    base.parent.mkdir()
    shutil.copy(MODEL, base)
    shutil.copy(CARD, base.with_name("demo_bone.card.yaml"))
    cmd = [sys.executable, "-m", "napari_segreview.cli", "train", str(work / "export"),
           "--model", str(base), "--held-out", ",".join(held), "--json",
           "--steps", str(args.steps), "--minutes", str(args.minutes),
           "--threads", str(args.threads), "--patch", str(args.patch), str(args.patch),
           "--batch-size", str(args.batch), "--device", "cpu"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = (time.perf_counter() - t0) / 60
    events = [e for e in map(parse_event, out.stdout.splitlines()) if e]
    done = [e for e in events if e["event"] == "done"]
    if out.returncode or not done:
        raise SystemExit(f"segreview train failed ({out.returncode}): {out.stderr[-2000:]}")
    d = done[0]
    print(f"1. gain: low-density-bone phantoms {shape}, trained on {', '.join(names[:3])}, "
          f"held out {', '.join(held)}; {d['steps_run']} steps ({d['stopped']}), best step "
          f"{d['best_step']}, {d['minutes']:.1f} min in the process ({wall:.1f} min wall "
          f"with start-up), {args.threads} threads")
    print(f"   {'channel':<8} {'before':>7} {'after':>7} {'change':>7}")
    for ch, b in d["before"].items():
        a = d["after"][ch]
        print(f"   {ch:<8} {b:7.3f} {a:7.3f} {a - b:+7.3f}")
    rise = d["mean_after"] - d["mean_before"]
    drop = max(b - d["after"][ch] for ch, b in d["before"].items())
    ok = rise >= 0.15 and drop <= 0.02 and wall <= 10
    print(f"   mean     {d['mean_before']:7.3f} {d['mean_after']:7.3f} {rise:+7.3f}   "
          f"goal (mean +0.15, no channel -0.02, <= 10 min): {'met' if ok else 'NOT met'}"
          + (" (--quick is a smoke run: 4 steps, not expected to meet it)" if args.quick else ""))
    return {"rise": rise, "max_drop": drop, "minutes": wall, "done": d}


def _plain_batch(rng, cases, batch, patch):
    """Random crops, a third centred on foreground: the same sampling, written plainly."""
    xs, ws, ps = [], [], []
    for _ in range(batch):
        c = cases[rng.integers(len(cases))]
        z = int(rng.integers(c.image.shape[1]))
        ny, nx = c.image.shape[2:]
        fg = np.flatnonzero(c.targets["whole"][0, z]) if rng.random() < 1 / 3 else ()
        if len(fg):
            cy, cx = np.unravel_index(fg[rng.integers(len(fg))], (ny, nx))
            y0 = int(np.clip(cy - patch // 2, 0, ny - patch))
            x0 = int(np.clip(cx - patch // 2, 0, nx - patch))
        else:
            y0, x0 = int(rng.integers(ny - patch + 1)), int(rng.integers(nx - patch + 1))
        sl = (z, slice(y0, y0 + patch), slice(x0, x0 + patch))
        xs.append(c.image[(0, *sl)])
        ws.append(c.targets["whole"][(0, *sl)])
        ps.append(c.targets["parts"][sl])
    return (torch.from_numpy(np.stack(xs)[:, None]),
            torch.from_numpy(np.stack(ws)[:, None].astype(np.float32)),
            torch.from_numpy(np.stack(ps).astype(np.int64)))


def plain_loop(model, cases, steps, batch, patch, lr) -> float:
    """Steps per second of a hand-written loop: BCE + CE + soft Dice on the parts, AdamW."""
    rng = np.random.default_rng(0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    model.train()
    t0 = time.perf_counter()
    for _ in range(steps):
        x, w, p = _plain_batch(rng, cases, batch, patch)
        out = model(x)
        loss = F.binary_cross_entropy_with_logits(out[:, :1], w) + F.cross_entropy(out[:, 1:], p)
        prob = out[:, 1:].softmax(1)[:, 1:]
        t = F.one_hot(p, 4).movedim(-1, 1)[:, 1:].float()
        inter, den = (prob * t).sum((0, 2, 3)), prob.sum((0, 2, 3)) + t.sum((0, 2, 3))
        loss = loss + (1 - (2 * inter + 1) / (den + 1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
    return steps / (time.perf_counter() - t0)


def ours_loop(cases, card, steps, batch, patch, lr) -> float:
    model = load_trainable(MODEL, device="cpu")
    loss = CardLoss(card, pos_weight=False, dice={"whole": 0.0, "parts": 1.0})
    sampler = Sampler(cases, card, (patch, patch), np.random.default_rng(0), augment=False)
    cfg = TrainConfig(steps=steps, lr=lr, batch_size=batch, device="cpu", patch=(patch, patch))
    t0 = time.perf_counter()
    fit(model, sampler, loss, [], card, cfg, device=torch.device("cpu"))
    return steps / (time.perf_counter() - t0)


def throughput(work: Path, args) -> float:
    card, cases = load_cases(work / "export", load_card(CARD))
    cases = cases[:3]
    steps = 3 if args.quick else args.throughput_steps
    rates = {"ours": [], "plain": []}
    for _ in range(2):  # alternate, keep the best of each: the machine is shared
        rates["plain"].append(plain_loop(load_trainable(MODEL).module, cases, steps, args.batch,
                                         args.patch, 1e-4))
        rates["ours"].append(ours_loop(cases, card, steps, args.batch, args.patch, 1e-4))
    ours, plain = max(rates["ours"]), max(rates["plain"])
    print(f"2. throughput ({steps} steps, batch {args.batch} x {args.patch}x{args.patch}, "
          f"{torch.get_num_threads()} threads, best of 2): ours {ours:.2f} steps/s, plain loop "
          f"{plain:.2f} steps/s, ratio ours/plain {ours / plain:.2f} (goal >= 0.9)")
    return ours / plain


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny phantoms, a few steps (smoke)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--minutes", type=float, default=7.0,
                    help="training budget; evaluations and start-up come on top")
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--throughput-steps", type=int, default=12)
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.minutes = min(args.steps, 4), min(args.minutes, 2.0)
        args.patch = min(args.patch, 64)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        g = gain(work, args)
        ratio = throughput(work, args)
    result = {"gain": {k: v for k, v in g.items() if k != "done"}, "throughput_ratio": ratio}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
