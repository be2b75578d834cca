"""predict -> session export -> check -> qa -> export, with no conversion in between.

The chain a user runs: ``segreview predict`` writes one file per head; the
predicted layers go into a review session (through the :class:`Session` core
API, with the metadata Predict's layers carry: one binary layer per sigmoid
channel, one label map per softmax head); one part is corrected with numpy;
``segreview session export`` gets the corrected layers out; ``check --card``,
``qa`` and ``export`` read those files as they are. Each step's output is
checked: kinds, dtypes, channel names and spacing the same as predict's, Dice
1.0 where nothing changed (expected values from plain numpy). No napari.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_segreview.card.spec import load_card
from napari_segreview.cli import main
from napari_segreview.data import demo_card_path, demo_model_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.io.arrayfiles import read_array
from napari_segreview.session.session import Session

SHAPE = (4, 64, 64)
SPACING = (2.5, 0.8, 0.8)
CARD = str(demo_card_path())
CLASSES = ("background", "part_1", "part_2", "part_3")


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * np.sum(a & b) / total)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """The phantom, what predict wrote, and the session made of the predicted layers."""
    d = tmp_path_factory.mktemp("chain")
    ph = make_ct_phantom(SHAPE)
    tifffile.imwrite(d / "ct.tif", ph.image, imagej=True,
                     resolution=(1 / SPACING[1], 1 / SPACING[2]),
                     metadata={"spacing": SPACING[0], "unit": "mm", "axes": "ZYX"})
    rc = main(["predict", str(d / "ct.tif"), "--model", str(demo_model_path()),
               "-o", str(d / "pred"), "--device", "cpu", "--probabilities", "float16"])
    assert rc == 0
    whole, _ = read_array(d / "pred" / "whole.tif")
    parts, _ = read_array(d / "pred" / "parts.tif")
    fixed = parts.copy()
    inside = np.argwhere(parts == 1)
    z, y, x = inside[len(inside) // 2]
    fixed[z, y, max(x - 2, 0):x + 3] = 3       # part_1 -> part_3 inside the bone
    fixed[whole[0] == 0] = 0                    # parts stay inside whole
    card = load_card(CARD).to_dict()
    s = Session.create(d / "ct.segreview", image={"name": "ct", "path": str(d / "ct.tif"),
                                                  "shape": list(SHAPE)}, card=card)
    base = {"kind": "decision", "image": "ct", "run": "demo :: ct", "card": card}
    s.add_layer("whole", whole[0], scale=SPACING, prediction=whole[0], metadata={
        **base, "head": "whole", "head_kind": "sigmoid", "channel": "whole"})
    s.add_layer("parts", fixed, scale=SPACING, prediction=parts, metadata={
        **base, "head": "parts", "head_kind": "softmax", "channel": None,
        "classes": list(CLASSES)})
    for head in load_card(CARD).heads:          # Predict's probability layers, one a channel
        probs, _ = read_array(d / "pred" / f"{head.name}_probabilities.tif")
        for j, channel in enumerate(head.channels):
            s.add_layer(f"{channel} (p)", probs[j], scale=SPACING, metadata={
                **base, "kind": "probability", "head": head.name, "head_kind": head.kind,
                "channel": channel})
    s.close()
    return d, whole, parts, fixed


def test_session_export_writes_what_predict_writes(chain, capsys):
    d, whole, _, fixed = chain
    rc, _, err = run(capsys, "session", "export", d / "ct.segreview", "-o", d / "corrected")
    assert rc == 0, err
    assert sorted(p.name for p in (d / "corrected").iterdir()) == [
        "parts.tif", "parts_probabilities.tif", "whole.tif", "whole_probabilities.tif"]
    for name in ("whole_probabilities", "parts_probabilities"):
        data, meta = read_array(d / "corrected" / f"{name}.tif")
        pdata, pmeta = read_array(d / "pred" / f"{name}.tif")
        assert meta == pmeta and data.dtype == pdata.dtype == np.float16, name
        np.testing.assert_array_equal(data, pdata)
    for name, want in (("whole", whole), ("parts", fixed)):
        data, meta = read_array(d / "corrected" / f"{name}.tif")
        pdata, pmeta = read_array(d / "pred" / f"{name}.tif")
        assert (data.shape, data.dtype) == (pdata.shape, pdata.dtype), name
        assert meta == pmeta, name                  # kind, channel names, spacing
        np.testing.assert_array_equal(data, want)
    _, meta = read_array(d / "corrected" / "whole.tif")
    assert (meta.kind, meta.channel_names) == ("multihot", ("whole",))
    assert meta.spacing == pytest.approx(SPACING)


def test_check_qa_and_export_take_the_session_files_as_they_are(chain, capsys):
    d, whole, parts, fixed = chain
    corrected = d / "corrected"
    if not corrected.exists():
        assert run(capsys, "session", "export", d / "ct.segreview", "-o", corrected)[0] == 0
    rc, out, err = run(capsys, "check", corrected, "--card", CARD)
    assert rc == 0, err
    assert "error" not in err
    rc, out, err = run(capsys, "qa", corrected, d / "pred", "--card", CARD)
    assert rc == 0, err
    assert "one side only" not in err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert sorted(rows) == ["part_1", "part_2", "part_3", "whole"]
    assert float(rows["whole"][1]) == pytest.approx(1.0)          # not changed
    for k, name in enumerate(CLASSES[1:], start=1):
        want = dice(fixed == k, parts == k)
        assert float(rows[name][1]) == pytest.approx(want, abs=1e-3), name
    # without the card too: the files name their channels
    rc, out, err = run(capsys, "qa", corrected, d / "pred")
    assert rc == 0 and "one side only" not in err, err
    assert {line.split()[0] for line in out.splitlines()[1:]} == {
        "whole", "part_1", "part_2", "part_3"}
    rc, out, err = run(capsys, "export", d / "ct.tif", "--card", CARD,
                       "--target", f"whole={corrected / 'whole.tif'}",
                       "--target", f"parts={corrected / 'parts.tif'}",
                       "-o", d / "ex", "--format", "npz")
    assert rc == 0, err
    got_whole = np.load(d / "ex" / "ct" / "whole.npz")["data"]
    np.testing.assert_array_equal(got_whole, whole)                # (1, Z, Y, X)
    np.testing.assert_array_equal(np.load(d / "ex" / "ct" / "parts.npz")["data"], fixed)
