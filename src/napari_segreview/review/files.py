"""Masks on disk as a review set: files -> :class:`~.review.Channel` objects, and back.

What ``segreview check`` and ``segreview qa`` read: one multi-hot stack file,
or the files ``segreview predict`` writes (one per head of the model card: a
multi-hot stack per sigmoid head, a label map per softmax head), or their
folder. Each file becomes a :class:`MaskFile` with a *layout*:

* ``"stack"``: a multi-hot stack ``(C, [Z,] Y, X)``, one binary channel per row;
* ``"labels"``: a label map, one channel per class 1, 2, ... (0 is background,
  255 may mean *ignore*);
* ``"mask"``: one binary mask with no channel axis.

How a file is read, first rule that applies:

1. with a model card, a file named after a head (``whole.tif``, ``parts.npz``)
   is that head's decision: a label map for a softmax head, a stack (or one
   binary mask) for a sigmoid head, named by the card;
2. the file's segreview metadata (``kind``, ``channel_names``);
3. a file without metadata and with a channel axis more than the others is a
   stack; one of the others' shape is a binary mask named after the file
   (a label map when it holds values above 1); a single file alone is a stack
   when it has 3 or more axes.

:meth:`MaskFile.fixed` puts a fix's new masks back into the file's array.
Numbers are never computed here: checks, fixes and QA are in
:mod:`napari_segreview.review.checks` and :mod:`napari_segreview.review.qa`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import SUFFIXES, ArrayMeta, read_array
from napari_segreview.labels.formats import IGNORE
from napari_segreview.review.channels import Channel

__all__ = ["MaskFile", "mask_paths", "read_masks", "review_channels"]


@dataclass
class MaskFile:
    """One mask file read for a review.

    Attributes
    ----------
    path : Path
    data : ndarray
        The array as stored.
    layout : {"stack", "labels", "mask"}
    names : tuple of str
        Channel names: one per row of a stack, the one mask, or classes 1..K of
        a label map (background left out).
    meta : ArrayMeta
        The file's metadata, written back with a fixed array.
    head : str or None
        The model card's head this file holds.
    named : bool
        True when the names come from the file, the card or the user.
    """

    path: Path
    data: np.ndarray
    layout: str
    names: tuple[str, ...]
    meta: ArrayMeta
    head: str | None = None
    named: bool = True

    @property
    def spatial(self) -> tuple[int, ...]:
        """Spatial shape of the masks."""
        return tuple(self.data.shape[1:] if self.layout == "stack" else self.data.shape)

    @property
    def source(self) -> str:
        """Name of a label map's array in a review set (its file name)."""
        return self.path.name

    def channels(self) -> list[Channel]:
        """The file's channels (views of its array, nothing copied).

        Examples
        --------
        >>> lab = np.array([[0, 1, 2]], np.uint8)
        >>> f = MaskFile(Path("parts.tif"), lab, "labels", ("a", "b"), ArrayMeta())
        >>> f.channels()
        [Channel('a', class 1 of 'parts.tif', shape=(1, 3)), \
Channel('b', class 2 of 'parts.tif', shape=(1, 3))]
        """
        if self.layout == "stack":
            return [Channel(n, self.data[i]) for i, n in enumerate(self.names)]
        if self.layout == "mask":
            return [Channel(self.names[0], self.data)]
        return [Channel(n, self.data, k, source=self.source)
                for k, n in enumerate(self.names, start=1)]

    def fixed(self, masks: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """The file's array with a fix's new masks (``FixResult.masks``), or None if unchanged.

        Examples
        --------
        >>> stack = np.zeros((2, 1, 3), np.uint8)
        >>> f = MaskFile(Path("m.tif"), stack, "stack", ("a", "b"), ArrayMeta())
        >>> f.fixed({"b": np.ones((1, 3), np.uint8)})[:, 0].tolist()
        [[0, 0, 0], [1, 1, 1]]
        >>> f.fixed({"other": np.ones(3)}) is None
        True
        """
        if self.layout == "stack":
            rows = [i for i, n in enumerate(self.names) if n in masks]
            if not rows:
                return None
            out = self.data.copy()
            for i in rows:
                out[i] = masks[self.names[i]]
            return out
        key = self.names[0] if self.layout == "mask" else self.source
        return masks[key].astype(self.data.dtype, copy=False) if key in masks else None

    def out_meta(self) -> ArrayMeta:
        """Metadata to write with a fixed array: the file's own, with the names in use.

        Examples
        --------
        >>> f = MaskFile(Path("l.npy"), np.zeros(3, np.uint8), "labels", ("a", "b"),
        ...              ArrayMeta("labels", ("bg", "x", "y"), spacing=(2.0,)))
        >>> f.out_meta()
        ArrayMeta(kind='labels', channel_names=('bg', 'a', 'b'), atom_table=None, spacing=(2.0,))
        """
        if not self.named or self.layout == "mask":
            return self.meta
        old = self.meta.channel_names
        if self.layout == "stack":
            names, kind = self.names, "multihot"
        else:
            names, kind = ((old[0] if old else "background"), *self.names), "labels"
        if old == names:
            return self.meta
        return replace(self.meta, kind=self.meta.kind or kind, channel_names=names)


def _is_mask_file(p: Path) -> bool:
    if p.is_file() and not p.name.startswith(".") and p.suffix.lower() == ".dcm":
        from napari_segreview.io.dicomseg import is_dicom_seg

        return is_dicom_seg(p)          # a DICOM SEG: its segments are masks
    return (p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUFFIXES
            and not p.stem.endswith("_probabilities"))


def mask_paths(inputs: Sequence[str | os.PathLike], card: Any = None) -> list[Path]:
    """The mask files named by ``inputs``: files as given, folders expanded.

    A folder gives its ``.tif``/``.tiff``/``.npy``/``.npz`` files (hidden files
    and ``*_probabilities.*`` left out), sorted; with a card, only the files
    named after one of its heads, in the card's order.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for n in ("whole.tif", "parts.tif", "parts_probabilities.tif", "notes.txt"):
    ...     _ = (d / n).write_bytes(b"")
    >>> [p.name for p in mask_paths([d])]
    ['parts.tif', 'whole.tif']
    """
    heads = None if card is None else {h.name: i for i, h in enumerate(card.heads)}
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise FormatError(f"{p} does not exist; check the path and the current folder.")
        if not p.is_dir():
            out.append(p)
            continue
        found = sorted(f for f in p.iterdir() if _is_mask_file(f))
        if heads is not None:   # in the card's head order
            found = sorted((f for f in found if f.stem in heads), key=lambda f: heads[f.stem])
        if not found:
            what = (f"no file named after the card's heads ({', '.join(sorted(heads))})"
                    if heads is not None else "no mask files (.tif, .tiff, .npy, .npz)")
            raise FormatError(f"the folder {p} holds {what}; give the folder segreview "
                              "predict wrote, or the mask files themselves.")
        out += found
    names = [p.name for p in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FormatError(f"two inputs are called {dup[0]}; give files with different names.")
    return out


def _class_names(data: np.ndarray, stem: str) -> tuple[str, ...]:
    top = int(data[data != IGNORE].max(initial=0))
    return tuple(f"{stem}_{k}" for k in range(1, top + 1))


def _head_file(path: Path, data: np.ndarray, meta: ArrayMeta, head: Any) -> MaskFile | None:
    names = tuple(meta.channel_names) if meta.channel_names else None
    if head.kind == "softmax":
        if meta.kind not in (None, "labels"):
            raise FormatError(
                f"{path} holds a {meta.kind} stack, but the card's head {head.name!r} is "
                "softmax, whose decision is a label map; convert it first: segreview convert "
                f"{path.name} -o {head.name}_labels{path.suffix} --to labels.")
        if names is not None and names != head.channels:
            raise FormatError(
                f"{path} names its classes {', '.join(names)}, but the card's head "
                f"{head.name!r} has {', '.join(head.channels)}; give the card these masks "
                "were made with.")
        return MaskFile(path, data, "labels", head.channels[1:], meta, head.name)
    if meta.kind in ("labels", "atoms"):
        raise FormatError(
            f"{path} holds a {meta.kind} map, but the card's head {head.name!r} is sigmoid, "
            "whose decision is a multi-hot stack; convert it first: segreview convert "
            f"{path.name} -o {head.name}_stack{path.suffix} --to multihot.")
    n = len(head.channels)
    if meta.kind is None and n == 1:
        return None          # one mask, with or without a channel axis: see _head_mask
    if data.ndim < 2 or data.shape[0] != n:
        have = data.shape[0] if data.ndim >= 2 else 0
        raise FormatError(
            f"{path} holds {have} channels, but the card's head {head.name!r} has {n} "
            f"({', '.join(head.channels)}); give the card these masks were made with.")
    if names is not None and names != head.channels:
        raise FormatError(
            f"{path} names its channels {', '.join(names)}, but the card's head "
            f"{head.name!r} has {', '.join(head.channels)}; give the card these masks "
            "were made with.")
    return MaskFile(path, data, "stack", head.channels, meta, head.name)


def _head_mask(path: Path, data: np.ndarray, meta: ArrayMeta, head: Any,
               spatial: tuple[int, ...]) -> MaskFile:
    """A one-channel sigmoid head's file without metadata, read against the spatial shape."""
    if data.shape == spatial:
        return MaskFile(path, data, "mask", head.channels, meta, head.name)
    if data.shape == (1, *spatial):
        return MaskFile(path, data, "stack", head.channels, meta, head.name)
    raise FormatError(
        f"{path} has shape {data.shape}, but the card's head {head.name!r} is one mask of "
        f"shape {spatial} like the other masks; review masks of one image.")


def _known_file(path: Path, data: np.ndarray, meta: ArrayMeta) -> MaskFile | None:
    names = tuple(meta.channel_names) if meta.channel_names else None
    if meta.kind == "atoms":
        raise FormatError(
            f"{path} is an atom map; convert it to a multi-hot stack first: segreview convert "
            f"{path.name} -o {path.stem}_stack{path.suffix} --to multihot.")
    if meta.kind == "labels":
        if names is not None:
            return MaskFile(path, data, "labels", names[1:], meta)
        return MaskFile(path, data, "labels", _class_names(data, path.stem), meta, named=False)
    if meta.kind in ("multihot", "onehot"):
        if data.ndim < 2:
            raise FormatError(f"{path} is marked {meta.kind} but has shape {data.shape}; a "
                              "stack is shaped (C, [Z,] Y, X).")
        if names is not None:
            return MaskFile(path, data, "stack", names, meta)
        return MaskFile(path, data, "stack", tuple(f"ch{i}" for i in range(len(data))), meta,
                        named=False)
    return None


def _plain_file(path: Path, data: np.ndarray, meta: ArrayMeta,
                spatial: tuple[int, ...]) -> MaskFile:
    """A file without metadata, read against the spatial shape of the review."""
    if data.ndim == len(spatial) + 1 and data.shape[1:] == spatial:
        return MaskFile(path, data, "stack", tuple(f"ch{i}" for i in range(len(data))), meta,
                        named=False)
    if data.shape != spatial:
        raise FormatError(
            f"{path} has shape {data.shape}, which fits neither masks of shape {spatial} nor "
            f"a stack of them; review masks of one image.")
    if int(data.max(initial=0)) > 1:
        return MaskFile(path, data, "labels", _class_names(data, path.stem), meta, named=False)
    return MaskFile(path, data, "mask", (path.stem,), meta, named=False)


def _plain_spatial(plain: Sequence[tuple[Path, np.ndarray, ArrayMeta]],
                   names: Sequence[str] | None) -> tuple[int, ...]:
    """The spatial shape when no file has metadata."""
    shapes = {d.shape for _, d, _ in plain}
    if len(shapes) > 1:
        raise FormatError(
            "the files have no segreview metadata and different shapes "
            f"({', '.join(str(s) for s in sorted(shapes))}), so which axis holds the "
            "channels is unclear; give masks of one image, or a model card.")
    shape = shapes.pop()
    if len(plain) > 1:
        return shape                              # several masks of one image
    if (names is not None and len(shape) >= 2 and len(names) == shape[0]
            and (shape[0] != 1 or len(shape) >= 4)):
        return shape[1:]                          # one stack, a name per channel
    if (names is not None and len(names) == 1) or len(shape) < 3:
        return shape                              # one mask (or label map)
    return shape[1:]                              # one stack (C, [Z,] Y, X)


def read_masks(inputs: Sequence[str | os.PathLike], *, card: Any = None,
               names: Sequence[str] | None = None) -> list[MaskFile]:
    """Read mask files (or folders of them) for a review.

    Parameters
    ----------
    inputs : sequence of path-like
        Files and folders (see :func:`mask_paths`).
    card : ModelCard, optional
        Files named after its heads are read as those heads' decisions.
    names : sequence of str, optional
        Channel names, in file order (a label map's classes 1, 2, ...); not for
        files named after a card's head.

    Returns
    -------
    list of MaskFile

    Raises
    ------
    FormatError
        Missing or unreadable files, float data, masks of different shapes,
        files that disagree with the card, wrong or repeated names.

    Examples
    --------
    >>> import tempfile
    >>> from napari_segreview.io.arrayfiles import write_array
    >>> d = Path(tempfile.mkdtemp())
    >>> write_array(d / "masks.tif", np.zeros((2, 3, 4, 4), np.uint8))
    >>> [(f.layout, f.names) for f in read_masks([d / "masks.tif"], names=["a", "b"])]
    [('stack', ('a', 'b'))]
    """
    heads = {} if card is None else {h.name: h for h in card.heads}
    read = []
    for p in mask_paths(inputs, card):
        if p.stem.endswith("_probabilities"):
            raise FormatError(
                f"{p} holds probabilities (segreview predict --probabilities), not masks; give "
                "the decided masks (<head>.tif beside it).")
        data, meta = read_array(p)
        if data.dtype.kind == "f":
            raise FormatError(
                f"{p} holds {data.dtype} values, not masks; give the decided masks (segreview "
                "predict writes them as <head>.tif; *_probabilities files are not masks).")
        read.append((p, data, meta))
    files: list[MaskFile | None] = []
    pending: dict[int, Any] = {}          # one-mask sigmoid heads, shape still to settle
    for i, (p, data, meta) in enumerate(read):
        head = heads.get(p.stem)
        f = _head_file(p, data, meta, head) if head is not None else _known_file(p, data, meta)
        if f is None and head is not None:
            pending[i] = head
        files.append(f)
    spatial = _common_spatial([f for f in files if f is not None])
    plain = [r for r, f in zip(read, files, strict=True) if f is None]
    if spatial is None and plain:
        hint = names
        if len(plain) == 1 and pending:
            hint = next(iter(pending.values())).channels
        spatial = _plain_spatial(plain, hint)
    out = []
    for i, ((p, d, m), f) in enumerate(zip(read, files, strict=True)):
        if f is None:
            f = (_head_mask(p, d, m, pending[i], spatial) if i in pending
                 else _plain_file(p, d, m, spatial))
        out.append(f)
    _common_spatial(out)
    if names is not None:
        _rename(out, tuple(names))
    seen: dict[str, Path] = {}
    for f in out:
        for n in f.names:
            if n in seen:
                raise FormatError(
                    f"two channels are called {n!r} (in {seen[n].name} and {f.path.name}); "
                    "give every channel its own name (--names).")
            seen[n] = f.path
    return out


def _common_spatial(files: Sequence[MaskFile]) -> tuple[int, ...] | None:
    if not files:
        return None
    first = files[0]
    for f in files[1:]:
        if f.spatial != first.spatial:
            raise FormatError(
                f"{first.path.name} holds masks of shape {first.spatial} but {f.path.name} of "
                f"shape {f.spatial}; review masks of one image.")
    return first.spatial


def _rename(files: list[MaskFile], names: tuple[str, ...]) -> None:
    if any(f.head is not None for f in files):
        raise FormatError("the card names the channels of files named after its heads; "
                          "leave out --names.")
    if len(files) == 1 and files[0].layout == "labels":
        files[0].names, files[0].named = names, True
        return
    total = sum(len(f.names) for f in files)
    if len(names) != total:
        have = ", ".join(f"{f.path.name}: {len(f.names)}" for f in files)
        raise FormatError(f"{len(names)} names were given for {total} channels ({have}); "
                          "give exactly one name per channel.")
    start = 0
    for f in files:
        f.names, f.named = names[start:start + len(f.names)], True
        start += len(f.names)


def review_channels(files: Sequence[MaskFile]) -> list[Channel]:
    """All channels of the files, in order.

    Examples
    --------
    >>> f = MaskFile(Path("m.tif"), np.zeros((2, 3, 3), np.uint8), "stack", ("a", "b"),
    ...              ArrayMeta())
    >>> [c.name for c in review_channels([f])]
    ['a', 'b']
    """
    return [c for f in files for c in f.channels()]
