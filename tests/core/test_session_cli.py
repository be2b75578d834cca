"""``segreview session info|export``."""

from __future__ import annotations

import numpy as np

from napari_segreview.cli import main
from napari_segreview.core.arrayfiles import read_array
from napari_segreview.core.session import Changes, LayerUpdate, Session


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
