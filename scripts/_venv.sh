# Shared set-up for scripts/demo.sh and scripts/test.sh (sourced, not run).
# Creates the virtual environment and installs the project with the extra in $1.
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

if [ ! -x "$VENV/bin/python" ]; then
    PY="$(pick_python)"
    say "creating $VENV with $("$PY" --version)"
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
        apt_ensure python3-venv
        rm -rf "$VENV"; "$PY" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip
fi
PIP=("$VENV/bin/python" -m pip)
# pip install, without the noise of pip's per-package notes about unreadable local indexes.
pip_install() { "${PIP[@]}" install -q "$@" 2> >(grep -v '^WARNING: Location' >&2); }

# Prefer a CPU build of torch when one lies in pip's local find-links (as on
# our CI machines): a bare `torch` requirement may pull a multi-GB CUDA build.
# On a normal machine nothing is found locally and pip's default applies.
if ! "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
    if "${PIP[@]}" install -q --no-index --no-deps torch >/dev/null 2>&1; then
        ver="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))')"
        say "using the local torch build $ver"
        pip_install "torch==$ver"
    else
        say "installing torch from the package index (set PIP_INDEX_URL or install torch into $VENV first to choose a build)"
    fi
fi

# Reinstall the project only when its metadata changed (the install is editable).
STAMP="$VENV/.segreview-$EXTRA.stamp"
WANT="$(cat "$REPO/pyproject.toml" "$REPO/scripts/_venv.sh" | cksum)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    say "installing napari-segreview[$EXTRA] into $VENV"
    pip_install -e "$REPO[$EXTRA]" || { say "installation failed (see above)."; exit 1; }
    echo "$WANT" > "$STAMP"
fi
