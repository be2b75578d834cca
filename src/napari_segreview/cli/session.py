"""``segreview session info|export``: look into a review session without napari."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from napari_segreview.io.arrayfiles import WRITE_FORMATS

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


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "layer"


def export_plan(s: Any, out: Path, fmt: str, include_removed: bool = False) -> list[tuple]:
    """Return ``(record, path)`` for every layer to export: one file name each, no clash.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> recs = [NS(id="a1", name="bone", removed=False), NS(id="b2", name="bone", removed=False),
    ...         NS(id="c3", name="old", removed=True)]
    >>> [p.name for _, p in export_plan(NS(layers=recs), Path("out"), "tif")]
    ['bone.tif', 'bone-b2.tif']
    """
    plan: list[tuple] = []
    taken: set[Path] = set()
    for rec in s.layers:
        if rec.removed and not include_removed:
            continue
        path = out / f"{_file_name(rec.name)}.{fmt}"
        if path in taken:
            path = out / f"{_file_name(rec.name)}-{rec.id}.{fmt}"
        taken.add(path)
        plan.append((rec, path))
    return plan


def _targets(path: Path) -> list[Path]:
    """The files writing ``path`` creates (an ``.npy`` has its ``.npy.json`` sidecar)."""
    from napari_segreview.io.arrayfiles import sidecar_path

    return [path, sidecar_path(path)] if path.suffix == ".npy" else [path]


def run_export(args: argparse.Namespace) -> int:
    """Handle ``segreview session export``: one file per layer, metadata kept.

    Every target is checked before anything is written, and the files are
    written into a hidden staging folder inside the output folder, then moved
    into place: an error (a file that exists, a corrupt chunk, a full disk)
    leaves the output folder as it was.
    """
    import os
    import shutil
    import tempfile

    from napari_segreview._util.files import fsync_dir
    from napari_segreview.errors import FormatError
    from napari_segreview.io.arrayfiles import ArrayMeta, write_array
    from napari_segreview.session.session import Session

    s = Session.open(args.folder, writable=False)
    out = Path(args.output)
    plan = export_plan(s, out, args.format, args.include_removed)

    def check() -> None:
        existing = [t for _, p in plan for t in _targets(p) if t.exists()]
        if existing and not args.force:
            names = ", ".join(p.name for p in existing)
            raise FormatError(f"{names} already exist{'s' if len(existing) == 1 else ''} in "
                              f"{out}; pass --force to overwrite, or choose another -o folder. "
                              "Nothing was written.")

    check()
    moved: list[str] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".segreview-export-", dir=out))
    except OSError as exc:
        raise FormatError(f"cannot write into {out} ({exc.strerror or exc}); choose a "
                          "writable folder.") from exc
    try:
        for rec, path in plan:
            m = rec.metadata
            kind = "atoms" if m.get("kind") == "atoms" else "labels"
            classes = m.get("classes")
            meta = ArrayMeta(kind, tuple(classes) if classes else None, m.get("atom_table"),
                             tuple(rec.scale) if rec.scale else None)
            write_array(staging / path.name, s.read_layer(rec.id), meta)
        check()  # again: nothing appeared meanwhile
        for _, path in plan:
            for target in _targets(path):
                if (staging / target.name).exists():
                    os.replace(staging / target.name, target)
                    moved.append(target.name)
        fsync_dir(out)
    except OSError as exc:
        done = f"only {', '.join(moved)} {'was' if len(moved) == 1 else 'were'} written" \
            if moved else "nothing was written"
        raise FormatError(f"could not write into {out} ({exc.strerror or exc}; {done}); check "
                          "the disk and the folder.") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {len(plan)} layer file(s) to {out}: "
          f"{', '.join(p.name for _, p in plan) or 'none'}")
    return 0
