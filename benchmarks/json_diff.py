"""Compare two result JSON files field by field: the largest |difference| of every numeric field.

Usage::

    python benchmarks/json_diff.py BEFORE.json AFTER.json [--tol 1e-12] [--ignore seconds,timings]

Walks both documents together; numbers are compared by absolute difference (``None`` equals
``None``), strings and booleans by equality.  Fields are grouped by their path with list
indices replaced by ``[]`` (so ``matrix[].per_fold[]`` is one field); for each group the largest
difference is printed when it exceeds ``--tol``, as are fields present on one side only and
differing strings.  Exits 1 when anything differs beyond the tolerance.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def walk(
    a: Any, b: Any, path: str, out: dict[str, float], other: list[str], ignore: set[str]
) -> None:
    """Record into ``out`` the largest numeric |a - b| per field and into ``other`` the rest."""
    key = re.sub(r"\[\d+\]", "[]", path)
    if any(part in ignore for part in re.split(r"[.\[\]]", key)):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                other.append(f"{path}.{k}: only in {'after' if k not in a else 'before'}")
                continue
            walk(a[k], b[k], f"{path}.{k}", out, other, ignore)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            other.append(f"{path}: length {len(a)} -> {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            walk(x, y, f"{path}[{i}]", out, other, ignore)
    elif isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        if a != b:
            other.append(f"{path}: {a!r} -> {b!r}")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) and math.isnan(b):
            d = 0.0
        else:
            d = abs(float(a) - float(b))
        out[key] = max(out.get(key, 0.0), d)
    elif a != b:
        other.append(f"{path}: {a!r} -> {b!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--tol", type=float, default=1e-12)
    ap.add_argument("--ignore", default="seconds,timings,total_s,generated,created,version")
    args = ap.parse_args(argv)
    ignore = {s for s in args.ignore.split(",") if s}
    out: dict[str, float] = defaultdict(float)
    other: list[str] = []
    walk(
        json.loads(args.before.read_text()),
        json.loads(args.after.read_text()),
        "",
        out,
        other,
        ignore,
    )
    moved = {k: v for k, v in out.items() if v > args.tol}
    print(f"{len(out)} numeric fields, largest |difference| {max(out.values(), default=0.0):.3g}")
    for k, v in sorted(moved.items(), key=lambda kv: -kv[1]):
        print(f"  moved {v:.3g}  {k}")
    for line in other[:50]:
        print(f"  differs  {line}")
    if len(other) > 50:
        print(f"  ... and {len(other) - 50} more")
    return 1 if moved or other else 0


if __name__ == "__main__":
    sys.exit(main())
