"""The chunk grid of a review session: which chunks an edit touches, and chunk files.

A session stores each label layer as a grid of chunks (blocks of the array).
Autosave rewrites only the chunks an edit touched, so this module maps edits
to chunk keys cheaply (from a bounding box or from the changed indices, never
by scanning the volume) and reads and writes single chunk files.

A chunk file is a plain numpy ``.npz`` archive holding the chunk under the key
``"data"`` (deflate level 1), named ``<key>.g<generation>.npz`` (for example
``3.0.1.g17.npz``). Files are never overwritten in place: a new version gets a
new generation in its name, written to a temporary name, fsynced and renamed,
so every chunk file on disk is complete. Only numpy is used here.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from napari_segreview._util.files import atomic_write
from napari_segreview.errors import FormatError

__all__ = [
    "CHUNK_BYTES", "Key", "all_keys", "chunk_name", "chunk_shape_for", "chunk_slices",
    "grid_shape", "keys_of_atom", "keys_of_indices", "keys_of_slices", "parse_chunk_name",
    "read_npz", "remove_files", "write_npz",
]

Key = tuple[int, ...]
#: Target size of one chunk in bytes (about 1 MiB).
CHUNK_BYTES = 1 << 20
#: Largest chunk extent along the two last (in-plane) axes.
PLANE_CHUNK = 256
_NAME = re.compile(r"^(\d+(?:\.\d+)*)\.g(\d+)\.npz$")


def chunk_shape_for(shape: Sequence[int], itemsize: int = 1,
                    target: int = CHUNK_BYTES) -> tuple[int, ...]:
    """Return a chunk shape for an array: in-plane tiles of up to 256 x 256, slabs of slices.

    The two last axes get up to :data:`PLANE_CHUNK` each, the axis before
    them as many slices as fit in ``target`` bytes, and any further leading
    axes 1.

    Examples
    --------
    >>> chunk_shape_for((500, 512, 512))
    (16, 256, 256)
    >>> chunk_shape_for((500, 512, 512), itemsize=4)
    (4, 256, 256)
    >>> chunk_shape_for((3, 10, 64, 64))
    (1, 10, 64, 64)
    >>> chunk_shape_for((100,))
    (100,)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        return (max(1, min(shape[0], target // max(itemsize, 1))),)
    plane = tuple(max(1, min(s, PLANE_CHUNK)) for s in shape[-2:])
    if len(shape) == 2:
        return plane
    per_slice = plane[0] * plane[1] * max(itemsize, 1)
    depth = max(1, min(shape[-3], target // per_slice))
    return (1,) * (len(shape) - 3) + (depth, *plane)


def grid_shape(shape: Sequence[int], chunks: Sequence[int]) -> tuple[int, ...]:
    """Return the number of chunks along each axis.

    Examples
    --------
    >>> grid_shape((500, 512, 512), (16, 256, 256))
    (32, 2, 2)
    """
    return tuple(-(-int(s) // int(c)) for s, c in zip(shape, chunks, strict=True))


def chunk_slices(key: Key, chunks: Sequence[int], shape: Sequence[int]) -> tuple[slice, ...]:
    """Return the slices of the array covered by chunk ``key``.

    Examples
    --------
    >>> chunk_slices((31, 1, 0), (16, 256, 256), (500, 512, 512))
    (slice(496, 500, None), slice(256, 512, None), slice(0, 256, None))
    """
    return tuple(slice(k * c, min((k + 1) * c, s))
                 for k, c, s in zip(key, chunks, shape, strict=True))


def all_keys(shape: Sequence[int], chunks: Sequence[int]) -> Iterator[Key]:
    """Yield every chunk key of the grid in C order.

    Examples
    --------
    >>> list(all_keys((3, 4), (2, 4)))
    [(0, 0), (1, 0)]
    """
    return itertools.product(*(range(n) for n in grid_shape(shape, chunks)))


def keys_of_slices(slices: Sequence[slice], chunks: Sequence[int],
                   shape: Sequence[int]) -> Iterator[Key]:
    """Yield the chunk keys a region given by slices (step 1 or None) overlaps.

    Examples
    --------
    >>> sorted(keys_of_slices((slice(5, 6), slice(250, 260), slice(0, 10)),
    ...                       (16, 256, 256), (500, 512, 512)))
    [(0, 0, 0), (0, 1, 0)]
    """
    ranges = []
    for sl, c, s in zip(slices, chunks, shape, strict=True):
        start, stop, _ = sl.indices(int(s))
        if stop <= start:
            return
        ranges.append(range(start // c, (stop - 1) // c + 1))
    yield from itertools.product(*ranges)


def keys_of_indices(indices: Sequence[np.ndarray], chunks: Sequence[int]) -> set[Key]:
    """Return the chunk keys holding the voxels at fancy ``indices`` (one array per axis).

    Costs one pass over the changed voxels, never over the volume.

    Examples
    --------
    >>> import numpy as np
    >>> sorted(keys_of_indices((np.array([0, 400]), np.array([1, 300]), np.array([2, 3])),
    ...                        (16, 256, 256)))
    [(0, 0, 0), (25, 1, 0)]
    """
    idx = [np.asarray(i).ravel() // c for i, c in zip(indices, chunks, strict=True)]
    if not idx or idx[0].size == 0:
        return set()
    lo = [int(i.min()) for i in idx]
    hi = [int(i.max()) for i in idx]
    n_box = int(np.prod([h - low + 1 for low, h in zip(lo, hi, strict=True)]))
    if n_box <= 8:  # a small box: every chunk in it (cheap, at most 8 more than needed)
        return set(itertools.product(*(range(a, b + 1) for a, b in zip(lo, hi, strict=True))))
    flat = np.unique(np.stack(idx, axis=1), axis=0)
    return {tuple(int(v) for v in row) for row in flat}


def keys_of_atom(atom: object, chunks: Sequence[int], shape: Sequence[int]) -> set[Key]:
    """Return the chunk keys changed by one napari Labels history atom.

    napari records an edit either as a masked paint (an object with a
    ``slice_key`` tuple of slices: brush, fill, polygon) or as a tuple
    ``(indices, old_values, new_values)`` (``data_setitem``).

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> atom = SimpleNamespace(slice_key=(slice(3, 4), slice(0, 10), slice(0, 10)))
    >>> keys_of_atom(atom, (16, 256, 256), (500, 512, 512))
    {(0, 0, 0)}
    >>> keys_of_atom(((np.array([20]), np.array([0]), np.array([300])), None, 1),
    ...              (16, 256, 256), (500, 512, 512))
    {(1, 0, 1)}
    """
    slice_key = getattr(atom, "slice_key", None)
    if slice_key is not None:
        return set(keys_of_slices(slice_key, chunks, shape))
    indices = atom[0]  # type: ignore[index]
    if isinstance(indices, tuple) and all(isinstance(i, slice) for i in indices):
        return set(keys_of_slices(indices, chunks, shape))
    return keys_of_indices(indices, chunks)


def chunk_name(key: Key, generation: int) -> str:
    """Return the file name of chunk ``key`` written in ``generation``.

    Examples
    --------
    >>> chunk_name((3, 0, 1), 17)
    '3.0.1.g17.npz'
    >>> parse_chunk_name('3.0.1.g17.npz')
    ((3, 0, 1), 17)
    """
    return ".".join(str(k) for k in key) + f".g{generation}.npz"


def parse_chunk_name(name: str) -> tuple[Key, int] | None:
    """Return ``(key, generation)`` for a chunk file name, None for any other name."""
    m = _NAME.match(name)
    if m is None:
        return None
    return tuple(int(v) for v in m.group(1).split(".")), int(m.group(2))


def write_npz(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` under ``"data"`` in a deflated ``.npz``: temp name, fsync, rename.

    The folder's entry is not fsynced here (the caller does it once for a
    batch of files before it commits).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "0.0.g1.npz"
    >>> write_npz(p, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> read_npz(p, (2, 3), np.uint8).tolist()
    [[0, 1, 2], [3, 4, 5]]
    """
    path = Path(path)
    array = np.ascontiguousarray(array)

    def write(fh) -> None:  # streamed into the zip: no second copy of a whole-volume array
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
                zf.open("data.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, array, allow_pickle=False)

    atomic_write(path, write, sync_dir=False)


def read_npz(path: str | os.PathLike, shape: Sequence[int] | None = None,
             dtype: np.dtype | str | None = None) -> np.ndarray:
    """Read the array of a chunk or array file, checking its shape and dtype when given.

    Raises
    ------
    FormatError
        If the file is missing, truncated or holds another shape or dtype.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            array = npz["data"]
    except FileNotFoundError as exc:
        raise FormatError(f"the session file {path} is missing.") from exc
    except Exception as exc:  # zip/numpy raise many types on corrupt data
        raise FormatError(f"the session file {path} is corrupt ({exc}).") from exc
    if shape is not None and tuple(array.shape) != tuple(shape):
        raise FormatError(f"the session file {path} holds shape {array.shape}, "
                          f"expected {tuple(shape)}; the file is corrupt.")
    if dtype is not None and array.dtype != np.dtype(dtype):
        raise FormatError(f"the session file {path} holds {array.dtype} data, "
                          f"expected {np.dtype(dtype)}; the file is corrupt.")
    return array


def remove_files(paths: Iterable[Path]) -> None:
    """Delete files, ignoring ones already gone."""
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)
