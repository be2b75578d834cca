"""Shared set-up of the Edit panel's GUI tests: a CT phantom with one Predict run.

The decision layers are built the way the Predict widget makes them
(``_napari/_meta.py``), as the Review tests do: a binary ``whole`` and a
``parts`` label map, with the demo card and the kept prediction.
"""

import numpy as np

from napari_segreview.card.spec import load_card
from napari_segreview.data import demo_card_path
from napari_segreview.data.phantom import make_ct_phantom

SHAPE = (6, 64, 64)
SPACING = (2.5, 0.8, 0.8)
TIMEOUT = 30000


def read_only(a):
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


def add_case(viewer, shape=SHAPE):
    """The phantom's CT and a run's decision layers; returns (image, whole, parts)."""
    ph = make_ct_phantom(shape)
    image = viewer.add_image(ph.image, name="CT", scale=SPACING,
                             metadata={"segreview": {"kind": "image", "units": "HU"}})
    card = load_card(demo_card_path()).to_dict()
    base = {"kind": "decision", "image": "CT", "run": "r1", "model": "/tmp/demo_bone.pt",
            "card": card}
    whole = ph.masks[0].astype(np.uint8)
    parts = np.asarray(ph.parts, np.uint8)
    lw = viewer.add_labels(whole.copy(), name="whole", scale=SPACING, metadata={"segreview": {
        **base, "head": "whole", "head_kind": "sigmoid", "channel": "whole",
        "prediction": read_only(whole)}})
    lp = viewer.add_labels(parts.copy(), name="parts", scale=SPACING, metadata={"segreview": {
        **base, "head": "parts", "head_kind": "softmax", "channel": None,
        "classes": ["background", "part_1", "part_2", "part_3"],
        "prediction": read_only(parts)}})
    return image, lw, lp


def open_panel(viewer):
    _, w = viewer.window.add_plugin_dock_widget("napari-segreview", "Edit masks")
    return w
