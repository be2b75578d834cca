"""``python -m napari_segreview``: the ``segreview`` command."""

import sys

from napari_segreview.cli import main

if __name__ == "__main__":
    sys.exit(main())
