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
from typing import Any

from napari_segreview.dataset.dice import (  # noqa: F401  (re-exported)
    _doctest_manifest,
    correction_dice,
    head_channels,
    mean_dice,
)
from napari_segreview.dataset.manifest import timestamp
from napari_segreview.errors import FormatError

# correction_dice, head_channels and mean_dice live in dataset.dice; importable from here too.
__all__ = [
    "OPENABLE",
    "TO_REVIEW",
    "mark_done",
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
