"""Review sessions on disk: chunk store round trips, crash safety, versions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_segreview.errors import SessionError
from napari_segreview.session import format as session_format
from napari_segreview.session import session as session_mod
from napari_segreview.session.session import (
    Changes,
    LayerUpdate,
    Session,
    default_folder,
    find_session,
)
from napari_segreview.session.store import (
    chunk_shape_for,
    chunk_slices,
    keys_of_indices,
    keys_of_slices,
)


@st.composite
def edits(draw):
    shape = tuple(draw(st.lists(st.integers(1, 40), min_size=2, max_size=3)))
    chunks = tuple(draw(st.integers(1, s)) for s in shape)
    boxes = []
    for _ in range(draw(st.integers(1, 6))):
        box = []
        for s in shape:
            a = draw(st.integers(0, s - 1))
            box.append(slice(a, draw(st.integers(a + 1, s))))
        boxes.append((tuple(box), draw(st.integers(0, 3)), draw(st.booleans())))
    return shape, chunks, boxes


@settings(max_examples=40, deadline=None)
@given(edits())
def test_random_edits_flush_and_reload_equal_the_array(tmp_path_factory, case):
    shape, chunks, boxes = case
    folder = tmp_path_factory.mktemp("s") / "x.segreview"
    s = Session.create(folder)
    data = np.zeros(shape, np.uint8)
    lid = s.add_layer("m", data, metadata={"kind": "mask"})
    s.commit(Changes(layers={lid: LayerUpdate(info={"shape": list(shape), "dtype": "uint8",
                                                    "chunk_shape": list(chunks)},
                                              chunks={}, full=True)}))
    for box, value, sparse in boxes:
        if sparse:  # a data_setitem-like edit: some voxels of the box
            idx = np.nonzero(np.ones(shape, bool)[box])
            idx = tuple(i[::3] + b.start for i, b in zip(idx, box, strict=True))
            data[idx] = value
            keys = keys_of_indices(idx, chunks)
        else:
            data[box] = value
            keys = set(keys_of_slices(box, chunks, shape))
        copies = {k: data[chunk_slices(k, chunks, shape)].copy() for k in keys}
        s.commit(Changes(layers={lid: LayerUpdate(chunks=copies)}))
        np.testing.assert_array_equal(Session.open(folder, writable=False).read_layer(lid), data)
    # superseded chunk files are gone: exactly one file per non-zero chunk
    files = [p for p in (folder / "layers" / lid).iterdir()]
    nonzero = [k for k in np.ndindex(*[-(-a // c) for a, c in zip(shape, chunks, strict=True)])
               if data[chunk_slices(k, chunks, shape)].any()]
    assert len(files) == len(nonzero)


def test_keys_of_indices_matches_a_plain_numpy_count():
    rng = np.random.default_rng(1)
    idx = tuple(rng.integers(0, n, 50) for n in (100, 300, 300))
    expected = {(int(z) // 16, int(y) // 256, int(x) // 256) for z, y, x in zip(*idx, strict=True)}
    assert keys_of_indices(idx, (16, 256, 256)) >= expected
    assert keys_of_indices(idx, (16, 256, 256)) == expected  # exact for spread-out edits


def test_chunk_shape_targets_about_a_mebibyte():
    assert np.prod(chunk_shape_for((500, 512, 512))) == 16 * 256 * 256


def _session_with(tmp_path, data):
    s = Session.create(tmp_path / "s.segreview")
    lid = s.add_layer("m", data, metadata={"kind": "mask"})
    return s, lid


def test_a_failed_flush_leaves_the_previous_generation(tmp_path, monkeypatch):
    data = np.zeros((40, 300, 300), np.uint8)
    data[0] = 1
    s, lid = _session_with(tmp_path, data)
    gen = s.generation
    new = data.copy()
    new[:] = 2  # every chunk changes
    calls = []
    real = session_mod.write_npz

    def dies_midway(path, array):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(5, "Input/output error")
        real(path, array)

    monkeypatch.setattr(session_mod, "write_npz", dies_midway)
    from napari_segreview.session.format import full_update
    with pytest.raises(SessionError, match="could not save"):
        s.commit(Changes(layers={lid: full_update(new)}))
    monkeypatch.undo()
    assert s.generation == gen
    again = Session.open(s.folder)
    np.testing.assert_array_equal(again.read_layer(lid), data)


def test_files_of_an_interrupted_commit_are_ignored_then_removed(tmp_path):
    data = np.zeros((20, 30, 30), np.uint8)
    data[3, 4:9, 5:7] = 4
    s, lid = _session_with(tmp_path, data)
    layer_dir = s.folder / "layers" / lid
    # what a crash leaves: a complete chunk file of the next generation, a torn temp
    # file, and a half-written session.json under its temporary name
    np.savez_compressed(layer_dir / f"0.0.0.g{s.generation + 1}.npz",
                        data=np.full((20, 30, 30), 9, np.uint8))
    (layer_dir / ".0.0.0.g9.tmp-deadbeef.npz").write_bytes(b"PK\x03\x04trunc")
    (s.folder / ".session.tmp-0badf00d.json").write_text('{"format": "napari-seg')
    np.testing.assert_array_equal(Session.open(s.folder, writable=False).read_layer(lid), data)
    Session.open(s.folder)  # opening for writing collects them
    assert sorted(p.name for p in layer_dir.iterdir()) == [f"0.0.0.g{s.generation}.npz"]
    assert not (s.folder / ".session.tmp-0badf00d.json").exists()


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from napari_segreview.session.session import Session, Changes
    from napari_segreview.session.format import full_update
    s = Session.create(sys.argv[1])
    data = np.zeros((64, 256, 256), np.uint8)
    lid = s.add_layer("m", data + 1)
    print(lid, flush=True)
    for i in range(2, 100000):
        s.commit(Changes(layers={lid: full_update(data + (i % 250) + 1)}))
        print(i, flush=True)
""")


def test_a_process_killed_during_large_flushes_reopens_consistently(tmp_path):
    folder = tmp_path / "big.segreview"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], stdout=subprocess.PIPE,
                            text=True)
    lid = proc.stdout.readline().strip()
    committed = 1
    deadline = time.monotonic() + 60
    while committed < 6 and time.monotonic() < deadline:
        committed = int(proc.stdout.readline())
    time.sleep(0.13)  # somewhere inside a later flush
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    rest = proc.stdout.read().split()
    committed = int(rest[-1]) if rest else committed
    s = Session.open(folder)
    data = s.read_layer(lid)
    values = np.unique(data)
    assert len(values) == 1, "a commit was torn: chunks of two generations"
    assert int(values[0]) - 1 in {committed % 250, (committed + 1) % 250}


def test_version_1_folder_written_by_hand_is_read(tmp_path):
    folder = tmp_path / "old.segreview"
    (folder / "layers" / "abc123").mkdir(parents=True)
    chunk = np.zeros((2, 4, 5), np.uint16)
    chunk[1, 2, 3] = 300
    np.savez_compressed(folder / "layers" / "abc123" / "1.0.0.g3.npz", data=chunk)
    pred = np.ones((4, 4, 5), np.uint16)
    np.savez_compressed(folder / "layers" / "abc123" / "prediction.g1.npz", data=pred)
    doc = {
        "format": "napari-segreview session", "version": 1, "generation": 3,
        "edit_generation": 3, "clean_generation": 2, "closed_cleanly": False,
        "saved_at": "2025-01-01T00:00:00+0000", "owner": {"pid": 1, "host": "elsewhere"},
        "image": {"name": "ct", "path": "/data/ct.tif", "shape": [4, 4, 5],
                  "scale": [2.0, 1.0, 1.0]},
        "card": {"name": "bone"},
        "layers": [{"id": "abc123", "name": "parts", "shape": [4, 4, 5], "dtype": "uint16",
                    "chunk_shape": [2, 4, 5], "chunks": [0, 3], "scale": [2.0, 1.0, 1.0],
                    "translate": [0.0, 0.0, 0.0], "metadata": {"kind": "decision"},
                    "display": {"opacity": 0.5}, "prediction": "prediction.g1.npz",
                    "removed": False}],
        "state": {"qa": {"reviewed": ["parts"]}},
    }
    (folder / "session.json").write_text(json.dumps(doc))
    s = Session.open(folder)
    expected = np.zeros((4, 4, 5), np.uint16)
    expected[3, 2, 3] = 300
    np.testing.assert_array_equal(s.read_layer("abc123"), expected)
    np.testing.assert_array_equal(s.read_prediction("abc123"), pred)
    assert s.layer("abc123").name == "parts" and s.interrupted
    assert s.state("qa") == {"reviewed": ["parts"]} and s.card == {"name": "bone"}
    s.save_state("qa", {"reviewed": []})  # and it can be written on
    assert Session.open(folder).doc["version"] == session_format.FORMAT_VERSION


def test_older_versions_are_migrated_and_newer_refused(monkeypatch):
    doc = {"format": "napari-segreview session", "version": 1, "layers": [], "qa": {"a": 1}}

    def one_to_two(d):
        d = dict(d)
        d["state"] = {"qa": d.pop("qa")}
        d["version"] = 2
        return d

    monkeypatch.setattr(session_format, "FORMAT_VERSION", 2)
    monkeypatch.setitem(session_format.MIGRATIONS, 1, one_to_two)
    assert session_format.upgrade(doc)["state"] == {"qa": {"a": 1}}
    with pytest.raises(SessionError, match="newer napari-segreview"):
        session_format.upgrade({**doc, "version": 3})


def test_a_session_open_in_another_living_process_is_refused(tmp_path):
    s, _ = _session_with(tmp_path, np.zeros((2, 3, 3), np.uint8))
    doc = json.loads((s.folder / "session.json").read_text())
    doc["owner"]["pid"] = os.getppid()  # alive, and not us
    (s.folder / "session.json").write_text(json.dumps(doc))
    with pytest.raises(SessionError, match="open in another program"):
        Session.open(s.folder)
    Session.open(s.folder, writable=False)  # reading is fine


def test_folders_next_to_images(tmp_path):
    image = tmp_path / "scan.nii.gz"
    assert default_folder(image) == tmp_path / "scan.segreview"
    assert find_session(image) is None
    Session.create(tmp_path / "scan.segreview")
    assert find_session(image) == tmp_path / "scan.segreview"
    with pytest.raises(SessionError, match="already holds a session"):
        Session.create(tmp_path / "scan.segreview")
    with pytest.raises(SessionError, match="holds no session"):
        Session.open(tmp_path)


def test_state_and_stored_image_round_trip(tmp_path):
    s = Session.create(tmp_path / "s")
    img = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    s.store_image(img, {"name": "ct", "path": None, "shape": [3, 4, 5]})
    s.save_state("qa", {"dice": 0.9})
    s.close()
    again = Session.open(tmp_path / "s", writable=False)
    np.testing.assert_array_equal(again.read_image(), img)
    assert again.state("qa") == {"dice": 0.9} and again.closed_cleanly
