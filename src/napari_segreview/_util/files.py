"""Files that appear whole or not at all: one atomic writer, one staging folder.

- :func:`atomic_write` writes one file through a hidden temporary file beside
  it (same folder, so the final move is a rename), fsynced, then renamed onto
  the destination.
- :func:`staged` is for several files that must appear together: they are
  written into a hidden staging folder beside their destination, moved into
  place with :meth:`Staging.move` (or the whole folder with
  :meth:`Staging.replace_folder`), and if anything inside the ``with`` block
  fails, every step already taken is undone in reverse order (moved files
  removed, a replaced folder restored, folders made for the files removed) and
  the staging folder is deleted.

Only the standard library is used here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["Staging", "atomic_write", "fsync_dir", "staged"]


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], *,
                 overwrite: bool = True, sync_dir: bool = True) -> None:
    """Write a file through ``write(fh)`` so that ``path`` is never seen half-written.

    ``write`` fills a binary file object: a temporary file next to ``path``
    (``.<name>.tmp-XXXXXXXX<suffix>``), which is fsynced and then moved onto
    ``path``. Without ``overwrite`` an existing ``path`` raises
    FileExistsError (atomically, with a hard link where the file system has
    them). ``sync_dir`` also fsyncs the folder so the rename survives a crash;
    a caller that writes many files may do that once itself.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> atomic_write(p, lambda fh: fh.write(b"one"))
    >>> atomic_write(p, lambda fh: fh.write(b"two"), overwrite=False)
    Traceback (most recent call last):
    ...
    FileExistsError: ...
    >>> p.read_text(), sorted(x.name for x in p.parent.iterdir())
    ('one', ['note.txt'])
    """
    path = Path(path)
    tmp = _write_temp(path, write)
    try:
        _place(tmp, path, overwrite)
    finally:
        _remove(tmp)
    if sync_dir:
        fsync_dir(path.parent)


def _place(src: Path, dst: Path, overwrite: bool) -> None:
    """Rename ``src`` onto ``dst``; without ``overwrite``, FileExistsError if ``dst`` exists."""
    if overwrite:
        os.replace(src, dst)
        return
    try:
        os.link(src, dst)  # fails if dst exists: no clobbering race
    except FileExistsError:
        raise
    except OSError:  # file systems without hard links
        if dst.exists():
            raise FileExistsError(dst) from None
        os.replace(src, dst)
    else:
        _remove(src)


def _write_temp(path: Path, write: Callable[[Any], None]) -> Path:
    """Create ``.<name>.tmp-XXXXXXXX<suffix>`` next to ``path``, fill it and fsync it."""
    tmp = path.with_name(f".{path.stem}.tmp-{secrets.token_hex(4)}{path.suffix}")
    try:
        with open(tmp, "xb") as fh:  # exclusive create; permissions follow the umask
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make renames in ``folder`` durable (POSIX); best effort elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Staging:
    """A hidden staging folder and the log of what was put in place from it (see :func:`staged`).

    Attributes
    ----------
    path : Path
        The staging folder (``.<name>.tmp-XXXXXXXX`` beside the destination):
        write the files here, then move them into place.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._undo: list[Callable[[], None]] = []
        self._on_success: list[Callable[[], None]] = []

    def write(self, name: str, write: Callable[[Any], None]) -> Path:
        """Create the staged file ``name`` through ``write(fh)`` (binary), fsynced; its path."""
        path = self.path / name
        with open(path, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        return path

    def mkdir(self, folder: str | os.PathLike) -> Path:
        """Create ``folder`` if it is missing; on failure it is removed again, contents and all."""
        folder = Path(folder)
        if not folder.exists():
            folder.mkdir()
            self._undo.append(lambda: shutil.rmtree(folder, ignore_errors=True))
        return folder

    def move(self, src: str | os.PathLike, dst: str | os.PathLike, *,
             overwrite: bool = True) -> Path:
        """Rename the staged file ``src`` onto ``dst``; on failure ``dst`` is removed again.

        A file ``dst`` replaced here is not restored on failure: the
        destination then holds neither the old nor the new file. Without
        ``overwrite`` an existing ``dst`` raises FileExistsError.
        """
        src, dst = Path(src), Path(dst)
        _place(src, dst, overwrite)
        self._undo.append(lambda: _remove(dst))
        return dst

    def move_all(self, folder: str | os.PathLike) -> list[Path]:
        """Move every staged file into ``folder`` (created if missing), in name order."""
        folder = self.mkdir(folder)
        return [self.move(src, folder / src.name) for src in sorted(self.path.iterdir())]

    def track(self, path: str | os.PathLike) -> Path:
        """Remove ``path`` (a file written in place, not staged) if the block fails."""
        path = Path(path)
        self._undo.append(lambda: _remove(path))
        return path

    def replace_folder(self, dest: str | os.PathLike) -> Path:
        """Make the staging folder itself ``dest`` (one rename: it appears whole).

        An existing ``dest`` is first renamed aside (``.<name>.old-XXXXXXXX``):
        it is deleted when the block succeeds and put back if it fails.
        """
        dest = Path(dest)
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{secrets.token_hex(4)}")
            os.rename(dest, old)
            self._undo.append(lambda: os.rename(old, dest))
            self._on_success.append(lambda: shutil.rmtree(old, ignore_errors=True))
        os.rename(self.path, dest)
        self._undo.append(lambda: shutil.rmtree(dest, ignore_errors=True))
        return dest

    def _rollback(self) -> None:
        for undo in reversed(self._undo):
            with contextlib.suppress(OSError):
                undo()
        self._undo.clear()


@contextlib.contextmanager
def staged(parent: str | os.PathLike, name: str) -> Iterator[Staging]:
    """A hidden staging folder in ``parent`` for files put in place together, all or nothing.

    Parameters
    ----------
    parent : path
        Where the staging folder is made (created if missing, and removed
        again on failure; its own parent must exist). Put it on the same file
        system as the destinations, e.g. in the destination's folder, so that
        moves are renames.
    name : str
        Names the staging folder: ``.<name>.tmp-XXXXXXXX``.

    Yields
    ------
    Staging
        Write into ``staging.path``; put files in place with
        :meth:`Staging.move`, :meth:`Staging.move_all` or
        :meth:`Staging.replace_folder`. On leaving the block the staging
        folder is deleted; if the block raised, everything done through the
        :class:`Staging` is undone first, in reverse order, and the error
        propagates.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with staged(root, "out") as st:
    ...     _ = (st.path / "a.txt").write_text("a")
    ...     _ = (st.path / "b.txt").write_text("b")
    ...     moved = st.move_all(root / "out")
    >>> [p.name for p in moved], sorted(p.name for p in root.iterdir())
    (['a.txt', 'b.txt'], ['out'])
    >>> try:
    ...     with staged(root, "more") as st:
    ...         _ = (st.path / "c.txt").write_text("c")
    ...         _ = st.move(st.path / "c.txt", root / "out" / "c.txt")
    ...         raise OSError("disk full")
    ... except OSError:
    ...     pass
    >>> sorted(p.name for p in (root / "out").iterdir()), sorted(p.name for p in root.iterdir())
    (['a.txt', 'b.txt'], ['out'])
    """
    parent = Path(parent)
    made_parent = not parent.exists()
    parent.mkdir(exist_ok=True)
    path = parent / f".{name}.tmp-{secrets.token_hex(4)}"
    try:
        path.mkdir()
    except BaseException:
        if made_parent:
            shutil.rmtree(parent, ignore_errors=True)
        raise
    st = Staging(path)
    if made_parent:
        st._undo.append(lambda: shutil.rmtree(parent, ignore_errors=True))
    try:
        yield st
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        st._rollback()
        raise
    shutil.rmtree(path, ignore_errors=True)
    for done in st._on_success:
        with contextlib.suppress(OSError):
            done()
