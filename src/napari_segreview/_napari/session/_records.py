"""What a review session records about napari layers, as JSON, and back (no Qt).

:func:`layer_info` and :func:`image_info` describe a session layer (a Labels
layer, or a probability Image layer) and the image layer for ``session.json``;
:func:`layer_kwargs` turns a layer record back into napari keywords (name,
scale, colours, opacity, visibility, features, metadata);
:func:`colormap_to_json` and :func:`colormap_from_json` carry a Labels colormap
through JSON; :func:`image_display` is the part of :func:`image_info` that the
user changes while reviewing (contrast limits, colormap, units, SegReview
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

from napari_segreview._napari._layers import class_features
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


def features_to_json(features: Any) -> dict[str, list] | None:
    """A layer's ``features`` table as ``{column: values}`` (None when it has none).

    Examples
    --------
    >>> import pandas as pd
    >>> features_to_json(pd.DataFrame({"index": [0, 1], "class": ["background", "bone"]}))
    {'index': [0, 1], 'class': ['background', 'bone']}
    >>> features_to_json(pd.DataFrame()) is None
    True
    """
    if features is None or len(getattr(features, "columns", ())) == 0:
        return None
    return plain_json({str(c): list(features[c]) for c in features.columns})


def image_colormap_to_json(cmap: Any) -> dict[str, Any]:
    """An Image layer's colormap as ``{"name", "colors", "controls"}``."""
    return plain_json({"name": str(cmap.name), "colors": np.asarray(cmap.colors, float),
                       "controls": np.asarray(cmap.controls, float)})


def image_colormap_from_json(cmap: Any) -> Any:
    """Inverse of :func:`image_colormap_to_json`: a colormap name or a Colormap (or None).

    Examples
    --------
    >>> image_colormap_from_json({"name": "gray"})
    'gray'
    >>> c = image_colormap_from_json({"name": "my red", "colors": [[0, 0, 0, 1], [1, 0, 0, 1]],
    ...                               "controls": [0.0, 1.0]})
    >>> c.name, c.colors[-1].tolist()
    ('my red', [1.0, 0.0, 0.0, 1.0])
    """
    if not isinstance(cmap, dict) or not cmap.get("name"):
        return None
    if cmap["name"] in AVAILABLE_COLORMAPS:
        return cmap["name"]
    if cmap.get("colors"):
        extra = {"controls": cmap["controls"]} if cmap.get("controls") else {}
        return Colormap(colors=cmap["colors"], name=cmap["name"], **extra)
    return None


def layer_info(layer: Labels | Image) -> dict[str, Any]:
    """What a session records about a layer besides its data (JSON only).

    A Labels layer's display holds its colormap and ``features`` (class
    names); an Image layer (a probability) is marked ``"layer_type": "image"``
    and holds its colormap and contrast limits.
    """
    m = json_meta(meta(layer))
    display: dict[str, Any] = {"opacity": layer.opacity, "visible": layer.visible,
                               "blending": str(layer.blending)}
    if isinstance(layer, Image):
        display.update(layer_type="image", colormap=image_colormap_to_json(layer.colormap),
                       contrast_limits=[float(v) for v in layer.contrast_limits])
    else:
        display["colormap"] = colormap_to_json(layer.colormap)
        features = features_to_json(layer.features)
        if features is not None:
            display["features"] = features
    return plain_json({
        "name": layer.name, "scale": list(layer.scale), "translate": list(layer.translate),
        "metadata": m, "display": display,
    })


def layer_kwargs(name: str, metadata: dict[str, Any], display: dict[str, Any],
                 scale: Any = None, translate: Any = None) -> tuple[dict[str, Any], str]:
    """Napari keywords and layer type (``"labels"`` or ``"image"``) for a layer record.

    Every display key is optional (older sessions lack ``features`` and
    ``layer_type``): a label map without stored features gets them from its
    ``classes`` metadata, so its hover text names the classes.

    Examples
    --------
    >>> kw, kind = layer_kwargs("parts", {"kind": "decision", "classes": ["bg", "bone"]},
    ...                         {"opacity": 0.6})
    >>> kind, kw["opacity"], kw["features"]
    ('labels', 0.6, {'index': [0, 1], 'class': ['bg', 'bone']})
    >>> kw, kind = layer_kwargs("bone (p)", {"kind": "probability"}, {
    ...     "layer_type": "image", "colormap": {"name": "gray"}, "contrast_limits": [0, 255]})
    >>> kind, kw["colormap"], kw["contrast_limits"]
    ('image', 'gray', [0, 255])
    """
    kwargs: dict[str, Any] = {"name": name, "metadata": {KEY: metadata}}
    for k, v in (("scale", scale), ("translate", translate)):
        if v is not None:
            kwargs[k] = v
    for k in ("opacity", "visible", "blending"):
        if k in display:
            kwargs[k] = display[k]
    if display.get("layer_type") == "image":
        cmap = image_colormap_from_json(display.get("colormap"))
        if cmap is not None:
            kwargs["colormap"] = cmap
        limits = display.get("contrast_limits")
        if isinstance(limits, list) and len(limits) == 2 and limits[0] < limits[1]:
            kwargs["contrast_limits"] = limits
        return kwargs, "image"
    cmap = colormap_from_json(display.get("colormap"))
    if cmap is not None:
        kwargs["colormap"] = cmap
    features = display.get("features")
    classes = metadata.get("classes")
    if isinstance(features, dict) and features:
        kwargs["features"] = features
    elif isinstance(classes, list) and classes:
        kwargs["features"] = class_features(classes)
    return kwargs, "labels"


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
    m = json_meta(meta(layer))
    return plain_json({
        "contrast_limits": [float(v) for v in layer.contrast_limits],
        "colormap": image_colormap_to_json(layer.colormap),
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
    cmap = image_colormap_from_json(info.get("colormap"))
    if cmap is not None:
        out["colormap"] = cmap
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
