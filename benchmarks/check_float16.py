"""Does shipping the LFW embeddings as float16 change any reported accuracy?

Runs the same analysis (native accuracies, the cross-model matrix, the rank sweep and a pairs
sweep with fixed seeds) on a float32 store and on its float16 copy (the shipped default store by
default) and prints the largest absolute difference of every reported accuracy, in points.

    python benchmarks/check_float16.py FLOAT32_STORE [--f16 STORE] [--points 20] [--draws 1]

The shipped store was checked this way against the float32 extraction store it was packed from
(`scripts/pack_default_store.py`); the result is recorded in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facebridge.experiments import pair_data, run_analysis
from facebridge.protocols import default_lfw_pairs
from facebridge.store import EmbeddingStore, default_store


def _accuracies(res: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for m, v in res["native"].items():
        out[f"native {m}"] = v["accuracy"]
    for cell in res["matrix"]:
        key = f"{cell['source']}->{cell['target']}"
        out[f"matrix {key}"] = cell["accuracy"]
        if cell.get("unmapped_accuracy") is not None:
            out[f"unmapped {key}"] = cell["unmapped_accuracy"]
    for key, sw in (res.get("pairs_sweep") or {}).items():
        for p, a in zip(sw["p"], sw["accuracy"], strict=True):
            out[f"pairs {key} p={p}"] = a
    for key, rk in (res.get("rank_sweep") or {}).items():
        for r, a in zip(rk["rank"], rk["accuracy"], strict=True):
            out[f"rank {key} k={r}"] = a
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("f32", type=Path, help="float32 store (e.g. the extraction store)")
    ap.add_argument("--f16", type=Path, default=None, help="float16 store (default: shipped)")
    ap.add_argument("--points", type=int, default=20)
    ap.add_argument("--draws", type=int, default=1)
    args = ap.parse_args()
    protocol = default_lfw_pairs()
    s16 = EmbeddingStore(args.f16) if args.f16 else default_store()
    s32 = EmbeddingStore(args.f32)
    models = s16.models()
    results = []
    for store in (s32, s16):
        data = pair_data(store, protocol, models)
        results.append(
            _accuracies(run_analysis(data, n_points=args.points, n_draws=args.draws, roc_curves=False))
        )
    a32, a16 = results
    diffs = {k: abs(a32[k] - a16[k]) * 100 for k in a32}
    worst = max(diffs, key=diffs.__getitem__)
    print(f"{len(diffs)} reported accuracies compared (float32 vs float16 store)")
    for group in ("native", "matrix", "unmapped", "pairs", "rank"):
        vals = [v for k, v in diffs.items() if k.startswith(group)]
        if vals:
            print(f"  {group:9s} n={len(vals):5d}  max |diff| = {max(vals):.4f} pt  "
                  f"mean = {float(np.mean(vals)):.4f} pt")
    print(f"largest: {worst}: {diffs[worst]:.4f} pt")


if __name__ == "__main__":
    main()
