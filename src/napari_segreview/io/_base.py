"""What every image reader shares: :class:`ImageData`, the suffixes, the lazy threshold.

The readers (:mod:`~napari_segreview.io.tiff`, :mod:`~napari_segreview.io.dicom`,
:mod:`~napari_segreview.io.nifti`, :mod:`~napari_segreview.io.slices`) import
this module, never the dispatcher :mod:`napari_segreview.io.read`, which
imports them (lazily) in turn.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview.errors import ReadError

__all__ = [
    "ARRAY_SUFFIXES",
    "DICOM_SUFFIXES",
    "LAZY_BYTES",
    "NIFTI_SUFFIXES",
    "PICTURE_SUFFIXES",
    "SLICE_SUFFIXES",
    "TIFF_SUFFIXES",
    "ImageData",
    "hu_contrast_limits",
    "image_suffix",
    "natural_key",
    "visible_files",
    "wants_lazy",
]

#: Stacks bigger than this (bytes, decoded) are opened lazily (memmap or dask). The
#: dispatcher passes its own :data:`napari_segreview.io.read.LAZY_BYTES` (this value,
#: unless changed there) to the readers as ``lazy_bytes``.
LAZY_BYTES = 128 * 2**20
TIFF_SUFFIXES = (".tif", ".tiff")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
SLICE_SUFFIXES = TIFF_SUFFIXES + PICTURE_SUFFIXES
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
ARRAY_SUFFIXES = (".npy", ".npz")


@dataclass(frozen=True)
class ImageData:
    """An image read from disk, with what napari needs to show it in place.

    Parameters
    ----------
    data : array-like
        ``([Z,] Y, X)`` grey values, or ``(..., Y, X, 3|4)`` when ``rgb``. A
        numpy array, a read-only ``np.memmap`` or a dask array (big stacks);
        ``np.asarray(data)`` always gives the voxels.
    name : str
        Layer name (file or folder name, DICOM series description).
    source : Path
        The path that was opened.
    format : str
        ``"tiff"``, ``"dicom"``, ``"nifti"``, ``"slices"``, ``"picture"`` or ``"array"``.
    spacing : tuple of float
        Voxel size along each non-colour axis, in napari order (``z, y, x``).
    origin : tuple of float
        Position of the first voxel along the same axes (napari ``translate``).
    spacing_unit : str or None
        ``"mm"``, ``"µm"``...; None when the file gives no unit.
    calibrated : bool
        True when the spacing came from the file (else it is all ones).
    rgb : bool
        True when the last axis holds RGB(A) colour.
    contrast_limits : tuple of float or None
        Default display range: the DICOM window, or a CT preset when the
        values look like HU (:func:`hu_contrast_limits`); None to let napari
        choose.
    units : str or None
        Units of the values: ``"HU"`` for CT, a DICOM ``RescaleType`` (``"OD"``...)
        or PET ``Units`` when the series names one, else None.
    notes : tuple of str
        Sentences about what was assumed or skipped (shown as warnings).
    dicom : dict or None
        For DICOM: ``study_uid``, ``series_uid``, ``frame_of_reference_uid``,
        ``sop_class_uid`` and, per slice in the stacked order,
        ``sop_instance_uids``, ``files`` and ``frames`` (the frame number in
        a multi-frame file, else None); JSON-able. None for other formats.

    Examples
    --------
    >>> import numpy as np
    >>> img = ImageData(np.zeros((2, 3, 4), np.int16), "ct", Path("ct.tif"), "tiff",
    ...                 spacing=(2.5, 0.5, 0.5), origin=(0.0, 0.0, 0.0), units="HU",
    ...                 contrast_limits=(-500.0, 1300.0))
    >>> kw = img.layer_kwargs()
    >>> kw["scale"], kw["contrast_limits"], kw["metadata"]["segreview"]["units"]
    ((2.5, 0.5, 0.5), (-500.0, 1300.0), 'HU')
    >>> img.is_lazy
    False
    """

    data: Any
    name: str
    source: Path
    format: str
    spacing: tuple[float, ...] = ()
    origin: tuple[float, ...] = ()
    spacing_unit: str | None = None
    calibrated: bool = False
    rgb: bool = False
    contrast_limits: tuple[float, float] | None = None
    units: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    dicom: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        n = self.data.ndim - (1 if self.rgb else 0)
        spacing = tuple(float(s) for s in self.spacing) or (1.0,) * n
        origin = tuple(float(o) for o in self.origin) or (0.0,) * n
        if len(spacing) != n or len(origin) != n:
            raise ValueError(
                f"spacing {spacing} and origin {origin} must have one value per axis of a "
                f"{'RGB ' if self.rgb else ''}array shaped {tuple(self.data.shape)}."
            )
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "source", Path(self.source))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def is_lazy(self) -> bool:
        """True when the voxels are read from disk on access (memmap or dask)."""
        return isinstance(self.data, np.memmap) or not isinstance(self.data, np.ndarray)

    def metadata(self) -> dict[str, Any]:
        """The ``layer.metadata["segreview"]`` dict of the image layer (JSON-able)."""
        md: dict[str, Any] = {"kind": "image", "source": str(self.source),
                              "format": self.format}
        if self.units:
            md["units"] = self.units
        if self.spacing_unit:
            md["spacing_unit"] = self.spacing_unit
        if self.dicom:
            md["dicom"] = self.dicom
        return md

    def layer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for napari's ``viewer.add_image(data, **kwargs)``."""
        kw: dict[str, Any] = {
            "name": self.name, "scale": self.spacing, "translate": self.origin,
            "rgb": self.rgb, "metadata": {"segreview": self.metadata()},
        }
        if not self.rgb:
            kw["colormap"] = "gray"
        if self.contrast_limits is not None:
            kw["contrast_limits"] = tuple(float(c) for c in self.contrast_limits)
        return kw

    def layer_data(self) -> tuple[Any, dict[str, Any], str]:
        """``(data, kwargs, "image")``: one napari LayerData tuple."""
        return self.data, self.layer_kwargs(), "image"


#: Values look like Hounsfield units when the lowest is air or a scanner's padding
#: (-1024, -2048, -3024: between these bounds) ...
HU_AIR = (-3100.0, -900.0)
#: ... the highest reaches at least water (0 HU) ...
HU_TISSUE = 0.0
#: ... and 99 % of them stay below this (cortical bone and contrast agents; metal is rare).
HU_TOP = 4000.0
#: A stack holds bone when at least this share of its voxels is at or above BONE_HU.
BONE_SHARE, BONE_HU = 0.001, 700.0
#: Slices (along the first axis) sampled to judge a stack in memory; a lazy stack
#: (memmap, dask) is judged by its middle slice alone, so opening it reads one slice.
SAMPLE_SLICES = 8


def _sample(data: Any) -> np.ndarray:
    """Up to :data:`SAMPLE_SLICES` evenly spread slices of a stack (a 2-D image whole)."""
    if data.ndim < 3:
        return np.asarray(data)
    n = int(data.shape[0])
    lazy = isinstance(data, np.memmap) or not isinstance(data, np.ndarray)
    if lazy:
        return np.asarray(data[n // 2])
    picks = sorted({round(float(i)) for i in np.linspace(0, n - 1, min(n, SAMPLE_SLICES))})
    return np.stack([np.asarray(data[i]) for i in picks])


def hu_contrast_limits(data: Any) -> tuple[float, float] | None:
    """The CT window to show ``data`` with when its values look like HU, else None.

    The values look like Hounsfield units when the lowest lies between
    -3100 and -900 (air is -1000; scanners pad with -1024, -2048 or -3024),
    the highest reaches 0 (water) and 99 % stay below 4000. Such a stack
    gets the bone window (:data:`~napari_segreview.card.windows.PRESETS`,
    centre 400, width 1800) when at least 0.1 % of its voxels are 700 HU or
    more (bone), else the soft-tissue window (centre 40, width 400). Only a
    few slices are looked at (:data:`SAMPLE_SLICES`; the middle one of a lazy
    stack), so opening a big stack stays cheap.
    Unsigned integers (raw scanner values, pictures), RGB and other value
    ranges give None: napari's own choice.

    Examples
    --------
    >>> ct = np.full((4, 8, 8), -1024, np.int16)
    >>> ct[:, 2:6, 2:6] = 40                        # soft tissue only
    >>> hu_contrast_limits(ct)
    (-160.0, 240.0)
    >>> ct[:, 3, 3] = 1200                          # and bone
    >>> hu_contrast_limits(ct)
    (-500.0, 1300.0)
    >>> hu_contrast_limits(np.linspace(0, 1, 64).reshape(8, 8)) is None    # not HU
    True
    >>> hu_contrast_limits(ct.astype(np.uint16)) is None                    # raw values
    True
    """
    from napari_segreview.card.windows import preset_limits

    dtype = np.dtype(data.dtype)
    if not (np.issubdtype(dtype, np.signedinteger) or np.issubdtype(dtype, np.floating)):
        return None
    sample = _sample(data).astype(np.float32, copy=False)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return None
    low, high = float(sample.min()), float(sample.max())
    if not (HU_AIR[0] <= low <= HU_AIR[1]) or high < HU_TISSUE:
        return None
    if float(np.percentile(sample, 99)) > HU_TOP:
        return None
    bone = np.count_nonzero(sample >= BONE_HU) >= BONE_SHARE * sample.size
    return preset_limits("bone" if bone else "soft tissue")


def natural_key(name: str) -> list[Any]:
    """Sort key that orders digit runs by value: ``slice2`` before ``slice10``.

    Examples
    --------
    >>> sorted(["slice10.png", "slice2.png", "Slice1.png"], key=natural_key)
    ['Slice1.png', 'slice2.png', 'slice10.png']
    """
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def image_suffix(path: str | os.PathLike) -> str:
    """The lower-case suffix that picks a reader; ``.nii.gz`` counts as one.

    Examples
    --------
    >>> image_suffix("CT.NII.GZ"), image_suffix("scan.Tif"), image_suffix("README")
    ('.nii.gz', '.tif', '')
    """
    path = Path(path)
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def visible_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that are not hidden, in :func:`natural_key` order.

    Raises
    ------
    ReadError
        If the folder cannot be listed.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for n in ("s10.png", "s2.png", ".hidden.png"):
    ...     _ = (folder / n).write_bytes(b"")
    >>> (folder / "sub").mkdir()
    >>> [p.name for p in visible_files(folder)]
    ['s2.png', 's10.png']
    """
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise ReadError(f"cannot list the folder {folder} ({exc.strerror or exc}).") from exc
    files = [Path(e.path) for e in entries
             if not e.name.startswith(".") and e.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def wants_lazy(lazy: bool | None, nbytes: int, lazy_bytes: int | None = None) -> bool:
    """Whether to read ``nbytes`` of voxels lazily: ``lazy`` if given, else above the threshold.

    Parameters
    ----------
    lazy : bool or None
        The caller's choice; None leaves it to the size.
    nbytes : int
        Size of the decoded data.
    lazy_bytes : int, optional
        The threshold (default :data:`LAZY_BYTES`).

    Examples
    --------
    >>> wants_lazy(None, 10, lazy_bytes=8), wants_lazy(None, 8, lazy_bytes=8)
    (True, False)
    >>> wants_lazy(False, 10**12), wants_lazy(True, 0)
    (False, True)
    """
    if lazy is not None:
        return bool(lazy)
    return nbytes > (LAZY_BYTES if lazy_bytes is None else lazy_bytes)
