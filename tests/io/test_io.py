"""The reader's entry point: dispatch, declining foreign folders, ImageData, natural sort."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from napari_segreview.errors import ReadError
from napari_segreview.io.arrayfiles import ArrayMeta, write_array
from napari_segreview.io.read import (
    DECLINED_FOLDER_FILES,
    ImageData,
    can_read,
    natural_key,
    read_image,
    read_images,
)


@given(st.lists(st.tuples(st.sampled_from(["slice", "Slice", "img_", ""]),
                          st.integers(0, 10**6)), min_size=1, max_size=20))
def test_natural_key_orders_numbers_by_value(items):
    names = [f"{prefix}{n}.png" for prefix, n in items]
    got = sorted(names, key=natural_key)

    def reference(name):                     # independent: prefix (case-folded), then number
        m = re.fullmatch(r"(\D*)(\d+)\.png", name)
        return (m.group(1).lower(), int(m.group(2)))

    assert [reference(n) for n in got] == sorted(reference(n) for n in names)


def test_natural_key_handles_zero_padding_and_mixed_names():
    names = ["b1", "a10", "a2", "a02", "a", "10", "9"]
    assert sorted(names, key=natural_key) == ["9", "10", "a", "a2", "a02", "a10", "b1"]


@pytest.mark.parametrize("marker", DECLINED_FOLDER_FILES)
def test_session_and_export_folders_are_declined(tmp_path, marker):
    from PIL import Image

    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "slice1.png")
    assert can_read(tmp_path)
    (tmp_path / marker).write_text("{}")
    assert not can_read(tmp_path)
    with pytest.raises(ReadError, match=f"SegReview .* folder \\({re.escape(marker)}\\)"):
        read_image(tmp_path)


@pytest.mark.parametrize("name", ["notes.txt", "data.csv", "model.pt"])
def test_unknown_files_are_declined(tmp_path, name):
    (tmp_path / name).write_text("x")
    assert not can_read(tmp_path / name)
    with pytest.raises(ReadError, match=f"{re.escape(name)} is not a supported image"):
        read_image(tmp_path / name)


def test_missing_path(tmp_path):
    assert not can_read(tmp_path / "nope.tif")
    with pytest.raises(ReadError, match="does not exist"):
        read_image(tmp_path / "nope.tif")


def test_dicom_without_suffix_is_recognised_by_its_magic(tmp_path):
    (tmp_path / "IM0001").write_bytes(bytes(128) + b"DICM" + bytes(20))
    assert can_read(tmp_path / "IM0001") and can_read(tmp_path)
    (tmp_path / "IM0001").write_bytes(bytes(200))
    assert not can_read(tmp_path / "IM0001") and not can_read(tmp_path)


def test_npy_and_npz_with_spacing(tmp_path):
    vol = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    write_array(tmp_path / "v.npz", vol, ArrayMeta(spacing=(2.0, 0.5, 0.5)))
    np.save(tmp_path / "plain.npy", vol)
    img = read_image(tmp_path / "v.npz")
    assert img.spacing == (2.0, 0.5, 0.5) and img.calibrated and img.format == "array"
    np.testing.assert_array_equal(img.data, vol)
    plain = read_image(tmp_path / "plain.npy")
    assert plain.spacing == (1.0, 1.0, 1.0) and not plain.calibrated
    assert can_read(tmp_path / "plain.npy") and not can_read(tmp_path / "plain.npy", arrays=False)
    assert len(read_images(tmp_path / "plain.npy")) == 1


def test_image_data_checks_its_spacing():
    with pytest.raises(ValueError, match="one value per axis"):
        ImageData(np.zeros((2, 3, 4)), "x", "x.tif", "tiff", spacing=(1.0, 1.0))
    rgb = ImageData(np.zeros((3, 4, 3), np.uint8), "x", "x.png", "picture", rgb=True)
    assert rgb.spacing == (1.0, 1.0) and rgb.origin == (0.0, 0.0)
    data, kwargs, kind = rgb.layer_data()
    assert kind == "image" and kwargs["translate"] == (0.0, 0.0) and data is rgb.data
    assert kwargs["metadata"]["segreview"] == {"kind": "image", "source": "x.png",
                                               "format": "picture"}


def test_the_lazy_threshold_is_the_dispatchers(tmp_path, monkeypatch):
    import tifffile
    from PIL import Image

    from napari_segreview.io import read as io_read

    data = np.arange(5 * 16 * 16, dtype=np.uint16).reshape(5, 16, 16)
    tifffile.imwrite(tmp_path / "s.tif", data, compression="zlib", photometric="minisblack")
    folder = tmp_path / "slices"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(np.full((32, 32), k, np.uint8)).save(folder / f"s{k}.png")
    assert type(read_image(tmp_path / "s.tif").data) is np.ndarray      # 2.5 KiB: in memory
    assert type(read_image(folder).data) is np.ndarray
    monkeypatch.setattr(io_read, "LAZY_BYTES", 1024)
    img = read_image(tmp_path / "s.tif")
    assert img.is_lazy                                                    # a dask array
    np.testing.assert_array_equal(np.asarray(img.data), data)
    sl = read_image(folder)
    assert sl.is_lazy and np.asarray(sl.data)[:, 0, 0].tolist() == [0, 1, 2]
    assert read_image(tmp_path / "s.tif", lazy=False).is_lazy is False
