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

This module is also the entry point for every format: :func:`export_case` and
:func:`read_export` hand nnU-Net folders to :mod:`napari_segreview.targets.nnunet`.
What both formats share (marker, manifests, statistics, JSON, checksums) is in
:mod:`napari_segreview.targets._folder` and re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from napari_segreview._util.files import staged
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import ArrayMeta, read_array, write_array
from napari_segreview.targets._folder import (
    EXPORT_FORMATS,
    MANIFEST,
    MARKER,
    STATISTICS,
    ExportedCase,
    ExportResult,
    case_manifest,
    check_folder,
    find_export_root,
    is_export,
    manifests,
    new_marker,
    preview_statistics,
    read_json,
    read_statistics,
    sha256,
    target_entry,
    target_meta,
    update_statistics,
    verified,
    write_json,
)
from napari_segreview.targets.build import ExportCase, Target, safe_name
from napari_segreview.targets.nnunet import export_nnunet_case, read_nnunet

__all__ = [
    "EXPORT_FORMATS", "MANIFEST", "MARKER", "STATISTICS", "ExportResult", "ExportedCase",
    "export_case", "find_export_root", "is_export", "preview_statistics",
    "read_export", "read_statistics",
]


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
        return export_nnunet_case(folder, case, overwrite=overwrite, method=method)
    name = safe_name(case.name, "case name")
    heads = [t.head for t in case.targets]
    marker = check_folder(folder, fmt, case.card, heads)
    dest = folder / name
    if dest.exists() and not overwrite:
        raise FormatError(f"the export already has a case {name!r}; choose another case name "
                          "or allow replacing it.")
    image = case.stored_image()  # may raise (normalised without a card): before any write
    with staged(folder, name) as st:  # a new export folder is removed again on failure
        if marker is None:
            write_json(st.track(folder / MARKER), new_marker(fmt, case.card, heads))
        files = _write_case_files(st.path, case, name, image, fmt)
        st.replace_folder(dest)  # the case appears whole; a replaced one is back on failure
        stats = update_statistics(folder, method)
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
        entries.append({**target_entry(t), "file": fname, "sha256": sha256(stage / fname)})
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


def _read_case(case_dir: Path, m: dict) -> ExportedCase:
    image, _ = read_array(verified(case_dir / m["image"]["file"], m["image"]))
    targets = []
    for e in m["targets"]:
        data, _ = read_array(verified(case_dir / e["file"], e))
        targets.append(Target(e["head"], e["kind"], tuple(e["channels"]), data, e.get("within")))
    spacing = None if m.get("spacing") is None else tuple(m["spacing"])
    return ExportedCase(m["case"], m, image, targets, spacing)
