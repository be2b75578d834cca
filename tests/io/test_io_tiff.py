"""TIFF stacks: ImageJ/OME/SegReview spacing, big stacks opened lazily, broken files."""

import os

import numpy as np
import pytest
import tifffile

from napari_segreview.errors import ReadError
from napari_segreview.io import read as core_io
from napari_segreview.io import tiff as io_tiff
from napari_segreview.io.arrayfiles import ArrayMeta, write_array
from napari_segreview.io.read import read_image


def stack(shape=(6, 20, 30), dtype=np.int16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(-1000, 3000, size=shape).astype(dtype)


def test_imagej_spacing(tmp_path):
    ct = stack()
    path = tmp_path / "ct.tif"
    # resolution is pixels per unit, (x, y): x 0.6 mm, y 0.7 mm per pixel
    tifffile.imwrite(path, ct, imagej=True, resolution=(1 / 0.6, 1 / 0.7),
                     metadata={"spacing": 2.5, "unit": "mm", "axes": "ZYX"})
    img = read_image(path)
    np.testing.assert_array_equal(img.data, ct)
    np.testing.assert_allclose(img.spacing, (2.5, 0.7, 0.6), rtol=1e-6)
    assert img.spacing_unit == "mm" and img.calibrated and img.format == "tiff"
    assert not img.rgb and img.name == "ct" and img.origin == (0.0, 0.0, 0.0)


def test_imagej_micron_unit_and_hyperstack_axes(tmp_path):
    data = stack((3, 4, 10, 12), np.uint16)            # T, Z, Y, X
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, data, imagej=True, resolution=(4.0, 4.0),
                     metadata={"spacing": 1.5, "unit": "micron", "axes": "TZYX"})
    img = read_image(path)
    assert img.data.shape == data.shape
    np.testing.assert_allclose(img.spacing, (1.0, 1.5, 0.25, 0.25))
    assert img.spacing_unit == "µm"


@pytest.mark.parametrize("unit, expected", [("mm", "mm"), (None, "µm")])
def test_ome_spacing(tmp_path, unit, expected):
    ct = stack(seed=1)
    meta = {"axes": "ZYX", "PhysicalSizeX": 0.6, "PhysicalSizeY": 0.7, "PhysicalSizeZ": 2.5}
    if unit:
        meta.update(PhysicalSizeXUnit=unit, PhysicalSizeYUnit=unit, PhysicalSizeZUnit=unit)
    path = tmp_path / "ct.ome.tif"
    tifffile.imwrite(path, ct, ome=True, metadata=meta)
    img = read_image(path)
    np.testing.assert_array_equal(img.data, ct)
    assert img.spacing == (2.5, 0.7, 0.6) and img.spacing_unit == expected
    assert img.name == "ct"


def test_segreview_written_spacing_is_read(tmp_path):
    ct = stack(seed=2)
    write_array(tmp_path / "ct.tif", ct, ArrayMeta(spacing=(3.0, 0.5, 0.5)))
    img = read_image(tmp_path / "ct.tif")
    np.testing.assert_array_equal(img.data, ct)
    assert img.spacing == (3.0, 0.5, 0.5) and img.calibrated and img.spacing_unit is None


def test_plain_tiff_has_pixel_spacing(tmp_path):
    ct = stack(seed=3)
    tifffile.imwrite(tmp_path / "plain.tif", ct, resolution=(72, 72), resolutionunit="INCH")
    img = read_image(tmp_path / "plain.tif")
    assert img.spacing == (1.0, 1.0, 1.0) and not img.calibrated and img.spacing_unit is None


def test_rgb_tiff(tmp_path):
    rgb = stack((9, 7, 3), np.uint8, seed=4)
    tifffile.imwrite(tmp_path / "photo.tif", rgb, photometric="rgb")
    img = read_image(tmp_path / "photo.tif")
    assert img.rgb and img.spacing == (1.0, 1.0)
    np.testing.assert_array_equal(img.data, rgb)
    assert "colormap" not in img.layer_kwargs() and img.layer_kwargs()["rgb"] is True


def rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def expected_slice(k, shape):
    """What slice k holds: written below, computed here independently of the reader."""
    y, x = np.indices(shape)
    return ((y * 7 + x * 3) % 1000 + k * 11).astype(np.int16)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")
def test_big_uncompressed_stack_is_memory_mapped_and_reads_one_slice(tmp_path):
    z, plane = 100, (1024, 1024)                       # 200 MiB of int16
    path = tmp_path / "big.tif"
    out = tifffile.memmap(path, shape=(z, *plane), dtype=np.int16, photometric="minisblack",
                          imagej=True, resolution=(2.0, 2.0),
                          metadata={"spacing": 1.25, "unit": "mm", "axes": "ZYX"})
    for k in range(z):
        out[k] = expected_slice(k, plane)
    out.flush()
    del out
    size = path.stat().st_size
    assert size > 200 * 2**20 > core_io.LAZY_BYTES
    before = rss_bytes()
    img = read_image(path)                              # lazy=None: big, so lazy
    assert isinstance(img.data, np.memmap) and img.is_lazy
    assert img.data.shape == (z, *plane) and img.spacing == (1.25, 0.5, 0.5)
    one = np.array(img.data[57])
    grown = rss_bytes() - before
    np.testing.assert_array_equal(one, expected_slice(57, plane))
    # Only slice 57 (2 MiB) and the kernel's read-ahead were paged in, not the 200 MiB.
    assert grown < 24 * 2**20, f"reading one slice mapped {grown / 2**20:.0f} MiB"
    np.testing.assert_array_equal(img.data[-1, :3, :3], expected_slice(z - 1, plane)[:3, :3])


def test_compressed_stack_is_lazy_page_by_page(tmp_path, monkeypatch):
    data = np.stack([expected_slice(k, (64, 48)) for k in range(30)])
    path = tmp_path / "zlib.tif"
    tifffile.imwrite(path, data, compression="zlib", imagej=True,
                     metadata={"spacing": 2.0, "unit": "mm", "axes": "ZYX"})
    calls = []
    real = io_tiff._read_page

    def counting(pages, index):
        calls.append(index)
        return real(pages, index)

    monkeypatch.setattr(io_tiff, "_read_page", counting)
    img = read_image(path, lazy=True)
    assert img.is_lazy and not isinstance(img.data, np.ndarray)
    assert calls == []                                  # opening decodes nothing
    np.testing.assert_array_equal(np.asarray(img.data[7]), expected_slice(7, (64, 48)))
    assert calls == [7]                                 # one page for one slice
    np.testing.assert_array_equal(np.asarray(img.data), data)
    assert sorted(calls[1:]) == list(range(30))
    assert img.spacing == (2.0, 1.0, 1.0)


@pytest.mark.parametrize("lazy", [False, True])
def test_pages_written_one_by_one_are_stacked(tmp_path, lazy):
    data = np.stack([expected_slice(k, (16, 12)) for k in range(5)])
    path = tmp_path / "loop.tif"
    with tifffile.TiffWriter(path) as tif:
        for plane in data:                  # one shaped series per page
            tif.write(plane, compression="zlib")
    img = read_image(path, lazy=lazy)
    np.testing.assert_array_equal(np.asarray(img.data), data)
    assert img.is_lazy == lazy
    (note,) = img.notes
    assert "5 separate images of one size" in note


def test_small_file_is_read_into_memory_and_lazy_false_forces_it(tmp_path):
    data = stack(seed=5)
    tifffile.imwrite(tmp_path / "s.tif", data)
    assert type(read_image(tmp_path / "s.tif").data) is np.ndarray
    assert isinstance(read_image(tmp_path / "s.tif", lazy=True).data, np.memmap)
    assert type(read_image(tmp_path / "s.tif", lazy=False).data) is np.ndarray


@pytest.mark.parametrize("compression", [None, "zlib"])
@pytest.mark.parametrize("keep", [0.999, 0.5, 0.02])
@pytest.mark.parametrize("lazy", [False, True])
def test_truncated_tiff_is_one_sentence(tmp_path, compression, keep, lazy):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, np.stack([expected_slice(k, (64, 64)) for k in range(20)]),
                     compression=compression)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ReadError, match=r"^cut\.tif is truncated") as e:
        read_image(path, lazy=lazy)
    assert "\n" not in str(e.value) and "export it again" in str(e.value)


def test_not_a_tiff(tmp_path):
    (tmp_path / "bad.tif").write_bytes(b"nope, not a tiff")
    with pytest.raises(ReadError, match=r"could not read .*bad\.tif .*corrupt, truncated"):
        read_image(tmp_path / "bad.tif")
