"""TIFF stacks in, big ones lazily, with the voxel spacing from ImageJ, OME or SegReview metadata.

- Small files (up to :data:`~napari_segreview.io._base.LAZY_BYTES` decoded) are read
  into memory.
- Big uncompressed, contiguous files are memory-mapped (``tifffile.memmap``):
  opening costs nothing and a slice is read from disk when it is shown.
- Big compressed or tiled files become a dask array with one chunk per page:
  a page is decoded when napari shows it. (tifffile's ``aszarr`` would need
  zarr, which is not a dependency.)

Spacing, in napari order: ImageJ files give the z spacing (``spacing``) and
the unit; their resolution tags give pixels per unit in x and y. OME-TIFF
gives ``PhysicalSizeX/Y/Z`` and their units (default µm). Files written by
SegReview carry their spacing in their metadata. Resolution tags of other
TIFFs (72 dpi photos) are ignored: the spacing is then 1 pixel.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from napari_segreview._util.arrays import one_line
from napari_segreview.errors import ReadError
from napari_segreview.io._base import ImageData, wants_lazy

__all__ = ["read_tiff", "tiff_spacing"]

_UNITS = {"micron": "µm", "microns": "µm", "um": "µm", "\\u00B5m": "µm", "μm": "µm",
          "millimeter": "mm", "millimetre": "mm", "nm": "nm", "cm": "cm", "m": "m"}


def _unit(text: Any) -> str | None:
    if not text:
        return None
    text = str(text).strip()
    if text.lower() in ("pixel", "pixels", "none", ""):
        return None
    return _UNITS.get(text.lower(), _UNITS.get(text, text))


def _ome_spacing(xml: str) -> tuple[dict[str, float], str | None]:
    root = ET.fromstring(xml)
    pixels = next((el for el in root.iter() if el.tag.endswith("}Pixels") or el.tag == "Pixels"),
                  None)
    if pixels is None:
        return {}, None
    sizes, unit = {}, None
    for ax in "XYZ":
        value = pixels.get(f"PhysicalSize{ax}")
        if value is not None and float(value) > 0:
            sizes[ax] = float(value)
            unit = unit or _unit(pixels.get(f"PhysicalSize{ax}Unit", "µm"))
    return sizes, unit


def _imagej_spacing(tif: tifffile.TiffFile) -> tuple[dict[str, float], str | None]:
    ij = tif.imagej_metadata or {}
    sizes: dict[str, float] = {}
    page = tif.pages.first
    xres, yres = page.resolution if page.resolution else (0.0, 0.0)
    if xres and xres > 0:
        sizes["X"] = 1.0 / xres
    if yres and yres > 0:
        sizes["Y"] = 1.0 / yres
    if ij.get("spacing"):
        sizes["Z"] = float(ij["spacing"])
    return sizes, _unit(ij.get("unit"))


def _segreview_spacing(tif: tifffile.TiffFile) -> tuple[float, ...] | None:
    for block in tif.shaped_metadata or ():
        if isinstance(block, dict) and isinstance(block.get("segreview"), dict):
            spacing = block["segreview"].get("spacing")
            return tuple(float(s) for s in spacing) if spacing else None
    return None


def tiff_spacing(tif: tifffile.TiffFile, axes: str) -> tuple[tuple[float, ...], str | None, bool]:
    """Voxel spacing for each of ``axes`` (tifffile series axes, colour ``S`` excluded).

    Returns
    -------
    spacing : tuple of float
        One value per axis; 1.0 for axes the metadata say nothing about.
    unit : str or None
        ``"mm"``, ``"µm"``... or None (pixels).
    calibrated : bool
        True when some spacing came from the file.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "ome.tif"
    >>> tifffile.imwrite(path, np.zeros((3, 4, 5), np.uint8), ome=True, metadata={
    ...     "axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.25, "PhysicalSizeZ": 2.0})
    >>> with tifffile.TiffFile(path) as tif:
    ...     tiff_spacing(tif, "ZYX")
    ((2.0, 0.25, 0.5), 'µm', True)
    """
    sizes: dict[str, float] = {}
    unit = None
    if tif.is_ome and tif.ome_metadata:
        sizes, unit = _ome_spacing(tif.ome_metadata)
    elif tif.is_imagej:
        sizes, unit = _imagej_spacing(tif)
    else:
        stored = _segreview_spacing(tif)
        if stored and len(stored) <= len(axes):
            pad = (1.0,) * (len(axes) - len(stored))
            return pad + stored, None, True
    spacing = tuple(sizes.get(ax, 1.0) for ax in axes)
    calibrated = any(ax in sizes for ax in axes)
    return spacing, (unit if calibrated else None), calibrated


def read_tiff(path: str | Path, *, lazy: bool | None = None,
              lazy_bytes: int | None = None) -> ImageData:
    """Read the first series of a TIFF file; big files lazily.

    Parameters
    ----------
    path : str or Path
        A ``.tif``/``.tiff`` file (ImageJ hyperstack, OME-TIFF, plain multi-page
        or 2-D, grey or RGB).
    lazy : bool or None
        True: memmap or page-wise dask array; False: read now; None: lazy above
        ``lazy_bytes``.
    lazy_bytes : int, optional
        The size (bytes, decoded) above which None means lazy; default
        :data:`~napari_segreview.io._base.LAZY_BYTES`.

    Returns
    -------
    ImageData

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "rgb.tif"
    >>> tifffile.imwrite(path, np.zeros((4, 5, 3), np.uint8), photometric="rgb")
    >>> img = read_tiff(path)
    >>> img.rgb, img.data.shape, img.spacing
    (True, (4, 5, 3), (1.0, 1.0))
    """
    path = Path(path)
    with _tifffile_warnings() as warned:
        tif = tifffile.TiffFile(path)
        keep_open = False
        try:
            try:
                data, info = _read(tif, path, lazy, lazy_bytes, warned)
            except tifffile.TiffFileError as exc:
                _check_complete(path, None, [], warned)  # says "truncated" when it is
                raise ReadError(f"{path.name} is truncated or corrupt "
                                    f"({one_line(exc)}); copy or export it again.") from exc
            keep_open = isinstance(data, _LazyPages)
            if keep_open:
                data = data.array
        finally:
            if not keep_open:
                tif.close()
    shape, axes, rgb, spacing, unit, calibrated, notes = info
    if data.shape != shape:  # tifffile squeezes the same way in both paths; be safe
        data = data.reshape(shape)
    if data.ndim - rgb > 4:
        notes = (*notes, f"{path.name} has axes {axes}; napari shows the extra axes as sliders.")
    return ImageData(data, path.stem.removesuffix(".ome"), path, "tiff", spacing=spacing,
                         spacing_unit=unit, calibrated=calibrated, rgb=rgb, notes=notes)


def _read(tif: tifffile.TiffFile, path: Path, lazy: bool | None, lazy_bytes: int | None,
          warned: list[str]):
    """The data (array, memmap or :class:`_LazyPages`) and what is known about it."""
    if not tif.series:
        raise ReadError(f"{path} holds no images; export it again.")
    series = tif.series[0]
    shape, dtype, axes = tuple(series.shape), np.dtype(series.dtype), series.axes
    pages, notes = series.pages, ()  # a lazy sequence: pages are parsed when used
    if len(tif.series) > 1 and all(len(s.pages) == 1 and s.shape == series.shape
                                   and s.dtype == series.dtype for s in tif.series):
        # Written one page at a time (e.g. a loop of TiffWriter.write): one series per
        # page. tifffile.imread would return the first page only; stack them all.
        pages = [s.pages[0] for s in tif.series]
        shape, axes = (len(pages), *shape), "Q" + axes
        notes = (f"{path.name} holds {len(pages)} separate images of one size; they are "
                 "stacked as slices.",)
    _check_complete(path, series if pages is series.pages else None, pages, warned)
    rgb = axes.endswith("S") and shape[-1] in (3, 4)
    spatial_axes = axes[:-1] if axes.endswith("S") else axes
    spacing, unit, calibrated = tiff_spacing(tif, spatial_axes)
    if axes.endswith("S") and not rgb:  # 2 or >4 samples: keep as a plain axis
        spacing = (*spacing, 1.0)
    info = (shape, axes, rgb, spacing, unit, calibrated, notes)
    nbytes = math.prod(shape) * dtype.itemsize
    want_lazy = wants_lazy(lazy, nbytes, lazy_bytes)
    if want_lazy and pages is series.pages and series.dataoffset is not None:
        return tifffile.memmap(path, mode="r", series=0), info
    if want_lazy:
        lazy_pages = _LazyPages.make(tif, pages, shape, dtype, rgb)
        if lazy_pages is not None:
            return lazy_pages, info
    if pages is not series.pages:
        return np.stack([p.asarray() for p in pages]), info
    return series.asarray(), info


# ----------------------------------------------------------------------------- truncation

#: tifffile log messages that mean pages are missing: it would otherwise quietly
#: return the pages it found (a 500-slice stack cut in half opens as one slice).
_FATAL = ("invalid page offset", "failed to reshape", "truncat", "corrupt")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _tifffile_warnings():
    """Collect tifffile's warnings (it logs, and goes on, on broken files)."""
    log = logging.getLogger("tifffile")
    handler = _Collect()
    log.addHandler(handler)
    propagate, log.propagate = log.propagate, False
    try:
        yield handler.messages
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


def _check_complete(path: Path, series: Any, pages: list, warned: list[str]) -> None:
    """Raise ReadError when the file ends before its last page's data, or tifffile balked."""
    fatal = next((m for m in warned if any(f in m.lower() for f in _FATAL)), None)
    if fatal is not None:
        text = " ".join(re.sub(r"<[^>]*>", "", fatal).split())[:160]
        raise ReadError(
            f"{path.name} is truncated or corrupt (tifffile: {text}); copy or export it again."
        )
    size = path.stat().st_size
    if series is not None and series.dataoffset is not None:
        end = series.dataoffset + series.size * np.dtype(series.dtype).itemsize
    else:
        last = pages[-1] if pages else None
        offsets = getattr(last, "dataoffsets", ()) or ()
        counts = getattr(last, "databytecounts", ()) or ()
        end = max((o + c for o, c in zip(offsets, counts, strict=False) if c), default=0)
    if end > size:
        raise ReadError(
            f"{path.name} is truncated: its image data end at byte {end} but the file has "
            f"{size} bytes; copy or export it again."
        )


# ----------------------------------------------------------------------------- lazy pages


class _LazyPages:
    """A dask array decoding one page per chunk from a TIFF file kept open (thread-safe)."""

    def __init__(self, tif: tifffile.TiffFile, pages: list) -> None:
        self.tif, self.pages = tif, pages
        self.name = Path(tif.filehandle.path).name
        self._lock = threading.Lock()
        self.array: Any = None

    @classmethod
    def make(cls, tif: tifffile.TiffFile, pages: list, shape: tuple[int, ...],
             dtype: np.dtype, rgb: bool) -> _LazyPages | None:
        """Wrap ``pages`` as ``shape``; None when the pages do not tile it one by one."""
        import dask.array as da

        page_dims = 3 if rgb else 2
        lead, plane = shape[:-page_dims], shape[-page_dims:]
        if not len(pages) or len(pages) != math.prod(lead) or pages[0] is None:
            return None
        if math.prod(pages[0].shape) != math.prod(plane):
            return None
        self = cls(tif, pages)

        def block(block_id: tuple[int, ...] | None = None) -> np.ndarray:
            index = int(np.ravel_multi_index(block_id[: len(lead)], lead)) if lead else 0
            return self.read(index).reshape((1,) * len(lead) + plane)

        chunks = tuple((1,) * n for n in lead) + tuple((n,) for n in plane)
        self.array = da.map_blocks(block, chunks=chunks, dtype=dtype,
                                   meta=np.empty((0,) * len(shape), dtype))
        return self

    def read(self, index: int) -> np.ndarray:
        """Decode page ``index``."""
        with self._lock:
            try:
                return _read_page(self.pages, index)
            except Exception as exc:  # the file changed or is damaged after opening
                raise ReadError(
                    f"cannot decode slice {index} of {self.name} ({one_line(exc)}); the "
                    "file is damaged, so copy or export it again."
                ) from exc

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.tif.close()


def _read_page(pages: list, index: int) -> np.ndarray:
    """Decode one page (tests count the calls)."""
    return pages[index].asarray()
