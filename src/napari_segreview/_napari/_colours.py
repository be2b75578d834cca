"""One colour per channel name, wherever a mask of that channel is shown.

A prediction, the sample's ground truth, an export read back and a restored
session all colour a channel by :func:`channel_color`, which depends on the
channel's *name* only: ``part_1`` is the same red in every layer and every run.

Overlapping masks blend (a Labels layer is drawn translucent over the ones
below), so the colours are chosen to stay readable when they mix:

* the well-known names of the bone phantom get fixed entries: the parent
  ``whole`` is a blue, its children ``part_1..3`` red, yellow and green, so a
  child drawn over its parent keeps its own hue (yellow over magenta would
  read as orange, a colour no channel has);
* ``background`` is grey; the example cards' organs have fixed entries too;
* numbered siblings (``label_1``, ``label_2``..., ``structure_3``) take
  :data:`PALETTE` in order (sibling ``k`` its ``k``-th entry): a curated list
  whose first entries are the most distinct and in which neighbours differ;
* any other name takes a colour from :data:`PALETTE` picked by a stable hash
  of the name (not Python's per-process ``hash``), so it is the same in
  every session.

Pure functions: no napari or Qt import.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

__all__ = [
    "BACKGROUND",
    "FIXED",
    "PALETTE",
    "UNKNOWN",
    "blend",
    "channel_color",
    "label_colormap",
    "mask_colormap",
]

#: Well-separated colours (after Trubetskoy's "20 simple, distinct colours"),
#: for channel names without a fixed entry.
PALETTE = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4",
    "#42d4f4", "#f032e6", "#bfef45", "#fabed4", "#469990", "#dcbeff",
    "#9a6324", "#800000", "#aaffc3", "#808000",
)
#: Colour of a softmax head's background channel.
BACKGROUND = "#808080"
#: Colour of label values a layer does not know (painted by hand, e.g. 255).
UNKNOWN = "#ffffff"
#: Names with a fixed colour: a parent (``whole``) and children that stay
#: distinct when drawn over it.
FIXED = {
    "background": BACKGROUND,
    "whole": "#4363d8",
    "whole_bone": "#4363d8",
    "part_1": "#e6194b",
    "part_2": "#ffe119",
    "part_3": "#3cb44b",
    "liver": "#f58231",
    "spleen": "#911eb4",
    "kidney": "#42d4f4",
}
_NUMBERED = re.compile(r"^(.*?)_?(\d+)$")


def _stable(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def channel_color(name: str) -> str:
    """The colour (``"#rrggbb"``) of channel ``name``, from the name alone.

    Examples
    --------
    >>> channel_color("whole"), channel_color("part_1"), channel_color("background")
    ('#4363d8', '#e6194b', '#808080')
    >>> channel_color("tumour") == channel_color("tumour") and channel_color("tumour") in PALETTE
    True
    >>> channel_color("label_1"), channel_color("label_2"), channel_color("structure_2")
    ('#e6194b', '#3cb44b', '#3cb44b')
    """
    fixed = FIXED.get(name)
    if fixed is not None:
        return fixed
    numbered = _NUMBERED.match(name)
    if numbered and numbered.group(1):
        return PALETTE[(int(numbered.group(2)) - 1) % len(PALETTE)]
    return PALETTE[_stable(name) % len(PALETTE)]


def mask_colormap(name: str) -> dict[Any, str]:
    """A Labels colormap for a binary mask (0/1) of channel ``name``.

    Examples
    --------
    >>> mask_colormap("part_2")
    {0: 'transparent', 1: '#ffe119', None: '#ffffff'}
    """
    return {0: "transparent", 1: channel_color(name), None: UNKNOWN}


def label_colormap(classes: Sequence[str]) -> dict[Any, str]:
    """A Labels colormap for a label map whose value ``k`` is ``classes[k]``.

    Value 0 (the background) is transparent; values the map does not name
    are :data:`UNKNOWN`.

    Examples
    --------
    >>> label_colormap(["background", "part_1", "part_3"])
    {0: 'transparent', None: '#ffffff', 1: '#e6194b', 2: '#3cb44b'}
    """
    cmap: dict[Any, str] = {0: "transparent", None: UNKNOWN}
    cmap.update({k: channel_color(c) for k, c in enumerate(classes) if k > 0})
    return cmap


def blend(top: str, bottom: str, alpha: float) -> str:
    """``top`` drawn with opacity ``alpha`` over ``bottom`` (how translucent layers mix).

    Examples
    --------
    >>> blend("#ff0000", "#0000ff", 0.5)
    '#800080'

    A child of the phantom drawn over ``whole`` keeps its own hue: it stays
    nearer its own colour than any sibling's.

    >>> import colorsys
    >>> def hue(c):
    ...     return colorsys.rgb_to_hsv(*(int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)))[0]
    >>> def nearest(c, names):
    ...     d = {n: min(abs(hue(c) - hue(channel_color(n))),
    ...                 1 - abs(hue(c) - hue(channel_color(n)))) for n in names}
    ...     return min(d, key=d.get)
    >>> parts = ["part_1", "part_2", "part_3"]
    >>> [nearest(blend(channel_color(p), channel_color("whole"), 0.6), parts) for p in parts]
    ['part_1', 'part_2', 'part_3']
    """
    t = [int(top[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(bottom[i:i + 2], 16) for i in (1, 3, 5)]
    mix = [round(alpha * x + (1 - alpha) * y) for x, y in zip(t, b, strict=True)]
    return "#" + "".join(f"{v:02x}" for v in mix)
