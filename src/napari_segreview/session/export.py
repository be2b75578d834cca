"""A session's layers as files: a head's layers as the file ``segreview predict`` writes.

What ``segreview session export`` writes, decided here (numpy only):

- the decision layers of one Predict run and head (their SegReview metadata
  holds ``head`` and ``head_kind``) become one file, ``<head>.<format>``, made
  by :func:`napari_segreview.io.results.head_file`: a sigmoid head's
  one-channel layers one multi-hot stack (channels in the card's order), a
  softmax head's label map a label map with its classes. ``check``, ``qa``
  and ``export`` then read it as they read predict's file;
- the probability layers of one run and head (kind ``"probability"``) become
  ``<head>_probabilities.<format>``, as ``segreview predict --probabilities``
  writes it (:func:`~napari_segreview.io.results.probabilities_file`);
- every other layer (a mask, a label map or atoms made by Convert, a
  superseded ``(edited)`` copy, a layer without metadata) becomes a file of
  its own named after the layer: a label map with its class names (a binary
  mask of a named channel names value 1), or atoms with their table.

Voxel spacing comes from the layers' scale. File names never clash: a second
file of one name gets its first layer's id (``bone-1a2b3c4d.tif``).

Examples
--------
>>> import tempfile, pathlib
>>> import numpy as np
>>> from napari_segreview.session.session import Session
>>> s = Session.create(pathlib.Path(tempfile.mkdtemp()) / "ct.segreview")
>>> sig = {"kind": "decision", "head": "whole", "head_kind": "sigmoid", "run": "r"}
>>> _ = s.add_layer("whole", np.ones((2, 3), np.uint8), metadata={**sig, "channel": "whole"})
>>> _ = s.add_layer("notes", np.zeros((2, 3), np.uint8))
>>> [(f.file_name("tif"), f.head) for f in export_files(s)]
[('whole.tif', 'whole'), ('notes.tif', None)]
>>> data, meta = read_export_file(s, export_files(s)[0])
>>> data.shape, meta.kind, meta.channel_names
((1, 2, 3), 'multihot', ('whole',))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_segreview.io.arrayfiles import ArrayMeta
from napari_segreview.io.results import (
    HEAD_KINDS,
    PROBABILITIES,
    head_file,
    head_file_name,
    probabilities_file,
)
from napari_segreview.session.format import LayerRecord

__all__ = ["ExportFile", "export_files", "file_stem", "read_export_file"]


@dataclass(frozen=True)
class ExportFile:
    """One file of a session export.

    Attributes
    ----------
    stem : str
        The file name without its suffix.
    layers : tuple of LayerRecord
        The layers it holds: a head's (one per sigmoid channel, in file order)
        or a single layer.
    head : str or None
        The card head it holds, or None for a single layer's file.
    head_kind : str or None
        ``"sigmoid"`` or ``"softmax"`` for a head's file.
    channels : tuple of str
        A head's file: the channel (sigmoid) or class (softmax) names.
    probabilities : bool
        True for a head's probabilities (one layer per channel).
    """

    stem: str
    layers: tuple[LayerRecord, ...]
    head: str | None = None
    head_kind: str | None = None
    channels: tuple[str, ...] = ()
    probabilities: bool = False

    def file_name(self, fmt: str) -> str:
        """The file's name in format ``fmt`` (``"tif"``, ``"npz"``, ``"npy"``)."""
        return head_file_name(self.stem, fmt)


def file_stem(name: str) -> str:
    """A layer name as a file name: anything but letters, digits, ``._-`` becomes ``_``.

    Examples
    --------
    >>> file_stem("parts (labels)"), file_stem("..")
    ('parts_labels', 'layer')
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "layer"


def _head_of(rec: LayerRecord) -> tuple[bool, Any, str, str] | None:
    """``(probabilities, run, head, head_kind)`` of a layer that belongs to a head's file."""
    m = rec.metadata
    if (m.get("kind") not in ("decision", "probability") or m.get("superseded")
            or not m.get("head") or m.get("head_kind") not in HEAD_KINDS):
        return None
    prob = m["kind"] == "probability"
    if (prob or m["head_kind"] == "sigmoid") and not isinstance(m.get("channel"), str):
        return None
    return prob, m.get("run"), str(m["head"]), str(m["head_kind"])


def _card_channels(rec: LayerRecord, card: dict | None, head: str) -> tuple[str, ...] | None:
    for c in (rec.metadata.get("card"), card):
        for h in (c or {}).get("heads", []) or []:
            if isinstance(h, dict) and h.get("name") == head and h.get("channels"):
                return tuple(str(x) for x in h["channels"])
    return None


def _groups(records: list[LayerRecord], card: dict | None) -> list[ExportFile]:
    """Head files and single-layer files, in the order of their first layer."""
    heads: dict[tuple, list[LayerRecord]] = {}
    order: list[tuple | LayerRecord] = []
    for rec in records:
        key = _head_of(rec)
        if key is None:
            order.append(rec)
            continue
        group = heads.setdefault(key, [])
        taken = {r.metadata.get("channel") for r in group}
        one_layer = key[3] == "softmax" and not key[0]       # a softmax head's label map
        if group and (one_layer or rec.metadata.get("channel") in taken):
            order.append(rec)              # a second layer of one channel: a file of its own
            continue
        if not group:
            order.append(key)
        group.append(rec)
    out = []
    for item in order:
        if not isinstance(item, tuple):
            out.append(ExportFile(file_stem(item.name), (item,)))
            continue
        prob, _, head, kind = item
        group = heads[item]
        known = _card_channels(group[0], card, head)
        if kind == "softmax" and not prob:
            classes = group[0].metadata.get("classes") or known or ()
            out.append(ExportFile(file_stem(head), tuple(group), head, kind,
                                  tuple(str(c) for c in classes)))
            continue
        rank = {c: i for i, c in enumerate(known or ())}
        group = sorted(group, key=lambda r: rank.get(r.metadata["channel"], len(rank)))
        stem = file_stem(head) + (PROBABILITIES if prob else "")
        out.append(ExportFile(stem, tuple(group), head, kind,
                              tuple(r.metadata["channel"] for r in group), prob))
    return out


def export_files(session: Any, include_removed: bool = False) -> list[ExportFile]:
    """Every file a session export writes, names made unique.

    Parameters
    ----------
    session : Session
    include_removed : bool
        Also export layers that were removed from the viewer.
    """
    records = [r for r in session.layers if include_removed or not r.removed]
    files = _groups(records, session.card)
    taken: set[str] = set()
    out = []
    for f in files:
        if f.stem in taken:
            f = ExportFile(f"{f.stem}-{f.layers[0].id}", f.layers, f.head, f.head_kind,
                           f.channels, f.probabilities)
        taken.add(f.stem)
        out.append(f)
    return out


def _spacing(rec: LayerRecord) -> tuple[float, ...] | None:
    return tuple(float(s) for s in rec.scale) if rec.scale else None


def read_export_file(session: Any, f: ExportFile) -> tuple[np.ndarray, ArrayMeta]:
    """The array and metadata of one export file, read from the session."""
    first = f.layers[0]
    if f.probabilities:
        return probabilities_file(f.channels, [session.read_layer(r.id) for r in f.layers],
                                  _spacing(first))
    if f.head is not None:
        if f.head_kind == "softmax":
            masks: Any = session.read_layer(first.id)
        else:
            masks = [session.read_layer(r.id) for r in f.layers]
        return head_file(f.head_kind, f.channels, masks, _spacing(first))
    m = first.metadata
    data = session.read_layer(first.id)
    if data.dtype.kind == "f":                      # an image (a probability), not labels
        return data, ArrayMeta(spacing=_spacing(first))
    if m.get("kind") == "atoms":
        classes = m.get("classes")
        return data, ArrayMeta("atoms", tuple(classes) if classes else None,
                               m.get("atom_table"), _spacing(first))
    classes = m.get("classes")
    if not classes and isinstance(m.get("channel"), str) and int(data.max(initial=0)) <= 1:
        classes = ["background", m["channel"]]      # a binary mask of a named channel
    return data, ArrayMeta("labels", tuple(classes) if classes else None,
                           spacing=_spacing(first))
