"""``segreview convert``: between label map, one-hot, multi-hot and atoms files."""

from __future__ import annotations

import argparse
from typing import Any

from napari_segreview.cli._common import comma_list, label_value, positive_int
from napari_segreview.errors import FormatError, OverlapError
from napari_segreview.io.arrayfiles import KINDS

__all__ = ["add_convert", "run_convert"]


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
  segreview convert masks.tif -o labels.tif --to labels --names whole,part_1,part_2 \
      --priority part_1,part_2,whole
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
    rule.add_argument("--priority", metavar="A,B,C", type=comma_list,
                      help="stack -> labels where channels overlap: every channel (name or "
                           "index), the first listed wins (as in the Review panel's priority "
                           "list); 'later': the later channel of the stack wins")
    rule.add_argument("--painting-order", metavar="A,B,C", type=comma_list,
                      help="stack -> labels where channels overlap: every channel in the "
                           "order they are painted, the last one wins (--priority reversed)")
    rule.add_argument("--overlap", choices=["ignore"],
                      help="stack -> labels: mark overlapping voxels with --ignore-value (255)")
    p.add_argument("--num-classes", type=positive_int, metavar="N",
                   help="labels -> onehot: number of channels (default: max label + 1)")
    p.add_argument("--names", metavar="A,B,C", type=comma_list,
                   help="names of the stack's channels (the input's or the output's)")
    p.add_argument("--ignore-value", type=label_value, metavar="255",
                   help="label value meaning 'ignore' (e.g. 255): labels -> onehot gives "
                        "it no channel; onehot -> labels gives it to voxels with no channel; "
                        "--overlap ignore gives it to overlaps (default 255)")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.set_defaults(func=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    """Handle ``segreview convert``: convert, then print what was written."""
    from napari_segreview.io.convert import convert_file, load_regions

    regions = load_regions(args.regions) if args.regions is not None else None
    priority: Any = args.priority
    if priority == ["later"]:
        priority = "later"
    elif priority is not None:
        priority = _channels(priority)
    painting = None if args.painting_order is None else _channels(args.painting_order)
    try:
        result = convert_file(
            args.input, args.output, to=args.to, force=args.force, source=args.source,
            regions=regions, priority=priority, painting_order=painting,
            overlap=args.overlap or "error",
            num_classes=args.num_classes, names=args.names, ignore_value=args.ignore_value,
        )
    except OverlapError as exc:
        raise FormatError(_overlap_message(args, exc)) from exc
    print(result.summary())
    return 0


def _channels(items: list[str]) -> list[int | str]:
    """Channel names and indices of a comma list (``1`` is index 1)."""
    return [int(p) if p.isdigit() else p for p in items]


def _overlap_message(args: argparse.Namespace, exc: OverlapError) -> str:
    findings = exc.report.findings
    pairs = ", ".join(f"{' & '.join(f.channels)} in {f.count} voxels" for f in findings)
    first = min((f.first_index for f in findings if f.first_index is not None), default=None)
    at = ""
    if first is not None:
        at = f", first at slice {first[0]}" if len(first) >= 3 else f", first at {first}"
    return (
        f"cannot convert {args.input} to labels: channels overlap ({pairs}){at}, and a label "
        "map holds one value per voxel; pass --priority with every channel, the one that "
        "wins first (or --painting-order, the last one wins), or --overlap ignore, or keep "
        "the overlaps with --to atoms."
    )
