"""DICOM SEG out: one Segmentation object per case, referencing the source DICOM series.

What :func:`export_seg_case` writes (with highdicom, never by hand):

* one SEG file per case, ``<folder>/<case>.seg.dcm`` (or the ``.dcm`` path
  given), written atomically;
* one **segment per channel** of the card's heads: a softmax head's classes
  (background left out; 255 *ignore* voxels are in no segment) and every
  sigmoid channel. Segments may overlap: the segmentation type is BINARY;
* frames matched to the source slices by SOP instance (the stack's slice
  ``k`` is the series' slice ``k``, stacked along the normal as the image
  reader stacks them); empty frames are left out;
* segment labels are the channel names; the algorithm is the model's name
  (the card's ``name``); each segment is **AUTOMATIC** when it is the model's
  decision as it came out, **SEMIAUTOMATIC** when a person corrected it
  (see :func:`corrected_channels`), **MANUAL** when no model made it (masks
  exported without a model card);
* coded concepts (segmented property category and type): the card's
  ``heads[].codes`` or the ``codes`` argument when given, else
  :func:`default_codes` (SNOMED CT: a few anatomy words by name, otherwise
  *Tissue*).

Only a case whose image came from a DICOM series can be exported as SEG: a
SEG points at the instances it segments.

The coded concepts are read and defaulted by :mod:`napari_segreview.targets.segcodes`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._util.arrays import one_line
from napari_segreview._util.files import atomic_write
from napari_segreview.errors import FormatError
from napari_segreview.io.dicomseg import mask_digest
from napari_segreview.io.dicomseries import SourceSeries, series_reference
from napari_segreview.targets.build import ExportCase, safe_name
from napari_segreview.targets.segcodes import (
    coded_concept,  # noqa: F401 (importable here)
    codes_for,
    default_codes,
)

# coded_concept and default_codes live in targets/segcodes.py; importable from here too
__all__ = ["SEG_FORMAT", "SEG_SUFFIX", "SegExportResult", "case_segments", "corrected_channels",
           "export_seg_case", "segment_origins", "write_seg"]

#: The export format's name (``segreview export --format dicom-seg``).
SEG_FORMAT = "dicom-seg"
#: What a case's SEG file is called: ``<case>.seg.dcm``.
SEG_SUFFIX = ".seg.dcm"


def _need() -> Any:
    try:
        import highdicom
    except ImportError as exc:
        raise FormatError("writing DICOM SEG needs highdicom: install napari-segreview[dicom] "
                          "or pip install highdicom.") from exc
    return highdicom


def case_segments(case: ExportCase) -> list[tuple[str, str, np.ndarray]]:
    """``(head, channel, mask)`` per segment of a case, in the card's order.

    Examples
    --------
    >>> from napari_segreview.targets.build import card_from_choices, build_targets
    >>> card = card_from_choices(["whole"], ["a", "b"])
    >>> ts = build_targets(card, {"channels": np.array([[[1, 1, 0]]]),
    ...                           "classes": np.array([[0, 2, 255]])}, (1, 3))
    >>> [(h, c, m.tolist()) for h, c, m in case_segments(ExportCase("x", np.zeros((1, 3)),
    ...                                                             ts, card))]
    [('channels', 'whole', [[1, 1, 0]]), ('classes', 'a', [[0, 0, 0]]), ('classes', 'b', \
[[0, 1, 0]])]
    """
    out = []
    for t in case.targets:
        if t.kind == "sigmoid":
            out.extend((t.head, c, t.data[i]) for i, c in enumerate(t.channels))
        else:
            out.extend((t.head, c, (t.data == k).view(np.uint8))
                       for k, c in enumerate(t.channels) if k)
    return out


def corrected_channels(layers: Sequence[tuple[Any, str, Mapping[str, Any]]]) -> dict[str, bool]:
    """Which channels a person corrected: layer data vs the model's ``prediction`` copy.

    ``layers`` are ``(data, name, segreview metadata)``. A decision layer
    keeps the model's decision as it came out (``prediction``); a channel is
    corrected when any voxel differs (a label map: per class). A layer read
    from a DICOM SEG (``segment`` metadata with the mask's ``digest``) is
    corrected when its mask changed since. Other layers are left out.

    Examples
    --------
    >>> pred = np.array([0, 1, 2])
    >>> corrected_channels([(np.array([0, 1, 1]), "parts", {"prediction": pred,
    ...                      "classes": ["background", "a", "b"]}),
    ...                     (np.array([1, 0]), "w", {"prediction": np.array([1, 0]),
    ...                      "channel": "whole"})])
    {'a': True, 'b': True, 'whole': False}
    """
    out: dict[str, bool] = {}
    for data, name, m in layers:
        pred = m.get("prediction")
        seg = m.get("segment")
        if pred is None and isinstance(seg, Mapping) and seg.get("digest"):
            # a segment read from a SEG: changed since it was read?
            out[str(m.get("channel") or name)] = mask_digest(data) != seg["digest"]
            continue
        if pred is None:
            continue
        data, pred = np.asarray(data), np.asarray(pred)
        if data.shape != pred.shape:
            continue
        classes = m.get("classes")
        if classes and m.get("channel") is None:
            for k, c in enumerate(classes):
                if k:
                    out[str(c)] = bool(((data == k) != (pred == k)).any())
        else:
            out[str(m.get("channel") or name)] = bool(((data != 0) != (pred != 0)).any())
    return out


def segment_origins(layers: Sequence[tuple[Any, str, Mapping[str, Any]]]) -> dict[str, dict]:
    """Channel -> segment description, for layers read from a DICOM SEG (``segment`` metadata).

    Examples
    --------
    >>> segment_origins([(None, "liver", {"channel": "liver", "segment": {"label": "liver",
    ...     "algorithm_type": "AUTOMATIC", "algorithm_name": "TotalSegmentator"}}),
    ...     (None, "gt", {"channel": "gt"})])["liver"]["algorithm_name"]
    'TotalSegmentator'
    """
    return {str(m.get("channel") or name): dict(m["segment"]) for _, name, m in layers
            if isinstance(m.get("segment"), Mapping)}


@dataclass
class SegExportResult:
    """What one :func:`export_seg_case` wrote."""

    folder: Path
    case: str
    files: list[Path]
    segments: list[tuple[str, str]]          # (label, algorithm type)
    statistics: dict[str, Any]
    series_uid: str

    def summary(self) -> str:
        """One line for the CLI and the widget."""
        kinds = sorted({t for _, t in self.segments})
        return (f"wrote DICOM SEG {self.files[0]} ({len(self.segments)} segments, "
                f"{'/'.join(kinds)}) for case {self.case!r}, referencing series "
                f"{self.series_uid}")


def _source(case: ExportCase, dicom: Mapping[str, Any] | None) -> SourceSeries:
    spatial = case.spatial_shape
    spacing = case.spacing or (1.0,) * len(spatial)
    if dicom:
        return SourceSeries.from_metadata(dict(dicom), spatial, spacing, (0.0,) * len(spatial),
                                          case.name)
    src = Path(case.source) if case.source else None
    if src is None or not src.exists() or src.suffix.lower() in (
            ".tif", ".tiff", ".nii", ".gz", ".npy", ".npz", ".png", ".jpg", ".jpeg"):
        raise FormatError(f"the image of case {case.name!r} did not come from a DICOM series "
                          f"({case.source or 'no file'}), and a DICOM SEG references the DICOM "
                          "slices it segments; export it as tif, npz or nnunet, or open the "
                          "DICOM series.")
    try:
        return series_reference(src)
    except FormatError as exc:
        raise FormatError(f"the image of case {case.name!r} ({src}) is not a readable DICOM "
                          f"series ({str(exc).rstrip('.')}), and a DICOM SEG references the "
                          "DICOM slices it segments; export it as tif, npz or nnunet.") from exc


def _source_datasets(series: SourceSeries) -> list[Any]:
    import pydicom

    files = list(dict.fromkeys(series.files))
    if len(files) != (1 if series.frames[0] is not None else len(series.sop_instance_uids)):
        raise FormatError("the image's DICOM references do not name one file per slice; "
                          "open the DICOM series again and export from there.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    except Exception as exc:  # moved or broken source files
        raise FormatError(f"cannot read the source DICOM files again ({one_line(exc, 120)}); "
                          "keep the series where it was opened from.") from exc


def _frame_order(series: SourceSeries, ds: Any, n: int) -> list[int] | None:
    """For a multi-frame source: stack index per frame of the file, or None."""
    if series.frames[0] is None:
        return None
    frames = [int(f) for f in series.frames]
    total = int(ds.get("NumberOfFrames", 1) or 1)
    if sorted(frames) != list(range(1, total + 1)) or len(frames) != n:
        raise FormatError("the image is part of a multi-frame DICOM file that holds other "
                          "frames too, which SegReview cannot reference as SEG yet; export as "
                          "tif, npz or nnunet.")
    return [frames.index(f) for f in range(1, total + 1)]


def _algorithm(hd: Any, name: str, version: str) -> Any:
    from pydicom.sr.codedict import codes as dcm_codes

    return hd.AlgorithmIdentificationSequence(
        name=str(name)[:64], family=dcm_codes.cid7162.ArtificialIntelligence,
        version=str(version)[:64] or "unknown")


def _description(hd: Any, number: int, label: str, ident: Any, fixed: bool, spec: Any,
                 colour: Any, origin: Mapping[str, Any] | None, version: str) -> Any:
    """One SegmentDescription; a segment read from a SEG keeps its algorithm, codes, colour."""
    base = default_codes(label)
    if origin is not None:
        for key in ("category", "type"):
            if origin.get(key) and all(origin[key]):
                base[key] = tuple(str(v) for v in origin[key])
        colour = origin.get("colour") or colour
        was = origin.get("algorithm_type")
        if was in ("AUTOMATIC", "SEMIAUTOMATIC") and origin.get("algorithm_name"):
            ident = _algorithm(hd, origin["algorithm_name"], version)
        elif was == "MANUAL":
            ident = None
    kind = "MANUAL" if ident is None else ("SEMIAUTOMATIC" if fixed else "AUTOMATIC")
    if origin is not None and origin.get("algorithm_type") == "SEMIAUTOMATIC":
        kind = "SEMIAUTOMATIC" if ident is not None else kind
    c = codes_for(label, (f"codes[{label!r}]", spec), base=base)
    kw: dict[str, Any] = {}
    if colour is not None:
        kw["display_color"] = hd.color.CIELabColor.from_rgb(*[int(v) for v in colour[:3]])
    return hd.seg.SegmentDescription(
        segment_number=number, segment_label=label,
        segmented_property_category=hd.sr.CodedConcept(*c["category"]),
        segmented_property_type=hd.sr.CodedConcept(*c["type"]),
        algorithm_type=kind, algorithm_identification=ident, **kw)


def write_seg(path: str | os.PathLike, masks: Sequence[np.ndarray], labels: Sequence[str],
              series: SourceSeries, *, algorithm: str | None = None,
              corrected: bool | Mapping[str, bool] = False,
              codes: Mapping[str, Any] | None = None,
              colours: Mapping[str, Sequence[int]] | None = None,
              description: str | None = None, overwrite: bool = False,
              version: str = "unknown",
              origins: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, str]:
    """Write binary ``masks`` (one per label, on the series' grid) as one SEG, atomically.

    Parameters
    ----------
    masks : sequence of arrays ``(Z, Y, X)`` (or ``(Y, X)`` for one slice)
        One binary mask per segment; they may overlap.
    labels : sequence of str
        Segment labels (at most 64 characters each).
    series : SourceSeries
        The source series; slice ``k`` of each mask is its slice ``k``.
    algorithm : str, optional
        The model's name; None: the segments are MANUAL.
    corrected : bool or mapping label -> bool
        With ``algorithm``: SEMIAUTOMATIC where True, AUTOMATIC otherwise.
    codes : mapping label -> {"category": ..., "type": ...}, optional
        Coded concepts (see :func:`coded_concept`); others by :func:`default_codes`.
    colours : mapping label -> RGB (0..255), optional
    origins : mapping label -> segment description, optional
        Segments read from a SEG (:meth:`~napari_segreview.io.dicomseg.Segment.to_dict`,
        a layer's ``segment`` metadata): they keep their algorithm (SEMIAUTOMATIC
        once corrected), coded concepts (unless ``codes`` names them) and colour.

    Returns
    -------
    dict label -> algorithm type written.

    Raises
    ------
    FormatError
        Masks not on the series' grid or not binary, bad labels, a file that exists.
    """
    hd = _need()
    path = Path(path)
    stack = [np.asarray(m) for m in masks]
    if len(stack) != len(labels) or not stack:
        raise FormatError("give one mask per segment label, and at least one.")
    grid = tuple(series.shape)
    stack = [m[None] if m.ndim == 2 else m for m in stack]
    for label, m in zip(labels, stack, strict=True):
        if tuple(m.shape) != grid:
            raise FormatError(f"the mask {label!r} has the voxel grid {tuple(m.shape)} but the "
                              f"DICOM series {grid}; export masks made on that series.")
        if len(label) > 64 or "\\" in label or not label.strip():
            raise FormatError(f"the segment label {label!r} must be 1 to 64 characters without "
                              "a backslash; rename that channel.")
    if not overwrite and path.exists():
        raise FormatError(f"{path} already exists; choose another folder or allow replacing it.")
    datasets = _source_datasets(series)
    order = _frame_order(series, datasets[0], grid[0])
    # (S, Z, Y, X) contiguous seen as (Z, Y, X, S): highdicom takes one segment at a time,
    # and each segment's frames stay contiguous (a C-ordered (Z, Y, X, S) copy is 3x slower)
    pixels = np.moveaxis(np.stack([m != 0 for m in stack]).view(np.uint8), 0, -1)
    if order is not None:
        pixels = pixels[order]
    ident = None
    if algorithm:
        ident = _algorithm(hd, algorithm, version)
    kinds: dict[str, str] = {}
    descs = []
    for i, label in enumerate(labels):
        fixed = corrected.get(label, False) if isinstance(corrected, Mapping) else corrected
        desc = _description(hd, i + 1, label, ident, bool(fixed), (codes or {}).get(label),
                            (colours or {}).get(label), (origins or {}).get(label), version)
        kinds[label] = str(desc.SegmentAlgorithmType)
        descs.append(desc)
    from napari_segreview import __version__

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seg = hd.seg.Segmentation(
                source_images=datasets, pixel_array=pixels, segmentation_type="BINARY",
                segment_descriptions=descs, series_instance_uid=hd.UID(), series_number=901,
                sop_instance_uid=hd.UID(), instance_number=1, manufacturer="napari-segreview",
                manufacturer_model_name="SegReview", software_versions=__version__,
                device_serial_number="0", content_description=(description or "")[:64] or None,
                omit_empty_frames=True)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise FormatError(f"highdicom refused to build the SEG ({one_line(exc, 160)}); the "
                          "source DICOM headers lack what a SEG needs.") from exc
    try:
        atomic_write(path, lambda fh: seg.save_as(fh), overwrite=overwrite)
    except FileExistsError as exc:
        raise FormatError(f"{path} already exists; choose another folder or allow replacing "
                          "it.") from exc
    except OSError as exc:
        raise FormatError(f"could not write {path} ({exc.strerror or one_line(exc)}); check "
                          "that the folder is writable and the disk is not full.") from exc
    return kinds


def export_seg_case(out: str | os.PathLike, case: ExportCase, *,
                    dicom: Mapping[str, Any] | None = None,
                    codes: Mapping[str, Any] | None = None,
                    corrected: bool | Mapping[str, bool] = False,
                    colours: Mapping[str, Sequence[int]] | None = None,
                    origins: Mapping[str, Mapping[str, Any]] | None = None,
                    overwrite: bool = False) -> SegExportResult:
    """Write the case as one DICOM SEG referencing its source series.

    Parameters
    ----------
    out : path
        A folder (created if missing; the file is ``<case>.seg.dcm``) or a
        ``.dcm`` file path.
    case : ExportCase
        The targets (every channel becomes a segment) and the image's
        ``source`` (the DICOM folder or file it was read from).
    dicom : mapping, optional
        The image layer's DICOM references (``metadata["segreview"]["dicom"]``);
        without it the source series' headers are read from ``case.source``.
    codes : mapping channel -> {"category": ..., "type": ...}, optional
        Coded concepts; they override the card's ``heads[].codes``.
    corrected : bool or mapping channel -> bool
        Which segments a person corrected (SEMIAUTOMATIC); see
        :func:`corrected_channels`.
    origins : mapping channel -> segment description, optional
        Channels read from a DICOM SEG (:func:`segment_origins`): they keep
        its algorithm, coded concepts and colour (see :func:`write_seg`).

    Raises
    ------
    FormatError
        One sentence, before anything is written: an image not from DICOM,
        masks not on its grid, a file that exists, bad codes.
    """
    from napari_segreview.targets.classstats import count_target, statistics_from_counts

    out = Path(out)
    name = safe_name(case.name, "case name")
    path = out if out.suffix.lower() == ".dcm" else out / f"{name}{SEG_SUFFIX}"
    if not path.parent.parent.is_dir() or (path.parent.exists() and not path.parent.is_dir()):
        raise FormatError(f"the folder {path.parent.parent} does not exist; create it first.")
    series = _source(case, dicom)
    segs = case_segments(case)
    card_codes: dict[str, Any] = {}
    for h in case.card.heads:
        for ch, spec in (getattr(h, "codes", None) or {}).items():
            card_codes[str(ch)] = spec
    merged = {**card_codes, **(codes or {})}
    algorithm = None if case.card.name == "by-hand" else case.card.name
    created = not path.parent.exists()
    path.parent.mkdir(exist_ok=True)
    try:
        kinds = write_seg(path, [m for _, _, m in segs], [c for _, c, _ in segs], series,
                          algorithm=algorithm, corrected=corrected, codes=merged,
                          colours=colours, description=f"SegReview {case.card.name}",
                          overwrite=overwrite, origins=origins)
    except BaseException:
        if created:
            path.parent.rmdir()          # a new folder goes again: nothing half-written
        raise
    stats = statistics_from_counts([{t.head: count_target(t) for t in case.targets}])
    return SegExportResult(path.parent, name, [path], list(kinds.items()), stats,
                           series.series_uid)
