"""What the Convert panel computes: binary layers -> a label map or atoms, and back.

No Qt here: :func:`layer_channels` reads a layer's channels (a label map counts
as one channel per class, :mod:`.._layers`), and :func:`combine` and
:func:`split_all` are the worker side of the conversions, calling the same
core functions as ``segreview convert``
(:mod:`napari_segreview.labels.formats`). Each returns the layers to add as
``(data, kwargs)`` pairs, with SegReview metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_segreview._napari._layers import channel_name, mask_channels
from napari_segreview._napari._meta import KEY, meta
from napari_segreview._util.arrays import blocks
from napari_segreview.errors import FormatError
from napari_segreview.labels import formats

__all__ = ["build_stack", "check_unique", "combine", "layer_channels", "output_name",
           "overlap_remedy", "split", "split_all"]

#: How many source names an output layer's name lists before "+ N more".
NAMED = 3


def output_name(layer_names: list[str], metas: list[dict], what: str) -> str:
    """The name of a layer made from ``layer_names``: its sources (or their head) and ``what``.

    Layers that are all channels of one model head give the head's name;
    otherwise the layers' names are listed (three at most).

    Examples
    --------
    >>> output_name(["whole", "parts"], [{}, {}], "label map")
    'whole + parts (label map)'
    >>> sig = {"head": "bone", "head_kind": "sigmoid"}
    >>> output_name(["cortex", "marrow"], [{**sig, "channel": "cortex"},
    ...                                    {**sig, "channel": "marrow"}], "atoms")
    'bone (atoms)'
    >>> output_name(["a", "b", "c", "d", "e"], [{}] * 5, "label map")
    'a + b + c + 2 more (label map)'
    """
    heads = {m.get("head") for m in metas}
    if len(layer_names) > 1 and len(heads) == 1 and None not in heads:
        return f"{heads.pop()} ({what})"
    shown = layer_names[:NAMED]
    more = f" + {len(layer_names) - NAMED} more" if len(layer_names) > NAMED else ""
    return f"{' + '.join(shown)}{more} ({what})"


def overlap_remedy(rules: dict[str, dict], modes: dict[str, str]) -> str:
    """What an overlap error tells the Convert panel's user: its own choices, by their texts.

    Examples
    --------
    >>> overlap_remedy({"Refuse": {"overlap": "error"}, "Later wins": {"priority": "later"}},
    ...                {"to atoms": "to_atoms"})
    "under Overlaps choose 'Later wins', or convert with 'to atoms' to keep every overlap."
    """
    ways = " or ".join(repr(k) for k, v in rules.items() if v != {"overlap": "error"})
    atoms = next(k for k, v in modes.items() if v == "to_atoms")
    return f"under Overlaps choose {ways}, or convert with {atoms!r} to keep every overlap."


def layer_channels(layer: Any) -> list[tuple[str, Any, int | None]]:
    """``(name, data, value)`` per channel of a layer: one per class of a label map.

    A layer whose metadata lists ``classes`` (and no single ``channel``) is a
    label map: class ``k >= 1`` is channel ``classes[k]`` (value ``k``). Any
    other layer is one binary channel (value ``None``: non-zero is on) named
    by its metadata ``channel`` (``"part_1"`` for ``"part_1 (ground truth)"``,
    as Export names it), else by the layer's name.
    """
    m = meta(layer)
    if m.get("kind") == "atoms":
        raise FormatError(
            f"{layer.name!r} is an atom map; split it into binary layers first "
            "('Label map or atoms -> binary layers')."
        )
    return [(name, layer.data, value)
            for name, value in mask_channels(m, channel_name(m, layer.name))]


def check_unique(channels: list[tuple[str, Any, int | None]], sources: list[str]) -> None:
    """Refuse two selected channels of one name (``sources[i]`` is channel i's layer)."""
    names = [n for n, _, _ in channels]
    for name in names:
        same = [repr(s) for n, s in zip(names, sources, strict=True) if n == name]
        if len(same) > 1:
            raise FormatError(
                f"{', '.join(same[:-1])} and {same[-1]} both hold channel {name!r}; "
                "select one of them."
            )


def build_stack(channels: list[tuple[str, Any, int | None]]) -> np.ndarray:
    """A uint8 multi-hot stack ``(C, ...)`` of the channels, filled blockwise."""
    shapes = {np.shape(d) for _, d, _ in channels}
    if len(shapes) > 1:
        raise FormatError(
            f"the selected layers have different shapes {sorted(shapes)}; select layers "
            "of one image."
        )
    shape = shapes.pop()
    stack = np.empty((len(channels), *shape), np.uint8)
    flat_out = stack.reshape(len(channels), -1)
    for c, (name, data, value) in enumerate(channels):
        flat = np.ascontiguousarray(data).reshape(-1)
        if value is None and flat.size and flat.max() > 1:
            raise FormatError(
                f"layer {name!r} holds values up to {flat.max()}, so it is a label map, not a "
                "binary mask: split it into binary layers first, or select binary layers."
            )
        for s in blocks(flat.size):
            o = flat_out[c, s].view(np.bool_)
            if value is None:
                np.not_equal(flat[s], 0, out=o)
            else:
                np.equal(flat[s], value, out=o)
    return stack


def combine(channels, mode: str, rule: dict, common: dict,
            name: str | None = None) -> list[tuple[np.ndarray, dict]]:
    """Worker side of 'binary layers -> label map / atoms': the layer to add.

    ``name`` is the new layer's (:func:`output_name`); by default its kind.
    """
    stack = build_stack(channels)
    names = [n for n, _, _ in channels]
    if mode == "to_labels":
        labels = formats.multihot_to_labels(stack, names=names, **rule)
        md = {"kind": "labels", "classes": ["background", *names]}
        return [(labels, {"name": name or "label map", "metadata": {KEY: md}, **common})]
    atoms, table = formats.multihot_to_atoms(stack, names)
    md = {"kind": "atoms", "atom_table": table.to_dict()}
    return [(atoms, {"name": name or "atoms", "metadata": {KEY: md}, **common})]


def split(layer_name: str, data: Any, md: dict, common: dict) -> list[tuple[np.ndarray, dict]]:
    """Worker side of 'label map or atoms -> binary layers': one layer per channel."""
    data = np.asarray(data)
    if md.get("kind") == "atoms":
        table = formats.AtomTable.from_dict(md["atom_table"])
        stack = formats.atoms_to_multihot(data, table)
        names = list(table.names)
    else:
        present = [int(v) for v in np.unique(data) if v != 0]
        classes = md.get("classes")
        names = [classes[v] if classes and v < len(classes) else f"{layer_name} {v}"
                 for v in present]
        stack = formats.labels_to_multihot(data, [[v] for v in present]) if present else []
    return [(mask, {"name": name, "metadata": {KEY: {"kind": "mask", "channel": name}},
                    **common}) for name, mask in zip(names, stack, strict=True)]


def split_all(items: list[tuple[str, Any, dict, dict]]) -> list[tuple[np.ndarray, dict]]:
    """:func:`split` of several layers ``(name, data, metadata, common)``."""
    return [out for item in items for out in split(*item)]
