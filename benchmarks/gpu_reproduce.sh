#!/usr/bin/env bash
# The analysis on a GPU: `facebridge reproduce` on the shipped store with --device cuda, then with
# --device cpu (the same torch code path) and with the default numpy path, their wall times, and
# the largest |difference| between the results.json files (goal: 1e-9); then `facebridge
# compare-maps --precision float64` with --device cuda and with numpy, their wall times and the
# compare.json difference (goal: 1e-9), and the default float32 numpy run's time beside them.
#
# Needs only what src/ holds and Python with torch (CUDA build), numpy, scipy, scikit-learn,
# matplotlib, tqdm: no TensorFlow, dlib or onnx is imported (checked first), nothing is fetched.
#
#   OUT=gpu-out bash benchmarks/gpu_reproduce.sh            # full runs
#   OUT=gpu-out bash benchmarks/gpu_reproduce.sh --quick    # 12-point pairs sweep
#
# Extra arguments go to every `reproduce` run; COMPARE_ARGS (default: the full grid) to both
# `compare-maps` runs, e.g. COMPARE_ARGS="--no-sweep".  PYTHON (default python3) picks the
# interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}  # relative to the repository root unless absolute
PY=${PYTHON:-python3}
export PYTHONPATH=src
mkdir -p "$OUT"

"$PY" - <<'EOF'
import platform, torch
print(f"python {platform.python_version()}, torch {torch.__version__}, "
      f"cuda available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print("gpu:", torch.cuda.get_device_name(0))
EOF

# reproduce on the shipped store must not import a runtime the GPU machine lacks
"$PY" - "$OUT/import-check" <<'EOF'
import runpy, sys
sys.argv = ["facebridge", "reproduce", "--quick", "--no-progress", "--out", sys.argv[1]]
try:
    runpy.run_module("facebridge", run_name="__main__")
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
heavy = sorted(
    m for m in sys.modules
    if m.split(".")[0] in {"tensorflow", "dlib", "onnx", "onnxruntime", "ray", "cv2"}
)
print("heavy modules imported by reproduce:", heavy or "none")
sys.exit(1 if heavy else 0)
EOF

run() {  # run NAME [reproduce options...]: wall time of one reproduce
    local name=$1
    shift
    local TIMEFORMAT="$name: %R s wall"
    time "$PY" -m facebridge reproduce --no-progress --out "$OUT/repro-$name" "$@" \
        > "$OUT/$name.log" 2>&1
}

run cuda --device cuda "$@"
run cuda-again --device cuda "$@"  # the same again: file caches warm
run torch-cpu --device cpu --threads 1 "$@"
run numpy --threads 1 "$@"
for a in torch-cpu numpy; do
    echo "results.json cuda vs $a:"
    "$PY" benchmarks/json_diff.py --ignore timings,command,device \
        "$OUT/repro-$a/results.json" "$OUT/repro-cuda/results.json" | head -8 || true
done
"$PY" - "$OUT" <<'EOF'
import json, sys
for name in ("cuda", "cuda-again", "torch-cpu", "numpy"):
    t = json.load(open(f"{sys.argv[1]}/repro-{name}/results.json"))["settings"]["timings"]
    print(name, {k: round(v, 2) for k, v in t.items() if k.endswith("_s")})
EOF

cmp_run() {  # cmp_run NAME [compare-maps options...]: wall time of one compare-maps
    local name=$1
    shift
    local TIMEFORMAT="compare-maps $name: %R s wall"
    # shellcheck disable=SC2086  # COMPARE_ARGS is a list of options
    time "$PY" -m facebridge compare-maps --no-progress --out "$OUT/compare-$name" \
        ${COMPARE_ARGS:-} "$@" > "$OUT/compare-$name.log" 2>&1
}

cmp_run cuda --device cuda --precision float64
cmp_run numpy --precision float64
cmp_run numpy-float32
echo "compare.json cuda vs numpy (float64):"
"$PY" benchmarks/json_diff.py --ignore seconds,device \
    "$OUT/compare-numpy/compare.json" "$OUT/compare-cuda/compare.json" | head -8 || true
