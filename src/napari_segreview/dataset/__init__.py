"""Datasets: many cases, one manifest.

The dataset folder format, the review queue, and pre-annotation of every case
on a Dask cluster. Reaches torch only through inference (in the workers).
"""

from napari_segreview._util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "case": ["STATUSES", "Case", "card_sha256", "case_id_for", "file_sha256", "timestamp"],
        "cluster": ["ClusterInfo", "connect", "local_plan"],
        "dice": ["correction_dice", "head_channels", "mean_dice"],
        "engine": ["Plan", "Progress", "RunResult", "plan_run", "predict_dataset"],
        "export": ["case_masks", "export_done"],
        "manifest": [
            "CASES_DIR", "DATASET_FILE", "FORMAT", "FORMAT_VERSION", "MIGRATIONS",
            "PREDICTION_DIR", "SESSION_DIR", "Manifest", "is_dataset",
        ],
        "queue": [
            "OPENABLE", "TO_REVIEW", "mark_done", "next_case", "previous_case", "progress_line",
            "review_order", "skip", "start_review",
        ],
        "scan": ["Scan", "describe", "scan_sources"],
        "worker": ["PLUGIN_NAME", "CaseJob", "ModelCache", "channel_volumes", "run_case"],
    },
)
