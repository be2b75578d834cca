"""CT stacks and images in: one entry point for TIFF, DICOM, NIfTI, folders of slices, PNG/JPEG.

:func:`read_image` opens a path and returns an :class:`ImageData`: the
voxels (a numpy array, a read-only ``np.memmap`` or a lazy dask array for big
stacks), the voxel spacing and origin in napari's axis order (``z, y, x``),
whether it is RGB, the default contrast limits (the DICOM window), the value
units (``"HU"`` for rescaled CT) and sentences about anything that was
assumed. The napari reader, the CLI and the tests all go through it.

What is read, and from where (each in its own module):

- TIFF (``.tif``/``.tiff``), spacing from ImageJ, OME or SegReview metadata,
  big stacks opened lazily: :mod:`.io_tiff`;
- DICOM series (a folder, or one file of the series): :mod:`.io_dicom`
  (needs pydicom: ``pip install napari-segreview[dicom]``);
- NIfTI (``.nii``, ``.nii.gz``): :mod:`.io_nifti` (needs nibabel);
- PNG/JPEG/BMP pictures and folders of 2-D slices: :mod:`.io_slices`;
- ``.npy``/``.npz`` through :func:`~.arrayfiles.read_array`.

Anything that cannot be read raises :class:`ReadError` (a
:class:`~napari_segreview.errors.FormatError`) with one sentence that
says what to change. pydicom and nibabel are imported only when needed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._util.arrays import one_line
from napari_segreview.errors import FormatError, MissingDependency, ReadError

__all__ = [
    "DECLINED_FOLDER_FILES",
    "LAZY_BYTES",
    "ImageData",
    "MissingDependency",
    "ReadError",
    "can_read",
    "natural_key",
    "read_image",
    "read_images",
]

#: Stacks bigger than this (bytes, decoded) are opened lazily (memmap or dask).
LAZY_BYTES = 128 * 2**20
#: Folders holding one of these belong to other readers (review sessions, exports).
DECLINED_FOLDER_FILES = ("session.json", "segreview-export.json", "dataset.json")
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
        Default display range (the DICOM window); None to let napari choose.
    units : str or None
        Units of the values: ``"HU"`` for rescaled CT, else None.
    notes : tuple of str
        Sentences about what was assumed or skipped (shown as warnings).

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


def natural_key(name: str) -> list[Any]:
    """Sort key that orders digit runs by value: ``slice2`` before ``slice10``.

    Examples
    --------
    >>> sorted(["slice10.png", "slice2.png", "Slice1.png"], key=natural_key)
    ['Slice1.png', 'slice2.png', 'slice10.png']
    """
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _visible_files(folder: Path) -> list[Path]:
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise ReadError(f"cannot list the folder {folder} ({exc.strerror or exc}).") from exc
    files = [Path(e.path) for e in entries
             if not e.name.startswith(".") and e.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def declined_folder(path: str | os.PathLike) -> str | None:
    """Name the marker file if ``path`` is a SegReview session or export folder, else None.

    An export's case folders (whose parent holds ``segreview-export.json``)
    count as export folders too.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> declined_folder(folder) is None
    True
    >>> _ = (folder / "session.json").write_text("{}")
    >>> declined_folder(folder)
    'session.json'
    """
    path = Path(path)
    if not path.is_dir():
        return None
    found = next((n for n in DECLINED_FOLDER_FILES if (path / n).is_file()), None)
    if found is None and (path.parent / "segreview-export.json").is_file():
        found = "segreview-export.json"  # a case folder of an export
    return found


def _kind(path: Path) -> str | None:
    """Which reader a path goes to, from its suffix, magic bytes or folder contents."""
    if path.is_dir():
        if declined_folder(path):
            return None
        from napari_segreview.io.dicom import is_dicom_file

        files = _visible_files(path)
        if any(_suffix(f) in DICOM_SUFFIXES or is_dicom_file(f) for f in files):
            return "dicom-folder"
        if any(_suffix(f) in SLICE_SUFFIXES for f in files):
            return "slices"
        return None
    suffix = _suffix(path)
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    if suffix in NIFTI_SUFFIXES:
        return "nifti"
    if suffix in PICTURE_SUFFIXES:
        return "picture"
    if suffix in ARRAY_SUFFIXES:
        return "array"
    from napari_segreview.io.dicom import is_dicom_file

    if suffix in DICOM_SUFFIXES or is_dicom_file(path):
        return "dicom"
    return None


def can_read(path: str | os.PathLike, *, arrays: bool = True) -> bool:
    """Whether :func:`read_image` handles ``path`` (judged cheaply, contents not decoded).

    Parameters
    ----------
    path : str or path-like
        A file or a folder.
    arrays : bool, default True
        Also accept ``.npy``/``.npz`` (the napari reader leaves them to napari).

    Returns
    -------
    bool
        False for missing paths, unknown suffixes, SegReview session and export
        folders (see :data:`DECLINED_FOLDER_FILES`) and folders with no DICOM
        files or slices. True does not promise the file is intact.

    Examples
    --------
    >>> can_read("scan.nii.gz"), can_read("notes.txt")
    (False, False)
    >>> import tempfile, numpy as np, tifffile
    >>> folder = Path(tempfile.mkdtemp())
    >>> tifffile.imwrite(folder / "scan.tif", np.zeros((2, 4, 4), np.uint8))
    >>> can_read(folder / "scan.tif"), can_read(folder)
    (True, True)
    """
    path = Path(path)
    if not path.exists():
        return False
    kind = _kind(path)
    return kind is not None and (arrays or kind != "array")


def _read_array_file(path: Path) -> ImageData:
    from napari_segreview.io.arrayfiles import read_array

    array, meta = read_array(path)
    spacing = meta.spacing if meta.spacing and len(meta.spacing) == array.ndim else ()
    return ImageData(array, path.stem, path, "array", spacing=spacing,
                     calibrated=bool(spacing))


def read_images(path: str | os.PathLike, *, lazy: bool | None = None) -> list[ImageData]:
    """Open ``path`` as one or more images: every series of a DICOM folder, else one.

    Parameters
    ----------
    path : str or path-like
        A TIFF, NIfTI, DICOM, PNG/JPEG/BMP, ``.npy``/``.npz`` file, a folder of
        DICOM files or a folder of 2-D slices.
    lazy : bool or None
        True: read big data on access (memmap or dask); False: load all now;
        None (default): lazy when the data exceed :data:`LAZY_BYTES`.

    Returns
    -------
    list of ImageData
        A folder holding several DICOM series gives one per series, the one
        with most slices first.

    Raises
    ------
    ReadError
        The path is missing, unsupported, corrupt or truncated; the message is
        one sentence that names the file and what to do.
    """
    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path} does not exist; check the path and the current folder.")
    marker = declined_folder(path)
    if marker:
        raise ReadError(
            f"{path} is a SegReview {'session' if marker == 'session.json' else 'export'} "
            f"folder ({marker}), not an image; open it with napari (File > Open Folder) or "
            "give the image itself."
        )
    kind = _kind(path)
    try:
        if kind == "tiff":
            from napari_segreview.io.tiff import read_tiff

            return [read_tiff(path, lazy=lazy)]
        if kind == "nifti":
            from napari_segreview.io.nifti import read_nifti

            return [read_nifti(path, lazy=lazy)]
        if kind in ("dicom", "dicom-folder"):
            from napari_segreview.io.dicom import read_dicom

            return read_dicom(path)
        if kind == "picture":
            from napari_segreview.io.slices import read_picture

            return [read_picture(path)]
        if kind == "slices":
            from napari_segreview.io.slices import read_slice_folder

            return [read_slice_folder(path, lazy=lazy)]
        if kind == "array":
            return [_read_array_file(path)]
    except (ReadError, MemoryError):
        raise
    except FormatError as exc:
        raise ReadError(str(exc)) from exc
    except Exception as exc:  # libraries raise many types on corrupt data
        raise ReadError(
            f"could not read {path} ({one_line(exc)}); the file is corrupt, truncated or "
            "not what its name says, so export it again."
        ) from exc
    if path.is_dir():
        raise ReadError(
            f"the folder {path} holds no DICOM files and no 2-D slices "
            f"({', '.join(SLICE_SUFFIXES)}); choose a folder of slices or open a file."
        )
    raise ReadError(
        f"{path.name} is not a supported image ({_suffix(path) or 'no suffix'}); open a "
        f"TIFF, DICOM, NIfTI (.nii, .nii.gz), PNG, JPEG, .npy or .npz file, or a folder."
    )


def read_image(path: str | os.PathLike, *, lazy: bool | None = None) -> ImageData:
    """Open ``path`` as one image (the largest series of a DICOM folder).

    Parameters
    ----------
    path : str or path-like
        See :func:`read_images`.
    lazy : bool or None
        See :func:`read_images`.

    Returns
    -------
    ImageData
        When a folder holds several DICOM series, the one with most slices,
        with a note naming the others.

    Raises
    ------
    ReadError
        One sentence naming the file and what to change.

    Examples
    --------
    >>> import tempfile, numpy as np, tifffile
    >>> folder = Path(tempfile.mkdtemp())
    >>> ct = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    >>> tifffile.imwrite(folder / "ct.tif", ct, imagej=True, resolution=(2.0, 2.0),
    ...                  metadata={"spacing": 3.0, "unit": "mm", "axes": "ZYX"})
    >>> img = read_image(folder / "ct.tif")
    >>> img.spacing, img.spacing_unit, bool((np.asarray(img.data) == ct).all())
    ((3.0, 0.5, 0.5), 'mm', True)
    """
    images = read_images(path, lazy=lazy)
    first = images[0]
    if len(images) > 1:
        others = "; ".join(f"{im.name} ({_shape(im)})" for im in images[1:])
        note = (f"{Path(path).name} holds {len(images)} DICOM series; opened {first.name} "
                f"({_shape(first)}) and left out {others}: to open another, give one of "
                "its files instead of the folder.")
        first = replace(first, notes=(*first.notes, note))
    return first


def _shape(img: ImageData) -> str:
    return " x ".join(map(str, img.data.shape))

