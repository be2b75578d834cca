"""``segreview session info|export``: look into a review session without napari."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

SESSION_HELP = """\
Inspect a review session folder (made by the Review session panel in napari)
or get its corrected layers out as files, without napari.
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
    exp = sub.add_parser("export", help="write every layer (as last autosaved) to a file")
    exp.add_argument("folder", metavar="DIR", help="the session folder (or its session.json)")
    exp.add_argument("-o", "--output", metavar="OUTDIR", required=True,
                     help="folder to write into (created if missing)")
    exp.add_argument("--format", choices=["tif", "npz", "npy"], default="tif",
                     help="file format (default tif); spacing and class names go along")
    exp.add_argument("--include-removed", action="store_true",
                     help="also export layers that were removed from the viewer")
    exp.add_argument("--force", action="store_true", help="overwrite existing files")
    exp.set_defaults(func=run_export)


def summary(folder: str | Path) -> str:
    """Describe a session in a few lines (what ``segreview session info`` prints)."""
    from napari_segreview.core.session import Session

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


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "layer"


def run_export(args: argparse.Namespace) -> int:
    """Handle ``segreview session export``: one file per layer, metadata kept."""
    from napari_segreview.core.arrayfiles import ArrayMeta, write_array
    from napari_segreview.core.formats import FormatError
    from napari_segreview.core.session import Session

    s = Session.open(args.folder, writable=False)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for rec in s.layers:
        if rec.removed and not args.include_removed:
            continue
        m = rec.metadata
        kind = "atoms" if m.get("kind") == "atoms" else "labels"
        classes = m.get("classes")
        meta = ArrayMeta(kind, tuple(classes) if classes else None, m.get("atom_table"),
                         tuple(rec.scale) if rec.scale else None)
        path = out / f"{_file_name(rec.name)}.{args.format}"
        if path in written:
            path = out / f"{_file_name(rec.name)}-{rec.id}.{args.format}"
        if path.exists() and not args.force:
            raise FormatError(f"{path} already exists; pass --force to overwrite it.")
        write_array(path, s.read_layer(rec.id), meta)
        written.append(path)
    print(f"wrote {len(written)} layer file(s) to {out}: "
          f"{', '.join(p.name for p in written) or 'none'}")
    return 0
