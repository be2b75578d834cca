"""``python -m napari_segreview.cli``: the same as the ``segreview`` command."""

import sys

from napari_segreview.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
