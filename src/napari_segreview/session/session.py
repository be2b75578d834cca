"""Review sessions on disk: label layers in chunks, committed atomically, versioned.

A session folder binds an image (its path, shape and spacing), a model card
and the correction layers, plus named JSON state blobs (the QA state). Its
single commit point is ``session.json``, rewritten atomically (temporary name,
fsync, rename) after the chunk files it refers to are on disk. Chunk files are
never overwritten: a new version of a chunk gets the new generation in its
name. So a crash at any moment leaves the last committed generation intact:
``session.json`` names only complete files, and files of an unfinished commit
are simply not referenced (they are deleted the next time the session is
opened for writing). The layout is documented in ``docs/sessions-and-recovery.md``.

Numpy only: the napari side (``_napari/session/``) turns layer edits into
:class:`Changes` and hands them to :meth:`Session.commit` in a worker thread.

Examples
--------
>>> import tempfile, pathlib
>>> import numpy as np
>>> folder = pathlib.Path(tempfile.mkdtemp()) / "scan.segreview"
>>> s = Session.create(folder, image={"name": "scan", "shape": [4, 8, 8]})
>>> lid = s.add_layer("bone", np.zeros((4, 8, 8), np.uint8), metadata={"kind": "mask"})
>>> data = s.read_layer(lid)
>>> data[1, 2:4, 2:4] = 1
>>> s.commit(Changes(layers={lid: LayerUpdate(chunks={(0, 0, 0): data})})) > 0
True
>>> again = Session.open(folder)
>>> bool((again.read_layer(lid) == data).all()), again.layer(lid).name
(True, 'bone')
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._util.files import atomic_write, fsync_dir
from napari_segreview.errors import SessionError
from napari_segreview.session.format import (
    FORMAT,
    FORMAT_VERSION,
    MIGRATIONS,
    SESSION_FILE,
    Changes,
    LayerRecord,
    LayerUpdate,
    default_folder,
    find_session,
    full_update,
    is_session,
    session_folder,
    timestamp,
    upgrade,
)
from napari_segreview.session.store import (
    all_keys,
    chunk_name,
    chunk_shape_for,
    chunk_slices,
    grid_shape,
    parse_chunk_name,
    read_npz,
    remove_files,
    write_npz,
)

__all__ = [
    "FORMAT", "FORMAT_VERSION", "MIGRATIONS", "SESSION_FILE", "Changes", "LayerRecord",
    "LayerUpdate", "Session", "SessionError", "default_folder", "find_session", "full_update",
    "is_session", "session_folder", "upgrade",
]


def _owner() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class Session:
    """A session folder, opened for reading or writing. Thread-safe: commits serialize.

    Use :meth:`create` or :meth:`open`; do not call the constructor directly.
    """

    def __init__(self, folder: Path, doc: dict[str, Any], writable: bool):
        self.folder = folder
        self.writable = writable
        self._doc = doc
        self._lock = threading.RLock()

    # -------------------------------------------------------------- opening

    @classmethod
    def create(cls, folder: str | os.PathLike, *, image: dict | None = None,
               card: dict | None = None) -> Session:
        """Create a new, empty session in ``folder`` (created; must not hold a session).

        Raises
        ------
        SessionError
            If ``folder`` already holds a session or cannot be created.
        """
        folder = Path(folder)
        if is_session(folder):
            raise SessionError(f"{folder} already holds a session; open or restore it, "
                               "or choose another folder.")
        try:
            (folder / "layers").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SessionError(f"cannot create the session folder {folder} "
                               f"({exc.strerror}); choose a writable folder.") from exc
        doc = {"format": FORMAT, "version": FORMAT_VERSION, "generation": 0,
               "edit_generation": 0, "clean_generation": 0, "closed_cleanly": False,
               "created_at": timestamp(), "saved_at": timestamp(), "owner": _owner(),
               "image": image, "card": card, "layers": [], "state": {}}
        session = cls(folder, doc, writable=True)
        session._write_doc(doc)
        return session

    @classmethod
    def open(cls, folder: str | os.PathLike, *, writable: bool = True) -> Session:
        """Open the session in ``folder`` (or at its ``session.json``).

        Opening for writing migrates an older format, deletes the files of an
        unfinished commit, and takes ownership (it refuses a session open in
        another living process on this machine). Reading changes nothing.
        """
        folder = session_folder(folder)
        path = folder / SESSION_FILE
        if not path.is_file():
            raise SessionError(f"{folder} holds no session ({SESSION_FILE} is missing).")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SessionError(f"cannot read {path} ({exc}); the file is damaged.") from exc
        doc = upgrade(doc)
        records = [LayerRecord.from_dict(d) for d in doc.get("layers", [])]  # validates
        session = cls(folder, doc, writable=writable)
        if writable:
            owner = doc.get("owner") or {}
            pid = owner.get("pid")
            if (not doc.get("closed_cleanly") and isinstance(pid, int) and pid != os.getpid()
                    and owner.get("host") == socket.gethostname() and _pid_alive(pid)):
                raise SessionError(f"the session {folder} is open in another program "
                                   f"(process {pid}); close it there first.")
            session._collect_garbage(records)
        return session

    # -------------------------------------------------------------- reading

    @property
    def doc(self) -> dict[str, Any]:
        """The committed ``session.json`` content (do not modify)."""
        return self._doc

    @property
    def generation(self) -> int:
        """Number of the last commit."""
        return int(self._doc.get("generation", 0))

    @property
    def closed_cleanly(self) -> bool:
        """False while the session is open, or after a crash."""
        return bool(self._doc.get("closed_cleanly"))

    @property
    def interrupted(self) -> bool:
        """True when edits were saved after the last clean close (a crash or kill).

        Examples
        --------
        >>> Session(Path("."), {"closed_cleanly": False, "edit_generation": 5,
        ...                     "clean_generation": 2}, False).interrupted
        True
        """
        return (not self.closed_cleanly
                and int(self._doc.get("edit_generation", 0))
                > int(self._doc.get("clean_generation", 0)))

    @property
    def image(self) -> dict[str, Any] | None:
        """The image the session belongs to: name, path, shape, dtype, scale, translate.

        Sessions written since the image display is recorded also hold
        ``contrast_limits``, ``colormap``, ``units`` and ``metadata``; older
        ones lack them (every key is optional for readers).
        """
        return self._doc.get("image")

    @property
    def card(self) -> dict[str, Any] | None:
        """The model card (as a dict) of the session's decision layers, if any."""
        return self._doc.get("card")

    @property
    def layers(self) -> list[LayerRecord]:
        """Every layer record, removed ones included."""
        return [LayerRecord.from_dict(d) for d in self._doc.get("layers", [])]

    def layer(self, layer_id: str) -> LayerRecord:
        """Return the record of one layer."""
        for d in self._doc.get("layers", []):
            if d["id"] == layer_id:
                return LayerRecord.from_dict(d)
        raise SessionError(f"the session has no layer with id {layer_id!r}.")

    def layer_dir(self, layer_id: str) -> Path:
        """The folder holding a layer's files."""
        return self.folder / "layers" / layer_id

    def read_layer(self, layer_id: str) -> np.ndarray:
        """Return the committed data of a layer (every chunk checked for shape and dtype)."""
        rec = self.layer(layer_id)
        out = np.zeros(rec.shape, dtype=rec.dtype)
        folder = self.layer_dir(layer_id)
        for key, gen in zip(all_keys(rec.shape, rec.chunk_shape), rec.chunks, strict=True):
            if gen:
                sl = chunk_slices(key, rec.chunk_shape, rec.shape)
                shape = tuple(s.stop - s.start for s in sl)
                out[sl] = read_npz(folder / chunk_name(key, gen), shape, rec.dtype)
        return out

    def read_prediction(self, layer_id: str) -> np.ndarray | None:
        """Return the kept prediction of a layer, or None."""
        rec = self.layer(layer_id)
        return None if rec.prediction is None else read_npz(
            self.layer_dir(layer_id) / rec.prediction)

    def read_image(self) -> np.ndarray | None:
        """Return the image stored in the session (images without a file path), or None."""
        stored = (self.image or {}).get("stored")
        return None if not stored else read_npz(self.folder / stored)

    def state(self, name: str) -> dict | None:
        """Return a state blob saved with :meth:`save_state` (None if there is none)."""
        value = self._doc.get("state", {}).get(name)
        return value if isinstance(value, dict) else None

    # -------------------------------------------------------------- writing

    def add_layer(self, name: str, data: np.ndarray, *, metadata: dict | None = None,
                  scale: Any = None, translate: Any = None, display: dict | None = None,
                  prediction: np.ndarray | None = None) -> str:
        """Add a label layer and commit it; return its new id."""
        layer_id = secrets.token_hex(4)
        self.commit(Changes(layers={layer_id: full_update(
            data, name=name, metadata=metadata or {}, display=display or {},
            scale=None if scale is None else [float(s) for s in scale],
            translate=None if translate is None else [float(t) for t in translate],
            prediction=prediction)}))
        return layer_id

    def save_state(self, name: str, value: dict) -> None:
        """Commit a JSON-able dict under ``name`` (for example the QA state).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> s = Session.create(pathlib.Path(tempfile.mkdtemp()) / "s")
        >>> s.save_state("qa", {"reviewed": [1, 2]})
        >>> Session.open(s.folder).state("qa")
        {'reviewed': [1, 2]}
        """
        json.dumps(value)  # fail early on data JSON cannot hold
        self.commit(Changes(states={name: value}))

    def close(self) -> None:
        """Mark the session closed cleanly (call after the last commit)."""
        self.commit(Changes(closed_cleanly=True))

    def commit(self, changes: Changes) -> int:
        """Write ``changes`` as the next generation and return its number.

        Chunk files are written first (new names), then ``session.json`` is
        replaced atomically; only then are superseded files deleted. If
        anything fails, the session stays at the previous generation.
        """
        if not self.writable:
            raise SessionError(f"{self.folder} was opened read-only.")
        with self._lock:
            gen = self.generation + 1
            doc = json.loads(json.dumps(self._doc))  # a deep, JSON-only copy
            records = {d["id"]: d for d in doc["layers"]}
            written: list[Path] = []
            stale: list[Path] = []
            try:
                for layer_id, update in changes.layers.items():
                    d = records.get(layer_id)
                    if d is None:
                        d = self._new_record(layer_id, update)
                        doc["layers"].append(d)
                        records[layer_id] = d
                    self._apply(layer_id, d, update, gen, written, stale)
                for path in {p.parent for p in written}:
                    fsync_dir(path)
                for name, value in changes.states.items():
                    doc.setdefault("state", {})[name] = value
                if changes.image is not None:  # merged: a display update keeps the path
                    doc["image"] = {**(doc.get("image") or {}), **changes.image}
                if changes.card is not None:
                    doc["card"] = changes.card
                doc.update(generation=gen, saved_at=timestamp(), owner=_owner(),
                           version=FORMAT_VERSION)
                if changes.edits:
                    doc["edit_generation"] = gen
                if changes.closed_cleanly is not None:
                    doc["closed_cleanly"] = changes.closed_cleanly
                    if changes.closed_cleanly:
                        doc["clean_generation"] = gen
                elif changes.layers or changes.states:
                    doc["closed_cleanly"] = False
                self._write_doc(doc)
            except BaseException as exc:
                remove_files(written)
                if isinstance(exc, OSError):
                    raise SessionError(f"could not save the session in {self.folder} "
                                       f"({exc.strerror or exc}); check that the disk is not "
                                       "full and the folder is writable.") from exc
                raise
            self._doc = doc
            remove_files(stale)
            return gen

    def store_image(self, data: np.ndarray, info: dict[str, Any]) -> None:
        """Keep an image without a file path in the session (``image.g<gen>.npz``)."""
        with self._lock:
            name = f"image.g{self.generation + 1}.npz"
            write_npz(self.folder / name, data)
            fsync_dir(self.folder)
            self.commit(Changes(image={**info, "stored": name}))

    # -------------------------------------------------------------- internals

    def _new_record(self, layer_id: str, update: LayerUpdate) -> dict[str, Any]:
        info = update.info
        if not update.full or "shape" not in info or "dtype" not in info:
            raise SessionError(f"layer {layer_id!r} is new to the session; its first update "
                               "must carry the whole layer.")
        return {"id": layer_id, "name": str(info.get("name", layer_id)), "shape": [],
                "dtype": "uint8", "chunk_shape": [], "chunks": [], "metadata": {},
                "display": {}, "scale": None, "translate": None, "prediction": None,
                "removed": False}

    def _apply(self, layer_id: str, d: dict, update: LayerUpdate, gen: int,
               written: list[Path], stale: list[Path]) -> None:
        folder = self.layer_dir(layer_id)
        folder.mkdir(parents=True, exist_ok=True)
        info = dict(update.info)
        if update.full:
            old = LayerRecord.from_dict(d) if d["chunks"] else None
            if old is not None:
                stale += [folder / chunk_name(k, g) for k, g in
                          zip(all_keys(old.shape, old.chunk_shape), old.chunks, strict=True) if g]
            shape = [int(s) for s in info.pop("shape")]
            dtype = np.dtype(info.pop("dtype"))
            chunks = info.pop("chunk_shape", None) or chunk_shape_for(shape, dtype.itemsize)
            d.update(shape=shape, dtype=str(dtype),
                     chunk_shape=[int(c) for c in chunks],
                     chunks=[0] * int(np.prod(grid_shape(shape, chunks))))
        for k in ("shape", "dtype", "chunk_shape"):
            info.pop(k, None)
        d.update({k: v for k, v in info.items() if k in (
            "name", "scale", "translate", "metadata", "display")})
        rec_shape, rec_chunks = tuple(d["shape"]), tuple(d["chunk_shape"])
        grid = grid_shape(rec_shape, rec_chunks)
        for key, array in update.chunks.items():
            flat = int(np.ravel_multi_index(key, grid))
            expected = tuple(s.stop - s.start for s in chunk_slices(key, rec_chunks, rec_shape))
            if tuple(array.shape) != expected or array.dtype != np.dtype(d["dtype"]):
                raise SessionError(f"chunk {key} of layer {d['name']!r} has shape "
                                   f"{array.shape} {array.dtype}, expected {expected} "
                                   f"{d['dtype']}.")
            old_gen = d["chunks"][flat]
            if array.any():
                path = folder / chunk_name(key, gen)
                write_npz(path, array)
                written.append(path)
                d["chunks"][flat] = gen
            else:
                d["chunks"][flat] = 0
            if old_gen and not update.full and old_gen != gen:
                stale.append(folder / chunk_name(key, old_gen))
        if update.prediction is not None:
            name = f"prediction.g{gen}.npz"
            write_npz(folder / name, np.asarray(update.prediction))
            written.append(folder / name)
            if d.get("prediction"):
                stale.append(folder / d["prediction"])
            d["prediction"] = name
        if update.removed is not None:
            d["removed"] = bool(update.removed)

    def _write_doc(self, doc: dict[str, Any]) -> None:
        text = json.dumps(doc, indent=1).encode("utf-8")
        try:
            atomic_write(self.folder / SESSION_FILE, lambda fh: fh.write(text))
        except OSError as exc:
            raise SessionError(f"could not write {self.folder / SESSION_FILE} "
                               f"({exc.strerror or exc}); check the disk and folder.") from exc

    def _collect_garbage(self, records: list[LayerRecord]) -> None:
        """Delete files no committed generation refers to (an interrupted commit's)."""
        keep: dict[str, set[str]] = {}
        for rec in records:
            names = {chunk_name(k, g) for k, g in
                     zip(all_keys(rec.shape, rec.chunk_shape), rec.chunks, strict=True) if g}
            if rec.prediction:
                names.add(rec.prediction)
            keep[rec.id] = names
        stored = (self.image or {}).get("stored")
        with contextlib.suppress(OSError):
            for p in self.folder.iterdir():
                if p.is_file() and ((p.name.startswith(".") and ".tmp-" in p.name)
                                    or (p.name.startswith("image.g") and p.name != stored)):
                    p.unlink()
        layers_dir = self.folder / "layers"
        if not layers_dir.is_dir():
            return
        for sub in layers_dir.iterdir():
            if not sub.is_dir():
                continue
            names = keep.get(sub.name)
            for p in sub.iterdir():
                known = parse_chunk_name(p.name) is not None or p.name.startswith(
                    "prediction.g") or ".tmp-" in p.name
                if known and (names is None or p.name not in names):
                    with contextlib.suppress(OSError):
                        p.unlink()
            if names is None:
                with contextlib.suppress(OSError):
                    sub.rmdir()
