"""`segreview edit`: every op on label maps and stacks; bad input is one line, exit 2, no file."""

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi
from skimage import measure, morphology

from napari_segreview.cli import main
from napari_segreview.io.arrayfiles import ArrayMeta, read_array, write_array

SPACING = (2.0, 0.5, 0.5)


def blobs(seed, shape=(8, 24, 24)):
    rng = np.random.default_rng(seed)
    return ndi.gaussian_filter(rng.random(shape), 1.0) > 0.53


@pytest.fixture
def files(tmp_path):
    stack = np.stack([blobs(1), blobs(2), blobs(3)]).astype(np.uint8)
    write_array(tmp_path / "stack.npz", stack,
                ArrayMeta("multihot", ("whole", "part", "cyst"), spacing=SPACING))
    labels = np.zeros((8, 24, 24), np.uint8)
    labels[blobs(4)] = 1
    labels[blobs(5) & (labels == 0)] = 2
    write_array(tmp_path / "labels.tif", labels,
                ArrayMeta("labels", ("background", "bone", "cyst"), spacing=SPACING))
    write_array(tmp_path / "nospacing.npy", labels)
    write_array(tmp_path / "flat.tif", labels[3], ArrayMeta("labels", spacing=SPACING[1:]))
    return tmp_path, stack, labels


def run(args, capsys):
    rc = main(["edit", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_keep_largest_per_label_and_metadata_kept(files, capsys):
    d, _, labels = files
    rc, out, _ = run([d / "labels.tif", "-o", d / "out.tif", "--op", "keep-largest",
                      "--connectivity", "6"], capsys)
    assert rc == 0 and "wrote" in out
    data, meta = read_array(d / "out.tif")
    assert meta.kind == "labels" and meta.channel_names == ("background", "bone", "cyst")
    assert meta.spacing == SPACING
    for v in (1, 2):
        lab = measure.label(labels == v, connectivity=1)
        ref = lab == np.bincount(lab.ravel())[1:].argmax() + 1
        np.testing.assert_array_equal(data == v, ref)


def test_remove_small_in_mm3_and_voxels(files, capsys):
    d, stack, _ = files
    rc, _, _ = run([d / "stack.npz", "-o", d / "out.npz", "--op", "remove-small",
                    "--mm", "5", "--channels", "cyst"], capsys)   # 5 mm^3 = 10 voxels
    assert rc == 0
    data, meta = read_array(d / "out.npz")
    ref = morphology.remove_small_objects(stack[2] > 0, max_size=9, connectivity=3)
    np.testing.assert_array_equal(data[2] > 0, ref)
    np.testing.assert_array_equal(data[:2], stack[:2])
    assert meta.channel_names == ("whole", "part", "cyst")
    rc, _, _ = run([d / "nospacing.npy", "-o", d / "v.npy", "--op", "remove-small",
                    "--voxels", "10"], capsys)
    assert rc == 0


@pytest.mark.parametrize("op", ["grow", "shrink"])
def test_margins_are_anisotropic(files, capsys, op):
    d, stack, _ = files
    rc, _, _ = run([d / "stack.npz", "-o", d / "out.npz", "--op", op, "--mm", "1.2",
                    "--channels", "whole,1"], capsys)
    assert rc == 0
    data, _ = read_array(d / "out.npz")
    for c in (0, 1):
        m = stack[c] > 0
        ref = (ndi.distance_transform_edt(~m, sampling=SPACING) <= 1.2) if op == "grow" \
            else (ndi.distance_transform_edt(m, sampling=SPACING) > 1.2)
        np.testing.assert_array_equal(data[c] > 0, ref)
    np.testing.assert_array_equal(data[2], stack[2])


def test_fill_holes_smooth_split_and_logic(files, capsys):
    d, stack, labels = files
    assert run([d / "stack.npz", "-o", d / "h.npz", "--op", "fill-holes", "--per-slice",
                "--axis", "z"], capsys)[0] == 0
    data, _ = read_array(d / "h.npz")
    ref = np.stack([ndi.binary_fill_holes(s) for s in stack[1] > 0])
    np.testing.assert_array_equal(data[1] > 0, ref)
    assert run([d / "labels.tif", "-o", d / "s.tif", "--op", "smooth", "--mm", "1"],
               capsys)[0] == 0
    smooth, _ = read_array(d / "s.tif")
    assert smooth.dtype == labels.dtype and set(np.unique(smooth)) <= {0, 1, 2}
    assert run([d / "labels.tif", "-o", d / "sp.tif", "--op", "split"], capsys)[0] == 0
    split, _ = read_array(d / "sp.tif")
    np.testing.assert_array_equal(split > 0, labels > 0)
    assert run([d / "stack.npz", "-o", d / "u.npz", "--op", "subtract", "--channels", "whole",
                "--modifier", "part"], capsys)[0] == 0
    data, _ = read_array(d / "u.npz")
    np.testing.assert_array_equal(data[0] > 0, (stack[0] > 0) & ~(stack[1] > 0))


def test_interpolate_between_slices(files, capsys):
    d, _, _ = files
    m = np.zeros((9, 20, 20), np.uint8)
    m[0, 4:16, 4:16] = 1
    m[8, 6:14, 6:14] = 1
    m[4] = 1        # a dense prediction on the slice between: replaced
    write_array(d / "m.tif", m, ArrayMeta("labels", spacing=(1.0, 1.0, 1.0)))
    rc, _, _ = run([d / "m.tif", "-o", d / "i.tif", "--op", "interpolate",
                      "--slices", "0,8"], capsys)
    assert rc == 0
    data, _ = read_array(d / "i.tif")
    sizes = [int(data[z].sum()) for z in range(9)]
    assert sizes[0] == 144 and sizes[8] == 64 and 64 < sizes[4] < 144


def test_imagej_spacing_is_read(files, capsys):
    d, _, labels = files
    tifffile.imwrite(d / "ij.tif", labels, imagej=True, resolution=(2.0, 2.0),
                     metadata={"spacing": 2.0, "unit": "mm", "axes": "ZYX"})
    _, meta = read_array(d / "ij.tif")
    assert meta.spacing == SPACING
    rc, _, _ = run([d / "ij.tif", "-o", d / "g.tif", "--op", "grow", "--mm", "1"], capsys)
    assert rc == 0
    data, meta = read_array(d / "g.tif")
    assert meta.spacing == SPACING
    ref = ndi.distance_transform_edt(labels == 0, sampling=SPACING) <= 1.0
    np.testing.assert_array_equal(data > 0, ref)


@pytest.mark.parametrize(("args", "says"), [
    (["stack.npz", "--op", "grow", "--mm", "1", "--channels", "bone"], "unknown channel"),
    (["labels.tif", "--op", "grow", "--mm", "-1"], "zero or more"),
    (["labels.tif", "--op", "grow"], "needs --mm"),
    (["nospacing.npy", "--op", "grow", "--mm", "1"], "no voxel spacing"),
    (["flat.tif", "--op", "interpolate"], "2-D"),
    (["labels.tif", "--op", "interpolate", "--slices", "3"], "at least two"),
    (["labels.tif", "--op", "interpolate", "--slices", "0,40"], "outside"),
    (["labels.tif", "--op", "remove-small"], "--voxels"),
    (["labels.tif", "--op", "union", "--modifier", "bone"], "split the label map"),
    (["labels.tif", "--op", "grow", "--mm", "1", "--spacing", "1,1"], "3 values"),
    (["labels.tif", "--op", "blur"], "invalid choice"),
    (["missing.tif", "--op", "keep-largest"], "does not exist"),
    (["labels.tif", "--op", "keep-largest", "--channels", "7"], "not in the file"),
    (["labels.tif", "--op", "keep-largest", "--channels", "lung"], "unknown label"),
    (["stack.npz", "--op", "union", "--channels", "whole"], "needs --modifier"),
    (["stack.npz", "--op", "grow", "--mm", "1", "--modifier", "part"], "leave it out"),
    (["labels.tif", "--op", "keep-at"], "needs --at"),
    (["labels.tif", "--op", "keep-at", "--at", "3,4"], "one index per axis"),
    (["labels.tif", "--op", "keep-at", "--at", "1,4,4", "--slab", "2:5"], "outside the region"),
    (["labels.tif", "--op", "keep-largest", "--slab", "2:9"], "beyond"),
    (["labels.tif", "--op", "keep-largest", "--slab", "5:2"], "START below STOP"),
    (["labels.tif", "--op", "smooth", "--method", "median"], "smoothed jointly"),
])
def test_bad_input_is_one_line_and_writes_nothing(files, capsys, args, says):
    d, _, _ = files
    before = sorted(p.name for p in d.iterdir())
    rc, _, err = run([d / args[0], "-o", d / "out.tif", *args[1:]], capsys)
    assert rc == 2 or rc is None
    assert err.startswith("segreview: error:") and says in err and err.count("\n") == 1
    assert sorted(p.name for p in d.iterdir()) == before


def test_existing_output_needs_force(files, capsys):
    d, _, _ = files
    rc, _, err = run([d / "labels.tif", "-o", d / "stack.npz", "--op", "keep-largest"], capsys)
    assert rc == 2 and "--force" in err


def test_keep_at_inside_a_slab(files, capsys):
    d, _, labels = files
    lab = measure.label(labels[2:6] == 1, connectivity=3)   # 26-connected, in the slab only
    z, y, x = (int(i[0]) for i in np.nonzero(lab == np.bincount(lab.ravel())[1:].argmin() + 1))
    rc, _, _ = run([d / "labels.tif", "-o", d / "out.tif", "--op", "keep-at", "--slab", "2:6",
                    "--at", f"{z + 2},{y},{x}", "--channels", "bone"], capsys)
    assert rc == 0
    data, _ = read_array(d / "out.tif")
    expected = labels.copy()
    expected[2:6][(labels[2:6] == 1) & (lab != lab[z, y, x])] = 0
    assert lab.max() > 1 and (expected != labels).any()   # the fixture has islands to drop
    np.testing.assert_array_equal(data, expected)
