"""Logits to probabilities and decisions, head by head, on the model's device.

Everything here takes torch tensors shaped ``(N, C, [Z,] Y, X)`` (``C`` the
card's ``n_outputs``) and keeps the work on their device: activations in
float32 even for bf16/fp16 logits, decisions as uint8, quantisation before the
one copy back to the host.

Decisions:

* ``sigmoid`` head: each channel on its own, ``logit > 0`` (the same as
  ``sigmoid(logit) > 0.5``), a multi-hot stack ``(N, C_head, ...)``.
* ``softmax`` head: ``argmax`` over the head's channels, a label map
  ``(N, ...)`` (channel 0 is usually background).
* ``within``: a head's decision is set to 0 wherever its parent (a one-channel
  sigmoid head) decided 0.

Examples
--------
>>> from napari_segreview.card.spec import ModelCard
>>> card = ModelCard.from_dict({"heads": [
...     {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
...     {"name": "parts", "kind": "softmax", "within": "whole",
...      "channels": ["background", "a", "b"]}]})
>>> logits = torch.tensor([[[[2.0, -1.0]], [[0.0, 0.0]], [[1.0, 5.0]], [[3.0, 0.0]]]])
>>> d = decide(logits, card)
>>> d["whole"][0, 0].tolist(), d["parts"][0].tolist()
([[1, 0]], [[2, 0]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from napari_segreview.card.spec import HeadSpec, ModelCard
from napari_segreview.errors import CardError, FormatError

__all__ = ["HeadOutput", "activate", "check_outputs", "decide", "head_outputs",
           "probabilities_to_numpy"]


@dataclass
class HeadOutput:
    """One head's result for an image, on the host.

    Attributes
    ----------
    head : HeadSpec
    decision : np.ndarray
        softmax: label map ``([Z,] Y, X)`` uint8 (class index within the head);
        sigmoid: multi-hot ``(C, [Z,] Y, X)`` uint8.
    probabilities : np.ndarray or None
        ``(C, [Z,] Y, X)`` float16, or uint8 with 255 meaning 1.0.
    """

    head: HeadSpec
    decision: np.ndarray
    probabilities: np.ndarray | None = None


def _count_error(n: int, card: ModelCard) -> CardError:
    hint = ""
    kinds = [(h.kind, len(h.channels)) for h in card.heads]
    if n == 1 and kinds == [("softmax", 2)]:
        hint = " (a one-logit binary model needs one sigmoid head with one channel)"
    elif n == 2 and kinds == [("sigmoid", 1)]:
        hint = " (a two-logit binary model needs one softmax head [background, foreground])"
    return CardError(
        f"the model returns {n} channels but the card describes {card.n_outputs} "
        f"({', '.join(card.channel_names)}): change the card's heads so that their channels "
        f"add up to {n}{hint}, or check input.output_key and input.output_index.")


def _check_shape(logits: torch.Tensor, card: ModelCard) -> None:
    if logits.ndim < 3:
        raise CardError(f"the model output has shape {tuple(logits.shape)} but (N, C, [Z,] Y, X) "
                        "logits were expected: return a batch with a channel axis.")
    if logits.shape[1] != card.n_outputs:
        raise _count_error(int(logits.shape[1]), card)


def activate(logits: torch.Tensor, card: ModelCard, *,
             dtype: torch.dtype | None = None) -> torch.Tensor:
    """Probabilities per head: sigmoid or softmax over each head's channel slice.

    Parameters
    ----------
    logits : tensor (N, C, [Z,] Y, X)
    card : ModelCard
    dtype : torch dtype, optional
        Output dtype; the logits' dtype by default. The math is float32.

    Returns
    -------
    tensor (N, C, [Z,] Y, X) on the logits' device.
    """
    _check_shape(logits, card)
    out = torch.empty(logits.shape, dtype=dtype or logits.dtype, device=logits.device)
    for h in card.heads:
        x = logits[:, h.start:h.stop].float()
        out[:, h.start:h.stop] = torch.sigmoid(x) if h.kind == "sigmoid" else x.softmax(dim=1)
    return out


def _label_dtype(n_classes: int) -> torch.dtype:
    return torch.uint8 if n_classes <= 256 else torch.int32


def decide(logits: torch.Tensor, card: ModelCard) -> dict[str, torch.Tensor]:
    """Decisions per head, on the logits' device.

    Returns
    -------
    dict head name -> tensor
        softmax: ``argmax`` over the head's channels, ``(N, [Z,] Y, X)`` uint8
        (int32 above 256 classes); sigmoid: ``logits > 0``,
        ``(N, C_head, [Z,] Y, X)`` uint8. With ``within``, zero wherever the
        parent head decided 0.

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> card = ModelCard.from_dict({"heads": [
    ...     {"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]})
    >>> decide(torch.tensor([[[[-0.3, 0.0, 2.5]]]]), card)["fg"].tolist()
    [[[[0, 0, 1]]]]
    """
    _check_shape(logits, card)
    raw: dict[str, torch.Tensor] = {}
    for h in card.heads:
        x = logits[:, h.start:h.stop]
        if h.kind == "softmax":
            raw[h.name] = x.argmax(dim=1).to(_label_dtype(len(h.channels)))
        else:
            raw[h.name] = (x > 0).to(torch.uint8)
    done: dict[str, torch.Tensor] = {}

    def final(h: HeadSpec) -> torch.Tensor:
        if h.name not in done:
            d = raw[h.name]
            if h.within is not None:
                parent = final(card.head(h.within))          # (N, 1, ...)
                d = d * (parent[:, 0] if h.kind == "softmax" else parent)
            done[h.name] = d
        return done[h.name]

    return {h.name: final(h) for h in card.heads}


def check_outputs(logits: torch.Tensor, card: ModelCard) -> list[str]:
    """Check model outputs against the card; raise on a wrong channel count.

    Raises
    ------
    CardError
        If the number of output channels differs from ``card.n_outputs``.

    Returns
    -------
    list of str
        Warning sentences: NaN/inf values, a head whose values all lie in
        [0, 1] (probabilities where the card promises logits: sigmoid applied
        twice), a softmax head whose channels already sum to 1.

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> card = ModelCard.from_dict({"heads": [
    ...     {"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]})
    >>> check_outputs(torch.tensor([[[[-3.0, 4.0]]]]), card)
    []
    >>> len(check_outputs(torch.sigmoid(torch.tensor([[[[-3.0, 4.0]]]])), card))
    1
    """
    _check_shape(logits, card)
    warnings: list[str] = []
    if logits.numel() == 0:
        return warnings
    if not logits.is_floating_point():
        return [f"the model returns {logits.dtype} values, not floating-point logits: the "
                "card's heads expect raw logits, so return the last layer's output."]
    bad = int((~torch.isfinite(logits)).sum())
    if bad:
        warnings.append(f"{bad} output values are NaN or infinite: check the input "
                        "normalisation (input.normalize) and try without mixed precision.")
    tol = 1e-3 if logits.dtype in (torch.float32, torch.float64) else 2e-2
    for h in card.heads:
        x = logits[:, h.start:h.stop]
        lo, hi = x.amin(), x.amax()
        if not bool((lo >= 0) & (hi <= 1)):
            continue
        if h.kind == "softmax" and float((x.float().sum(dim=1) - 1).abs().amax()) < tol:
            warnings.append(
                f"head {h.name!r} already sums to 1 over its channels {list(h.channels)}, so "
                "the model applies softmax itself and it is applied twice here (argmax is "
                "unaffected, the probabilities shown are flattened): remove the softmax from "
                "the model's forward (CrossEntropyLoss takes logits).")
        elif h.kind == "sigmoid":
            warnings.append(
                f"head {h.name!r} outputs only values in [0, 1], which look like probabilities "
                "although the card promises logits, and with logit > 0 nearly every voxel "
                "becomes foreground: remove the final sigmoid from the model "
                "(BCEWithLogitsLoss applies it) so that sigmoid is not applied twice.")
        else:
            warnings.append(
                f"head {h.name!r} outputs only values in [0, 1], which look like probabilities "
                "although the card promises logits: remove the final activation from the "
                "model (CrossEntropyLoss takes logits).")
    return warnings


def probabilities_to_numpy(p: torch.Tensor, dtype: str) -> np.ndarray:
    """Quantise probabilities on their device, then copy them to the host once.

    Parameters
    ----------
    p : tensor of probabilities in [0, 1], any float dtype and device
    dtype : {"float16", "uint8", "float32"}
        ``uint8`` stores ``round(p * 255)``.

    Examples
    --------
    >>> probabilities_to_numpy(torch.tensor([0.0, 0.5, 1.0]), "uint8")
    array([  0, 128, 255], dtype=uint8)
    """
    name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    if name == "float16":
        q = p.to(torch.float16)
    elif name == "uint8":
        q = (p.float() * 255).round_().clamp_(0, 255).to(torch.uint8)
    elif name == "float32":
        q = p.float()
    else:
        raise FormatError(f"probabilities are stored as 'float16' or 'uint8', not {dtype!r}.")
    return q.cpu().numpy()


def head_outputs(logits: torch.Tensor, card: ModelCard, *, probabilities: str | None = None,
                 squeeze_batch: bool = False) -> dict[str, HeadOutput]:
    """Decide (and optionally activate) every head and bring the results to the host.

    The batch axis ``N`` of ``(N, C, *S)`` logits becomes the first spatial axis
    (the slices of a 2-D card's stack): softmax decisions ``(N, *S)``, sigmoid
    decisions and probabilities ``(C, N, *S)``. With ``squeeze_batch=True``
    (``N`` must be 1: a single image or 3-D volume) that axis is dropped.

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> card = ModelCard.from_dict({"heads": [
    ...     {"name": "cls", "kind": "softmax", "channels": ["bg", "a", "b"]}]})
    >>> out = head_outputs(torch.tensor([[[[0.0]], [[1.0]], [[9.0]]]]), card,
    ...                    squeeze_batch=True)
    >>> out["cls"].decision
    array([[2]], dtype=uint8)
    """
    if squeeze_batch and logits.ndim >= 1 and logits.shape[0] != 1:
        raise FormatError(f"squeeze_batch needs a batch of one, not {logits.shape[0]}.")
    decisions = decide(logits, card)
    probs = activate(logits, card, dtype=torch.float32) if probabilities else None
    out = {}
    for h in card.heads:
        d = decisions[h.name]
        d = d[0] if squeeze_batch else d
        if h.kind == "sigmoid":
            d = d if squeeze_batch else d.movedim(1, 0).contiguous()
        p = None
        if probs is not None:
            ph = probs[:, h.start:h.stop]
            ph = ph[0] if squeeze_batch else ph.movedim(1, 0).contiguous()
            p = probabilities_to_numpy(ph, probabilities)
        out[h.name] = HeadOutput(h, d.cpu().numpy(), p)
    return out
