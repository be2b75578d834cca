"""DICOM test data beyond io_samples: compressed syntaxes, malformed values, enhanced CT.

Everything is written with pydicom (and its encoder plugins) from values the
test knows; nothing here uses the code under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
STACK_ID = 0x00209056
IN_STACK = 0x00209057
TEMPORAL = 0x00209128


def reference_values(path: Path) -> np.ndarray:
    """pydicom's own reading: ``pixel_array * RescaleSlope + RescaleIntercept`` (float64)."""
    import pydicom

    ds = pydicom.dcmread(path)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return ds.pixel_array.astype(np.float64) * slope + intercept


def position_order(paths: list[Path]) -> list[Path]:
    """The files sorted along their slice normal (computed here with numpy)."""
    import pydicom

    def key(p):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        o = np.array(ds.ImageOrientationPatient, float)
        return float(np.dot(np.array(ds.ImagePositionPatient, float), np.cross(o[:3], o[3:])))

    return sorted(paths, key=key)


def transcode(paths: list[Path], syntax: str) -> list[Path]:
    """Rewrite each file in ``syntax`` (a transfer syntax UID) with pydicom, in place."""
    import pydicom
    from pydicom import uid

    for p in paths:
        ds = pydicom.dcmread(p)
        if syntax == uid.ExplicitVRBigEndian:
            arr = ds.pixel_array
            ds.file_meta.TransferSyntaxUID = syntax
            ds.PixelData = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
            pydicom.dcmwrite(p, ds, implicit_vr=False, little_endian=False,
                             force_encoding=True)
        elif syntax in (uid.ImplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian):
            ds.file_meta.TransferSyntaxUID = syntax
            ds.save_as(p, enforce_file_format=True)
        else:
            ds.compress(syntax)
            ds.save_as(p, enforce_file_format=True)
    return paths


def set_raw(path: Path, keyword: str, value: bytes) -> None:
    """Store ``value`` as the raw bytes of ``keyword``, however malformed (``b'1A'`` in an IS)."""
    import pydicom
    from pydicom.datadict import dictionary_VR
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    ds = pydicom.dcmread(path)
    tag = Tag(keyword)
    if len(value) % 2:
        value += b" "
    ds[tag] = RawDataElement(tag, dictionary_VR(tag), len(value), value, 0, False, True)
    ds.save_as(path)


def write_enhanced_ct(path: Path, hu: np.ndarray, *, step: float = 2.0,
                      origin=(-50.0, -60.0, 10.0), pixel_spacing=(0.8, 0.7),
                      orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
                      slopes=None, intercepts=None, stacks: int = 1, times: int = 1,
                      shared_rescale: bool = False, seed: int = 0,
                      syntax: str | None = None) -> dict:
    """Write an Enhanced CT Image file; frames in shuffled order, described per frame.

    ``hu`` is ``(stacks * times * z, rows, cols)``: for stack s, time t, slice k
    the frame holding ``hu[(s * times + t) * z + k]`` at position
    ``origin + k * step * normal`` (stack s shifted by 100 mm along x). Each
    frame has its own slope/intercept unless ``shared_rescale``. Returns
    ``{"frames": order, "slopes": ..., "intercepts": ...}`` with order[i] the
    index in ``hu`` of frame i.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    n, rows, cols = hu.shape
    z = n // (stacks * times)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    if slopes is None:
        slopes = np.ones(n) if shared_rescale else rng.choice([1.0, 2.0], size=n)
    if intercepts is None:
        intercepts = np.full(n, -1024.0) if shared_rescale else rng.choice(
            [-1024.0, -1000.0], size=n)
    raw = np.empty((n, rows, cols), np.int64)
    for i in range(n):
        r = (hu[i].astype(np.float64) - intercepts[i]) / slopes[i]
        assert np.allclose(r, np.round(r)), "HU must be encodable with the frame's rescale"
        raw[i] = np.round(r)
    assert raw.min() >= -32768 and raw.max() <= 32767
    row, col = np.array(orientation[:3]), np.array(orientation[3:])
    normal = np.cross(row, col)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ENHANCED_CT
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = ENHANCED_CT, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 5, 1
    ds.SeriesDescription = "enhanced"
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, n
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    dims = [(STACK_ID, 0x00209111), (IN_STACK, 0x00209111)]
    if times > 1:
        dims.insert(1, (TEMPORAL, 0x00209111))
    ds.DimensionIndexSequence = Sequence([_dim(ptr, grp) for ptr, grp in dims])
    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing, pm.SliceThickness = [float(v) for v in pixel_spacing], 5.0
    po = Dataset()
    po.ImageOrientationPatient = [float(v) for v in orientation]
    shared.PixelMeasuresSequence, shared.PlaneOrientationSequence = Sequence([pm]), Sequence([po])
    if shared_rescale:
        shared.PixelValueTransformationSequence = Sequence(
            [_rescale(slopes[0], intercepts[0])])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for i in order:
        s, rest = divmod(int(i), times * z)
        t, k = divmod(rest, z)
        item = Dataset()
        pp = Dataset()
        pos = np.asarray(origin, float) + k * step * normal + (100.0 * s, 0.0, 0.0)
        pp.ImagePositionPatient = [round(float(v), 4) for v in pos]
        item.PlanePositionSequence = Sequence([pp])
        if not shared_rescale:
            item.PixelValueTransformationSequence = Sequence(
                [_rescale(slopes[i], intercepts[i])])
        fc = Dataset()
        fc.StackID, fc.InStackPositionNumber = str(s + 1), k + 1
        fc.DimensionIndexValues = [s + 1, t + 1, k + 1] if times > 1 else [s + 1, k + 1]
        if times > 1:
            fc.TemporalPositionIndex = t + 1
        item.FrameContentSequence = Sequence([fc])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = np.ascontiguousarray(raw[order].astype(np.int16)).tobytes()
    if syntax is not None:
        ds.compress(syntax)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return {"frames": order, "slopes": slopes, "intercepts": intercepts}


def _dim(pointer: int, group: int):
    from pydicom.dataset import Dataset

    d = Dataset()
    d.DimensionIndexPointer, d.FunctionalGroupPointer = pointer, group
    return d


def _rescale(slope: float, intercept: float):
    from pydicom.dataset import Dataset

    d = Dataset()
    d.RescaleSlope, d.RescaleIntercept, d.RescaleType = float(slope), float(intercept), "HU"
    return d
