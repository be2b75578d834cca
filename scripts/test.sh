#!/usr/bin/env bash
# Install everything the tests need (Python packages, Qt/OpenGL libraries, Xvfb)
# and run the whole suite: lint, unit, property, doctest, packaging and GUI tests.
# Extra arguments go to pytest (e.g. bash scripts/test.sh -k formats).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" testing
cd "$REPO"
apt_ensure xvfb xauth libgl1 libegl1 libgl1-mesa-dri libglib2.0-0 libfontconfig1 libdbus-1-3 \
    libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
    libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0

say "ruff check"
"$VENV/bin/ruff" check src tests benchmarks scripts

# napari needs a real X server with OpenGL; Qt's offscreen platform has none here.
unset QT_QPA_PLATFORM
export PYTHONFAULTHANDLER=1
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    exec xvfb-run -a -s "-screen 0 1600x1000x24" "$VENV/bin/python" -m pytest "$@"
else
    exec "$VENV/bin/python" -m pytest "$@"
fi
