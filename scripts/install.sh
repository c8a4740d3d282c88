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
TORCH=2.13.0
extras="extract"
if ! python -c "import torch" 2>/dev/null; then
  if [ -f "/opt/wheels/torch-${TORCH}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl" ]; then
    python -m pip install -q "torch==${TORCH}"   # the local CPU wheel (pip's find-links)
  elif ! python -m pip install -q --retries 1 --timeout 30 "torch==${TORCH}" \
      --index-url https://download.pytorch.org/whl/cpu; then
    # Never fall back to PyPI's torch: it is a multi-GB CUDA build.  Everything but MTCNN
    # detection works without torch (reproduce/evaluate/audit need none of the extras;
    # `facebridge embed --detector yunet` detects without torch).
    echo "install.sh: no CPU build of torch reachable; installing without torch (MTCNN unavailable," \
      "use --detector yunet, or install a CPU torch and rerun)" >&2
    extras="onnx,tf,dlib"
  fi
fi
[ "${1:-}" = "--dev" ] && extras="${extras},ray,dev"
python -m pip install -q -e ".[${extras}]"
