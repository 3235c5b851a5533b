#!/usr/bin/env bash
# Set everything up, then run the main job on the offline dataset.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
VENV="${CS231N_VENV:-$ROOT/.venv}"
# (no cd: the paths the job prints and takes are from where it was started)
exec "$VENV/bin/python" -m cs231n.main "$@"
