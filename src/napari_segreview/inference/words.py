"""What the front ends say about a run of a model, without importing torch.

``segreview predict`` and the Predict panel both call these, so a model that
fails is reported the same way in both: :func:`model_failure` builds the
sentence, :func:`cause_line` finds the line of an error that states its cause
(the last line of a TorchScript interpreter's traceback, not its first), and
:func:`progress_unit` names what :func:`~napari_segreview.inference.predict.predict`
counts in its progress.
"""

from __future__ import annotations

import re
from typing import Any

from napari_segreview._util.arrays import clip

__all__ = ["cause_line", "model_failure", "progress_unit"]

#: First lines that say only where an error happened; its cause is further down.
_HEADERS = ("The following operation failed in the TorchScript interpreter",
            "Traceback of TorchScript")
_EXC_PREFIX = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception)):\s*")


def cause_line(exc: BaseException, limit: int = 160) -> str:
    r"""The line of an exception's message that states its cause, at most ``limit`` characters.

    That is the first line, except for an error raised inside TorchScript,
    whose message starts with where it happened and ends with the original
    error (``RuntimeError: Given groups=1, ...``): then the last line that is
    not part of a traceback, without its exception name.

    Examples
    --------
    >>> cause_line(RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB"))
    'CUDA out of memory.'
    >>> cause_line(RuntimeError(
    ...     "The following operation failed in the TorchScript interpreter.\n"
    ...     "Traceback of TorchScript (most recent call last):\n"
    ...     "  File \"code/__torch__.py\", line 10, in forward\n"
    ...     "    return torch.conv2d(x, w)\n"
    ...     "RuntimeError: expected input to have 3 channels, but got 1 channels instead\n"))
    'expected input to have 3 channels, but got 1 channels instead'
    >>> cause_line(ValueError())
    'ValueError'
    """
    lines = [line.rstrip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = lines[0]
    if text.startswith(_HEADERS):
        cause = [line for line in lines[1:] if not line.startswith((" ", "\t"))
                 and not line.startswith(_HEADERS)]
        if cause:
            text = _EXC_PREFIX.sub("", cause[-1])
    return clip(text, limit)


def model_failure(exc: BaseException, image_name: str, card_name: str) -> str:
    """One sentence for an error the model raised on an image: its cause and what to check.

    Examples
    --------
    >>> model_failure(RuntimeError("shapes cannot be multiplied"), "ct.tif", "bone.card.yaml")
    "the model failed on 'ct.tif' (shapes cannot be multiplied); check that the card \
bone.card.yaml describes this model's input (channels, spatial_dims, tile)."
    """
    return (f"the model failed on {image_name!r} ({cause_line(exc)}); check that the card "
            f"{card_name} describes this model's input (channels, spatial_dims, tile).")


def progress_unit(card: Any) -> str:
    """What ``predict``'s ``progress(done, total)`` counts for ``card``: slices or tiles.

    A 2-D card runs slice by slice, so its progress counts finished slices; a
    3-D card runs on tiles of one volume, so its progress counts tiles.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> progress_unit(SimpleNamespace(input=SimpleNamespace(spatial_dims=2)))
    'slices'
    >>> progress_unit(SimpleNamespace(input=SimpleNamespace(spatial_dims=3)))
    'tiles'
    """
    return "slices" if card.input.spatial_dims == 2 else "tiles"
