"""napari's reader of DICOM SEG files (under construction)."""

from __future__ import annotations

from typing import Any


def get_seg_reader(path: Any) -> Any:
    """Return a reader for a DICOM SEG file, None for anything else."""
    return None
