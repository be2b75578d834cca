"""A dataset's case record, and the hashes and ids the manifest keeps for each case.

:class:`Case` is one record of the manifest
(:mod:`napari_segreview.dataset.manifest`, which re-exports every name here);
:func:`file_sha256` and :func:`card_sha256` say which model and card
predicted a case, :func:`case_id_for` names its folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_segreview.errors import FormatError

__all__ = ["STATUSES", "Case", "card_sha256", "case_id_for", "file_sha256", "timestamp"]

#: A case's life: predicted by the engine, reviewed in the panel, or skipped/failed.
STATUSES = ("todo", "predicted", "in_review", "done", "skipped", "failed")


def timestamp() -> str:
    """The local time as the manifest records it (ISO 8601 with the UTC offset).

    Examples
    --------
    >>> len(timestamp()) >= 24
    True
    """
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass
class Case:
    """One case of a dataset, as the manifest records it.

    Attributes
    ----------
    id : str
        Safe for file names; the case's folder is ``cases/<id>``.
    source : str
        The image: a file, a DICOM series folder, a folder of slices.
    status : str
        One of :data:`STATUSES`.
    reason : str or None
        Why it was skipped, or the one-sentence error it failed with.
    model_sha256, card_sha256 : str or None
        What predicted it (resume skips cases predicted by the same pair).
    uncertainty : float or None
        The case's score (mean of :attr:`channel_uncertainty`, in 0..1).
    channel_uncertainty : dict
        Per sigmoid channel and per softmax head (see
        :mod:`napari_segreview.inference.uncertainty`).
    volumes : dict
        mm^3 (voxels when the spacing is unknown) per predicted channel.
    dice : dict or None
        Dice of the reviewed correction against the prediction, per channel.
    created, predicted, reviewed : str or None
        Timestamps (:func:`timestamp`).
    shape, spacing : list or None
        The image's shape and voxel spacing.
    seconds : dict
        Timings of the last prediction: ``read``, ``predict``, ``write``, ``total``.
    attempts : int
        How many prediction runs tried this case.
    """

    id: str
    source: str
    status: str = "todo"
    reason: str | None = None
    model_sha256: str | None = None
    card_sha256: str | None = None
    uncertainty: float | None = None
    channel_uncertainty: dict[str, float] = field(default_factory=dict)
    volumes: dict[str, float] = field(default_factory=dict)
    dice: dict[str, float] | None = None
    created: str | None = None
    predicted: str | None = None
    reviewed: str | None = None
    shape: list[int] | None = None
    spacing: list[float] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise FormatError(f"a case's status is one of {', '.join(STATUSES)}, "
                              f"not {self.status!r}.")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Case:
        """A case from its manifest record (unknown keys, from newer writers, are ignored).

        Examples
        --------
        >>> Case.from_dict({"id": "a", "source": "/x/a.tif", "status": "done", "new": 1}).status
        'done'
        """
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """The manifest record (JSON types only).

        Examples
        --------
        >>> Case("a", "/x/a.tif").to_dict()["status"]
        'todo'
        """
        return dataclasses.asdict(self)


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, as hex.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.pt"; _ = p.write_bytes(b"")
    >>> file_sha256(p)[:12]
    'e3b0c44298fc'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def card_sha256(card: dict[str, Any]) -> str:
    """The sha256 of a card's dict in canonical JSON (key order does not matter).

    Examples
    --------
    >>> card_sha256({"a": 1, "b": 2}) == card_sha256({"b": 2, "a": 1})
    True
    """
    text = json.dumps(card, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def case_id_for(source: str | os.PathLike, taken: Iterable[str] = ()) -> str:
    """A file-name-safe case id for an image path, unique among ``taken``.

    The image's name without its suffixes (``ct_01.nii.gz`` -> ``ct_01``),
    other characters than letters, digits, ``.``, ``_``, ``-`` replaced by
    ``_``; ``-2``, ``-3``... is appended to a name already taken.

    Examples
    --------
    >>> case_id_for("/data/CT 01.nii.gz"), case_id_for("/data/ct_01.tif", taken={"ct_01"})
    ('CT_01', 'ct_01-2')
    """
    name = Path(source).name
    for suffix in (".nii.gz", ".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    else:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and ext and len(ext) <= 5:
            name = stem
    base = _UNSAFE.sub("_", name).strip("._") or "case"
    taken = set(taken)
    cid, n = base, 1
    while cid in taken:
        n += 1
        cid = f"{base}-{n}"
    return cid
