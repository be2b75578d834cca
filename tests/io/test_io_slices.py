"""Pictures (PNG/JPEG) and folders of 2-D slices."""

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_segreview.errors import ReadError
from napari_segreview.io.read import can_read, read_image


def test_rgb_png(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "street.png")
    img = read_image(tmp_path / "street.png")
    assert img.rgb and img.format == "picture" and img.name == "street"
    np.testing.assert_array_equal(img.data, rgb)
    assert img.spacing == (1.0, 1.0) and not img.calibrated
    kw = img.layer_kwargs()
    assert kw["rgb"] is True and "colormap" not in kw


def test_grey_16bit_png_and_palette_png(tmp_path):
    grey = (np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 500)
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    img = read_image(tmp_path / "grey16.png")
    assert not img.rgb and img.data.dtype == np.uint16
    np.testing.assert_array_equal(img.data, grey)
    pal = Image.new("P", (4, 3))
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putpixel((2, 1), 1)
    pal.save(tmp_path / "pal.png")
    img = read_image(tmp_path / "pal.png")
    assert img.rgb and img.data.shape == (3, 4, 3)
    assert img.data[1, 2].tolist() == [255, 0, 0] and img.data[0, 0].tolist() == [0, 0, 0]


def test_jpeg(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, 8:] = (200, 100, 50)
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=100, subsampling=0)
    img = read_image(tmp_path / "photo.jpg")
    assert img.rgb and img.data.shape == (16, 16, 3)
    assert np.abs(img.data.astype(int) - rgb).max() <= 8        # JPEG is lossy


def test_truncated_png_is_one_sentence(tmp_path):
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64), np.uint8)).save(
        tmp_path / "cut.png")
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ReadError, match=r"could not read .*cut\.png") as e:
        read_image(tmp_path / "cut.png")
    assert "\n" not in str(e.value)


def write_slices(folder, n, shape=(6, 5), suffix="png"):
    folder.mkdir(exist_ok=True)
    for k in range(1, n + 1):
        arr = np.full(shape, k, np.uint8)
        arr[0, 0] = 200 + k
        if suffix == "tif":
            tifffile.imwrite(folder / f"slice{k}.tif", arr)
        else:
            Image.fromarray(arr).save(folder / f"slice{k}.{suffix}")


@pytest.mark.parametrize("suffix", ["png", "tif"])
def test_folder_of_slices_sorted_naturally(tmp_path, suffix):
    write_slices(tmp_path / "stack", 12, suffix=suffix)
    (tmp_path / "stack" / "readme.txt").write_text("ignored")
    assert can_read(tmp_path / "stack")
    img = read_image(tmp_path / "stack")
    assert img.format == "slices" and img.name == "stack"
    assert img.data.shape == (12, 6, 5)
    # slice2 before slice10: plain string sorting would give 1, 10, 11, 12, 2, ...
    assert img.data[:, 1, 1].tolist() == list(range(1, 13))
    assert img.data[:, 0, 0].tolist() == [200 + k for k in range(1, 13)]


def test_folder_of_slices_lazy(tmp_path):
    write_slices(tmp_path, 5)
    img = read_image(tmp_path, lazy=True)
    assert img.is_lazy
    np.testing.assert_array_equal(np.asarray(img.data[3]), read_image(tmp_path).data[3])


def test_odd_slice_is_named(tmp_path):
    write_slices(tmp_path, 4)
    Image.fromarray(np.zeros((6, 7), np.uint8)).save(tmp_path / "slice3.png")
    with pytest.raises(ReadError, match=r"^slice3\.png is 6 x 7 uint8 but slice1\.png is "
                                        r"6 x 5 uint8"):
        read_image(tmp_path)
    Image.fromarray(np.zeros((6, 5, 3), np.uint8)).save(tmp_path / "slice3.png")
    with pytest.raises(ReadError, match=r"^slice3\.png is 6 x 5 x 3"):
        read_image(tmp_path)


def test_truncated_slice_in_folder(tmp_path):
    write_slices(tmp_path, 3, shape=(40, 40))
    data = (tmp_path / "slice2.png").read_bytes()
    (tmp_path / "slice2.png").write_bytes(data[:60])
    with pytest.raises(ReadError, match=r"slice2\.png") as e:
        read_image(tmp_path)
    assert "\n" not in str(e.value)


def test_folder_with_a_stack_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "vol.tif", np.zeros((3, 8, 8), np.uint8), photometric="minisblack")
    with pytest.raises(ReadError, match=r"vol\.tif .* is a stack .* open that file on its own"):
        read_image(tmp_path)
