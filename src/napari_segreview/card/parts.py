"""The parts of a model card: input normalisation, the input, one head; each parsed from YAML.

The dataclasses check meaning on construction (a part built in Python is
validated like one read from YAML); the ``parse_*`` functions check types and
keys of the raw YAML values with the field path (``heads[1].channels``).

>>> parse_head({"name": "fg", "kind": "sigmoid", "channels": ["fg"]}, "heads[0]").loss
'BCEWithLogitsLoss'
>>> parse_input({"normalize": "zscore"}).normalize.kind
'zscore'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_segreview.card._fields import (
    as_floats,
    as_int,
    as_mapping,
    as_name,
    as_number,
    check_keys,
    suggest,
)
from napari_segreview.errors import CardError

__all__ = ["HEAD_KINDS", "NORMALIZE_KINDS", "NORM_PARAMS", "HeadSpec", "InputSpec",
           "NormalizeSpec",
           "parse_head", "parse_input", "parse_normalize"]

HEAD_KINDS = ("sigmoid", "softmax")
NORMALIZE_KINDS = ("window", "mean_std", "zscore", "percentile", "none")
NORM_PARAMS = {"window": ("center", "width"), "mean_std": ("scale", "mean", "std"),
                "zscore": (), "percentile": ("low", "high"), "none": ()}
_INPUT_KEYS = ("channels", "spatial_dims", "normalize", "tile", "overlap", "output_key",
               "output_index")
_HEAD_KEYS = ("name", "kind", "channels", "within", "codes")


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
            raise CardError(f"{p}.kind is {self.kind!r}: {suggest(self.kind, NORMALIZE_KINDS)}.")
        takes = NORM_PARAMS[self.kind]
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
        as_int(self.channels, "input.channels", 1, " (1 for CT, 3 for RGB)")
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
                as_int(t, f"input.tile[{i}]", 1, " (a tile size in pixels)")
        if not 0 <= self.overlap < 1:
            raise CardError(f"input.overlap must be a fraction with 0 <= overlap < 1 (e.g. "
                            f"0.25), not {self.overlap}.")
        if self.output_index is not None:
            as_int(self.output_index, "input.output_index", 0)
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
    #: DICOM SEG coded concepts per channel, ``{channel: {"category": ..., "type": ...}}``
    #: as read from the card (checked when a SEG is written; docs/dicom-seg.md).
    codes: dict[str, Any] | None = field(default=None, hash=False)

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


def parse_head(h: Any, p: str) -> HeadSpec:
    """A head from its YAML mapping ``h``; ``p`` is its field path (``heads[0]``)."""
    check_keys(as_mapping(h, p), _HEAD_KEYS, p)
    for key in ("name", "kind", "channels"):
        if key not in h:
            raise CardError(f"{p}.{key} is missing: every head needs name, kind and channels.")
    ch = h["channels"]
    if not isinstance(ch, list):
        raise CardError(f"{p}.channels must be a list of channel names, e.g. [background, "
                        f"foreground], not {ch!r}.")
    within = h.get("within")
    codes = h.get("codes")
    if codes is not None:
        for name, spec in as_mapping(codes, f"{p}.codes").items():
            if name not in ch:
                raise CardError(f"{p}.codes names {name!r}, which is not a channel of this "
                                f"head: {suggest(name, tuple(map(str, ch)))}.")
            check_keys(as_mapping(spec, f"{p}.codes.{name}"), ("category", "type"),
                       f"{p}.codes.{name}")
        codes = {str(k): dict(v) for k, v in codes.items()}
    return HeadSpec(name=as_name(h["name"], f"{p}.name"), kind=as_name(h["kind"], f"{p}.kind"),
                    channels=tuple(as_name(c, f"{p}.channels[{j}]") for j, c in enumerate(ch)),
                    within=None if within is None else as_name(within, f"{p}.within"),
                    codes=codes)


def parse_input(d: Any) -> InputSpec:
    """The ``input`` section from its YAML mapping (None: the defaults)."""
    p = "input"
    if d is None:
        return InputSpec()
    check_keys(as_mapping(d, p), _INPUT_KEYS, p)
    channels = as_int(d.get("channels", 1), f"{p}.channels", 1, " (1 for CT, 3 for RGB)")
    dims = d.get("spatial_dims", 2)
    tile = d.get("tile")
    if tile is not None:
        if not isinstance(tile, list):
            tile = [tile] * (dims if dims in (2, 3) else 1)   # `tile: 256` means square tiles
        tile = tuple(as_int(t, f"{p}.tile[{i}]", 1, " (a tile size in pixels)")
                     for i, t in enumerate(tile))
    key, index = d.get("output_key"), d.get("output_index")
    return InputSpec(
        channels=channels, spatial_dims=dims, tile=tile,
        normalize=parse_normalize(d.get("normalize", "none"), channels),
        overlap=as_number(d.get("overlap", 0.25), f"{p}.overlap"),
        output_key=None if key is None else as_name(key, f"{p}.output_key"),
        output_index=None if index is None else as_int(index, f"{p}.output_index", 0))


def parse_normalize(v: Any, channels: int) -> NormalizeSpec:
    """``input.normalize`` from YAML: a mapping, or a kind name (``zscore``) as shorthand."""
    p = "input.normalize"
    if isinstance(v, str):
        v = {"kind": v}                     # `normalize: zscore` shorthand
    as_mapping(v, p)
    if "kind" not in v:
        raise CardError(f"{p}.kind is missing: write one of {', '.join(NORMALIZE_KINDS)}.")
    kind = v["kind"]
    if kind not in NORMALIZE_KINDS:
        raise CardError(f"{p}.kind is {kind!r}: {suggest(kind, NORMALIZE_KINDS)}.")
    all_params = tuple(f for fs in NORM_PARAMS.values() for f in fs)
    check_keys({k: 0 for k in v if k not in all_params}, ("kind", *all_params), p)
    kw: dict[str, Any] = {}
    for f in ("center", "width", "scale", "low", "high"):
        if v.get(f) is not None:
            kw[f] = as_number(v[f], f"{p}.{f}")
    for f in ("mean", "std"):
        if v.get(f) is not None:
            kw[f] = as_floats(v[f], f"{p}.{f}", channels)
    return NormalizeSpec(kind=kind, **kw)
