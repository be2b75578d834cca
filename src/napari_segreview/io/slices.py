"""Plain pictures (PNG, JPEG, BMP) and folders of 2-D slices (PNG/JPEG/BMP/TIFF).

Pictures are read with Pillow (installed with scikit-image and imageio),
exactly as stored: no EXIF rotation, like the data loaders models are trained
with. Grey pictures give ``(Y, X)``; colour ones ``(Y, X, 3)`` or
``(Y, X, 4)`` with alpha; palette pictures are expanded to RGB(A); 16-bit
PNGs stay uint16.

A folder of slices is sorted naturally (``slice2`` before ``slice10``, see
:func:`~napari_segreview.io._base.natural_key`) and stacked as ``(Z, Y, X[, 3])``. Every slice must
have the size and type of the first; the first one that differs is named.
Headers are checked before any pixel is decoded; big stacks become a dask
array decoding one file per slice shown. Slices carry no spacing: it is 1
pixel along every axis.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from napari_segreview._util.arrays import one_line
from napari_segreview.errors import ReadError
from napari_segreview.io._base import (
    SLICE_SUFFIXES,
    TIFF_SUFFIXES,
    ImageData,
    image_suffix,
    visible_files,
    wants_lazy,
)

__all__ = ["read_picture", "read_slice_folder"]

# Pillow mode -> (dtype, channels) after the conversions in _to_array.
_MODES = {"1": ("uint8", 1), "L": ("uint8", 1), "P": ("uint8", 3), "RGB": ("uint8", 3),
          "RGBA": ("uint8", 4), "LA": ("uint8", 4), "PA": ("uint8", 4), "CMYK": ("uint8", 3),
          "YCbCr": ("uint8", 3), "I;16": ("uint16", 1), "I;16B": ("uint16", 1),
          "I;16L": ("uint16", 1), "I": ("int32", 1), "F": ("float32", 1)}


def _to_array(im) -> np.ndarray:
    """The picture as numpy: grey (Y, X) or colour (Y, X, 3|4)."""
    mode = im.mode
    if mode == "1":
        return np.asarray(im.convert("L"))
    if mode in ("P", "PA"):
        alpha = mode == "PA" or "transparency" in im.info
        return np.asarray(im.convert("RGBA" if alpha else "RGB"))
    if mode in ("LA", "CMYK", "YCbCr"):
        return np.asarray(im.convert("RGBA" if mode == "LA" else "RGB"))
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16, copy=False)
    return np.asarray(im)


def _probe(path: Path) -> tuple[tuple[int, ...], np.dtype, bool]:
    """Shape, dtype and whether it is a stack, from the header (nothing decoded)."""
    if image_suffix(path) in TIFF_SUFFIXES:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape = tuple(series.shape)
            colour = series.axes.endswith("S") and shape[-1] in (3, 4)
            return shape, np.dtype(series.dtype), len(shape) > 2 + colour
    from PIL import Image

    with Image.open(path) as im:
        dtype, channels = _MODES.get(im.mode, ("uint8", 3))
        if im.mode == "P" and "transparency" in im.info:
            channels = 4
        w, h = im.size
    return ((h, w) if channels == 1 else (h, w, channels)), np.dtype(dtype), False


def _read_slice(path: Path) -> np.ndarray:
    if image_suffix(path) in TIFF_SUFFIXES:
        import tifffile

        return tifffile.imread(path)
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        return _to_array(im)


def read_picture(path: str | Path) -> ImageData:
    """Read a PNG, JPEG or BMP picture (grey or RGB/RGBA).

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> rgb = np.zeros((4, 6, 3), np.uint8); rgb[1, 2] = (255, 0, 10)
    >>> path = Path(tempfile.mkdtemp()) / "photo.png"
    >>> Image.fromarray(rgb).save(path)
    >>> img = read_picture(path)
    >>> img.rgb, img.data.shape, img.data[1, 2].tolist(), img.spacing
    (True, (4, 6, 3), [255, 0, 10], (1.0, 1.0))
    """
    path = Path(path)
    data = _read_slice(path)
    rgb = data.ndim == 3 and data.shape[-1] in (3, 4)
    return ImageData(data, path.stem, path, "picture", rgb=rgb)


def read_slice_folder(folder: str | Path, *, lazy: bool | None = None,
                      lazy_bytes: int | None = None) -> ImageData:
    """Stack a folder of 2-D slices, sorted naturally by file name.

    Parameters
    ----------
    folder : str or Path
        Holds ``.png``/``.jpg``/``.jpeg``/``.bmp``/``.tif``/``.tiff`` slices;
        other files are ignored.
    lazy : bool or None
        True: a dask array decoding a slice when it is accessed; False: read
        all now; None: lazy above ``lazy_bytes``.
    lazy_bytes : int, optional
        Default :data:`~napari_segreview.io._base.LAZY_BYTES`.

    Returns
    -------
    ImageData
        ``(Z, Y, X)`` or ``(Z, Y, X, 3|4)``.

    Raises
    ------
    ReadError
        A slice whose size or type differs from the first's (named), a slice
        that is itself a stack, or an unreadable slice.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> folder = Path(tempfile.mkdtemp())
    >>> for k in (1, 2, 10):
    ...     Image.fromarray(np.full((2, 3), k, np.uint8)).save(folder / f"slice{k}.png")
    >>> img = read_slice_folder(folder)
    >>> img.data.shape, img.data[:, 0, 0].tolist()
    ((3, 2, 3), [1, 2, 10])
    """
    folder = Path(folder)
    files = [f for f in visible_files(folder) if image_suffix(f) in SLICE_SUFFIXES]
    if not files:
        kinds = ", ".join(SLICE_SUFFIXES)
        raise ReadError(f"the folder {folder} holds no slices ({kinds}); choose another "
                            "folder.")
    probes = []
    for f in files:
        try:
            probes.append(_probe(f))
        except Exception as exc:  # PIL/tifffile raise many types on corrupt headers
            raise ReadError(
                f"cannot read the slice {f.name} in {folder.name} ({one_line(exc)}); "
                "remove or replace it."
            ) from exc
    shape, dtype, _ = probes[0]
    stack = next((i for i, p in enumerate(probes) if p[2]), None)
    if stack is not None:
        dims = " x ".join(map(str, probes[stack][0]))
        raise ReadError(
            f"{files[stack].name} in {folder.name} is a stack ({dims}), not a 2-D slice; "
            "open that file on its own."
        )
    for f, (s, d, _) in zip(files[1:], probes[1:], strict=True):
        if s != shape or d != dtype:
            raise ReadError(
                f"{f.name} is {' x '.join(map(str, s))} {d} but {files[0].name} is "
                f"{' x '.join(map(str, shape))} {dtype}; all slices in {folder.name} must have "
                "the same size and type, so move the odd one out."
            )
    rgb = len(shape) == 3
    nbytes = len(files) * math.prod(shape) * dtype.itemsize
    if wants_lazy(lazy, nbytes, lazy_bytes):
        import dask
        import dask.array as da

        data = da.stack([da.from_delayed(dask.delayed(_checked)(f, shape, dtype), shape, dtype)
                         for f in files])
    else:
        data = np.empty((len(files), *shape), dtype)
        for k, f in enumerate(files):
            data[k] = _checked(f, shape, dtype)
    return ImageData(data, folder.name, folder, "slices", rgb=rgb)


def _checked(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    try:
        arr = _read_slice(path)
    except Exception as exc:  # truncated or corrupt picture
        raise ReadError(
            f"cannot read the slice {path.name} ({one_line(exc)}); remove or replace it."
        ) from exc
    if arr.shape != shape or arr.dtype != dtype:
        raise ReadError(
            f"{path.name} decodes to {arr.shape} {arr.dtype}, not {shape} {dtype} like the "
            "other slices; export it again."
        )
    return arr
