#!/usr/bin/env bash
# Set up .venv (first run only) and open napari with the CT phantom sample and the Predict
# and Review panels (the demo model is preselected: press Run).
set -euo pipefail
# `all`: Qt plus the DICOM and NIfTI readers, so every File > Open path works.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" all
if [ "$(uname -s)" = Linux ]; then
    # Qt's xcb platform needs these libraries on a bare Debian/Ubuntu.
    apt_ensure libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0 \
        libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 \
        libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0
fi
exec "$VENV/bin/segreview" demo "$@"
