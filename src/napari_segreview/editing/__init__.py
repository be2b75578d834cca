"""Editing tools for overlapping masks.

Slice interpolation, islands, holes, smoothing, margins, logical operators,
and the masks behind intensity-limited and hierarchy-aware painting. numpy in,
numpy out, spacing in millimetres; nothing here imports torch, Qt or napari.
"""

from napari_segreview._util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "hierarchy": ["ChannelRef", "Hierarchy", "Link", "hierarchy_from_card", "implied_edits"],
        "holes": ["fill_holes"],
        "interpolate": ["interpolate_labels", "interpolate_slices", "key_slices_of"],
        "islands": [
            "component_sizes", "keep_at", "keep_largest", "remove_small", "split_components",
        ],
        "logic": ["LOGICAL_OPS", "NEEDS_MODIFIER", "logical"],
        "margin": ["grow", "grow_labels", "shrink", "shrink_labels"],
        "paint": [
            "IntensityRange", "corrected_slices", "in_range", "limit_indices", "magic_wand",
            "range_presets",
        ],
        "region": [
            "EFFECTS", "WHERE", "Change", "EditResult", "edit_labels", "edit_mask", "edit_stack",
            "region_box",
        ],
        "smooth": ["SMOOTH_METHODS", "smooth_labels"],
    },
)
