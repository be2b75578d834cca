"""What the Edit panel's effect controls ask for, as an :class:`~.effects.EffectRequest`.

Reads the :class:`~.form.EffectBox`, the edited layer (a snapshot of its data,
its spacing, whether it is a label map) and where the viewer is (the slice
for "this slice", the cursor for "keep the island under the cursor"), and
turns a bad choice into one sentence (:class:`~napari_segreview.errors.FormatError`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_segreview._napari.edit import keys
from napari_segreview._napari.edit.effects import EffectRequest, layer_is_label_map
from napari_segreview.errors import FormatError

__all__ = ["build_request"]


def build_request(viewer: Any, t: Any, box: Any) -> EffectRequest:
    """The request for layer ``t`` from the controls of ``box`` (an ``EffectBox``)."""
    if t is None:
        raise FormatError("select the Labels layer to edit first.")
    e = box
    effect, where = e.current(), e.where.currentData()
    data = np.array(t.data)
    axis, index = keys.slice_axis(viewer, t)
    if data.ndim < 3 and where != "volume":
        where = "volume"
    label_map = layer_is_label_map(t)
    params: dict[str, Any] = {}
    if effect in ("keep-largest", "remove-small", "keep-at", "split"):
        params["connectivity"] = e.connectivity.currentData()
    if effect == "remove-small":
        if e.mm3.value() > 0:
            params["mm3"] = e.mm3.value()
        else:
            params["voxels"] = e.voxels.value()
    elif effect == "keep-at":
        params["point"] = keys.cursor_point(viewer, t)
    elif effect == "fill-holes":
        params["per_slice"] = e.per_slice.isChecked()
    elif effect == "smooth":
        params.update(method=e.method.currentText(), mm=e.mm.value())
        if label_map and params["method"] != "gaussian":
            raise FormatError(f"{t.name} is a label map, smoothed jointly (a Gaussian vote) so "
                              "that it stays a partition; choose the method gaussian.")
    elif effect in ("grow", "shrink"):
        params["mm"] = e.mm.value()
    elif effect == "interpolate":
        params["key_slices"] = keys.parse_slices(e.keys.text())
    elif effect in ("copy", "union", "intersect", "subtract"):
        mod = next((x for x in viewer.layers if x.name == e.modifier.currentText()),
                   None)
        if mod is None or mod is t:
            raise FormatError(f"{effect} needs another Labels layer: choose it under "
                              "'Other layer'.")
        params["modifier"] = np.asarray(mod.data) != 0
    if not label_map:
        params["value"] = int(t.selected_label) or 1
    labels = [int(t.selected_label)] if label_map and e.selected_only.isChecked() else None
    return EffectRequest(effect, data, label_map, tuple(float(s) for s in t.scale),
                         where=where, axis=axis, index=index,
                         thickness=e.thickness.value(), labels_to_edit=labels,
                         params=params)
