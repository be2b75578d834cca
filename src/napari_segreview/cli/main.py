"""The ``segreview`` command line: parse arguments, call the core, print one line.

Each subcommand is a function ``add_<name>(subparsers)`` listed in
:data:`SUBCOMMANDS`: it adds its parser and sets ``func``, the handler that
takes the parsed arguments and returns an exit code. Handlers import what they
need lazily, so ``segreview --help`` stays fast. User errors become one line
on stderr, ``segreview: error: ...``, and exit code 2, with no traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from napari_segreview.cli._common import PROG, Parser, error
from napari_segreview.cli.convert import add_convert
from napari_segreview.cli.dataset import add_dataset
from napari_segreview.cli.demo import add_demo
from napari_segreview.cli.edit import add_edit
from napari_segreview.cli.export import add_export
from napari_segreview.cli.predict import add_predict
from napari_segreview.cli.review import add_check, add_qa
from napari_segreview.cli.session import add_session
from napari_segreview.cli.train import add_train
from napari_segreview.errors import FormatError

__all__ = ["SUBCOMMANDS", "build_parser", "main"]


#: Registration functions, one per subcommand; later modules add theirs here.
SUBCOMMANDS: list[Callable[[Any], None]] = [
    add_convert, add_predict, add_check, add_qa, add_edit, add_export, add_session,
    add_dataset, add_train, add_demo,
]


def build_parser() -> argparse.ArgumentParser:
    """Return the ``segreview`` parser with every subcommand in :data:`SUBCOMMANDS`."""
    parser = Parser(prog=PROG, description="Review, correct and convert segmentation masks.")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _show_note(default: Callable[..., None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints a reader's note (:class:`SegNote`) as one line."""
    from napari_segreview.io.dicomseg import SegNote

    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        if issubclass(category, SegNote):
            print(f"{PROG}: note: {' '.join(str(message).split())}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``segreview`` with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Examples
    --------
    >>> main(["convert", "missing.tif", "-o", "out.tif", "--to", "labels"])
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 0
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_note(warnings.showwarning)
            return args.func(args)
    except (FormatError, OSError, ValueError) as exc:
        return error(str(exc) or type(exc).__name__)
    except KeyboardInterrupt:
        error("interrupted; nothing was written.")
        return 130
