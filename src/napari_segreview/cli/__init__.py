"""The ``segreview`` command line: one module per command, all on the same core as the panels.

>>> from napari_segreview.cli import main
>>> main(["--help"]) == 0  # doctest: +ELLIPSIS
usage: segreview ...
True
"""

from napari_segreview.cli.main import main

__all__ = ["main"]
