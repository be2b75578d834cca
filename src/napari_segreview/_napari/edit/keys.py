"""The Edit panel's key bindings, the magic wand's mouse hook, and where the viewer is.

Key bindings live on the viewer (``viewer.bind_key``) while the panel is
open: :data:`KEYS`. The magic wand is a mouse callback on the edited layer
(:func:`wand_on`); it switches the layer to pan/zoom so napari's brush does
not paint the same click.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import numpy as np

from napari_segreview.errors import FormatError

__all__ = ["KEYS", "bind", "cursor_point", "parse_slices", "slice_axis", "unbind", "wand_on"]

#: Key -> (what it does, how the panel does it).
KEYS = {
    "Shift-I": "intensity-limited painting on/off",
    "Shift-H": "hierarchy-aware painting on/off",
    "Shift-W": "magic wand on/off",
    "Shift-P": "run or preview the chosen effect",
    "Shift-A": "apply the preview",
    "Shift-C": "cancel the preview",
}


def _actions(panel: Any) -> dict[str, Any]:
    p = panel.paint
    return {
        "Shift-I": lambda: p.limit.toggle(),
        "Shift-H": lambda: p.hierarchy.toggle(),
        "Shift-W": lambda: p.wand.toggle(),
        "Shift-P": panel.run_effect,
        "Shift-A": panel.apply_preview,
        "Shift-C": panel.cancel_preview,
    }


def bind(viewer: Any, panel: Any) -> list[str]:
    """Bind :data:`KEYS` on ``viewer`` to ``panel``; returns the keys bound."""
    bound = []
    for key, action in _actions(panel).items():
        def handler(_viewer: Any, action: Any = action) -> None:
            with contextlib.suppress(RuntimeError):   # the panel was closed
                action()
        try:
            viewer.bind_key(key, handler, overwrite=True)
        except (TypeError, ValueError):
            continue
        bound.append(key)
    return bound


def unbind(viewer: Any, bound: list[str]) -> None:
    """Remove the bindings :func:`bind` made."""
    for key in bound:
        with contextlib.suppress(TypeError, ValueError, KeyError):
            viewer.bind_key(key, None, overwrite=True)


def wand_on(panel: Any, on: bool) -> None:
    """Hook (or unhook) the magic wand's click on the panel's target layer."""
    old = getattr(panel, "_wand_layer", None)
    cb = getattr(panel, "_wand_cb", None)
    if old is not None and cb is not None:
        with contextlib.suppress(ValueError):
            old.mouse_drag_callbacks.remove(cb)
    panel._wand_layer = None
    layer = panel.target if on else None
    if layer is None:
        return

    def click(layer: Any, event: Any) -> None:
        if getattr(event, "type", "mouse_press") != "mouse_press":
            return
        panel.wand_at(tuple(layer.world_to_data(event.position)))

    panel._wand_cb = click
    panel._wand_layer = layer
    layer.mouse_drag_callbacks.append(click)
    layer.mode = "pan_zoom"


def slice_axis(viewer: Any, layer: Any) -> tuple[int, int]:
    """The layer's axis the viewer slices through (the first not displayed) and its index."""
    nd = layer.ndim
    if nd < 3:
        return 0, 0
    offset = viewer.dims.ndim - nd
    hidden = [a - offset for a in viewer.dims.not_displayed if a >= offset]
    axis = hidden[-1] if hidden else 0
    world = list(viewer.dims.point)[offset:]
    point = np.asarray(layer.world_to_data(world))
    index = int(np.clip(np.round(point[axis]), 0, layer.data.shape[axis] - 1))
    return axis, index


def cursor_point(viewer: Any, layer: Any) -> tuple[int, ...]:
    """The voxel under the cursor, in the layer's data coordinates."""
    pos = np.asarray(layer.world_to_data(viewer.cursor.position[-layer.ndim:]))
    return tuple(int(v) for v in np.clip(np.round(pos), 0, np.asarray(layer.data.shape) - 1))


def parse_slices(text: str) -> list[int] | None:
    """Key slices typed as ``3, 9, 15`` or ``3-6, 9`` (None when empty).

    Examples
    --------
    >>> parse_slices("3, 9 15"), parse_slices("2-4, 8"), parse_slices("  ")
    ([3, 9, 15], [2, 3, 4, 8], None)
    """
    text = text.strip()
    if not text:
        return None
    out: list[int] = []
    for part in re.split(r"[,\s]+", text):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if m is None:
            raise FormatError(f"the key slices {text!r} are not slice numbers: type e.g. "
                              "'3, 9, 15' or '3-6'.")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        out += list(range(min(a, b), max(a, b) + 1))
    return sorted(set(out))
