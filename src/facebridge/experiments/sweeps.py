"""The pairs-needed sweep (paper Section 3.4, Figure 3): exact and fast.

For every directed map ``A -> B``, test fold ``f`` and random draw ``d``, the training
correspondences of fold ``f`` are put in one random order (one permutation per fold and draw,
shared by every map) and the ridge map is fitted on the first ``p`` of them for ``n_points``
values of ``p`` from 1 to ``m`` (the number of training matched pairs).  The threshold is chosen on
*all* training pairs of the fold scored by that map, accuracy is measured on fold ``f``, and the
curve is the mean over folds and draws.

Exactness and speed: the subsets are nested, so going from ``p`` to ``p + D`` adds ``D`` rows and
changes the ridge solution by a rank-``D`` update.  With the intercept handled exactly as an
unpenalised extra column (``X~ = [X, 1]``, penalty ``diag(alpha, ..., alpha, 0)``; identical to
centring), the inverse ``K = (X~^T X~ + P)^{-1}`` and the weights follow the block recursive
least-squares (Woodbury) update

    S = I + R K R^T,  F = K R^T S^{-1},  K <- K - F R K,  W~ <- W~ + F (T - R W~)

and the mapped left items of all pairs follow ``M <- M + (L~ F) E`` with ``E = T - R W~``: a
cost of ``n D (d_a + sum d_b)`` per step instead of ``n d_a sum d_b`` for re-mapping all
``n`` pairs.  All targets of one source share ``K``, ``F`` and ``L~ F``; ``M`` is kept in column
order so that the in-place BLAS update and the row-wise scoring are single contiguous passes.
Steps wider than the system (``D > d_a``) are solved afresh instead.
Drift guard: after the last step the incremental weights are compared with the exact fold map
(same training rows, solved from scratch); a deviation above ``drift_tol`` re-runs that
(source, fold, draw) with an exact solve at every ``p``.  No approximation is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from scipy.linalg.blas import dgemm
from threadpoolctl import threadpool_limits

from facebridge.errors import InvalidInputError
from facebridge.experiments._fast import ColumnScorer, Corr, FoldScorer, build_corr
from facebridge.experiments.core import PairData
from facebridge.experiments.matrix import _check_settings, fold_maps, map_key, n_workers

__all__ = ["SweepResult", "p_grid", "pairs_sweep", "sweep_order"]

Progress = Callable[[str, int, int], None]

#: Mapped accuracy within this fraction of the full map's counts as "within 1 point".
ONE_POINT = 0.01


@dataclass(frozen=True)
class SweepResult:
    """Accuracy against the number of training correspondences ``p`` for one directed map.

    Attributes
    ----------
    p : ndarray ``(n_p,)`` int
    accuracy : ndarray ``(n_p,)``
        Mean over folds and draws.
    std : ndarray ``(n_p,)``
        Population std over folds of the draw-averaged per-fold accuracy.
    per_fold : ndarray ``(n_p, K, n_draws)``
    full_accuracy : float
        Mean accuracy of the map fitted on all training correspondences (the matrix value).
    p_within_1pt : int or None
        Smallest ``p`` whose mean accuracy is at least ``full_accuracy - 0.01``.
    """

    p: np.ndarray
    accuracy: np.ndarray
    std: np.ndarray
    per_fold: np.ndarray
    full_accuracy: float
    p_within_1pt: int | None

    def to_dict(self) -> dict[str, Any]:
        """The ``results.json`` entry."""
        return {
            "p": [int(x) for x in self.p],
            "accuracy": [float(x) for x in self.accuracy],
            "std": [float(x) for x in self.std],
            "full_accuracy": float(self.full_accuracy),
            "p_within_1pt": None if self.p_within_1pt is None else int(self.p_within_1pt),
        }


def p_grid(m: int, n_points: int = 100) -> np.ndarray:
    """``n_points`` values of ``p`` spread uniformly over ``[1, m]`` (rounded, distinct)."""
    if m < 1:
        raise InvalidInputError(f"need at least one training correspondence, got m={m}")
    if int(n_points) < 1:
        raise InvalidInputError(f"n_points must be >= 1, got {n_points}")
    if int(n_points) == 1:
        return np.array([m])
    return np.unique(np.round(np.linspace(1, m, int(n_points))).astype(np.int64))


def sweep_order(corr: Corr, fold: int, draw: int, seed: int = 0) -> np.ndarray:
    """The random order of fold ``fold``'s training correspondence rows in draw ``draw``.

    The first ``p`` entries are the rows of the size-``p`` subset (nested in ``p``).
    """
    rows = corr.rows_for(fold)
    rng = np.random.default_rng([int(seed), int(fold), int(draw)])
    return rows[rng.permutation(rows.size)]


def _exact_weights(Xa: np.ndarray, T: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """``(K, W~)`` solved from scratch for augmented rows ``Xa = [X, 1]``."""
    d1 = Xa.shape[1]
    A = Xa.T @ Xa
    A.flat[: (d1 - 1) * (d1 + 1) : d1 + 1] += alpha  # penalise all but the intercept
    try:
        cf = scipy.linalg.cho_factor(A, check_finite=False)
        K = scipy.linalg.cho_solve(cf, np.eye(d1), check_finite=False)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):  # alpha == 0 and p <= d_a
        K = np.linalg.pinv(A)
    K = 0.5 * (K + K.T)
    return K, K @ (Xa.T @ T)


class _Run:
    """One (source, fold, draw): the nested ridge fits for every target, scored at each p."""

    def __init__(
        self,
        L1: np.ndarray,
        Xa: np.ndarray,
        T: np.ndarray,
        alpha: float,
    ) -> None:
        self.L1 = L1  # (n, d_a + 1) every pair's left item with a ones column
        self.Xa = Xa  # (m_f, d_a + 1) ordered training rows with a ones column
        self.T = T  # (m_f, sum d_b) ordered training targets
        self.alpha = alpha

    def start(self, p: int) -> None:
        Xa, T = self.Xa[:p], self.T[:p]
        if p == 1:  # closed form: K = [[I/a, -x/a], [-x^T/a, 1 + |x|^2/a]], W~ = [0; y]
            x = Xa[0, :-1]
            d = x.size
            K = np.zeros((d + 1, d + 1))
            K.flat[:: d + 2] = 1.0 / self.alpha
            K[:d, d] = K[d, :d] = -x / self.alpha
            K[d, d] = 1.0 + float(x @ x) / self.alpha
            W = np.zeros((d + 1, T.shape[1]))
            W[d] = T[0]
            self.M = np.empty((self.L1.shape[0], T.shape[1]), order="F")
            self.M[:] = T[0]
        else:
            K, W = _exact_weights(Xa, T, self.alpha)
            self.M = np.asfortranarray(self.L1 @ W)
        self.K, self.W, self.p = K, W, p

    def step(
        self, p_new: int, scorer: ColumnScorer | None = None, out: np.ndarray | None = None
    ) -> None:
        """Add rows ``p..p_new``; with ``scorer``, also score every pair into ``out``."""
        if p_new - self.p >= self.Xa.shape[1]:  # a jump wider than the system: solve afresh
            self.exact(p_new)
            if scorer is not None and out is not None:
                scorer(self.M, out)
            return
        R = self.Xa[self.p : p_new]
        T = self.T[self.p : p_new]
        KR = self.K @ R.T  # (d1, D)
        S = R @ KR
        S.flat[:: S.shape[0] + 1] += 1.0
        cf = scipy.linalg.cho_factor(S, check_finite=False)
        F = scipy.linalg.cho_solve(cf, KR.T, check_finite=False).T  # K R^T S^-1
        self.K -= F @ KR.T
        E = T - R @ self.W
        self.W += F @ E
        g = self.L1 @ F  # (n, D)
        dgemm(1.0, g, E, beta=1.0, c=self.M, overwrite_c=1)  # M += g E in place (Fortran order)
        self.p = p_new
        if scorer is not None and out is not None:
            scorer(self.M, out)

    def exact(self, p: int) -> None:
        """Re-solve from scratch at ``p`` (the drift fallback)."""
        self.K, self.W = _exact_weights(self.Xa[:p], self.T[:p], self.alpha)
        self.M = np.asfortranarray(self.L1 @ self.W)
        self.p = p


@dataclass
class _SourceJob:
    """Everything one source's (fold, draw) runs share; :meth:`run` is thread-safe."""

    L1: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    alpha: float
    orders: dict[tuple[int, int], np.ndarray]
    ps: np.ndarray
    m_f: list[int]
    exact_maps: list[tuple[np.ndarray, np.ndarray]]
    scorer: ColumnScorer
    scorers: list[FoldScorer]
    n_targets: int
    n_pairs: int
    drift_tol: float
    want_full: bool

    def run(self, f: int, d: int) -> tuple[int, int, np.ndarray, np.ndarray | None, float, bool]:
        ps = self.ps
        order = self.orders[(f, d)]
        Xa = np.hstack((self.X[order], np.ones((order.size, 1))))
        run = _Run(self.L1, Xa, self.Y[order], self.alpha)
        sc = self.scorer
        scores = np.empty((ps.size, self.n_targets, self.n_pairs))
        run.start(int(ps[0]))
        sc(run.M, scores[0])
        for i in range(1, ps.size):
            run.step(int(ps[i]), sc, scores[i])
        if run.p < self.m_f[f]:
            run.step(self.m_f[f])
        W_ex, b_ex = self.exact_maps[f]
        scale = max(1.0, float(np.abs(W_ex).max()))
        drift = (
            max(float(np.abs(run.W[:-1] - W_ex).max()), float(np.abs(run.W[-1] - b_ex).max()))
            / scale
        )
        rerun = not drift <= self.drift_tol
        if rerun:
            for i, p in enumerate(ps):
                run.exact(int(p))
                sc(run.M, scores[i])
        a_rows, _ = self.scorers[f](scores.reshape(-1, self.n_pairs))
        a_rows = a_rows.reshape(ps.size, self.n_targets)
        fa: np.ndarray | None = None
        if d == 0 and self.want_full:
            if int(ps[-1]) == self.m_f[f]:
                fa = a_rows[-1]
            else:  # the full map: the incremental state after the last step
                fs = np.empty((self.n_targets, self.n_pairs))
                sc(run.M, fs)
                fa, _ = self.scorers[f](fs)
        return f, d, a_rows, fa, drift, rerun


def _check_sweep_args(n_points: int, n_draws: int) -> None:
    if int(n_points) < 1:
        raise InvalidInputError(f"n_points must be >= 1, got {n_points}")
    if int(n_draws) < 1:
        raise InvalidInputError(f"n_draws must be >= 1, got {n_draws}")


def pairs_sweep(
    data: PairData,
    n_points: int = 100,
    n_draws: int = 3,
    seed: int = 0,
    *,
    alpha: float = 1.0,
    correspondence: str = "matched-pairs",
    p_values: Sequence[int] | None = None,
    full_accuracy: dict[tuple[str, str], float] | None = None,
    drift_tol: float = 1e-8,
    n_jobs: int | None = None,
    progress: Progress | None = None,
    stats: dict[str, Any] | None = None,
) -> dict[str, SweepResult]:
    """Accuracy of every directed ridge map fitted on ``p`` random training correspondences.

    Parameters
    ----------
    data : PairData
        At least two models.
    n_points : int
        Number of ``p`` values, spread uniformly over ``[1, m]`` where ``m`` is the smallest
        number of training correspondences over the folds (2,700 matched pairs on LFW).
    n_draws : int
        Random draws (orders) per fold; the curve is the mean over folds and draws.
    seed : int
        Draw ``d`` of fold ``f`` uses ``numpy.random.default_rng([seed, f, d])``.
    alpha : float
        Ridge strength (paper: 1).
    correspondence : {"matched-pairs", "same-image"}
    p_values : sequence of int, optional
        Explicit values of ``p`` (overrides ``n_points``); each in ``[1, m]``.
    full_accuracy : dict, optional
        ``(source, target) -> accuracy`` of the full map (e.g. from the matrix); by default it is
        computed here from the full fold maps.
    drift_tol : float
        Largest accepted deviation of the incremental weights from the exact fold map, relative
        to the largest weight; beyond it the run is redone with exact solves.
    n_jobs : int, optional
        Worker threads, each running whole (fold, draw) runs with single-threaded BLAS; default:
        the CPUs available to this process.  Results do not depend on it.
    progress : callable ``(stage, done, total)``, optional
    stats : dict, optional
        Filled with diagnostics (``max_drift``, ``exact_reruns``).

    Returns
    -------
    dict ``"A->B"`` -> SweepResult

    Raises
    ------
    InvalidInputError
        Fewer than two models, bad ``n_points`` / ``n_draws`` / ``p_values``, no valid pair.
    """
    a_ = _check_settings(data, alpha, correspondence, "ridge")
    _check_sweep_args(n_points, n_draws)
    k = data.n_folds
    corr = build_corr(data, correspondence)
    m_f = [int((corr.block != f).sum()) for f in range(k)]
    m = min(m_f)
    if m < 1:
        raise InvalidInputError(
            "a fold has no training correspondence; every other fold lacks valid genuine pairs"
        )
    if p_values is None:
        ps = p_grid(m, n_points)
    else:
        ps = np.unique(np.asarray(p_values, dtype=np.int64))
        if ps.size == 0 or ps[0] < 1 or ps[-1] > m:
            raise InvalidInputError(
                f"p_values must lie in [1, {m}] (the training correspondences per fold), got "
                f"{list(p_values)[:5]}..."
            )
    scorers = [FoldScorer(data.genuine, data.folds, data.valid, f) for f in range(k)]
    right = {mm: data.right[mm].astype(np.float64) for mm in data.models}
    orders = {(f, d): sweep_order(corr, f, d, seed) for f in range(k) for d in range(int(n_draws))}
    acc = {
        (a, b): np.empty((ps.size, k, int(n_draws)))
        for a in data.models
        for b in data.models
        if a != b
    }
    full = {key: np.empty(k) for key in acc}
    max_drift = 0.0
    reruns = 0
    total = len(data.models) * k * int(n_draws)
    done = 0
    workers = n_workers(n_jobs)
    limits = threadpool_limits(limits=1)  # small BLAS calls: threads only add contention
    with limits, ThreadPoolExecutor(workers) as pool:
        for a in data.models:
            targets = [b for b in data.models if b != a]
            exact_maps = fold_maps(data, corr, a, targets, a_, "ridge")
            scorer = ColumnScorer([right[b] for b in targets])
            L1 = np.hstack((data.left[a].astype(np.float64), np.ones((data.n_pairs, 1))))
            X = corr.src[a]
            Y = np.concatenate([corr.tgt[b] for b in targets], axis=1)

            ctx = _SourceJob(
                L1,
                X,
                Y,
                a_,
                orders,
                ps,
                m_f,
                exact_maps,
                scorer,
                scorers,
                len(targets),
                data.n_pairs,
                drift_tol,
                full_accuracy is None,
            )
            futures = [pool.submit(ctx.run, f, d) for f in range(k) for d in range(int(n_draws))]
            for fut in futures:
                f, d, a_rows, fa, drift, rerun = fut.result()
                max_drift = max(max_drift, drift)
                reruns += int(rerun)
                for j, b in enumerate(targets):
                    acc[(a, b)][:, f, d] = a_rows[:, j]
                    if fa is not None:
                        full[(a, b)][f] = fa[j]
                done += 1
                if progress is not None:
                    progress("pairs sweep", done, total)
    if stats is not None:
        stats["max_drift"] = max_drift
        stats["exact_reruns"] = reruns
    out: dict[str, SweepResult] = {}
    for (a, b), arr in acc.items():
        mean = arr.mean(axis=(1, 2))
        std = arr.mean(axis=2).std(axis=1)
        full_acc = (
            float(full[(a, b)].mean()) if full_accuracy is None else float(full_accuracy[(a, b)])
        )
        within = np.flatnonzero(mean >= full_acc - ONE_POINT - 1e-12)
        p1 = int(ps[within[0]]) if within.size else None
        out[map_key(a, b)] = SweepResult(ps.copy(), mean, std, arr, full_acc, p1)
    return out
