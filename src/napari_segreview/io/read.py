"""CT stacks and images in: one entry point for TIFF, DICOM, NIfTI, folders of slices, PNG/JPEG.

:func:`read_image` opens a path and returns an :class:`ImageData`: the
voxels (a numpy array, a read-only ``np.memmap`` or a lazy dask array for big
stacks), the voxel spacing and origin in napari's axis order (``z, y, x``),
whether it is RGB, the default contrast limits (the DICOM window, or a CT
preset when the values look like HU: :func:`display_window`), the value
units (``"HU"`` for rescaled CT) and sentences about anything that was
assumed. The napari reader, the CLI and the tests all go through it.

What is read, and from where (each in its own module):

- TIFF (``.tif``/``.tiff``), spacing from ImageJ, OME or SegReview metadata,
  big stacks opened lazily: :mod:`napari_segreview.io.tiff`;
- DICOM series (a folder, or one file of the series): :mod:`napari_segreview.io.dicom`
  (needs pydicom: ``pip install napari-segreview[dicom]``);
- NIfTI (``.nii``, ``.nii.gz``): :mod:`napari_segreview.io.nifti` (needs nibabel);
- PNG/JPEG/BMP pictures and folders of 2-D slices: :mod:`napari_segreview.io.slices`;
- ``.npy``/``.npz`` through :func:`~napari_segreview.io.arrayfiles.read_array`.

This module is the dispatcher; what the readers share (:class:`ImageData`, the
suffixes, :data:`LAZY_BYTES`) is in :mod:`napari_segreview.io._base`, which the
readers import instead of this module. ``read_images`` passes this module's
:data:`LAZY_BYTES` to the readers, so changing it here changes the threshold.

Anything that cannot be read raises :class:`ReadError` (a
:class:`~napari_segreview.errors.FormatError`) with one sentence that
says what to change. pydicom and nibabel are imported only when needed.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from napari_segreview._util.arrays import one_line
from napari_segreview._util.markers import (
    DATASET_FILE,
    EXPORT_MARKER,
    FOLDER_MARKERS,
    SESSION_FILE,
)
from napari_segreview.errors import FormatError, MissingDependency, ReadError
from napari_segreview.io._base import (
    ARRAY_SUFFIXES,
    DICOM_SUFFIXES,
    LAZY_BYTES,
    NIFTI_SUFFIXES,
    PICTURE_SUFFIXES,
    SLICE_SUFFIXES,
    TIFF_SUFFIXES,
    ImageData,
    hu_contrast_limits,
    image_suffix,
    natural_key,
    visible_files,
)

__all__ = [
    "DECLINED_FOLDER_FILES",
    "LAZY_BYTES",
    "ImageData",
    "MissingDependency",
    "ReadError",
    "can_read",
    "declined_folder",
    "display_window",
    "natural_key",
    "read_image",
    "read_images",
]

#: Folders holding one of these belong to other readers (sessions, exports, datasets).
DECLINED_FOLDER_FILES = FOLDER_MARKERS
_FOLDER_KINDS = {SESSION_FILE: "session", DATASET_FILE: "dataset"}


def declined_folder(path: str | os.PathLike) -> str | None:
    """Name the marker file if ``path`` is a SegReview session, export or dataset folder.

    An export's case folders (whose parent holds ``segreview-export.json``)
    count as export folders too, and a dataset's case folders
    (``DATASET/cases/<id>``) as dataset folders. None for any other path.

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
    if found is None and (path.parent / EXPORT_MARKER).is_file():
        found = EXPORT_MARKER  # a case folder of an export
    if found is None and (path.parent.parent / DATASET_FILE).is_file():
        found = DATASET_FILE  # a case folder of a dataset
    return found


def _kind(path: Path) -> str | None:
    """Which reader a path goes to, from its suffix, magic bytes or folder contents."""
    if path.is_dir():
        if declined_folder(path):
            return None
        from napari_segreview.io.dicom import is_dicom_file

        files = visible_files(path)
        if any(image_suffix(f) in DICOM_SUFFIXES or is_dicom_file(f) for f in files):
            return "dicom-folder"
        if any(image_suffix(f) in SLICE_SUFFIXES for f in files):
            return "slices"
        return None
    suffix = image_suffix(path)
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


def display_window(image: ImageData, *, lazy: bool = False) -> ImageData:
    """``image`` with its contrast limits chosen: its own window, else a CT preset for HU.

    Parameters
    ----------
    image : ImageData
    lazy : bool, default False
        Also judge a lazy stack (memmap, dask): its middle slice is decoded.
        :func:`read_images` leaves lazy stacks as they are (opening decodes
        nothing); the napari reader, which shows them at once, passes True.

    A DICOM series keeps its WindowCenter/WindowWidth; a grey stack without a
    window whose values look like HU (an ImageJ or plain TIFF, a NIfTI, a CT
    series without a window) gets the bone or soft-tissue preset
    (:func:`~napari_segreview.io._base.hu_contrast_limits`) instead of the full
    range of its values (-1024..3000, washed out). Anything else is unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> ct = np.full((2, 4, 4), -1024, np.int16)
    >>> ct[:, 1:3, 1:3] = 1500
    >>> display_window(ImageData(ct, "ct", Path("ct.tif"), "tiff")).contrast_limits
    (-500.0, 1300.0)
    >>> own = ImageData(ct, "ct", Path("ct"), "dicom", contrast_limits=(-160.0, 240.0))
    >>> display_window(own).contrast_limits
    (-160.0, 240.0)
    """
    if image.contrast_limits is not None or image.rgb or (image.is_lazy and not lazy):
        return image
    limits = hu_contrast_limits(image.data)
    return image if limits is None else replace(image, contrast_limits=limits)


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
        with most slices first. Contrast limits as :func:`display_window`
        chooses them (lazy stacks: only their own window).

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
            f"{path} is a SegReview {_FOLDER_KINDS.get(marker, 'export')} "
            f"folder ({marker}), not an image; open it with napari (File > Open Folder) or "
            "give the image itself."
        )
    return [display_window(image) for image in _read_kind(path, lazy)]


def _read_kind(path: Path, lazy: bool | None) -> list[ImageData]:
    kind = _kind(path)
    try:
        if kind == "tiff":
            from napari_segreview.io.tiff import read_tiff

            return [read_tiff(path, lazy=lazy, lazy_bytes=LAZY_BYTES)]
        if kind == "nifti":
            from napari_segreview.io.nifti import read_nifti

            return [read_nifti(path, lazy=lazy, lazy_bytes=LAZY_BYTES)]
        if kind in ("dicom", "dicom-folder"):
            from napari_segreview.io.dicom import read_dicom

            return read_dicom(path, lazy=lazy, lazy_bytes=LAZY_BYTES)
        if kind == "picture":
            from napari_segreview.io.slices import read_picture

            return [read_picture(path)]
        if kind == "slices":
            from napari_segreview.io.slices import read_slice_folder

            return [read_slice_folder(path, lazy=lazy, lazy_bytes=LAZY_BYTES)]
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
        f"{path.name} is not a supported image ({image_suffix(path) or 'no suffix'}); open a "
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

