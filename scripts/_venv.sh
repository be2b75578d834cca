# Shared set-up for scripts/demo.sh and scripts/test.sh (sourced, not run).
# Creates the virtual environment and installs the project with the extra in $1;
# venv_setup makes more of them (scripts/test.sh: one with the lowest supported napari).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SEGREVIEW_VENV:-$REPO/.venv}"
EXTRA="${1:-qt}"

say() { printf 'segreview setup: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@";
    elif command -v sudo >/dev/null 2>&1; then sudo "$@";
    else say "need root to run: $*; ask an administrator to run it, then try again."; exit 1; fi
}

# Install the Debian packages given as arguments that are not installed yet.
apt_ensure() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        say "missing system packages (${missing[*]}) and no apt-get here; install them with your system's package manager."
        exit 1
    fi
    say "installing system packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pick_python() {
    for py in python3.11 python3.12 python3.10 python3.13 python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
            echo "$py"; return 0
        fi
    done
    say "Python 3.10 or newer is needed; install python3 (3.11 recommended) and try again."
    exit 1
}

# pip in the virtual environment $1, without the noise of pip's per-package notes about
# unreadable local indexes: venv_pip DIR install ARGS...
venv_pip() {
    local venv="$1"; shift
    "$venv/bin/python" -m pip "$@" -q 2> >(grep -v '^WARNING: Location' >&2)
}
# pip install into $VENV (the environment this script set up).
pip_install() { venv_pip "$VENV" install "$@"; }

torch_version() {
    "$1/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null
}

# Give the virtual environment $1 a torch without letting a bare `torch` requirement pull
# a multi-GB CUDA build: a CPU build found in pip's local find-links (as on our CI
# machines) first; else the very version the environment $2 (if given) already has, from
# pip's cache; else (the first environment on a normal machine) pip's default applies.
ensure_torch() {
    local venv="$1" like="${2:-}" ver
    "$venv/bin/python" -c 'import torch' >/dev/null 2>&1 && return 0
    if "$venv/bin/python" -m pip install -q --no-index --no-deps torch >/dev/null 2>&1; then
        ver="$(torch_version "$venv")"
        say "using the local torch build $ver in $venv"
        venv_pip "$venv" install "torch==$ver"
    elif [ -n "$like" ] && ver="$(torch_version "$like")" && [ -n "$ver" ]; then
        say "installing torch $ver into $venv, the build $like has"
        venv_pip "$venv" install "torch==$ver" \
            || { say "could not install torch $ver into $venv; install that build there first."; exit 1; }
    elif [ -n "$like" ]; then
        say "no torch in $like to copy into $venv; run the main set-up first."; exit 1
    else
        say "installing torch from the package index (set PIP_INDEX_URL or install torch into $venv first to choose a build)"
    fi
}

# venv_setup DIR EXTRA [CONSTRAINTS [TORCH_LIKE]]: create the virtual environment DIR
# (first run only) and install the project's EXTRA into it, editable, within the pins of
# the CONSTRAINTS file; TORCH_LIKE is the environment whose torch build DIR copies.
venv_setup() {
    local venv="$1" extra="$2" constraints="${3:-}" like="${4:-}" py
    if [ ! -x "$venv/bin/python" ]; then
        py="$(pick_python)"
        say "creating $venv with $("$py" --version)"
        if ! "$py" -m venv "$venv" 2>/dev/null; then
            apt_ensure python3-venv
            rm -rf "$venv"; "$py" -m venv "$venv"
        fi
        venv_pip "$venv" install --upgrade pip
    fi
    ensure_torch "$venv" "$like"
    # Reinstall the project only when its metadata changed (the install is editable).
    local stamp="$venv/.segreview-$extra.stamp" want pins=()
    want="$(cat "$REPO/pyproject.toml" "$REPO/scripts/_venv.sh" ${constraints:+"$constraints"} | cksum)"
    [ -n "$constraints" ] && pins=(-c "$constraints")
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        say "installing napari-segreview[$extra] into $venv${constraints:+ within $constraints}"
        venv_pip "$venv" install ${pins[@]+"${pins[@]}"} -e "$REPO[$extra]" \
            || { say "installing napari-segreview[$extra] into $venv failed (see above)."; exit 1; }
        echo "$want" > "$stamp"
    fi
}

venv_setup "$VENV" "$EXTRA"
PIP=("$VENV/bin/python" -m pip)
