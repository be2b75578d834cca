"""Decoding the pixels of a stacked DICOM series: every transfer syntax, eager or lazy.

pydicom decodes native pixel data (little or big endian, explicit or implicit
VR, deflated) itself; compressed syntaxes go through its plugins:
``pylibjpeg`` with ``pylibjpeg-libjpeg`` (JPEG baseline, extended, lossless
and JPEG-LS), ``pylibjpeg-openjpeg`` (JPEG 2000, HTJ2K) and ``pylibjpeg-rle``
(RLE; pydicom's own decoder is used without it), all in the ``dicom`` extra.
When no decoder is available the error names the package to install, before
any slice is decoded.

Values are ``raw * RescaleSlope + RescaleIntercept`` slice by slice (frame by
frame for enhanced files): int16 when the slope and intercept are whole and
every value fits, float32 otherwise. A lazy stack is a dask array decoding
one slice (one frame) when it is shown; its type is chosen from the header
(``BitsStored``, ``PixelRepresentation``) so nothing is decoded up front but
one slice.
"""

from __future__ import annotations

import uuid
import warnings
from collections import defaultdict
from typing import Any

import numpy as np

from napari_segreview._util.arrays import one_line
from napari_segreview.errors import MissingDependency, ReadError
from napari_segreview.io.dicom_values import SliceHeader

__all__ = ["check_decoder", "read_pixels", "rescale_dtype"]

_JPEG = "pylibjpeg pylibjpeg-libjpeg"
_J2K = "pylibjpeg pylibjpeg-openjpeg"
#: Transfer syntax UID prefix -> (name, the packages that decode it).
_DECODERS = {
    "1.2.840.10008.1.2.4.50": ("JPEG baseline", _JPEG),
    "1.2.840.10008.1.2.4.51": ("JPEG extended", _JPEG),
    "1.2.840.10008.1.2.4.57": ("JPEG lossless", _JPEG),
    "1.2.840.10008.1.2.4.70": ("JPEG lossless", _JPEG),
    "1.2.840.10008.1.2.4.80": ("JPEG-LS", _JPEG),
    "1.2.840.10008.1.2.4.81": ("JPEG-LS", _JPEG),
    "1.2.840.10008.1.2.4.90": ("JPEG 2000", _J2K),
    "1.2.840.10008.1.2.4.91": ("JPEG 2000", _J2K),
    "1.2.840.10008.1.2.4.201": ("HTJ2K", _J2K),
    "1.2.840.10008.1.2.4.202": ("HTJ2K", _J2K),
    "1.2.840.10008.1.2.4.203": ("HTJ2K", _J2K),
    "1.2.840.10008.1.2.5": ("RLE", "pylibjpeg pylibjpeg-rle"),
}


def check_decoder(sl: SliceHeader) -> None:
    """Raise :class:`MissingDependency` naming the package when ``sl``'s syntax has no decoder.

    Examples
    --------
    >>> from pathlib import Path
    >>> sl = SliceHeader(Path("a"), "1", None, "", None, None, None, (2, 2, 1), None, 1, "CT",
    ...                  (None, None), None, None, transfer_syntax="1.2.840.10008.1.2.1")
    >>> check_decoder(sl) is None                 # explicit VR little endian: always
    True
    """
    known = _DECODERS.get(sl.transfer_syntax)
    if known is None or sl.float_pixels:
        return
    try:
        from pydicom.pixels import get_decoder

        available = get_decoder(sl.transfer_syntax).is_available
    except Exception:
        available = False
    if not available:
        name, packages = known
        raise MissingDependency(
            f"{sl.path.name} holds {name} compressed pixel data and no decoder for it is "
            f"installed: pip install {packages} (or napari-segreview[dicom])."
        )


def _decode_file(path: Any, frame: int | None, pydicom: Any) -> np.ndarray:
    """The raw pixels of one file (all frames) or of one frame (0-based index)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if frame is None:
            ds = pydicom.dcmread(path)
            if ds.get("NumberOfFrames") not in (None, "") and _bad_int(ds, "NumberOfFrames"):
                del ds.NumberOfFrames          # a malformed count on a single-frame file
            return ds.pixel_array
        from pydicom.pixels import pixel_array

        return pixel_array(path, index=frame)


def _bad_int(ds: Any, keyword: str) -> bool:
    try:
        int(ds.get(keyword))
    except (TypeError, ValueError):
        return True
    return False


def _failed(sl: SliceHeader, exc: Exception) -> ReadError:
    text = one_line(exc, 200)
    # pydicom says "missing dependencies" when no decoder is installed; "exceptions
    # were raised by all available plugins" means installed decoders failed: bad data
    hint = ("install a decoder: pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg "
            "pylibjpeg-rle" if "missing dependencies" in text.lower()
            else "the file may be truncated or corrupt; export the series again")
    return ReadError(f"cannot read the pixels of {sl.path.name} ({text}); {hint}.")


def _raw_slices(slices: list[SliceHeader], pydicom: Any) -> list[np.ndarray]:
    """Raw pixels of every slice, each file decoded once."""
    by_file: dict[Any, list[int]] = defaultdict(list)
    for i, sl in enumerate(slices):
        by_file[sl.path].append(i)
    out: list[np.ndarray | None] = [None] * len(slices)
    for path, idx in by_file.items():
        sl = slices[idx[0]]
        try:
            arr = _decode_file(path, None, pydicom)
        except Exception as exc:  # decoder plugins, truncated pixel data
            raise _failed(sl, exc) from exc
        multi = sl.frames > 1
        if not multi and arr.ndim > 2 + (sl.shape[2] > 1):
            arr = arr[0]            # more data than one frame, with no valid NumberOfFrames
        for i in idx:
            frame = slices[i].frame
            out[i] = arr[frame - 1] if multi and frame is not None else arr
    return out  # type: ignore[return-value]


def rescale_dtype(slices: list[SliceHeader], lows: list[int], highs: list[int]) -> np.dtype | None:
    """int16 when every ``raw * slope + intercept`` fits, float32 otherwise, None: no rescale.

    Examples
    --------
    >>> from pathlib import Path
    >>> sl = SliceHeader(Path("a"), "1", None, "", None, None, None, (2, 2, 1), None, 1, "CT",
    ...                  (None, None), None, None, slope=1.0, intercept=-1024.0)
    >>> rescale_dtype([sl], [0], [4095]), rescale_dtype([sl], [0], [65535])
    (dtype('int16'), dtype('float32'))
    """
    if all((s.slope, s.intercept) == (1.0, 0.0) for s in slices):
        return None
    if all(float(s.slope).is_integer() and float(s.intercept).is_integer() for s in slices):
        ends = [v * int(s.slope) + int(s.intercept) for s, lo, hi in zip(slices, lows, highs,
                                                                         strict=True)
                for v in (int(lo), int(hi))]
        info = np.iinfo(np.int16)
        if info.min <= min(ends) and max(ends) <= info.max:
            return np.dtype(np.int16)
    return np.dtype(np.float32)


def _apply(raw: np.ndarray, sl: SliceHeader, dtype: np.dtype | None) -> np.ndarray:
    if dtype is None:
        return raw
    if dtype == np.int16:
        return (raw.astype(np.int32) * int(sl.slope) + int(sl.intercept)).astype(np.int16)
    return raw.astype(np.float32) * np.float32(sl.slope) + np.float32(sl.intercept)


def read_pixels(slices: list[SliceHeader], pydicom: Any, *, rgb: bool, lazy: bool) -> Any:
    """The stack of ``slices`` (in their order), rescaled: a numpy array, or dask when ``lazy``."""
    check_decoder(slices[0])
    if lazy:
        return _lazy(slices, pydicom, rgb)
    raws = _raw_slices(slices, pydicom)
    if rgb or raws[0].dtype.kind == "f":
        return np.stack(raws)
    dtype = rescale_dtype(slices, [int(r.min()) for r in raws], [int(r.max()) for r in raws])
    if dtype is None:
        return np.stack(raws)
    out = np.empty((len(raws), *raws[0].shape), dtype)
    for k, (r, sl) in enumerate(zip(raws, slices, strict=True)):
        out[k] = _apply(r, sl, dtype)
    return out


def _one(sl: SliceHeader, pydicom: Any, dtype: np.dtype | None, shape: tuple[int, ...],
         raw_dtype: np.dtype) -> np.ndarray:
    try:
        raw = _decode_file(sl.path, None if sl.frames <= 1 or sl.frame is None
                           else sl.frame - 1, pydicom)
    except Exception as exc:  # decoder plugins, truncated pixel data
        raise _failed(sl, exc) from exc
    if raw.ndim > len(shape):
        raw = raw[0]                # more data than one frame, with no valid NumberOfFrames
    if raw.shape != shape:
        raise ReadError(f"{sl.path.name} decodes to {raw.shape}, not {shape} like the other "
                        "slices; export the series again.")
    return _apply(raw.astype(raw_dtype, copy=False), sl, dtype)


def _lazy(slices: list[SliceHeader], pydicom: Any, rgb: bool) -> Any:
    import dask.array as da

    middle = slices[len(slices) // 2]
    try:
        probe = _decode_file(middle.path, None if middle.frames <= 1 or middle.frame is None
                             else middle.frame - 1, pydicom)
    except Exception as exc:  # decoder plugins, truncated pixel data
        raise _failed(middle, exc) from exc
    if probe.ndim > 2 + (middle.shape[2] > 1):
        probe = probe[0]
    shape, raw_dtype = probe.shape, probe.dtype
    dtype = None
    if not rgb and raw_dtype.kind in "iu":
        lows = [-(2 ** (s.bits_stored - 1)) if s.signed else 0 for s in slices]
        highs = [2 ** (s.bits_stored - 1) - 1 if s.signed else 2 ** s.bits_stored - 1
                 for s in slices]
        dtype = rescale_dtype(slices, lows, highs)
    out_dtype = np.dtype(raw_dtype if dtype is None else dtype)

    def block(block_id: tuple[int, ...] | None = None) -> np.ndarray:
        # one chunk per slice; map_blocks keeps slicing O(1) where da.stack of 500
        # delayed reads costs ~0.1 s per slice shown
        return _one(slices[block_id[0]], pydicom, dtype, shape, raw_dtype)[None]

    chunks = ((1,) * len(slices), *((n,) for n in shape))
    return da.map_blocks(block, chunks=chunks, dtype=out_dtype,
                         meta=np.empty((0,) * (len(shape) + 1), out_dtype),
                         name=f"dicom-{uuid.uuid4().hex}")
