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
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from napari_segreview._cli_export import add_export
from napari_segreview._cli_predict import add_predict, positive_int
from napari_segreview._cli_review import add_check, add_qa
from napari_segreview._cli_session import add_session
from napari_segreview.core.formats import FormatError, OverlapError

__all__ = ["SUBCOMMANDS", "add_convert", "add_demo", "build_parser", "main"]

PROG = "segreview"
KINDS = ("labels", "onehot", "multihot", "atoms")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        """Print ``segreview: error: ...`` and exit with status 2."""
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help').\n")


def _list(text: str) -> list[str]:
    items = [s.strip() for s in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list like a,b,c")
    return items


def _label_value(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a label value (0, 1, 2, ...)")
    return int(text)


CONVERT_HELP = """\
Convert a label file between label map, one-hot, multi-hot and atoms
(.tif/.tiff, .npy with a .npy.json sidecar, .npz). The input's kind comes from
--from, else the file's metadata, else its content: converting to labels takes
a channel stack (one-hot when every voxel has exactly one channel set,
multi-hot otherwise); converting to onehot/multihot takes a label map (or atoms
with their table); converting to atoms takes a multi-hot stack. Channel names
are written into the output's metadata.
"""

CONVERT_EPILOG = """\
examples:
  segreview convert masks.tif -o labels.tif --to labels --priority whole,part_1,part_2
  segreview convert labels.tif -o regions.npz --to multihot --regions regions.json
  segreview convert masks.tif -o atoms.tif --to atoms
  segreview convert labels.npy -o onehot.npz --to onehot --num-classes 4
"""


def add_convert(subparsers: Any) -> None:
    """Register ``segreview convert``."""
    p = subparsers.add_parser(
        "convert",
        help="convert between label map, one-hot, multi-hot and atoms",
        description=CONVERT_HELP,
        epilog=CONVERT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="INPUT", help="the file to convert")
    p.add_argument("-o", "--output", metavar="OUTPUT", required=True,
                   help="the file to write (.tif, .tiff, .npy or .npz)")
    p.add_argument("--to", required=True, choices=KINDS, help="the encoding to write")
    p.add_argument("--from", dest="source", choices=KINDS,
                   help="the input's encoding, when its metadata and content do not tell")
    p.add_argument("--regions", metavar="FILE.json",
                   help='labels -> multihot: {"whole": [1, 2, 3], "part_1": [1], ...}, one '
                        "channel per key covering those label values (nnU-Net regions; an "
                        "nnU-Net dataset.json works too)")
    rule = p.add_mutually_exclusive_group()
    rule.add_argument("--priority", metavar="A,B,C", type=_list,
                      help="stack -> labels where channels overlap: every channel (name or "
                           "index) in painting order; later ones win (they are painted on "
                           "top); 'later' means channel order")
    rule.add_argument("--overlap", choices=["ignore"],
                      help="stack -> labels: mark overlapping voxels with --ignore-value (255)")
    p.add_argument("--num-classes", type=positive_int, metavar="N",
                   help="labels -> onehot: number of channels (default: max label + 1)")
    p.add_argument("--names", metavar="A,B,C", type=_list,
                   help="names of the stack's channels (the input's or the output's)")
    p.add_argument("--ignore-value", type=_label_value, metavar="255",
                   help="label value meaning 'ignore' (e.g. 255): labels -> onehot gives "
                        "it no channel; onehot -> labels gives it to voxels with no channel; "
                        "--overlap ignore gives it to overlaps (default 255)")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.set_defaults(func=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    """Handle ``segreview convert``: convert, then print what was written."""
    from napari_segreview.core.convert import convert_file, load_regions

    regions = load_regions(args.regions) if args.regions is not None else None
    priority: Any = args.priority
    if priority == ["later"]:
        priority = "later"
    elif priority is not None:
        priority = [int(p) if p.isdigit() else p for p in priority]
    try:
        result = convert_file(
            args.input, args.output, to=args.to, force=args.force, source=args.source,
            regions=regions, priority=priority, overlap=args.overlap or "error",
            num_classes=args.num_classes, names=args.names, ignore_value=args.ignore_value,
        )
    except OverlapError as exc:
        raise FormatError(_overlap_message(args, exc)) from exc
    print(result.summary())
    return 0


def _overlap_message(args: argparse.Namespace, exc: OverlapError) -> str:
    findings = exc.report.findings
    pairs = ", ".join(f"{' & '.join(f.channels)} in {f.count} voxels" for f in findings)
    first = min((f.first_index for f in findings if f.first_index is not None), default=None)
    at = ""
    if first is not None:
        at = f", first at slice {first[0]}" if len(first) >= 3 else f", first at {first}"
    return (
        f"cannot convert {args.input} to labels: channels overlap ({pairs}){at}, and a label "
        "map holds one value per voxel; pass --priority with every channel in painting order "
        "(later ones win) or --overlap ignore, or keep the overlaps with --to atoms."
    )


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
    from napari_segreview._napari._launch import run_demo as launch

    return launch(args.screenshot)


#: Registration functions, one per subcommand; later modules add theirs here.
SUBCOMMANDS: list[Callable[[Any], None]] = [
    add_convert, add_predict, add_check, add_qa, add_export, add_session, add_demo,
]


def build_parser() -> argparse.ArgumentParser:
    """Return the ``segreview`` parser with every subcommand in :data:`SUBCOMMANDS`."""
    parser = _Parser(prog=PROG, description="Review, correct and convert segmentation masks.")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _error(message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


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
        return args.func(args)
    except (FormatError, OSError, ValueError) as exc:
        return _error(str(exc) or type(exc).__name__)
    except KeyboardInterrupt:
        _error("interrupted; nothing was written.")
        return 130
