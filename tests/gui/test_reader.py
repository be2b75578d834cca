"""The napari reader: viewer.open(path, plugin="napari-segreview") shows CT in place."""


import numpy as np
import pytest
import tifffile
from PIL import Image

from io_samples import ct_volume, write_ct_series
from napari_segreview._napari import _reader
from napari_segreview._napari._reader import get_reader, read_layers
from napari_segreview.io import read as read_module

pytestmark = pytest.mark.gui
PLUGIN = "napari-segreview"


@pytest.fixture
def messages(monkeypatch):
    """Record show_error/show_warning calls made by the reader."""
    import napari.utils.notifications as notes

    got = []
    monkeypatch.setattr(notes, "show_error", lambda m: got.append(("error", m)))
    monkeypatch.setattr(notes, "show_warning", lambda m: got.append(("warning", m)))
    monkeypatch.setattr(notes, "show_info", lambda m: got.append(("info", m)))
    return got


def test_dicom_folder_opens_with_scale_and_window(make_napari_viewer, tmp_path, messages):
    pytest.importorskip("pydicom")
    hu = ct_volume((6, 16, 12))
    write_ct_series(tmp_path / "ct", hu, pixel_spacing=(0.7, 0.6), step=2.5,
                    origin=(-100.0, -120.0, 30.0), window=(400.0, 1800.0))
    viewer = make_napari_viewer()
    layers = viewer.open(tmp_path / "ct", plugin=PLUGIN)
    (layer,) = layers
    assert layer.name == "ct" and layer.rgb is False
    np.testing.assert_array_equal(np.asarray(layer.data), hu)
    np.testing.assert_allclose(layer.scale, (2.5, 0.7, 0.6))
    np.testing.assert_allclose(layer.translate, (30.0, -120.0, -100.0))
    assert tuple(layer.contrast_limits) == (400 - 900, 400 + 900)
    assert layer.colormap.name == "gray"
    md = layer.metadata["segreview"]
    assert md["kind"] == "image" and md["units"] == "HU" and md["format"] == "dicom"
    assert messages == []


def test_imagej_tiff_and_rgb_png(make_napari_viewer, tmp_path):
    ct = ct_volume((4, 10, 8), seed=1)
    tifffile.imwrite(tmp_path / "ct.tif", ct, imagej=True, resolution=(2.0, 4.0),
                     metadata={"spacing": 3.0, "unit": "mm", "axes": "ZYX"})
    rgb = np.random.default_rng(2).integers(0, 256, (12, 9, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "street.png")
    viewer = make_napari_viewer()
    (tif,) = viewer.open(tmp_path / "ct.tif", plugin=PLUGIN)
    np.testing.assert_allclose(tif.scale, (3.0, 0.25, 0.5))
    np.testing.assert_array_equal(np.asarray(tif.data), ct)
    (png,) = viewer.open(tmp_path / "street.png", plugin=PLUGIN)
    assert png.rgb and png.ndim == 2
    np.testing.assert_array_equal(np.asarray(png.data), rgb)


def test_image_with_a_session_beside_it_offers_to_restore(make_napari_viewer, tmp_path,
                                                         messages):
    from napari_segreview.session.session import Session

    ct = ct_volume((3, 8, 8), seed=5)
    tifffile.imwrite(tmp_path / "scan.tif", ct, photometric="minisblack")
    viewer = make_napari_viewer()
    viewer.open(tmp_path / "scan.tif", plugin=PLUGIN)
    assert not [m for kind, m in messages if kind == "info"]  # no session yet: no offer
    Session.create(tmp_path / "scan.segreview").close()
    (layer,) = viewer.open(tmp_path / "scan.tif", plugin=PLUGIN)
    np.testing.assert_array_equal(np.asarray(layer.data), ct)
    (offer,) = [m for kind, m in messages if kind == "info"]
    assert str(tmp_path / "scan.segreview") in offer and "Restore" in offer


def test_an_imagej_tiff_of_hu_opens_at_the_bone_window_not_the_full_range(
        make_napari_viewer, tmp_path, monkeypatch):
    ct = ct_volume((6, 16, 12))                       # -1024 .. 2000 HU
    tifffile.imwrite(tmp_path / "ct.tif", ct, imagej=True,
                     metadata={"spacing": 2.0, "unit": "mm", "axes": "ZYX"})
    viewer = make_napari_viewer()
    (layer,) = viewer.open(tmp_path / "ct.tif", plugin=PLUGIN)
    assert tuple(layer.contrast_limits) == (400 - 900, 400 + 900)
    monkeypatch.setattr(read_module, "LAZY_BYTES", 1000)  # the same stack, opened lazily
    (lazy,) = viewer.open(tmp_path / "ct.tif", plugin=PLUGIN)
    assert type(lazy.data) is not np.ndarray              # a memmap: read on access
    assert tuple(lazy.contrast_limits) == (400 - 900, 400 + 900)


def test_two_series_become_two_layers_with_no_error(make_napari_viewer, tmp_path, messages):
    pytest.importorskip("pydicom")
    write_ct_series(tmp_path, ct_volume((5, 8, 8)), series_number=3, description="body",
                    names=[f"a{k}" for k in range(5)])
    write_ct_series(tmp_path, ct_volume((2, 6, 6), seed=3), series_number=4,
                    description="scout", names=["b0", "b1"])
    viewer = make_napari_viewer()
    layers = viewer.open(tmp_path, plugin=PLUGIN)
    assert [la.data.shape for la in layers] == [(5, 8, 8), (2, 6, 6)]
    assert layers[1].name.endswith("series 4 scout")
    assert messages == []


def test_big_stack_is_added_lazily(make_napari_viewer, tmp_path, monkeypatch):
    from napari_segreview.io import read as core_io

    monkeypatch.setattr(core_io, "LAZY_BYTES", 1024)
    data = np.arange(20 * 32 * 32, dtype=np.uint16).reshape(20, 32, 32)
    tifffile.imwrite(tmp_path / "big.tif", data, compression="zlib")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(tmp_path / "big.tif", plugin=PLUGIN)
    assert not isinstance(layer.data, np.ndarray)          # a dask array, page by page
    viewer.dims.set_point(0, 13)
    np.testing.assert_array_equal(np.asarray(layer.data[13]), data[13])


@pytest.mark.parametrize("name, content", [("cut.tif", "tif"), ("bad.dcm", b"garbage" * 50),
                                           ("cut.nii.gz", "nii")])
def test_broken_files_show_one_error_and_add_nothing(make_napari_viewer, tmp_path, messages,
                                                     name, content):
    path = tmp_path / name
    if content == "tif":
        tifffile.imwrite(path, np.zeros((10, 64, 64), np.uint16))
        path.write_bytes(path.read_bytes()[:5000])
    elif content == "nii":
        nib = pytest.importorskip("nibabel")
        nib.save(nib.Nifti1Image(ct_volume((40, 40, 20)), np.eye(4)), path)
        path.write_bytes(path.read_bytes()[:3000])
    else:
        path.write_bytes(content)
    viewer = make_napari_viewer()
    layers = viewer.open(path, plugin=PLUGIN)
    assert layers == [] and len(viewer.layers) == 0
    (kind, text), = messages
    assert kind == "error" and name in text and "\n" not in text


def test_get_reader_declines_what_is_not_ours(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "slice1.png")
    assert get_reader(str(tmp_path)) is read_layers
    assert get_reader([str(tmp_path / "slice1.png")]) is read_layers
    assert get_reader([str(tmp_path), str(tmp_path)]) is None
    (tmp_path / "session.json").write_text("{}")
    assert get_reader(str(tmp_path)) is None                 # a review session folder
    np.save(tmp_path / "x.npy", np.zeros(3))
    (tmp_path / "notes.txt").write_text("x")
    for name in ("x.npy", "notes.txt", "missing.tif"):
        assert get_reader(str(tmp_path / name)) is None
    assert _reader.NOTHING == [(None,)]


# ------------------------------------------------------------------ our own folders
# napari's File > Open Folder / drag and drop decide like viewer.open(path, plugin=None):
# a MultipleReaderError there is napari's "Choose reader" dialog.


def _export(folder):
    from napari_segreview.card.spec import load_card
    from napari_segreview.data import demo_card_path
    from napari_segreview.data.phantom import make_ct_phantom
    from napari_segreview.targets.build import ExportCase, build_targets
    from napari_segreview.targets.export import export_case

    card = load_card(demo_card_path())
    ph = make_ct_phantom((3, 32, 32), seed=0)
    ts = build_targets(card, {"whole": ph.masks[0], "parts": ph.parts}, ph.image.shape)
    export_case(folder, ExportCase("scan", ph.image, ts, card, spacing=ph.spacing))
    return ph


def _session(folder):
    from napari_segreview.session.session import Session

    s = Session.create(folder, image={"name": "scan"})
    data = np.zeros((3, 8, 8), np.uint8)
    data[1, 2:4, 2:5] = 1
    s.add_layer("bone", data, metadata={"kind": "mask", "channel": "bone"})
    s.close()
    return data


def test_a_session_folder_opens_without_a_reader_choice(make_napari_viewer, qtbot, tmp_path,
                                                        messages):
    from napari_segreview._napari.session.registry import controller_for
    from napari_segreview._napari.session.widget import SessionWidget

    data = _session(tmp_path / "scan.segreview")
    viewer = make_napari_viewer()
    SessionWidget(viewer)                  # any SegReview panel tells napari once
    layers = viewer.open(tmp_path / "scan.segreview", plugin=None)   # what File > Open does
    assert [lay.name for lay in layers] == ["bone"]
    np.testing.assert_array_equal(layers[0].data, data)
    qtbot.waitUntil(lambda: controller_for(viewer) is not None, timeout=10000)
    assert not [m for kind, m in messages if kind == "error"]


def test_an_export_opens_from_its_marker_file_without_a_reader_choice(make_napari_viewer,
                                                                      tmp_path, messages):
    ph = _export(tmp_path / "targets")
    viewer = make_napari_viewer()
    layers = viewer.open(tmp_path / "targets" / "segreview-export.json", plugin=None)
    image = next(lay for lay in layers if lay.metadata["segreview"]["kind"] == "image")
    np.testing.assert_array_equal(np.asarray(image.data), ph.image)
    assert len(layers) > 1
    assert messages == []


def test_the_session_panel_opens_any_of_our_folders(make_napari_viewer, qtbot, tmp_path,
                                                    messages):
    from napari_segreview._napari.session.registry import controller_for
    from napari_segreview._napari.session.widget import SessionWidget

    ph = _export(tmp_path / "targets")
    data = _session(tmp_path / "review")              # a session under a name of one's own
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    viewer = make_napari_viewer()
    widget = SessionWidget(viewer)
    layers = widget.open_folder(tmp_path / "targets")
    kinds = sorted(lay.metadata["segreview"]["kind"] for lay in layers)
    assert kinds[0] == "image" and len(kinds) > 1
    np.testing.assert_array_equal(np.asarray(layers[0].data), ph.image)
    (bone,) = widget.open_folder(tmp_path / "review")
    np.testing.assert_array_equal(bone.data, data)
    qtbot.waitUntil(lambda: controller_for(viewer) is not None, timeout=10000)
    n = len(viewer.layers)
    assert widget.open_folder(tmp_path / "notes") == [] and len(viewer.layers) == n
    errors = [m for kind, m in messages if kind == "error"]
    assert len(errors) == 1 and "not a SegReview" in errors[0] and "\n" not in errors[0]


def test_an_export_folder_napari_was_told_about_opens_without_a_choice(make_napari_viewer,
                                                                       tmp_path):
    from napari.settings import get_settings

    from napari_segreview._napari._reader import prefer_segreview_readers

    _export(tmp_path / "targets")
    viewer = make_napari_viewer()
    assert prefer_segreview_readers(tmp_path / "targets")
    layers = viewer.open(tmp_path / "targets", plugin=None)
    assert layers and layers[0].metadata["segreview"]["kind"] == "image"
    prefs = get_settings().plugins.extension2reader
    prefs_before = dict(prefs)
    get_settings().plugins.extension2reader = {**prefs, "*.segreview/": "someone-else"}
    prefer_segreview_readers()                        # the user's own choice stays
    assert get_settings().plugins.extension2reader["*.segreview/"] == "someone-else"
    assert set(prefs_before) <= set(get_settings().plugins.extension2reader)


def test_a_big_dicom_series_opens_lazily(make_napari_viewer, tmp_path, monkeypatch):
    pytest.importorskip("pydicom")
    monkeypatch.setattr(read_module, "LAZY_BYTES", 1000)
    hu = ct_volume((12, 16, 16))
    write_ct_series(tmp_path / "ct", hu)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(tmp_path / "ct", plugin=PLUGIN)
    assert not isinstance(layer.data, np.ndarray)          # dask: one file per slice shown
    np.testing.assert_array_equal(np.asarray(layer.data[7]), hu[7])
    refs = layer.metadata["segreview"]["dicom"]
    assert len(refs["sop_instance_uids"]) == 12
