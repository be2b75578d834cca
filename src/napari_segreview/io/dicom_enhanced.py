"""Multi-frame DICOM (enhanced CT/MR, classic multi-frame): one slice header per frame.

An enhanced CT or MR file holds every slice of a series as frames, each
described by its *functional groups*: the per-frame group of a frame, else
the shared group, gives its

- plane position (``PlanePositionSequence > ImagePositionPatient``),
- plane orientation (``PlaneOrientationSequence > ImageOrientationPatient``),
- pixel measures (``PixelMeasuresSequence > PixelSpacing``, ``SliceThickness``,
  ``SpacingBetweenSlices``),
- rescale (``PixelValueTransformationSequence > RescaleSlope``,
  ``RescaleIntercept``, ``RescaleType``) and window (``FrameVOILUTSequence``),
- stack and dimension indices (``FrameContentSequence > StackID``,
  ``InStackPositionNumber``, ``DimensionIndexValues``).

Each frame becomes a :class:`~napari_segreview.io.dicom_values.SliceHeader`,
so frames are stacked along the slice normal exactly as the files of a
single-frame series are. Frames of several stacks (``StackID``) or of several
values of a non-spatial dimension (time, b-value: any dimension other than
the stack, the in-stack position and the plane position) are put in groups
of their own, which the reader opens as separate images like the series of a
mixed folder. A classic multi-frame file (RT dose, NM) without functional
groups places its frames with ``GridFrameOffsetVector`` when it has one, else
in frame order.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from napari_segreview.io.dicom_values import SliceHeader, as_float, as_floats, as_int

__all__ = ["frame_headers"]

#: Dimension pointers that say where a frame is in its stack (not a separate stack).
_SPATIAL = {0x00209057, 0x00200032, 0x00209056}   # InStackPosition, ImagePosition, StackID


def _item(group: Any, sequence: str) -> Any:
    try:
        seq = group.get(sequence) if group is not None else None
        return seq[0] if seq else None
    except Exception:
        return None


def _value(per: Any, shared: Any, sequence: str, keyword: str, bad: set[str]) -> Any:
    """``keyword`` of the frame's ``sequence`` item, else of the shared one, else None."""
    for group in (per, shared):
        item = _item(group, sequence)
        if item is None:
            continue
        try:
            value = item.get(keyword)
        except Exception:
            bad.add(keyword)
            continue
        if value is not None and value != "":
            return value
    return None


def _keyword(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _dimension_pointers(ds: Any) -> list[int]:
    try:
        return [int(item.DimensionIndexPointer) for item in ds.get("DimensionIndexSequence")
                or []]
    except Exception:
        return []


def frame_headers(sl: SliceHeader, pydicom: Any,
                  bad: set[str]) -> tuple[list[SliceHeader], str | None]:
    """One header per frame of the multi-frame file ``sl.path``, or ``([], reason)``.

    Parameters
    ----------
    sl : SliceHeader
        The file-level header (values outside the functional groups).
    pydicom : module
    bad : set of str
        Keywords of malformed values read as missing (added to).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(sl.path, stop_before_pixels=True, force=True)
    except Exception:
        return [], "truncated"
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    if per_frame and len(per_frame) != sl.frames:
        per_frame = []  # a count that does not match: trust no frame's groups
        bad.add("PerFrameFunctionalGroupsSequence")
    pointers = _dimension_pointers(ds)
    offsets = as_floats(ds.get("GridFrameOffsetVector"), sl.frames, "GridFrameOffsetVector",
                        bad) if not per_frame else None
    out = []
    for k in range(sl.frames):
        per = per_frame[k] if per_frame else None
        out.append(_frame(sl, k, per, shared, pointers, offsets, bad))
    labels = {s.stack for s in out}
    if len(labels) == 1:
        out = [replace(s, stack="", uid=f"{sl.uid}|{sl.sop_instance}") for s in out]
    return out, None


def _frame(sl: SliceHeader, k: int, per: Any, shared: Any, pointers: list[int],
           offsets: tuple[float, ...] | None, bad: set[str]) -> SliceHeader:
    v = lambda seq, kw: _value(per, shared, seq, kw, bad)  # noqa: E731
    position = as_floats(v("PlanePositionSequence", "ImagePositionPatient"), 3,
                         "ImagePositionPatient", bad)
    orientation = as_floats(v("PlaneOrientationSequence", "ImageOrientationPatient"), 6,
                            "ImageOrientationPatient", bad) or sl.orientation
    if position is None and per is None and shared is None:
        position = sl.position
        if offsets is not None and sl.position is not None and orientation is not None:
            normal = np.cross(orientation[:3], orientation[3:])
            position = tuple(float(p) for p in np.asarray(sl.position) + offsets[k] * normal)
    spacing = as_floats(v("PixelMeasuresSequence", "PixelSpacing"), 2, "PixelSpacing",
                        bad, positive=True) or sl.pixel_spacing
    thickness = as_float(v("PixelMeasuresSequence", "SliceThickness"), "SliceThickness", bad,
                         positive=True)
    between = as_float(v("PixelMeasuresSequence", "SpacingBetweenSlices"),
                       "SpacingBetweenSlices", bad, positive=True)
    slope = as_float(v("PixelValueTransformationSequence", "RescaleSlope"), "RescaleSlope", bad)
    intercept = as_float(v("PixelValueTransformationSequence", "RescaleIntercept"),
                         "RescaleIntercept", bad)
    rtype = v("PixelValueTransformationSequence", "RescaleType")
    center = as_float(v("FrameVOILUTSequence", "WindowCenter"), "WindowCenter", bad)
    width = as_float(v("FrameVOILUTSequence", "WindowWidth"), "WindowWidth", bad)
    stack_id = v("FrameContentSequence", "StackID")
    in_stack = as_int(v("FrameContentSequence", "InStackPositionNumber"),
                      "InStackPositionNumber", bad)
    index = v("FrameContentSequence", "DimensionIndexValues")
    label = f"stack {stack_id}" if stack_id not in (None, "") else ""
    if index is not None and pointers:
        values = list(index) if not isinstance(index, (int, str)) else [index]
        extra = [f"{_keyword(ptr)} {val}" for ptr, val in zip(pointers, values, strict=False)
                 if ptr not in _SPATIAL]
        if extra:
            label = " ".join([label, *extra]).strip()
    return replace(
        sl, uid=f"{sl.uid}|{sl.sop_instance}|{label}", position=position,
        orientation=orientation, pixel_spacing=spacing,
        thickness=sl.thickness if thickness is None else thickness,
        between=sl.between if between is None else between,
        slope=sl.slope if slope is None else slope,
        intercept=sl.intercept if intercept is None else intercept,
        rescale_type=str(rtype).strip() if rtype else sl.rescale_type,
        window=(center, width) if center is not None and width else sl.window,
        instance=in_stack if in_stack is not None else k + 1,
        frame=k + 1, stack=label,
    )
