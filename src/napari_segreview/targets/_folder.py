"""What every export folder shares, whatever its format: marker, manifests, statistics, checks.

An export folder (tif/npz in :mod:`napari_segreview.targets.export`, nnU-Net
in :mod:`napari_segreview.targets.nnunet`) holds a marker file written once
(``segreview-export.json``: format, card, heads, program), one manifest per
complete case (counts, checksums, what the files hold) and ``statistics.json``
rebuilt from the manifests after each case. JSON is written atomically
(:func:`napari_segreview._util.files.atomic_write`); cases are written through
:func:`napari_segreview._util.files.staged`. Both writers import this module
and never each other.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._util.files import atomic_write
from napari_segreview._util.markers import EXPORT_MARKER
from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import ArrayMeta
from napari_segreview.targets.build import ExportCase, Target, safe_name
from napari_segreview.targets.choices import EXPORT_FORMATS
from napari_segreview.targets.classstats import count_target, statistics_from_counts

__all__ = [
    "EXPORT_FORMATS", "MANIFEST", "MARKER", "STATISTICS", "ExportResult", "ExportedCase",
    "case_manifest", "check_folder", "find_export_root", "is_export", "manifests",
    "new_marker", "preview_statistics", "read_json", "read_statistics", "sha256",
    "target_entry", "target_meta", "update_statistics", "verified", "write_json",
]

MARKER = EXPORT_MARKER
STATISTICS = "statistics.json"
MANIFEST = "manifest.json"
_VERSION = 1


def _program() -> dict[str, str]:
    from napari_segreview import __version__

    return {"name": "napari-segreview", "version": __version__}


@dataclass
class ExportResult:
    """What one :func:`export_case` wrote."""

    folder: Path
    case: str
    files: list[Path]
    manifest: Path
    statistics: dict[str, Any]

    def summary(self) -> str:
        """One line for the CLI and the widget."""
        return (f"wrote case {self.case!r} ({len(self.files)} files) to {self.folder}; "
                f"statistics over {self.statistics.get('cases', 0)} case(s) in {STATISTICS}")


@dataclass
class ExportedCase:
    """A case read back from an export."""

    name: str
    manifest: dict[str, Any]
    image: np.ndarray
    targets: list[Target]
    spacing: tuple[float, ...] | None


# ----------------------------------------------------------------------------- small helpers


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (:func:`~napari_segreview._util.files.atomic_write`)."""
    text = json.dumps(obj, indent=1) + "\n"
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def read_json(path: Path, what: str) -> dict[str, Any]:
    """Read a JSON object, or raise FormatError naming ``what``."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"could not read the {what} {path} ({exc}); the export is damaged: "
                          "export that case again.") from exc
    if not isinstance(obj, dict):
        raise FormatError(f"the {what} {path} is not a JSON object; export that case again.")
    return obj


def is_export(folder: Path) -> bool:
    """True when ``folder`` holds a SegReview export (its marker file)."""
    return (Path(folder) / MARKER).is_file()


def find_export_root(path: str | os.PathLike) -> Path | None:
    """The export folder that ``path`` (the folder, a case folder or a manifest) belongs to."""
    path = Path(path)
    for cand in (path, path.parent, path.parent.parent):
        if cand.is_dir() and is_export(cand):
            return cand
    return None


def check_folder(folder: Path, fmt: str, card: ModelCard, heads: Sequence[str]) -> dict | None:
    """Refuse a folder we may not write into; return its marker when it is an export already."""
    if fmt not in EXPORT_FORMATS:
        raise FormatError(f"the export format must be one of {', '.join(EXPORT_FORMATS)}, "
                          f"not {fmt!r}.")
    if folder.exists() and not folder.is_dir():
        raise FormatError(f"{folder} is a file; choose a folder for the export.")
    if not folder.parent.is_dir():
        raise FormatError(f"the folder {folder.parent} does not exist; create it first.")
    if not folder.exists():
        return None
    if not is_export(folder):
        if any(p for p in folder.iterdir() if not p.name.startswith(".")):
            raise FormatError(f"{folder} is neither empty nor a SegReview export; choose an "
                              "empty or new folder.")
        return None
    marker = read_json(folder / MARKER, "export marker")
    if marker.get("format") != fmt:
        raise FormatError(f"{folder} holds a {marker.get('format')} export, not {fmt}; export "
                          f"as {marker.get('format')} or to another folder.")
    old_heads = marker.get("heads")
    if marker.get("card") != card.to_dict() or list(old_heads or ()) != list(heads):
        raise FormatError(f"{folder} holds cases of other heads or another card "
                          f"({', '.join(old_heads or ())}); add only cases with the same card "
                          "and heads, or export to another folder.")
    return marker


def new_marker(fmt: str, card: ModelCard, heads: Sequence[str], **extra: Any) -> dict:
    """The export marker written when a folder becomes an export."""
    return {"segreview_export": _VERSION, "format": fmt, "card": card.to_dict(),
            "heads": list(heads), "program": _program(), **extra}


def target_meta(t: Target, spacing: Any) -> ArrayMeta:
    """ArrayMeta stored with a target file (kind, channel or class names, spacing)."""
    return ArrayMeta(t.encoding, t.channels, spacing=spacing)


def target_entry(t: Target) -> dict[str, Any]:
    """What a manifest says about one target (its file, when it has one, is added by the writer).

    Examples
    --------
    >>> t = Target("parts", "softmax", ("bg", "a"), np.zeros((2, 3), np.uint8))
    >>> target_entry(t)["encoding"], target_entry(t)["ignore_value"], target_entry(t)["shape"]
    ('labels', 255, [2, 3])
    """
    return {"head": t.head, "kind": t.kind, "encoding": t.encoding,
            "channels": list(t.channels), "within": t.within,
            "ignore_value": t.ignore_value, "shape": list(t.data.shape),
            "dtype": t.data.dtype.str}


def case_manifest(case: ExportCase, name: str, fmt: str, image_entry: dict,
                  target_entries: list[dict]) -> dict[str, Any]:
    """The manifest of one case (everything but the files is described here)."""
    return {
        "segreview_export_case": _VERSION, "complete": True, "case": name, "format": fmt,
        "program": _program(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source": case.source, "card": case.card.to_dict(),
        "spacing": None if case.spacing is None else list(case.spacing),
        "shape": list(case.spatial_shape), "image": image_entry, "targets": target_entries,
        "counts": {t.head: count_target(t) for t in case.targets}, "layers": case.layers,
    }


def manifests(folder: Path) -> list[dict[str, Any]]:
    """Manifests of the complete cases of an export, in name order."""
    folder = Path(folder)
    marker = read_json(folder / MARKER, "export marker")
    if marker.get("format") == "nnunet":
        paths = sorted((folder / "manifests").glob("*.json"))
    else:
        paths = sorted(p / MANIFEST for p in folder.iterdir()
                       if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file())
    return [read_json(p, "case manifest") for p in paths]


def update_statistics(folder: Path, method: str) -> dict[str, Any]:
    """Rewrite ``statistics.json`` from the counts in every manifest; return it."""
    stats = statistics_from_counts((m["counts"] for m in manifests(folder)), method=method)
    write_json(folder / STATISTICS, stats)
    return stats


def read_statistics(folder: str | os.PathLike) -> dict[str, Any]:
    """The statistics of an export (``statistics.json``)."""
    return read_json(Path(folder) / STATISTICS, "statistics")


def preview_statistics(folder: str | os.PathLike | None, cases: Iterable[ExportCase], *,
                       method: str = "inverse_frequency") -> dict[str, Any]:
    """Statistics the export will have after adding ``cases`` (nothing is written).

    Cases already in ``folder`` (when it is an export) are counted from their
    manifests; a case of the same name is replaced, as with ``overwrite``.
    """
    cases = list(cases)
    new = {safe_name(c.name, "case name") for c in cases}
    old: list[dict] = []
    if folder is not None and is_export(Path(folder)):
        old = [m["counts"] for m in manifests(Path(folder)) if m.get("case") not in new]
    counts = [{t.head: count_target(t) for t in c.targets} for c in cases]
    return statistics_from_counts([*old, *counts], method=method)


def verified(path: Path, entry: dict) -> Path:
    """``path`` after checking its sha256 against the manifest ``entry``."""
    if not path.is_file():
        raise FormatError(f"{path} is missing from the export; export that case again.")
    if sha256(path) != entry.get("sha256"):
        raise FormatError(f"{path} does not match the checksum in its manifest (changed or "
                          "damaged after export); export that case again.")
    return path
