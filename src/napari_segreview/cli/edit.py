"""``segreview edit`` (placeholder, being written)."""

from __future__ import annotations

from typing import Any

__all__ = ["add_edit"]


def add_edit(subparsers: Any) -> None:
    """Register ``segreview edit``."""
    p = subparsers.add_parser("edit", help=(
        "apply an editing effect (islands, holes, margins, smoothing, interpolation)"))
    p.set_defaults(func=lambda args: 2)
