"""The Review panel's overlap view: a Labels layer counting the channels on at each voxel.

Its value is the number of channels on where two or more are (0 elsewhere,
:func:`napari_segreview.review.checks.overlap_map`); it is a view, marked
``kind: overlap`` with the channels it counts, and a second look at the same
channels refreshes it in place instead of adding another layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_segreview._napari._meta import KEY, layers_of

__all__ = ["OVERLAP_COLORS", "overlap_layer"]

#: 2 channels amber, 3 red, more magenta.
OVERLAP_COLORS = {0: "transparent", 2: "#ffb000", 3: "#ff3030", None: "#ff00ff"}


def overlap_layer(viewer: Any, rs: Any, names: list[str], data: np.ndarray) -> tuple[Any, str]:
    """Show ``data`` (the overlap map of channels ``names`` of review set ``rs``).

    Returns the layer (refreshed, or added on the first channel's scale) and a
    sentence for the status line.
    """
    first = rs.layers[rs.channels[0].source]
    md = {"kind": "overlap", "image": rs.image, "run": rs.run, "channels": names}
    old = list(layers_of(viewer.layers, kind="overlap", run=rs.run, channels=names))
    if old:
        layer = old[0]
        layer.data = data
    else:
        layer = viewer.add_labels(
            data, name=f"overlap ({', '.join(names)})", scale=first.scale,
            translate=first.translate, opacity=0.8, colormap=OVERLAP_COLORS,
            metadata={KEY: md})
    n = int(np.count_nonzero(data))
    return layer, (f"{n} voxels lie in two or more of {', '.join(names)} "
                   "(value = number of channels).")
