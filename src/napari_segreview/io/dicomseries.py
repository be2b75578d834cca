"""The DICOM series a SEG segments: its instances in stacked order and its grid, from headers.

:func:`series_reference` reads the headers of a single-frame series (no
pixels) and stacks them as the image reader (:mod:`napari_segreview.io.dicom`)
does, so that slice ``k`` of the image is instance ``k`` of the
:class:`SourceSeries`; :func:`series_beside` finds the series a SEG
references next to the SEG file. The SEG reader
(:mod:`napari_segreview.io.dicomseg`) and writer
(:mod:`napari_segreview.targets.dicomseg`) place frames with it.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview.errors import MissingDependency, ReadError

__all__ = ["SourceSeries", "series_beside", "series_reference"]

_TAGS = ["SOPInstanceUID", "SOPClassUID", "SeriesInstanceUID", "StudyInstanceUID",
         "FrameOfReferenceUID", "ImagePositionPatient", "ImageOrientationPatient",
         "PixelSpacing", "Rows", "Columns", "InstanceNumber", "NumberOfFrames", "Modality"]
#: SOP classes of SEG objects (Segmentation, Label Map Segmentation): never slices.
_SEG_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")


@dataclass(frozen=True)
class SourceSeries:
    """The DICOM series a SEG segments: its instances in the stacked order and its grid.

    ``sop_instance_uids[k]`` (and ``frames[k]`` for a multi-frame file, else
    None) is slice ``k`` of the image; ``spacing``/``origin`` are the image
    layer's (napari order), ``shape`` is (slices, rows, columns).
    """

    series_uid: str
    frame_of_reference_uid: str
    sop_instance_uids: tuple[str, ...]
    frames: tuple[int | None, ...]
    files: tuple[str, ...]
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    study_uid: str = ""
    name: str = ""

    @classmethod
    def from_metadata(cls, dicom: dict[str, Any], shape: Any, spacing: Any, origin: Any,
                      name: str = "") -> SourceSeries:
        """From an image's ``dicom`` references (:attr:`ImageData.dicom`) and its grid.

        Examples
        --------
        >>> s = SourceSeries.from_metadata({"series_uid": "1.2", "frame_of_reference_uid":
        ...     "1.3", "sop_instance_uids": ["1.4", "1.5"], "files": ["a", "b"],
        ...     "frames": [None, None]}, (2, 4, 4), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0))
        >>> s.shape, s.frames
        ((2, 4, 4), (None, None))
        """
        uids = tuple(str(u) for u in dicom.get("sop_instance_uids") or ())
        shape = tuple(int(s) for s in shape)
        if len(shape) == 2:                       # one slice: a 2-D image
            shape, spacing, origin = (1, *shape), (1.0, *spacing), (0.0, *origin)
        return cls(str(dicom.get("series_uid") or ""),
                   str(dicom.get("frame_of_reference_uid") or ""), uids,
                   tuple(dicom.get("frames") or (None,) * len(uids)),
                   tuple(str(f) for f in dicom.get("files") or ()), shape,
                   tuple(float(s) for s in spacing), tuple(float(o) for o in origin),
                   str(dicom.get("study_uid") or ""), name)



def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if len(out) == n and all(np.isfinite(out)) else None


def _headers(files: list[Path]) -> list[Any]:
    try:
        import pydicom
    except ImportError as exc:
        raise MissingDependency("reading DICOM SEG needs pydicom: install "
                                "napari-segreview[dicom] or pip install pydicom.") from exc
    out = []
    for f in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.append(pydicom.dcmread(f, stop_before_pixels=True, specific_tags=_TAGS))
        except Exception:  # not DICOM or broken: never part of a series
            continue
    return out


def series_reference(path: str | os.PathLike, series_uid: str | None = None) -> SourceSeries:
    """The :class:`SourceSeries` of the single-frame DICOM series at ``path``, from headers.

    Slices are stacked as the image reader stacks them: by position along
    the slice normal (InstanceNumber breaks ties), the first at each position
    kept. ``series_uid`` picks a series in a folder of several (default: the
    one with most slices). Pixels are never read.

    Raises
    ------
    ReadError
        No such series, or slices without position/orientation.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    groups: dict[str, list[Any]] = defaultdict(list)
    for ds in _headers(files):
        if str(ds.get("SOPClassUID", "")) in _SEG_CLASSES or ds.get("Rows") is None:
            continue
        groups[str(ds.get("SeriesInstanceUID", ""))].append(ds)
    if not path.is_dir() and series_uid is None:
        mine = next((u for u, d in groups.items() if any(Path(x.filename) == path for x in d)),
                    None)
        series_uid = mine
    if series_uid is not None:
        groups = {series_uid: groups.get(series_uid, [])}
    slices = max(groups.values(), key=len, default=[])
    if not slices:
        raise ReadError(f"{folder} holds no slice of the DICOM series "
                        f"{series_uid or ''}".rstrip() + "; open the folder of that series.")
    return _stacked(slices, folder.name)


def _stacked(slices: list[Any], name: str) -> SourceSeries:
    geo = [(_floats(d.get("ImagePositionPatient"), 3), _floats(d.get("ImageOrientationPatient"),
                                                              6)) for d in slices]
    if any(p is None or o is None for p, o in geo):
        raise ReadError(f"slices of the series in {name} carry no ImagePositionPatient/"
                        "ImageOrientationPatient, so SEG frames cannot be placed on them.")
    orient = np.array(Counter(tuple(np.round(o, 4)) for _, o in geo).most_common(1)[0][0])
    normal = np.cross(orient[:3], orient[3:])
    by_instance = sorted(range(len(slices)), key=lambda i: (
        slices[i].get("InstanceNumber") is None, int(slices[i].get("InstanceNumber") or 0)))
    order = sorted(by_instance, key=lambda i: float(np.dot(geo[i][0], normal)))
    pos = np.array([float(np.dot(geo[i][0], normal)) for i in order])
    keep = np.concatenate([[True], np.diff(pos) > 1e-3])
    order, pos = [i for i, k in zip(order, keep, strict=True) if k], pos[keep]
    first = slices[order[0]]
    dy, dx = _floats(first.get("PixelSpacing"), 2) or (1.0, 1.0)
    dz = float(np.median(np.diff(pos))) if len(pos) > 1 else 1.0
    p0 = np.array(geo[order[0]][0])
    origin = (float(pos[0]), float(p0 @ orient[3:]), float(p0 @ orient[:3]))
    return SourceSeries(
        str(first.get("SeriesInstanceUID", "")), str(first.get("FrameOfReferenceUID", "")),
        tuple(str(slices[i].SOPInstanceUID) for i in order), (None,) * len(order),
        tuple(str(slices[i].filename) for i in order),
        (len(order), int(first.Rows), int(first.Columns)), (dz, dy, dx), origin,
        str(first.get("StudyInstanceUID", "")), name)


def series_beside(seg_path: str | os.PathLike, series_uid: str,
                  referenced: set[str]) -> SourceSeries | None:
    """The series ``series_uid`` in the SEG's folder, a folder in it, or a sibling folder.

    A folder is taken when one of its first files belongs to the series (or
    is one of the ``referenced`` instances); a mixed folder is looked at file
    by file once. None when no folder holds it.

    Examples
    --------
    >>> import tempfile
    >>> seg = Path(tempfile.mkdtemp()) / "segs" / "seg.dcm"     # nothing beside it
    >>> series_beside(seg, "1.2.3", set()) is None
    True
    """
    seg_path = Path(seg_path)
    here = seg_path.parent
    folders = [here]
    for parent in (here, here.parent):
        try:
            folders += sorted(p for p in parent.iterdir() if p.is_dir() and p != here
                              and not p.name.startswith("."))[:32]
        except OSError:
            continue
    for folder in folders:
        try:
            files = sorted(p for p in folder.iterdir() if p.is_file() and p != seg_path
                           and not p.name.startswith("."))
        except OSError:
            continue
        probe = _headers(files[:3]) if len(files) > 3 else _headers(files)
        if not any(str(d.get("SeriesInstanceUID", "")) == series_uid for d in probe) and not \
                any(str(d.get("SOPInstanceUID", "")) in referenced for d in probe):
            if len(files) <= 3:
                continue
            probe = _headers(files)   # a mixed folder: look at every file once
            if not any(str(d.get("SeriesInstanceUID", "")) == series_uid for d in probe):
                continue
        try:
            return series_reference(folder, series_uid)
        except ReadError:
            continue
    return None
