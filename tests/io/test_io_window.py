"""CT-like stacks open at a sensible window: the series' own, else a preset for HU values.

Issue 15, item 11: an ImageJ TIFF of HU values opened at the full range of its
values (-1024..3000, washed out). Files are written with tifffile, nibabel and
pydicom; the expected limits are the presets' centre -/+ width / 2, by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from io_samples import ct_volume, write_ct_series
from napari_segreview.io.read import display_window, read_image

BONE = (400 - 1800 / 2, 400 + 1800 / 2)          # (-500, 1300)
SOFT = (40 - 400 / 2, 40 + 400 / 2)              # (-160, 240)


def soft_tissue_only(shape=(6, 16, 16)):
    """Air around a body of fat, water and muscle (no bone): -1024 .. 60 HU."""
    rng = np.random.default_rng(1)
    vol = np.full(shape, -1024, np.int16)
    vol[:, 3:13, 3:13] = rng.integers(-100, 61, (shape[0], 10, 10))
    return vol


def test_imagej_tiff_of_hu_opens_with_the_bone_window(tmp_path):
    ct = ct_volume((6, 16, 12))                   # -1024 .. 2000 HU: bone
    tifffile.imwrite(tmp_path / "ct.tif", ct, imagej=True,
                     metadata={"spacing": 2.0, "unit": "mm", "axes": "ZYX"})
    img = read_image(tmp_path / "ct.tif")
    assert img.contrast_limits == BONE
    np.testing.assert_array_equal(np.asarray(img.data), ct)   # display only: values kept


def test_plain_float_tiff_without_bone_opens_with_the_soft_tissue_window(tmp_path):
    tifffile.imwrite(tmp_path / "body.tif", soft_tissue_only().astype(np.float32),
                     photometric="minisblack")
    assert read_image(tmp_path / "body.tif").contrast_limits == SOFT


def test_nifti_of_hu_opens_with_a_ct_window(tmp_path):
    nib = pytest.importorskip("nibabel")
    vol = ct_volume((5, 12, 10)).transpose(2, 1, 0)           # nibabel's (x, y, z)
    nib.save(nib.Nifti1Image(vol, np.diag([0.7, 0.7, 2.5, 1.0])), tmp_path / "ct.nii.gz")
    assert read_image(tmp_path / "ct.nii.gz").contrast_limits == BONE
    nib.save(nib.Nifti1Image(soft_tissue_only().transpose(2, 1, 0), np.eye(4)),
             tmp_path / "body.nii")
    assert read_image(tmp_path / "body.nii").contrast_limits == SOFT


def test_a_dicom_series_keeps_its_own_window(tmp_path):
    pytest.importorskip("pydicom")
    write_ct_series(tmp_path / "ct", ct_volume((4, 16, 12)), window=(-600.0, 1500.0))
    assert read_image(tmp_path / "ct").contrast_limits == (-600 - 750, -600 + 750)


@pytest.mark.parametrize("what", ["raw uint16", "normalised float", "grey png", "mr-like"])
def test_values_that_are_not_hu_keep_naparis_choice(tmp_path, what):
    from PIL import Image

    if what == "grey png":
        path = tmp_path / "slice.png"
        Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).save(path)
    else:
        path = tmp_path / "stack.tif"
        ct = ct_volume((4, 16, 12))
        data = {"raw uint16": (ct.astype(np.int32) + 1024).astype(np.uint16),
                "normalised float": (ct.astype(np.float32) + 1024) / 3024,
                "mr-like": (ct.astype(np.int16) // 4 + 256)}[what]   # -0..756, no air
        tifffile.imwrite(path, data, photometric="minisblack")
    assert read_image(path).contrast_limits is None


def test_a_lazy_stack_is_judged_only_when_asked(tmp_path):
    ct = ct_volume((6, 16, 12))
    tifffile.imwrite(tmp_path / "ct.tif", ct, photometric="minisblack")
    img = read_image(tmp_path / "ct.tif", lazy=True)
    assert img.is_lazy and img.contrast_limits is None        # opening decodes nothing
    assert display_window(img, lazy=True).contrast_limits == BONE   # the napari reader
