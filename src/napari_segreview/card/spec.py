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
import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from napari_segreview._util.arrays import blocks
from napari_segreview.errors import CardError

__all__ = [
    "CardError", "HeadSpec", "InputSpec", "ModelCard", "NormalizeSpec",
    "find_card", "load_card", "normalize",
]

HEAD_KINDS = ("sigmoid", "softmax")
NORMALIZE_KINDS = ("window", "mean_std", "zscore", "percentile", "none")
_NORM_PARAMS = {"window": ("center", "width"), "mean_std": ("scale", "mean", "std"),
                "zscore": (), "percentile": ("low", "high"), "none": ()}
_TOP_KEYS = ("name", "input", "heads")
_INPUT_KEYS = ("channels", "spatial_dims", "normalize", "tile", "overlap", "output_key",
               "output_index")
_HEAD_KEYS = ("name", "kind", "channels", "within")
#: Above this many voxels, percentiles are taken on a strided subsample.
PERCENTILE_SAMPLE = 1 << 22


def _suggest(word: Any, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if close:
        return f"write {close[0]!r} instead"
    return f"write one of {', '.join(options)}"


def _check_keys(d: Mapping, allowed: tuple[str, ...], path: str) -> None:
    for key in d:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            hint = _suggest(key, allowed).replace("one of", "one of the fields")
            raise CardError(f"{where} is not a model card field: {hint} (or remove it).")


def _mapping(v: Any, path: str) -> Mapping:
    if not isinstance(v, Mapping):
        raise CardError(f"{path} must be a mapping of fields (key: value lines), not {v!r}.")
    return v


def _int(v: Any, path: str, minimum: int, hint: str = "") -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise CardError(f"{path} must be a whole number >= {minimum}{hint}, not {v!r}.")
    return int(v)


def _num(v: Any, path: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not math.isfinite(v):
        raise CardError(f"{path} must be a finite number, not {v!r}.")
    return float(v)


def _name(v: Any, path: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise CardError(f"{path} must be a non-empty name (text), not {v!r}.")
    return v


def _floats(v: Any, path: str, n: int) -> tuple[float, ...]:
    if not isinstance(v, (list, tuple)):
        return (_num(v, path),) * n          # one number applies to every input channel
    return tuple(_num(x, f"{path}[{i}]") for i, x in enumerate(v))


@dataclass(frozen=True)
class NormalizeSpec:
    """How raw image values become model input (see :func:`normalize`)."""

    kind: str
    center: float | None = None
    width: float | None = None
    scale: float | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    low: float | None = None
    high: float | None = None

    def __post_init__(self):
        p = "input.normalize"
        if self.kind not in NORMALIZE_KINDS:
            raise CardError(f"{p}.kind is {self.kind!r}: {_suggest(self.kind, NORMALIZE_KINDS)}.")
        takes = _NORM_PARAMS[self.kind]
        for f in ("center", "width", "scale", "mean", "std", "low", "high"):
            if getattr(self, f) is not None and f not in takes:
                takes_s = ", ".join(takes) if takes else "no parameters"
                raise CardError(f"{p}.{f} does not apply to kind {self.kind!r} (it takes "
                                f"{takes_s}): remove it or change the kind.")
        for f in ("mean", "std"):
            if (v := getattr(self, f)) is not None:
                object.__setattr__(self, f, tuple(float(x) for x in np.atleast_1d(v)))
        if self.kind == "window":
            if self.center is None or self.width is None:
                raise CardError(f"{p} of kind window needs center and width, e.g. "
                                "{kind: window, center: 400, width: 1800} for bone in HU.")
            if not self.width > 0:
                raise CardError(f"{p}.width must be > 0 (the HU range shown), not {self.width}.")
        elif self.kind == "mean_std":
            if self.mean is None or self.std is None:
                raise CardError(f"{p} of kind mean_std needs mean and std, e.g. scale: 255, "
                                "mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225].")
            if len(self.mean) != len(self.std):
                raise CardError(f"{p}.mean has {len(self.mean)} values but {p}.std has "
                                f"{len(self.std)}: give one of each per input channel.")
            if any(not s > 0 for s in self.std):
                raise CardError(f"{p}.std must be > 0 for every channel, not {list(self.std)}.")
            if self.scale is not None and not self.scale > 0:
                raise CardError(f"{p}.scale must be > 0 (255 for 8-bit images), not {self.scale}.")
        elif self.kind == "percentile":
            lo, hi = self.bounds
            if not 0 <= lo < hi <= 100:
                raise CardError(f"{p}.low and .high need 0 <= low < high <= 100, not {lo} and "
                                f"{hi}: write e.g. low: 0.5, high: 99.5.")

    @property
    def bounds(self) -> tuple[float, float]:
        """Percentile bounds (low, high); 0.5 and 99.5 when not given."""
        return (0.5 if self.low is None else self.low, 99.5 if self.high is None else self.high)


@dataclass(frozen=True)
class InputSpec:
    """What the model takes as input and how to run it (tiling, output selection)."""

    channels: int = 1
    spatial_dims: int = 2
    normalize: NormalizeSpec = NormalizeSpec("none")
    tile: tuple[int, ...] | None = None
    overlap: float = 0.25
    output_key: str | None = None
    output_index: int | None = None

    def __post_init__(self):
        _int(self.channels, "input.channels", 1, " (1 for CT, 3 for RGB)")
        d = self.spatial_dims
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d not in (2, 3):
            raise CardError(f"input.spatial_dims must be 2 (slice by slice) or 3 (volumetric "
                            f"patches), not {self.spatial_dims!r}.")
        if self.tile is not None:
            object.__setattr__(self, "tile", tuple(self.tile))
            if len(self.tile) != self.spatial_dims:
                raise CardError(f"input.tile has {len(self.tile)} entries but spatial_dims is "
                                f"{self.spatial_dims}: give one tile size per spatial axis.")
            for i, t in enumerate(self.tile):
                _int(t, f"input.tile[{i}]", 1, " (a tile size in pixels)")
        if not 0 <= self.overlap < 1:
            raise CardError(f"input.overlap must be a fraction with 0 <= overlap < 1 (e.g. "
                            f"0.25), not {self.overlap}.")
        if self.output_index is not None:
            _int(self.output_index, "input.output_index", 0)
        n = self.normalize
        if n.mean is not None and len(n.mean) != self.channels:
            raise CardError(f"input.normalize.mean has {len(n.mean)} values but "
                            f"input.channels is {self.channels}: give one value per channel.")


@dataclass(frozen=True)
class HeadSpec:
    """A group of output channels decided together (``sigmoid`` or ``softmax``)."""

    name: str
    kind: str
    channels: tuple[str, ...]
    within: str | None = None
    start: int = 0

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))

    @property
    def stop(self) -> int:
        """Index one past this head's last output channel."""
        return self.start + len(self.channels)

    @property
    def loss(self) -> str:
        """The PyTorch loss this head trains with."""
        return "BCEWithLogitsLoss" if self.kind == "sigmoid" else "CrossEntropyLoss"


@dataclass(frozen=True)
class ModelCard:
    """A model's input and the meaning of each output channel, head by head."""

    name: str
    input: InputSpec
    heads: tuple[HeadSpec, ...]

    def __post_init__(self):
        _name(self.name, "name")
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
            _name(h.name, f"{p}.name")
            if names.index(h.name) != i:
                raise CardError(f"{p}.name {h.name!r} is already the name of "
                                f"heads[{names.index(h.name)}]: give every head its own name.")
            if h.kind not in HEAD_KINDS:
                raise CardError(f"{p}.kind is {h.kind!r}: {_suggest(h.kind, HEAD_KINDS)} "
                                "(sigmoid: independent channels, softmax: one class per voxel).")
            if not h.channels:
                raise CardError(f"{p}.channels is empty: list the names of its output channels.")
            for j, c in enumerate(h.channels):
                _name(c, f"{p}.channels[{j}]")
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
                            f"{_suggest(h.within, names)}.")
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
        raise CardError(f"the card has no head {name!r}: {_suggest(name, names)}.")

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelCard:
        """Parse and validate a card from a mapping (as read from YAML)."""
        _check_keys(_mapping(d, "the model card"), _TOP_KEYS, "")
        if "heads" not in d:
            raise CardError("heads is missing: list the model's output heads in channel order.")
        raw_heads = d["heads"]
        if not isinstance(raw_heads, list):
            raise CardError(f"heads must be a list of heads (lines starting with '- '), "
                            f"not {raw_heads!r}.")
        heads = [_parse_head(h, f"heads[{i}]") for i, h in enumerate(raw_heads)]
        return cls(name=_name(d.get("name", "model"), "name"),
                   input=_parse_input(d.get("input")), heads=tuple(heads))

    def to_dict(self) -> dict:
        """Plain dict (YAML-ready) that :meth:`from_dict` turns back into this card."""
        i, n = self.input, self.input.normalize
        norm: dict[str, Any] = {"kind": n.kind}
        for f in _NORM_PARAMS[n.kind]:
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


def _parse_head(h: Any, p: str) -> HeadSpec:
    _check_keys(_mapping(h, p), _HEAD_KEYS, p)
    for key in ("name", "kind", "channels"):
        if key not in h:
            raise CardError(f"{p}.{key} is missing: every head needs name, kind and channels.")
    ch = h["channels"]
    if not isinstance(ch, list):
        raise CardError(f"{p}.channels must be a list of channel names, e.g. [background, "
                        f"foreground], not {ch!r}.")
    within = h.get("within")
    return HeadSpec(name=_name(h["name"], f"{p}.name"), kind=_name(h["kind"], f"{p}.kind"),
                    channels=tuple(_name(c, f"{p}.channels[{j}]") for j, c in enumerate(ch)),
                    within=None if within is None else _name(within, f"{p}.within"))


def _parse_input(d: Any) -> InputSpec:
    p = "input"
    if d is None:
        return InputSpec()
    _check_keys(_mapping(d, p), _INPUT_KEYS, p)
    channels = _int(d.get("channels", 1), f"{p}.channels", 1, " (1 for CT, 3 for RGB)")
    dims = d.get("spatial_dims", 2)
    tile = d.get("tile")
    if tile is not None:
        if not isinstance(tile, list):
            tile = [tile] * (dims if dims in (2, 3) else 1)   # `tile: 256` means square tiles
        tile = tuple(_int(t, f"{p}.tile[{i}]", 1, " (a tile size in pixels)")
                     for i, t in enumerate(tile))
    key, index = d.get("output_key"), d.get("output_index")
    return InputSpec(
        channels=channels, spatial_dims=dims, tile=tile,
        normalize=_parse_normalize(d.get("normalize", "none"), channels),
        overlap=_num(d.get("overlap", 0.25), f"{p}.overlap"),
        output_key=None if key is None else _name(key, f"{p}.output_key"),
        output_index=None if index is None else _int(index, f"{p}.output_index", 0))


def _parse_normalize(v: Any, channels: int) -> NormalizeSpec:
    p = "input.normalize"
    if isinstance(v, str):
        v = {"kind": v}                     # `normalize: zscore` shorthand
    _mapping(v, p)
    if "kind" not in v:
        raise CardError(f"{p}.kind is missing: write one of {', '.join(NORMALIZE_KINDS)}.")
    kind = v["kind"]
    if kind not in NORMALIZE_KINDS:
        raise CardError(f"{p}.kind is {kind!r}: {_suggest(kind, NORMALIZE_KINDS)}.")
    all_params = tuple(f for fs in _NORM_PARAMS.values() for f in fs)
    _check_keys({k: 0 for k in v if k not in all_params}, ("kind", *all_params), p)
    kw: dict[str, Any] = {}
    for f in ("center", "width", "scale", "low", "high"):
        if v.get(f) is not None:
            kw[f] = _num(v[f], f"{p}.{f}")
    for f in ("mean", "std"):
        if v.get(f) is not None:
            kw[f] = _floats(v[f], f"{p}.{f}", channels)
    return NormalizeSpec(kind=kind, **kw)


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


def normalize(image: np.ndarray, spec: NormalizeSpec, *,
              channel_axis: int | None = None) -> np.ndarray:
    """Raw image values to model input, always float32 (no float64 volume temporaries).

    * ``window``: ``[center - width/2, center + width/2]`` maps linearly to
      ``[0, 1]``; values outside are clipped to 0 or 1.
    * ``mean_std``: ``x / scale``, then ``(x - mean[c]) / std[c]`` per channel
      along ``channel_axis`` (default: last axis, channel-last RGB as napari
      holds it); a single mean/std applies to the whole array.
    * ``zscore``: ``(x - mean) / std`` over the whole array (std 0 gives zeros).
    * ``percentile``: clip to the ``low`` and ``high`` percentiles, scale to
      ``[0, 1]``; above 4 M voxels, the percentiles are taken on a strided
      subsample of about 4 M voxels.
    * ``none``: cast to float32 (a float32 input is returned as is, not copied).

    Every other kind returns a new array; the input is never modified.

    Examples
    --------
    >>> normalize(np.array([-500, 400, 1300, 3000]), NormalizeSpec("window", 400, 1800))
    array([0. , 0.5, 1. , 1. ], dtype=float32)
    >>> rgb = np.full((1, 1, 3), 255, np.uint8)
    >>> spec = NormalizeSpec("mean_std", scale=255, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.25))
    >>> normalize(rgb, spec)
    array([[[1., 1., 2.]]], dtype=float32)
    """
    if spec.kind == "none":
        return np.asarray(image, dtype=np.float32)
    out = np.array(image, dtype=np.float32, order="C", copy=True)
    if spec.kind == "window":
        lo = spec.center - spec.width / 2
        out -= np.float32(lo)
        out *= np.float32(1.0 / spec.width)
        np.clip(out, 0, 1, out=out)
    elif spec.kind == "mean_std":
        if spec.scale is not None:
            out *= np.float32(1.0 / spec.scale)
        mean = np.asarray(spec.mean, np.float32)
        std = np.asarray(spec.std, np.float32)
        if mean.size > 1:
            axis = -1 if channel_axis is None else channel_axis
            if out.ndim == 0 or out.shape[axis] != mean.size:
                raise CardError(
                    f"input.normalize.mean has {mean.size} values but the image has shape "
                    f"{out.shape} with channel_axis {axis}: give a channel-last "
                    f"({mean.size}-channel) image or fix the card.")
            shape = [1] * out.ndim
            shape[axis] = mean.size
            mean, std = mean.reshape(shape), std.reshape(shape)
        out -= mean
        out *= np.float32(1.0) / std
    elif spec.kind == "zscore":
        n, flat = max(out.size, 1), out.reshape(-1)
        mean = sum(float(np.sum(flat[s], dtype=np.float64)) for s in blocks(flat.size)) / n
        out -= np.float32(mean)
        var = sum(float(np.dot(c64 := flat[s].astype(np.float64), c64))
                  for s in blocks(flat.size)) / n
        out *= np.float32(1.0 / max(math.sqrt(var), 1e-8))
    else:  # percentile
        flat = out.reshape(-1)
        sample = flat[:: max(1, flat.size // PERCENTILE_SAMPLE)] if flat.size else np.zeros(1)
        lo, hi = (float(x) for x in np.percentile(sample, spec.bounds))
        out -= np.float32(lo)
        out *= np.float32(1.0 / max(hi - lo, 1e-12))
        np.clip(out, 0, 1, out=out)
    return out
