#!/usr/bin/env bash
# Create .venv and install facebridge with every runtime, CPU builds only.
#   bash scripts/install.sh          # runtime extras
#   bash scripts/install.sh --dev    # + test tools
# torch is installed first, pinned to a CPU build, so nothing later pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
  if [ -f /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl ]; then
    python -m pip install -q torch==2.13.0
  else
    python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
  fi
fi
extras="extract"
[ "${1:-}" = "--dev" ] && extras="extract,dev"
python -m pip install -q -e ".[${extras}]"
