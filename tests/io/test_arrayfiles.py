"""Tests for napari_segreview.io.arrayfiles: round trips, errors, atomic writes.

Arrays are small and hand-written; expected values are literals, never the
output of the code under test.
"""

import json
import os
import pickle

import numpy as np
import pytest
import tifffile

from napari_segreview.errors import FormatError
from napari_segreview.io import arrayfiles
from napari_segreview.io.arrayfiles import (
    ArrayMeta,
    file_suffix,
    read_array,
    sidecar_path,
    write_array,
)
from napari_segreview.labels.formats import AtomTable

SUFFIXES = [".tif", ".tiff", ".npy", ".npz"]

MULTIHOT = np.array(
    [[[0, 1, 1], [1, 0, 1]],   # whole
     [[0, 1, 0], [0, 0, 1]]],  # part_1
    dtype=np.uint8,
)
FULL_META = ArrayMeta(
    kind="atoms",
    channel_names=("whole", "part_1"),
    atom_table={"names": ["whole", "part_1"], "atoms": [[], ["whole"], ["whole", "part_1"]]},
    spacing=(2.5, 0.7, 0.7),
)


def names_in(folder):
    return sorted(p.name for p in folder.iterdir())


def one_sentence(exc_info, *words):
    msg = str(exc_info.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


# ----------------------------------------------------------------------------- round trips


ARRAYS = {
    "bool3d": np.array([[[True, False], [False, True]], [[False, False], [True, True]]]),
    "uint8_2d": np.array([[0, 1, 2], [255, 3, 0]], dtype=np.uint8),
    "uint16_2d": np.array([[0, 300], [65535, 7]], dtype=np.uint16),
    "int32_3d": np.array([[[-5, 0]], [[7, 2**31 - 1]]], dtype=np.int32),
    "float32_2d": np.array([[0.5, -1.25], [np.inf, 1e-8]], dtype=np.float32),
    "uint8_4d": np.arange(2 * 3 * 2 * 2, dtype=np.uint8).reshape(2, 3, 2, 2),
    "uint8_1d": np.array([0, 1, 2, 3], dtype=np.uint8),
    "single_channel": np.array([[[1, 0, 1]]], dtype=np.uint8),
}


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_round_trip_keeps_data_bit_for_bit(tmp_path, suffix, name):
    array = ARRAYS[name]
    path = tmp_path / f"a{suffix}"
    write_array(path, array, FULL_META)
    data, meta = read_array(path)
    assert data.dtype == array.dtype
    assert data.shape == array.shape
    assert data.tobytes() == array.tobytes()
    assert meta == FULL_META


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_channel_names_and_kind(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    names = ("whole", "part 1 (ü)")
    write_array(path, MULTIHOT, ArrayMeta("multihot", names))
    data, meta = read_array(path)
    assert data.tolist() == [[[0, 1, 1], [1, 0, 1]], [[0, 1, 0], [0, 0, 1]]]
    assert meta.kind == "multihot"
    assert meta.channel_names == ("whole", "part 1 (ü)")
    assert meta.atom_table is None and meta.spacing is None


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_no_meta_reads_back_empty(tmp_path, suffix):
    path = tmp_path / f"x{suffix}"
    write_array(path, MULTIHOT)
    data, meta = read_array(path)
    assert data.tobytes() == MULTIHOT.tobytes()
    assert meta == ArrayMeta() and meta.is_empty
    assert names_in(tmp_path) == [path.name]  # no sidecar for .npy either


def test_atom_table_object_is_stored_as_dict(tmp_path):
    table = AtomTable(("a", "b"), np.array([[0, 0], [1, 0], [1, 1]], bool))
    write_array(tmp_path / "t.npz", np.array([[0, 1, 2]], np.uint8), ArrayMeta("atoms",
                atom_table=table))
    _, meta = read_array(tmp_path / "t.npz")
    assert meta.atom_table == {"names": ["a", "b"], "atoms": [[], ["a"], ["a", "b"]]}


def test_npy_sidecar_next_to_file(tmp_path):
    path = tmp_path / "labels.npy"
    write_array(path, MULTIHOT, ArrayMeta("multihot", ("whole", "part_1")))
    assert names_in(tmp_path) == ["labels.npy", "labels.npy.json"]
    assert sidecar_path(path) == tmp_path / "labels.npy.json"
    side = json.loads((tmp_path / "labels.npy.json").read_text())
    assert side["kind"] == "multihot"
    assert side["channel_names"] == ["whole", "part_1"]
    assert side["shape"] == [2, 2, 3]
    # plain numpy reads the .npy itself
    assert np.load(path, allow_pickle=False).tolist() == MULTIHOT.tolist()


def test_npy_rewrite_without_meta_removes_stale_sidecar(tmp_path):
    path = tmp_path / "labels.npy"
    write_array(path, MULTIHOT, ArrayMeta("multihot", ("whole", "part_1")))
    write_array(path, np.array([[1, 2]], np.uint8))
    assert names_in(tmp_path) == ["labels.npy"]
    assert read_array(path)[1] == ArrayMeta()


def test_npy_stale_sidecar_with_other_shape_is_an_error(tmp_path):
    path = tmp_path / "labels.npy"
    write_array(path, MULTIHOT, ArrayMeta("multihot", ("whole", "part_1")))
    np.save(path, np.zeros((4, 4), np.uint8))  # replaced behind our back
    with pytest.raises(FormatError) as e:
        read_array(path)
    one_sentence(e, "labels.npy.json", "(2, 2, 3)", "(4, 4)")


def test_foreign_files_are_read_with_unknown_meta(tmp_path):
    a = np.array([[0, 1], [2, 3]], np.uint16)
    tifffile.imwrite(tmp_path / "f.tif", a)
    np.savez(tmp_path / "f.npz", a)  # stored as arr_0
    np.savez(tmp_path / "g.npz", data=a, other=np.zeros(3))
    np.save(tmp_path / "f.npy", a)
    for name in ("f.tif", "f.npz", "g.npz", "f.npy"):
        data, meta = read_array(tmp_path / name)
        assert data.tolist() == [[0, 1], [2, 3]], name
        assert meta == ArrayMeta(), name


def test_npz_with_several_arrays_and_no_data_key(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros(2), b=np.ones(2))
    with pytest.raises(FormatError) as e:
        read_array(tmp_path / "two.npz")
    one_sentence(e, "two.npz", "a, b", "'data'")


# ----------------------------------------------------------------------------- read errors


def test_missing_file(tmp_path):
    with pytest.raises(FormatError) as e:
        read_array(tmp_path / "nope.tif")
    one_sentence(e, "nope.tif", "does not exist")


def test_directory_is_not_a_file(tmp_path):
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(FormatError) as e:
        read_array(tmp_path / "d.npy")
    one_sentence(e, "d.npy", "not a file")


@pytest.mark.parametrize("name", ["x.png", "x", "x.nii.gz"])
def test_unsupported_suffix(tmp_path, name):
    (tmp_path / name).write_bytes(b"123")
    with pytest.raises(FormatError) as e:
        read_array(tmp_path / name)
    one_sentence(e, name, ".tif, .tiff, .npy, .npz")
    with pytest.raises(FormatError):
        write_array(tmp_path / ("out" + name[1:]), MULTIHOT)
    assert names_in(tmp_path) == [name]


def test_file_suffix_is_case_insensitive():
    assert file_suffix("A.TIF") == ".tif"
    assert file_suffix("b.NpZ") == ".npz"


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("cut", [0, 5, 60, 0.5, -3])
def test_truncated_files(tmp_path, suffix, cut):
    big = np.arange(40 * 100, dtype=np.uint16).reshape(40, 100)
    good = tmp_path / f"good{suffix}"
    write_array(good, big, ArrayMeta("labels"))
    raw = good.read_bytes()
    n = int(len(raw) * cut) if isinstance(cut, float) else (cut if cut >= 0 else len(raw) + cut)
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(raw[:n])
    with pytest.raises(FormatError) as e:
        read_array(bad)
    one_sentence(e, f"bad{suffix}")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_garbage_bytes(tmp_path, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(b"this is not an array file at all" * 10)
    with pytest.raises(FormatError) as e:
        read_array(path)
    one_sentence(e, f"junk{suffix}", "write it again")


def test_object_npy_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FormatError) as e:
        read_array(path)
    one_sentence(e, "obj.npy")


def test_pickled_npz_member_is_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, data=np.array([[1, 2], "x"], dtype=object))
    with pytest.raises(FormatError) as e:
        read_array(path)
    one_sentence(e, "obj.npz")


def test_plain_pickle_named_npy_is_refused(tmp_path):
    path = tmp_path / "p.npy"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(FormatError):
        read_array(path)


def test_bad_segreview_metadata_in_tiff(tmp_path):
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, MULTIHOT, photometric="minisblack",
                     metadata={"segreview": {"kind": "probabilities"}})
    with pytest.raises(FormatError) as e:
        read_array(path)
    one_sentence(e, "m.tif", "metadata")


def test_bad_sidecar_json(tmp_path):
    path = tmp_path / "s.npy"
    np.save(path, MULTIHOT)
    (tmp_path / "s.npy.json").write_text("{not json")
    with pytest.raises(FormatError) as e:
        read_array(path)
    one_sentence(e, "s.npy.json")


# ----------------------------------------------------------------------------- write errors


def test_write_refuses_object_and_zero_d_arrays(tmp_path):
    with pytest.raises(FormatError):
        write_array(tmp_path / "o.npy", np.array([None, 1], dtype=object))
    with pytest.raises(FormatError):
        write_array(tmp_path / "z.npy", np.array(3))
    assert names_in(tmp_path) == []


def test_write_checks_channel_names_against_channel_axis(tmp_path):
    with pytest.raises(FormatError) as e:
        write_array(tmp_path / "m.npz", MULTIHOT, ArrayMeta("multihot", ("only_one",)))
    one_sentence(e, "1 channel names", "2 channels")
    assert names_in(tmp_path) == []


def test_write_into_missing_folder(tmp_path):
    with pytest.raises(FormatError) as e:
        write_array(tmp_path / "no" / "m.npz", MULTIHOT)
    one_sentence(e, "does not exist")


def test_write_without_overwrite_keeps_existing_file(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"precious")
    with pytest.raises(FormatError) as e:
        write_array(path, MULTIHOT, overwrite=False)
    one_sentence(e, "already exists")
    assert path.read_bytes() == b"precious"
    assert names_in(tmp_path) == ["m.npz"]


def test_meta_rejects_unknown_kind():
    with pytest.raises(FormatError):
        ArrayMeta(kind="probabilities")


# ----------------------------------------------------------------------------- atomicity


def _half_then_fail(exc):
    def writer(target, *args, **kwargs):
        if hasattr(target, "write"):
            target.write(b"partial data")
            target.flush()
        raise exc
    return writer


@pytest.mark.parametrize(
    ("suffix", "module", "attr"),
    [(".tif", tifffile, "imwrite"), (".tiff", tifffile, "imwrite"),
     (".npy", np, "save"), (".npz", np, "savez_compressed")],
)
@pytest.mark.parametrize("existing", [False, True])
def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch, suffix, module, attr, existing):
    path = tmp_path / f"out{suffix}"
    if existing:
        path.write_bytes(b"old content")
    monkeypatch.setattr(module, attr, _half_then_fail(RuntimeError("disk on fire")))
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_array(path, MULTIHOT, ArrayMeta("multihot", ("whole", "part_1")))
    assert names_in(tmp_path) == ([path.name] if existing else [])
    if existing:
        assert path.read_bytes() == b"old content"


def test_oserror_mid_write_becomes_format_error(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "save", _half_then_fail(OSError(28, "No space left on device")))
    with pytest.raises(FormatError) as e:
        write_array(tmp_path / "o.npy", MULTIHOT, ArrayMeta("multihot"))
    one_sentence(e, "o.npy", "No space left on device")
    assert names_in(tmp_path) == []


def test_failed_rename_leaves_no_temp_file(tmp_path, monkeypatch):
    def no_replace(src, dst):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(arrayfiles.os, "replace", no_replace)
    with pytest.raises(FormatError):
        write_array(tmp_path / "o.tif", MULTIHOT)
    assert names_in(tmp_path) == []


def test_temp_file_is_hidden_in_same_folder_with_real_suffix(tmp_path, monkeypatch):
    seen = []
    real = tifffile.imwrite

    def spy(target, *args, **kwargs):
        seen.append(os.path.basename(target.name))
        assert os.path.dirname(target.name) == str(tmp_path)
        return real(target, *args, **kwargs)

    monkeypatch.setattr(tifffile, "imwrite", spy)
    write_array(tmp_path / "seg.tif", MULTIHOT)
    assert len(seen) == 1
    assert seen[0].startswith(".seg.tmp-") and seen[0].endswith(".tif")
    assert names_in(tmp_path) == ["seg.tif"]


def test_written_file_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_array(tmp_path / "p.npz", MULTIHOT)
    finally:
        os.umask(old)
    if os.name == "posix":
        assert (tmp_path / "p.npz").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_object_arrays_get_a_pickle_message(tmp_path, suffix):
    path = tmp_path / f"obj{suffix}"
    obj = np.array([{"a": 1}], dtype=object)
    if suffix == ".npy":
        np.save(path, obj, allow_pickle=True)
    else:
        np.savez(path, data=obj)
    with pytest.raises(FormatError) as e:
        read_array(path)
    one_sentence(e, f"obj{suffix}", "pickled Python objects")


def test_garbage_npz_is_not_called_a_pickle(tmp_path):
    (tmp_path / "g.npz").write_bytes(b"garbage" * 20)
    with pytest.raises(FormatError) as e:
        read_array(tmp_path / "g.npz")
    assert "pickled" not in one_sentence(e, "g.npz", "corrupt")
