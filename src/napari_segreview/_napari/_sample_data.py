"""Sample data: the synthetic CT phantom with its overlapping ground truth."""

from __future__ import annotations

from napari_segreview._napari._colours import mask_colormap
from napari_segreview.data.phantom import make_ct_phantom

#: Bone window (center 400, width 1800) as contrast limits in HU.
BONE_WINDOW = (-500.0, 1300.0)


def ct_phantom() -> list[tuple]:
    """CT phantom stack plus one binary Labels layer per (overlapping) mask.

    A napari Labels layer holds one value per voxel, and ``whole`` overlaps
    every part, so each mask gets its own layer, coloured by its channel name
    (:func:`.._colours.channel_color`) as the prediction of that channel is.
    """
    ph = make_ct_phantom()
    layers: list[tuple] = [
        (ph.image, {"name": "CT phantom", "scale": ph.spacing,
                    "contrast_limits": BONE_WINDOW, "colormap": "gray",
                    "metadata": {"segreview": {"kind": "image", "units": "HU"}}}, "image"),
    ]
    for i, name in enumerate(ph.names):
        layers.append((
            ph.masks[i],
            {"name": f"{name} (ground truth)", "scale": ph.spacing,
             "opacity": 0.45 if name == "whole" else 0.7,
             "colormap": {**mask_colormap(name), None: "transparent"},
             "metadata": {"segreview": {"kind": "mask", "channel": name}}},
            "labels",
        ))
    return layers
