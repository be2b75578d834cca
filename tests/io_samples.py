"""Test data for the readers, written with the libraries themselves (pydicom, nibabel).

Every writer takes the values the test expects to read back (HU, positions) and
encodes them the way a scanner would; nothing here uses the code under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def tilted_orientation(degrees: float) -> tuple[float, ...]:
    """Row direction along x, column direction tilted by ``degrees`` about x (gantry tilt)."""
    t = np.deg2rad(degrees)
    row = (1.0, 0.0, 0.0)
    col = (0.0, round(np.cos(t), 6), round(-np.sin(t), 6))
    return tuple(row) + tuple(col)


def write_ct_series(
    folder: Path,
    hu: np.ndarray,
    *,
    pixel_spacing=(0.7, 0.6),
    step: float = 2.5,
    origin=(-100.0, -120.0, 30.0),
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    slope: float = 1.0,
    intercept: float = -1024.0,
    window=(40.0, 400.0),
    series_uid: str | None = None,
    series_number: int = 1,
    description: str = "CT test",
    names: list[str] | None = None,
    instances: list[int] | None = None,
    modality: str = "CT",
) -> list[Path]:
    """Write ``hu[k]`` at ``origin + k * step * normal``, one file per slice.

    ``names[k]`` and ``instances[k]`` are slice k's file name and InstanceNumber
    (default: shuffled names, instance numbers in reverse order), so neither
    matches the position order unless the test says so.
    """
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    z = len(hu)
    rng = np.random.default_rng(z)
    if names is None:
        perm = rng.permutation(z)
        names = [f"IM{int(p):04d}" for p in perm]          # no suffix, shuffled
    if instances is None:
        instances = [z - k for k in range(z)]             # reverse of the position order
    raw = (np.asarray(hu, np.float64) - intercept) / slope
    assert np.allclose(raw, np.round(raw)), "HU must be encodable with this slope/intercept"
    raw = np.round(raw).astype(np.int64)
    signed = raw.min() < 0
    raw = raw.astype(np.int16 if signed else np.uint16)
    row, col = np.array(orientation[:3]), np.array(orientation[3:])
    normal = np.cross(row, col)
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    paths = []
    for k in range(z):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description
        ds.Modality = modality
        ds.InstanceNumber = int(instances[k])
        pos = np.asarray(origin, float) + k * step * normal
        ds.ImagePositionPatient = [round(float(v), 4) for v in pos]
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.PixelSpacing = [float(v) for v in pixel_spacing]
        ds.SliceThickness = 5.0                     # deliberately not the slice distance
        ds.Rows, ds.Columns = hu.shape[1:]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = int(signed)
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = window
        ds.PixelData = np.ascontiguousarray(raw[k]).tobytes()
        path = folder / names[k]
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    assert pydicom.dcmread(paths[0]).pixel_array.shape == hu.shape[1:]
    return paths


def ct_volume(shape=(5, 12, 10), seed=0) -> np.ndarray:
    """int16 HU values from -1024 to 2000, every slice different."""
    rng = np.random.default_rng(seed)
    vol = rng.integers(-1024, 2000, size=shape).astype(np.int16)
    vol[:, 0, 0] = np.arange(shape[0]) * 10       # slice k is recognisable by its corner
    return vol
