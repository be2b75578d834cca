"""The shared atomic files and staging folders (napari_segreview._util.files)."""

import os

import pytest

from napari_segreview._util import files
from napari_segreview._util.files import atomic_write, staged


def tree(folder):
    """Every file under ``folder`` (hidden ones too) with its text: what a user would find."""
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def names(folder):
    return sorted(p.name for p in folder.iterdir())


class Boom(Exception):
    pass


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a.json"
    atomic_write(p, lambda fh: fh.write(b"1"))
    atomic_write(p, lambda fh: fh.write(b"22"))
    assert names(tmp_path) == ["a.json"] and p.read_text() == "22"

    def half_then_fail(fh):
        fh.write(b"half")
        raise Boom

    with pytest.raises(Boom):
        atomic_write(p, half_then_fail)
    assert names(tmp_path) == ["a.json"] and p.read_text() == "22"


def test_files_move_into_a_new_folder_in_name_order(tmp_path):
    with staged(tmp_path, "out") as st:
        for n in ("b.txt", "a.txt", "c.npy.json"):
            (st.path / n).write_text(n)
        assert st.path.parent == tmp_path and st.path.name.startswith(".out.tmp-")
        moved = st.move_all(tmp_path / "out")
    assert [p.name for p in moved] == ["a.txt", "b.txt", "c.npy.json"]
    assert names(tmp_path) == ["out"]
    assert tree(tmp_path / "out") == {"a.txt": "a.txt", "b.txt": "b.txt",
                                      "c.npy.json": "c.npy.json"}


def test_failure_after_moves_removes_what_was_moved_and_the_new_folder(tmp_path):
    with pytest.raises(Boom), staged(tmp_path, "out") as st:
        (st.path / "a.txt").write_text("a")
        st.move_all(tmp_path / "out")
        raise Boom
    assert names(tmp_path) == []


def test_failure_keeps_files_that_were_there(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(Boom), staged(tmp_path, "out") as st:
        (st.path / "new.txt").write_text("new")
        st.move_all(out)
        assert names(out) == ["mine.txt", "new.txt"]
        raise Boom
    assert names(tmp_path) == ["out"] and tree(out) == {"mine.txt": "keep"}


def test_a_failed_move_undoes_the_earlier_ones(tmp_path, monkeypatch):
    out = tmp_path / "out"
    real, calls = os.replace, []

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise PermissionError(13, "Permission denied")
        return real(src, dst)

    with pytest.raises(PermissionError), staged(tmp_path, "out") as st:
        for n in ("a", "b", "c"):
            (st.path / n).write_text(n)
        monkeypatch.setattr(files.os, "replace", second_fails)
        st.move_all(out)
    monkeypatch.undo()
    assert [os.path.basename(c) for c in calls] == ["a", "b"]
    assert names(tmp_path) == []


def test_parent_made_for_the_staging_folder_goes_again_on_failure(tmp_path):
    with pytest.raises(Boom), staged(tmp_path / "new", "case") as st:
        assert st.path.parent == tmp_path / "new"
        raise Boom
    assert names(tmp_path) == []
    with staged(tmp_path / "new", "case") as st:
        pass
    assert names(tmp_path) == ["new"] and names(tmp_path / "new") == []


def test_replace_folder_swaps_a_whole_folder(tmp_path):
    dest = tmp_path / "case"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with staged(tmp_path, "case") as st:
        (st.path / "new.txt").write_text("new")
        st.replace_folder(dest)
        assert not st.path.exists() and names(dest) == ["new.txt"]
    assert names(tmp_path) == ["case"]            # the old one set aside is deleted
    assert tree(dest) == {"new.txt": "new"}


@pytest.mark.parametrize("existing", [False, True])
def test_replace_folder_is_undone_on_failure(tmp_path, existing):
    dest = tmp_path / "case"
    if existing:
        dest.mkdir()
        (dest / "old.txt").write_text("old")
    with pytest.raises(Boom), staged(tmp_path, "case") as st:
        (st.path / "new.txt").write_text("new")
        st.replace_folder(dest)
        raise Boom
    assert names(tmp_path) == (["case"] if existing else [])
    if existing:
        assert tree(dest) == {"old.txt": "old"}


def test_tracked_files_and_made_folders_are_removed_in_reverse_order(tmp_path):
    marker = tmp_path / "marker.json"
    with pytest.raises(Boom), staged(tmp_path, "x") as st:
        st.mkdir(tmp_path / "sub")
        st.mkdir(tmp_path / "sub")                 # already there: made once, undone once
        st.track(marker).write_text("{}")
        st.move(st.write("f.bin", lambda fh: fh.write(b"data")), tmp_path / "sub" / "f.bin")
        assert tree(tmp_path) == {"marker.json": "{}", "sub/f.bin": "data"}
        raise Boom
    assert names(tmp_path) == []


def test_move_without_overwrite_refuses_an_existing_file(tmp_path):
    (tmp_path / "f.txt").write_text("mine")
    with pytest.raises(FileExistsError), staged(tmp_path, "f") as st:
        st.move(st.write("f.txt", lambda fh: fh.write(b"new")), tmp_path / "f.txt",
                overwrite=False)
    assert tree(tmp_path) == {"f.txt": "mine"}


def test_write_creates_the_file_in_the_staging_folder_only_once(tmp_path):
    with staged(tmp_path, "w") as st:
        p = st.write("a.bin", lambda fh: fh.write(b"\x00\x01"))
        assert p.parent == st.path and p.read_bytes() == b"\x00\x01"
        with pytest.raises(FileExistsError):
            st.write("a.bin", lambda fh: fh.write(b""))
    assert names(tmp_path) == []                   # nothing moved: nothing left


def test_undo_errors_do_not_hide_the_original_error(tmp_path):
    with pytest.raises(Boom), staged(tmp_path, "x") as st:
        st.track(tmp_path / "never-written.txt")   # removing it fails quietly
        raise Boom
    assert names(tmp_path) == []
