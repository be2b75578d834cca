"""DICOM series in: slices ordered by position, values in HU, spacing from the geometry.

pydicom is optional (``pip install napari-segreview[dicom]``) and imported only here.

- A folder: every file is looked at (any name; DICOM files often have no
  suffix). Files are grouped by ``SeriesInstanceUID``: each series is one
  image. Files that are not DICOM, are truncated, hold no image or are DICOM
  SEG are skipped, and one note says how many and why; malformed optional
  values (an ``IS`` holding ``'1A'``) are read as missing
  (:mod:`~napari_segreview.io.dicom_scan`).
- One file: its series, gathered from the files beside it.
- Enhanced (multi-frame) CT and MR: frames are placed from their functional
  groups, several stacks of one file become several images
  (:mod:`~napari_segreview.io.dicom_enhanced`).
- Slices are ordered by their position along the slice normal,
  ``ImagePositionPatient · cross(row direction, column direction)`` from
  ``ImageOrientationPatient``, never by file name or ``InstanceNumber`` (used
  only to break ties and when a series carries no geometry). When most slices
  carry a position, those without a valid one are skipped.
- ``RescaleSlope``/``RescaleIntercept`` are applied slice by slice (frame by
  frame): CT values are Hounsfield units, int16 when every value fits,
  float32 otherwise; another ``RescaleType`` (or a PET ``Units``) is named in
  :attr:`ImageData.units`. Compressed syntaxes are decoded through pydicom's
  plugins (:mod:`~napari_segreview.io.dicom_pixels`).
- Spacing: ``PixelSpacing`` (rows, columns) in-plane; between slices, the
  median distance of consecutive positions (``SliceThickness`` is the
  thickness of a slice, not the distance between slices).
- The series' first ``WindowCenter``/``WindowWidth`` become the contrast limits.
- Big series (above ``lazy_bytes``) are a dask array decoding one slice when
  it is shown, so napari opens a 500-slice series at once.
- :attr:`ImageData.dicom` holds the study, series, frame of reference and,
  per slice, the SOP instance UID, file and frame number (for DICOM SEG).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview.errors import MissingDependency, ReadError
from napari_segreview.io._base import ImageData, natural_key, visible_files, wants_lazy
from napari_segreview.io.dicom_pixels import read_pixels
from napari_segreview.io.dicom_scan import is_dicom_file, scan_files, skipped_note
from napari_segreview.io.dicom_values import SliceHeader

__all__ = ["is_dicom_file", "read_dicom"]

#: Positions closer than this (mm) along the normal are the same position.
_SAME_POSITION = 1e-3
_Slice = SliceHeader


def _pydicom():
    try:
        import pydicom
    except ImportError as exc:
        raise MissingDependency(
            "reading DICOM needs pydicom: install napari-segreview[dicom] or pip install pydicom."
        ) from exc
    return pydicom


def read_dicom(path: str | os.PathLike, *, lazy: bool | None = None,
               lazy_bytes: int | None = None) -> list[ImageData]:
    """Read the DICOM series in a folder, or the series of one file.

    Parameters
    ----------
    path : str or path-like
        A folder (every series in it is read) or one file (its series is
        gathered from the files beside it; a multi-frame file on its own).
    lazy : bool or None
        True: a dask array decoding one slice when shown; False: decode all
        now; None (default): lazy above ``lazy_bytes``.
    lazy_bytes : int, optional
        The threshold (default :data:`napari_segreview.io._base.LAZY_BYTES`).

    Returns
    -------
    list of ImageData
        One per series (and per stack of a multi-frame file), most slices
        first. Values are in HU for CT (int16 when they fit), spacing and
        origin in mm along (slice normal, column direction, row direction).

    Raises
    ------
    ReadError
        No DICOM image in the folder, an unreadable file given on its own,
        slices of one series with different sizes or orientations, pixel data
        pydicom cannot decode.
    MissingDependency
        pydicom, or the decoder of a compressed syntax, is not installed.

    Examples
    --------
    >>> import tempfile
    >>> read_dicom(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    napari_segreview.errors.ReadError: the folder ... holds no readable DICOM image files; ...
    """
    pydicom = _pydicom()
    path = Path(path)
    if path.is_dir():
        folder, files = path, visible_files(path)
    else:
        folder, files = path.parent, visible_files(path.parent)
    scan = scan_files(files, pydicom)
    groups = scan.groups
    if not path.is_dir():
        mine = [uid for uid, sls in groups.items() if any(sl.path == path for sl in sls)]
        if not mine:
            why = next((r for r, ps in scan.skipped.items() if path in ps), "")
            if why == "DICOM SEG":
                raise ReadError(f"{path.name} is a DICOM SEG (a segmentation), not an image; "
                                "open it with SegReview's DICOM SEG reader or beside its series.")
            raise ReadError(
                f"{path} is not a readable DICOM image file ("
                + (f"{why}" if why in ("truncated", "no image", "not DICOM") else
                   "it may be corrupt, truncated or hold no image")
                + "); open the folder of the series or export the file again."
            )
        groups = {uid: groups[uid] for uid in mine}
    if not groups:
        why = skipped_note(scan, folder.name)
        raise ReadError(
            f"the folder {folder} holds no readable DICOM image files"
            f"{' (' + why.rstrip('.') + ')' if why else ''}; choose the folder that holds "
            "the series' slices."
        )
    ordered = sorted(groups.values(), key=lambda sls: (-len(sls), sls[0].number or 0,
                                                        sls[0].stack))
    several = len(ordered) > 1
    images, extra = [], {}
    for slices in ordered:
        name = _series_name(folder, path, slices, several)
        images.append(_load_series(slices, name, path, pydicom, extra, lazy, lazy_bytes))
    note = skipped_note(scan, folder.name, extra) if path.is_dir() else None
    if note:
        first = images[0]
        images[0] = replace(first, notes=(note, *first.notes))
    return images


def _series_name(folder: Path, path: Path, slices: list[_Slice], several: bool) -> str:
    base = folder.name if path.is_dir() else path.stem
    if not several:
        return base
    sl = slices[0]
    label = f"series {sl.number}" if sl.number is not None else "series"
    return (f"{base} {label}" + (f" {sl.description}" if sl.description else "")
            + (f" {sl.stack}" if sl.stack else ""))


def _geometry(slices: list[_Slice], name: str) -> tuple[list[_Slice], np.ndarray | None,
                                                        list[str]]:
    """Slices in order along the normal, their positions along it, and notes."""
    notes: list[str] = []
    by_instance = sorted(slices, key=lambda s: (s.instance is None, s.instance or 0,
                                                natural_key(s.path.name), s.frame or 0))
    if any(s.position is None or s.orientation is None for s in slices):
        if len(slices) > 1:
            order = "frame" if slices[0].frame is not None else "InstanceNumber"
            notes.append(f"{name}: some slices carry no ImagePositionPatient/"
                         f"ImageOrientationPatient, so slices are ordered by {order} "
                         "and the slice spacing is taken from the header.")
        return by_instance, None, notes
    key = Counter(tuple(np.round(s.orientation, 4)) for s in slices).most_common(1)[0][0]
    ref = np.array(next(s.orientation for s in slices
                        if tuple(np.round(s.orientation, 4)) == key))
    odd = next((s for s in slices if np.abs(np.array(s.orientation) - ref).max() > 1e-3), None)
    if odd is not None:
        raise ReadError(
            f"{odd.path.name} is oriented differently from the other slices of {name} "
            "(ImageOrientationPatient); move it out of the folder or open it on its own."
        )
    normal = np.cross(ref[:3], ref[3:])
    keyed = sorted(by_instance, key=lambda s: float(np.dot(s.position, normal)))  # stable
    pos = np.array([float(np.dot(s.position, normal)) for s in keyed])
    keep = np.concatenate([[True], np.diff(pos) > _SAME_POSITION])
    if not keep.all():
        # Several slices at one position (e.g. two acquisitions in one series): keep the
        # first by InstanceNumber, which the stable sort put first.
        kept_first = [s for s, k in zip(keyed, keep, strict=True) if k]
        notes.append(f"{name}: {int((~keep).sum())} slice(s) repeat a position already taken "
                     "(two acquisitions in one series?); kept the one with the lowest "
                     "InstanceNumber at each position. Put each acquisition in its own folder "
                     "to open it.")
        keyed, pos = kept_first, pos[keep]
    return keyed, pos, notes


def _z_spacing(slices: list[_Slice], pos: np.ndarray | None, name: str,
               notes: list[str]) -> float:
    if pos is not None and len(pos) > 1:
        steps = np.diff(pos)
        dz = float(np.median(steps))
        if steps.max() - steps.min() > max(0.01 * dz, 1e-3):
            notes.append(f"{name}: the distance between slices varies from {steps.min():.3g} "
                         f"to {steps.max():.3g} mm (missing slices?); the layer uses the "
                         f"median {dz:.3g} mm, so positions along the stack are approximate.")
        return dz
    sl = slices[0]
    for value in (sl.between, sl.thickness):
        if value and value > 0:
            return float(value)
    return 1.0


def _placed(slices: list[_Slice], extra: dict[str, list[Path]]) -> list[_Slice]:
    """Drop the slices without a valid position when most of the series has one."""
    good = [s for s in slices if s.position is not None and s.orientation is not None]
    if len(good) == len(slices) or len(good) * 2 <= len(slices):
        return slices
    extra.setdefault("no valid position", []).extend(
        s.path for s in slices if s.position is None or s.orientation is None)
    return good


def _units(first: _Slice, rescaled: bool, rgb: bool) -> str | None:
    kind = first.rescale_type.upper()
    if rgb:
        return None
    if first.modality == "CT" and kind in ("", "HU"):
        return "HU"
    if not rescaled:
        return None
    if kind and kind != "US":
        return first.rescale_type
    if first.modality == "PT" and first.units:
        return first.units
    return None


def _references(ordered: list[_Slice]) -> dict[str, Any]:
    first = ordered[0]
    return {"study_uid": first.study, "series_uid": first.uid.split("|")[0],
            "frame_of_reference_uid": first.frame_of_reference,
            "sop_class_uid": first.sop_class,
            "sop_instance_uids": [s.sop_instance for s in ordered],
            "files": [str(s.path) for s in ordered],
            "frames": [s.frame for s in ordered]}


def _load_series(slices: list[_Slice], name: str, source: Path, pydicom: Any,
                 extra: dict[str, list[Path]], lazy: bool | None,
                 lazy_bytes: int | None) -> ImageData:
    notes: list[str] = []
    shapes = Counter(s.shape for s in slices)
    common = shapes.most_common(1)[0][0]
    odd = next((s for s in slices if s.shape != common), None)
    if odd is not None:
        r, c, _ = odd.shape
        raise ReadError(
            f"{odd.path.name} is {r} x {c} but the other slices of {name} are {common[0]} x "
            f"{common[1]}; move it out of the folder so that one series remains."
        )
    ordered, pos, geo_notes = _geometry(_placed(slices, extra), name)
    notes += geo_notes
    dz = _z_spacing(ordered, pos, name, notes)
    first = ordered[0]
    dy, dx = first.pixel_spacing or (1.0, 1.0)
    if first.pixel_spacing is None:
        notes.append(f"{name}: no PixelSpacing; the in-plane spacing is 1 pixel.")
    rgb = common[2] in (3, 4)
    nbytes = len(ordered) * math.prod(common) * 4
    data = read_pixels(ordered, pydicom, rgb=rgb,
                       lazy=wants_lazy(lazy, nbytes, lazy_bytes))
    rescaled = not rgb and any((s.slope, s.intercept) != (1.0, 0.0) for s in ordered)
    origin = (0.0, 0.0, 0.0)
    if pos is not None:
        row_dir, col_dir = np.array(first.orientation[:3]), np.array(first.orientation[3:])
        p0 = np.array(first.position)
        origin = (float(pos[0]), float(p0 @ col_dir), float(p0 @ row_dir))
    units = _units(first, rescaled, rgb)
    center, width = ordered[len(ordered) // 2].window
    limits = (center - width / 2, center + width / 2) if center is not None and width else None
    if len(ordered) == 1:  # one slice: a 2-D image
        data, spacing, origin = data[0], (dy, dx), origin[1:]
    else:
        spacing = (dz, dy, dx)
    if rescaled and units is None:
        notes.append(f"{name}: applied RescaleSlope/RescaleIntercept ({first.modality or 'no'} "
                     "modality), so values are in the rescaled units.")
    return ImageData(data, name, source, "dicom", spacing=spacing, origin=origin,
                     spacing_unit="mm", calibrated=first.pixel_spacing is not None,
                     rgb=rgb, contrast_limits=limits, units=units, notes=tuple(notes),
                     dicom=_references(ordered))
