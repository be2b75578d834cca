"""Label formats: label map, one-hot, multi-hot and atoms; their checks and metrics.

numpy only, torch tensors in and out where the functions say so.

>>> from napari_segreview.labels import labels_to_multihot, multihot_to_atoms
>>> stack = labels_to_multihot([[0, 1], [2, 1]], {'whole': [1, 2], 'part': [2]})
>>> stack.tolist()
[[[0, 1], [1, 1]], [[0, 0], [1, 0]]]
>>> multihot_to_atoms(stack)[1].n_atoms
3
"""

from napari_segreview._util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "atoms": ["AtomTable", "atom_regions", "atoms_to_multihot", "multihot_to_atoms"],
        "formats": [
            "IGNORE", "CheckReport", "Finding", "channel_names", "check_binary",
            "check_hierarchy", "check_label_values", "check_overlaps", "check_shapes",
            "labels_to_multihot", "labels_to_onehot", "multihot_to_labels", "onehot_to_labels",
        ],
        "metrics": ["dice", "dice_counts", "per_channel_dice"],
    },
)
