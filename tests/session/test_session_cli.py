"""``segreview session info|export``."""

from __future__ import annotations

import numpy as np

from napari_segreview.cli import main
from napari_segreview.io.arrayfiles import read_array
from napari_segreview.session.session import Changes, LayerUpdate, Session


def _session(tmp_path):
    s = Session.create(tmp_path / "ct.segreview", image={"name": "ct", "path": "/x/ct.tif",
                                                         "shape": [3, 4, 5]})
    parts = np.zeros((3, 4, 5), np.uint8)
    parts[1, 1:3, 2:4] = 2
    a = s.add_layer("parts (labels)", parts, scale=[2.0, 0.5, 0.5],
                    metadata={"kind": "decision", "classes": ["bg", "p1", "p2"]})
    b = s.add_layer("gone", np.ones((3, 4, 5), np.uint8))
    s.commit(Changes(layers={b: LayerUpdate(removed=True)}))
    return s, a, parts


def test_info_says_what_the_session_holds(tmp_path, capsys):
    s, a, _ = _session(tmp_path)
    assert main(["session", "info", str(s.folder)]) == 0
    out = capsys.readouterr().out
    assert "NOT closed cleanly" in out
    assert f"layer {a} 'parts (labels)': decision, (3, 4, 5) uint8" in out
    assert "[removed from the viewer]" in out


def test_export_writes_each_layer_with_its_metadata(tmp_path, capsys):
    s, _, parts = _session(tmp_path)
    assert main(["session", "export", str(s.folder), "-o", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["parts_labels.tif"]
    data, meta = read_array(tmp_path / "out" / "parts_labels.tif")
    np.testing.assert_array_equal(data, parts)
    assert meta.kind == "labels" and meta.channel_names == ("bg", "p1", "p2")
    assert meta.spacing == (2.0, 0.5, 0.5)
    assert main(["session", "export", str(s.folder), "-o", str(tmp_path / "out")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["session", "export", str(s.folder), "-o", str(tmp_path / "all"),
                 "--include-removed", "--format", "npz"]) == 0
    assert len(list((tmp_path / "all").iterdir())) == 2


def test_a_folder_without_a_session_is_one_clear_error(tmp_path, capsys):
    assert main(["session", "info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segreview: error:") and "holds no session" in err


def test_export_checks_every_target_before_writing_any(tmp_path, capsys):
    s, _, parts = _session(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "gone.npy").write_bytes(b"mine")   # the second layer's target (in C order)
    before = sorted(p.name for p in out.iterdir())
    assert main(["session", "export", str(s.folder), "-o", str(out), "--format", "npy",
                 "--include-removed"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segreview: error:") and "gone.npy already exists" in err
    assert sorted(p.name for p in out.iterdir()) == before    # parts_labels.npy not written
    assert (out / "gone.npy").read_bytes() == b"mine"
    assert main(["session", "export", str(s.folder), "-o", str(out), "--format", "npy",
                 "--include-removed", "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "gone.npy", "gone.npy.json", "parts_labels.npy", "parts_labels.npy.json"]
    np.testing.assert_array_equal(read_array(out / "parts_labels.npy")[0], parts)
    np.testing.assert_array_equal(read_array(out / "gone.npy")[0], np.ones((3, 4, 5)))


def test_export_writes_nothing_when_a_layer_cannot_be_read(tmp_path, capsys):
    s = _session(tmp_path)[0]
    b = next(r.id for r in s.layers if r.name == "gone")
    for chunk in (s.folder / "layers" / b).glob("*.npz"):
        chunk.write_bytes(b"damaged")                 # the second layer is corrupt
    out = tmp_path / "out"
    assert main(["session", "export", str(s.folder), "-o", str(out),
                 "--include-removed"]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert not out.exists()                           # not even the first, readable layer
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.segreview"]   # no staging left


def test_two_layers_with_one_name_get_two_files(tmp_path, capsys):
    s = Session.create(tmp_path / "s")
    one, two = np.zeros((2, 3), np.uint8), np.ones((2, 3), np.uint8)
    s.add_layer("bone", one)
    b = s.add_layer("bone", two)
    assert main(["session", "export", str(s.folder), "-o", str(tmp_path / "o")]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(["bone.tif",
                                                                  f"bone-{b}.tif"])
    np.testing.assert_array_equal(read_array(tmp_path / "o" / f"bone-{b}.tif")[0], two)
