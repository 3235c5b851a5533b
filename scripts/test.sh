#!/usr/bin/env bash
# Set everything up, then run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
VENV="${CS231N_VENV:-$ROOT/.venv}"
cd "$ROOT"
# The unit tests, then the notebooks re-executed by nbval against their stored outputs.
exec "$VENV/bin/python" -m pytest tests notebooks --nbval --nbval-current-env \
    --nbval-sanitize-with notebooks/sanitize.cfg "$@"
