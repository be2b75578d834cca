"""napari-segreview: review, correct and export PyTorch segmentation outputs.

Importing this package is cheap: it imports nothing but this file, never numpy
eagerly, torch, Qt or napari, so that napari's plugin discovery and the
``segreview`` command start fast. The label-format API is available here and
imported on first use (PEP 562); everything else lives in its package
(:mod:`napari_segreview.labels`, ``card``, ``io``, ``inference``, ``review``,
``session``, ``targets``) and the exceptions in :mod:`napari_segreview.errors`.

>>> import napari_segreview as sr
>>> sr.labels_to_onehot([[0, 2], [1, 2]]).shape
(3, 2, 2)
"""

from napari_segreview._util.lazy import attach

__version__ = "0.1.0"

_LABELS = [
    "IGNORE", "AtomTable", "CheckReport", "Finding", "atom_regions", "atoms_to_multihot",
    "check_binary", "check_hierarchy", "check_label_values", "check_overlaps", "check_shapes",
    "labels_to_multihot", "labels_to_onehot", "multihot_to_atoms", "multihot_to_labels",
    "onehot_to_labels",
]
__getattr__, __dir__, _names = attach(
    __name__, {"labels": _LABELS, "errors": ["FormatError", "OverlapError"]}
)
__all__ = ["__version__", *_names]

