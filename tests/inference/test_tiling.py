import numpy as np
import pytest
import torch

from napari_segreview.errors import FormatError
from napari_segreview.inference.blending import MIN_WEIGHT, Accumulator, gaussian_weights
from napari_segreview.inference.tiling import pad_amounts, pad_to, tile_grid, tile_starts


@pytest.mark.parametrize("size", [1, 5, 32, 33, 100, 257])
@pytest.mark.parametrize("tile", [1, 8, 32])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.9])
def test_tile_starts_cover_with_overlap(size, tile, overlap):
    starts = tile_starts(size, tile, overlap)
    assert starts[0] == 0
    if size <= tile:
        assert starts == [0]
        return
    assert starts[-1] == size - tile
    steps = np.diff(starts)
    assert (steps >= 1).all()
    # neighbours overlap by at least overlap * tile (up to rounding of the step)
    assert (tile - steps >= int(np.floor(overlap * tile)) - 1).all()
    covered = np.zeros(size, bool)
    for s in starts:
        covered[s : s + tile] = True
    assert covered.all()


def test_tile_grid_covers_every_voxel_and_clips_short_axes():
    grid = tile_grid((10, 3, 17), (4, 8, 6), overlap=0.25)
    hits = np.zeros((10, 3, 17), int)
    for where in grid:
        assert [s.stop - s.start for s in where] == [4, 3, 6]
        hits[where] += 1
    assert hits.min() >= 1


def test_tile_errors():
    with pytest.raises(FormatError, match="overlap"):
        tile_starts(10, 4, 1.0)
    with pytest.raises(FormatError, match="at least 1"):
        tile_starts(10, 0)
    with pytest.raises(FormatError, match="one length per spatial axis"):
        tile_grid((10, 10), (4,))
    with pytest.raises(FormatError, match="padding mode"):
        pad_to(np.zeros(3), (5,), mode="wrap")


def test_gaussian_weights():
    w = gaussian_weights((16, 9))
    assert w.dtype == np.float32 and w.shape == (16, 9)
    assert w.max() == pytest.approx(1.0, abs=0.02)
    assert w.min() >= MIN_WEIGHT
    np.testing.assert_allclose(w, w[::-1, ::-1], rtol=1e-6)  # symmetric
    assert w[8, 4] > w[0, 4] and w[8, 4] > w[8, 0]
    # sigma = tile / 8, centred: computed by hand for a tile of 81
    w1 = gaussian_weights((81,))
    expected = np.maximum(np.exp(-0.5 * ((np.arange(81) - 40) / (81 / 8)) ** 2), MIN_WEIGHT)
    np.testing.assert_allclose(w1, expected, rtol=1e-6)
    assert not w.flags.writeable


def test_pad_amounts_and_pad_to_round_trip():
    assert pad_amounts((5, 40), (8, 32)) == [(1, 2), (0, 0)]
    rng = np.random.default_rng(0)
    x = rng.random((2, 5, 40), dtype=np.float32)
    for mode in ("reflect", "constant", "edge"):
        padded, crop = pad_to(x, (8, 32), mode)
        assert padded.shape == (2, 8, 40)
        np.testing.assert_array_equal(padded[(slice(None), *crop)], x)
    padded, _ = pad_to(x, (8, 32), "constant")
    assert (padded[:, 0] == 0).all()
    same, crop = pad_to(x, (5, 40))
    assert same is x and crop == (slice(0, 5), slice(0, 40))
    one, crop = pad_to(np.array([[3.0]]), (4, 4))  # nothing to mirror: edge padding
    assert one.shape == (4, 4) and (one == 3).all()
    big, crop = pad_to(np.arange(3.0), (20,))  # pad much longer than the axis
    assert big.shape == (20,) and np.array_equal(big[crop], [0, 1, 2])


def test_accumulator_recovers_the_array_tiles_were_cut_from():
    rng = np.random.default_rng(1)
    full = torch.from_numpy(rng.standard_normal((3, 23, 30)).astype(np.float32))
    acc = Accumulator(3, (23, 30), (8, 12), "cpu")
    for where in tile_grid((23, 30), (8, 12), overlap=0.5):
        acc.add(full[(slice(None), *where)], where)
    np.testing.assert_allclose(acc.result().numpy(), full.numpy(), rtol=1e-5, atol=1e-5)


def test_accumulator_constant_has_no_seams():
    acc = Accumulator(2, (50, 37), (16, 16), "cpu")
    for where in tile_grid((50, 37), (16, 16), overlap=0.25):
        tile = torch.tensor([0.7, -3.1]).view(2, 1, 1).expand(2, 16, 16)
        acc.add(tile, where)
    out = acc.result().numpy()
    assert out.dtype == np.float32
    for c, v in enumerate((0.7, -3.1)):
        assert out[c].max() - out[c].min() < 1e-5
        assert out[c].mean() == pytest.approx(v, abs=1e-5)
    acc.to("cpu")
    assert acc.values.device.type == "cpu"
