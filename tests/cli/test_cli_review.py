"""``segreview check`` and ``segreview qa`` on files written here.

Expected counts, first slices, fixed masks and QA numbers are computed in the
tests with plain numpy, independently of the review core.
"""

import csv
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_segreview.cli import main
from napari_segreview.data import demo_card_path, demo_model_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.io.arrayfiles import ArrayMeta, read_array, write_array

CARD = str(demo_card_path())
NAMES = ("whole", "part_1", "part_2", "part_3")
PARTS = ("background", "part_1", "part_2", "part_3")
CHILDREN = "part_1,part_2,part_3"


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def listing(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its checksum."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def phantom():
    return make_ct_phantom((4, 64, 64), seed=5)


def planted(ph) -> np.ndarray:
    """The phantom's masks with three planted violations (places chosen by hand)."""
    m = ph.masks.copy()
    assert not m[0, 0].any()                  # slice 0 holds no bone
    m[1, 0, 0:2, 0:3] = 1                      # part_1 outside whole: 6 voxels, slice 0
    m[3, 2][m[2, 2] == 1] = 1                  # part_3 on top of part_2 in slice 2
    m[0, 3, 60, 60] = 2                        # whole painted with label 2, slice 3
    return m


def first_slice(mask: np.ndarray) -> int:
    return int(np.argwhere(mask)[0][0])


def expected_findings(m: np.ndarray, *, union: bool) -> set:
    """(kind, channels, count, first slice) of every violation, by plain numpy."""
    on = m != 0
    out = set()
    bad = (m[0] != 0) & (m[0] != 1)
    if bad.any():
        out.add(("non_binary", ("whole",), int(bad.sum()), first_slice(bad)))
    for k in (1, 2, 3):
        outside = on[k] & ~on[0]
        if outside.any():
            out.add(("outside_parent", (NAMES[k], "whole"), int(outside.sum()),
                     first_slice(outside)))
    for i in (1, 2, 3):
        for j in range(i + 1, 4):
            both = on[i] & on[j]
            if both.any():
                out.add(("overlap", (NAMES[i], NAMES[j]), int(both.sum()), first_slice(both)))
    if union:
        bare = on[0] & ~(on[1] | on[2] | on[3])
        if bare.any():
            out.add(("parent_not_union", NAMES, int(bare.sum()), first_slice(bare)))
    return out


def found(report: dict) -> set:
    return {(f["kind"], tuple(f["channels"]), f["count"], f["first_index"][0])
            for f in report["findings"]}


@pytest.fixture
def stack_file(tmp_path, phantom):
    m = planted(phantom)
    write_array(tmp_path / "masks.tif", m, ArrayMeta("multihot", NAMES, spacing=phantom.spacing))
    return tmp_path / "masks.tif", m


# ------------------------------------------------------------------ check
@pytest.mark.parametrize("union", [False, True])
def test_check_json_reports_every_planted_violation(stack_file, capsys, union):
    path, m = stack_file
    argv = ["check", path, "--parent", "whole", "--children", CHILDREN, "--json"]
    rc, out, err = run(capsys, *argv, *(["--union"] if union else []))
    assert rc == 1 and err == ""
    report = json.loads(out)
    assert report["ok"] is False
    assert found(report) == expected_findings(m, union=union)
    assert len(expected_findings(m, union=union)) == (4 if union else 3)   # all planted


def test_check_prints_one_line_per_finding_with_hints(stack_file, capsys):
    path, m = stack_file
    rc, out, err = run(capsys, "check", path, "--parent", "whole", "--children", CHILDREN)
    assert rc == 1 and err == ""
    rows = [line.split() for line in out.splitlines() if line.startswith("  ")][1:]
    table = {(r[0], int(r[1]), int(r[2])) for r in rows}
    assert table == {(k, n, z) for k, _, n, z in expected_findings(m, union=False)}
    assert "masks: masks.tif (stack: whole, part_1, part_2, part_3)" in out
    assert "rules: part_1, part_2, part_3 within whole (disjoint)" in out
    assert "to fix: --fix clip_to_parent" in out and "--fix make_binary" in out


def test_check_clean_masks_exit_0(tmp_path, phantom, capsys):
    write_array(tmp_path / "gt.npz", phantom.masks, ArrayMeta("multihot", NAMES))
    rc, out, _ = run(capsys, "check", tmp_path / "gt.npz", "--parent", "whole",
                     "--children", CHILDREN)
    assert rc == 0 and out.rstrip().endswith("all checks passed.")
    rc, out, _ = run(capsys, "check", tmp_path / "gt.npz", "--parent", "whole",
                     "--children", CHILDREN, "--json")
    assert rc == 0 and json.loads(out) == {"check": "review", "ok": True, "findings": []}


def test_no_disjoint_lets_siblings_overlap(stack_file, capsys):
    path, _ = stack_file
    rc, out, _ = run(capsys, "check", path, "--parent", "whole", "--children", CHILDREN,
                     "--no-disjoint", "--json")
    assert rc == 1
    assert {f[0] for f in found(json.loads(out))} == {"non_binary", "outside_parent"}


def test_names_for_a_file_without_metadata(tmp_path, stack_file, capsys):
    _, m = stack_file
    np.save(tmp_path / "plain.npy", m)
    rc, out, _ = run(capsys, "check", tmp_path / "plain.npy", "--names", ",".join(NAMES),
                     "--parent", "whole", "--children", CHILDREN, "--json")
    assert rc == 1 and found(json.loads(out)) == expected_findings(m, union=False)
    rc, out, _ = run(capsys, "check", tmp_path / "plain.npy")     # values only, ch0..ch3
    assert rc == 1 and "ch0" in out and "non_binary" in out


def test_fix_clip_writes_a_new_file_and_leaves_the_input(stack_file, capsys):
    path, m = stack_file
    before = path.read_bytes()
    out_file = path.with_name("fixed.tif")
    rc, out, _ = run(capsys, "check", path, "--parent", "whole", "--children", CHILDREN,
                     "--fix", "clip_to_parent", "-o", out_file)
    expected = m.copy()
    for k in (1, 2, 3):
        expected[k][m[0] == 0] = 0
    fixed, meta = read_array(out_file)
    np.testing.assert_array_equal(fixed, expected)
    assert meta.channel_names == NAMES and meta.spacing == pytest.approx((2.5, 0.8, 0.8))
    assert path.read_bytes() == before
    assert rc == 1   # the overlap and the label 2 remain
    assert "voxels changed (part_1 6)" in out and f"wrote {out_file}" in out


def test_fix_in_place_replaces_the_input_atomically(stack_file, capsys):
    path, m = stack_file
    rc, out, _ = run(capsys, "check", path, "--fix", "make_binary", "-o", path,
                     "--names", ",".join(NAMES))
    assert f"wrote {path}" in out
    expected = m.copy()
    expected[expected > 1] = 1
    np.testing.assert_array_equal(read_array(path)[0], expected)
    assert sorted(p.name for p in path.parent.iterdir()) == ["masks.tif"]   # no temp left
    assert rc == 0   # no rules given: the only finding was the label 2


def test_fix_remove_overlaps_by_priority(stack_file, capsys):
    path, m = stack_file
    out_file = path.with_name("fixed.npz")
    rc, out, _ = run(capsys, "check", path, "--parent", "whole", "--children", CHILDREN,
                     "--fix", "remove_overlaps", "--priority", "part_3,part_2,part_1",
                     "-o", out_file, "--json")
    expected = m.copy()
    expected[2][m[3] != 0] = 0                      # part_3 wins over part_2
    expected[1][(m[3] != 0) | (m[2] != 0)] = 0      # ... and both over part_1
    np.testing.assert_array_equal(read_array(out_file)[0], expected)
    doc = json.loads(out)
    assert doc["fix"]["name"] == "remove_overlaps"
    assert doc["fix"]["changed"] == int(((m[3] != 0) & (m[2] != 0)).sum())
    assert found(doc["before"]) == expected_findings(m, union=False)
    assert found(doc["after"]) == expected_findings(expected, union=False)
    assert rc == 1


def test_fix_reaches_a_clean_state_step_by_step(stack_file, capsys):
    path, _ = stack_file
    rules = ["--parent", "whole", "--children", CHILDREN]
    steps = [["--fix", "make_binary"], ["--fix", "clip_to_parent"],
             ["--fix", "remove_overlaps", "--priority", "part_1,part_2,part_3"]]
    codes = [run(capsys, "check", path, *rules, *s, "-o", path)[0] for s in steps]
    assert codes == [1, 1, 0]
    rc, out, _ = run(capsys, "check", path, *rules)
    assert rc == 0 and "all checks passed." in out


# ------------------------------------------------------------------ predict -> check -> qa
@pytest.fixture(scope="module")
def predicted(tmp_path_factory, phantom):
    d = tmp_path_factory.mktemp("pred")
    write_array(d / "scan.tif", phantom.image, ArrayMeta(spacing=phantom.spacing))
    rc = main(["predict", str(d / "scan.tif"), "--model", str(demo_model_path()),
               "--card", CARD, "-o", str(d / "out"), "--device", "cpu"])
    assert rc == 0
    return d / "out"


def test_predict_output_folder_checks_clean(predicted, capsys):
    rc, out, err = run(capsys, "check", predicted, "--card", CARD)
    assert rc == 0, out + err
    assert "masks: whole.tif (stack: whole); parts.tif (labels: part_1, part_2, part_3)" in out
    assert "all checks passed." in out
    rc, out, _ = run(capsys, "check", predicted / "whole.tif", predicted / "parts.tif",
                     "--card", CARD, "--json")
    assert rc == 0 and json.loads(out)["ok"]


def test_predict_check_fix_qa_flow(tmp_path, predicted, capsys):
    corr = tmp_path / "corr"
    corr.mkdir()
    whole, wmeta = read_array(predicted / "whole.tif")
    parts, pmeta = read_array(predicted / "parts.tif")
    assert not whole[0, 0].any()
    edited = parts.copy()
    edited[0, :3, :4] = 2                            # part_2 painted where there is no bone
    write_array(corr / "whole.tif", whole, wmeta)
    write_array(corr / "parts.tif", edited, pmeta)
    rc, out, _ = run(capsys, "check", corr, "--card", CARD, "--json")
    assert rc == 1
    assert found(json.loads(out)) == {("outside_parent", ("part_2", "whole"), 12, 0)}
    rc, out, _ = run(capsys, "check", corr, "--card", CARD, "--fix", "clip_to_parent",
                     "-o", tmp_path / "fixed")
    assert rc == 0 and "after the fix: all checks passed." in out
    assert sorted(p.name for p in (tmp_path / "fixed").iterdir()) == ["parts.tif",
                                                                       "whole.tif"]
    np.testing.assert_array_equal(read_array(tmp_path / "fixed" / "parts.tif")[0], parts)
    assert read_array(tmp_path / "fixed" / "parts.tif")[1] == pmeta
    # QA of the (unfixed) correction against the prediction.
    rc, out, err = run(capsys, "qa", corr, predicted, "--per-slice")
    assert rc == 0 and err == ""
    rows = {r.split()[0]: r.split()[1:] for r in out.splitlines()[1:5]}
    n2 = int((parts == 2).sum())
    assert rows["part_2"] == [f"{2 * n2 / (2 * n2 + 12):.4f}", "12", "0", str(n2),
                              str(n2 + 12)]
    assert rows["part_1"][:3] == ["1.0000", "0", "0"]
    assert "part_2       0" in out.split("slices the correction changed:")[1]


# ------------------------------------------------------------------ qa
@pytest.fixture
def qa_files(tmp_path, phantom):
    pred = phantom.masks.copy()
    corr = pred.copy()
    corr[1, 1][corr[0, 1] == 1] = 1            # part_1 grown over whole bone in slice 1
    corr[2, 2] = 0                             # part_2 removed from slice 2
    write_array(tmp_path / "pred.tif", pred, ArrayMeta("multihot", NAMES))
    write_array(tmp_path / "corr.tif", corr)   # no metadata: matched by position
    return tmp_path, corr, pred


def qa_expected(corr, pred):
    """Per channel (dice, added, removed, predicted, corrected) and per slice, by numpy."""
    c, p = corr != 0, pred != 0
    out, slices = {}, []
    for k, name in enumerate(NAMES):
        inter, np_, nc = int((c[k] & p[k]).sum()), int(p[k].sum()), int(c[k].sum())
        dice = 1.0 if np_ + nc == 0 else 2 * inter / (np_ + nc)
        out[name] = (dice, nc - inter, np_ - inter, np_, nc)
        for z in range(c.shape[1]):
            a, r = int((c[k, z] & ~p[k, z]).sum()), int((p[k, z] & ~c[k, z]).sum())
            if a or r:
                i, s = int((c[k, z] & p[k, z]).sum()), int(p[k, z].sum() + c[k, z].sum())
                slices.append((name, z, 2 * i / s, a, r))
    return out, slices


def test_qa_csv_matches_numpy(qa_files, capsys):
    d, corr, pred = qa_files
    rc, out, err = run(capsys, "qa", d / "corr.tif", d / "pred.tif", "--per-slice",
                       "--csv", d / "qa.csv")
    assert rc == 0 and err == "" and f"wrote {d / 'qa.csv'}" in out
    totals, slices = qa_expected(corr, pred)
    with open(d / "qa.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    got = {r["channel"]: (float(r["dice"]), int(r["added"]), int(r["removed"]),
                          int(r["predicted"]), int(r["corrected"]))
           for r in rows if r["slice"] == "all"}
    assert set(got) == set(totals)
    for name, exp in totals.items():
        assert got[name][0] == pytest.approx(exp[0], abs=1e-6) and got[name][1:] == exp[1:]
    got_slices = [(r["channel"], int(r["slice"]), float(r["dice"]), int(r["added"]),
                   int(r["removed"])) for r in rows if r["slice"] != "all"]
    assert [s[:2] for s in got_slices] == [s[:2] for s in slices] == [("part_1", 1),
                                                                      ("part_2", 2)]
    for g, e in zip(got_slices, slices, strict=True):
        assert g[2] == pytest.approx(e[2], abs=1e-6) and g[3:] == e[3:]
    table = out.splitlines()
    assert table[0].split() == ["channel", "dice", "added", "removed", "predicted",
                                "corrected"]
    assert table[2].split()[2:4] == [str(totals["part_1"][1]), "0"]


def test_qa_warns_about_identical_and_empty_predictions(tmp_path, phantom, capsys):
    pred = phantom.masks.copy()
    pred[2] = pred[1]                          # the thread's "same output in channels"
    pred[3] = 0
    write_array(tmp_path / "pred.npz", pred, ArrayMeta("multihot", NAMES))
    write_array(tmp_path / "corr.npz", phantom.masks, ArrayMeta("multihot", NAMES))
    rc, out, err = run(capsys, "qa", tmp_path / "corr.npz", tmp_path / "pred.npz")
    assert rc == 0 and out.splitlines()[0].startswith("channel")
    lines = err.splitlines()
    assert len(lines) == 2 and all(x.startswith("segreview: warning: ") for x in lines)
    assert "'part_3' is empty" in lines[0]
    assert "'part_1' and 'part_2' are nearly identical (Dice 1.000)" in lines[1]


# ------------------------------------------------------------------ user errors
def _bad_cases(d: Path) -> dict[str, list]:
    rules = ["--parent", "whole", "--children", CHILDREN]
    return {
        "missing file": ["check", d / "nope.tif", *rules],
        "mismatched shapes": ["check", d / "whole.tif", d / "small.tif"],
        "unknown channel": ["check", d / "masks.tif", "--parent", "whole", "--children",
                            "part_1,part_9"],
        "card channel mismatch": ["check", d / "other.tif", "--card", CARD],
        "card head channel count": ["check", d / "whole.tif", "--card", CARD],
        "fix without -o": ["check", d / "masks.tif", *rules, "--fix", "clip_to_parent"],
        "output exists": ["check", d / "masks.tif", *rules, "--fix", "clip_to_parent",
                          "-o", d / "whole.tif"],
        "priority missing": ["check", d / "masks.tif", *rules, "--fix", "remove_overlaps",
                             "-o", d / "new.tif"],
        "priority unknown": ["check", d / "masks.tif", *rules, "--fix", "remove_overlaps",
                             "--priority", "part_1,part_7", "-o", d / "new.tif"],
        "fix needs rules": ["check", d / "masks.tif", "--fix", "grow_parent", "-o",
                            d / "new.tif"],
        "several files, -o a file": ["check", d / "masks.tif", d / "other.tif", "--fix",
                                     "make_binary", "-o", d / "fixed.tif"],
        "-o without --fix": ["check", d / "masks.tif", "-o", d / "fixed.tif"],
        "card and --parent": ["check", d / "masks.tif", "--card", CARD, *rules],
        "probabilities": ["check", d / "prob.tif"],
        "wrong names count": ["check", d / "masks.tif", "--names", "a,b"],
        "qa shapes": ["qa", d / "masks.tif", d / "small.tif"],
        "qa no common channel": ["qa", d / "masks.tif", d / "other.tif"],
        "qa csv folder missing": ["qa", d / "masks.tif", d / "masks.tif", "--csv",
                                  d / "no" / "qa.csv"],
    }


@pytest.fixture
def bad_dir(tmp_path, phantom):
    write_array(tmp_path / "masks.tif", phantom.masks, ArrayMeta("multihot", NAMES))
    write_array(tmp_path / "whole.tif", phantom.masks[:2], ArrayMeta("multihot",
                                                                     ("whole", "x")))
    write_array(tmp_path / "small.tif", phantom.masks[:, :, :30], ArrayMeta("multihot", NAMES))
    write_array(tmp_path / "other.tif", phantom.masks, ArrayMeta("multihot", ("a", "b", "c",
                                                                              "d")))
    write_array(tmp_path / "prob.tif", phantom.masks.astype(np.float32))
    return tmp_path


@pytest.mark.parametrize("case", list(_bad_cases(Path("."))))
def test_user_errors_are_one_line_exit_2_and_write_nothing(bad_dir, capsys, case):
    before = listing(bad_dir)
    rc, out, err = run(capsys, *_bad_cases(bad_dir)[case])
    assert rc == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("segreview: error: "), err
    assert listing(bad_dir) == before


def test_card_mismatch_message_says_what_to_do(bad_dir, capsys):
    rc, _, err = run(capsys, "check", bad_dir / "other.tif", "--card", CARD)
    assert rc == 2 and "the masks hold no channel whole, part_1, part_2, part_3" in err
    rc, _, err = run(capsys, "check", bad_dir / "whole.tif", "--card", CARD)
    assert "holds 2 channels, but the card's head 'whole' has 1 (whole)" in err


# ------------------------------------------------------------------ property
@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([".tif", ".npz", ".npy"]))
def test_check_and_clip_agree_with_numpy_on_random_stacks(seed, suffix):
    rng = np.random.default_rng(seed)
    m = (rng.random((3, 3, 5, 4)) < 0.4).astype(np.uint8)
    names = ("p", "a", "b")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"m{suffix}"
        write_array(path, m, ArrayMeta("multihot", names))
        argv = ["check", str(path), "--parent", "p", "--children", "a,b", "--json",
                "--fix", "clip_to_parent", "-o", str(Path(tmp) / f"out{suffix}")]
        rc = main(argv)
        fixed = read_array(Path(tmp) / f"out{suffix}")[0]
    on = m != 0
    expected = m.copy()
    expected[1:][:, ~on[0]] = 0
    np.testing.assert_array_equal(fixed, expected)
    assert rc == (1 if (on[1] & on[2] & on[0]).any() else 0)
