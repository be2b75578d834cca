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

# nnU-Net's own dataset check (tests/core/test_nnunet.py) needs nnunetv2 and the few
# packages its import chain uses. Installed without their dependency trees, which
# would pull a CUDA torch, torchvision and much more; the test skips when it is missing.
NNUNET_PKGS=(nnunetv2==2.8.1 batchgenerators==0.25.5 acvl-utils==0.2.6 simpleitk==2.5.7
             blosc2==4.14.1 numexpr==2.14.2 ndindex==1.10.1 msgpack==1.2.4 httpx==0.28.1
             httpcore==1.0.9 h11==0.16.0 anyio==4.16.0 threadpoolctl==3.8.0)
if ! "$VENV/bin/python" -c 'import nnunetv2.experiment_planning.verify_dataset_integrity' \
        >/dev/null 2>&1; then
    say "installing nnU-Net (no dependencies) for its dataset check"
    pip_install --no-deps "${NNUNET_PKGS[@]}" \
        || say "could not install nnU-Net; its dataset check will be skipped"
fi

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
