"""What a review session records about napari layers, as JSON, and back (no Qt).

:func:`layer_info` and :func:`image_info` describe a Labels layer and the
image layer for ``session.json``; :func:`colormap_to_json` and
:func:`colormap_from_json` carry a Labels colormap through JSON;
:func:`image_display` is the part of :func:`image_info` that the user
changes while reviewing (contrast limits, colormap, units, SegReview
metadata) and :func:`image_kwargs` turns an image record back into napari
layer keywords (every one of those keys is optional: older sessions lack them).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from napari.layers import Image, Labels
from napari.utils.colormaps import (
    AVAILABLE_COLORMAPS,
    Colormap,
    CyclicLabelColormap,
    DirectLabelColormap,
)

from napari_segreview._napari._meta import KEY, json_meta, meta


def plain_json(obj: Any) -> Any:
    """Return ``obj`` as plain JSON types (numpy scalars and arrays become Python values).

    Examples
    --------
    >>> plain_json({"scale": np.array([2.5, 0.8]), "n": np.int64(3)})
    {'scale': [2.5, 0.8], 'n': 3}
    """
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)
    return json.loads(json.dumps(obj, default=default))


def colormap_to_json(cmap: Any) -> dict[str, Any] | None:
    """Describe a Labels colormap as JSON (direct colours or the cyclic table and seed)."""
    if isinstance(cmap, DirectLabelColormap):
        return {"type": "direct", "colors": [[k, np.asarray(v, float).tolist()]
                                             for k, v in cmap.color_dict.items()]}
    if isinstance(cmap, CyclicLabelColormap):
        return {"type": "cyclic", "colors": np.asarray(cmap.colors, float).tolist(),
                "seed": float(cmap.seed), "background_value": int(cmap.background_value)}
    return None


def layer_info(layer: Labels) -> dict[str, Any]:
    """What a session records about a layer besides its data (JSON only)."""
    m = json_meta(meta(layer))
    return plain_json({
        "name": layer.name, "scale": list(layer.scale), "translate": list(layer.translate),
        "metadata": m,
        "display": {"opacity": layer.opacity, "visible": layer.visible,
                    "blending": str(layer.blending),
                    "colormap": colormap_to_json(layer.colormap)},
    })


def image_display(layer: Image) -> dict[str, Any]:
    """How the image is shown and what it holds: the keys :func:`image_info` may change.

    ``contrast_limits``, ``colormap`` (``{"name", "colors", "controls"}``),
    ``units`` (one unit name per axis, napari's ``layer.units``) and
    ``metadata`` (the SegReview metadata, for example ``{"kind": "image",
    "units": "HU"}``).

    Examples
    --------
    >>> im = Image(np.zeros((2, 4, 4), np.int16), contrast_limits=[-1000, 1000],
    ...            colormap="gray", metadata={"segreview": {"kind": "image", "units": "HU"}})
    >>> d = image_display(im)
    >>> d["contrast_limits"], d["colormap"]["name"], d["units"], d["metadata"]
    ([-1000.0, 1000.0], 'gray', ['pixel', 'pixel', 'pixel'], {'kind': 'image', 'units': 'HU'})
    """
    cmap = layer.colormap
    m = json_meta(meta(layer))
    return plain_json({
        "contrast_limits": [float(v) for v in layer.contrast_limits],
        "colormap": {"name": str(cmap.name), "colors": np.asarray(cmap.colors, float),
                     "controls": np.asarray(cmap.controls, float)},
        "units": [str(u) for u in getattr(layer, "units", ())] or None,
        "metadata": m,
    })


def image_info(layer: Image | None) -> dict[str, Any] | None:
    """The session's record of its image layer: name, source path, shape, spacing, display.

    The display keys are those of :func:`image_display`.
    """
    if layer is None:
        return None
    path = getattr(layer.source, "path", None)
    return plain_json({"name": layer.name, "path": None if path is None else str(path),
                       "shape": list(layer.data.shape), "dtype": str(layer.data.dtype),
                       "scale": list(layer.scale), "translate": list(layer.translate),
                       **image_display(layer)})


def image_kwargs(info: dict[str, Any] | None) -> dict[str, Any]:
    """Return the napari keywords that show an image as its record says (missing keys omitted).

    Examples
    --------
    >>> image_kwargs({"name": "ct", "contrast_limits": [-1000, 1000], "units": ["mm"] * 3,
    ...               "metadata": {"kind": "image", "units": "HU"}})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'contrast_limits': [-1000, 1000], 'units': ['mm', 'mm', 'mm'],
     'metadata': {'segreview': {'kind': 'image', 'units': 'HU'}}}
    >>> image_kwargs({"name": "an older session"})
    {'metadata': {'segreview': {'kind': 'image'}}}
    """
    info = info or {}
    out: dict[str, Any] = {}
    limits = info.get("contrast_limits")
    if isinstance(limits, list) and len(limits) == 2 and limits[0] < limits[1]:
        out["contrast_limits"] = limits
    cmap = info.get("colormap")
    if isinstance(cmap, dict) and cmap.get("name"):
        if cmap["name"] in AVAILABLE_COLORMAPS:
            out["colormap"] = cmap["name"]
        elif cmap.get("colors"):
            extra = {"controls": cmap["controls"]} if cmap.get("controls") else {}
            out["colormap"] = Colormap(colors=cmap["colors"], name=cmap["name"], **extra)
    if info.get("units"):
        out["units"] = list(info["units"])
    m = info.get("metadata")
    out["metadata"] = {KEY: dict(m) if isinstance(m, dict) and m else {"kind": "image"}}
    return out


def colormap_from_json(d: dict[str, Any] | None) -> Any:
    """Inverse of ``colormap_to_json`` (None when nothing was stored)."""
    if not d:
        return None
    if d.get("type") == "direct":
        return {(None if k is None else int(k)): v for k, v in d["colors"]}
    return CyclicLabelColormap(colors=d["colors"], seed=d.get("seed", 0.5),
                               background_value=d.get("background_value", 0))
