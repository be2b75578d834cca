"""Files in and out.

Images in (TIFF, DICOM, NIfTI, folders of slices, pictures, arrays), label-array files in
and out, and conversion between label files.
"""

from napari_segreview._util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "arrayfiles": [
            "KINDS", "SUFFIXES", "WRITE_FORMATS", "ArrayMeta", "atomic_write", "file_suffix",
            "fsync_dir", "read_array", "sidecar_path", "write_array",
        ],
        "convert": ["ConvertResult", "convert_array", "convert_file", "load_regions"],
        "dicom": ["is_dicom_file", "read_dicom"],
        "dicom_enhanced": ["frame_headers"],
        "dicom_pixels": ["check_decoder", "read_pixels", "rescale_dtype"],
        "dicom_scan": ["Scan", "scan_files", "skipped_note"],
        "dicom_values": ["SliceHeader", "as_float", "as_floats", "as_int", "get_value"],
        "dicomseg": [
            "SEG_CLASSES", "SEG_SOP_CLASS", "SegData", "SegNote", "Segment", "is_dicom_seg",
            "mask_digest", "read_seg", "seg_references",
        ],
        "dicomseries": ["SourceSeries", "series_beside", "series_reference"],
        "nifti": ["import_nibabel", "read_nifti", "read_nifti_array", "write_nifti"],
        "read": [
            "DECLINED_FOLDER_FILES", "LAZY_BYTES", "ImageData", "can_read", "declined_folder",
            "display_window", "natural_key", "read_image", "read_images",
        ],
        "results": [
            "HEAD_KINDS", "PROBABILITIES", "head_file", "head_file_name", "prediction_files",
            "probabilities_file",
        ],
        "slices": ["read_picture", "read_slice_folder"],
        "tiff": ["read_tiff", "tiff_spacing"],
    },
)
