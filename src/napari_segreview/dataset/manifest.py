"""The dataset folder and its manifest: one record per case, written atomically.

A dataset is a folder that SegReview owns::

    DATASET/
      segreview-dataset.json          the manifest (this module's format)
      cases/<case_id>/prediction/     the files `segreview predict` writes
      cases/<case_id>/session.segreview/   the case's review session

The manifest is JSON: ``{"format": "napari-segreview dataset", "version": 1,
"model_sha256", "card_sha256", "card", "model", "created", "cases": [...]}``
with one :class:`Case` record per case. It is the single commit point of the
dataset: it is written whole through a temporary file and a rename
(:func:`~napari_segreview._util.files.atomic_write`), and :meth:`Manifest.save`
first re-reads the file on disk and applies only this object's own changes to
it, so two writers (a prediction run and the review panel) that change
different cases do not undo each other. Versioned like the session format: a
newer version is refused with a sentence, older ones are migrated
(:data:`MIGRATIONS`).

The marker is ``segreview-dataset.json``, not ``dataset.json``: nnU-Net's raw
datasets (which ``segreview export --format nnunet`` writes) already use that name.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari_segreview._util.files import atomic_write
from napari_segreview._util.markers import DATASET_FILE
from napari_segreview.dataset.case import (  # noqa: F401  (re-exported)
    STATUSES,
    Case,
    card_sha256,
    case_id_for,
    file_sha256,
    timestamp,
)
from napari_segreview.errors import FormatError

# The case record and its hashes live in dataset.case; they are importable from here too.
__all__ = [
    "CASES_DIR", "DATASET_FILE", "FORMAT", "FORMAT_VERSION", "MIGRATIONS", "PREDICTION_DIR",
    "SESSION_DIR", "Manifest", "is_dataset",
]

#: The manifest's ``format`` value (its file name, the folder's marker, is ``DATASET_FILE``).
FORMAT = "napari-segreview dataset"
#: The layout version this program writes; older ones are migrated on open.
FORMAT_VERSION = 1
#: ``MIGRATIONS[v](doc)`` turns a version-``v`` manifest dict into version ``v + 1``.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}
CASES_DIR = "cases"
PREDICTION_DIR = "prediction"
SESSION_DIR = "session.segreview"
_FIELDS = frozenset(f.name for f in dataclasses.fields(Case)) - {"id"}


def is_dataset(path: str | os.PathLike) -> bool:
    """True when ``path`` is a dataset folder or its manifest (cheap: no parsing).

    Examples
    --------
    >>> is_dataset("/nonexistent/folder")
    False
    """
    try:
        path = Path(path)
        folder = path.parent if path.name == DATASET_FILE else path
        return (folder / DATASET_FILE).is_file()
    except (OSError, ValueError):
        return False


def _upgrade(doc: Any, where: Path) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FormatError(f"{where} is not a napari-segreview dataset manifest.")
    version = doc.get("version")
    if not isinstance(version, int) or version < 1:
        raise FormatError(f"{where} has an invalid version {version!r}.")
    if version > FORMAT_VERSION:
        raise FormatError(f"the dataset {where.parent} was written in format {version} by a "
                          f"newer napari-segreview (this one reads up to {FORMAT_VERSION}); "
                          "update napari-segreview to open it.")
    while doc["version"] < FORMAT_VERSION:
        step = MIGRATIONS.get(doc["version"])
        if step is None:
            raise FormatError(f"no migration from dataset format {doc['version']}; "
                              "update napari-segreview.")
        doc = step(doc)
    return doc


def _read(folder: Path) -> dict[str, Any]:
    path = folder / DATASET_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FormatError(f"{folder} is not a dataset (it has no {DATASET_FILE}); create one "
                          "with segreview dataset predict.") from None
    except OSError as exc:
        raise FormatError(f"cannot read {path} ({exc.strerror}); check its permissions.") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path} is not valid JSON (line {exc.lineno}); restore it from "
                          "a backup or predict the dataset again with --force.") from exc
    return _upgrade(doc, path)


class Manifest:
    """A dataset's manifest: open or create it, read and update cases, save atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp()) / "study"
    >>> m = Manifest.create(root, "ab" * 32, {"name": "demo", "heads": []})
    >>> m.add_case("/data/ct_01.tif").id
    'ct_01'
    >>> _ = m.update("ct_01", status="predicted", uncertainty=0.25)
    >>> m.save()
    >>> again = Manifest.open(root)
    >>> again.case("ct_01").status, again.counts()["predicted"], is_dataset(root)
    ('predicted', 1, True)
    >>> again.prediction_dir("ct_01").relative_to(root).as_posix()
    'cases/ct_01/prediction'
    """

    def __init__(self, folder: str | os.PathLike, doc: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.model_sha256: str | None = doc.get("model_sha256")
        self.card: dict[str, Any] = doc.get("card") or {}
        self.card_sha256: str | None = doc.get("card_sha256")
        self.model: str | None = doc.get("model")
        self.created: str | None = doc.get("created")
        self._cases: dict[str, Case] = {}
        for d in doc.get("cases", []):
            case = Case.from_dict(d)
            self._cases[case.id] = case
        self._dirty: dict[str, set[str]] = {}
        self._header_dirty = False

    # -- opening -------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | os.PathLike) -> Manifest:
        """Open an existing dataset (its folder, or its manifest file)."""
        folder = Path(folder)
        if folder.name == DATASET_FILE:
            folder = folder.parent
        return cls(folder, _read(folder))

    @classmethod
    def create(cls, folder: str | os.PathLike, model_sha256: str | None,
               card_dict: dict[str, Any] | None, *, model: str | None = None,
               exist_ok: bool = False) -> Manifest:
        """Create a dataset folder (its parent must exist) with an empty manifest, saved.

        With ``exist_ok`` an existing dataset is opened instead (its model is not changed).
        """
        folder = Path(folder)
        if is_dataset(folder):
            if exist_ok:
                return cls.open(folder)
            raise FormatError(f"{folder} is already a dataset; open it or choose another folder.")
        if folder.exists() and not folder.is_dir():
            raise FormatError(f"{folder} is a file, not a folder; choose a folder for the "
                              "dataset.")
        if not folder.parent.is_dir():
            raise FormatError(f"the folder {folder.parent} does not exist; create it first.")
        folder.mkdir(exist_ok=True)
        card_dict = dict(card_dict or {})
        m = cls(folder, {"model_sha256": model_sha256, "card": card_dict, "model": model,
                         "card_sha256": card_sha256(card_dict), "created": timestamp()})
        m._header_dirty = True
        m.save()
        return m

    def reload(self) -> None:
        """Read the manifest from disk again, dropping unsaved changes."""
        fresh = Manifest.open(self.folder)
        self.__dict__.update(fresh.__dict__)

    # -- cases ----------------------------------------------------------------------
    @property
    def cases(self) -> list[Case]:
        """Every case, in the order they were added."""
        return list(self._cases.values())

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._cases

    def case(self, case_id: str) -> Case:
        """The case ``case_id``; FormatError if there is none."""
        try:
            return self._cases[case_id]
        except KeyError:
            raise FormatError(f"the dataset {self.folder} has no case {case_id!r}; "
                              "see segreview dataset status.") from None

    def find_source(self, source: str | os.PathLike) -> Case | None:
        """The case whose source is ``source`` (compared as absolute paths), or None."""
        key = os.path.abspath(source)
        for case in self._cases.values():
            if os.path.abspath(case.source) == key:
                return case
        return None

    def add_case(self, source: str | os.PathLike, case_id: str | None = None) -> Case:
        """Add a ``todo`` case for ``source`` (an id is made from its name unless given)."""
        cid = case_id or case_id_for(source, self._cases)
        if cid in self._cases:
            raise FormatError(f"the dataset already has a case {cid!r}; give another id.")
        case = Case(cid, os.path.abspath(source), created=timestamp())
        self._cases[cid] = case
        self._dirty[cid] = set(_FIELDS)
        return case

    def update(self, case_id: str, **fields: Any) -> Case:
        """Change fields of a case in memory (call :meth:`save` to write them)."""
        case = self.case(case_id)
        unknown = set(fields) - _FIELDS
        if unknown:
            raise FormatError(f"a case has no field {sorted(unknown)[0]!r}; the fields are "
                              f"{', '.join(sorted(_FIELDS))}.")
        if "status" in fields and fields["status"] not in STATUSES:
            raise FormatError(f"a case's status is one of {', '.join(STATUSES)}, "
                              f"not {fields['status']!r}.")
        for k, v in fields.items():
            setattr(case, k, v)
        self._dirty.setdefault(case_id, set()).update(fields)
        return case

    def set_model(self, model_sha256: str | None, card_dict: dict[str, Any],
                  model: str | None = None) -> None:
        """Record another model and card for the dataset (``--force``)."""
        self.model_sha256, self.card, self.model = model_sha256, dict(card_dict), model
        self.card_sha256 = card_sha256(self.card)
        self._header_dirty = True

    def counts(self) -> dict[str, int]:
        """Cases per status, every status listed (zeros too)."""
        out = dict.fromkeys(STATUSES, 0)
        for case in self._cases.values():
            out[case.status] += 1
        return out

    # -- paths ----------------------------------------------------------------------
    def case_dir(self, case_id: str) -> Path:
        """``DATASET/cases/<case_id>``."""
        return self.folder / CASES_DIR / case_id

    def prediction_dir(self, case_id: str) -> Path:
        """Where the case's prediction files are: ``cases/<case_id>/prediction``."""
        return self.case_dir(case_id) / PREDICTION_DIR

    def session_dir(self, case_id: str) -> Path:
        """Where the case's review session is: ``cases/<case_id>/session.segreview``."""
        return self.case_dir(case_id) / SESSION_DIR

    # -- saving ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The manifest document as it is written."""
        return {
            "format": FORMAT, "version": FORMAT_VERSION,
            "model": self.model, "model_sha256": self.model_sha256,
            "card_sha256": self.card_sha256, "card": self.card, "created": self.created,
            "cases": [c.to_dict() for c in self._cases.values()],
        }

    def save(self) -> None:
        """Write the manifest atomically, merging this object's changes into the file on disk.

        Fields of cases that another writer changed since this one read the
        file are kept unless this object changed the same fields.
        """
        if (self.folder / DATASET_FILE).is_file():
            try:
                disk = Manifest(self.folder, _read(self.folder))
            except FormatError:
                disk = None
            if disk is not None:
                for cid, case in disk._cases.items():
                    mine = self._cases.get(cid)
                    if mine is None:
                        self._cases[cid] = case
                        continue
                    own = self._dirty.get(cid, set())
                    for name in _FIELDS - own:
                        setattr(mine, name, getattr(case, name))
                if not self._header_dirty:
                    self.model_sha256, self.card = disk.model_sha256, disk.card
                    self.card_sha256, self.model = disk.card_sha256, disk.model
                    self.created = disk.created or self.created
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False, default=_json_default)
        atomic_write(self.folder / DATASET_FILE, lambda fh: fh.write(text.encode("utf-8")))
        self._dirty.clear()
        self._header_dirty = False


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars and small arrays
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON")
