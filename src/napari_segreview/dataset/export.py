"""Done cases become training targets through the existing export.

For every case of a chosen status (``done`` by default), the masks are the
case's reviewed layers when it has a session (a head's layers, as ``segreview
session export`` gathers them, :func:`~napari_segreview.session.export.export_files`),
else its prediction files; they are turned into targets by
:func:`~napari_segreview.targets.build.build_targets` and written by
:func:`~napari_segreview.targets.export.export_case` (``tif``, ``npz`` or
``nnunet``), which keeps ``statistics.json`` (class statistics and loss
weights) over the whole set and appends to an existing export of the same card.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from napari_segreview.dataset.manifest import Manifest
from napari_segreview.errors import FormatError

__all__ = ["case_masks", "export_done"]


def case_masks(manifest: Manifest, case_id: str, fmt: str = "tif") -> dict[str, np.ndarray]:
    """Head name -> mask array of a case: its reviewed session's, else its prediction's.

    Raises
    ------
    FormatError
        The case has neither a session nor prediction files.
    """
    from napari_segreview.io.arrayfiles import read_array
    from napari_segreview.io.results import head_file_name
    from napari_segreview.session.format import is_session

    heads = [h["name"] for h in manifest.card.get("heads", [])]
    session_dir = manifest.session_dir(case_id)
    if is_session(session_dir):
        from napari_segreview.session.export import export_files, read_export_file
        from napari_segreview.session.session import Session

        session = Session.open(session_dir, writable=False)
        found = {}
        for f in export_files(session):
            if f.head in heads and not f.probabilities:
                found[f.head] = read_export_file(session, f)[0]
        if found:
            return found
    pred = manifest.prediction_dir(case_id)
    found = {}
    for h in heads:
        for suffix in (fmt, "tif", "npz", "npy"):
            path = pred / head_file_name(h, suffix)
            if path.is_file():
                found[h] = read_array(path)[0]
                break
    if not found:
        raise FormatError(f"the case {case_id!r} has no reviewed session and no prediction in "
                          f"{pred}; predict it first.")
    return found


def export_done(dataset: str | os.PathLike | Manifest, out: str | os.PathLike, *,
                fmt: str = "tif", statuses: Sequence[str] = ("done",), image_mode: str = "raw",
                overwrite: bool = False, method: str = "inverse_frequency",
                progress: Callable[[int, int], None] | None = None) -> Path:
    """Export the cases of ``statuses`` (default ``done``) as training targets into ``out``.

    Parameters
    ----------
    dataset : path or Manifest
    out : path
        The export folder: new, empty, or an export of the same card and format.
    fmt : {"tif", "npz", "nnunet"}
    statuses : sequence of str
        Which cases (``("done",)``; ``("done", "predicted")`` exports predictions too).
    image_mode, overwrite, method
        As for :func:`~napari_segreview.targets.export.export_case`.
    progress : callable, optional
        ``progress(done, total)`` after each case.

    Returns
    -------
    Path
        The export folder.

    Raises
    ------
    FormatError
        No case of those statuses, or a case that cannot be exported; cases
        already written stay (each appears whole).
    """
    from napari_segreview.card.spec import ModelCard
    from napari_segreview.io.read import read_image
    from napari_segreview.targets.build import ExportCase, build_targets, image_spatial_shape
    from napari_segreview.targets.export import export_case

    m = dataset if isinstance(dataset, Manifest) else Manifest.open(dataset)
    cases = [c for c in m.cases if c.status in statuses]
    if not cases:
        counts = ", ".join(f"{n} {s}" for s, n in m.counts().items() if n)
        raise FormatError(f"the dataset {m.folder} has no {' or '.join(statuses)} case "
                          f"({counts or 'no cases'}); mark reviewed cases done first.")
    card = ModelCard.from_dict(m.card)
    out = Path(out)
    for i, case in enumerate(cases):
        img = read_image(case.source)
        image = np.asarray(img.data)
        spatial = image_spatial_shape(image, card.input)
        masks = case_masks(m, case.id)
        targets = build_targets(card, masks, spatial)
        spacing = tuple(case.spacing) if case.spacing else (
            img.spacing if img.calibrated else None)
        ec = ExportCase(case.id, image, targets, card, spacing=spacing, source=case.source,
                        image_mode=image_mode)
        export_case(out, ec, fmt=fmt, overwrite=overwrite, method=method)
        if progress is not None:
            progress(i + 1, len(cases))
    return out
