"""Blockwise kernels shared by the conversions in formats.py and atoms.py.

Channel stacks are processed in cache-sized blocks of voxels. Atoms pack the
channels set at a voxel into one integer code (bit ``c`` for channel ``c``).
Painting a label map uses masked writes instead of such codes: on real,
blob-like masks they are about three times faster than a code lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_segreview._util.arrays import as_mask_u8, as_numpy, blocks, require_integer
from napari_segreview.errors import FormatError
from napari_segreview.labels.checks import check_binary


def labels_arg(labels: Any) -> tuple[np.ndarray, Any]:
    arr, back = as_numpy(labels)
    require_integer(arr)
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    if arr.size and np.issubdtype(arr.dtype, np.signedinteger) and arr.min() < 0:
        raise FormatError(
            f"a label map must not hold negative values, but its minimum is {arr.min()}."
        )
    return arr, back


def channel_stack_arg(stack: Any, what: str) -> tuple[np.ndarray, Any]:
    arr, back = as_numpy(stack)
    if arr.ndim < 2:
        raise FormatError(
            f"{what} must be shaped (C, [Z,] Y, X) with the channel axis first, "
            f"but it has shape {arr.shape}."
        )
    if arr.dtype == np.uint8:
        # One fast reduction; the detailed (slower) report only when it fails.
        if arr.size and arr.max() > 1:
            check_binary(arr).raise_for_findings()
    elif arr.dtype != np.bool_:
        check_binary(arr).raise_for_findings()
    return arr, back


def fill_regions(flat: np.ndarray, regions: Sequence[np.ndarray], out: np.ndarray) -> None:
    """out[c] = isin(flat, regions[c]) blockwise; out is (C, N) uint8/bool."""
    vmax = int(flat.max()) if flat.size else 0
    luts = []
    for values in regions:
        values = np.asarray(values, dtype=np.int64)
        if values.size == 1:
            luts.append(("eq", int(values[0])))
        elif values.size and np.array_equal(values, np.arange(values.min(), values.max() + 1)):
            luts.append(("range", (int(values.min()), int(values.max()))))
        else:
            lut = np.zeros(max(vmax, int(values.max(initial=0))) + 1, out.dtype)
            lut[values[values >= 0]] = 1
            luts.append(("lut", lut))
    tmp = np.empty(min(flat.size, 1 << 18), bool)
    for s in blocks(flat.size):
        b = flat[s]
        for c, (kind, arg) in enumerate(luts):
            o = out[c, s].view(np.bool_) if out.dtype.itemsize == 1 else out[c, s]
            if kind == "eq":
                np.equal(b, arg, out=o)
            elif kind == "range":
                t = tmp[: b.size]
                np.greater_equal(b, arg[0], out=o)
                np.less_equal(b, arg[1], out=t)
                np.logical_and(o, t, out=o)
            else:
                np.take(arg, b, out=out[c, s], mode="clip")




def code_dtype(n_ch: int) -> np.dtype:
    """Unsigned dtype with at least ``n_ch`` bits.

    >>> code_dtype(8), code_dtype(9)
    (dtype('uint8'), dtype('uint16'))
    """
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if n_ch <= np.dtype(dt).itemsize * 8:
            return np.dtype(dt)
    raise FormatError(f"atoms support at most 64 channels, but the stack has {n_ch}.")


def channel_codes(flat: np.ndarray, s: slice, code: np.ndarray, tmp: np.ndarray) -> None:
    """``code = sum_c mask_c << c`` over block ``s`` of a ``(C, N)`` stack."""
    code[...] = 0
    t = tmp[: code.size]
    for c in range(flat.shape[0]):
        np.left_shift(as_mask_u8(flat[c, s]), c, out=t, dtype=code.dtype, casting="unsafe")
        np.bitwise_or(code, t, out=code)
