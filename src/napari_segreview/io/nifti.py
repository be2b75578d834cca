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

Arrays out, and back exactly: :func:`write_nifti` stores a ``([Z,] Y, X)``
array with its spacing as nnU-Net's ``NibabelIO`` reads it (diagonal affine,
no reorientation; 2-D as one slice with a z spacing of 999) and
:func:`read_nifti_array` reads such a file back with its exact dtype, shape
and spacing (the nnU-Net export of :mod:`napari_segreview.targets`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview.errors import FormatError, MissingDependency, ReadError
from napari_segreview.io._base import ImageData, wants_lazy

__all__ = ["import_nibabel", "read_nifti", "read_nifti_array", "write_nifti"]


def import_nibabel(purpose: str = "reading NIfTI") -> Any:
    """The nibabel module, or MissingDependency saying how to install it.

    Parameters
    ----------
    purpose : str
        What needs it, the start of the sentence: ``"{purpose} needs nibabel: ..."``.
    """
    try:
        import nibabel
    except ImportError as exc:
        raise MissingDependency(
            f"{purpose} needs nibabel: install napari-segreview[nifti] or pip install nibabel."
        ) from exc
    return nibabel


def _unit(text: str) -> str | None:
    return {"mm": "mm", "micron": "µm", "meter": "m"}.get(text)


def _values(img, lazy: bool | None, lazy_bytes: int | None) -> np.ndarray:
    """The voxels with scl_slope/scl_inter applied; a memmap when possible and wanted."""
    proxy = img.dataobj  # carries scl_slope/scl_inter (the loaded header's are reset)
    slope, inter = getattr(proxy, "slope", None), getattr(proxy, "inter", None)
    slope = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    inter = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    raw = np.asanyarray(proxy.get_unscaled() if hasattr(proxy, "get_unscaled") else proxy)
    nbytes = raw.size * raw.dtype.itemsize
    if not wants_lazy(lazy, nbytes, lazy_bytes) and isinstance(raw, np.memmap):
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


def read_nifti(path: str | Path, *, lazy: bool | None = None,
               lazy_bytes: int | None = None) -> ImageData:
    """Read a ``.nii``/``.nii.gz`` volume as ``(z, y, x)`` in the LPS display order.

    Parameters
    ----------
    path : str or Path
        The NIfTI-1 or NIfTI-2 file.
    lazy : bool or None
        An uncompressed, unscaled ``.nii`` is memory-mapped when True (or when
        None and it is bigger than ``lazy_bytes``); ``.nii.gz`` is always read
        whole.
    lazy_bytes : int, optional
        Default :data:`~napari_segreview.io._base.LAZY_BYTES`.

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
    nib = import_nibabel()
    path = Path(path)
    try:
        img = nib.load(path)
    except nib.filebasedimages.ImageFileError as exc:
        raise ReadError(
            f"{path.name} is not a NIfTI file nibabel can read; export it again as .nii or "
            ".nii.gz."
        ) from exc
    shape = img.shape
    if len(shape) < 2:
        raise ReadError(f"{path.name} holds a {len(shape)}-D array; open a 2-D or 3-D image.")
    data = _values(img, lazy, lazy_bytes)
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
    return ImageData(data, name, path, "nifti", spacing=spacing, origin=origin,
                         spacing_unit=unit, calibrated=True, notes=tuple(notes))


# ----------------------------------------------------------------------------- arrays


def write_nifti(path: str | Path, array: np.ndarray, spacing: Any) -> None:
    """Write a 2-D or 3-D array ``([Z,] Y, X)`` as NIfTI the way nnU-Net's NibabelIO reads it.

    Parameters
    ----------
    path : str or Path
        The ``.nii.gz`` (or ``.nii``) file; nibabel picks compression from the name.
    array : array-like
        Integer, float or bool voxels (bool is stored as uint8).
    spacing : sequence of float or None
        Voxel size per axis of ``array`` (None: all 1). A 2-D array is stored
        as one slice with a z spacing of 999, as nnU-Net does.

    Raises
    ------
    FormatError
        If the array is not 2-D or 3-D.
    MissingDependency
        nibabel is not installed.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.nii.gz"
    >>> write_nifti(p, np.arange(6, dtype=np.uint8).reshape(2, 3), (0.5, 2.0))
    >>> data, spacing = read_nifti_array(p, 2)
    >>> data.tolist(), data.dtype, spacing
    ([[0, 1, 2], [3, 4, 5]], dtype('uint8'), (0.5, 2.0))
    """
    nib = import_nibabel("writing NIfTI")
    array = np.asarray(array)
    spacing = tuple(float(s) for s in (spacing or (1.0,) * array.ndim))
    if array.ndim == 2:
        array, spacing = array[None], (999.0, *spacing)
    if array.ndim != 3:
        raise FormatError(f"nnU-Net NIfTI files hold 2-D or 3-D images, not shape {array.shape}.")
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    affine = np.diag([*spacing[::-1], 1.0])
    img = nib.Nifti1Image(array.transpose(2, 1, 0), affine)  # Fortran order: what NIfTI stores
    img.header.set_data_dtype(array.dtype)
    img.header.set_zooms(spacing[::-1])
    nib.save(img, str(path))


def read_nifti_array(path: str | Path, ndim: int) -> tuple[np.ndarray, tuple[float, ...]]:
    """Read a file written by :func:`write_nifti`: exact dtype and data, ``ndim`` axes.

    Parameters
    ----------
    path : str or Path
        The NIfTI file.
    ndim : {2, 3}
        The axes of the array that was written (2: the single slice is dropped).

    Returns
    -------
    data : ndarray
        C-contiguous ``([Z,] Y, X)`` voxels.
    spacing : tuple of float
        One value per axis of ``data``.
    """
    nib = import_nibabel()
    img = nib.load(str(path))
    data = np.asarray(img.dataobj).transpose(2, 1, 0)
    spacing = tuple(float(z) for z in img.header.get_zooms()[:3][::-1])
    if ndim == 2:
        data, spacing = data[0], spacing[1:]
    return np.ascontiguousarray(data), spacing
