"""Speed of the map fits and of the batched k-fold accuracy (numbers printed, nothing asserted).

fit_ridge always solves in float64 (exact parity with sklearn on float64 data); sklearn keeps
float32 input in float32, so both sklearn timings are printed.

Run: ``python benchmarks/bench_maps.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np


def _best_of(fn, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    from sklearn.linear_model import Ridge

    from facebridge.maps import fit_ridge
    from facebridge.metrics import kfold_accuracy, kfold_accuracy_batch

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rows", type=int, default=200, help="rows for kfold_accuracy_batch")
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    for n, d_a, d_b in [(2700, 512, 512), (2700, 1024, 128)]:
        X = rng.normal(size=(n, d_a)).astype(np.float32)
        Y = rng.normal(size=(n, d_b)).astype(np.float32)
        X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
        ours = _best_of(partial(fit_ridge, X, Y, alpha=1.0), args.repeat)
        ref64 = _best_of(partial(Ridge(alpha=1.0).fit, X64, Y64), args.repeat)
        ref32 = _best_of(partial(Ridge(alpha=1.0).fit, X, Y), args.repeat)
        print(
            f"ridge {n}x{d_a}->{d_b}: fit_ridge (float64 solve) {ours * 1e3:7.1f} ms | "
            f"sklearn Ridge float64 {ref64 * 1e3:7.1f} ms, float32 {ref32 * 1e3:7.1f} ms"
        )

    n, k, m = 6000, 10, args.rows
    genuine = np.tile(np.r_[np.ones(300, bool), np.zeros(300, bool)], k)
    folds = np.repeat(np.arange(k), 600)
    S = rng.normal(size=(m, n)) + genuine
    valid = rng.random(n) > 0.01
    batch = _best_of(lambda: kfold_accuracy_batch(S, genuine, folds, valid), args.repeat)
    m_loop = min(m, 20)
    loop = _best_of(lambda: [kfold_accuracy(S[r], genuine, folds, valid) for r in range(m_loop)], 1)
    print(
        f"kfold_accuracy_batch n={n}, {k} folds: {m / batch:8.0f} rows/s "
        f"({m} rows in {batch:.3f} s); kfold_accuracy loop: {m_loop / loop:6.0f} rows/s"
    )


if __name__ == "__main__":
    main()
