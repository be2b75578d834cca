"""Inference speed of the engine against a raw forward and a naive loop, in one run.

On one in-memory CT stack (int16 HU, default 64 slices of 512 x 512) and one
model, the script times:

(a) **engine**: :func:`napari_segreview.inference.predict.predict`, stack in host
    memory to decided arrays (label map, multi-hot) in host memory;
(b) **raw**: the same model's batched forward alone, on tensors already
    normalised and already on the device, same batch size, under
    ``torch.inference_mode()`` with bf16 autocast on CUDA (fp32 elsewhere, as
    the engine); outputs discarded. An upper bound no real pipeline reaches;
(c) **naive**: the loop people write first: one slice at a time, fp32,
    ``.cpu()`` of the float32 logits, then numpy threshold/argmax on the host.

It prints slices/s for each and the ratios engine/raw (goal >= 0.9 on a GPU,
>= 0.8 on a CPU) and engine/naive (goal >= 4 on a GPU). Compare ratios between
machines, never absolute times. The default model is the demo UNet
architecture at base width 32 with random weights; ``--model`` takes a
TorchScript or torch.export file (its card beside it, or ``--card``). The
card's tile is set to the whole slice so that (a), (b) and (c) do the same
arithmetic::

    PYTHONPATH=src python benchmarks/bench_predict.py                 # 64 x 512 x 512
    PYTHONPATH=src python benchmarks/bench_predict.py --slices 16 --size 256 --device cpu
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

try:
    import napari_segreview  # noqa: F401
except ImportError:  # running from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from napari_segreview.card.intensity import normalize
from napari_segreview.card.spec import ModelCard, find_card, load_card
from napari_segreview.data import demo_card_path, demo_metrics_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.inference.models import load_model, select_device, select_output
from napari_segreview.inference.predict import predict
from napari_segreview.inference.unet import UNet

GOALS = {"cuda": (0.9, 4.0), "cpu": (0.8, None)}


def demo_depth() -> int:
    """Depth of the trained demo UNet (read from its metrics file), else 4."""
    try:
        return int(json.loads(demo_metrics_path().read_text())["train"]["depth"])
    except (OSError, KeyError, ValueError, TypeError):
        return 4


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device):
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast("cpu", enabled=False)


def machine(device: torch.device) -> str:
    cores = os.cpu_count()
    parts = [platform.machine(), f"{cores} cores", f"torch {torch.__version__} "
             f"({torch.get_num_threads()} threads)"]
    if device.type == "cuda":
        parts.append(torch.cuda.get_device_name(device))
    return ", ".join(parts)


def naive_decide(logits: np.ndarray, card: ModelCard) -> dict[str, np.ndarray]:
    """Host-side decisions of one slice's float32 logits ``(K, Y, X)``, per head."""
    out: dict[str, np.ndarray] = {}
    for h in card.heads:
        block = logits[h.start:h.stop]
        out[h.name] = (np.argmax(block, axis=0).astype(np.uint8) if h.kind == "softmax"
                       else (block > 0).astype(np.uint8))
    for h in card.heads:
        if h.within is not None:
            out[h.name] = out[h.name] * out[h.within][0]
    return out


def make_runs(image, model, card, device, batch, amp) -> dict[str, Callable[[], object]]:
    """The three timed functions; each returns what it computed."""
    spec = card.input.normalize
    x_dev = torch.from_numpy(normalize(image, spec))[:, None].to(device)

    def engine():
        return predict(image, model, card, device=device, batch_size=batch, amp=amp)

    def raw():
        with torch.inference_mode(), (autocast(device) if amp else torch.autocast(
                "cpu", enabled=False)):
            for i in range(0, x_dev.shape[0], batch):
                select_output(model(x_dev[i:i + batch]), card.input)
        sync(device)

    def naive():
        z = image.shape[0]
        result = {h.name: np.zeros((z, *image.shape[1:]) if h.kind == "softmax"
                                   else (len(h.channels), z, *image.shape[1:]), np.uint8)
                  for h in card.heads}
        with torch.no_grad():
            for k in range(z):
                x = torch.from_numpy(normalize(image[k], spec))[None, None].to(device)
                logits = select_output(model(x), card.input).float().cpu().numpy()[0]
                for name, dec in naive_decide(logits, card).items():
                    if dec.ndim == 2:
                        result[name][k] = dec
                    else:
                        result[name][:, k] = dec
        return result

    return {"engine": engine, "raw": raw, "naive": naive}


def agreement(engine_result, naive_result) -> float:
    """Fraction of decided voxels where the engine and the fp32 naive loop agree."""
    same = total = 0
    for name, out in engine_result.heads.items():
        a, b = out.decision, naive_result[name]
        same += int(np.count_nonzero(a == b))
        total += a.size
    return same / max(total, 1)


def build(args, device: torch.device) -> tuple[object, ModelCard, str]:
    if args.model:
        model = load_model(args.model, device=device)
        card_path = args.card or find_card(args.model)
        if card_path is None:
            raise SystemExit(f"no card beside {args.model}; pass --card.")
        card, what = load_card(card_path), f"{Path(args.model).name}"
    else:
        torch.manual_seed(0)
        depth = args.depth or demo_depth()
        model = UNet(1, 5, spatial_dims=2, base=args.base, depth=depth).to(device).eval()
        card = load_card(args.card or demo_card_path())
        what = f"demo UNet architecture, base {args.base}, depth {depth}, random weights"
    # One tile per slice, so that all three do the same arithmetic.
    card = dataclasses.replace(card, input=dataclasses.replace(card.input, tile=None))
    return model, card, what


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=64, help="slices in the stack")
    parser.add_argument("--size", type=int, default=512, help="slice size (Y = X)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda (default auto)")
    parser.add_argument("--batch-size", type=int, default=8, help="slices per forward pass")
    parser.add_argument("--base", type=int, default=32, help="UNet base width (default model)")
    parser.add_argument("--depth", type=int, default=None,
                        help="UNet depth (default: the demo model's)")
    parser.add_argument("--model", help="a TorchScript / torch.export file instead")
    parser.add_argument("--card", help="its model card (default: beside the model, or demo)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed rounds, best kept (default 3 on CUDA, 1 elsewhere)")
    parser.add_argument("--no-amp", dest="amp", action="store_false",
                        help="fp32 on CUDA too (engine and raw)")
    args = parser.parse_args(argv)

    device = select_device(args.device)
    repeat = args.repeat or (3 if device.type == "cuda" else 1)
    model, card, what = build(args, device)
    image = make_ct_phantom((args.slices, args.size, args.size), seed=0).image
    runs = make_runs(image, model, card, device, args.batch_size, args.amp)

    print(f"machine: {machine(device)}; device {device}")
    print(f"stack {args.slices} x {args.size} x {args.size} int16, batch {args.batch_size}, "
          f"model: {what}, {card.n_outputs} outputs, amp {args.amp and device.type == 'cuda'}")
    # Warm up on a few slices (allocator, cuDNN autotuning), then interleave the
    # rounds so that drifting machine load hits all three alike.
    warm = make_runs(image[: min(args.batch_size, args.slices)], model, card, device,
                     args.batch_size, args.amp)
    for fn in warm.values():
        fn()
    best = dict.fromkeys(runs, float("inf"))
    results = {}
    for _ in range(repeat):
        for name, fn in runs.items():
            sync(device)
            t0 = time.perf_counter()
            results[name] = fn()
            sync(device)
            best[name] = min(best[name], time.perf_counter() - t0)
    rate = {k: args.slices / v for k, v in best.items()}
    ratios = {"engine/raw": rate["engine"] / rate["raw"],
              "engine/naive": rate["engine"] / rate["naive"]}
    agree = agreement(results["engine"], results["naive"])
    for name in runs:
        print(f"  {name:<7} {best[name]:8.3f} s  {rate[name]:9.1f} slices/s")
    goal_raw, goal_naive = GOALS["cuda" if device.type == "cuda" else "cpu"]
    print(f"engine/raw   {ratios['engine/raw']:.2f}  (goal >= {goal_raw})")
    naive_goal = f"goal >= {goal_naive}" if goal_naive else "no goal on a CPU"
    print(f"engine/naive {ratios['engine/naive']:.2f}  ({naive_goal})")
    print(f"decisions: engine and the fp32 naive loop agree on {100 * agree:.3f}% of voxels")
    return {"seconds": best, "slices_per_s": rate, "ratios": ratios, "agreement": agree,
            "device": str(device)}


if __name__ == "__main__":
    main()
