"""NIfTI volumes in (``.nii``, ``.nii.gz``), shown the way a DICOM viewer shows the series.

nibabel is optional (``pip install napari-segreview[nifti]``) and imported only here.

Orientation: NIfTI stores voxels in any axis order with an affine to patient
(RAS+) space; napari shows the first axis as the slider and the last two as
the screen's rows and columns. The volume is reoriented, by flips and axis
swaps only (no resampling), to the closest of DICOM's LPS axes and shown as
``(z, y, x)``:

- axis 0 (slider): inferior to superior (slice 0 nearest the feet);
- axis 1 (rows, top to bottom): anterior to posterior;
- axis 2 (columns, left to right): patient right to patient left.

That is the radiological view of axial slices, and the same voxel order the
DICOM reader gives for an axial series, so a NIfTI made from a DICOM series
(dcm2niix) opens voxel for voxel like the series itself. Spacing comes from
the header (the affine's column lengths, i.e. the zooms); axes beyond the
third (time) come first, with spacing 1. An oblique volume is shown along its
nearest axes, with a note. ``scl_slope``/``scl_inter`` are applied (int16 when
the values stay whole and fit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_segreview.io import read as _io

__all__ = ["read_nifti"]


def _nibabel():
    try:
        import nibabel
    except ImportError as exc:
        raise _io.MissingDependency(
            "reading NIfTI needs nibabel: install napari-segreview[nifti] or pip install nibabel."
        ) from exc
    return nibabel


def _unit(text: str) -> str | None:
    return {"mm": "mm", "micron": "µm", "meter": "m"}.get(text)


def _values(img, lazy: bool | None) -> np.ndarray:
    """The voxels with scl_slope/scl_inter applied; a memmap when possible and wanted."""
    proxy = img.dataobj  # carries scl_slope/scl_inter (the loaded header's are reset)
    slope, inter = getattr(proxy, "slope", None), getattr(proxy, "inter", None)
    slope = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    inter = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    raw = np.asanyarray(proxy.get_unscaled() if hasattr(proxy, "get_unscaled") else proxy)
    nbytes = raw.size * raw.dtype.itemsize
    if not (lazy or (lazy is None and nbytes > _io.LAZY_BYTES)) and isinstance(raw, np.memmap):
        raw = np.array(raw)
    if (slope, inter) == (1.0, 0.0):
        return raw
    if raw.dtype.kind in "iu" and slope.is_integer() and inter.is_integer():
        ends = [int(raw.min()) * int(slope) + int(inter), int(raw.max()) * int(slope) + int(inter)]
        info = np.iinfo(np.int16)
        if info.min <= min(ends) and max(ends) <= info.max:
            return (raw.astype(np.int32) * int(slope) + int(inter)).astype(np.int16)
    return raw.astype(np.float32) * np.float32(slope) + np.float32(inter)


def _reorient(data: np.ndarray, xform: np.ndarray) -> np.ndarray:
    """Flip and transpose like nibabel's ``apply_orientation``, with views only (memmap stays)."""
    for axis, flip in enumerate(xform[:, 1]):
        if flip == -1:
            data = np.flip(data, axis)
    order = list(range(data.ndim))
    order[: len(xform)] = np.argsort(xform[:, 0]).tolist()
    return data.transpose(order)


def _f32(value: float) -> float:
    """A header value stored as float32, without float32's noise (0.800000011920929 -> 0.8)."""
    return float(f"{float(value):.7g}")


def read_nifti(path: str | Path, *, lazy: bool | None = None) -> _io.ImageData:
    """Read a ``.nii``/``.nii.gz`` volume as ``(z, y, x)`` in the LPS display order.

    Parameters
    ----------
    path : str or Path
        The NIfTI-1 or NIfTI-2 file.
    lazy : bool or None
        An uncompressed, unscaled ``.nii`` is memory-mapped when True (or when
        None and it is bigger than :data:`~.io.LAZY_BYTES`); ``.nii.gz`` is
        always read whole.

    Returns
    -------
    ImageData
        Spacing and origin in the header's units (usually mm).

    Examples
    --------
    >>> import tempfile, nibabel as nib
    >>> vol = np.zeros((4, 3, 2), np.int16)          # (x, y, z) as nibabel stores it
    >>> vol[3, 0, 1] = 7                              # x = 3, y = 0, z = 1
    >>> path = Path(tempfile.mkdtemp()) / "ct.nii.gz"
    >>> nifti = nib.Nifti1Image(vol, np.diag([0.5, 0.8, 2.0, 1.0]))
    >>> nifti.header.set_xyzt_units("mm")
    >>> nib.save(nifti, path)
    >>> img = read_nifti(path)
    >>> img.data.shape, img.spacing, img.spacing_unit
    ((2, 3, 4), (2.0, 0.8, 0.5), 'mm')
    >>> int(img.data[1, 2, 0])                         # RAS -> LPS flips y and x
    7
    """
    nib = _nibabel()
    path = Path(path)
    try:
        img = nib.load(path)
    except nib.filebasedimages.ImageFileError as exc:
        raise _io.ReadError(
            f"{path.name} is not a NIfTI file nibabel can read; export it again as .nii or "
            ".nii.gz."
        ) from exc
    shape = img.shape
    if len(shape) < 2:
        raise _io.ReadError(f"{path.name} holds a {len(shape)}-D array; open a 2-D or 3-D image.")
    data = _values(img, lazy)
    if data.ndim == 2:
        data = data[:, :, None]
    affine = np.asarray(img.affine, float)
    orient = nib.orientations
    now = orient.io_orientation(affine)
    xform = orient.ornt_transform(now, orient.axcodes2ornt(("L", "P", "S")))
    data = _reorient(data, xform)
    new_aff = affine @ orient.inv_ornt_aff(xform, data.shape[:3])
    cols = new_aff[:3, :3]
    sizes = np.linalg.norm(cols, axis=0)
    sizes = np.where(sizes > 0, sizes, 1.0)
    units = cols / sizes
    origin3 = [float(new_aff[:3, 3] @ units[:, i]) for i in range(3)]
    data = data.transpose(tuple(range(data.ndim - 1, -1, -1)))  # (x,y,z[,t]) -> ([t,]z,y,x)
    extra = data.ndim - 3
    spacing = (1.0,) * extra + tuple(_f32(s) for s in sizes[::-1])
    origin = (0.0,) * extra + tuple(_f32(o) for o in origin3[::-1])
    notes = []
    if np.abs(np.abs(units) - np.round(np.abs(units))).max() > 1e-3:
        notes.append(f"{path.name} is oblique to the patient axes; it is shown along its "
                     "nearest axes, without resampling.")
    unit = _unit(img.header.get_xyzt_units()[0])
    name = path.name.removesuffix(".gz").removesuffix(".nii")
    return _io.ImageData(data, name, path, "nifti", spacing=spacing, origin=origin,
                         spacing_unit=unit, calibrated=True, notes=tuple(notes))
