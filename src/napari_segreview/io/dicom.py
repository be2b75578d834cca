"""DICOM series in: slices ordered by position, values in HU, spacing from the geometry.

pydicom is optional (``pip install napari-segreview[dicom]``) and imported only here.

- A folder: every file is looked at (any name; DICOM files often have no
  suffix); files that are not DICOM are ignored. Files are grouped by
  ``SeriesInstanceUID``: each series is one image.
- One file: its series, gathered from the files beside it.
- Slices are ordered by their position along the slice normal,
  ``ImagePositionPatient · cross(row direction, column direction)`` from
  ``ImageOrientationPatient``, never by file name or ``InstanceNumber`` (used
  only to break ties and when a series carries no geometry).
- ``RescaleSlope``/``RescaleIntercept`` are applied slice by slice: CT values
  are Hounsfield units, int16 when every value fits, float32 otherwise.
- Spacing: ``PixelSpacing`` (rows, columns) in-plane; between slices, the
  median distance of consecutive positions (``SliceThickness`` is the
  thickness of a slice, not the distance between slices).
- The series' first ``WindowCenter``/``WindowWidth`` become the contrast limits.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._util.arrays import one_line
from napari_segreview.errors import MissingDependency, ReadError
from napari_segreview.io._base import (
    DICOM_SUFFIXES,
    ImageData,
    image_suffix,
    natural_key,
    visible_files,
)

__all__ = ["is_dicom_file", "read_dicom"]

_TAGS = ["SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "Modality",
         "ImagePositionPatient", "ImageOrientationPatient", "InstanceNumber", "Rows",
         "Columns", "PixelSpacing", "SamplesPerPixel", "NumberOfFrames", "RescaleSlope",
         "RescaleIntercept", "RescaleType", "WindowCenter", "WindowWidth", "SliceThickness",
         "SpacingBetweenSlices", "PhotometricInterpretation", "BitsAllocated"]
#: Positions closer than this (mm) along the normal are the same position.
_SAME_POSITION = 1e-3


def is_dicom_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` starts like a DICOM file (``DICM`` after the 128-byte preamble).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "x.dcm"
    >>> _ = path.write_bytes(bytes(128) + b"DICM")
    >>> is_dicom_file(path), is_dicom_file(path.parent)
    (True, False)
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def _pydicom():
    try:
        import pydicom
    except ImportError as exc:
        raise MissingDependency(
            "reading DICOM needs pydicom: install napari-segreview[dicom] or pip install pydicom."
        ) from exc
    return pydicom


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if len(out) == n and all(np.isfinite(out)) else None


def _first(value: Any) -> float | None:
    if value is None or value == "":
        return None
    with contextlib.suppress(TypeError, IndexError):
        value = value[0] if not isinstance(value, (str, bytes)) else value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass
class _Slice:
    path: Path
    uid: str
    number: int | None
    description: str
    instance: int | None
    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    shape: tuple[int, int, int]            # rows, columns, samples
    pixel_spacing: tuple[float, ...] | None
    frames: int
    modality: str
    window: tuple[float | None, float | None]
    thickness: float | None
    between: float | None


def _header(path: Path, pydicom: Any, force: bool) -> _Slice | None:
    """The slice's header, or None when the file is not DICOM image data."""
    try:
        with warnings.catch_warnings():  # pydicom warns about every oddity of a broken file
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=force,
                                 specific_tags=_TAGS)
    except Exception:  # not DICOM, or corrupt: pydicom raises many types
        return None
    rows, cols = ds.get("Rows"), ds.get("Columns")
    if not isinstance(rows, int) or not isinstance(cols, int) or rows < 1 or cols < 1:
        return None
    instance = ds.get("InstanceNumber")
    number = ds.get("SeriesNumber")
    return _Slice(
        path=path, uid=str(ds.get("SeriesInstanceUID", "") or ""),
        number=int(number) if number not in (None, "") else None,
        description=str(ds.get("SeriesDescription", "") or "").strip(),
        instance=int(instance) if instance not in (None, "") else None,
        position=_floats(ds.get("ImagePositionPatient"), 3),
        orientation=_floats(ds.get("ImageOrientationPatient"), 6),
        shape=(rows, cols, int(ds.get("SamplesPerPixel", 1) or 1)),
        pixel_spacing=_floats(ds.get("PixelSpacing"), 2),
        frames=int(ds.get("NumberOfFrames", 1) or 1),
        modality=str(ds.get("Modality", "") or ""),
        window=(_first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))),
        thickness=_first(ds.get("SliceThickness")),
        between=_first(ds.get("SpacingBetweenSlices")),
    )


def _scan(files: list[Path], pydicom: Any) -> tuple[dict[str, list[_Slice]], list[Path]]:
    """Group the DICOM image files by series; also return the DICOM files that failed."""
    series: dict[str, list[_Slice]] = defaultdict(list)
    failed: list[Path] = []
    for f in files:
        magic = is_dicom_file(f)
        suffixed = image_suffix(f) in DICOM_SUFFIXES
        if not (magic or suffixed):
            continue
        sl = _header(f, pydicom, force=not magic)
        if sl is None and f.name.upper() != "DICOMDIR":
            failed.append(f)
        elif sl is None:
            continue
        else:
            series[sl.uid].append(sl)
    return series, failed


def read_dicom(path: str | os.PathLike) -> list[ImageData]:
    """Read the DICOM series in a folder, or the series of one file.

    Parameters
    ----------
    path : str or path-like
        A folder (every series in it is read) or one file (its series is
        gathered from the files beside it).

    Returns
    -------
    list of ImageData
        One per series, most slices first. Values are in HU for CT (int16
        when they fit), spacing and origin in mm along (slice normal, column
        direction, row direction).

    Raises
    ------
    ReadError
        No DICOM image in the folder, an unreadable file, slices of one series
        with different sizes or orientations, pixel data pydicom cannot decode.
    MissingDependency
        pydicom is not installed.
    """
    pydicom = _pydicom()
    path = Path(path)
    if path.is_dir():
        folder, files = path, visible_files(path)
    else:
        folder, files = path.parent, visible_files(path.parent)
    groups, failed = _scan(files, pydicom)
    if not path.is_dir():
        mine = next((sl for sls in groups.values() for sl in sls if sl.path == path), None)
        if mine is None:
            raise ReadError(
                f"{path} is not a readable DICOM image file (it may be corrupt, truncated or "
                "hold no image); open the folder of the series or export the file again."
            )
        groups = {mine.uid: groups[mine.uid]}
    if not groups:
        raise ReadError(
            f"the folder {folder} holds no readable DICOM image files; choose the folder that "
            "holds the series' slices."
        )
    notes = []
    if failed and path.is_dir():
        names = ", ".join(f.name for f in failed[:3]) + (" ..." if len(failed) > 3 else "")
        notes.append(f"skipped {len(failed)} DICOM file(s) in {folder.name} that hold no image "
                     f"or could not be read: {names}.")
    ordered = sorted(groups.values(), key=lambda sls: (-len(sls), sls[0].number or 0))
    several = len(ordered) > 1
    images = []
    for i, slices in enumerate(ordered):
        name = _series_name(folder, path, slices, several)
        images.append(_load_series(slices, name, path, pydicom, notes if i == 0 else []))
    return images


def _series_name(folder: Path, path: Path, slices: list[_Slice], several: bool) -> str:
    base = folder.name if path.is_dir() else path.stem
    if not several:
        return base
    sl = slices[0]
    label = f"series {sl.number}" if sl.number is not None else "series"
    return f"{base} {label}" + (f" {sl.description}" if sl.description else "")


def _geometry(slices: list[_Slice], name: str) -> tuple[list[_Slice], np.ndarray | None,
                                                        list[str]]:
    """Slices in order along the normal, their positions along it, and notes."""
    notes: list[str] = []
    by_instance = sorted(slices, key=lambda s: (s.instance is None, s.instance or 0,
                                                natural_key(s.path.name)))
    if any(s.position is None or s.orientation is None for s in slices):
        if len(slices) > 1:
            notes.append(f"{name}: some slices carry no ImagePositionPatient/"
                         "ImageOrientationPatient, so slices are ordered by InstanceNumber "
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


def _rescale(ds: Any) -> tuple[float, float]:
    slope, intercept = _first(ds.get("RescaleSlope")), _first(ds.get("RescaleIntercept"))
    return (1.0 if slope is None else slope), (0.0 if intercept is None else intercept)


def _pixels(sl: _Slice, pydicom: Any) -> tuple[np.ndarray, tuple[float, float]]:
    try:
        ds = pydicom.dcmread(sl.path)
        raw = ds.pixel_array
    except Exception as exc:  # decoder plugins, truncated pixel data
        text = one_line(exc, 200)
        hint = ("install a decoder: pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg"
                if "decompress" in text.lower() or "plugin" in text.lower()
                else "the file may be truncated; export the series again")
        raise ReadError(f"cannot read the pixels of {sl.path.name} ({text}); {hint}.") \
            from exc
    return raw, _rescale(ds)


def _stack(raws: list[np.ndarray], rescales: list[tuple[float, float]]) -> tuple[np.ndarray, bool]:
    """Apply slope/intercept per slice: int16 when all values are whole and fit, else float32."""
    rescaled = any(r != (1.0, 0.0) for r in rescales)
    if not rescaled:
        return np.stack(raws), False
    if all(float(s).is_integer() and float(b).is_integer() for s, b in rescales):
        ends = [v * int(s) + int(b) for r, (s, b) in zip(raws, rescales, strict=True)
                for v in (int(r.min()), int(r.max()))]
        info = np.iinfo(np.int16)
        if info.min <= min(ends) and max(ends) <= info.max:
            out = np.empty((len(raws), *raws[0].shape), np.int16)
            for k, (r, (s, b)) in enumerate(zip(raws, rescales, strict=True)):
                out[k] = r.astype(np.int32) * int(s) + int(b)
            return out, True
    out = np.empty((len(raws), *raws[0].shape), np.float32)
    for k, (r, (s, b)) in enumerate(zip(raws, rescales, strict=True)):
        out[k] = r.astype(np.float32) * np.float32(s) + np.float32(b)
    return out, True


def _load_series(slices: list[_Slice], name: str, source: Path, pydicom: Any,
                 notes: list[str]) -> ImageData:
    notes = list(notes)
    shapes = Counter(s.shape for s in slices)
    common = shapes.most_common(1)[0][0]
    odd = next((s for s in slices if s.shape != common), None)
    if odd is not None:
        r, c, _ = odd.shape
        raise ReadError(
            f"{odd.path.name} is {r} x {c} but the other slices of {name} are {common[0]} x "
            f"{common[1]}; move it out of the folder so that one series remains."
        )
    if any(s.frames > 1 for s in slices):
        multi = next(s for s in slices if s.frames > 1)
        raise ReadError(
            f"{multi.path.name} is a multi-frame DICOM ({multi.frames} frames), which SegReview "
            "does not read yet; convert the series to one file per slice or to NIfTI."
        )
    ordered, pos, geo_notes = _geometry(slices, name)
    notes += geo_notes
    dz = _z_spacing(ordered, pos, name, notes)
    first = ordered[0]
    dy, dx = first.pixel_spacing or (1.0, 1.0)
    if first.pixel_spacing is None:
        notes.append(f"{name}: no PixelSpacing; the in-plane spacing is 1 pixel.")
    raws, rescales = zip(*(_pixels(s, pydicom) for s in ordered), strict=True)
    rgb = common[2] in (3, 4)
    if rgb:
        data, rescaled = np.stack(raws), False
    else:
        data, rescaled = _stack(list(raws), list(rescales))
    origin = (0.0, 0.0, 0.0)
    if pos is not None:
        row_dir, col_dir = np.array(first.orientation[:3]), np.array(first.orientation[3:])
        p0 = np.array(first.position)
        origin = (float(pos[0]), float(p0 @ col_dir), float(p0 @ row_dir))
    units = "HU" if first.modality == "CT" and not rgb else None
    center, width = ordered[len(ordered) // 2].window
    limits = (center - width / 2, center + width / 2) if center is not None and width else None
    if len(ordered) == 1:  # one slice: a 2-D image
        data, spacing, origin = data[0], (dy, dx), origin[1:]
    else:
        spacing = (dz, dy, dx)
    if rescaled and units is None and first.modality != "CT":
        notes.append(f"{name}: applied RescaleSlope/RescaleIntercept ({first.modality or 'no'} "
                     "modality), so values are in the rescaled units.")
    return ImageData(data, name, source, "dicom", spacing=spacing, origin=origin,
                         spacing_unit="mm", calibrated=first.pixel_spacing is not None,
                         rgb=rgb, contrast_limits=limits, units=units, notes=tuple(notes))
