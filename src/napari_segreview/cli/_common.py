"""What every ``segreview`` subcommand shares.

The parser class, argument types, the one-line error and all-or-nothing
output folders.

Subcommand modules import this module, never :mod:`napari_segreview.cli.main`,
so that the command registry can import them without a cycle.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

from napari_segreview._util.files import staged
from napari_segreview.errors import FormatError

__all__ = [
    "PROG",
    "Parser",
    "check_targets",
    "comma_list",
    "error",
    "label_value",
    "positive_int",
    "write_results",
]

PROG = "segreview"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        """Print ``segreview: error: ...`` and exit with status 2."""
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help').\n")


def comma_list(text: str) -> list[str]:
    items = [s.strip() for s in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list like a,b,c")
    return items


def label_value(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a label value (0, 1, 2, ...)")
    return int(text)


def positive_int(text: str) -> int:
    """Argument type: a whole number of at least 1 (shared by the subcommands)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def error(message: str) -> int:
    """Print ``segreview: error: message`` on one line of stderr; return exit code 2."""
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def check_targets(out_dir: Path, names: list[str], force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise FormatError(f"{out_dir} is a file, not a folder; choose a folder for -o.")
    existing = [n for n in names if (out_dir / n).exists()]
    if existing and not force:
        raise FormatError(
            f"{out_dir / existing[0]} already exists; choose another OUT_DIR or pass --force."
        )


def write_results(out_dir: Path, files: list[tuple[str, Any, Any]], force: bool) -> list[Path]:
    """Write all files into ``out_dir``, all or nothing.

    Every file is first written into a hidden staging folder beside
    ``out_dir`` (same file system, so moves are renames), then moved in
    (:func:`napari_segreview._util.files.staged`). On any failure, nothing new
    remains in ``out_dir``.
    """
    from napari_segreview.io.arrayfiles import write_array

    names = [name for name, _, _ in files]
    check_targets(out_dir, names, force)
    parent = out_dir.parent
    if not parent.is_dir():
        raise FormatError(f"the folder {parent} does not exist; create it first.")
    with staged(parent, out_dir.name) as st:
        for name, array, meta in files:
            write_array(st.path / name, array, meta)
        st.move_all(out_dir)  # includes .npy.json sidecars; out_dir made if missing
    return [out_dir / n for n in names]
