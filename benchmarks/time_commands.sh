#!/usr/bin/env bash
# Wall time, CPU time and peak memory of `reproduce`, `compare-maps` and `audit --all` for two
# source trees, back to back on this machine (run it idle), and the largest differences of their
# JSON outputs.
#
#   git worktree add ../facebridge-before <rev>
#   bash benchmarks/time_commands.sh ../facebridge-before/src src [OUT]
#
# OUT (default time-commands) gets times.txt (one line per run) and each run's output folder.
set -euo pipefail
before=$(cd "$1" && pwd)
after=$(cd "$2" && pwd)
out=${3:-time-commands}
PY=${PYTHON:-python3}
mkdir -p "$out"
: > "$out/times.txt"
for cmd in "reproduce --no-progress" "compare-maps --no-progress" "audit --all" "audit --all" "audit --all"; do
  name=${cmd%% *}
  for side in before after; do
    src=$before; [ "$side" = after ] && src=$after
    /usr/bin/time -f "$side $name wall %e user %U sys %S rss %M" -a -o "$out/times.txt" \
      env PYTHONPATH="$src" "$PY" -m facebridge $cmd --out "$out/$side-$name" > "$out/$side-$name.log" 2>&1
  done
done
cat "$out/times.txt"
here=$(dirname "$0")
for f in reproduce/results.json compare-maps/compare.json audit/audit.json; do
  echo "== $f"
  "$PY" "$here/json_diff.py" --ignore timings,seconds,elapsed_s,command,store \
    "$out/before-${f%%/*}/${f#*/}" "$out/after-${f%%/*}/${f#*/}" | head -12 || true
done
