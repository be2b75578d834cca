"""``segreview dataset`` (placeholder, being written)."""

from __future__ import annotations

from typing import Any

__all__ = ["add_dataset"]


def add_dataset(subparsers: Any) -> None:
    """Register ``segreview dataset``."""
    p = subparsers.add_parser("dataset", help=(
        "pre-annotate a dataset on a Dask cluster, see its status, export done cases"))
    p.set_defaults(func=lambda args: 2)
