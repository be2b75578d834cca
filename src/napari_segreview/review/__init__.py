"""Reviewing corrected masks.

Review sets of channels, card-driven checks, one-click fixes,
QA against the kept prediction, and reading mask files.
"""

from napari_segreview._util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "channels": ["Channel", "Rule", "count_per_slice", "slice_blocks"],
        "checks": [
            "FIXES", "Edit", "FixResult", "FixSpec", "channels_from_card", "check_review",
            "clip_to_parent", "fixes_for", "grow_parent", "make_binary", "overlap_map",
            "parent_from_children", "remove_overlaps", "rules_from_card", "run_fix",
        ],
        "files": ["MaskFile", "mask_paths", "read_masks", "review_channels"],
        "qa": ["ChannelQA", "PredictionWarning", "channel_qa", "prediction_warnings", "qa_table"],
    },
)
