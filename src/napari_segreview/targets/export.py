"""Export folders of training targets: write cases atomically, read them back, keep statistics.

Layout of a ``tif``/``npz`` export (``nnunet`` is in :mod:`napari_segreview.targets.nnunet`)::

    export/
      segreview-export.json     format, card, program version (written once)
      statistics.json           class statistics over every complete case
      <case>/image.tif          the image, raw or normalised
      <case>/<head>.tif         one target per head: label map or multi-hot stack
      <case>/manifest.json      written last: a case without it is not a case

A case is written into a hidden staging folder (``.<case>.tmp-XXXX``), the
manifest last, and then renamed into place, so a failure or a crash never
leaves a case that looks complete; ``statistics.json`` is then rewritten
(atomically) from the counts stored in every manifest, so appending cases
keeps it consistent. Checksums (sha256) in the manifest are verified on read.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import ArrayMeta, atomic_write, read_array, write_array
from napari_segreview.targets.build import ExportCase, Target, safe_name
from napari_segreview.targets.classstats import count_target, statistics_from_counts

__all__ = [
    "EXPORT_FORMATS", "MANIFEST", "MARKER", "STATISTICS", "ExportResult", "ExportedCase",
    "export_case", "find_export_root", "is_export", "preview_statistics",
    "read_export", "read_statistics",
]

#: Export formats: TIFF or npz files per case, or an nnU-Net v2 raw dataset.
EXPORT_FORMATS = ("tif", "npz", "nnunet")
MARKER = "segreview-export.json"
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
    """Write JSON atomically (:func:`~napari_segreview.io.arrayfiles.atomic_write`)."""
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


# ----------------------------------------------------------------------------- writing


def export_case(folder: str | os.PathLike, case: ExportCase, *, fmt: str = "tif",
                overwrite: bool = False, method: str = "inverse_frequency") -> ExportResult:
    """Write one case into an export folder (created if missing), all or nothing.

    Parameters
    ----------
    folder : path
        The export folder: new, empty, or an export of the same format, card
        and heads (the case is then added, and the statistics updated).
    case : ExportCase
        The image and its targets.
    fmt : {"tif", "npz", "nnunet"}
        File format; ``nnunet`` writes an nnU-Net v2 raw dataset.
    overwrite : bool
        Replace a case of the same name instead of refusing.
    method : {"inverse_frequency", "median_frequency"}
        CrossEntropyLoss weights written as ``weight`` in the statistics.

    Raises
    ------
    FormatError
        One sentence, before anything is written, on a folder that is not an
        export, another card or format, a case that exists, or unsafe names.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from napari_segreview.targets.build import card_from_choices, build_targets
    >>> card = card_from_choices(["fg"])
    >>> mask = np.array([[[0, 1], [1, 1]]], np.uint8)
    >>> case = ExportCase("scan 1", np.zeros((2, 2), np.int16),
    ...                   build_targets(card, {"channels": mask}, (2, 2)), card)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "export"
    >>> export_case(out, case).statistics["heads"]["channels"]["pos_weight"]
    [0.3333333333333333]
    >>> sorted(p.name for p in (out / "scan_1").iterdir())
    ['channels.tif', 'image.tif', 'manifest.json']
    """
    folder = Path(folder)
    if fmt == "nnunet":
        from napari_segreview.targets.nnunet import export_nnunet_case

        return export_nnunet_case(folder, case, overwrite=overwrite, method=method)
    name = safe_name(case.name, "case name")
    heads = [t.head for t in case.targets]
    marker = check_folder(folder, fmt, case.card, heads)
    dest = folder / name
    if dest.exists() and not overwrite:
        raise FormatError(f"the export already has a case {name!r}; choose another case name "
                          "or allow replacing it.")
    image = case.stored_image()  # may raise (normalised without a card): before any write
    created = not folder.exists()
    folder.mkdir(exist_ok=True)
    stage = folder / f".{name}.tmp-{secrets.token_hex(4)}"
    old = folder / f".{name}.old-{secrets.token_hex(4)}"
    try:
        if marker is None:
            write_json(folder / MARKER, new_marker(fmt, case.card, heads))
        stage.mkdir()
        files = _write_case_files(stage, case, name, image, fmt)
        if dest.exists():
            os.rename(dest, old)
        os.rename(stage, dest)
        shutil.rmtree(old, ignore_errors=True)
        stats = update_statistics(folder, method)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if old.exists() and not dest.exists():
            os.rename(old, dest)
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        elif marker is None:
            with contextlib.suppress(FileNotFoundError):
                (folder / MARKER).unlink()
        raise
    return ExportResult(folder, name, [dest / f for f in files], dest / MANIFEST, stats)


def _write_case_files(stage: Path, case: ExportCase, name: str, image: np.ndarray,
                      fmt: str) -> list[str]:
    spacing = case.spacing
    img_file = f"image.{fmt}"
    write_array(stage / img_file, image, ArrayMeta(None, None, spacing=spacing))
    image_entry = {"file": img_file, "mode": case.image_mode, "shape": list(image.shape),
                   "dtype": image.dtype.str, "sha256": sha256(stage / img_file)}
    entries = []
    for t in case.targets:
        fname = f"{safe_name(t.head, 'head name')}.{fmt}"
        write_array(stage / fname, t.data, target_meta(t, spacing))
        entries.append({"head": t.head, "kind": t.kind, "encoding": t.encoding,
                        "channels": list(t.channels), "within": t.within,
                        "ignore_value": t.ignore_value, "file": fname,
                        "shape": list(t.data.shape), "dtype": t.data.dtype.str,
                        "sha256": sha256(stage / fname)})
    write_json(stage / MANIFEST, case_manifest(case, name, fmt, image_entry, entries))
    return [img_file, *(e["file"] for e in entries), MANIFEST]


# ----------------------------------------------------------------------------- reading


def read_export(path: str | os.PathLike) -> list[ExportedCase]:
    """Read an export back: the whole folder, one case folder, or one manifest.

    Checksums are verified; a case without its manifest is not a case.

    Raises
    ------
    FormatError
        If ``path`` is not part of a SegReview export, or a file is damaged.
    """
    path = Path(path)
    root = find_export_root(path)
    if root is None:
        raise FormatError(f"{path} is not a SegReview export (no {MARKER} found); give the "
                          "export folder, a case folder or a manifest.")
    marker = read_json(root / MARKER, "export marker")
    if marker.get("format") == "nnunet":
        from napari_segreview.targets.nnunet import read_nnunet

        return read_nnunet(root, path)
    if path.is_file():
        chosen = [read_json(path, "case manifest")]
    elif path == root:
        chosen = manifests(root)
    elif (path / MANIFEST).is_file():
        chosen = [read_json(path / MANIFEST, "case manifest")]
    else:
        raise FormatError(f"{path} is not a complete case (it has no {MANIFEST}); export it "
                          "again.")
    return [_read_case(root / m["case"], m) for m in chosen]


def verified(path: Path, entry: dict) -> Path:
    """``path`` after checking its sha256 against the manifest ``entry``."""
    if not path.is_file():
        raise FormatError(f"{path} is missing from the export; export that case again.")
    if sha256(path) != entry.get("sha256"):
        raise FormatError(f"{path} does not match the checksum in its manifest (changed or "
                          "damaged after export); export that case again.")
    return path


def _read_case(case_dir: Path, m: dict) -> ExportedCase:
    image, _ = read_array(verified(case_dir / m["image"]["file"], m["image"]))
    targets = []
    for e in m["targets"]:
        data, _ = read_array(verified(case_dir / e["file"], e))
        targets.append(Target(e["head"], e["kind"], tuple(e["channels"]), data, e.get("within")))
    spacing = None if m.get("spacing") is None else tuple(m["spacing"])
    return ExportedCase(m["case"], m, image, targets, spacing)
