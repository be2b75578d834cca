"""DICOM SEG in: binary masks per segment, on the grid of the series they segment.

A DICOM Segmentation (SEG) object holds binary (or fractional) segments that
may overlap, each with a label, a coded category and type, a colour and an
algorithm, and references to the source series. highdicom reads it
(``pip install napari-segreview[dicom]``); it and pydicom are imported only
when a SEG is read.

How the masks are placed, first rule that applies:

1. the **source series is known** (the open image's DICOM references,
   :class:`SourceSeries`) and the SEG references its instances: mask ``k`` is
   the SEG's frame for slice ``k`` of the series (matched by SOP instance, and
   frame number for enhanced multi-frame sources), with the series' spacing
   and position;
2. the series is **found beside the SEG** (its folder, a folder in it, or a
   sibling folder): the same, from the headers of those files;
3. otherwise the SEG's **own geometry** (its frames' plane positions,
   orientation and pixel measures) places the masks, covering only the slices
   it holds; a note says so.

A SEG of another frame of reference than the given series is refused (one
sentence): the two do not share a patient coordinate system. A FRACTIONAL SEG
is thresholded at 0.5 (a note says so). Spacing and origin follow the image
reader (:mod:`napari_segreview.io.dicom`): axes along (slice normal, column
direction, row direction), so a SEG and its series overlay in napari.

The source series' headers (:class:`SourceSeries`, :func:`series_reference`,
read without pixels) are read by :mod:`napari_segreview.io.dicomseries`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._util.arrays import one_line
from napari_segreview.errors import MissingDependency, ReadError
from napari_segreview.io.dicomseries import (
    SourceSeries,
    series_beside,
    series_reference,  # noqa: F401 (importable here)
)

# SourceSeries and series_reference live in io/dicomseries.py; importable from here too
__all__ = ["SEG_CLASSES", "SEG_SOP_CLASS", "SegData", "SegNote", "Segment", "is_dicom_seg",
           "mask_digest", "read_seg", "seg_references"]

#: SOP Class UID of the Segmentation Storage IOD.
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
#: SEG SOP classes read here: Segmentation and Label Map Segmentation Storage.
SEG_CLASSES = (SEG_SOP_CLASS, "1.2.840.10008.5.1.4.1.1.66.7")
#: Masks of a FRACTIONAL SEG are on where the fraction is at least this.
THRESHOLD = 0.5


class SegNote(UserWarning):
    """What a reader assumed about a SEG (thresholded, placed by its own geometry).

    :func:`napari_segreview.io.arrayfiles.read_array` warns with the notes of
    :attr:`SegData.notes` in this category, so that the commands that read
    masks say them on stderr (the napari reader shows them as notifications).

    Examples
    --------
    >>> issubclass(SegNote, UserWarning)
    True
    """


def _need(module: str) -> Any:
    try:
        if module == "highdicom":
            import highdicom
            return highdicom
        import pydicom
        return pydicom
    except ImportError as exc:
        raise MissingDependency(f"reading DICOM SEG needs {module}: install "
                                f"napari-segreview[dicom] or pip install {module}.") from exc


def is_dicom_seg(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a DICOM SEG file (its file meta says Segmentation Storage).

    Only the 132-byte preamble and the file meta group are read, so this is
    cheap enough for a reader's "is this mine?" check.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "x.dcm"
    >>> _ = path.write_bytes(bytes(128) + b"DICM")
    >>> is_dicom_seg(path), is_dicom_seg(path.parent)
    (False, False)
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            if fh.read(132)[128:] != b"DICM":
                return False
    except OSError:
        return False
    try:
        from pydicom.filereader import read_file_meta_info
    except ImportError:
        return False
    try:
        meta = read_file_meta_info(path)
    except Exception:  # a broken meta group: not a SEG we can read
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) in SEG_CLASSES


@dataclass(frozen=True)
class Segment:
    """One segment's description: number, label, coded concepts, colour, algorithm."""

    number: int
    label: str
    category: tuple[str, str, str]          # (value, scheme, meaning)
    type: tuple[str, str, str]
    colour: tuple[int, int, int] | None     # RGB 0..255, from the recommended CIELab value
    algorithm_type: str                     # AUTOMATIC, SEMIAUTOMATIC or MANUAL
    algorithm_name: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (layer metadata)."""
        return {"number": self.number, "label": self.label, "category": list(self.category),
                "type": list(self.type), "colour": None if self.colour is None
                else list(self.colour), "algorithm_type": self.algorithm_type,
                "algorithm_name": self.algorithm_name}


@dataclass(frozen=True)
class SegData:
    """A SEG read into masks.

    Attributes
    ----------
    masks : ndarray (S, Z, Y, X) uint8
        One binary mask per segment, segment order.
    segments : tuple of Segment
    spacing, origin : tuple of float
        Voxel size and first voxel's position (napari order, mm).
    placed_by : {"series", "seg"}
        On the referenced series' grid, or by the SEG's own geometry.
    series : SourceSeries or None
        The series the masks are aligned with.
    referenced_series_uid, frame_of_reference_uid : str
    notes : tuple of str
        Sentences about what was assumed (own geometry, threshold).
    """

    source: Path
    masks: np.ndarray
    segments: tuple[Segment, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    placed_by: str
    series: SourceSeries | None
    referenced_series_uid: str
    frame_of_reference_uid: str
    fractional: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def labels(self) -> tuple[str, ...]:
        """The segment labels, in segment order."""
        return tuple(s.label for s in self.segments)


def mask_digest(mask: Any) -> str:
    """A short fingerprint of a binary mask (shape and which voxels are on).

    The SEG reader stores it with each segment's layer, so an export can tell
    whether a person changed the segment since it was read.

    Examples
    --------
    >>> a = np.zeros((2, 3), np.uint8)
    >>> b = a.copy(); b[1, 2] = 7
    >>> mask_digest(a) == mask_digest(a.astype(bool)), mask_digest(a) == mask_digest(b)
    (True, False)
    """
    import hashlib

    arr = np.asarray(mask)
    h = hashlib.sha1(repr(tuple(arr.shape)).encode())
    h.update(np.packbits(arr.reshape(-1) != 0).tobytes())
    return h.hexdigest()[:20]


# ----------------------------------------------------------------------------- reading


def _code(seq: Any) -> tuple[str, str, str]:
    try:
        c = seq[0]
        return (str(c.CodeValue), str(c.CodingSchemeDesignator), str(c.CodeMeaning))
    except (AttributeError, IndexError, TypeError):
        return ("", "", "")


def _segments(seg: Any, hd: Any) -> tuple[Segment, ...]:
    out = []
    for d in seg.SegmentSequence:
        if int(d.SegmentNumber) == 0:      # a LABELMAP SEG's background: no segment
            continue
        colour = None
        lab = d.get("RecommendedDisplayCIELabValue")
        if lab is not None:
            try:
                colour = tuple(int(v) for v in
                               hd.color.CIELabColor.from_dicom_value(tuple(lab)).to_rgb())
            except Exception:  # an odd colour value is no reason to refuse the masks
                colour = None
        algo = d.get("SegmentationAlgorithmIdentificationSequence")
        name = d.get("SegmentAlgorithmName") or (
            str(algo[0].get("AlgorithmName", "")) if algo else None)
        out.append(Segment(int(d.SegmentNumber), str(d.get("SegmentLabel", "") or
                                                       f"segment_{int(d.SegmentNumber)}"),
                           _code(d.get("SegmentedPropertyCategoryCodeSequence")),
                           _code(d.get("SegmentedPropertyTypeCodeSequence")), colour,
                           str(d.get("SegmentAlgorithmType", "") or ""), name or None))
    return tuple(out)


def _referenced(seg: Any) -> tuple[str, set[str]]:
    uid, sops = "", set()
    for s in seg.get("ReferencedSeriesSequence") or ():
        uid = uid or str(s.get("SeriesInstanceUID", ""))
        sops |= {str(i.ReferencedSOPInstanceUID) for i in s.get("ReferencedInstanceSequence")
                 or () if "ReferencedSOPInstanceUID" in i}
    return uid, sops


def seg_references(path: str | os.PathLike) -> tuple[str, str, set[str]]:
    """``(series UID, frame of reference UID, SOP instance UIDs)`` a SEG references.

    Only the header is read (no pixels): what a reader needs to find the
    open image the SEG belongs to.

    Raises
    ------
    ReadError
        The file is no readable DICOM SEG.
    """
    pydicom = _need("pydicom")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        uid, sops = _referenced(ds)
        sop_class = str(ds.get("SOPClassUID", ""))
    except Exception as exc:  # pydicom raises many types on broken files
        raise ReadError(f"{Path(path).name} is not a readable DICOM SEG ({one_line(exc, 120)}); "
                        "it may be truncated or not a segmentation: export it again.") from exc
    if sop_class not in SEG_CLASSES:
        raise ReadError(f"{Path(path).name} is not a DICOM SEG (its SOP class is "
                        f"{sop_class or 'missing'}); open a segmentation file.")
    return uid, str(ds.get("FrameOfReferenceUID", "") or ""), sops


def _binary(pixels: np.ndarray, fractional: bool) -> np.ndarray:
    """(Z, Y, X, S) pixels -> (S, Z, Y, X) uint8 masks."""
    stack = np.moveaxis(pixels, -1, 0)
    if fractional:
        return np.ascontiguousarray(stack >= THRESHOLD).view(np.uint8)
    return np.ascontiguousarray(stack != 0 if stack.dtype != np.uint8 else stack,
                                dtype=np.uint8)


def _on_series(seg: Any, series: SourceSeries, numbers: list[int], fractional: bool) -> Any:
    kw: dict[str, Any] = {"segment_numbers": numbers, "assert_missing_frames_are_empty": True,
                          "skip_overlap_checks": True}
    if fractional:
        kw["dtype"] = np.float32
    if all(f is None for f in series.frames):
        return seg.get_pixels_by_source_instance(list(series.sop_instance_uids), **kw)
    if len(set(series.sop_instance_uids)) != 1:
        raise ReadError("a series of several multi-frame files cannot be matched frame by "
                        "frame; open the SEG without the series to place it by its geometry.")
    return seg.get_pixels_by_source_frame(series.sop_instance_uids[0],
                                          [int(f) for f in series.frames], **kw)


def _own_geometry(seg: Any, numbers: list[int], fractional: bool, path: Path) -> tuple:
    """Masks (S, Z, Y, X), spacing and origin from the SEG's own frames."""
    try:
        vol = seg.get_volume(segment_numbers=numbers, skip_overlap_checks=True,
                             **({"dtype": np.float32} if fractional else {}))
    except Exception as exc:  # highdicom: frames that are no regular stack
        raise ReadError(f"the frames of {path.name} do not form a regular stack of slices "
                        f"({one_line(exc, 120)}) and the series it segments is not open or "
                        "beside it; open that series first, then the SEG.") from exc
    if vol is None:
        raise ReadError(f"the frames of {path.name} do not form a regular stack of slices "
                        "and the series it segments is not open or beside it; open that "
                        "series first, then the SEG.")
    masks = _binary(vol.array, fractional)
    aff = np.asarray(vol.affine, float)
    steps = [float(np.linalg.norm(aff[:3, i])) for i in range(3)]
    col_dir, row_dir = aff[:3, 1] / steps[1], aff[:3, 2] / steps[2]
    normal = np.cross(row_dir, col_dir)
    p0 = aff[:3, 3]
    if masks.shape[1] > 1 and float(aff[:3, 0] @ normal) < 0:   # slices run against the normal
        masks = np.ascontiguousarray(masks[:, ::-1])
        p0 = aff[:3, 3] + aff[:3, 0] * (masks.shape[1] - 1)
    spacing = (steps[0] if masks.shape[1] > 1 else 1.0, steps[1], steps[2])
    origin = (float(p0 @ normal), float(p0 @ col_dir), float(p0 @ row_dir))
    return masks, spacing, origin


def read_seg(path: str | os.PathLike, series: SourceSeries | None = None, *,
             look_beside: bool = True) -> SegData:
    """Read a DICOM SEG into one binary mask per segment (see the module docstring).

    Parameters
    ----------
    path : path-like
        The SEG file.
    series : SourceSeries, optional
        The series the SEG is to be aligned with (the open image).
    look_beside : bool
        Without ``series``: look for the referenced series next to the SEG.

    Raises
    ------
    ReadError
        Not a SEG, a corrupt one, another frame of reference than ``series``,
        frames that can be placed neither on a series nor by their geometry.
    """
    path = Path(path)
    hd = _need("highdicom")
    if not path.is_file():
        raise ReadError(f"{path} does not exist or is not a file; give the path of a DICOM "
                        "SEG file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seg = hd.seg.segread(path)
    except Exception as exc:  # pydicom and highdicom raise many types on broken files
        raise ReadError(f"{path.name} is not a readable DICOM SEG ({one_line(exc, 120)}); "
                        "it may be truncated or not a segmentation: export it again.") from exc
    segments = _segments(seg, hd)
    numbers = [s.number for s in segments]
    fractional = str(seg.SegmentationType) == "FRACTIONAL"
    notes = []
    if fractional:
        kind = seg.get("SegmentationFractionalType", "")
        notes.append(f"{path.name} is a FRACTIONAL SEG ({kind}); its segments were thresholded "
                     f"at {THRESHOLD} (on where the fraction is {THRESHOLD} or more).")
    ref_uid, ref_sops = _referenced(seg)
    frame_uid = str(seg.get("FrameOfReferenceUID", "") or "")
    if (series is not None and series.frame_of_reference_uid and frame_uid
            and series.frame_of_reference_uid != frame_uid):
        raise ReadError(f"{path.name} lies in another frame of reference than the image "
                        f"{series.name or series.series_uid!r} (another patient space), so it "
                        "is not placed on it; open the series it segments, or the SEG alone.")
    if series is None and look_beside and ref_uid:
        series = series_beside(path, ref_uid, ref_sops)
    try:
        if series is not None and (ref_sops & set(series.sop_instance_uids)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pixels = _on_series(seg, series, numbers, fractional)
            return SegData(path, _binary(pixels, fractional), segments, series.spacing,
                           series.origin, "series", series, ref_uid, frame_uid, fractional,
                           tuple(notes))
        if series is not None:
            notes.append(f"{path.name} does not reference the slices of "
                         f"{series.name or 'the open series'}; its masks are placed by the "
                         "SEG's own geometry (the same frame of reference).")
        else:
            notes.append(f"the series {path.name} segments was not found open or beside it, "
                         "so its masks are placed by the SEG's own geometry and cover only "
                         "the slices it holds; open that series first to align them with it.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            masks, spacing, origin = _own_geometry(seg, numbers, fractional, path)
    except ReadError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # highdicom on inconsistent frames
        raise ReadError(f"the frames of {path.name} cannot be read ({one_line(exc, 120)}); "
                        "the SEG is corrupt: export it again.") from exc
    return SegData(path, masks, segments, spacing, origin, "seg", None, ref_uid, frame_uid,
                   fractional, tuple(notes))
