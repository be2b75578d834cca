"""What a mask layer holds, read from its SegReview metadata: a label map or one binary mask.

Pure functions on ``layer.metadata["segreview"]`` (:mod:`._meta`), no napari:
the Convert, Review and Export panels all decide here whether a Labels layer
is a label map (one channel per class ``k >= 1``) or a binary mask (one
channel, non-zero is on), and what its channels are called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["channel_name", "class_features", "is_label_map", "mask_channels"]


def class_features(classes: Sequence[str]) -> dict[str, list]:
    """A label map layer's ``features``: value ``k`` is class ``classes[k]`` (the hover text).

    Examples
    --------
    >>> class_features(["background", "bone"])
    {'index': [0, 1], 'class': ['background', 'bone']}
    """
    return {"index": list(range(len(classes))), "class": list(classes)}


def is_label_map(m: Mapping[str, Any]) -> bool:
    """Whether metadata ``m`` describes a label map: it lists ``classes`` and no ``channel``.

    A softmax head's decision layer, a label map made by Convert or read back
    from an export is one; a sigmoid channel's decision or a mask is not.

    Examples
    --------
    >>> is_label_map({"kind": "decision", "channel": None, "classes": ["background", "bone"]})
    True
    >>> is_label_map({"kind": "decision", "channel": "whole"}), is_label_map({})
    (False, False)
    """
    return bool(m.get("classes")) and m.get("channel") is None


def channel_name(m: Mapping[str, Any], layer_name: str) -> str:
    """The channel a binary mask layer holds: its metadata ``channel``, else its name.

    ``"part_1 (ground truth)"`` with ``channel: part_1`` holds ``part_1``, as
    Export and the sample name them.

    Examples
    --------
    >>> channel_name({"kind": "mask", "channel": "part_1"}, "part_1 (ground truth)")
    'part_1'
    >>> channel_name({}, "my mask")
    'my mask'
    """
    return str(m.get("channel") or layer_name)


def mask_channels(m: Mapping[str, Any], binary_name: str) -> list[tuple[str, int | None]]:
    """``(channel name, value)`` per channel of a mask layer with metadata ``m``.

    A label map's class ``k >= 1`` is ``(classes[k], k)`` (voxels equal to
    ``k``); any other layer is one binary channel ``(binary_name, None)``
    (non-zero voxels).

    Examples
    --------
    >>> mask_channels({"classes": ["background", "part_1", "part_2"]}, "parts")
    [('part_1', 1), ('part_2', 2)]
    >>> mask_channels({"channel": "whole"}, "whole")
    [('whole', None)]
    """
    if is_label_map(m):
        return [(str(c), k) for k, c in enumerate(m["classes"]) if k]
    return [(binary_name, None)]
