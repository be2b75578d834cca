"""What SegReview writes into ``layer.metadata["segreview"]``: one contract for every widget.

Every layer SegReview creates carries a plain dict under the ``"segreview"``
key of its metadata. Widgets find their layers through it (never through layer
names, which the user may edit), sessions save and restore it, and exports read
it. Keys:

``kind``
    What the layer is: one of :data:`KINDS`.
``image``
    Name of the image layer the layer was computed from (probability and
    decision layers), so a re-run on the same image finds and replaces them.
``run``
    An id shared by every layer of one Predict run (model path + image name).
    Layers read back from an export get a run of their own,
    ``"export:<export folder>::<case>"``, and the read-back image's name as
    ``image``, so they never join the live run they were exported from.
``head``, ``head_kind``
    The card head the layer belongs to and its kind (``"sigmoid"`` or
    ``"softmax"``).
``channel``
    The channel name for one-channel layers (a probability, a sigmoid
    decision, a binary mask); ``None`` for a softmax head's label map.
``classes``
    Class names of a label-map layer (value ``i`` is ``classes[i]``).
``card``
    The model card as a dict (:meth:`ModelCard.to_dict`), on decision layers.
``model``
    The model file, as a string, on decision layers.
``channels``
    On an overlap layer (Review widget): the channel names it counts; its
    value is the number of those channels on at a voxel (0 where fewer than 2).
``atom_table``
    On an atom map made by the Convert widget (kind ``"atoms"``): the
    :class:`~napari_segreview.labels.atoms.AtomTable` as a dict
    (:meth:`AtomTable.to_dict`), which maps each atom value back to the
    channels it stands for.
``prediction``
    On decision layers: a read-only copy of the model's decision as it came
    out of the model, so corrections can be compared with it (QA) and
    exported. It is a numpy array, so it is not JSON: sessions store it as an
    array file, and :func:`json_meta` drops it.
``superseded``
    ``True`` on a decision layer the user had edited when the same image and
    model were run again: Predict keeps it under a new name (``"... (edited)"``)
    instead of removing it, and no longer treats it as part of its run.
``session``
    On layers saved in a review session: ``{"folder": str, "layer": id}``, the
    session folder and the layer's id there (set by the Review session panel).
    It binds a layer to this window only: :func:`json_meta` drops it, so
    neither sessions nor exports store it.
``units``, ``source``, ``format``, ``spacing_unit``
    On image layers opened by the reader (:mod:`napari_segreview.io.read`): the
    values' units (``"HU"`` for rescaled CT; the CT phantom sets it too), the
    path opened, the reader's format (``"dicom"``, ``"nifti"``, ``"tiff"``,
    ``"slices"``, ``"picture"``, ``"array"``) and the unit of the layer's scale
    (``"mm"``, ``"µm"``). Keys are absent when unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

KEY = "segreview"
#: Layer kinds: the CT/image input, one channel's probability, a decision
#: (editable Labels: a sigmoid channel's binary mask or a softmax head's label
#: map), a mask from elsewhere (ground truth, a reader), the overlap view, a
#: label map made by the Convert widget, an atom map.
KINDS = ("image", "probability", "decision", "mask", "overlap", "labels", "atoms")
#: Keys whose values are arrays and never go into JSON.
ARRAY_KEYS = ("prediction",)
#: Keys that bind a layer to this napari window (a live review session): never saved.
LIVE_KEYS = ("session",)


def meta(layer: Any) -> dict[str, Any]:
    """Return the layer's SegReview metadata (an empty dict for foreign layers).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> meta(SimpleNamespace(metadata={"segreview": {"kind": "decision"}}))
    {'kind': 'decision'}
    >>> meta(SimpleNamespace(metadata={}))
    {}
    """
    md = getattr(layer, "metadata", None) or {}
    value = md.get(KEY)
    return value if isinstance(value, dict) else {}


def layers_of(layers: Iterable[Any], **match: Any) -> Iterator[Any]:
    """Yield the layers whose SegReview metadata has every ``key=value`` in ``match``.

    Examples
    --------
    >>> from types import SimpleNamespace as L
    >>> ls = [L(name="a", metadata={"segreview": {"kind": "decision", "head": "parts"}}),
    ...       L(name="b", metadata={"segreview": {"kind": "probability", "head": "parts"}}),
    ...       L(name="c", metadata={})]
    >>> [x.name for x in layers_of(ls, head="parts")]
    ['a', 'b']
    >>> [x.name for x in layers_of(ls, kind="decision")]
    ['a']
    """
    for layer in layers:
        m = meta(layer)
        if m and all(m.get(k) == v for k, v in match.items()):
            yield layer


def json_meta(m: dict[str, Any]) -> dict[str, Any]:
    """Return ``m`` as it is saved (sessions, exports): no arrays, no live session binding.

    Examples
    --------
    >>> import numpy as np
    >>> json_meta({"kind": "decision", "prediction": np.zeros(3),
    ...            "session": {"folder": "scan.segreview", "layer": "l1"}})
    {'kind': 'decision'}
    """
    return {k: v for k, v in m.items() if k not in ARRAY_KEYS + LIVE_KEYS}
