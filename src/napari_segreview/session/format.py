"""The ``session.json`` format of review sessions: records, changes, versions, paths.

``session.json`` is the single commit point of a session folder (see
:mod:`napari_segreview.session.session`). This module holds what describes it:
the format name and version, the migrations from older versions, the layer
records it lists, the :class:`Changes` a commit applies, and where a
session of an image lives. Numpy only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._util.markers import SESSION_FILE
from napari_segreview.errors import SessionError
from napari_segreview.session.store import (
    Key,
    all_keys,
    chunk_shape_for,
    chunk_slices,
    grid_shape,
)

__all__ = [
    "FORMAT", "FORMAT_VERSION", "MIGRATIONS", "SESSION_FILE", "SUFFIX", "Changes",
    "LayerRecord", "LayerUpdate", "SessionError", "default_folder", "find_session",
    "full_update", "is_session", "session_folder", "timestamp", "upgrade",
]

FORMAT = "napari-segreview session"
#: The layout version this program writes; older ones are migrated on open.
FORMAT_VERSION = 1
SUFFIX = ".segreview"
#: ``MIGRATIONS[v](doc)`` turns a version-``v`` ``session.json`` dict into version ``v + 1``.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


def is_session(path: str | os.PathLike) -> bool:
    """True when ``path`` is a session folder or its ``session.json`` (cheap: no parsing).

    Examples
    --------
    >>> is_session("/nonexistent/folder")
    False
    """
    try:
        return session_folder(path).joinpath(SESSION_FILE).is_file()
    except (OSError, ValueError):
        return False


def session_folder(path: str | os.PathLike) -> Path:
    """Return the session folder for a folder or a ``session.json`` path.

    Examples
    --------
    >>> session_folder("/data/scan.segreview/session.json").as_posix()
    '/data/scan.segreview'
    """
    path = Path(path)
    return path.parent if path.name == SESSION_FILE else path


def default_folder(image_path: str | os.PathLike) -> Path:
    """Return where the session of an image lives: ``<image name>.segreview`` next to it.

    Examples
    --------
    >>> default_folder("/data/ct/scan.nii.gz").as_posix()
    '/data/ct/scan.segreview'
    >>> default_folder("/data/ct/series_07/").as_posix()
    '/data/ct/series_07.segreview'
    """
    path = Path(image_path)
    name = path.name
    for suffix in (".nii.gz", ".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    else:
        name = path.stem if path.suffix and not path.is_dir() else name
    return path.parent / (name + SUFFIX)


def find_session(image_path: str | os.PathLike) -> Path | None:
    """Return the session folder next to an image if there is one, else None.

    Examples
    --------
    >>> find_session("/nonexistent/scan.tif") is None
    True
    """
    folder = default_folder(image_path)
    return folder if is_session(folder) else None


@dataclass
class LayerRecord:
    """One label layer of a session as ``session.json`` lists it.

    ``chunks`` holds, for every chunk of the grid in C order, the generation
    whose file holds it, or 0 for a chunk of zeros (no file).
    """

    id: str
    name: str
    shape: tuple[int, ...]
    dtype: str
    chunk_shape: tuple[int, ...]
    chunks: list[int]
    scale: list[float] | None = None
    translate: list[float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    display: dict[str, Any] = field(default_factory=dict)
    prediction: str | None = None
    removed: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerRecord:
        """Build from a ``session.json`` entry, checking that the chunk map fits the grid."""
        try:
            rec = cls(
                id=str(d["id"]), name=str(d["name"]), shape=tuple(int(s) for s in d["shape"]),
                dtype=str(np.dtype(d["dtype"])),
                chunk_shape=tuple(int(c) for c in d["chunk_shape"]),
                chunks=[int(g) for g in d["chunks"]], scale=d.get("scale"),
                translate=d.get("translate"), metadata=dict(d.get("metadata") or {}),
                display=dict(d.get("display") or {}), prediction=d.get("prediction"),
                removed=bool(d.get("removed", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SessionError(f"a layer entry of session.json is malformed ({exc!r}).") from exc
        n = int(np.prod(grid_shape(rec.shape, rec.chunk_shape)))
        if len(rec.chunks) != n:
            raise SessionError(f"layer {rec.name!r} lists {len(rec.chunks)} chunks but its "
                               f"grid has {n}; session.json is corrupt.")
        return rec

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able ``session.json`` entry."""
        return {"id": self.id, "name": self.name, "shape": list(self.shape),
                "dtype": self.dtype, "chunk_shape": list(self.chunk_shape),
                "chunks": list(self.chunks), "scale": self.scale, "translate": self.translate,
                "metadata": self.metadata, "display": self.display,
                "prediction": self.prediction, "removed": self.removed}


@dataclass
class LayerUpdate:
    """What changed in one layer since the last commit.

    Parameters
    ----------
    info : dict
        New values of record fields (``name``, ``scale``, ``translate``,
        ``metadata``, ``display``; with ``full``, also ``shape`` and ``dtype``).
        Required for a layer the session does not hold yet.
    chunks : dict
        ``{key: chunk array}``: copies of the chunks that changed.
    full : bool
        The chunks given are the whole layer (a new layer or new data): chunks
        left out are zeros.
    prediction : numpy.ndarray, optional
        The model's prediction kept with the layer (written once per change).
    removed : bool, optional
        Mark the layer removed from the viewer (its data stays in the session).
    """

    info: dict[str, Any] = field(default_factory=dict)
    chunks: dict[Key, np.ndarray] = field(default_factory=dict)
    full: bool = False
    prediction: np.ndarray | None = None
    removed: bool | None = None


@dataclass
class Changes:
    """One commit: layer updates, state blobs, and session-level fields.

    ``image`` is merged into the recorded image dict (keys given replace
    those recorded, others stay), ``card`` replaces the recorded card.
    """

    layers: dict[str, LayerUpdate] = field(default_factory=dict)
    states: dict[str, dict] = field(default_factory=dict)
    closed_cleanly: bool | None = None
    image: dict[str, Any] | None = None
    card: dict[str, Any] | None = None

    @property
    def edits(self) -> bool:
        """True when layer data changes (not only names or flags)."""
        return any(u.chunks or u.full or u.prediction is not None for u in self.layers.values())


def timestamp() -> str:
    """The local time as ``session.json`` records it (ISO 8601, with the UTC offset).

    Examples
    --------
    >>> import datetime
    >>> datetime.datetime.strptime(timestamp(), "%Y-%m-%dT%H:%M:%S%z").tzinfo is not None
    True
    """
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    """Return ``doc`` migrated to :data:`FORMAT_VERSION` (a newer version is refused).

    Examples
    --------
    >>> upgrade({"format": FORMAT, "version": 1, "layers": []})["version"]
    1
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SessionError("session.json is not a napari-segreview session file.")
    version = doc.get("version")
    if not isinstance(version, int) or version < 1:
        raise SessionError(f"session.json has an invalid version {version!r}.")
    if version > FORMAT_VERSION:
        raise SessionError(f"this session was written in format {version} by a newer "
                           f"napari-segreview (this one reads up to {FORMAT_VERSION}); "
                           "update napari-segreview to open it.")
    while doc["version"] < FORMAT_VERSION:
        step = MIGRATIONS.get(doc["version"])
        if step is None:
            raise SessionError(f"no migration from session format {doc['version']}; "
                               "update napari-segreview.")
        doc = step(doc)
    return doc


def full_update(data: np.ndarray, **info: Any) -> LayerUpdate:
    """Return a :class:`LayerUpdate` holding the whole array (its non-zero chunks).

    Examples
    --------
    >>> import numpy as np
    >>> up = full_update(np.eye(300, dtype=np.uint8), name="diag")
    >>> sorted(up.chunks), up.info["shape"]
    ([(0, 0), (1, 1)], [300, 300])
    """
    data = np.asarray(data)
    prediction = info.pop("prediction", None)
    chunks = info.pop("chunk_shape", None) or chunk_shape_for(data.shape, data.dtype.itemsize)
    out: dict[Key, np.ndarray] = {}
    for key in all_keys(data.shape, chunks):
        block = data[chunk_slices(key, chunks, data.shape)]
        if block.any():
            out[key] = np.array(block, copy=True)
    info.update(shape=list(data.shape), dtype=str(data.dtype), chunk_shape=list(chunks))
    return LayerUpdate(info=info, chunks=out, full=True, prediction=prediction)
