"""Convert label files between label maps, one-hot, multi-hot and atoms.

The one function behind ``segreview convert`` and the napari widgets:
:func:`convert_array` works on arrays, :func:`convert_file` reads a file,
converts it and writes the result atomically with its channel names.

Which encoding the input is comes from, in order: the ``source`` argument, the
file's metadata, or the data themselves (a label map when converting *to* a
channel stack; when converting a channel stack *to* labels, one-hot if every
voxel has exactly one channel set, multi-hot otherwise).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview.errors import FormatError, OverlapError
from napari_segreview.io.arrayfiles import (
    KINDS,
    ArrayMeta,
    file_suffix,
    read_array,
    write_array,
)
from napari_segreview.labels.formats import (
    AtomTable,
    atoms_to_multihot,
    channel_names,
    labels_to_multihot,
    labels_to_onehot,
    multihot_to_atoms,
    multihot_to_labels,
    onehot_to_labels,
)

__all__ = ["ConvertResult", "convert_array", "convert_file", "load_regions"]

_WHAT = {"labels": "a label map", "onehot": "a one-hot stack", "multihot": "a multi-hot stack",
         "atoms": "an atom map"}


@dataclass(frozen=True)
class ConvertResult:
    """What :func:`convert_file` wrote."""

    path: Path
    kind: str
    source_kind: str
    shape: tuple[int, ...]
    dtype: np.dtype
    channel_names: tuple[str, ...] | None
    n_atoms: int | None = None

    def summary(self) -> str:
        """One line for a person: what was written, its shape, dtype and names."""
        shape = "x".join(str(s) for s in self.shape)
        text = f"wrote {self.path}: {_WHAT[self.kind]} {shape} {self.dtype}"
        if self.n_atoms is not None:
            text += f" with {self.n_atoms} atoms"
        if self.channel_names:
            label = "classes" if self.kind == "labels" else "channels"
            text += f", {label} {_short_list(self.channel_names)}"
        return f"{text} (from {_WHAT[self.source_kind]})"


def _short_list(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def load_regions(path: str | os.PathLike) -> dict[str, list[int]]:
    """Read a region table: ``{"whole": [1, 2, 3], "part_1": [1], ...}``.

    Each key names an output channel; its value lists the label values the
    channel covers (a single integer is accepted too). An nnU-Net
    ``dataset.json`` works as well: its ``"labels"`` entry is used, without
    the background (the entry whose value is 0).

    Raises
    ------
    FormatError
        If the file cannot be read, is not valid JSON, or a value is not a
        non-empty list of non-negative integers.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "regions.json"
    >>> _ = f.write_text(json.dumps({"whole": [1, 2, 3], "part_1": 1}))
    >>> load_regions(f)
    {'whole': [1, 2, 3], 'part_1': [1]}
    """
    path = Path(path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FormatError(f"the region file {path} does not exist; check the path.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"could not read the region file {path}: {exc}.") from exc
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"the region file {path} is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f'column {exc.colno}); write it like {{"whole": [1, 2, 3], "part_1": [1]}}.'
        ) from exc
    if isinstance(table, dict) and isinstance(table.get("labels"), dict):
        table = {k: v for k, v in table["labels"].items() if v not in (0, [0])}
    if not isinstance(table, dict) or not table:
        raise FormatError(
            f"the region file {path} must hold a non-empty JSON object that maps channel "
            'names to label values, like {"whole": [1, 2, 3], "part_1": [1]}.'
        )
    regions: dict[str, list[int]] = {}
    for name, values in table.items():
        values = [values] if isinstance(values, int) else values
        if (not isinstance(values, list) or not values
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                           for v in values)):
            raise FormatError(
                f"region {name!r} in {path} must list non-negative integer label values, "
                f"like [1, 2], not {json.dumps(values)}."
            )
        regions[name] = values
    return regions


def _stack_names(n: int, names: Sequence[str] | None, meta: ArrayMeta) -> tuple[str, ...]:
    if names is not None:
        return channel_names(n, names)
    if meta.channel_names is not None and len(meta.channel_names) == n:
        return channel_names(n, meta.channel_names)
    return channel_names(n)


def _is_onehot(stack: np.ndarray) -> bool:
    """True when every voxel has exactly one channel set (one pass per channel)."""
    if stack.shape[0] < 2:
        return False
    count = np.zeros(stack.shape[1:], np.uint8)
    for channel in stack:
        count += channel != 0
        np.minimum(count, 2, out=count)
    return bool((count == 1).all())


def _infer(array: np.ndarray, meta: ArrayMeta, to: str, source: str | None) -> str:
    if source is not None:
        if source not in KINDS:
            raise FormatError(f"unknown input kind {source!r}; use one of {', '.join(KINDS)}.")
        return source
    if meta.kind is not None:
        return meta.kind
    if to in ("onehot", "multihot"):
        return "labels"
    if array.ndim < 3:
        raise FormatError(
            f"a channel stack shaped (C, [Z,] Y, X) is needed, but the input is "
            f"{array.ndim}-D with shape {array.shape}; give a multi-channel file, or name "
            "its kind (--from) if its first axis really holds channels."
        )
    if to == "atoms":
        return "multihot"
    return "onehot" if _is_onehot(array) else "multihot"


def _refuse(option: str, value: Any, allowed: str) -> None:
    if value is not None:
        raise FormatError(f"{option} only applies {allowed}; leave it out.")


def convert_array(
    array: Any,
    meta: ArrayMeta | None = None,
    *,
    to: str,
    source: str | None = None,
    regions: Mapping[str, Any] | Sequence[Any] | None = None,
    priority: str | Sequence[int | str] | None = None,
    painting_order: Sequence[int | str] | None = None,
    overlap: str = "error",
    num_classes: int | None = None,
    names: Sequence[str] | None = None,
    ignore_value: int | None = None,
) -> tuple[np.ndarray, ArrayMeta, str]:
    """Convert an array to another label encoding.

    Parameters
    ----------
    array : ndarray
        Label map ``([Z,] Y, X)``, channel stack ``(C, [Z,] Y, X)`` or atom map.
    meta : ArrayMeta, optional
        What is known about ``array`` (kind, channel names, atom table, spacing).
    to : {"labels", "onehot", "multihot", "atoms"}
        The encoding wanted.
    source : {"labels", "onehot", "multihot", "atoms"}, optional
        The encoding of ``array``; by default from ``meta``, else inferred.
    regions : mapping name -> label values, optional
        Label map -> multi-hot: channel ``c`` covers the labels in ``regions[c]``
        (nnU-Net regions). Without it, each label value ``1..max`` gets a channel.
    priority : "later" or sequence of channel names/indices, optional
        Stack -> labels, where channels overlap: every channel, the first
        listed wins (``"later"``: the later channel of the stack wins).
    painting_order : sequence of channel names/indices, optional
        Stack -> labels, where channels overlap: every channel in painting
        order, the last one painted wins (``priority`` the other way round).
    overlap : {"error", "ignore"}
        Stack -> labels: ``"ignore"`` marks overlapping voxels ``ignore_value``.
    num_classes : int, optional
        Label map -> one-hot: number of channels (default ``max + 1``).
    names : sequence of str, optional
        Names of the stack's channels (the input's, or the output's).
    ignore_value : int, optional
        Label value meaning "ignore": no channel set (and vice versa).

    Returns
    -------
    converted : ndarray
    meta : ArrayMeta
        The output's metadata (kind, channel or class names, atom table, spacing).
    source_kind : str
        The encoding the input was taken to be.

    Raises
    ------
    FormatError
        With one sentence on what to change (OverlapError for overlapping
        channels without a rule).

    Examples
    --------
    >>> lab = np.array([[0, 1], [2, 1]], np.uint8)
    >>> mh, meta, src = convert_array(lab, to="multihot", regions={"any": [1, 2], "one": [1]})
    >>> mh.tolist(), meta.channel_names, src
    ([[[0, 1], [1, 1]], [[0, 1], [0, 1]]], ('any', 'one'), 'labels')
    >>> back, meta, src = convert_array(mh, meta, to="labels", priority=["one", "any"])
    >>> back.tolist(), meta.channel_names, src
    ([[0, 2], [1, 2]], ('background', 'any', 'one'), 'multihot')
    """
    meta = ArrayMeta() if meta is None else meta
    if to not in KINDS:
        raise FormatError(f"unknown output kind {to!r}; use one of {', '.join(KINDS)}.")
    array = np.asarray(array)
    src = _infer(array, meta, to, source)
    if src == to:
        raise FormatError(f"the input is already {_WHAT[to]}; nothing to convert.")
    if to != "multihot":
        _refuse("a region table", regions, "when converting to multihot")
    if to != "labels":
        _refuse("a priority", priority, "when converting to labels")
        _refuse("a painting order", painting_order, "when converting to labels")
        if overlap != "error":
            _refuse("an overlap rule", overlap, "when converting to labels")
    if to != "onehot" and not (to == "multihot" and regions is None):
        _refuse("a number of classes", num_classes,
                "when converting a label map to onehot (or to multihot without regions)")
    if to == "labels":
        if src == "atoms":
            if names is not None:
                raise FormatError("channel names come from the atom table; leave out the names.")
            array, names = _atoms_to_stack(array, meta)
            src_kind = "multihot"
        elif src in ("onehot", "multihot"):
            unnamed = names is None and meta.channel_names is None
            names = _stack_names(array.shape[0] if array.ndim else 0, names, meta)
            if unnamed:
                _names_needed(names, priority, painting_order)
            src_kind = src
        else:  # pragma: no cover - src == to was refused above
            raise FormatError(f"converting to labels needs a channel stack, not {_WHAT[src]}.")
        rule = {"priority": priority, "painting_order": painting_order, "overlap": overlap}
        return _stack_to_labels(array, src_kind, names, meta, src, rule, ignore_value)
    if to == "atoms":
        if src not in ("onehot", "multihot"):
            raise FormatError(f"converting to atoms needs a multi-hot stack, not {_WHAT[src]}; "
                              "convert it to multihot first.")
        names = _stack_names(array.shape[0] if array.ndim else 0, names, meta)
        atoms, table = multihot_to_atoms(array, names)
        return atoms, ArrayMeta("atoms", table.names, table.to_dict(), meta.spacing), src
    if to == "multihot" and src == "atoms" and regions is None:
        if names is not None:
            raise FormatError("channel names come from the atom table; leave out the names.")
        stack, names = _atoms_to_stack(array, meta)
        return stack, ArrayMeta("multihot", names, spacing=meta.spacing), src
    if src != "labels" and not (src == "atoms" and to == "multihot"):
        raise FormatError(f"converting to {to} needs a label map, but the input is "
                          f"{_WHAT[src]}; convert it to labels first.")
    if array.dtype.kind not in "biu":
        raise FormatError(
            f"a label map must hold integers, but the input's dtype is {array.dtype} "
            "(probabilities or logits must be decided first, by threshold or argmax)."
        )
    if to == "onehot":
        out = labels_to_onehot(array, num_classes, ignore_value=ignore_value)
        out_names = _stack_names(out.shape[0], names, meta)
        return out, ArrayMeta("onehot", out_names, spacing=meta.spacing), src
    if regions is None:  # one channel per label value 1..top
        valid = array if ignore_value is None else array[array != ignore_value]
        top = num_classes - 1 if num_classes is not None else int(valid.max(initial=0))
        if top < 1:
            raise FormatError("the label map holds no label above 0; give a region table.")
        regions = {f"label_{v}": [v] for v in range(1, top + 1)}
        classes = meta.channel_names
        default = classes[1:] if classes is not None and len(classes) == top + 1 else None
        names = names if names is not None else default or tuple(regions)
    elif isinstance(regions, Mapping):
        if names is not None:
            raise FormatError("channel names come from the region table's keys; "
                              "leave out the separate names.")
        names = tuple(regions)
    out = labels_to_multihot(array, regions)
    out_names = channel_names(out.shape[0], names)
    return out, ArrayMeta("multihot", out_names, spacing=meta.spacing), src


def _atoms_to_stack(atoms: np.ndarray, meta: ArrayMeta) -> tuple[np.ndarray, tuple[str, ...]]:
    if meta.atom_table is None:
        raise FormatError("the atom map carries no atom table; write atoms with convert "
                          "--to atoms, or give a region table to go to multihot.")
    table = AtomTable.from_dict(meta.atom_table)
    return atoms_to_multihot(atoms, table), table.names


def _names_needed(names: tuple[str, ...], *orders: Any) -> None:
    """Refuse channel names in a rule for a stack that names no channels (a plain TIFF)."""
    for order in orders:
        if order is None or isinstance(order, str):
            continue
        unknown = [str(p) for p in order if isinstance(p, str) and p not in names]
        if unknown:
            raise FormatError(
                f"the stack carries no channel names, so {unknown[0]!r} names no channel; "
                f"give the {len(names)} channels' names in the stack's order (names=..., "
                "--names a,b,...) or list channel indices (0, 1, ...).")


def _stack_to_labels(stack, src, names, meta, source_kind, rule, ignore_value):
    if src == "onehot":  # nothing overlaps, so an overlap rule changes nothing
        labels = onehot_to_labels(stack, ignore_value=ignore_value)
        return labels, ArrayMeta("labels", names, spacing=meta.spacing), source_kind
    kwargs = {} if ignore_value is None else {"ignore_value": ignore_value}
    labels = multihot_to_labels(stack, names=names, **rule, **kwargs)
    classes = None if "background" in names else ("background", *names)
    return labels, ArrayMeta("labels", classes, spacing=meta.spacing), source_kind


def convert_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    to: str,
    force: bool = False,
    **options: Any,
) -> ConvertResult:
    """Read a label file, convert it, and write the result atomically.

    Parameters
    ----------
    input_path, output_path : str or path-like
        ``.tif``/``.tiff``, ``.npy`` or ``.npz`` files.
    to : {"labels", "onehot", "multihot", "atoms"}
        The encoding wanted.
    force : bool
        Overwrite ``output_path`` if it exists.
    **options
        ``source``, ``regions``, ``priority``, ``painting_order``, ``overlap``,
        ``num_classes``, ``names``, ``ignore_value``: see :func:`convert_array`.

    Returns
    -------
    ConvertResult
        What was written; ``summary()`` says it in one line.

    Raises
    ------
    FormatError
        For every user error; nothing is written then.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from napari_segreview.io.arrayfiles import write_array
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_array(folder / "labels.npy", np.array([[0, 1], [2, 1]], np.uint8))
    >>> res = convert_file(folder / "labels.npy", folder / "onehot.tif", to="onehot",
    ...                    names=["bg", "a", "b"])
    >>> res.shape, res.channel_names
    ((3, 2, 2), ('bg', 'a', 'b'))
    """
    input_path, output_path = Path(input_path), Path(output_path)
    file_suffix(output_path)
    if output_path.exists() and not force:
        raise FormatError(
            f"{output_path} already exists; choose another output or allow overwriting (--force)."
        )
    array, meta = read_array(input_path)
    prefix = f"cannot convert {input_path} to {to}: "
    try:
        out, out_meta, src = convert_array(array, meta, to=to, **options)
    except OverlapError as exc:
        raise OverlapError(prefix + str(exc), exc.report) from exc
    except FormatError as exc:
        raise FormatError(prefix + str(exc)) from exc
    write_array(output_path, out, out_meta, overwrite=force)
    n_atoms = None if out_meta.atom_table is None else len(out_meta.atom_table["atoms"])
    return ConvertResult(output_path, to, src, tuple(out.shape), out.dtype,
                         out_meta.channel_names, n_atoms)
