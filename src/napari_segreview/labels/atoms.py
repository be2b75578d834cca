"""Atoms: a lossless integer encoding of any multi-hot stack.

Each combination of channels that occurs at some voxel gets one integer (an
atom); an :class:`AtomTable` maps atoms back to channels. Every channel is then
a union of atoms, which is what nnU-Net's region-based training reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_segreview._util.arrays import blocks, flat_channels, label_dtype
from napari_segreview.errors import FormatError
from napari_segreview.labels._kernels import (
    channel_codes,
    channel_stack_arg,
    code_dtype,
    fill_regions,
    labels_arg,
)
from napari_segreview.labels.checks import channel_names

__all__ = ["AtomTable", "atom_regions", "atoms_to_multihot", "multihot_to_atoms"]


@dataclass(frozen=True, eq=False)
class AtomTable:
    """Which channels each atom stands for; atom 0 is "no channel".

    Attributes
    ----------
    names : tuple of str
        Channel names, length C.
    combos : ndarray of bool, shape (n_atoms, C)
        ``combos[a, c]`` is True when atom ``a`` includes channel ``c``.
    """

    names: tuple[str, ...]
    combos: np.ndarray

    def __post_init__(self) -> None:
        combos = np.asarray(self.combos, dtype=bool)
        if combos.ndim != 2 or combos.shape[1] != len(self.names):
            raise FormatError(
                f"an atom table needs one column per channel ({len(self.names)}), "
                f"but has shape {combos.shape}."
            )
        if combos.shape[0] == 0 or combos[0].any():
            raise FormatError("atom 0 of an atom table must be the empty combination.")
        object.__setattr__(self, "combos", combos)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, AtomTable) and self.names == other.names
                and np.array_equal(self.combos, other.combos))

    __hash__ = None  # mutable-looking array field: not hashable

    @property
    def n_atoms(self) -> int:
        """Number of atoms, background (0) included."""
        return int(self.combos.shape[0])

    def channels_of(self, atom: int) -> tuple[str, ...]:
        """Channel names that atom ``atom`` includes."""
        return tuple(n for n, on in zip(self.names, self.combos[atom], strict=True) if on)

    def regions(self) -> dict[str, list[int]]:
        """Channel name -> atoms that include it (nnU-Net's region tuples)."""
        return {n: [int(a) for a in np.flatnonzero(self.combos[:, c])]
                for c, n in enumerate(self.names)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: channel names and each atom's channels."""
        return {"names": list(self.names),
                "atoms": [list(self.channels_of(a)) for a in range(self.n_atoms)]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AtomTable:
        """Inverse of :meth:`to_dict`."""
        try:
            names = tuple(str(n) for n in d["names"])
            combos = np.array([[n in set(a) for n in names] for a in d["atoms"]], bool)
            unknown = {c for a in d["atoms"] for c in a} - set(names)
        except (KeyError, TypeError) as exc:
            raise FormatError(
                "an atom table needs 'names' and 'atoms' lists, as written by to_dict()."
            ) from exc
        if unknown:
            raise FormatError(f"the atom table names unknown channels: {sorted(unknown)}.")
        return cls(names, combos.reshape(len(d["atoms"]), len(names)))


def multihot_to_atoms(multihot: Any, names: Sequence[str] | None = None) -> tuple[Any, AtomTable]:
    """Encode a multi-hot stack losslessly as one integer per channel combination.

    Atom 0 is "no channel"; the other combinations that occur are numbered by
    (number of channels, channel indices), so the numbering does not depend on
    where in the image a combination first occurs.

    Examples
    --------
    >>> m = np.array([[[1, 1, 0, 0]], [[0, 1, 1, 0]]])
    >>> atoms, table = multihot_to_atoms(m, ["whole", "part_1"])
    >>> atoms
    array([[1, 3, 2, 0]], dtype=uint8)
    >>> table.regions()
    {'whole': [1, 3], 'part_1': [2, 3]}
    >>> bool((atoms_to_multihot(atoms, table) == m).all())
    True
    """
    arr, back = channel_stack_arg(multihot, "a multi-hot stack")
    names = channel_names(arr.shape[0], names)
    n_ch = arr.shape[0]
    flat, spatial = flat_channels(arr), arr.shape[1:]
    cdt = code_dtype(n_ch)
    codes = np.empty(flat.shape[1], cdt)
    small = n_ch <= 16
    present = np.zeros(1 << n_ch, bool) if small else None
    tmp = np.empty(min(flat.shape[1], 1 << 18), cdt)
    for s in blocks(flat.shape[1]):
        code = codes[s]
        channel_codes(flat, s, code, tmp)
        if small:
            present[np.bincount(code, minlength=1 << n_ch).nonzero()[0]] = True
    found = np.flatnonzero(present) if small else np.unique(codes)
    shifts = np.arange(n_ch, dtype=np.uint64)
    bits = ((found[:, None].astype(np.uint64) >> shifts) & 1).astype(bool)
    keys = sorted(range(len(found)),
                  key=lambda i: (int(bits[i].sum()), tuple(np.flatnonzero(bits[i]))))
    combos = np.zeros((1, n_ch), bool)
    ordered = [i for i in keys if bits[i].any()]
    combos = np.concatenate([combos, bits[ordered]]) if ordered else combos
    table = AtomTable(names, combos)
    out_dt = label_dtype(table.n_atoms - 1)
    if small:
        lut = np.zeros(1 << n_ch, out_dt)
        lut[found[ordered]] = np.arange(1, len(ordered) + 1, dtype=out_dt)
        out = np.empty(codes.size, out_dt)
        for s in blocks(codes.size):
            np.take(lut, codes[s], out=out[s])
    else:
        rank = np.zeros(len(found), out_dt)
        rank[ordered] = np.arange(1, len(ordered) + 1, dtype=out_dt)
        out = rank[np.searchsorted(found, codes)]
    return back(out.reshape(spatial)), table


def atoms_to_multihot(atoms: Any, table: AtomTable, *, dtype: Any = np.uint8) -> Any:
    """Decode atoms back to the multi-hot stack, using their table.

    Examples
    --------
    >>> t = AtomTable(("a", "b"), np.array([[0, 0], [1, 0], [1, 1]], bool))
    >>> atoms_to_multihot(np.array([0, 1, 2]), t)
    array([[0, 1, 1],
           [0, 0, 1]], dtype=uint8)
    """
    arr, back = labels_arg(atoms)
    if arr.size and int(arr.max()) >= table.n_atoms:
        raise FormatError(
            f"atom value {int(arr.max())} is beyond the table's {table.n_atoms} atoms; "
            "the atoms and the table do not belong together."
        )
    flat = np.ascontiguousarray(arr).reshape(-1)
    out = np.empty((len(table.names), flat.size), dtype=dtype)
    fill_regions(flat, [np.flatnonzero(table.combos[:, c]) if table.combos[:, c].any()
                         else np.array([table.n_atoms]) for c in range(len(table.names))], out)
    return back(out.reshape((len(table.names), *arr.shape)))


def atom_regions(table: AtomTable) -> dict[str, list[int]]:
    """Channel name -> atom values that include it (nnU-Net ``regions``).

    >>> t = AtomTable(("whole", "part"), np.array([[0, 0], [1, 0], [1, 1]], bool))
    >>> atom_regions(t)
    {'whole': [1, 2], 'part': [2]}
    """
    return table.regions()
