"""The model card: what each output channel of a segmentation model means.

A card is a small YAML file (see ``docs/model-cards.md``) read once and used
everywhere: decoding logits, naming layers, checking corrected masks and
exporting training targets. Parsing checks types and keys with the field path
(``heads[1].channels``); the dataclasses check meaning on construction, so a
card built in Python is validated like one read from YAML.

Examples
--------
>>> card = ModelCard.from_dict({
...     "name": "bone",
...     "heads": [
...         {"name": "whole", "kind": "sigmoid", "channels": ["whole_bone"]},
...         {"name": "parts", "kind": "softmax", "within": "whole",
...          "channels": ["background", "part_1", "part_2", "part_3"]},
...     ],
... })
>>> card.n_outputs, card.head("parts").start, card.head("parts").stop
(5, 1, 5)
>>> ModelCard.from_dict(card.to_dict()) == card
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from napari_segreview.card._fields import as_mapping, as_name, check_keys, suggest
from napari_segreview.card.parts import (
    HEAD_KINDS,
    NORM_PARAMS,
    HeadSpec,
    InputSpec,
    NormalizeSpec,
    parse_head,
    parse_input,
)
from napari_segreview.errors import CardError

__all__ = ["HeadSpec", "InputSpec", "ModelCard", "NormalizeSpec", "find_card", "load_card"]

_TOP_KEYS = ("name", "input", "heads")


@dataclass(frozen=True)
class ModelCard:
    """A model's input and the meaning of each output channel, head by head."""

    name: str
    input: InputSpec
    heads: tuple[HeadSpec, ...]

    def __post_init__(self):
        as_name(self.name, "name")
        heads = tuple(self.heads)
        if not heads:
            raise CardError("heads is empty: list at least one head, e.g. "
                            "{name: fg, kind: sigmoid, channels: [foreground]}.")
        names = tuple(h.name for h in heads)
        seen: dict[str, str] = {}
        start = 0
        fixed = []
        for i, h in enumerate(heads):
            p = f"heads[{i}]"
            as_name(h.name, f"{p}.name")
            if names.index(h.name) != i:
                raise CardError(f"{p}.name {h.name!r} is already the name of "
                                f"heads[{names.index(h.name)}]: give every head its own name.")
            if h.kind not in HEAD_KINDS:
                raise CardError(f"{p}.kind is {h.kind!r}: {suggest(h.kind, HEAD_KINDS)} "
                                "(sigmoid: independent channels, softmax: one class per voxel).")
            if not h.channels:
                raise CardError(f"{p}.channels is empty: list the names of its output channels.")
            for j, c in enumerate(h.channels):
                as_name(c, f"{p}.channels[{j}]")
                if c in seen:
                    raise CardError(f"{p}.channels repeats channel {c!r}, already in {seen[c]}: "
                                    "give every output channel its own name.")
                seen[c] = f"{p}.channels"
            if h.kind == "softmax" and len(h.channels) == 1:
                raise CardError(
                    f"{p}.kind is softmax with the single channel {h.channels[0]!r}, and argmax "
                    "over one channel always gives 0: write kind: sigmoid (decided by logit > 0, "
                    "i.e. probability > 0.5), or list [background, ...] if the model outputs "
                    "two channels.")
            fixed.append(dataclasses.replace(h, start=start))
            start += len(h.channels)
        for i, h in enumerate(heads):
            self._check_within(i, h, heads, names)
        object.__setattr__(self, "heads", tuple(fixed))

    @staticmethod
    def _check_within(i: int, h: HeadSpec, heads: tuple, names: tuple) -> None:
        if h.within is None:
            return
        p = f"heads[{i}].within"
        if h.within not in names:
            raise CardError(f"{p} names {h.within!r}, which is not a head of this card: "
                            f"{suggest(h.within, names)}.")
        if h.within == h.name:
            raise CardError(f"{p} names the head itself: name its one-channel sigmoid parent.")
        parent = heads[names.index(h.within)]
        if parent.kind != "sigmoid" or len(parent.channels) != 1:
            raise CardError(f"{p} names {h.within!r}, a {parent.kind} head with "
                            f"{len(parent.channels)} channels, but a parent must be a "
                            "one-channel sigmoid head: point it at such a head or remove it.")
        chain, cur = [h.name], parent
        while cur.within is not None:
            chain.append(cur.name)
            if cur.within in chain:
                raise CardError(f"{p} makes a cycle ({' -> '.join([*chain, cur.within])}): "
                                "remove within from one of these heads.")
            cur = heads[names.index(cur.within)]

    @property
    def n_outputs(self) -> int:
        """Number of output channels the model must return (all heads together)."""
        return sum(len(h.channels) for h in self.heads)

    @property
    def channel_names(self) -> tuple[str, ...]:
        """All output channel names, in output order."""
        return tuple(c for h in self.heads for c in h.channels)

    def head(self, name: str) -> HeadSpec:
        """The head called ``name`` (CardError with a suggestion if there is none)."""
        for h in self.heads:
            if h.name == name:
                return h
        names = tuple(h.name for h in self.heads)
        raise CardError(f"the card has no head {name!r}: {suggest(name, names)}.")

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelCard:
        """Parse and validate a card from a mapping (as read from YAML)."""
        check_keys(as_mapping(d, "the model card"), _TOP_KEYS, "")
        if "heads" not in d:
            raise CardError("heads is missing: list the model's output heads in channel order.")
        raw_heads = d["heads"]
        if not isinstance(raw_heads, list):
            raise CardError(f"heads must be a list of heads (lines starting with '- '), "
                            f"not {raw_heads!r}.")
        heads = [parse_head(h, f"heads[{i}]") for i, h in enumerate(raw_heads)]
        return cls(name=as_name(d.get("name", "model"), "name"),
                   input=parse_input(d.get("input")), heads=tuple(heads))

    def to_dict(self) -> dict:
        """Plain dict (YAML-ready) that :meth:`from_dict` turns back into this card."""
        i, n = self.input, self.input.normalize
        norm: dict[str, Any] = {"kind": n.kind}
        for f in NORM_PARAMS[n.kind]:
            v = getattr(n, f)
            if v is not None:
                norm[f] = list(v) if isinstance(v, tuple) else v
        inp: dict[str, Any] = {"channels": i.channels, "spatial_dims": i.spatial_dims,
                               "normalize": norm, "overlap": i.overlap}
        if i.tile is not None:
            inp["tile"] = list(i.tile)
        for f in ("output_key", "output_index"):
            if getattr(i, f) is not None:
                inp[f] = getattr(i, f)
        heads = []
        for h in self.heads:
            hd: dict[str, Any] = {"name": h.name, "kind": h.kind, "channels": list(h.channels)}
            if h.within is not None:
                hd["within"] = h.within
            if h.codes is not None:
                hd["codes"] = {k: dict(v) for k, v in h.codes.items()}
            heads.append(hd)
        return {"name": self.name, "input": inp, "heads": heads}

    @classmethod
    def from_yaml(cls, path: str | Path) -> ModelCard:
        """Read and validate a card from a YAML file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise CardError(f"cannot read the model card {path}: {e.strerror or e}.") from e
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise CardError(f"the model card {path} is not valid YAML{where}: check the "
                            "indentation and the ':' after each key.") from e
        try:
            return cls.from_dict(d)
        except CardError as e:
            raise CardError(f"{path.name}: {e}") from None


def load_card(path: str | Path) -> ModelCard:
    """Read and validate a model card from a YAML file (see :meth:`ModelCard.from_yaml`)."""
    return ModelCard.from_yaml(path)


def find_card(model_path: str | Path) -> Path | None:
    """The card beside a model file: ``<stem>.card.yaml``, ``<stem>.yaml``, then ``card.yaml``.

    ``.yml`` is accepted wherever ``.yaml`` is. Returns None when there is none.
    """
    model_path = Path(model_path)
    folder, stem = model_path.parent, model_path.stem
    for name in (f"{stem}.card.yaml", f"{stem}.card.yml", f"{stem}.yaml", f"{stem}.yml",
                 "card.yaml", "card.yml"):
        if (folder / name).is_file() and folder / name != model_path:
            return folder / name
    return None
