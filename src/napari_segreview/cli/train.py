"""``segreview train`` (placeholder, being written)."""

from __future__ import annotations

from typing import Any

__all__ = ["add_train"]


def add_train(subparsers: Any) -> None:
    """Register ``segreview train``."""
    p = subparsers.add_parser("train", help=(
        "fine-tune a model on an export and compare held-out Dice before and after"))
    p.set_defaults(func=lambda args: 2)
