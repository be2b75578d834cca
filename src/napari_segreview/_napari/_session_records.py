"""What a review session records about napari layers, as JSON, and back (no Qt).

:func:`layer_info` and :func:`image_info` describe a Labels layer and the
image layer for ``session.json``; :func:`colormap_to_json` and
:func:`colormap_from_json` carry a Labels colormap through JSON.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from napari.layers import Image, Labels
from napari.utils.colormaps import CyclicLabelColormap, DirectLabelColormap

from napari_segreview._napari._meta import json_meta, meta


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
    m = {k: v for k, v in json_meta(meta(layer)).items() if k != "session"}
    return plain_json({
        "name": layer.name, "scale": list(layer.scale), "translate": list(layer.translate),
        "metadata": m,
        "display": {"opacity": layer.opacity, "visible": layer.visible,
                    "blending": str(layer.blending),
                    "colormap": colormap_to_json(layer.colormap)},
    })


def image_info(layer: Image | None) -> dict[str, Any] | None:
    """The session's record of its image layer: name, source path, shape, spacing."""
    if layer is None:
        return None
    path = getattr(layer.source, "path", None)
    return plain_json({"name": layer.name, "path": None if path is None else str(path),
                   "shape": list(layer.data.shape), "dtype": str(layer.data.dtype),
                   "scale": list(layer.scale), "translate": list(layer.translate)})


def colormap_from_json(d: dict[str, Any] | None) -> Any:
    """Inverse of ``colormap_to_json`` (None when nothing was stored)."""
    if not d:
        return None
    if d.get("type") == "direct":
        return {(None if k is None else int(k)): v for k, v in d["colors"]}
    return CyclicLabelColormap(colors=d["colors"], seed=d.get("seed", 0.5),
                               background_value=d.get("background_value", 0))
