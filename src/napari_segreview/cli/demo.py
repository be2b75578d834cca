"""``segreview demo``: napari with the CT phantom and the Predict and Review panels."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_demo", "run_demo"]


def add_demo(subparsers: Any) -> None:
    """Register ``segreview demo``."""
    p = subparsers.add_parser(
        "demo",
        help="open napari with the plugin and the CT phantom sample",
        description="Open napari with the CT phantom sample and the Predict and Review "
                    "panels (the demo model is preselected: press Run). Needs a display; "
                    "use xvfb-run on a machine without one.",
    )
    p.add_argument("--screenshot", metavar="PNG",
                   help="save a picture of the window there and close (for docs and tests)")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Handle ``segreview demo``: napari is imported only here."""
    from napari_segreview._napari.launch import run_demo as launch

    return launch(args.screenshot)
