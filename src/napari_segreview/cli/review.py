"""``segreview check`` and ``segreview qa``: the Review widget's checks, fixes and QA on files.

Registered in :mod:`napari_segreview.cli` through :func:`add_check` and
:func:`add_qa`. Files are read by :func:`napari_segreview.review.files.read_masks`
(a multi-hot stack, the files ``segreview predict`` wrote, or their folder);
the numbers come from the same core functions the widget calls:
:func:`~napari_segreview.review.checks.check_review`, the fixes of
:mod:`napari_segreview.review.checks`, :func:`~napari_segreview.review.qa.qa_table`
and :func:`~napari_segreview.review.qa.prediction_warnings`.

Exit codes of ``check``: 0 when every check passes (after the fix, with
``--fix``), 1 when findings remain, 2 on a user error (nothing is written).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from napari_segreview.cli._common import comma_list
from napari_segreview.errors import FormatError
from napari_segreview.review import fixes as fix_registry

__all__ = ["FIXES", "add_check", "add_qa", "run_check", "run_qa"]

#: The fixes ``--fix`` can apply (the registry :data:`napari_segreview.review.fixes.FIXES`).
FIXES = tuple(fix_registry.FIXES)


def _fix_hint(kind: str) -> str:
    """What to type for a kind of finding: its fixes in the registry, as options."""
    usual, *others = fix_registry.fixes_for(kind)
    alt = f" (or {', '.join(others)})" if others else ""
    prio = (" --priority A,B,... (highest first)"
            if fix_registry.FIXES[usual].needs == "priority" else "")
    return f"--fix {usual}{alt}{prio} -o OUT"


#: What to type for each kind of finding.
FIX_HINTS = {
    **{kind: _fix_hint(kind) for kind in dict.fromkeys(
        f.resolves for f in fix_registry.FIXES.values())},
    "unexpected_label": "paint those voxels with a class in napari (no automatic fix)",
}
#: ``--fix`` without what it needs (see :func:`napari_segreview.review.fixes.run_fix`).
NO_PRIORITY = ("--fix remove_overlaps needs --priority A,B,...: at least two channels, "
               "highest first (the first keeps overlapping voxels).")
NO_RULES = ("--fix {fix} needs a parent and its children: give --card (a head 'within' "
            "another) or --parent and --children.")

CHECK_HELP = """\
Check masks against their hierarchy, as the Review widget does: children
inside their parent, siblings disjoint, optionally the parent equal to the
union of its children, binary masks holding only 0 and 1, label maps holding
only their classes (and 255, ignore). MASKS is a multi-hot stack file (channel
names from its metadata or --names), several mask files, or the folder that
`segreview predict` wrote (one file per head). The rules come from the model
card (a head 'within' another) or from --parent and --children. Each finding
is printed with its voxel count, channels and first slice; --json prints the
report as JSON. --fix applies one fix and writes the result to -o (a file for
one input, a folder for several); it never changes the input unless -o names
it.

exit status: 0 all checks pass (after --fix), 1 findings, 2 error (one line).
"""

CHECK_EPILOG = """\
examples:
  segreview check predictions/ --card bone.card.yaml
  segreview check masks.tif --parent whole --children part_1,part_2,part_3 --union
  segreview check predictions/ --card bone.card.yaml --fix clip_to_parent -o fixed/
  segreview check masks.tif --parent whole --children a,b --fix remove_overlaps \\
      --priority b,a -o masks_fixed.tif
  segreview check masks.tif --names whole,part_1,part_2 --json
"""

QA_HELP = """\
Compare corrected masks with the model's prediction, channel by channel: Dice,
voxels added and removed by the correction, and with --per-slice the slices it
changed. CORRECTED and PREDICTED are mask files or folders read like `segreview
check` reads them; channels are matched by name (by position for two single
files when one of them has no names). Also warns when two channels of the
prediction are nearly identical (Dice 0.95 or more) or one is empty. --csv
writes the table to a file as well.
"""

QA_EPILOG = """\
examples:
  segreview qa corrected/ predictions/
  segreview qa corrected/ predictions/ --per-slice --csv qa.csv
  segreview qa corrected.tif predicted.tif --names whole,part_1,part_2,part_3
"""


# ------------------------------------------------------------------ parsers
def add_check(subparsers: Any) -> None:
    """Register ``segreview check``."""
    p = subparsers.add_parser(
        "check", help="check masks against their hierarchy; optionally fix them",
        description=CHECK_HELP, epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("masks", nargs="+", metavar="MASKS",
                   help="a multi-hot stack, mask files, or the folder segreview predict wrote "
                        "(.tif, .tiff, .npy, .npz)")
    p.add_argument("--card", metavar="CARD",
                   help="model card (YAML): its 'within' heads give the rules, and files named "
                        "after its heads are read as their decisions")
    p.add_argument("--parent", metavar="NAME", help="without a card: the parent channel")
    p.add_argument("--children", type=comma_list, metavar="A,B,C",
                   help="without a card: the parent's children")
    p.add_argument("--names", type=comma_list, metavar="A,B,C",
                   help="channel names, in file order (a label map's classes 1, 2, ...), when "
                        "the files do not carry them")
    p.add_argument("--disjoint", action=argparse.BooleanOptionalAction, default=None,
                   help="children must not overlap (default: yes with --parent; with a card, "
                        "yes for softmax children, no for sigmoid ones)")
    p.add_argument("--union", action="store_true",
                   help="the parent must equal the union of its children")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--fix", choices=FIXES,
                   help="apply one fix and write the result to -o")
    p.add_argument("--priority", type=comma_list, metavar="A,B,C",
                   help="--fix remove_overlaps: the overlapping channels, highest first (the "
                        "first keeps the voxels)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="--fix: the file (one input) or folder (several) to write; naming the "
                        "input replaces it (atomically)")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(func=run_check)


def add_qa(subparsers: Any) -> None:
    """Register ``segreview qa``."""
    p = subparsers.add_parser(
        "qa", help="compare corrected masks with the prediction (Dice, added, removed)",
        description=QA_HELP, epilog=QA_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corrected", metavar="CORRECTED", help="the corrected masks (file or folder)")
    p.add_argument("predicted", metavar="PREDICTED",
                   help="the model's prediction (file or the folder segreview predict wrote)")
    p.add_argument("--card", metavar="CARD",
                   help="model card: files named after its heads are read as their decisions")
    p.add_argument("--names", type=comma_list, metavar="A,B,C",
                   help="channel names of both sides, in file order, when the files do not "
                        "carry them")
    p.add_argument("--per-slice", action="store_true",
                   help="also list every slice the correction changed, per channel")
    p.add_argument("--csv", metavar="FILE.csv", help="also write the table(s) to a CSV file")
    p.add_argument("--force", action="store_true", help="overwrite the CSV file if it exists")
    p.set_defaults(func=run_qa)


# ------------------------------------------------------------------ shared
def _table(header: Sequence[str], rows: Sequence[Sequence[Any]],
           left: tuple[int, ...] = (0,)) -> list[str]:
    """Aligned text table; columns ``left`` are left-aligned, the others right-aligned."""
    def text(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    cells = [list(header)] + [[text(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = []
    for r in cells:
        parts = [c.ljust(w) if i in left else c.rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        out.append("  ".join(parts).rstrip())
    return out


def _card(path: str | None) -> Any:
    if path is None:
        return None
    from napari_segreview.card.spec import load_card

    return load_card(path)


def _describe(files: Sequence[Any]) -> str:
    return "; ".join(f"{f.path.name} ({f.layout}: {', '.join(f.names) or 'no classes'})"
                     for f in files)


# ------------------------------------------------------------------ check
def _rules(args: argparse.Namespace, card: Any, channels: Sequence[Any]) -> list[Any]:
    from napari_segreview.review.checks import Rule, rules_from_card

    names = [c.name for c in channels]
    if card is not None:
        if args.parent or args.children:
            raise FormatError("give the rules either by --card or by --parent/--children, "
                              "not both.")
        rules = rules_from_card(card, disjoint=args.disjoint, union=args.union)
        for r in rules:
            missing = [n for n in (r.parent, *r.children) if n not in names]
            if missing:
                raise FormatError(
                    f"the card {card.name!r} relates {', '.join(r.children)} to "
                    f"{r.parent!r}, but the masks hold no channel {', '.join(missing)} (they "
                    f"hold {', '.join(names) or 'none'}); give the files of every head (the "
                    "folder segreview predict wrote) or the card these masks were made with.")
        return rules
    if (args.parent is None) != (args.children is None):
        raise FormatError("give --parent and --children together (e.g. --parent whole "
                          "--children part_1,part_2).")
    if args.parent is None:
        if args.union or args.disjoint is not None:
            raise FormatError("--union and --disjoint need a parent: give --card, or --parent "
                              "and --children.")
        return []
    for n in (args.parent, *args.children):
        if n not in names:
            raise FormatError(f"no channel is called {n!r}; the channels are "
                              f"{', '.join(names)} (name them with --names).")
    disjoint = True if args.disjoint is None else args.disjoint
    return [Rule(args.parent, tuple(args.children), disjoint=disjoint, union=args.union)]


def _describe_rules(rules: Sequence[Any]) -> str:
    if not rules:
        return "none (values only; give --card or --parent/--children for the hierarchy)"
    return "; ".join(
        f"{', '.join(r.children)} within {r.parent}"
        + (" (disjoint" if r.disjoint else " (may overlap")
        + (", union)" if r.union else ")") for r in rules)


def _finding_lines(report: Any, spatial: tuple[int, ...]) -> list[str]:
    if report.ok:
        return ["all checks passed."]
    where = "slice" if len(spatial) >= 3 else "at"
    rows = []
    for f in report.findings:
        at = "" if f.first_index is None else (
            f.first_slice if len(spatial) >= 3 else ",".join(map(str, f.first_index)))
        rows.append((f.kind, f.count, at, ", ".join(f.channels), f.message))
    n = len(rows)
    return [f"{n} finding{'s' if n > 1 else ''}:",
            *("  " + line for line in _table(("kind", "voxels", where, "channels", "message"),
                                             rows, left=(0, 3, 4)))]


def _apply_fix(args: argparse.Namespace, channels: list, rules: list) -> Any:
    return fix_registry.run_fix(args.fix, channels, rules, args.priority, missing={
        "priority": NO_PRIORITY, "rules": NO_RULES.format(fix=args.fix)})


def _check_fix_args(args: argparse.Namespace) -> None:
    if args.fix is None:
        if args.output is not None or args.priority is not None:
            raise FormatError("-o and --priority go with --fix; add --fix or leave them out.")
        return
    if args.output is None:
        raise FormatError(f"--fix {args.fix} writes the fixed masks to -o OUT; add -o (a "
                          "file, or the input itself to replace it).")
    if args.priority is not None and args.fix != "remove_overlaps":
        raise FormatError("--priority goes with --fix remove_overlaps only; leave it out.")


def _out_target(args: argparse.Namespace, files: Sequence[Any]) -> tuple[Path, bool]:
    """Where the fixed files go: (path, is_folder)."""
    out = Path(args.output)
    if len(files) == 1 and not out.is_dir():
        same = out.resolve() == files[0].path.resolve()
        if out.exists() and not same and not args.force:
            raise FormatError(f"{out} already exists; choose another -o or pass --force.")
        if not out.parent.is_dir():
            raise FormatError(f"the folder {out.parent} does not exist; create it first.")
        from napari_segreview.io.arrayfiles import file_suffix

        file_suffix(out)
        return out, False
    if out.is_file() or (not out.exists() and out.suffix.lower() in (".tif", ".tiff", ".npy",
                                                                      ".npz")):
        raise FormatError(f"-o {out} is a file name, but {len(files)} mask files need a "
                          "folder; give a folder for -o.")
    return out, True


def _write_fixed(args: argparse.Namespace, files: Sequence[Any], arrays: list) -> list[Path]:
    from napari_segreview.cli._common import write_results
    from napari_segreview.io.arrayfiles import write_array

    out, folder = _out_target(args, files)
    if not folder:
        if arrays[0] is files[0].data and out.resolve() == files[0].path.resolve():
            return []                                     # in place and nothing changed
        write_array(out, arrays[0], files[0].out_meta())
        return [out]
    in_place = all(f.path.parent.resolve() == out.resolve() for f in files)
    items = [(f.path.name, a, f.out_meta()) for f, a in zip(files, arrays, strict=True)
             if not in_place or a is not f.data]   # in place: only the changed files
    return write_results(out, items, force=args.force or in_place) if items else []


def run_check(args: argparse.Namespace) -> int:
    """Handle ``segreview check``: read, check, fix and write on request, print the report."""
    from dataclasses import replace

    from napari_segreview.review.checks import check_review
    from napari_segreview.review.files import read_masks, review_channels

    _check_fix_args(args)
    card = _card(args.card)
    files = read_masks(args.masks, card=card, names=args.names)
    channels = review_channels(files)
    rules = _rules(args, card, channels)
    report = check_review(channels, rules)
    spatial = files[0].spatial
    lines = [f"masks: {_describe(files)}", f"rules: {_describe_rules(rules)}",
             *_finding_lines(report, spatial)]
    if args.fix is None:
        if args.json:
            print(json.dumps(report.to_dict(), indent=2))
        else:
            print("\n".join(lines))
            hints = dict.fromkeys(FIX_HINTS[f.kind] for f in report.findings)
            for hint in hints:
                print(f"to fix: {hint}")
        return 0 if report.ok else 1
    result = _apply_fix(args, channels, rules)
    masks = result.masks
    new = [f.fixed(masks) for f in files]
    arrays = [f.data if a is None else a for f, a in zip(files, new, strict=True)]
    written = _write_fixed(args, files, arrays)
    after_files = [replace(f, data=a) for f, a in zip(files, arrays, strict=True)]
    after = check_review(review_channels(after_files), rules)
    if args.json:
        print(json.dumps({
            "before": report.to_dict(),
            "fix": {"name": result.fix, "message": result.message, "changed": result.changed,
                    "written": [str(p) for p in written]},
            "after": after.to_dict(),
        }, indent=2))
    else:
        print("\n".join(lines))
        print(f"fix: {result.message}")
        for p in written:
            print(f"wrote {p}")
        if not written:
            print(f"nothing written: {args.output} is the input and the fix changed nothing.")
        print("after the fix: " + "\n".join(_finding_lines(after, spatial)))
    return 0 if after.ok else 1


# ------------------------------------------------------------------ qa
def _pairs(corr_files: Sequence[Any], pred_files: Sequence[Any]) -> list[tuple[Any, Any]]:
    """(corrected channel, predicted channel) pairs, named alike."""
    from napari_segreview.review.checks import Channel
    from napari_segreview.review.files import review_channels

    cc, pc = review_channels(corr_files), review_channels(pred_files)
    if corr_files[0].spatial != pred_files[0].spatial:
        raise FormatError(
            f"the corrected masks have shape {corr_files[0].spatial} but the prediction "
            f"{pred_files[0].spatial}; compare masks of one image.")
    by_name = {c.name: c for c in pc}
    common = [c for c in cc if c.name in by_name]
    if common:
        left = [c.name for c in cc if c.name not in by_name]
        left += [c.name for c in pc if c.name not in {x.name for x in cc}]
        if left:
            print(f"segreview: warning: {', '.join(left)} are on one side only and left out "
                  "of the QA.", file=sys.stderr)
        return [(c, by_name[c.name]) for c in common]
    single = len(corr_files) == 1 and len(pred_files) == 1 and len(cc) == len(pc)
    named_c, named_p = corr_files[0].named, pred_files[0].named
    if not single or (named_c and named_p):
        raise FormatError(
            f"the corrected channels ({', '.join(c.name for c in cc)}) and the predicted ones "
            f"({', '.join(c.name for c in pc)}) share no name; compare masks of the same "
            "channels, or name both with --names.")
    names = [p.name for p in pc] if named_p and not named_c else [c.name for c in cc]
    return [(Channel(n, c.data, c.value, c.source), Channel(n, p.data, p.value, p.source))
            for n, c, p in zip(names, cc, pc, strict=True)]


def qa_rows(corr_files: Sequence[Any], pred_files: Sequence[Any]) -> tuple[list, list]:
    """Per channel QA (:class:`~napari_segreview.review.qa.ChannelQA`) and prediction warnings."""
    from napari_segreview.review.qa import channel_qa, prediction_warnings

    pairs = _pairs(corr_files, pred_files)
    results = [channel_qa(c, p) for c, p in pairs]
    warnings = prediction_warnings([p for _, p in pairs])
    return results, warnings


def _qa_tables(results: Sequence[Any], per_slice: bool) -> tuple[list, list]:
    totals = [(q.name, q.dice, q.added, q.removed, q.n_predicted, q.n_corrected)
              for q in results]
    slices = []
    if per_slice:
        for q in results:
            d, a, r = q.slice_dice, q.slice_added, q.slice_removed
            slices += [(q.name, int(z), float(d[z]), int(a[z]), int(r[z]), int(q.predicted[z]),
                        int(q.corrected[z])) for z in q.changed_slices]
    return totals, slices


def _write_csv(path: Path, totals: list, slices: list, force: bool) -> None:
    from napari_segreview.io.arrayfiles import atomic_write

    if path.exists() and not force:
        raise FormatError(f"{path} already exists; choose another --csv or pass --force.")
    if not path.parent.is_dir():
        raise FormatError(f"the folder {path.parent} does not exist; create it first.")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["channel", "slice", "dice", "added", "removed", "predicted", "corrected"])
    for name, dice, *rest in totals:
        w.writerow([name, "all", f"{dice:.6f}", *rest])
        for s in (s for s in slices if s[0] == name):
            w.writerow([name, s[1], f"{s[2]:.6f}", *s[3:]])
    data = buf.getvalue().encode()
    try:
        atomic_write(path, lambda fh: fh.write(data))
    except OSError as exc:
        raise FormatError(f"could not write {path} ({exc.strerror or exc}); check that the "
                          "folder is writable.") from exc


def run_qa(args: argparse.Namespace) -> int:
    """Handle ``segreview qa``: per channel (and per slice) QA, warnings, optional CSV."""
    from napari_segreview.review.files import read_masks

    card = _card(args.card)
    corr = read_masks([args.corrected], card=card, names=args.names)
    pred = read_masks([args.predicted], card=card, names=args.names)
    results, warnings = qa_rows(corr, pred)
    totals, slices = _qa_tables(results, args.per_slice)
    if args.csv:
        _write_csv(Path(args.csv), totals, slices, args.force)
    print("\n".join(_table(("channel", "dice", "added", "removed", "predicted", "corrected"),
                           totals)))
    if args.per_slice:
        print()
        if slices:
            print("slices the correction changed:")
            print("\n".join(_table(("channel", "slice", "dice", "added", "removed",
                                    "predicted", "corrected"), slices)))
        else:
            print("the correction changed no slice.")
    for w in warnings:
        print(f"segreview: warning: {w.message}", file=sys.stderr)
    if args.csv:
        print(f"wrote {args.csv}")
    return 0
