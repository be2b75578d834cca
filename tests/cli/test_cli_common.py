"""All-or-nothing result folders of the CLI (cli._common.write_results)."""

import os

import numpy as np
import pytest

from napari_segreview.cli._common import write_results
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import ArrayMeta, read_array

FILES = [("a.npy", np.arange(4, dtype=np.uint8), ArrayMeta("labels", ("bg", "x"))),
         ("b.tif", np.ones((2, 2), np.uint8), ArrayMeta("labels"))]


def test_every_file_and_sidecar_lands_in_the_folder(tmp_path):
    paths = write_results(tmp_path / "out", FILES, force=False)
    assert [p.name for p in paths] == ["a.npy", "b.tif"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.npy", "a.npy.json",
                                                                      "b.tif"]
    data, meta = read_array(tmp_path / "out" / "a.npy")
    assert data.tolist() == [0, 1, 2, 3] and meta.channel_names == ("bg", "x")


def test_existing_results_need_force(tmp_path):
    write_results(tmp_path / "out", FILES, force=False)
    with pytest.raises(FormatError, match="already exists"):
        write_results(tmp_path / "out", FILES, force=False)
    write_results(tmp_path / "out", FILES, force=True)


@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_move_takes_back_the_moved_files(tmp_path, monkeypatch, existing):
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    real, calls = os.replace, []

    def second_move_fails(src, dst):
        if os.path.dirname(dst) == str(out):      # the moves into out/, not the temp renames
            calls.append(os.path.basename(dst))
            if len(calls) == 2:
                raise PermissionError(13, "Permission denied")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", second_move_fails)
    with pytest.raises(PermissionError):
        write_results(out, FILES, force=False)
    assert calls == ["a.npy", "a.npy.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out"] if existing else [])
    if existing:
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
