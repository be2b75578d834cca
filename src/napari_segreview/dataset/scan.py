"""Which paths are cases: the sources given, or every readable entry of a folder.

Each SOURCE that :func:`~napari_segreview.io.read.can_read` accepts (an image
file, a DICOM series folder, a folder of slices, a NIfTI volume, ``.npy``) is
one case; ``each=DIR`` takes every entry of ``DIR`` it accepts, in natural
order (``ct_2`` before ``ct_10``), hidden entries and SegReview's own folders
left out. What is not readable is listed with a reason, not made a case.
Judging is cheap (no decoding): a corrupt file still becomes a case, and fails
with its sentence when the worker reads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from napari_segreview.errors import FormatError

__all__ = ["Scan", "describe", "scan_sources"]


@dataclass
class Scan:
    """The result of :func:`scan_sources`.

    Attributes
    ----------
    sources : list of Path
        One per case, absolute, in order, without duplicates.
    unreadable : list of (Path, str)
        Paths that are no image, with why.
    """

    sources: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def _why_not(path: Path) -> str:
    from napari_segreview.io.read import declined_folder

    if not path.exists():
        return "does not exist"
    if declined_folder(path):
        return "is a SegReview session, export or dataset folder"
    if path.is_dir():
        return "is a folder with no DICOM files or image slices"
    return "is not an image file SegReview reads"


def scan_sources(sources: Iterable[str | os.PathLike] = (), each: str | os.PathLike | None = None
                 ) -> Scan:
    """Find the cases among ``sources`` and the entries of ``each``.

    Raises
    ------
    FormatError
        ``each`` is not a folder, or nothing at all was given.

    Examples
    --------
    >>> import tempfile, numpy as np, tifffile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("ct_10.tif", "ct_2.tif"):
    ...     tifffile.imwrite(root / name, np.zeros((2, 4, 4), np.uint8))
    >>> _ = (root / "notes.txt").write_text("x")
    >>> found = scan_sources(each=root)
    >>> [p.name for p in found.sources], [(p.name, why) for p, why in found.unreadable]
    (['ct_2.tif', 'ct_10.tif'], [('notes.txt', 'is not an image file SegReview reads')])
    """
    from napari_segreview.io.read import can_read, declined_folder, natural_key

    paths = [Path(s) for s in sources]
    if each is not None:
        folder = Path(each)
        if not folder.is_dir():
            raise FormatError(f"--each {folder} is not a folder; give the folder whose entries "
                              "are the cases.")
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        entries = [p for p in entries if not declined_folder(p) and not p.name.endswith(".json")]
        paths += sorted(entries, key=lambda p: natural_key(p.name))
    if not paths:
        raise FormatError("no cases given; name image files or folders, or --each DIR.")
    out, seen = Scan(), set()
    for p in paths:
        key = os.path.abspath(p)
        if key in seen:
            continue
        seen.add(key)
        if can_read(p):
            out.sources.append(Path(key))
        else:
            out.unreadable.append((p, _why_not(p)))
    return out


def describe(n_cases: int, n_predicted: int, unreadable: list[tuple[Path, str]],
             limit: int = 5) -> str:
    """The sentence said before a run: ``42 cases, 3 already predicted, 2 unreadable: ...``.

    Examples
    --------
    >>> describe(42, 3, [(Path("a.txt"), "is not an image"), (Path("b"), "does not exist")])
    '42 cases, 3 already predicted, 2 unreadable: a.txt (is not an image), b (does not exist)'
    >>> describe(1, 0, [])
    '1 case, 0 already predicted'
    """
    text = f"{n_cases} case{'s' if n_cases != 1 else ''}, {n_predicted} already predicted"
    if unreadable:
        shown = ", ".join(f"{p.name} ({why})" for p, why in unreadable[:limit])
        more = f" and {len(unreadable) - limit} more" if len(unreadable) > limit else ""
        text += f", {len(unreadable)} unreadable: {shown}{more}"
    return text
