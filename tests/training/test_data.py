"""Reading an export for training, the split by case, sampling, and bad exports."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import read_array, write_array
from napari_segreview.targets.export import sha256
from napari_segreview.training.data import CaseData, held_out_default, load_cases, split_cases
from napari_segreview.training.sampling import Sampler
from toys import CARD, make_export, toy_case


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return make_export(tmp_path_factory.mktemp("exp") / "export", 5)


def test_cases_come_back_as_exported(export):
    _card, cases = load_cases(export, CARD)
    assert [c.name for c in cases] == [f"case_{i}" for i in range(5)]
    img, fg, cls = toy_case(12)
    c = cases[2]
    np.testing.assert_array_equal(c.image[0], img)
    np.testing.assert_array_equal(c.targets["fg"], fg)
    np.testing.assert_array_equal(c.targets["cls"], cls)
    assert load_cases(export)[0].to_dict() == CARD.to_dict()  # the export's own card


def test_split_is_by_case_and_holds_out_a_fifth(export):
    _, cases = load_cases(export, CARD)
    train, held = split_cases(cases, None)
    assert [c.name for c in held] == ["case_4"]
    assert not {c.name for c in train} & {c.name for c in held}
    assert held_out_default([f"c{i:02d}" for i in range(12)]) == ["c11", "c05"]
    train, held = split_cases(cases, ["case_0", "case_3"])
    assert [c.name for c in held] == ["case_0", "case_3"] and len(train) == 3
    assert len(split_cases(cases, None, compare=False)[0]) == 5


def test_split_refusals(export):
    _, cases = load_cases(export, CARD)
    with pytest.raises(FormatError, match=r"needs at least two.*--no-held-out"):
        split_cases(cases[:1], None)
    with pytest.raises(FormatError, match="no case 'case_9'"):
        split_cases(cases, ["case_9"])
    with pytest.raises(FormatError, match="none is left to train on"):
        split_cases(cases, [c.name for c in cases])
    with pytest.raises(FormatError, match=r"--held-out names cases.*--no-held-out"):
        split_cases(cases, ["case_0"], compare=False)
    train, held = split_cases(cases[:1], None, compare=False)  # the opt-out trains on it
    assert [c.name for c in train] == [cases[0].name] and held == []


def test_export_without_the_cards_heads(tmp_path):
    only_fg = ModelCard.from_dict({"input": CARD.to_dict()["input"],
                                   "heads": [CARD.to_dict()["heads"][0]]})
    folder = make_export(tmp_path / "export", 2, card=only_fg)
    with pytest.raises(FormatError, match="no target for the card's head 'cls'") as err:
        load_cases(folder, CARD)
    assert "\n" not in str(err.value)


def test_target_shape_differs_from_its_image(tmp_path):
    folder = make_export(tmp_path / "export", 2)
    case = folder / "case_1"
    data, meta = read_array(case / "cls.tif")
    write_array(case / "cls.tif", data[:, :16], meta)  # edited by hand: half the rows
    m = json.loads((case / "manifest.json").read_text())
    entry = next(e for e in m["targets"] if e["head"] == "cls")
    entry["sha256"], entry["shape"] = sha256(case / "cls.tif"), [3, 16, 32]
    (case / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(FormatError, match=r"case 'case_1'.*shape \(3, 16, 32\).*\(3, 32, 32\)"):
        load_cases(folder, CARD)


def test_empty_export(tmp_path):
    folder = make_export(tmp_path / "export", 1)
    shutil.rmtree(folder / "case_0")
    with pytest.raises(FormatError, match="no complete case"):
        load_cases(folder, CARD)


def _sampler(export, **kw):
    _, cases = load_cases(export, CARD)
    return Sampler(cases, CARD, (16, 16), np.random.default_rng(0), augment=False, **kw), cases


def test_samples_are_crops_of_the_cases(export):
    sampler, _ = _sampler(export)
    b = sampler.batch(12)
    assert b.x.shape == (12, 1, 16, 16) and b.targets["cls"].shape == (12, 16, 16)
    # the toy targets are functions of the image: a crop keeps the relation (no flip, no shift)
    np.testing.assert_array_equal(b.targets["fg"][:, 0], (b.x[:, 0] > 0.55).astype(np.uint8))
    assert b.valid.all()


def test_foreground_share():
    img = np.zeros((1, 2, 64, 64), np.float32)
    fg = np.zeros((1, 2, 64, 64), np.uint8)
    fg[0, 1, 60:62, 3:5] = 1  # one small structure near a corner of one slice
    case = CaseData("c", img, {"fg": fg, "cls": fg[0] * 2})

    def share(foreground):
        b = Sampler([case], CARD, (16, 16), np.random.default_rng(0), augment=False,
                    foreground=foreground).batch(300)
        return b.targets["fg"].reshape(300, -1).any(axis=1).mean()

    assert share(1.0) == 1.0  # every centred sample holds the structure
    assert share(0.0) < 0.1  # random ones rarely do
    assert 0.25 < share(1 / 3) < 0.45


def test_padding_counts_nowhere(export):
    _, cases = load_cases(export, CARD)
    b = Sampler(cases, CARD, (40, 40), np.random.default_rng(0), augment=False).batch(3)
    assert b.x.shape == (3, 1, 40, 40)
    assert not b.valid[:, 32:].any() and b.valid[:, :32, :32].all()
    assert (b.targets["cls"][:, 32:] == 255).all()


def test_flips_only_when_allowed(export):
    flipped = _sampler(export, flip_axes=(1,))[0].batch(30)
    plain = _sampler(export)[0].batch(30)
    # image and targets flip together
    np.testing.assert_array_equal(flipped.targets["fg"][:, 0],
                                  (flipped.x[:, 0] > 0.55).astype(np.uint8))
    mirrored = [not np.array_equal(f, p) and np.array_equal(f, p[:, ::-1])
                for f, p in zip(flipped.x[:, 0], plain.x[:, 0], strict=True)]
    assert 0 < sum(mirrored) < 30  # some samples mirrored along X, others not
