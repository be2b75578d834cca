"""Lazy package namespaces: a package's ``__init__`` names its public API without importing it.

Importing ``napari_segreview`` or one of its packages must stay cheap (no torch,
Qt, napari, tifffile until they are needed), and a package ``__init__`` that
imported its modules would also make every ``import napari_segreview.x.y``
load all of ``x``. So each ``__init__`` lists where its public names live and
attaches them with :func:`attach` (PEP 562 module ``__getattr__``); the first
access imports the module that holds the name.

>>> getattr_, dir_, all_ = attach("napari_segreview.labels",
...                               {"formats": ["IGNORE", "labels_to_onehot"]})
>>> getattr_("IGNORE")
255
>>> all_
['IGNORE', 'labels_to_onehot']
>>> getattr_("nothing")
Traceback (most recent call last):
...
AttributeError: module 'napari_segreview.labels' has no attribute 'nothing'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["attach"]


def attach(
    package: str, names: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : mapping of str to sequence of str
        Module (relative to ``package``, dotted for deeper ones) to the public
        names it defines.

    Returns
    -------
    getattr_, dir_, all_
        Assign them to ``__getattr__``, ``__dir__`` and ``__all__``.
    """
    where: dict[str, str] = {}
    for module, attrs in names.items():
        for attr in attrs:
            if attr in where:
                raise ValueError(f"{package}: {attr!r} is listed under both "
                                 f"{where[attr]!r} and {module!r}")
            where[attr] = module
    all_ = sorted(where)

    def getattr_(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def dir_() -> list[str]:
        return list(all_)

    return getattr_, dir_, all_
