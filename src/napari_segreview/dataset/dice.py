"""The Dice of a reviewed case: its corrected masks against the prediction files.

:func:`correction_dice` is what **Mark done** records
(:func:`napari_segreview.dataset.queue.mark_done`, which re-exports the names
here); :func:`head_channels` splits a head's file into its channels,
:func:`mean_dice` is the one number the Dataset panel's table shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import ArrayMeta, read_array
from napari_segreview.review.channels import Channel
from napari_segreview.review.qa import channel_qa

__all__ = ["correction_dice", "head_channels", "mean_dice"]


def mean_dice(case: Any) -> float | None:
    """The mean of a case's per-channel Dice (None before it is reviewed).

    Examples
    --------
    >>> from types import SimpleNamespace as C
    >>> mean_dice(C(dice={"a": 1.0, "b": 0.5})), mean_dice(C(dice=None))
    (0.75, None)
    """
    dice = getattr(case, "dice", None)
    return float(np.mean([float(v) for v in dice.values()])) if dice else None


def head_channels(array: np.ndarray, meta: ArrayMeta) -> dict[str, Channel]:
    """The channels of a head's file: a multi-hot stack's rows, a label map's classes 1..K.

    Examples
    --------
    >>> stack = np.zeros((2, 4, 4), np.uint8)
    >>> sorted(head_channels(stack, ArrayMeta("multihot", ("whole", "rim"))))
    ['rim', 'whole']
    >>> lab = np.zeros((4, 4), np.uint8)
    >>> chans = head_channels(lab, ArrayMeta("labels", ("background", "p1", "p2")))
    >>> [(n, c.value) for n, c in chans.items()]
    [('p1', 1), ('p2', 2)]
    """
    names = tuple(meta.channel_names or ())
    if meta.kind == "labels":
        return {n: Channel(n, array, value=k) for k, n in enumerate(names) if k > 0}
    if meta.kind == "multihot" and len(names) == array.shape[0]:
        return {n: Channel(n, array[j]) for j, n in enumerate(names)}
    raise FormatError(f"a head's file holds {meta.kind or 'unnamed'} data with channels "
                      f"{', '.join(names) or 'unnamed'}; it is not a file segreview predict "
                      "writes.")


def _prediction_files(folder: Path) -> dict[str, Path]:
    """``head -> file`` of a prediction folder (decisions, not probabilities)."""
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()) if folder.is_dir() else ():
        if p.is_file() and p.suffix in (".tif", ".tiff", ".npy", ".npz") \
                and not p.stem.endswith("_probabilities"):
            files.setdefault(p.stem, p)
    return files


def correction_dice(session_dir: str | Path, prediction_dir: str | Path) -> dict[str, float]:
    """Dice of each channel of the corrected masks against the prediction files.

    The corrected masks are the head layers of the case's review session as
    ``segreview session export`` writes them
    (:func:`napari_segreview.session.export.export_files`); the prediction is
    the ``<head>.<format>`` files ``segreview predict`` wrote. A channel of a
    head the session does not hold (its layer was deleted) is left out.

    Examples
    --------
    >>> from napari_segreview.dataset.dice import _doctest_manifest
    >>> m = _doctest_manifest(edit=True)
    >>> correction_dice(m.session_dir("case_a"), m.prediction_dir("case_a"))
    {'whole': 0.5}
    """
    from napari_segreview.session.export import export_files, read_export_file
    from napari_segreview.session.format import is_session
    from napari_segreview.session.session import Session

    predicted = _prediction_files(Path(prediction_dir))
    if not predicted:
        raise FormatError(f"{prediction_dir} holds no prediction files; run the prediction "
                          "for the dataset again.")
    if not is_session(session_dir):
        raise FormatError(f"{session_dir} holds no review session yet: open the case in the "
                          "Dataset panel (its corrections are saved there) first.")
    session = Session.open(session_dir, writable=False)
    out: dict[str, float] = {}
    for f in export_files(session):
        if f.head is None or f.probabilities or f.head not in predicted:
            continue
        now = head_channels(*read_export_file(session, f))
        before = head_channels(*read_array(predicted[f.head]))
        for name, channel in now.items():
            if name in before:
                out[name] = channel_qa(channel, before[name]).dice
    return out


def _doctest_manifest(edit: bool = False) -> Any:
    """A two-case dataset in a temporary folder, for the doctests (``case_a`` most uncertain).

    Each case has a prediction ``whole.tif`` (one sigmoid channel, 2 voxels
    on); with ``edit``, ``case_a`` has a session whose correction keeps one of
    them and adds another (Dice 0.5).
    """
    import tempfile

    from napari_segreview.dataset.manifest import Manifest
    from napari_segreview.io.arrayfiles import write_array
    from napari_segreview.io.results import head_file
    from napari_segreview.session.session import Session

    card = {"heads": [{"name": "whole", "kind": "sigmoid", "channels": ["whole"]}]}
    m = Manifest.create(Path(tempfile.mkdtemp()) / "study", "0" * 64, card)
    pred = np.zeros((4, 4), np.uint8)
    pred[0, :2] = 1
    for cid, u in (("case_a", 0.8), ("case_b", 0.2)):
        m.add_case(f"/data/{cid}.tif")
        m.update(cid, status="predicted", uncertainty=u)
        m.prediction_dir(cid).mkdir(parents=True)
        write_array(m.prediction_dir(cid) / "whole.tif",
                    *head_file("sigmoid", ["whole"], pred[None]))
    m.save()
    if edit:
        now = pred.copy()
        now[0, 1], now[3, 3] = 0, 1
        s = Session.create(m.session_dir("case_a"))
        s.add_layer("whole", now, metadata={"kind": "decision", "head": "whole",
                                            "head_kind": "sigmoid", "channel": "whole",
                                            "run": "r"})
        s.close()
    return m
