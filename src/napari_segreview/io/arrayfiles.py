"""Read and write label arrays with their metadata: TIFF, ``.npy`` and ``.npz``.

Only numpy and tifffile are used here (tifffile imported when a TIFF is read or
written, so that the constants are cheap to import). What an array *means* (its
kind, channel names, atom table, voxel spacing) is an :class:`ArrayMeta` that
travels with the file:

- TIFF: tifffile's shaped metadata, JSON in the ImageDescription tag;
- ``.npz``: the array under ``"data"`` and a JSON string under
  ``"segreview_meta"`` (a plain npz holding a single array is read too);
- ``.npy``: a sidecar ``<name>.npy.json`` next to the file.

Writes are atomic (:func:`napari_segreview._util.files.atomic_write`: temporary
file in the same folder, fsync, rename; a ``.npy`` and its sidecar through one
staging folder); reading problems raise :class:`~napari_segreview.errors.FormatError`.
``atomic_write`` and ``fsync_dir`` are still importable from here for older
callers; import them from :mod:`napari_segreview._util.files`.
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._util.arrays import one_line
from napari_segreview._util.files import atomic_write, fsync_dir, staged
from napari_segreview.errors import FormatError

__all__ = ["KINDS", "SUFFIXES", "WRITE_FORMATS", "ArrayMeta", "atomic_write", "file_suffix",
           "fsync_dir", "read_array", "sidecar_path", "write_array"]

#: What an array on disk encodes (:attr:`ArrayMeta.kind`).
KINDS = ("labels", "onehot", "multihot", "atoms")
SUFFIXES = (".tif", ".tiff", ".npy", ".npz")
#: The formats results are written in, by name (the suffix without its dot).
WRITE_FORMATS = ("tif", "npz", "npy")
_META_KEY = "segreview"
_NPZ_META = "segreview_meta"
_NPZ_DATA = "data"
_VERSION = 1


@dataclass(frozen=True)
class ArrayMeta:
    """What an array on disk means.

    Parameters
    ----------
    kind : {"labels", "onehot", "multihot", "atoms"} or None
        The encoding; None when unknown (a file written by another program).
    channel_names : tuple of str or None
        Names of the channels of a stack, or of the classes of a label map
        (entry ``i`` names label value ``i``).
    atom_table : dict or None
        ``AtomTable.to_dict()`` for an atom map.
    spacing : tuple of float or None
        Voxel size along the spatial axes.

    Examples
    --------
    >>> ArrayMeta("multihot", ["whole", "part_1"]).channel_names
    ('whole', 'part_1')
    >>> ArrayMeta().is_empty
    True
    """

    kind: str | None = None
    channel_names: tuple[str, ...] | None = None
    atom_table: dict[str, Any] | None = None
    spacing: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise FormatError(
                f"unknown array kind {self.kind!r}; use one of {', '.join(KINDS)} or None."
            )
        if self.channel_names is not None:
            names = tuple(self.channel_names)
            if not all(isinstance(n, str) for n in names):
                raise FormatError(f"channel names must be strings, got {names!r}.")
            object.__setattr__(self, "channel_names", names)
        table = self.atom_table
        if table is not None and hasattr(table, "to_dict"):
            object.__setattr__(self, "atom_table", table.to_dict())
        elif table is not None and not isinstance(table, dict):
            raise FormatError("atom_table must be the dict from AtomTable.to_dict() or None.")
        if self.spacing is not None:
            object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))

    @property
    def is_empty(self) -> bool:
        """True when nothing is known about the array."""
        return self == ArrayMeta()

    def to_json_dict(self) -> dict[str, Any]:
        """Return the JSON-able dict stored in files (unset fields left out)."""
        fields = {"kind": self.kind, "channel_names": self.channel_names,
                  "atom_table": self.atom_table, "spacing": self.spacing}
        return {"version": _VERSION, **{k: list(v) if isinstance(v, tuple) else v
                                        for k, v in fields.items() if v is not None}}

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> ArrayMeta:
        """Build from :meth:`to_json_dict` output; unknown keys are ignored."""
        return cls(d.get("kind"), d.get("channel_names"), d.get("atom_table"), d.get("spacing"))


def sidecar_path(path: str | os.PathLike) -> Path:
    """Return the metadata sidecar of a ``.npy`` file: ``labels.npy`` -> ``labels.npy.json``.

    Examples
    --------
    >>> sidecar_path("out/labels.npy").name
    'labels.npy.json'
    """
    path = Path(path)
    return path.with_name(path.name + ".json")


def file_suffix(path: str | os.PathLike) -> str:
    """Return the lower-case suffix of a supported file, or raise FormatError.

    Examples
    --------
    >>> file_suffix("scan.TIFF")
    '.tiff'
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise FormatError(
            f"{path} has an unsupported suffix {path.suffix or '(none)'!r}; "
            f"use one of {', '.join(SUFFIXES)}."
        )
    return suffix



# ----------------------------------------------------------------------------- reading


def read_array(path: str | os.PathLike) -> tuple[np.ndarray, ArrayMeta]:
    """Read an array and its metadata from a ``.tif``/``.tiff``, ``.npy`` or ``.npz`` file.

    Parameters
    ----------
    path : str or path-like
        The file. For ``.npy``, a sidecar ``<name>.npy.json`` is read if present.
        A DICOM SEG file is read as a multi-hot stack, one channel per segment
        named by its label (:func:`napari_segreview.io.dicomseg.read_seg`);
        what was assumed (a FRACTIONAL SEG thresholded at 0.5, masks placed
        by the SEG's own geometry) is warned as
        :class:`~napari_segreview.io.dicomseg.SegNote`.

    Returns
    -------
    array : numpy.ndarray
        The data, with the dtype and shape they were written with.
    meta : ArrayMeta
        What is known about the array; all fields None for foreign files.

    Raises
    ------
    FormatError
        If the file is missing, unreadable, truncated, holds pickled or object
        data, or has an unsupported suffix.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> stack = np.array([[[1, 0], [0, 1]], [[1, 1], [0, 0]]], dtype=np.uint8)
    >>> write_array(folder / "masks.npz", stack, ArrayMeta("multihot", ("bone", "cyst")))
    >>> data, meta = read_array(folder / "masks.npz")
    >>> bool((data == stack).all()), data.dtype, meta.kind, meta.channel_names
    (True, dtype('uint8'), 'multihot', ('bone', 'cyst'))
    """
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES and path.is_file():
        from napari_segreview.io.dicomseg import is_dicom_seg, read_seg

        if is_dicom_seg(path):   # a DICOM SEG: one binary mask per segment
            import warnings

            from napari_segreview.io.dicomseg import SegNote

            seg = read_seg(path)
            for note in seg.notes:   # thresholded, own geometry: the caller says them
                warnings.warn(note, SegNote, stacklevel=2)
            return seg.masks, ArrayMeta("multihot", seg.labels, spacing=seg.spacing)
    suffix = file_suffix(path)
    if not path.exists():
        raise FormatError(f"{path} does not exist; check the path and the current folder.")
    if not path.is_file():
        raise FormatError(f"{path} is not a file; give the path of a {suffix} file.")
    try:
        array, meta_dict = _READERS[suffix](path)
    except (FormatError, MemoryError):
        raise
    except Exception as exc:  # libraries raise many types on corrupt data
        if "Object arrays cannot be loaded" in str(exc):
            raise FormatError(
                f"{path} holds pickled Python objects, which are never loaded for safety; "
                "save a plain numeric array instead."
            ) from exc
        raise FormatError(
            f"could not read {path} ({one_line(exc)}); the file is corrupt, truncated "
            f"or not really a {suffix} file, so write it again."
        ) from exc
    if array.dtype.kind not in "biuf":
        raise FormatError(
            f"{path} holds {array.dtype} data, not numbers; save a bool, integer or float array."
        )
    try:
        meta = ArrayMeta() if meta_dict is None else ArrayMeta.from_json_dict(meta_dict)
    except (FormatError, TypeError, ValueError, AttributeError) as exc:
        raise FormatError(
            f"{path} carries unreadable segreview metadata ({one_line(exc)}); "
            "fix or remove it and write the file again."
        ) from exc
    return array, meta


def _read_tiff(path: Path) -> tuple[np.ndarray, dict | None]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        array = tif.asarray()
        shaped = tif.shaped_metadata or ()
        spacing = _tiff_calibration(tif, array.ndim)
    for block in shaped:
        if isinstance(block, dict) and isinstance(block.get(_META_KEY), dict):
            meta = block[_META_KEY]
            shape = meta.get("shape")
            if shape is not None and tuple(shape) != array.shape:
                array = array.reshape(shape)  # 1-D arrays are stored as (1, N)
            if spacing is not None and not meta.get("spacing"):
                meta = {**meta, "spacing": list(spacing)}
            return array, meta
    return array, (None if spacing is None else {"spacing": list(spacing)})


def _tiff_calibration(tif: Any, ndim: int) -> tuple[float, ...] | None:
    """The ImageJ/OME voxel spacing of the spatial axes, as the image reader reads it.

    None when the file says nothing (or its axes do not match the array): the
    spacing of a mask then comes from its segreview metadata or the caller.
    """
    from napari_segreview.io.tiff import tiff_spacing

    if not (tif.is_imagej or tif.is_ome) or not tif.series:
        return None
    axes = tif.series[0].axes
    if len(axes) != ndim:
        return None
    spatial = "".join("Z" if a in "IQ" else a for a in axes if a in "ZYXIQ")
    if not 2 <= len(spatial) <= 3 or len(set(spatial)) != len(spatial):
        return None
    spacing, _, calibrated = tiff_spacing(tif, spatial)
    return spacing if calibrated else None


def _read_npy(path: Path) -> tuple[np.ndarray, dict | None]:
    with open(path, "rb") as fh:
        array = np.lib.format.read_array(fh, allow_pickle=False)
    side = sidecar_path(path)
    if not side.exists():
        return array, None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(
            f"could not read the metadata sidecar {side} ({one_line(exc)}); fix or delete it."
        ) from exc
    if not isinstance(meta, dict):
        raise FormatError(f"the metadata sidecar {side} is not a JSON object; fix or delete it.")
    shape = meta.get("shape")
    if shape is not None and tuple(shape) != array.shape:
        raise FormatError(
            f"the metadata sidecar {side} describes shape {tuple(shape)} but {path.name} has "
            f"shape {array.shape}; delete the stale sidecar or write the pair again."
        )
    return array, meta


def _read_npz(path: Path) -> tuple[np.ndarray, dict | None]:
    if not zipfile.is_zipfile(path):  # np.load would try to unpickle it
        raise ValueError("not a zip archive")
    with np.load(path, allow_pickle=False) as npz:
        keys = [k for k in npz.files if k != _NPZ_META]
        if _NPZ_DATA in keys:
            key = _NPZ_DATA
        elif len(keys) == 1:
            key = keys[0]
        else:
            raise FormatError(
                f"{path} holds {len(keys)} arrays ({', '.join(keys) or 'none'}); "
                f"save the one to use under the name {_NPZ_DATA!r}."
            )
        array = npz[key]
        meta = None
        if _NPZ_META in npz.files:
            meta = json.loads(str(npz[_NPZ_META]))
            if not isinstance(meta, dict):
                raise FormatError(f"{path} has a {_NPZ_META!r} entry that is not a JSON object.")
    return array, meta


_READERS: dict[str, Callable[[Path], tuple[np.ndarray, dict | None]]] = {
    ".tif": _read_tiff, ".tiff": _read_tiff, ".npy": _read_npy, ".npz": _read_npz,
}


# ----------------------------------------------------------------------------- writing


def write_array(
    path: str | os.PathLike,
    array: np.ndarray,
    meta: ArrayMeta | None = None,
    *,
    overwrite: bool = True,
) -> None:
    """Write an array and its metadata atomically to ``.tif``/``.tiff``, ``.npy`` or ``.npz``.

    Parameters
    ----------
    path : str or path-like
        The output file; its suffix picks the format.
    array : array-like
        Bool, integer or float data (no object arrays), at least 1-D.
    meta : ArrayMeta, optional
        Stored with the data (``.npy``: in the sidecar ``<name>.npy.json``,
        which is removed when ``meta`` is empty so that no stale one remains).
    overwrite : bool, default True
        If False, an existing ``path`` is left alone and FormatError is raised.

    Raises
    ------
    FormatError
        On an unsupported suffix, a non-numeric array, channel names that do
        not match the channel axis, a missing folder, or a failed write. No
        output or temporary file is left behind.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> labels = np.array([[0, 1], [2, 255]], dtype=np.uint8)
    >>> write_array(folder / "labels.tif", labels, ArrayMeta("labels", spacing=(0.5, 0.5)))
    >>> sorted(p.name for p in folder.iterdir())
    ['labels.tif']
    >>> data, meta = read_array(folder / "labels.tif")
    >>> data.tolist(), meta.kind, meta.spacing
    ([[0, 1], [2, 255]], 'labels', (0.5, 0.5))
    """
    path = Path(path)
    suffix = file_suffix(path)
    meta = ArrayMeta() if meta is None else meta
    array = np.asarray(array)
    if array.dtype.kind not in "biuf" or array.ndim == 0:
        raise FormatError(
            f"cannot write {array.dtype} array of shape {array.shape} to {path}; "
            "give a bool, integer or float array with at least one axis."
        )
    names = meta.channel_names
    if meta.kind in ("onehot", "multihot") and names is not None and len(names) != len(array):
        raise FormatError(
            f"{len(names)} channel names were given for {path.name} but its array has "
            f"{len(array)} channels; give one name per channel."
        )
    if not path.parent.is_dir():
        raise FormatError(f"the folder {path.parent} does not exist; create it first.")
    if not overwrite and path.exists():
        raise FormatError(f"{path} already exists; choose another name or allow overwriting.")
    stored = {**meta.to_json_dict(), "shape": list(array.shape), "dtype": array.dtype.str}
    try:
        if suffix in (".tif", ".tiff"):
            atomic_write(path, lambda fh: _write_tiff(fh, array, stored), overwrite=overwrite)
        elif suffix == ".npz":
            atomic_write(path, lambda fh: _write_npz(fh, array, stored), overwrite=overwrite)
        else:
            _write_npy_pair(path, array, meta, stored, overwrite)
    except FileExistsError as exc:
        raise FormatError(
            f"{path} already exists; choose another name or allow overwriting."
        ) from exc
    except OSError as exc:
        raise FormatError(
            f"could not write {path} ({exc.strerror or one_line(exc)}); "
            "check that the folder is writable and the disk is not full."
        ) from exc


def _write_tiff(fh, array: np.ndarray, stored: dict) -> None:
    data = array.reshape(1, -1) if array.ndim == 1 else array  # TIFF needs 2 axes
    import tifffile

    tifffile.imwrite(fh, data, photometric="minisblack", metadata={_META_KEY: stored},
                     compression="zlib", compressionargs={"level": 1},
                     bigtiff=data.nbytes > 2**32 - 2**25)


def _write_npz(fh, array: np.ndarray, stored: dict) -> None:
    np.savez_compressed(fh, **{_NPZ_DATA: array, _NPZ_META: np.array(json.dumps(stored))})


def _write_npy_pair(path: Path, array: np.ndarray, meta: ArrayMeta, stored: dict,
                    overwrite: bool) -> None:
    """The ``.npy`` and its sidecar, staged together and moved in place one after the other."""
    side = sidecar_path(path)

    def write_npy(fh):
        np.save(fh, array, allow_pickle=False)

    if meta.is_empty:
        atomic_write(path, write_npy, overwrite=overwrite)
        with contextlib.suppress(FileNotFoundError):
            side.unlink()  # a stale sidecar would describe an older array
        return
    with staged(path.parent, path.name) as st:
        npy = st.write(path.name, write_npy)
        meta_file = st.write(side.name, lambda fh: fh.write(json.dumps(stored, indent=1).encode()))
        st.move(npy, path, overwrite=overwrite)
        st.move(meta_file, side)
    fsync_dir(path.parent)
