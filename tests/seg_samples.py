"""Source CT series and DICOM SEG files for the SEG tests, written with pydicom and highdicom.

Nothing here uses the code under test: :func:`write_source_series` encodes a
CT series the way a scanner would (one file per slice, shuffled names,
InstanceNumber against the position order), :func:`highdicom_seg` writes a
SEG from known masks with highdicom's own calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Series:
    """A written source series: files in position order (slice k of the stack is files[k])."""

    files: list[Path]
    sop_uids: list[str]
    series_uid: str
    study_uid: str
    frame_uid: str
    spacing: tuple[float, float, float]       # z, y, x
    origin: tuple[float, float, float]        # patient position of the first voxel
    shape: tuple[int, int, int]

    @property
    def folder(self) -> Path:
        return self.files[0].parent

    def datasets(self):
        """The headers, in position order (pixels not read)."""
        import pydicom

        return [pydicom.dcmread(f, stop_before_pixels=True) for f in self.files]


def write_source_series(folder: Path, shape=(6, 12, 10), *, spacing=(2.5, 0.7, 0.6),
                        origin=(-100.0, -120.0, 30.0), frame_uid: str | None = None,
                        seed: int = 0, hu: np.ndarray | None = None) -> Series:
    """A CT series of ``shape`` (slices, rows, columns), axial, z rising with the slice index.

    ``hu``: the HU values to store (default random), e.g. the CT phantom's.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    z, rows, cols = shape
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 3000, size=shape).astype(np.uint16)
    if hu is not None:
        shape, raw = tuple(hu.shape), (np.asarray(hu, np.int32) + 1024).clip(0).astype(np.uint16)
        z, rows, cols = shape
    series_uid, study_uid = generate_uid(), generate_uid()
    frame_uid = frame_uid or generate_uid()
    perm = rng.permutation(z)
    files, uids = [], []
    for k in range(z):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.PatientName, ds.PatientID = "Test^Phantom", "P001"
        ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.StudyDate, ds.StudyTime, ds.StudyID = "20260101", "120000", "1"
        ds.AccessionNumber, ds.ReferringPhysicianName = "A1", ""
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 3, z - k
        ds.Manufacturer = "TestScanner"
        ds.ImagePositionPatient = [float(origin[0]), float(origin[1]),
                                   float(origin[2]) + k * spacing[0]]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[2])]
        ds.SliceThickness = float(spacing[0])
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 0
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1.0, -1024.0, "HU"
        ds.PixelData = np.ascontiguousarray(raw[k]).tobytes()
        path = folder / f"IM{int(perm[k]):04d}"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
        uids.append(str(ds.SOPInstanceUID))
    return Series(files, uids, series_uid, study_uid, frame_uid, tuple(map(float, spacing)),
                  tuple(map(float, origin)), tuple(shape))


def random_masks(n: int, shape, seed: int = 1, overlap: bool = True) -> np.ndarray:
    """``n`` binary uint8 masks of ``shape``, blobs that overlap (when asked) and empty slices."""
    rng = np.random.default_rng(seed)
    masks = (rng.random((n, *shape)) > 0.6).astype(np.uint8)
    masks[:, 0] = 0                                   # an empty first slice for everyone
    if overlap and n > 1:
        masks[1][masks[0] == 1] = 1                       # 1 contains 0 where 0 is on
    return masks


def highdicom_seg(series: Series, masks: np.ndarray, labels, *, seg_type: str = "BINARY",
                  path: Path | None = None, colours=None):
    """A SEG of ``masks`` (S, Z, Y, X) over ``series``, written with highdicom alone."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algo = hd.AlgorithmIdentificationSequence(
        name="test-algo", family=codes.cid7162.ArtificialIntelligence, version="1.0")
    descs = []
    for i, label in enumerate(labels):
        kw = {}
        if colours is not None:
            kw["display_color"] = hd.color.CIELabColor(*colours[i])
        descs.append(hd.seg.SegmentDescription(
            segment_number=i + 1, segment_label=label,
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algo, **kw))
    pixels = np.moveaxis(masks, 0, -1)
    if seg_type == "FRACTIONAL":
        pixels = pixels.astype(np.float32)
    seg = hd.seg.Segmentation(
        source_images=series.datasets(), pixel_array=pixels,
        segmentation_type=seg_type, segment_descriptions=descs,
        series_instance_uid=hd.UID(), series_number=100, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="test", manufacturer_model_name="test",
        software_versions="0", device_serial_number="0")
    if path is not None:
        seg.save_as(path)
    return seg
