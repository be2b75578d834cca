"""napari opens with the plugin, the sample loads through the manifest, pixels are drawn."""

import numpy as np
import pytest

from napari_segreview.data.phantom import PHANTOM_CHANNELS, make_ct_phantom

pytestmark = pytest.mark.gui


def test_sample_loads_through_manifest(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-segreview", "ct_phantom")
    names = [layer.name for layer in viewer.layers]
    assert names == ["CT phantom"] + [f"{c} (ground truth)" for c in PHANTOM_CHANNELS]
    image = viewer.layers["CT phantom"]
    assert image._type_string == "image"
    assert image.data.dtype == np.int16
    np.testing.assert_allclose(image.scale, (2.5, 0.8, 0.8))
    expected = make_ct_phantom()
    for i, channel in enumerate(PHANTOM_CHANNELS):
        layer = viewer.layers[f"{channel} (ground truth)"]
        assert layer._type_string == "labels"
        np.testing.assert_array_equal(np.asarray(layer.data), expected.masks[i])
        np.testing.assert_allclose(layer.scale, image.scale)


def test_ground_truth_has_the_colours_predictions_of_its_channels_have(make_napari_viewer):
    from napari_segreview._napari._colours import channel_color

    viewer = make_napari_viewer()
    viewer.open_sample("napari-segreview", "ct_phantom")
    for channel in PHANTOM_CHANNELS:
        got = viewer.layers[f"{channel} (ground truth)"].colormap.map(np.array([1]))[0]
        want = [int(channel_color(channel)[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        np.testing.assert_allclose(got[:3], want, atol=1e-3)


def test_canvas_shows_image_and_label_colours(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-segreview", "ct_phantom")
    viewer.dims.set_current_step(0, 24)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    rgb = shot[..., :3].astype(int)
    assert rgb.std() > 10, "the canvas is blank"
    # Grey pixels (the CT) and strongly coloured pixels (the labels) are both there.
    grey = (np.ptp(rgb, axis=-1) < 8) & (rgb.mean(axis=-1) > 40)
    assert grey.mean() > 0.05, "no CT image drawn"
    red = (rgb[..., 0] > 150) & (rgb[..., 1] < 120) & (rgb[..., 2] < 120)   # part_1
    yellow = (rgb[..., 0] > 150) & (rgb[..., 1] > 150) & (rgb[..., 2] < 120)  # part_2
    assert red.sum() > 50, "part_1's colour is not on the canvas"
    assert yellow.sum() > 50, "part_2's colour is not on the canvas"
    # Hiding the labels removes the colours: they came from the label layers.
    for layer in list(viewer.layers)[1:]:
        layer.visible = False
    rgb2 = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)
    red2 = (rgb2[..., 0] > 150) & (rgb2[..., 1] < 120) & (rgb2[..., 2] < 120)
    assert red2.sum() < red.sum() / 10
