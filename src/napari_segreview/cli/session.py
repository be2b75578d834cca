"""``segreview session info|export``: look into a review session without napari."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from napari_segreview.io.arrayfiles import WRITE_FORMATS

SESSION_HELP = """\
Inspect a review session folder (made by the Review session panel in napari)
or get its corrected layers out as files, without napari. A model head's
decision layers come out as one file, <head>.<format>, the way segreview
predict writes it (a multi-hot stack with channel names for a sigmoid head, a
label map with class names for a softmax head, the voxel spacing), so
segreview check, qa and export take it as it is; every other layer gets a file
named after it.
"""

SESSION_EPILOG = """\
examples:
  segreview session info scan.segreview
  segreview session export scan.segreview -o corrected/ --format tif
"""


def add_session(subparsers: Any) -> None:
    """Register ``segreview session`` with its ``info`` and ``export`` actions."""
    p = subparsers.add_parser("session", help="inspect or export a review session",
                              description=SESSION_HELP, epilog=SESSION_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="print what a session holds and whether it "
                                       "was closed cleanly")
    info.add_argument("folder", metavar="DIR", help="the session folder (or its session.json)")
    info.set_defaults(func=run_info)
    exp = sub.add_parser("export", help="write the layers (as last autosaved) to files: a "
                                       "head's as segreview predict writes it")
    exp.add_argument("folder", metavar="DIR", help="the session folder (or its session.json)")
    exp.add_argument("-o", "--output", metavar="OUTDIR", required=True,
                     help="folder to write into (created if missing; its parent must exist)")
    exp.add_argument("--format", choices=WRITE_FORMATS, default="tif",
                     help="file format (default tif); spacing and class names go along")
    exp.add_argument("--include-removed", action="store_true",
                     help="also export layers that were removed from the viewer")
    exp.add_argument("--force", action="store_true", help="overwrite existing files")
    exp.set_defaults(func=run_export)


def summary(folder: str | Path) -> str:
    """Describe a session in a few lines (what ``segreview session info`` prints)."""
    from napari_segreview.session.session import Session

    s = Session.open(folder, writable=False)
    img = s.image or {}
    state = ("closed cleanly" if s.closed_cleanly else
             "NOT closed cleanly: holds edits autosaved after the last clean close"
             if s.interrupted else "open (or stopped before any edit)")
    lines = [f"session {s.folder} (format {s.doc['version']}, generation {s.generation}, "
             f"saved {s.doc.get('saved_at')}): {state}",
             f"image: {img.get('name')} {img.get('shape')} from "
             f"{img.get('path') or ('the session' if img.get('stored') else 'nowhere')}",
             f"card: {(s.card or {}).get('name', 'none')}"]
    for rec in s.layers:
        kind = rec.metadata.get("kind", "plain")
        n = sum(1 for g in rec.chunks if g)
        flag = " [removed from the viewer]" if rec.removed else ""
        pred = ", with prediction" if rec.prediction else ""
        lines.append(f"layer {rec.id} {rec.name!r}: {kind}, {tuple(rec.shape)} {rec.dtype}, "
                     f"{n}/{len(rec.chunks)} chunks stored{pred}{flag}")
    if s.doc.get("state"):
        lines.append(f"state: {', '.join(sorted(s.doc['state']))}")
    return "\n".join(lines)


def run_info(args: argparse.Namespace) -> int:
    """Handle ``segreview session info``."""
    print(summary(args.folder))
    return 0


def export_plan(s: Any, out: Path, fmt: str, include_removed: bool = False) -> list[tuple]:
    """Return ``(ExportFile, path)`` for every file to write: one name each, no clash.

    A head's decision layers make one file, as ``segreview predict`` writes it
    (:mod:`napari_segreview.session.export`); every other layer a file of its own.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> recs = [NS(id="a1", name="bone", removed=False, metadata={}),
    ...         NS(id="b2", name="bone", removed=False, metadata={}),
    ...         NS(id="c3", name="old", removed=True, metadata={})]
    >>> [p.name for _, p in export_plan(NS(layers=recs, card=None), Path("out"), "tif")]
    ['bone.tif', 'bone-b2.tif']
    """
    from napari_segreview.session.export import export_files

    return [(f, out / f.file_name(fmt)) for f in export_files(s, include_removed)]


def _targets(path: Path) -> list[Path]:
    """The files writing ``path`` creates (an ``.npy`` has its ``.npy.json`` sidecar)."""
    from napari_segreview.io.arrayfiles import sidecar_path

    return [path, sidecar_path(path)] if path.suffix == ".npy" else [path]


def run_export(args: argparse.Namespace) -> int:
    """Handle ``segreview session export``: one file per head or layer, metadata kept.

    Every target is checked before anything is written; the files are written
    into a hidden staging folder beside the output folder
    (:func:`napari_segreview._util.files.staged`) and moved in together. An
    error (a file that exists, a corrupt chunk, a full disk) leaves the output
    folder as it was: files already moved are removed again, a folder made for
    them too.
    """
    from napari_segreview._util.files import staged
    from napari_segreview.errors import FormatError
    from napari_segreview.io.arrayfiles import write_array
    from napari_segreview.session.export import read_export_file
    from napari_segreview.session.session import Session

    s = Session.open(args.folder, writable=False)
    out = Path(args.output)
    plan = export_plan(s, out, args.format, args.include_removed)

    def check() -> None:
        if out.exists() and not out.is_dir():
            raise FormatError(f"{out} is a file, not a folder; choose a folder for -o.")
        existing = [t for _, p in plan for t in _targets(p) if t.exists()]
        if existing and not args.force:
            names = ", ".join(p.name for p in existing)
            raise FormatError(f"{names} already exist{'s' if len(existing) == 1 else ''} in "
                              f"{out}; pass --force to overwrite, or choose another -o folder. "
                              "Nothing was written.")

    check()
    if not out.parent.is_dir():
        raise FormatError(f"the folder {out.parent} does not exist; create it first.")
    try:
        with staged(out.parent, out.name) as st:
            for f, path in plan:
                write_array(st.path / path.name, *read_export_file(s, f))
            check()  # again: nothing appeared meanwhile
            st.move_all(out)
    except OSError as exc:
        raise FormatError(f"could not write into {out} ({exc.strerror or exc}); nothing was "
                          "written, so check the disk and the folder.") from exc
    print(f"wrote {len(plan)} file(s) to {out}: "
          f"{', '.join(_describe(f, p) for f, p in plan) or 'none'}")
    return 0


def _describe(f: Any, path: Path) -> str:
    if f.head is None:
        return path.name
    return f"{path.name} (head {f.head}: {', '.join(f.channels)})"
