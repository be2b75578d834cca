"""Training targets from corrected masks.

CrossEntropy label maps and BCE multi-hot stacks per
head, class statistics, and the export formats (native folders, nnU-Net v2).
"""

from napari_segreview._util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "build": [
            "BACKGROUND_NAMES", "IMAGE_MODES", "RESERVED_NAMES", "SIGMOID_HEAD", "SOFTMAX_HEAD",
            "ExportCase", "Target", "build_targets", "card_from_choices", "check_class_masks",
            "image_spatial_shape", "model_input_image", "overlap_sentence", "safe_name",
            "sigmoid_target", "softmax_from_masks", "softmax_target",
        ],
        "choices": ["EXPORT_FORMATS", "WEIGHT_METHODS"],
        "classstats": [
            "class_statistics", "count_target", "statistics_from_counts", "summary_lines",
        ],
        "dicomseg": [
            "SEG_FORMAT", "SEG_SUFFIX", "SegExportResult", "case_segments", "corrected_channels",
            "export_seg_case", "segment_origins", "write_seg",
        ],
        "export": [
            "MANIFEST", "MARKER", "STATISTICS", "ExportResult", "ExportedCase", "export_case",
            "find_export_root", "is_export", "preview_statistics", "read_export",
            "read_statistics",
        ],
        "nnunet": [
            "FILE_ENDING", "dataset_json", "encode_regions", "export_nnunet_case", "read_nnunet",
            "region_channels",
        ],
        "segcodes": ["coded_concept", "codes_for", "default_codes"],
    },
)
