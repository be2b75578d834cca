"""napari-segreview: review, correct and export PyTorch segmentation outputs.

Importing this package is cheap: it pulls in numpy only, never torch, Qt or
napari, so that napari's plugin discovery and the ``segreview`` command start
fast. The label-format core is re-exported here.

>>> import napari_segreview as sr
>>> sr.labels_to_onehot([[0, 2], [1, 2]]).shape
(3, 2, 2)
"""

from napari_segreview.errors import FormatError, OverlapError
from napari_segreview.labels.formats import (
    IGNORE,
    AtomTable,
    CheckReport,
    Finding,
    atom_regions,
    atoms_to_multihot,
    check_binary,
    check_hierarchy,
    check_label_values,
    check_overlaps,
    check_shapes,
    labels_to_multihot,
    labels_to_onehot,
    multihot_to_atoms,
    multihot_to_labels,
    onehot_to_labels,
)

__version__ = "0.1.0"

__all__ = [
    "IGNORE",
    "AtomTable",
    "CheckReport",
    "Finding",
    "FormatError",
    "OverlapError",
    "__version__",
    "atom_regions",
    "atoms_to_multihot",
    "check_binary",
    "check_hierarchy",
    "check_label_values",
    "check_overlaps",
    "check_shapes",
    "labels_to_multihot",
    "labels_to_onehot",
    "multihot_to_atoms",
    "multihot_to_labels",
    "onehot_to_labels",
]
