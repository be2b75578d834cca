"""The review queue of a dataset: which case comes next, and what reviewing one records.

Pure functions over a :class:`~napari_segreview.dataset.manifest.Manifest` (no
Qt, no napari): the Dataset panel and the tests call the same ones.

* :func:`review_order`: the order cases are reviewed in. By default the most
  uncertain first (the case's ``uncertainty``, highest first; cases without a
  score after those with one, then by id); or the order the user sorted the
  table in.
* :func:`next_case` / :func:`previous_case`: **Next** goes to the next case
  still to review (``predicted`` or ``in_review``) after the current one in
  that order, wrapping round to the start, so it finds every case left;
  **Previous** steps back to the case before the current one that has a
  prediction, whatever its status, so a case just marked done can be looked
  at again.
* :func:`start_review` marks a case ``in_review`` when it is opened;
  :func:`mark_done` records ``done`` with the Dice of the corrected masks
  (the case's review session) against the prediction files
  (:func:`correction_dice`, through :func:`napari_segreview.review.qa.channel_qa`);
  :func:`skip` records ``skipped`` with its reason.
* :func:`progress_line` is the "12 / 140 done" the panel always shows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview.dataset.manifest import timestamp
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import ArrayMeta, read_array
from napari_segreview.review.channels import Channel
from napari_segreview.review.qa import channel_qa

__all__ = [
    "OPENABLE",
    "TO_REVIEW",
    "correction_dice",
    "head_channels",
    "mark_done",
    "mean_dice",
    "next_case",
    "previous_case",
    "progress_line",
    "review_order",
    "skip",
    "start_review",
]

#: Statuses of the cases still to review: Next goes to these.
TO_REVIEW = ("predicted", "in_review")
#: Statuses of the cases that have a prediction to open.
OPENABLE = ("predicted", "in_review", "done", "skipped")


def _score(case: Any) -> float:
    u = getattr(case, "uncertainty", None)
    try:
        u = float(u)
    except (TypeError, ValueError):
        return -math.inf
    return -math.inf if math.isnan(u) else u


def review_order(cases: Iterable[Any], order: Sequence[str] | None = None) -> list[str]:
    """The ids of ``cases`` in review order: most uncertain first, or ``order``.

    Parameters
    ----------
    cases : iterable of Case
        Objects with ``id`` and ``uncertainty`` (None or NaN when unknown).
    order : sequence of str, optional
        The table's order (ids); cases it leaves out follow, most uncertain first.

    Examples
    --------
    >>> from types import SimpleNamespace as C
    >>> cs = [C(id="a", uncertainty=0.1), C(id="b", uncertainty=None),
    ...       C(id="c", uncertainty=0.7), C(id="d", uncertainty=0.1)]
    >>> review_order(cs)
    ['c', 'a', 'd', 'b']
    >>> review_order(cs, order=["b", "a"])
    ['b', 'a', 'c', 'd']
    """
    cases = list(cases)
    ranked = [c.id for c in sorted(cases, key=lambda c: (-_score(c), c.id))]
    if order is None:
        return ranked
    known = set(ranked)
    first = [i for i in dict.fromkeys(order) if i in known]
    taken = set(first)
    return first + [i for i in ranked if i not in taken]


def _step(cases: Sequence[Any], current: str | None, step: int, wanted: tuple[str, ...],
          order: Sequence[str] | None, wrap: bool) -> str | None:
    ids = review_order(cases, order)
    status = {c.id: c.status for c in cases}
    if current in status:
        at = ids.index(current)
        scan = ids[at + 1:] + (ids[:at] if wrap else []) if step > 0 else (
            ids[:at][::-1] + (ids[at + 1:][::-1] if wrap else []))
    else:
        scan = ids if step > 0 else ids[::-1]
    return next((i for i in scan if status[i] in wanted), None)


def next_case(cases: Sequence[Any], current: str | None = None,
              order: Sequence[str] | None = None) -> str | None:
    """The id of the next case to review after ``current`` (None when none is left).

    Looks at the cases after ``current`` in :func:`review_order`, then wraps
    round to the start; only ``predicted`` and ``in_review`` cases count.
    Without ``current`` it is the first case to review.

    Examples
    --------
    >>> from types import SimpleNamespace as C
    >>> cs = [C(id="a", uncertainty=0.9, status="done"),
    ...       C(id="b", uncertainty=0.5, status="predicted"),
    ...       C(id="c", uncertainty=0.3, status="failed"),
    ...       C(id="d", uncertainty=0.1, status="in_review")]
    >>> next_case(cs), next_case(cs, "b"), next_case(cs, "d"), next_case(cs, "a")
    ('b', 'd', 'b', 'b')
    >>> next_case(cs, "b", order=["d", "c", "b", "a"])
    'd'
    >>> next_case([C(id="a", uncertainty=1.0, status="done")], "a") is None
    True
    """
    return _step(cases, current, +1, TO_REVIEW, order, wrap=True)


def previous_case(cases: Sequence[Any], current: str | None = None,
                  order: Sequence[str] | None = None) -> str | None:
    """The id of the case before ``current`` that has a prediction (done ones too), or None.

    Examples
    --------
    >>> from types import SimpleNamespace as C
    >>> cs = [C(id="a", uncertainty=0.9, status="done"),
    ...       C(id="b", uncertainty=0.5, status="failed"),
    ...       C(id="c", uncertainty=0.3, status="predicted")]
    >>> previous_case(cs, "c"), previous_case(cs, "a")
    ('a', None)
    """
    return _step(cases, current, -1, OPENABLE, order, wrap=False)


def progress_line(cases: Iterable[Any]) -> str:
    """``"<done> / <total> done"``, with the skipped and failed when there are any.

    Examples
    --------
    >>> from types import SimpleNamespace as C
    >>> progress_line([C(status="done"), C(status="predicted"), C(status="skipped")])
    '1 / 3 done, 1 skipped'
    >>> progress_line([])
    '0 / 0 done'
    """
    statuses = [c.status for c in cases]
    line = f"{statuses.count('done')} / {len(statuses)} done"
    extra = [f"{statuses.count(s)} {s}" for s in ("skipped", "failed") if statuses.count(s)]
    return ", ".join([line, *extra])


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


def _openable(manifest: Any, case_id: str) -> Any:
    case = manifest.case(case_id)
    if case.status not in OPENABLE:
        why = f" ({case.reason})" if getattr(case, "reason", None) else ""
        raise FormatError(f"case {case_id} is {case.status}{why}, so it has no prediction to "
                          "review: run the prediction for the dataset first.")
    return case


def start_review(manifest: Any, case_id: str) -> Any:
    """Record that ``case_id`` is being reviewed (``predicted`` -> ``in_review``); saved.

    A case already ``in_review``, ``done`` or ``skipped`` keeps its status
    (reopening a done case to look at it does not undo it).

    Raises
    ------
    FormatError
        When the case has no prediction (``todo`` or ``failed``).

    Examples
    --------
    >>> from napari_segreview.dataset.queue import _doctest_manifest
    >>> m = _doctest_manifest()
    >>> start_review(m, "case_b").status
    'in_review'
    """
    case = _openable(manifest, case_id)
    if case.status == "predicted":
        manifest.update(case_id, status="in_review", reason=None)
        manifest.save()
    return manifest.case(case_id)


def skip(manifest: Any, case_id: str, reason: str) -> Any:
    """Record ``case_id`` as ``skipped`` with ``reason`` (one sentence); saved.

    Raises
    ------
    FormatError
        When ``reason`` is empty, or the case has no prediction.

    Examples
    --------
    >>> from napari_segreview.dataset.queue import _doctest_manifest
    >>> m = _doctest_manifest()
    >>> case = skip(m, "case_a", "motion artefacts")
    >>> case.status, case.reason
    ('skipped', 'motion artefacts')
    >>> skip(m, "case_b", "  ")
    Traceback (most recent call last):
    ...
    napari_segreview.errors.FormatError: say why case case_b is skipped (a few words, e.g. \
'motion artefacts').
    """
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise FormatError(f"say why case {case_id} is skipped (a few words, e.g. "
                          "'motion artefacts').")
    _openable(manifest, case_id)
    manifest.update(case_id, status="skipped", reason=reason, reviewed=timestamp())
    manifest.save()
    return manifest.case(case_id)


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
    >>> from napari_segreview.dataset.queue import _doctest_manifest
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


def mark_done(manifest: Any, case_id: str, dice: Mapping[str, float] | None = None) -> Any:
    """Record ``case_id`` as ``done`` with the Dice of its correction; saved.

    Parameters
    ----------
    manifest : Manifest
    case_id : str
    dice : mapping of channel to float, optional
        Computed by :func:`correction_dice` from the case's session (flushed
        first by the caller) when not given.

    Examples
    --------
    >>> from napari_segreview.dataset.queue import _doctest_manifest
    >>> m = _doctest_manifest(edit=True)
    >>> case = mark_done(m, "case_a")
    >>> case.status, case.dice
    ('done', {'whole': 0.5})
    """
    _openable(manifest, case_id)
    if dice is None:
        dice = correction_dice(manifest.session_dir(case_id), manifest.prediction_dir(case_id))
    manifest.update(case_id, status="done", reason=None, reviewed=timestamp(),
                    dice={k: float(v) for k, v in dice.items()})
    manifest.save()
    return manifest.case(case_id)


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
