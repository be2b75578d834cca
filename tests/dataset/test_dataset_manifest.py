"""The dataset manifest: round trips, atomic merge of two writers, versions, case ids."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from napari_segreview.dataset.manifest import (
    DATASET_FILE,
    FORMAT_VERSION,
    STATUSES,
    Case,
    Manifest,
    card_sha256,
    case_id_for,
    is_dataset,
)
from napari_segreview.errors import FormatError

CARD = {"name": "demo", "heads": [{"name": "fg", "kind": "sigmoid", "channels": ["fg"]}]}


@pytest.fixture
def dataset(tmp_path):
    m = Manifest.create(tmp_path / "study", "ab" * 32, CARD, model="/m/bone.pt")
    for name in ("ct_01.tif", "ct_02.nii.gz", "series 3"):
        m.add_case(tmp_path / name)
    m.save()
    return m


def test_round_trip_keeps_every_field(dataset):
    dataset.update("ct_01", status="predicted", uncertainty=0.25,
                   channel_uncertainty={"fg": 0.25}, volumes={"fg": 12.5},
                   dice={"fg": 0.9}, spacing=[2.0, 0.5, 0.5], shape=[4, 8, 8])
    dataset.save()
    again = Manifest.open(dataset.folder)
    assert [c.id for c in again.cases] == ["ct_01", "ct_02", "series_3"]
    assert again.case("ct_01") == dataset.case("ct_01")
    assert again.model_sha256 == "ab" * 32 and again.card == CARD
    assert again.card_sha256 == card_sha256(CARD)
    doc = json.loads((dataset.folder / DATASET_FILE).read_text())
    assert doc["version"] == FORMAT_VERSION and doc["format"] == "napari-segreview dataset"


def test_two_writers_changing_different_cases_keep_both(dataset):
    engine = Manifest.open(dataset.folder)
    panel = Manifest.open(dataset.folder)
    engine.update("ct_02", status="predicted", uncertainty=0.5)
    panel.update("ct_01", status="done", dice={"fg": 0.8})
    engine.save()
    panel.save()  # read the engine's change from disk, kept it
    final = Manifest.open(dataset.folder)
    assert final.case("ct_01").status == "done"
    assert final.case("ct_02").status == "predicted"
    assert final.case("ct_02").uncertainty == 0.5
    assert sorted(p.name for p in dataset.folder.iterdir()) == [DATASET_FILE]  # no temp left


def test_counts_list_every_status(dataset):
    dataset.update("ct_01", status="failed", reason="it is broken.")
    assert dataset.counts() == {**dict.fromkeys(STATUSES, 0), "todo": 2, "failed": 1}


def test_paths(dataset):
    root = dataset.folder
    assert dataset.prediction_dir("ct_01") == root / "cases" / "ct_01" / "prediction"
    assert dataset.session_dir("ct_01") == root / "cases" / "ct_01" / "session.segreview"
    assert is_dataset(root) and is_dataset(root / DATASET_FILE)
    assert not is_dataset(root / "cases")


def test_refusals(dataset, tmp_path):
    with pytest.raises(FormatError, match="no case 'nope'"):
        dataset.case("nope")
    with pytest.raises(FormatError, match="status is one of"):
        dataset.update("ct_01", status="finished")
    with pytest.raises(FormatError, match="no field 'colour'"):
        dataset.update("ct_01", colour="red")
    with pytest.raises(FormatError, match="already a dataset"):
        Manifest.create(dataset.folder, None, CARD)
    with pytest.raises(FormatError, match="is not a dataset"):
        Manifest.open(tmp_path)


def test_newer_version_is_refused_and_bad_json_is_one_sentence(dataset):
    path = dataset.folder / DATASET_FILE
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "version": FORMAT_VERSION + 1}))
    with pytest.raises(FormatError, match="newer napari-segreview"):
        Manifest.open(dataset.folder)
    path.write_text("{not json")
    with pytest.raises(FormatError, match="not valid JSON"):
        Manifest.open(dataset.folder)


def test_unknown_fields_from_newer_writers_are_ignored():
    case = Case.from_dict({"id": "a", "source": "/a.tif", "status": "done", "later": 1})
    assert case.status == "done" and not hasattr(case, "later")


@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=8))
def test_case_ids_are_safe_and_unique(names):
    taken: list[str] = []
    for name in names:
        cid = case_id_for(f"/data/{name}.tif", taken)
        assert cid and all((ch.isalnum() and ch.isascii()) or ch in "._-" for ch in cid)
        assert not cid.startswith(".")
        taken.append(cid)
    assert len(set(taken)) == len(taken)
