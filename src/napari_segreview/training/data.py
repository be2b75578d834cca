"""Training data from an export: cases as the model sees them, checked against the card, split.

An export (``segreview export`` or the Export panel) holds, per case, the
image (raw or normalised) and one target per head. :func:`load_cases` reads
it through :func:`napari_segreview.targets.export.read_export` (checksums
verified), checks that every head of the card has a target of the same kind
and channels and the image's shape, and brings each case to one layout:
image ``(C, Z, Y, X)`` float32 normalised as the card says, a sigmoid target
``(C_head, Z, Y, X)`` uint8, a softmax target ``(Z, Y, X)`` uint8 with 255 for
*ignore*. A 2-D image is a stack of one slice.

:func:`split_cases` splits **by case**: held-out cases are never trained on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview.card.intensity import normalize
from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import FormatError
from napari_segreview.targets.classstats import statistics_from_counts
from napari_segreview.targets.export import find_export_root, read_export, read_statistics

__all__ = ["CaseData", "held_out_default", "load_cases", "plain_card", "split_cases",
           "train_statistics"]


@dataclass
class CaseData:
    """One case, ready for sampling and evaluation.

    Attributes
    ----------
    name : str
    image : ndarray (C, Z, Y, X) float32, normalised as the card says.
    targets : dict head name -> ndarray
        sigmoid ``(C_head, Z, Y, X)`` uint8; softmax ``(Z, Y, X)`` uint8, 255 = ignore.
    flat : bool
        The exported image was 2-D (one slice).
    counts : dict
        The manifest's voxel counts per head (for the statistics).
    """

    name: str
    image: np.ndarray
    targets: dict[str, np.ndarray]
    flat: bool = False
    counts: dict[str, Any] = field(default_factory=dict)

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        """``(Z, Y, X)``."""
        return tuple(self.image.shape[1:])


def plain_card(card: ModelCard) -> ModelCard:
    """``card`` with ``normalize: none``: for images that are normalised already.

    Examples
    --------
    >>> card = ModelCard.from_dict({"input": {"normalize": {"kind": "zscore"}}, "heads": [
    ...     {"name": "a", "kind": "sigmoid", "channels": ["a"]}]})
    >>> plain_card(card).input.normalize.kind
    'none'
    """
    d = card.to_dict()
    d["input"] = {**d["input"], "normalize": {"kind": "none"}}
    return ModelCard.from_dict(d)


def _check_heads(card: ModelCard, case: Any) -> None:
    have = {t.head: t for t in case.targets}
    for h in card.heads:
        t = have.get(h.name)
        if t is None:
            raise FormatError(
                f"the export has no target for the card's head {h.name!r} (case {case.name!r} "
                f"has {', '.join(have) or 'none'}): export the cases with this model's card, or "
                "give the card the export was made with.")
        if t.kind != h.kind or tuple(t.channels) != tuple(h.channels):
            raise FormatError(
                f"the export's target {h.name!r} is a {t.kind} head with channels "
                f"{', '.join(t.channels)}, but the card's is a {h.kind} head with "
                f"{', '.join(h.channels)}: export again with this model's card.")


def _case_data(case: Any, card: ModelCard) -> CaseData:
    _check_heads(card, case)
    image = np.asarray(case.image)
    channels = card.input.channels
    if channels > 1:
        if image.ndim < 3 or image.shape[-1] != channels:
            raise FormatError(f"case {case.name!r}: the image has shape {image.shape} but the "
                              f"card takes {channels} channels on the last axis; export the "
                              "image with its channels.")
        spatial = image.shape[:-1]
    else:
        spatial = image.shape
    if len(spatial) not in (2, 3):
        raise FormatError(f"case {case.name!r}: the image has shape {image.shape}; a 2-D slice "
                          "or a 3-D stack was expected.")
    if card.input.spatial_dims == 3 and len(spatial) != 3:
        raise FormatError(f"case {case.name!r}: the card is volumetric (spatial_dims 3) but the "
                          "image is a single slice; export 3-D stacks.")
    mode = case.manifest.get("image", {}).get("mode", "raw")
    x = np.asarray(image, np.float32) if mode == "normalized" else normalize(
        image, card.input.normalize, channel_axis=-1 if channels > 1 else None)
    x = np.moveaxis(x, -1, 0) if channels > 1 else x[None]
    flat = len(spatial) == 2
    if flat:
        x = x[:, None]
    targets = {}
    for t in case.targets:
        if t.head not in {h.name for h in card.heads}:
            continue
        if tuple(t.spatial_shape) != tuple(spatial):
            raise FormatError(f"case {case.name!r}: the target of head {t.head!r} has shape "
                              f"{tuple(t.spatial_shape)} but its image {tuple(spatial)}; export "
                              "that case again.")
        data = np.asarray(t.data, np.uint8)
        if flat:
            data = data[:, None] if t.kind == "sigmoid" else data[None]
        targets[t.head] = np.ascontiguousarray(data)
    return CaseData(case.name, np.ascontiguousarray(x, np.float32), targets, flat,
                    dict(case.manifest.get("counts") or {}))


def load_cases(export: str | os.PathLike,
               card: ModelCard | None = None) -> tuple[ModelCard, list[CaseData]]:
    """Read every complete case of an export, checked against ``card``, in name order.

    Parameters
    ----------
    export : path
        The export folder (or one case folder or manifest of it).
    card : ModelCard, optional
        The model's card; None: the card the export was made with.

    Returns
    -------
    card : ModelCard
    cases : list of CaseData

    Raises
    ------
    FormatError
        Not an export, an empty export, a damaged file, a head of the card
        missing from the targets, or a target whose shape differs from its image.
    """
    cases = read_export(export)
    if not cases:
        raise FormatError(f"the export {export} has no complete case; export at least one "
                          "corrected case first.")
    cases = sorted(cases, key=lambda c: c.name)
    if card is None:
        card = ModelCard.from_dict(cases[0].manifest["card"])
    return card, [_case_data(c, card) for c in cases]


def held_out_default(names: list[str]) -> list[str]:
    """About a fifth of the cases (at least one), spread over the name order, the last first.

    Examples
    --------
    >>> held_out_default(["a", "b", "c"])
    ['c']
    >>> held_out_default([f"c{i}" for i in range(10)])
    ['c9', 'c4']
    """
    names = sorted(names)
    k = max(1, round(len(names) / 5))
    step = len(names) / k
    return [names[len(names) - 1 - int(i * step)] for i in range(k)]


def split_cases(cases: list[CaseData], held_out: list[str] | None, *,
                compare: bool = True) -> tuple[list[CaseData], list[CaseData]]:
    """Training and held-out cases (split by case; held-out ones are never trained on).

    Parameters
    ----------
    cases : list of CaseData
    held_out : list of str or None
        Case names to hold out; None: :func:`held_out_default`.
    compare : bool
        False (``--no-held-out``): train on every case, without a comparison.

    Raises
    ------
    FormatError
        A single case with a comparison asked for, an unknown name, no case left to
        train on, or held-out names with ``compare=False``.

    Examples
    --------
    >>> cases = [CaseData(n, np.zeros((1, 1, 2, 2), np.float32), {}) for n in "abc"]
    >>> train, held = split_cases(cases, ["b"])
    >>> [c.name for c in train], [c.name for c in held]
    (['a', 'c'], ['b'])
    >>> len(split_cases(cases[:1], None, compare=False)[0])
    1
    """
    names = [c.name for c in cases]
    if not compare and held_out:
        raise FormatError("--held-out names cases to compare on, but --no-held-out asks for no "
                          "comparison: give one of the two.")
    if not compare:
        return list(cases), []
    if len(cases) < 2:
        raise FormatError("the export has a single case, and a held-out comparison needs at "
                          "least two: export more cases, or pass --no-held-out to train "
                          "without a before/after comparison.")
    chosen = held_out_default(names) if held_out is None else list(held_out)
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise FormatError(f"the export has no case {unknown[0]!r} to hold out (it has "
                          f"{', '.join(names)}); give case names from the export.")
    train = [c for c in cases if c.name not in chosen]
    if not train:
        raise FormatError("every case is held out, so none is left to train on; hold out "
                          "fewer cases.")
    if not chosen:
        raise FormatError("no case is held out; name at least one, or pass --no-held-out.")
    return train, [c for c in cases if c.name in chosen]


def train_statistics(export: str | os.PathLike, train: list[CaseData]) -> dict[str, Any]:
    """Class statistics (pos_weight, class weights) over the training cases only.

    Counted from the manifests of the training cases (held-out cases do not
    leak into the weights); an export without counts falls back to its
    ``statistics.json``.
    """
    counts = [c.counts for c in train if c.counts]
    if len(counts) == len(train) and counts:
        return statistics_from_counts(counts)
    return read_statistics(find_export_root(export) or Path(export))
