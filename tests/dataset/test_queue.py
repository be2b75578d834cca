"""The review queue: order, Next/Previous, Mark done with its Dice, Skip (no Qt)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_segreview.dataset import queue
from napari_segreview.dataset.manifest import STATUSES, Manifest
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import write_array
from napari_segreview.io.results import head_file
from napari_segreview.session.session import Session

CARD = {"heads": [{"name": "whole", "kind": "sigmoid", "channels": ["whole", "rim"]},
                  {"name": "parts", "kind": "softmax", "channels": ["background", "a", "b"]}]}

cases_st = st.lists(
    st.tuples(st.sampled_from(STATUSES),
              st.one_of(st.none(), st.floats(0, 1), st.just(math.nan))),
    min_size=0, max_size=12)


def _cases(spec):
    return [SimpleNamespace(id=f"c{i:02d}", status=s, uncertainty=u)
            for i, (s, u) in enumerate(spec)]


@settings(max_examples=60, deadline=None)
@given(cases_st)
def test_next_visits_every_case_to_review_once_most_uncertain_first(spec):
    cases = _cases(spec)
    todo = [c for c in cases if c.status in ("predicted", "in_review")]
    known = [c for c in todo if c.uncertainty is not None and not math.isnan(c.uncertainty)]
    unknown = [c for c in todo if c not in known]
    expected = ([c.id for c in sorted(known, key=lambda c: (-c.uncertainty, c.id))]
                + sorted(c.id for c in unknown))
    seen, current = [], None
    while (current := queue.next_case(cases, current)) is not None:
        seen.append(current)
        next(c for c in cases if c.id == current).status = "done"   # marked done
    assert seen == expected


def test_next_and_previous_follow_the_tables_order():
    cases = _cases([("predicted", 0.9), ("done", 0.5), ("predicted", 0.1), ("failed", 0.7)])
    order = ["c02", "c03", "c01", "c00"]
    assert queue.next_case(cases, None, order) == "c02"
    assert queue.next_case(cases, "c02", order) == "c00"
    assert queue.next_case(cases, "c00", order) == "c02"                 # wraps round
    assert queue.previous_case(cases, "c00", order) == "c01"              # a done case
    assert queue.previous_case(cases, "c01", order) == "c02"              # not the failed
    assert queue.previous_case(cases, "c02", order) is None
    assert queue.review_order(cases, ["c03", "nope"]) == ["c03", "c00", "c01", "c02"]


def _dataset(tmp_path, pred_whole, pred_parts):
    m = Manifest.create(tmp_path / "study", "0" * 64, CARD, model="m.pt")
    for cid, u in (("x", 0.4), ("y", 0.8), ("z", None)):
        m.add_case(tmp_path / f"{cid}.tif")
        m.update(cid, status="predicted", uncertainty=u)
        d = m.prediction_dir(cid)
        d.mkdir(parents=True)
        write_array(d / "whole.tif", *head_file("sigmoid", ["whole", "rim"], pred_whole))
        write_array(d / "parts.tif", *head_file("softmax", CARD["heads"][1]["channels"],
                                                pred_parts))
    m.update("z", status="failed", reason="the file is truncated.")
    m.save()
    return m


def _dice(a, b):
    a, b = a.astype(bool), b.astype(bool)
    return 1.0 if not (a.any() or b.any()) else 2 * (a & b).sum() / (a.sum() + b.sum())


def test_mark_done_records_the_dice_of_the_session_against_the_prediction(tmp_path):
    rng = np.random.default_rng(0)
    pred_whole = (rng.random((2, 3, 16, 16)) > 0.6).astype(np.uint8)
    pred_parts = rng.integers(0, 3, (3, 16, 16)).astype(np.uint8)
    m = _dataset(tmp_path, pred_whole, pred_parts)
    now_whole, now_parts = pred_whole.copy(), pred_parts.copy()
    now_whole[0, 1] = 0                       # a slice of "whole" erased
    now_parts[2, :4] = 2                      # a block of "b" painted over "a"/background
    s = Session.create(m.session_dir("y"))
    base = {"kind": "decision", "run": "r", "model": "m.pt"}
    for j, ch in enumerate(("whole", "rim")):
        s.add_layer(ch, now_whole[j], metadata={**base, "head": "whole",
                                                "head_kind": "sigmoid", "channel": ch})
    s.add_layer("parts", now_parts, metadata={**base, "head": "parts", "head_kind": "softmax",
                                              "channel": None,
                                              "classes": ["background", "a", "b"]})
    s.close()

    assert queue.start_review(m, "y").status == "in_review"
    case = queue.mark_done(m, "y")
    expected = {"whole": _dice(now_whole[0], pred_whole[0]),
                "rim": _dice(now_whole[1], pred_whole[1]),
                "a": _dice(now_parts == 1, pred_parts == 1),
                "b": _dice(now_parts == 2, pred_parts == 2)}
    assert case.dice == pytest.approx(expected)
    assert expected["rim"] == 1.0 and expected["whole"] < 1.0 and expected["b"] < 1.0
    again = Manifest.open(m.folder).case("y")
    assert again.status == "done" and again.dice == pytest.approx(expected) and again.reviewed
    assert queue.mean_dice(again) == pytest.approx(np.mean(list(expected.values())))
    assert queue.start_review(m, "y").status == "done"   # looking again keeps it done
    assert queue.progress_line(Manifest.open(m.folder).cases) == "1 / 3 done, 1 failed"


def test_skip_needs_a_reason_and_failed_cases_do_not_open(tmp_path):
    m = _dataset(tmp_path, np.zeros((2, 1, 4, 4), np.uint8), np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(FormatError, match="say why"):
        queue.skip(m, "x", "")
    assert Manifest.open(m.folder).case("x").status == "predicted"
    queue.skip(m, "x", " blurred   scan ")
    x = Manifest.open(m.folder).case("x")
    assert (x.status, x.reason) == ("skipped", "blurred scan")
    with pytest.raises(FormatError, match=r"is failed \(the file is truncated\.\)"):
        queue.start_review(m, "z")
    with pytest.raises(FormatError, match="holds no review session yet"):
        queue.mark_done(m, "y")               # never opened: no session to compare
