"""Benchmark: the full cross-model analysis, ours against the naive loop, on the same embeddings.

Run from the repository root::

    python benchmarks/bench_analysis.py                # full analysis, 100 points, 3 draws
    python benchmarks/bench_analysis.py --draws 1      # one random draw per fold
    python benchmarks/bench_analysis.py --quick        # a smoke run (small sweep, small naive sample)
    python benchmarks/bench_analysis.py --matrix-runs 5 --pause 12
        # matrix + rank sweep alone, 5 times, each the first call in a fresh process (as in
        # `facebridge reproduce`), 12 s idle before each: wall, CPU, user and system time

Data: the packaged LFW store (``facebridge.store.default_store()``) with the real LFW View 2 pairs
when it is present; otherwise planted synthetic embeddings with the six real dims
(512/128/128/128/192/1024) for the items of the real 6,000 LFW pairs -- the output says which.

"Ours" is :func:`facebridge.experiments.run_analysis` (matrix + rank sweep + pairs sweep + ROC).

"Naive" is the obvious implementation, per directed map:
  * matrix: per fold a fresh ``sklearn.linear_model.Ridge(alpha).fit`` on the fold's training
    matched pairs, all 6,000 left embeddings mapped with ``predict``, cosine scores, the threshold
    from the training folds (``facebridge.metrics.kfold_accuracy``), accuracy on the test fold;
  * rank sweep: per fold, one SVD of the fitted weight and, per rank, the truncated map applied to
    all 6,000 pairs and scored the same way;
  * pairs sweep: per fold, draw and p, a fresh ``Ridge().fit`` on p pairs (the same nested random
    subsets as ours) and all 6,000 pairs mapped and scored.
The naive loop runs with one BLAS thread (so its CPU time is work, not spinning threads); the
primary ratio is CPU time against CPU time.
It is far too slow to run in full (hours), so it runs on a documented subset and is extrapolated:
matrix and rank sweep on ``--naive-folds`` folds of every map (x K / naive-folds); the pairs sweep
on every map for fold 0, draw 0 and ``--naive-p`` values of p evenly spaced along the p grid (the
mean time per (map, p) x number of p values x folds x draws; the fit cost grows with p, so an
even spread over the grid estimates the grid mean).  The naive results of the subset are checked
against ours (they must agree: both are exact).

Timings are wall-clock (``time.perf_counter``) and process CPU time (user + system, all threads);
on a shared machine the CPU times are the steadier comparison.  Peak memory is the peak of
the process's resident set (``resource.getrusage``, ``ru_maxrss``: everything, the loaded store
included).  ``tracemalloc`` is not used: it hooks every numpy allocation and, on the blocked sweep
(millions of small allocations from two threads), slowed the timed run by up to 2x.
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load_data() -> tuple[Any, str]:
    """The shipped LFW store when present, else synthetic embeddings with the real dims."""
    from facebridge.experiments import pair_data
    from facebridge.protocols import default_lfw_pairs

    protocol = default_lfw_pairs()
    try:
        from facebridge.store import default_store

        store = default_store()
        data = pair_data(store, protocol)
        if len(data.models) >= 2:
            return data, f"packaged LFW store ({', '.join(data.models)}), real LFW View 2 pairs"
    except Exception as exc:  # absent or unreadable store: say so and fall back
        reason = f"{type(exc).__name__}: {exc}"
    else:
        reason = "fewer than two models in the packaged store"
    from facebridge.testing import make_synthetic_embeddings

    dims = {"m512": 512, "m128a": 128, "m128b": 128, "m128c": 128, "m192": 192, "m1024": 1024}
    emb = make_synthetic_embeddings(protocol, dims=dims, latent_dim=64, within_noise=1.0)
    return pair_data(emb, protocol), (
        "SYNTHETIC planted embeddings with the six real dims (512/128/128/128/192/1024) on the "
        f"real 6,000 LFW View 2 pairs (packaged store not used: {reason})"
    )


def naive_scores(model: Any, L: np.ndarray, R: np.ndarray) -> np.ndarray:
    M = model.predict(L)
    num = np.einsum("ij,ij->i", M, R)
    return num / (np.linalg.norm(M, axis=1) * np.linalg.norm(R, axis=1))


def run_naive(data: Any, args: argparse.Namespace, ps: np.ndarray) -> dict[str, Any]:
    """The naive loop on the subset; returns times and the subset's accuracies."""
    from sklearn.linear_model import Ridge

    from facebridge.experiments.core import correspondences
    from facebridge.experiments.matrix import default_ranks
    from facebridge.experiments.sweeps import sweep_order
    from facebridge.metrics import kfold_accuracy

    k = data.n_folds
    corr = correspondences(data)
    g, folds, v = data.genuine, data.folds, data.valid
    maps = [(a, b) for a in data.models for b in data.models if a != b]
    t_matrix = t_rank = t_sweep = 0.0
    c_matrix = c_rank = c_sweep = 0.0
    acc_matrix: dict[tuple[str, str, int], float] = {}
    acc_sweep: dict[tuple[str, str, int], float] = {}
    for a, b in maps:
        L = data.left[a].astype(np.float64)
        R = data.right[b].astype(np.float64)
        for f in range(args.naive_folds):
            rows = corr.training(f)
            t0, q0 = time.perf_counter(), _cpu_s()
            model = Ridge(alpha=args.alpha).fit(corr.source(a)[rows], corr.target(b)[rows])
            s = naive_scores(model, L, R)
            acc_matrix[(a, b, f)] = kfold_accuracy(s, g, folds, v).per_fold[f]
            t1, q1 = time.perf_counter(), _cpu_s()
            U, sv, Vt = np.linalg.svd(model.coef_.T, full_matrices=False)
            for r in default_ranks(min(data.dim(a), data.dim(b))):
                W = (U[:, :r] * sv[:r]) @ Vt[:r]
                M = L @ W + model.intercept_
                s = np.einsum("ij,ij->i", M, R) / (
                    np.linalg.norm(M, axis=1) * np.linalg.norm(R, axis=1)
                )
                kfold_accuracy(s, g, folds, v)
            t2, q2 = time.perf_counter(), _cpu_s()
            t_matrix += t1 - t0
            t_rank += t2 - t1
            c_matrix += q1 - q0
            c_rank += q2 - q1
        order = sweep_order(corr, 0, 0, args.seed)
        for p in ps:
            sub = order[: int(p)]
            t0, q0 = time.perf_counter(), _cpu_s()
            model = Ridge(alpha=args.alpha).fit(corr.source(a)[sub], corr.target(b)[sub])
            s = naive_scores(model, L, R)
            acc_sweep[(a, b, int(p))] = kfold_accuracy(s, g, folds, v).per_fold[0]
            t_sweep += time.perf_counter() - t0
            c_sweep += _cpu_s() - q0
    n_p_total = args.points_actual
    est_matrix = t_matrix * k / args.naive_folds
    est_rank = t_rank * k / args.naive_folds
    est_sweep = t_sweep / len(ps) * n_p_total * k * args.draws
    scale_sweep = n_p_total * k * args.draws / len(ps)
    return {
        "cpu_est_s": (c_matrix + c_rank) * k / args.naive_folds + c_sweep * scale_sweep,
        "measured_s": t_matrix + t_rank + t_sweep,
        "matrix_est_s": est_matrix,
        "rank_est_s": est_rank,
        "sweep_est_s": est_sweep,
        "total_est_s": est_matrix + est_rank + est_sweep,
        "acc_matrix": acc_matrix,
        "acc_sweep": acc_sweep,
        "n_fits_measured": len(maps) * (args.naive_folds + len(ps)),
    }


def _one_matrix_run() -> int:
    """Child of ``--matrix-runs``: load, time one ``matrix_and_ranks`` call, print JSON."""
    import json

    from facebridge.experiments.matrix import matrix_and_ranks

    data, _ = load_data()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    matrix_and_ranks(data)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    user, system = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
    print(json.dumps({"wall": wall, "user": user, "sys": system}))
    return 0


def matrix_runs(n: int, pause: float) -> int:
    """``n`` first-call timings of the matrix + rank sweep, each in a fresh process."""
    import json

    print(
        f"machine: {_cpu_model()}; {len(__import__('os').sched_getaffinity(0))} CPUs available; "
        f"python {platform.python_version()}, numpy {np.__version__}"
    )
    print(f"matrix + rank sweep, {n} fresh processes, {pause:g} s idle before each")
    walls = []
    for i in range(n):
        time.sleep(pause)
        load = __import__("os").getloadavg()[0]
        out = subprocess.run(
            [sys.executable, __file__, "--_one-matrix"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        walls.append(r["wall"])
        print(
            f"  run {i + 1}: {r['wall']:5.2f} s wall, {r['user'] + r['sys']:5.2f} s CPU "
            f"(user {r['user']:.2f}, system {r['sys']:.2f}); load average before {load:.1f}"
        )
    w = np.array(walls)
    print(f"wall: min {w.min():.2f}, median {np.median(w):.2f}, max {w.max():.2f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:] == ["--_one-matrix"]:
        return _one_matrix_run()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100, help="p values in the pairs sweep")
    ap.add_argument("--draws", type=int, default=3, help="random draws per fold")
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--naive-folds", type=int, default=1, help="folds of the naive matrix/rank run")
    ap.add_argument("--naive-p", type=int, default=5, help="p values of the naive sweep sample")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--quick", action="store_true", help="smoke run: 10 points, 1 draw, 2 p")
    ap.add_argument(
        "--matrix-runs",
        type=int,
        default=0,
        metavar="N",
        help="only time the matrix + rank sweep, N times, each in a fresh process",
    )
    ap.add_argument(
        "--pause", type=float, default=12.0, help="seconds idle before each --matrix-runs run"
    )
    args = ap.parse_args(argv)
    if args.matrix_runs:
        return matrix_runs(args.matrix_runs, args.pause)
    if args.quick:
        args.points, args.draws, args.naive_p = 10, 1, 2

    from facebridge.experiments import run_analysis
    from facebridge.experiments.sweeps import pairs_sweep

    print(
        f"machine: {_cpu_model()}; {len(__import__('os').sched_getaffinity(0))} CPUs available; "
        f"load average at start {__import__('os').getloadavg()[0]:.1f}"
    )
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    t = time.perf_counter()
    data, what = load_data()
    print(
        f"data: {what}; {data.n_pairs} pairs, {data.n_folds} folds, dims {data.dims}, "
        f"{data.n_missing} invalid pairs (loaded in {time.perf_counter() - t:.1f} s)"
    )
    print(f"settings: {args.points} p values, {args.draws} draws, alpha {args.alpha}")

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    c0, t0 = _cpu_s(), time.perf_counter()
    res = run_analysis(
        data, n_points=args.points, n_draws=args.draws, alpha=args.alpha, seed=args.seed
    )
    ours_s, ours_cpu = time.perf_counter() - t0, _cpu_s() - c0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tm = res["settings"]["timings"]
    print("\nOURS (run_analysis)")
    print(
        f"  matrix + rank sweep : {tm['matrix_and_ranks_s']:8.1f} s wall, "
        f"{tm['matrix_and_ranks_cpu_s']:.1f} s CPU"
    )
    print(
        f"  pairs sweep         : {tm.get('pairs_sweep_s', 0.0):8.1f} s wall, "
        f"{tm.get('pairs_sweep_cpu_s', 0.0):.1f} s CPU"
    )
    print(f"  ROC summaries       : {tm.get('roc_s', 0.0):8.1f} s")
    print(f"  total               : {ours_s:8.1f} s wall, {ours_cpu:.1f} s CPU")
    print(
        f"  peak memory         : process peak RSS {rss1:.0f} MiB "
        f"(before the analysis {rss0:.0f} MiB)"
    )
    print(
        f"  max incremental drift {res['settings'].get('pairs_sweep_max_drift'):.1e}, "
        f"exact reruns {res['settings'].get('pairs_sweep_exact_reruns')}"
    )
    if args.skip_naive:
        return 0

    sw0 = next(iter(res["pairs_sweep"].values()))
    grid = np.asarray(sw0["p"])
    args.points_actual = grid.size
    idx = np.unique(np.round(np.linspace(0, grid.size - 1, args.naive_p)).astype(int))
    ps = grid[idx]
    print(
        f"\nNAIVE (sklearn Ridge per map/fold/p; subset: {args.naive_folds} fold(s) of matrix and "
        f"rank sweep, pairs sweep at fold 1, draw 1, p = {ps.tolist()})"
    )
    from threadpoolctl import threadpool_limits

    c1, t1 = _cpu_s(), time.perf_counter()
    with threadpool_limits(limits=1):  # no spinning BLAS threads: CPU time = work done
        nv = run_naive(data, args, ps)
    naive_cpu = _cpu_s() - c1
    print(
        f"  measured            : {time.perf_counter() - t1:8.1f} s wall, {naive_cpu:.1f} s CPU "
        f"({nv['n_fits_measured']} Ridge fits)"
    )
    print(
        f"  matrix   (x{data.n_folds // args.naive_folds:<3d})   : {nv['matrix_est_s']:8.1f} s est."
    )
    print(
        f"  rank sweep (x{data.n_folds // args.naive_folds:<3d}) : {nv['rank_est_s']:8.1f} s est."
    )
    print(
        f"  pairs sweep         : {nv['sweep_est_s']:8.1f} s est. "
        f"(mean per (map, p) x {grid.size} p x {data.n_folds} folds x {args.draws} draws)"
    )
    print(
        f"  total               : {nv['total_est_s']:8.1f} s est. "
        f"= {nv['total_est_s'] / 60:.1f} min"
    )
    print(f"  total CPU           : {nv['cpu_est_s']:8.1f} s est. (same extrapolation, CPU time)")
    print(
        f"\nRATIO naive / ours: {nv['total_est_s'] / ours_s:.1f}x wall, "
        f"{nv['cpu_est_s'] / ours_cpu:.1f}x CPU"
    )

    # the subset's naive accuracies must equal ours (both exact)
    worst = 0.0
    from facebridge.experiments.matrix import cross_model_matrix

    mr = cross_model_matrix(data, alpha=args.alpha)
    for (a, b, f), acc in nv["acc_matrix"].items():
        worst = max(worst, abs(acc - mr.mapped[(a, b)].per_fold[f]))
    sw = pairs_sweep(
        data, p_values=[int(p) for p in ps], n_draws=1, seed=args.seed, alpha=args.alpha
    )
    for (a, b, p), acc in nv["acc_sweep"].items():
        j = int(np.flatnonzero(sw[f"{a}->{b}"].p == p)[0])
        worst = max(worst, abs(acc - sw[f"{a}->{b}"].per_fold[j, 0, 0]))
    print(f"naive vs ours on the subset: largest accuracy difference {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
