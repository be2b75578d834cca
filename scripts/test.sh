#!/usr/bin/env bash
# Install everything the tests need (Python packages, Qt/OpenGL libraries, Xvfb) and run
# the whole suite: lint, import contracts, unit, property, doctest, packaging and GUI
# tests; then the GUI tests again with the lowest napari pyproject.toml declares, in a
# second environment (${SEGREVIEW_VENV:-.venv}-floor, pins in scripts/floor-constraints.txt).
# Extra arguments go to pytest (e.g. bash scripts/test.sh -k formats); with them the
# floor run is skipped unless SEGREVIEW_FLOOR=1. SEGREVIEW_FLOOR=0 skips it always,
# SEGREVIEW_FLOOR=only runs nothing else (no lint, no main suite).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" testing
cd "$REPO"
apt_ensure xvfb xauth libgl1 libegl1 libgl1-mesa-dri libglib2.0-0 libfontconfig1 libdbus-1-3 \
    libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
    libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0

# nnU-Net's own dataset check (tests/targets/test_nnunet.py) needs nnunetv2 and the few
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

# The floor run: the lowest napari the package declares, pinned with what it needs.
FLOOR_PINS="$REPO/scripts/floor-constraints.txt"
FLOOR_VENV="${VENV%/}-floor"
FLOOR="${SEGREVIEW_FLOOR:-auto}"
case "$FLOOR" in
    auto) FLOOR=$([ $# -eq 0 ] && echo 1 || echo 0) ;;
    0 | 1 | only) ;;
    *) say "SEGREVIEW_FLOOR is '$FLOOR'; use 0, 1, only or leave it unset."; exit 1 ;;
esac
floor_napari="$(sed -n 's/^ *"napari>=\([0-9][0-9.]*\)".*/\1/p' "$REPO/pyproject.toml")"
if [ "$FLOOR" != 0 ] && ! grep -Eqx "napari==${floor_napari//./\\.}(\\.0)*" "$FLOOR_PINS"; then
    say "pyproject.toml declares napari>=$floor_napari but $FLOOR_PINS does not pin napari==$floor_napari; make them agree."
    exit 1
fi

# napari needs a real X server with OpenGL; Qt's offscreen platform has none here.
unset QT_QPA_PLATFORM
export PYTHONFAULTHANDLER=1
# napari's settings of this run only: a window size or reader choice saved by the developer's
# own napari must not change what the tests see, and the tests must not change those settings.
NAPARI_CONFIG="$(mktemp -d)/settings.yaml"
export NAPARI_CONFIG
with_display() {
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
        xvfb-run -a -s "-screen 0 1600x1000x24" "$@"
    else
        "$@"
    fi
}

status=0
if [ "$FLOOR" != only ]; then
    say "ruff check"
    "$VENV/bin/ruff" check src tests benchmarks scripts \
        || { say "ruff found problems (listed above)."; exit 1; }
    say "import contracts"
    "$VENV/bin/lint-imports" || { say "an import contract is broken (see above)."; exit 1; }
    with_display "$VENV/bin/python" -m pytest --durations=15 "$@" || status=$?
    if [ "$status" -ne 0 ]; then
        say "the test suite failed (pytest exit status $status, details above)."
        exit "$status"
    fi
    [ "$FLOOR" = 1 ] || exit 0
fi
venv_setup "$FLOOR_VENV" testing "$FLOOR_PINS" "$VENV"
say "GUI tests with napari $floor_napari (the lowest supported) in $FLOOR_VENV"
NAPARI_CONFIG="$(mktemp -d)/settings.yaml"   # its own: an older napari, an older schema
export NAPARI_CONFIG
# The slow GUI tests (screenshot scripts, real training and cluster runs, killed processes)
# run once, in the main suite; here only what checks the panels against the older napari.
with_display "$FLOOR_VENV/bin/python" -m pytest tests/gui -m "not slow" "$@" || status=$?
if [ "$status" -eq 5 ] && [ $# -gt 0 ]; then
    say "no GUI test matched the arguments; nothing ran with napari $floor_napari."
elif [ "$status" -ne 0 ]; then
    say "the GUI tests failed with napari $floor_napari, the lowest pyproject.toml declares (pytest exit status $status, details above)."
    exit "$status"
fi
