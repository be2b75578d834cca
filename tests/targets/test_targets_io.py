"""Export folders (tif/npz): round trips, appending, atomicity, refusals that write nothing."""

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from napari_segreview.card.spec import load_card
from napari_segreview.data import demo_card_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.errors import FormatError
from napari_segreview.targets import export as targets_io
from napari_segreview.targets.build import ExportCase, build_targets, card_from_choices
from napari_segreview.targets.export import export_case, read_export, read_statistics

CARD = load_card(demo_card_path())


def phantom_case(seed=0, name=None, shape=(3, 32, 32), **kw):
    ph = make_ct_phantom(shape, seed=seed)
    ts = build_targets(CARD, {"whole": ph.masks[0], "parts": ph.parts}, ph.image.shape)
    return ExportCase(name or f"case {seed}", ph.image, ts, CARD, spacing=ph.spacing, **kw)


def snapshot(folder: Path) -> dict:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("fmt", ["tif", "npz"])
def test_round_trip_is_identical(tmp_path, fmt):
    case = phantom_case(source="scan.tif")
    res = export_case(tmp_path / "ex", case, fmt=fmt)
    assert sorted(p.name for p in res.files) == sorted(
        ["image." + fmt, "whole." + fmt, "parts." + fmt, "manifest.json"])
    (back,) = read_export(tmp_path / "ex")
    assert back.name == "case_0"
    assert back.image.dtype == case.image.dtype
    np.testing.assert_array_equal(back.image, case.image)
    for a, b in zip(case.targets, back.targets, strict=True):
        assert (a.head, a.kind, a.channels, a.within) == (b.head, b.kind, b.channels, b.within)
        assert a.data.dtype == b.data.dtype
        np.testing.assert_array_equal(a.data, b.data)
    assert back.spacing == case.spacing
    man = back.manifest
    assert man["source"] == "scan.tif" and man["card"] == CARD.to_dict()
    assert man["program"]["name"] == "napari-segreview" and man["program"]["version"]
    assert [t["channels"] for t in man["targets"]] == [["whole"], list(CARD.heads[1].channels)]
    assert all(len(t["sha256"]) == 64 for t in man["targets"])
    # a case folder and its manifest read back the same case
    assert read_export(tmp_path / "ex" / "case_0")[0].name == "case_0"
    assert read_export(tmp_path / "ex" / "case_0" / "manifest.json")[0].name == "case_0"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack=arrays(np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 3),
                                         st.integers(1, 6), st.integers(1, 6)),
                    elements=st.integers(0, 1)),
       fmt=st.sampled_from(["tif", "npz"]))
def test_overlapping_sigmoid_channels_round_trip(stack, fmt):
    names = [f"ch {i}" for i in range(stack.shape[0])]
    card = card_from_choices(names)
    image = np.arange(np.prod(stack.shape[1:]), dtype=np.float32).reshape(stack.shape[1:])
    ts = build_targets(card, {"channels": stack}, image.shape)
    with tempfile.TemporaryDirectory() as tmp:
        export_case(Path(tmp) / "ex", ExportCase("c", image, ts, card), fmt=fmt)
        (back,) = read_export(Path(tmp) / "ex")
    np.testing.assert_array_equal(back.targets[0].data, stack)
    assert back.targets[0].channels == tuple(names)


def test_appending_updates_statistics_consistently(tmp_path):
    cases = [phantom_case(0), phantom_case(1)]
    export_case(tmp_path / "ex", cases[0])
    export_case(tmp_path / "ex", cases[1])
    stats = read_statistics(tmp_path / "ex")
    assert stats["cases"] == 2
    # independent: plain numpy over both cases
    whole = np.concatenate([c.targets[0].data.ravel() for c in cases])
    parts = np.concatenate([c.targets[1].data.ravel() for c in cases])
    pos = int((whole == 1).sum())
    neg = whole.size - pos
    assert stats["heads"]["whole"]["positives"] == [pos]
    assert stats["heads"]["whole"]["pos_weight"] == [pytest.approx(neg / pos)]
    counts = [int((parts == k).sum()) for k in range(4)]
    assert stats["heads"]["parts"]["counts"] == counts
    assert len(read_export(tmp_path / "ex")) == 2


def test_existing_case_is_refused_then_replaced(tmp_path):
    export_case(tmp_path / "ex", phantom_case(0, "scan"))
    before = snapshot(tmp_path / "ex")
    with pytest.raises(FormatError, match="already has a case 'scan'"):
        export_case(tmp_path / "ex", phantom_case(1, "scan"))
    assert snapshot(tmp_path / "ex") == before
    export_case(tmp_path / "ex", phantom_case(1, "scan"), overwrite=True)
    (back,) = read_export(tmp_path / "ex")
    np.testing.assert_array_equal(back.image, phantom_case(1).image)
    assert read_statistics(tmp_path / "ex")["cases"] == 1


def test_refusals_write_nothing(tmp_path):
    export_case(tmp_path / "ex", phantom_case(0))
    before = snapshot(tmp_path / "ex")
    other = card_from_choices(["whole"])
    ph = make_ct_phantom((3, 32, 32))
    ts = build_targets(other, {"channels": ph.masks[:1]}, ph.image.shape)
    with pytest.raises(FormatError, match="other heads or another card"):
        export_case(tmp_path / "ex", ExportCase("x", ph.image, ts, other))
    with pytest.raises(FormatError, match="holds a tif export, not npz"):
        export_case(tmp_path / "ex", phantom_case(1), fmt="npz")
    with pytest.raises(FormatError, match="climb out"):
        export_case(tmp_path / "ex", phantom_case(1, "../evil"))
    assert snapshot(tmp_path / "ex") == before
    assert not (tmp_path / "evil").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(FormatError, match="neither empty nor a SegReview export"):
        export_case(tmp_path / "busy", phantom_case(0))
    assert sorted(os.listdir(tmp_path / "busy")) == ["notes.txt"]
    with pytest.raises(FormatError, match="does not exist"):
        export_case(tmp_path / "no" / "such" / "ex", phantom_case(0))


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_failure_midway_leaves_no_complete_case(tmp_path, monkeypatch, fail_at):
    export_case(tmp_path / "ex", phantom_case(0))
    before = snapshot(tmp_path / "ex")
    real = targets_io.write_array
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == fail_at:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(targets_io, "write_array", flaky)
    with pytest.raises(OSError, match="disk full"):
        export_case(tmp_path / "ex", phantom_case(1))
    assert snapshot(tmp_path / "ex") == before  # no case, no staging folder, same statistics
    calls.clear()
    with pytest.raises(OSError, match="disk full"):
        export_case(tmp_path / "new", phantom_case(1))
    assert not (tmp_path / "new").exists()  # a new export folder is removed again


def test_failure_after_the_case_is_in_place_puts_the_old_case_back(tmp_path, monkeypatch):
    export_case(tmp_path / "ex", phantom_case(0, name="c"))
    before = snapshot(tmp_path / "ex")

    def no_statistics(folder, method):
        raise OSError("disk full")

    monkeypatch.setattr(targets_io, "update_statistics", no_statistics)
    with pytest.raises(OSError, match="disk full"):
        export_case(tmp_path / "ex", phantom_case(1, name="c"), overwrite=True)
    assert snapshot(tmp_path / "ex") == before  # the replaced case is back, nothing hidden left
    with pytest.raises(OSError, match="disk full"):
        export_case(tmp_path / "new", phantom_case(1))
    assert not (tmp_path / "new").exists()


def test_failure_while_writing_the_manifest(tmp_path, monkeypatch):
    real = targets_io.write_json

    def flaky(path, obj):
        if Path(path).name == "manifest.json":
            raise OSError("disk full")
        return real(path, obj)

    monkeypatch.setattr(targets_io, "write_json", flaky)
    with pytest.raises(OSError):
        export_case(tmp_path / "ex", phantom_case(0))
    assert not (tmp_path / "ex").exists()


def test_damaged_file_is_detected(tmp_path):
    export_case(tmp_path / "ex", phantom_case(0))
    f = tmp_path / "ex" / "case_0" / "parts.tif"
    data = bytearray(f.read_bytes())
    data[-10] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="does not match the checksum"):
        read_export(tmp_path / "ex")


def test_a_case_without_manifest_is_not_a_case(tmp_path):
    export_case(tmp_path / "ex", phantom_case(0))
    export_case(tmp_path / "ex", phantom_case(1))
    (tmp_path / "ex" / "case_1" / "manifest.json").unlink()
    assert [c.name for c in read_export(tmp_path / "ex")] == ["case_0"]
    with pytest.raises(FormatError, match="not a complete case"):
        read_export(tmp_path / "ex" / "case_1")
    with pytest.raises(FormatError, match="not a SegReview export"):
        read_export(tmp_path)


def test_statistics_file_is_json_for_torch(tmp_path):
    torch = pytest.importorskip("torch")
    export_case(tmp_path / "ex", phantom_case(0), method="median_frequency")
    stats = json.loads((tmp_path / "ex" / "statistics.json").read_text())
    w = torch.tensor(stats["heads"]["parts"]["weight"])
    pw = torch.tensor(stats["heads"]["whole"]["pos_weight"])
    assert w.shape == (4,) and pw.shape == (1,)
    assert stats["heads"]["parts"]["weight_method"] == "median_frequency"
