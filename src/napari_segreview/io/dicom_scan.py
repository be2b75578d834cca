"""The tolerant header scan of a DICOM folder: one bad file never takes down the folder.

Each file that looks like DICOM (``DICM`` magic or a ``.dcm``/``.dicom``/``.ima``
suffix) is parsed without its pixel data. A file that is not DICOM, is
truncated (its pixel data shorter than its header says), holds no image
(DICOMDIR, structured reports, presentation states) or is a segmentation
(DICOM SEG: opened on its own) is *skipped* and counted by reason; the reader
says so in one line (:func:`skipped_note`). An optional value that does not
parse (an integer string holding ``'1A'``, a window centre ``'abc'``) is read
as missing and counted by keyword. Only what a slice needs (pixel data, rows
and columns) makes a file unreadable; position and orientation are judged
when the series is stacked.

Multi-frame files are expanded into one :class:`SliceHeader` per frame by
:mod:`napari_segreview.io.dicom_enhanced`.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_segreview.io._base import DICOM_SUFFIXES, image_suffix
from napari_segreview.io.dicom_enhanced import frame_headers
from napari_segreview.io.dicom_values import (
    SliceHeader,
    as_float,
    as_floats,
    as_int,
    get_value,
)

__all__ = ["Scan", "is_dicom_file", "scan_files", "skipped_note"]

#: The values the stacker reads of every file.
TAGS = ["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
        "FrameOfReferenceUID", "SeriesNumber", "SeriesDescription", "Modality",
        "ImagePositionPatient", "ImageOrientationPatient", "InstanceNumber", "Rows",
        "Columns", "PixelSpacing", "SamplesPerPixel", "NumberOfFrames", "RescaleSlope",
        "RescaleIntercept", "RescaleType", "Units", "WindowCenter", "WindowWidth",
        "SliceThickness", "SpacingBetweenSlices", "PhotometricInterpretation",
        "BitsAllocated", "BitsStored", "PixelRepresentation", "PixelData",
        "FloatPixelData", "DoubleFloatPixelData"]
#: SOP classes that hold pixel data but are not images to stack.
SEG_CLASSES = {"1.2.840.10008.5.1.4.1.1.66.4": "DICOM SEG",
               "1.2.840.10008.5.1.4.1.1.66.7": "DICOM SEG"}
#: Image storage SOP classes (CR, DX, CT, enhanced CT, MR, enhanced MR, US, US multi-frame,
#: SC, XA, NM, PET, enhanced PET, RT dose): without pixel data such a file was cut short.
IMAGE_CLASSES = {"1.2.840.10008.5.1.4.1.1." + c for c in (
    "1", "1.1", "2", "2.1", "4", "4.1", "6.1", "3.1", "7", "12.1", "20", "128", "130",
    "481.2")}
#: Reasons a file is skipped, in the order the note lists them.
REASONS = ("not DICOM", "truncated", "no image", "DICOM SEG", "no valid position")


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


@dataclass
class Scan:
    """The result of :func:`scan_files`: slices by group, skipped files, malformed values."""

    groups: dict[str, list[SliceHeader]] = field(default_factory=dict)
    skipped: dict[str, list[Path]] = field(default_factory=dict)
    malformed: Counter = field(default_factory=Counter)
    looked_at: int = 0


def _pixel_element(fh: Any, ts: str, size: int) -> tuple[int, bool]:
    """``(element, truncated)`` of the pixel data element at ``fh``'s position (0: none).

    pydicom leaves the file at the pixel data element when it stops before
    the pixels; its length (unless undefined: encapsulated) must fit in the
    file. Deflated files cannot be judged this way: PixelData, not truncated.
    """
    if ts == "1.2.840.10008.1.2.1.99":
        return 0x0010, False
    start = fh.tell()
    head = fh.read(12)
    if len(head) < 8:
        return 0, False
    order = "big" if ts == "1.2.840.10008.1.2.2" else "little"
    group, element = int.from_bytes(head[0:2], order), int.from_bytes(head[2:4], order)
    if group != 0x7FE0 or element not in (0x0008, 0x0009, 0x0010):
        return 0, False
    vr = head[4:6]
    if ts == "1.2.840.10008.1.2" or not (vr.isalpha() and vr.isupper()):
        # implicit VR (or an implicit element in an explicit file): tag, 4-byte length
        length, offset = int.from_bytes(head[4:8], order), 8
    elif vr in (b"OB", b"OW", b"OF", b"OD", b"UN", b"OL", b"OV"):
        if len(head) < 12:
            return element, True
        length, offset = int.from_bytes(head[8:12], order), 12
    else:
        length, offset = int.from_bytes(head[6:8], order), 8
    return element, length != 0xFFFFFFFF and start + offset + length > size


def read_header(path: Path, pydicom: Any,
                force: bool) -> tuple[Any, str | None, set[str], bool]:
    """``(dataset, reason, malformed, float)``: the header, or None and why it is skipped."""
    bad: set[str] = set()
    try:
        with warnings.catch_warnings(), open(path, "rb") as fh:
            warnings.simplefilter("ignore")  # pydicom warns about every oddity of a broken file
            # no specific_tags: values are converted only when asked for, and reading only
            # the wanted tags turns out slower in pydicom 3
            ds = pydicom.dcmread(fh, force=force, stop_before_pixels=True)
            ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
            element, truncated = _pixel_element(fh, ts, os.fstat(fh.fileno()).st_size)
    except EOFError:
        return None, "truncated", bad, False
    except Exception as exc:  # not DICOM, or corrupt: pydicom raises many types
        text = str(exc).lower()
        return None, ("truncated" if "end of file" in text or "eof" in text
                      else "not DICOM"), bad, False
    if str(get_value(ds, "SOPClassUID", bad) or "") in SEG_CLASSES:
        return None, "DICOM SEG", bad, False
    rows = as_int(get_value(ds, "Rows", bad), "Rows", bad)
    cols = as_int(get_value(ds, "Columns", bad), "Columns", bad)
    if not rows or not cols or rows < 1 or cols < 1 or not element:
        meta = getattr(ds, "file_meta", None)
        sop_class = str(get_value(ds, "SOPClassUID", bad) or (
            meta.get("MediaStorageSOPClassUID", "") if meta is not None else "") or "")
        if not element and not sop_class:
            return None, "not DICOM", bad, False   # every DICOM object names its class
        if not element and (sop_class in IMAGE_CLASSES or (rows and cols)):
            return None, "truncated", bad, False   # an image header, the file cut before
        return None, "no image", bad, False
    if truncated:
        return None, "truncated", bad, False
    return ds, None, bad, element != 0x0010


def _values(ds: Any, bad: set[str]) -> dict[str, Any]:
    """The values of :data:`TAGS` by keyword, each converted once (a malformed one: missing)."""
    out: dict[str, Any] = {}
    for kw in TAGS:
        value = get_value(ds, kw, bad)
        if value is not None:
            out[kw] = value
    return out


def header(path: Path, ds: Any, bad: set[str], float_pixels: bool = False) -> SliceHeader:
    """The :class:`SliceHeader` of a single-frame file (file-level values of a multi-frame)."""
    values = _values(ds, bad)
    g = lambda kw: get_value(values, kw, bad)  # noqa: E731
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    slope = as_float(g("RescaleSlope"), "RescaleSlope", bad)
    intercept = as_float(g("RescaleIntercept"), "RescaleIntercept", bad)
    return SliceHeader(
        path=path, uid=str(g("SeriesInstanceUID") or ""),
        number=as_int(g("SeriesNumber"), "SeriesNumber", bad),
        description=str(g("SeriesDescription") or "").strip(),
        instance=as_int(g("InstanceNumber"), "InstanceNumber", bad),
        position=as_floats(g("ImagePositionPatient"), 3, "ImagePositionPatient", bad),
        orientation=as_floats(g("ImageOrientationPatient"), 6, "ImageOrientationPatient", bad),
        shape=(as_int(values.get("Rows")) or 1, as_int(values.get("Columns")) or 1,
               as_int(g("SamplesPerPixel"), "SamplesPerPixel", bad) or 1),
        pixel_spacing=as_floats(g("PixelSpacing"), 2, "PixelSpacing", bad, positive=True),
        frames=max(as_int(g("NumberOfFrames"), "NumberOfFrames", bad) or 1, 1),
        modality=str(g("Modality") or ""),
        window=(as_float(g("WindowCenter"), "WindowCenter", bad),
                as_float(g("WindowWidth"), "WindowWidth", bad)),
        thickness=as_float(g("SliceThickness"), "SliceThickness", bad, positive=True),
        between=as_float(g("SpacingBetweenSlices"), "SpacingBetweenSlices", bad,
                         positive=True),
        slope=1.0 if slope is None else slope,
        intercept=0.0 if intercept is None else intercept,
        rescale_type=str(g("RescaleType") or "").strip(),
        units=str(g("Units") or "").strip(),
        bits_stored=as_int(g("BitsStored"), "BitsStored", bad) or
        as_int(g("BitsAllocated"), "BitsAllocated", bad) or 16,
        signed=as_int(g("PixelRepresentation"), "PixelRepresentation", bad) == 1,
        transfer_syntax=ts, sop_class=str(g("SOPClassUID") or ""),
        sop_instance=str(g("SOPInstanceUID") or ""), study=str(g("StudyInstanceUID") or ""),
        frame_of_reference=str(g("FrameOfReferenceUID") or ""),
        float_pixels=float_pixels,
    )


def scan_files(files: list[Path], pydicom: Any) -> Scan:
    """Group the DICOM image files by series (and stack); count what was skipped and why.

    Files that neither carry the DICOM magic nor a DICOM suffix (a README, a
    thumbnail) are not looked at, and DICOMDIR files are passed over silently.

    Examples
    --------
    >>> import tempfile, pydicom
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a.dcm").write_bytes(b"garbage" * 30); _ = (d / "notes.txt").write_text("x")
    >>> scan = scan_files(sorted(d.iterdir()), pydicom)
    >>> scan.looked_at, {k: [f.name for f in v] for k, v in scan.skipped.items()}, scan.groups
    (1, {'not DICOM': ['a.dcm']}, {})
    """
    scan = Scan()
    groups: dict[str, list[SliceHeader]] = defaultdict(list)
    skipped: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        magic = is_dicom_file(f)
        if not (magic or image_suffix(f) in DICOM_SUFFIXES):
            continue
        if f.name.upper() == "DICOMDIR":
            continue
        scan.looked_at += 1
        ds, reason, bad, float_pixels = read_header(f, pydicom, force=not magic)
        if ds is None:
            skipped[reason or "not DICOM"].append(f)
            continue
        sl = header(f, ds, bad, float_pixels)
        slices = [sl]
        if sl.frames > 1:
            slices, reason = frame_headers(sl, pydicom, bad)
            if reason:
                skipped[reason].append(f)
                continue
        scan.malformed.update(bad)
        for s in slices:
            groups[s.uid].append(s)
    scan.groups, scan.skipped = dict(groups), dict(skipped)
    return scan


def skipped_note(scan: Scan, folder: str,
                 extra: dict[str, list[Path]] | None = None) -> str | None:
    """One line: how many files were skipped and why, and which values were read as missing.

    Examples
    --------
    >>> s = Scan(skipped={"not DICOM": [Path("a"), Path("b")], "truncated": [Path("c")]},
    ...          looked_at=120)
    >>> skipped_note(s, "ct")
    'skipped 3 of 120 files in ct: 2 not DICOM, 1 truncated (a, b, c).'
    >>> skipped_note(Scan(looked_at=3), "ct") is None
    True
    """
    skipped = {k: list(v) for k, v in scan.skipped.items()}
    for k, v in (extra or {}).items():
        skipped.setdefault(k, []).extend(v)
    parts = []
    if skipped:
        n = sum(len(v) for v in skipped.values())
        order = sorted(skipped, key=lambda r: REASONS.index(r) if r in REASONS else 99)
        why = ", ".join(f"{len(skipped[r])} {r}" for r in order)
        paths = [p for r in order for p in skipped[r]]
        names = ", ".join(p.name for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
        parts.append(f"skipped {n} of {scan.looked_at} files in {folder}: {why} ({names})")
    if scan.malformed:
        tags = ", ".join(sorted(scan.malformed))
        parts.append(f"read malformed optional values as missing ({tags})")
    return "; ".join(parts) + "." if parts else None
