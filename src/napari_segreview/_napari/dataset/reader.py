"""napari's reader of dataset folders (under construction)."""

from __future__ import annotations

from typing import Any


def get_dataset_reader(path: Any) -> Any:
    """Return a reader for a dataset folder, None for anything else."""
    return None
