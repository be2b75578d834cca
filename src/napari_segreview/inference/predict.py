"""Batched, tiled inference: image in, per-head decisions (and probabilities) out.

How :func:`predict` runs a model:

* A card with ``spatial_dims: 2`` runs slice by slice through a ``(Z, Y, X)``
  stack; ``spatial_dims: 3`` runs on 3-D tiles of the volume.
* Slices (volumes) larger than ``card.input.tile`` are cut into tiles that
  overlap by ``card.input.overlap``; axes shorter than the tile are padded up to
  it (mirrored by default, ``pad_mode``) and cropped back afterwards.
* A ``torch.export`` program exported at a fixed size runs at that size: its
  sizes are the tile and its batch the batch size (:mod:`~.exported`), or a
  card that contradicts them is one sentence naming the field to change.
* Each batch is normalised on the host in float32 (statistics-based
  normalisations, ``zscore`` and ``percentile``, are computed once over the
  whole image first so that tiles agree), copied through pinned memory with
  ``non_blocking`` on CUDA, and run under ``torch.inference_mode()`` with
  autocast (bf16 where supported, else fp16) on CUDA only, unless ``amp=False``.
* Overlapping tiles are blended with Gaussian weights into a float32 buffer on
  the device (:mod:`napari_segreview.inference.tiling`). **Logits are blended**, not
  probabilities: decisions are defined on logits (``logit > 0``, argmax) and
  :mod:`~napari_segreview.inference.heads` turns logits into both, so a blended slice
  goes through exactly the code an untiled one does; nnU-Net v2 blends logits
  too. Where tiles agree (the interior, for a translation-equivariant model) the
  two choices give the same result.
* Activation, decision and quantisation run on the device; only compact
  results come back (uint8 decisions, float16 or uint8 probabilities when
  asked), once per finished slice group. No float32 logits of the volume are
  kept on the host.
* A CUDA out-of-memory error halves the batch and retries the same batch, down
  to one tile, then moves the model to the CPU for the rest (with a warning).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from napari_segreview._util.arrays import first_line
from napari_segreview.card.intensity import normalize
from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import Cancelled, ModelLoadError
from napari_segreview.inference import heads as _heads
from napari_segreview.inference.blending import Accumulator, gaussian_weights
from napari_segreview.inference.exported import input_shape, program_plan
from napari_segreview.inference.heads import HeadOutput
from napari_segreview.inference.models import select_device, select_output, to_eval
from napari_segreview.inference.tiling import pad_to, tile_grid
from napari_segreview.inference.uncertainty import Uncertainty, UncertaintyAccumulator

__all__ = ["Cancelled", "OutOfMemoryError", "Prediction", "predict"]

#: What :func:`predict` raises when even one tile per batch does not fit in the
#: device's memory: torch's own class, named here for callers that do not import torch.
OutOfMemoryError = torch.cuda.OutOfMemoryError

#: Normalisations that act voxel by voxel, so they can run batch by batch.
POINTWISE = ("window", "mean_std", "none")

#: Voxels per channel finished at once for a 3-D result (bounds device temporaries).
FINISH_VOXELS = 1 << 24


@dataclass
class Prediction:
    """Result of :func:`predict`.

    Attributes
    ----------
    card : ModelCard
    heads : dict of str to HeadOutput
        Per head: ``decision`` (softmax: label map ``([Z,] Y, X)`` uint8;
        sigmoid: multi-hot ``(C, [Z,] Y, X)`` uint8) and ``probabilities``
        ``(C, [Z,] Y, X)`` float16 / uint8 (0..255) or None.
    device : str
        The device the last batch ran on (``"cpu"`` after a fallback).
    warnings : list of str
        Sentences for the user (suspicious outputs, CPU fallback).
    logits_shape : tuple
        ``(n_outputs, [Z,] Y, X)``: the shape of the model's output for the image.
    """

    card: ModelCard
    heads: dict[str, HeadOutput]
    device: str
    warnings: list[str] = field(default_factory=list)
    logits_shape: tuple = ()
    #: With ``uncertainty=True``: the entropy scores (:mod:`~.uncertainty`), else None.
    uncertainty: Uncertainty | None = None


def _is_cancelled(cancel: Any) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):  # threading.Event and the like
        return bool(cancel.is_set())
    return bool(cancel())


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _can_fall_back(device: torch.device) -> bool:
    """Whether an out-of-memory error on ``device`` can move to the CPU (tests patch this)."""
    return device.type != "cpu"


def _autocast(device: torch.device, amp: bool):
    if not amp or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _layout(image: Any, card: ModelCard) -> tuple[np.ndarray, bool]:
    """Image as ``(Z, Y, X, C)`` (a view when possible) and whether Z was added."""
    arr = np.asarray(image)
    ch, sd = card.input.channels, card.input.spatial_dims
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ModelLoadError(f"the image must hold numbers, not {arr.dtype}.")
    if ch > 1:
        if arr.ndim not in (3, 4) or arr.shape[-1] != ch:
            raise ModelLoadError(
                f"the card's model takes {ch} input channels, so the image must be shaped "
                f"([Z,] Y, X, {ch}) with channels last, but it is {arr.shape}."
            )
    elif arr.ndim not in (2, 3):
        raise ModelLoadError(
            f"a single-channel image must be shaped (Y, X) or (Z, Y, X), not {arr.shape}."
        )
    flat = arr.ndim - (ch > 1) == 2
    if flat and sd == 3:
        raise ModelLoadError(
            f"the card describes a 3-D model, which needs a (Z, Y, X) volume, but the image "
            f"is {arr.shape}: use a 2-D card or load the whole stack."
        )
    if ch == 1:
        arr = arr[..., None]
    return (arr[None] if flat else arr), flat


class _Runner:
    """State of one prediction: open accumulators, finished units, host outputs."""

    def __init__(self, data, card, device, amp, probabilities, normalized, pad_mode,
                 program=None):
        self.data, self.card, self.device, self.amp = data, card, device, amp
        self.normalized, self.pad_mode, self.probabilities = normalized, pad_mode, probabilities
        sd = card.input.spatial_dims
        z, *yx, _ = data.shape
        self.units = list(range(z)) if sd == 2 else [0]
        self.shape = tuple(yx) if sd == 2 else (z, *yx)
        tile, self.batch = program_plan(program, card, self.shape)  # a .pt2's fixed sizes
        self.tile = tuple(int(t) for t in (tile or self.shape))
        self.eff = tuple(min(t, n) for t, n in zip(self.tile, self.shape, strict=True))
        self.grid = tile_grid(self.shape, self.eff, card.input.overlap)
        self.weights = gaussian_weights(self.eff)
        self.items = [(u, s) for u in self.units for s in self.grid]
        self.accs: dict[int, Accumulator] = {}
        self.added: set[int] = set()
        self.ready: dict[int, torch.Tensor] = {}
        k = card.n_outputs
        n_dec = sum(1 if h.kind == "softmax" else len(h.channels) for h in card.heads)
        big = any(h.kind == "softmax" and len(h.channels) > 256 for h in card.heads)
        self.decisions = np.zeros((n_dec, z, *yx), np.uint16 if big else np.uint8)
        self.probs = (
            np.zeros((k, z, *yx), np.dtype(probabilities)) if probabilities else None
        )
        self.warnings: list[str] = []
        self.checked = False
        self.entropy: UncertaintyAccumulator | None = None  # set by predict(uncertainty=True)

    def _host_batch(self, batch: list[int]) -> torch.Tensor:
        """Gather, normalise and pad the tiles of ``batch`` into one host tensor."""
        sd = self.card.input.spatial_dims
        c = self.data.shape[-1]
        rows = max(len(batch), self.batch or 0)  # a fixed-batch program gets zeros after
        raw = np.zeros((rows, c, *self.eff), np.float32)
        for i, idx in enumerate(batch):
            u, where = self.items[idx]
            src = self.data[(u, *where)] if sd == 2 else self.data[where]
            raw[i] = np.moveaxis(src, -1, 0)
        if not self.normalized:
            raw = normalize(raw, self.card.input.normalize, channel_axis=1 if c > 1 else None)
        raw, _ = pad_to(raw, self.tile, self.pad_mode)
        if self.device.type != "cuda":
            return torch.from_numpy(np.ascontiguousarray(raw))
        host = torch.empty(raw.shape, dtype=torch.float32, pin_memory=True)
        host.numpy()[...] = raw
        return host

    def _forward(self, model, host: torch.Tensor) -> torch.Tensor:
        x = host.to(self.device, non_blocking=True)
        try:
            with _autocast(self.device, self.amp):
                raw = model(x)
        except (AssertionError, RuntimeError) as exc:
            if "Guard failed" not in str(exc) and "Expected input at" not in str(exc):
                raise
            raise ModelLoadError(
                f"the torch.export program refused an input of {' x '.join(map(str, x.shape))} ("
                f"{first_line(exc)}): set the card's input.tile and the batch size to the "
                "sizes it was exported for, or export it with dynamic sizes (torch.export.Dim)."
            ) from exc
        out = select_output(raw, self.card.input)
        expected = (host.shape[0], *self.tile)
        got = (out.shape[0], *out.shape[2:]) if out.ndim == host.ndim else tuple(out.shape)
        if out.ndim != host.ndim or got != expected:
            raise ModelLoadError(
                f"the model returned shape {tuple(out.shape)} for an input of "
                f"{tuple(host.shape)}: it must return (N, channels, *spatial) at the input's "
                "size; upsample inside the model or pick another output."
            )
        out = out.float()
        if not self.checked:
            self.warnings.extend(_heads.check_outputs(out, self.card))
            self.checked = True
        crop = tuple(slice(b, b + n) for b, n in zip(self._pad_before(), self.eff, strict=True))
        return out[(slice(None), slice(None), *crop)]

    def _pad_before(self) -> list[int]:
        return [(t - e) // 2 for t, e in zip(self.tile, self.eff, strict=True)]

    def run_batch(self, model, batch: list[int]) -> None:
        """Forward ``batch``, blend, finish complete units. Safe to retry after OOM."""
        out = self._forward(model, self._host_batch(batch))
        single = len(self.grid) == 1
        for i, idx in enumerate(batch):
            u, where = self.items[idx]
            if single:
                self.ready[u] = out[i]
                continue
            if idx in self.added:
                continue
            acc = self.accs.get(u)
            if acc is None:
                acc = Accumulator(
                    out.shape[1], self.shape, self.eff, self.device, weights=self.weights
                )
                self.accs[u] = acc
            acc.add(out[i], where)
            self.added.add(idx)
            if acc.count == len(self.grid):
                self.ready[u] = acc.result()
                del self.accs[u]
        self._finish()

    def _finish(self) -> None:
        if not self.ready:
            return
        if self.card.input.spatial_dims == 3:
            vol = self.ready[0]  # (K, Z, Y, X): finish as a batch of Z slices
            step = max(1, FINISH_VOXELS // max(1, vol[0, 0].numel()))
            for z0 in range(0, vol.shape[1], step):
                self._write(vol[:, z0 : z0 + step].transpose(0, 1), z0)
        else:
            units = sorted(self.ready)
            start = 0
            while start < len(units):  # runs of consecutive slices
                stop = start + 1
                while stop < len(units) and units[stop] == units[stop - 1] + 1:
                    stop += 1
                run = units[start:stop]
                self._write(torch.stack([self.ready[u] for u in run]), run[0])
                start = stop
        self.ready.clear()

    def _write(self, logits: torch.Tensor, z0: int) -> None:
        """Decide (and activate) ``(n, K, Y, X)`` logits on the device; copy back once."""
        n = logits.shape[0]
        decided = _heads.decide(logits, self.card)
        parts = [decided[h.name] for h in self.card.heads]
        parts = [p.unsqueeze(1) if p.ndim == logits.ndim - 1 else p for p in parts]
        wide = torch.uint8 if self.decisions.dtype == np.uint8 else torch.int32
        packed = torch.cat([p.to(wide) for p in parts], 1).transpose(0, 1)
        self.decisions[:, z0 : z0 + n] = packed.cpu().numpy()
        if self.entropy is not None:
            self.entropy.add(logits)
        if self.probs is not None:
            p = _heads.activate(logits, self.card).transpose(0, 1)
            self.probs[:, z0 : z0 + n] = _heads.probabilities_to_numpy(p, self.probabilities)

    def to_cpu(self, model) -> Any:
        """Move the model and every device buffer to the CPU (after an OOM)."""
        self.device = torch.device("cpu")
        if isinstance(model, torch.nn.Module):
            model = model.to(self.device)
        for acc in self.accs.values():
            acc.to(self.device)
        self.ready = {u: t.cpu() for u, t in self.ready.items()}
        return model

    def head_outputs(self, flat: bool) -> dict[str, HeadOutput]:
        out, d = {}, 0
        for h in self.card.heads:
            if h.kind == "softmax":
                dec, d = self.decisions[d], d + 1
            else:
                dec, d = self.decisions[d : d + len(h.channels)], d + len(h.channels)
                dec = dec.astype(np.uint8, copy=False)
            prob = None if self.probs is None else self.probs[h.start : h.stop]
            if flat:
                dec = dec[..., 0, :, :]
                prob = None if prob is None else prob[:, 0]
            out[h.name] = HeadOutput(head=h, decision=dec, probabilities=prob)
        return out


def predict(
    image: np.ndarray,
    model: Callable[[torch.Tensor], Any],
    card: ModelCard,
    *,
    device: str | torch.device = "auto",
    batch_size: int = 8,
    amp: bool = True,
    probabilities: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | threading.Event | None = None,
    pad_mode: str = "reflect",
    uncertainty: bool = False,
) -> Prediction:
    """Run ``model`` over ``image`` as ``card`` describes; return per-head results.

    Parameters
    ----------
    image : ndarray
        Raw values (the card normalises). ``input.channels == 1``:
        ``([Z,] Y, X)``; ``> 1``: ``([Z,] Y, X, C)`` channels last. A 2-D image
        is a stack of one slice, and its outputs have no Z axis.
    model : torch.nn.Module or callable
        Maps ``(N, C, *tile)`` float32 to logits ``(N, n_outputs, *tile)``
        (or a tuple/dict holding them, see :func:`~.models.select_output`).
        A module is moved to ``device`` and put in eval mode.
    card : ModelCard
    device : str or torch.device
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cuda"``, ``"cpu"``...
    batch_size : int
        Slices (2-D cards) or tiles per forward pass. A ``torch.export``
        program exported with a fixed batch size runs with that one.
    amp : bool
        Autocast (bf16, else fp16) on CUDA; ignored elsewhere.
    probabilities : {None, "float16", "uint8"}
        Also return probabilities, as float16 or as uint8 (``round(p * 255)``).
    progress : callable, optional
        ``progress(done, total)`` after each batch: finished slices of all
        slices for a 2-D card, tiles of all tiles for a 3-D card
        (:func:`~napari_segreview.inference.words.progress_unit` names the unit).
    cancel : callable or threading.Event, optional
        Checked before each batch; when true (set), :class:`Cancelled` is raised.
    pad_mode : {"reflect", "constant", "edge"}
        How axes shorter than the card's tile are padded (``"constant"`` pads
        the normalised image with 0); the padding is cropped off the result.
    uncertainty : bool
        Also score the model's uncertainty (entropy of its probabilities, on
        the device, see :mod:`~napari_segreview.inference.uncertainty`) into
        ``Prediction.uncertainty``; no probabilities are kept for it.

    Returns
    -------
    Prediction

    Raises
    ------
    CardError
        The model's channel count differs from the card's.
    ModelLoadError
        Image layout, model output or device problems.
    Cancelled
        ``cancel`` fired.

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> card = ModelCard.from_dict({"name": "demo", "heads": [
    ...     {"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]})
    >>> model = lambda x: x - 0.5          # logit > 0 where the image is above 0.5
    >>> result = predict(np.array([[0.0, 1.0], [1.0, 0.2]]), model, card, device="cpu")
    >>> result.heads["fg"].decision
    array([[[0, 1],
            [1, 0]]], dtype=uint8)
    """
    if probabilities not in (None, "float16", "uint8"):
        raise ModelLoadError(
            f"probabilities must be None, 'float16' or 'uint8', not {probabilities!r}."
        )
    if batch_size < 1:
        raise ModelLoadError(f"batch_size must be at least 1, not {batch_size}.")
    data, flat = _layout(image, card)
    dev = select_device(device)
    normalized = card.input.normalize.kind not in POINTWISE
    if normalized:  # statistics over the whole image, not per tile
        c = data.shape[-1]
        data = normalize(data, card.input.normalize, channel_axis=-1 if c > 1 else None)
    model = to_eval(model, dev)
    runner = _Runner(data, card, dev, amp, probabilities, normalized, pad_mode,
                     program=input_shape(model))
    if uncertainty:
        runner.entropy = UncertaintyAccumulator(card)
    total, i, bs = len(runner.items), 0, runner.batch or batch_size
    per_slice = len(runner.grid) if card.input.spatial_dims == 2 else None
    with torch.inference_mode():
        while i < total:
            if _is_cancelled(cancel):
                raise Cancelled("the prediction was cancelled.")
            batch = list(range(i, min(i + bs, total)))
            try:
                runner.run_batch(model, batch)
                oom = False
            except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
                if not _is_oom(exc):
                    raise
                oom = True  # handled below, once the traceback's tensors are released
            if oom:
                if runner.device.type == "cuda":
                    torch.cuda.empty_cache()
                if bs > 1 and runner.batch is None:
                    bs = max(1, bs // 2)
                    continue
                if not _can_fall_back(runner.device):
                    raise torch.cuda.OutOfMemoryError(
                        f"out of memory on {runner.device} even with one tile per batch."
                    )
                runner.warnings.append(
                    f"the GPU ran out of memory even with one tile per batch, so tiles "
                    f"{i + 1} to {total} ran on the CPU (slower): free GPU memory or use a "
                    "smaller tile."
                )
                model = runner.to_cpu(model)
                bs = runner.batch or batch_size
                continue
            i = batch[-1] + 1
            if progress is not None:  # finished slices of a 2-D card, tiles of a 3-D one
                progress(*((i // per_slice, len(runner.units)) if per_slice else (i, total)))
    z, *yx, _ = data.shape
    spatial = tuple(yx) if flat else (z, *yx)
    return Prediction(
        card=card,
        heads=runner.head_outputs(flat),
        device=str(runner.device),
        warnings=runner.warnings,
        logits_shape=(card.n_outputs, *spatial),
        uncertainty=None if runner.entropy is None else runner.entropy.result(),
    )
