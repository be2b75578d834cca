"""napari reader of DICOM SEG files: one binary Labels layer per segment.

``get_seg_reader(path)`` claims a file only when its file meta says
Segmentation Storage (:func:`~napari_segreview.io.dicomseg.is_dicom_seg`), so
napari.yaml lists it before the image reader. The layers are placed:

* on the **open image** of the series the SEG segments (its DICOM references,
  or the headers of its source folder for an image opened before they were
  kept): same grid, scale and translate, ``image`` set to that layer;
* else on the series found beside the SEG, else by the SEG's own geometry
  (a warning says so).

A SEG of another frame of reference than every open DICOM image is refused
with one sentence; a corrupt SEG too. Either way nothing is added and napari
never sees an exception. Each layer carries ``kind: "mask"`` and its
``channel`` (the segment label), so Review, QA, Convert and Export take it as
they take any binary mask, and the segment's description under ``segment``
(with the mask's ``digest``: an export tells whether it was corrected since).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from napari_segreview._napari._colours import mask_colormap
from napari_segreview._napari._meta import KEY, meta
from napari_segreview.errors import ReadError
from napari_segreview.io.dicomseg import (
    SegData,
    is_dicom_seg,
    mask_digest,
    read_seg,
    seg_references,
)
from napari_segreview.io.dicomseries import SourceSeries, series_reference

__all__ = ["get_seg_reader", "read_seg_layers", "seg_layer_data", "source_for"]

#: napari's "nothing to add" answer: no layer, no error.
NOTHING = [(None,)]


def get_seg_reader(path: Any) -> Any:
    """Return :func:`read_seg_layers` for a DICOM SEG file, None for anything else.

    Examples
    --------
    >>> get_seg_reader("/no/such/seg.dcm") is None
    True
    """
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    try:
        return read_seg_layers if os.path.isfile(path) and is_dicom_seg(path) else None
    except (OSError, TypeError, ValueError):
        return None


def read_seg_layers(path: Any) -> list[tuple]:
    """Read a SEG into LayerData tuples, aligned with the open image when there is one."""
    import napari
    from napari.utils.notifications import show_error, show_warning

    if isinstance(path, (list, tuple)):
        path = path[0]
    viewer = napari.current_viewer()
    try:
        layers, notes = seg_layer_data(path, list(viewer.layers) if viewer else [])
    except ReadError as exc:
        show_error(str(exc))
        return NOTHING
    except MemoryError:
        show_error(f"{os.fspath(path)} does not fit in memory; close other layers first.")
        return NOTHING
    except Exception as exc:  # never let a reader crash napari
        show_error(f"could not open {os.fspath(path)} ({type(exc).__name__}: {exc}).")
        return NOTHING
    for note in notes:
        show_warning(note)
    return layers


def _series_of(layer: Any) -> SourceSeries | None:
    m = meta(layer)
    shape = tuple(layer.data.shape)
    dicom = m.get("dicom")
    if dicom:
        return SourceSeries.from_metadata(dicom, shape, tuple(layer.scale),
                                          tuple(layer.translate), layer.name)
    if m.get("format") == "dicom" and m.get("source"):
        try:
            s = series_reference(m["source"])
        except (ReadError, OSError):
            return None
        if s.shape[0] == (shape[0] if len(shape) == 3 else 1):
            return SourceSeries(s.series_uid, s.frame_of_reference_uid, s.sop_instance_uids,
                                s.frames, s.files, s.shape,
                                (1.0, *layer.scale) if len(shape) == 2 else tuple(layer.scale),
                                (0.0, *layer.translate) if len(shape) == 2
                                else tuple(layer.translate), s.study_uid, layer.name)
    return None


def source_for(path: Any, layers: list) -> tuple[SourceSeries | None, Any]:
    """The open image (and its series) a SEG belongs to, or the one that refuses it.

    Returns the series the SEG references; failing that one in the same
    frame of reference; failing that any DICOM image (so that a SEG of
    another frame of reference is refused); ``(None, None)`` when no DICOM
    image is open.
    """
    ref_uid, frame_uid, sops = seg_references(path)
    found = []
    for layer in layers:
        if meta(layer).get("kind") != "image":
            continue
        s = _series_of(layer)
        if s is not None:
            found.append((s, layer))
    for s, layer in found:
        if s.series_uid == ref_uid or sops & set(s.sop_instance_uids):
            return s, layer
    for s, layer in found:
        if s.frame_of_reference_uid == frame_uid:
            return s, layer
    return (found[0] if found else (None, None))


def seg_layer_data(path: Any, layers: list) -> tuple[list[tuple], list[str]]:
    """LayerData tuples (one binary Labels layer per segment) and the notes to show."""
    series, image = source_for(path, layers)
    seg = read_seg(path, series)
    return _layers(seg, image if seg.placed_by == "series" else None), list(seg.notes)


def _layers(seg: SegData, image: Any) -> list[tuple]:
    two_d = image is not None and image.data.ndim == 2
    spacing, origin = (seg.spacing[1:], seg.origin[1:]) if two_d else (seg.spacing, seg.origin)
    out = []
    for i, s in enumerate(seg.segments):
        data = seg.masks[i][0] if two_d else seg.masks[i]
        cmap = mask_colormap(s.label)
        if s.colour is not None:
            cmap[1] = "#{:02x}{:02x}{:02x}".format(*s.colour)
        md = {"kind": "mask", "channel": s.label, "source": str(Path(seg.source)),
              "format": "dicom-seg", "segment": {**s.to_dict(), "digest": mask_digest(data)},
              "placed_by": seg.placed_by}
        if image is not None:
            md["image"] = image.name
        out.append((data, {"name": s.label, "scale": tuple(spacing), "translate": tuple(origin),
                           "colormap": cmap, "metadata": {KEY: md}}, "labels"))
    return out
