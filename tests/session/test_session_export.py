"""Which files ``segreview session export`` writes, and that a failure leaves nothing."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segreview._util import files as files_mod
from napari_segreview.cli import main
from napari_segreview.io.arrayfiles import read_array
from napari_segreview.session.export import export_files, read_export_file
from napari_segreview.session.session import Changes, LayerUpdate, Session

CARD = {"name": "two", "heads": [
    {"name": "bone", "kind": "sigmoid", "channels": ["cortex", "marrow"]},
    {"name": "parts", "kind": "softmax", "channels": ["background", "a", "b"]}]}
SHAPE = (2, 4, 5)


def _sig(channel, run="r"):
    return {"kind": "decision", "run": run, "head": "bone", "head_kind": "sigmoid",
            "channel": channel, "card": CARD}


def _masks():
    rng = np.random.default_rng(3)
    return {c: (rng.random(SHAPE) > 0.5).astype(np.uint8) for c in ("cortex", "marrow", "gt")}


def test_a_sigmoid_heads_layers_make_one_stack_in_the_cards_order(tmp_path):
    m = _masks()
    s = Session.create(tmp_path / "s")
    s.add_layer("marrow", m["marrow"], metadata=_sig("marrow"), scale=(3.0, 0.5, 0.5))
    s.add_layer("cortex", m["cortex"], metadata=_sig("cortex"), scale=(3.0, 0.5, 0.5))
    (f,) = export_files(s)
    assert (f.file_name("tif"), f.head, f.channels) == ("bone.tif", "bone", ("cortex", "marrow"))
    data, meta = read_export_file(s, f)
    np.testing.assert_array_equal(data, np.stack([m["cortex"], m["marrow"]]))
    assert (data.dtype, meta.kind, meta.channel_names) == (np.uint8, "multihot",
                                                           ("cortex", "marrow"))
    assert meta.spacing == (3.0, 0.5, 0.5)


def test_other_layers_get_files_of_their_own(tmp_path):
    m = _masks()
    s = Session.create(tmp_path / "s")
    s.add_layer("cortex", m["cortex"], metadata=_sig("cortex"))
    s.add_layer("cortex (edited)", m["marrow"], metadata={**_sig("cortex"), "superseded": True})
    other = s.add_layer("cortex", m["gt"], metadata=_sig("cortex", run="second model"))
    s.add_layer("part_1 (ground truth)", m["gt"],
                metadata={"kind": "mask", "channel": "part_1"})
    got = {f.file_name("npz"): f for f in export_files(s)}
    assert sorted(got) == sorted(["bone.npz", "cortex_edited.npz", f"bone-{other}.npz",
                                  "part_1_ground_truth.npz"])
    data, meta = read_export_file(s, got[f"bone-{other}.npz"])    # a second run: its own stack
    np.testing.assert_array_equal(data, m["gt"][None])
    data, meta = read_export_file(s, got["cortex_edited.npz"])
    np.testing.assert_array_equal(data, m["marrow"])
    assert (meta.kind, meta.channel_names) == ("labels", ("background", "cortex"))
    _, meta = read_export_file(s, got["part_1_ground_truth.npz"])
    assert meta.channel_names == ("background", "part_1")


def test_a_failed_move_leaves_the_output_folder_as_it_was(tmp_path, capsys, monkeypatch):
    m = _masks()
    s = Session.create(tmp_path / "s")
    s.add_layer("cortex", m["cortex"], metadata=_sig("cortex"))
    s.add_layer("notes", m["gt"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    place = files_mod._place
    calls = []

    def flaky(src, dst, overwrite):        # the second move into out/ fails
        if dst.parent == out:
            calls.append(dst)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
        place(src, dst, overwrite)

    monkeypatch.setattr(files_mod, "_place", flaky)
    assert main(["session", "export", str(s.folder), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segreview: error:") and err.count("\n") == 1
    assert "No space left on device" in err and "nothing was written" in err
    assert len(calls) == 2                                   # the first file was moved in...
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]   # ...and removed again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "s"]   # no staging left


@pytest.mark.parametrize("fmt", ["tif", "npy"])
def test_removed_layers_stay_out_unless_asked(tmp_path, capsys, fmt):
    m = _masks()
    s = Session.create(tmp_path / "s")
    s.add_layer("cortex", m["cortex"], metadata=_sig("cortex"))
    gone = s.add_layer("marrow", m["marrow"], metadata=_sig("marrow"))
    s.commit(Changes(layers={gone: LayerUpdate(removed=True)}))
    assert main(["session", "export", str(s.folder), "-o", str(tmp_path / "a"),
                 "--format", fmt]) == 0
    data, meta = read_array(tmp_path / "a" / f"bone.{fmt}")
    assert meta.channel_names == ("cortex",)
    assert main(["session", "export", str(s.folder), "-o", str(tmp_path / "b"),
                 "--format", fmt, "--include-removed"]) == 0
    data, meta = read_array(tmp_path / "b" / f"bone.{fmt}")
    assert meta.channel_names == ("cortex", "marrow")
    np.testing.assert_array_equal(data, np.stack([m["cortex"], m["marrow"]]))
    assert "bone" in capsys.readouterr().out
