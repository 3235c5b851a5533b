#!/usr/bin/env bash
# Set up the suite: a virtual environment in .venv with the package and its
# dependencies (from the package registry), then the offline dataset.
# Safe to run again: it only does what is not done yet.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${CS231N_VENV:-$ROOT/.venv}"

pick_python() {
    for py in python3.11 python3.12 python3.13 python3.10 python3; do
        if command -v "$py" >/dev/null 2>&1 &&
           "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    echo "setup: Python 3.10 or newer is needed (3.11 recommended); install it and run again." >&2
    return 1
}

# A virtual environment left half-made (setup interrupted; or made without pip,
# as where python3-venv is missing) or made with a Python too old is made again.
venv_ok() {
    "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' >/dev/null 2>&1 &&
        "$VENV/bin/python" -m pip --version >/dev/null 2>&1
}
if [ -e "$VENV" ] && ! venv_ok; then
    if [ ! -f "$VENV/pyvenv.cfg" ]; then
        echo "setup: $VENV exists but is not a virtual environment: move it away, or set CS231N_VENV to another folder, and run again." >&2
        exit 1
    fi
    echo "setup: $VENV is incomplete (no pip) or made with a Python older than 3.10: making it again"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    PY="$(pick_python)"
    echo "setup: creating the virtual environment $VENV with $($PY --version)"
    if ! "$PY" -m venv "$VENV" || ! venv_ok; then
        rm -rf "$VENV"
        echo "setup: '$PY -m venv' failed or gave no pip: install the venv module (e.g. apt-get install python3-venv) and run again." >&2
        exit 1
    fi
fi

# The test tools only where the tests are (the instructor's repository, not
# the student version of the assignment).
if [ -d "$ROOT/tests" ]; then TESTS=1; TARGET=".[test]"; else TESTS=0; TARGET="."; fi

# Reinstall only when the dependency list changed.
STAMP="$VENV/.cs231n-installed"
WANT="$( { cat pyproject.toml; echo "$TARGET"; } | sha256sum | cut -c1-16)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
    echo "setup: installing the package and its dependencies (about a minute)"
    # (pip's warnings about configured package locations it cannot reach are filtered out)
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$TARGET" 2>&1 |
        { grep -v '^WARNING: Location .* is ignored' || true; }
    echo "$WANT" > "$STAMP"
fi

# Optional independent reference for the tests: PyTorch, only from a wheel that
# is already on this machine (never a multi-GB download). Without it, the
# torch comparison tests are skipped.
if [ "$TESTS" = 1 ] && ! "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
    # the wheel itself only from disk (--no-index); its small dependencies from the index
    if "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
            "torch==2.13.0" >/dev/null 2>&1 &&
       "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "torch==2.13.0" 2>&1 |
            { grep -v '^WARNING: Location .* is ignored' || true; }; then
        echo "setup: installed PyTorch from a local wheel (reference tests enabled)"
    else
        "$VENV/bin/python" -m pip uninstall --quiet --yes torch >/dev/null 2>&1 || true
        echo "setup: no local PyTorch wheel; the PyTorch reference tests will be skipped"
    fi
fi

# The browser test of the caption explorer drives the system's Chromium. Install
# it when this runs as root with apt-get (CI does); otherwise that test is
# skipped with a note.
if [ "$TESTS" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing Chromium for the browser test (apt-get, about a minute)"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1; then
            echo "setup: could not install Chromium; the browser test will be skipped"
        fi
    else
        echo "setup: no Chromium (apt-get install chromium); the browser test will be skipped"
    fi
fi

# The kernel the notebooks run in.
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null 2>&1 || true

# The offline dataset the notebooks use by default.
"$VENV/bin/python" -c 'from cs231n.offline_data import ensure_built; ensure_built()'
echo "setup: ready ($VENV)"
