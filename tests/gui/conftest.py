import os

import pytest

# napari needs a real X server with OpenGL: run under `xvfb-run` (scripts/test.sh
# does). Qt's offscreen platform draws a black canvas or crashes here.
if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    pytest.exit(
        "GUI tests need an X server: run them through `bash scripts/test.sh` (it uses xvfb-run).",
        returncode=1,
    )
