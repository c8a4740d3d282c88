"""The pairs-needed sweep (paper Section 3.4, Figure 3): exact and fast.

For every directed map ``A -> B``, test fold ``f`` and random draw ``d``, the training
correspondences of fold ``f`` are put in one random order (:func:`sweep_order`: one permutation
per fold and draw, shared by every map) and the map is fitted on the first ``p`` of them for
several values of ``p`` up to ``m`` (the training correspondences of the smallest fold).  The
threshold is chosen on *all* training pairs of the fold scored by that map, accuracy is measured
on fold ``f``, and the curve is the mean over folds and draws.  :func:`subset_sweep` runs this
for any fit and score (the recipes of ``facebridge compare-maps``), refitting at every ``p``;
:func:`pairs_sweep` runs it for the paper's ridge map and cosine score on ``n_points`` values of
``p`` from 1 to ``m``, as follows.

Exactness and speed: the subsets are nested, so going from ``p`` to ``p + D`` adds ``D`` rows and
changes the ridge solution by a rank-``D`` update.  With the intercept handled exactly as an
unpenalised extra column (``X~ = [X, 1]``, penalty ``diag(alpha, ..., alpha, 0)``; identical to
centring), the inverse ``K = (X~^T X~ + P)^{-1}`` and the weights follow the block recursive
least-squares (Woodbury) update

    S = I + R K R^T,  F = K R^T S^{-1},  K <- K - F R K,  W~ <- W~ + F (T - R W~)

and every pair's mapped left item follows ``M <- M + (L~ F) E``: a cost of ``u D sum d_b`` per
step (``u`` distinct left items) instead of ``u d_a sum d_b`` for re-mapping them.  All targets
of one source share ``K``, ``F`` and ``L~ F``.  Steps wider than the system (``D > d_a``) are
solved afresh and applied as the difference of the two solutions.

Memory traffic, not arithmetic, limits the obvious order (one ``u x sum d_b`` matrix updated
and re-scored at every step streams from main memory 100 times).  So the path is computed first
(:func:`_woodbury_path`: the factors ``F`` and ``E`` of every step, small), and then, for one
block of 128 distinct left items at a time, every step is applied and scored while the block's
mapped vectors stay in cache (:class:`_BlockScorer`).  The update uses numpy's matmul, which
releases the GIL (scipy's BLAS wrappers do not), so the worker threads run in parallel.
Drift guard: after the last step the incremental weights are compared with the exact fold map
(same training rows, solved from scratch); a deviation above ``drift_tol`` recomputes that
(source, fold, draw) path with an exact solve at every ``p``.  No approximation is made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

from facebridge.errors import InvalidInputError
from facebridge.experiments._fast import LeftIndex, RightParts
from facebridge.experiments.core import Correspondences, PairData, correspondences
from facebridge.experiments.matrix import _check_settings, fold_maps, n_workers
from facebridge.metrics import FoldScorer
from facebridge.vocabulary import Progress, directed_pairs, map_key, within_one_point

__all__ = ["SweepResult", "p_grid", "pairs_sweep", "subset_sweep", "sweep_order"]


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
    """``n_points`` values of ``p`` spread uniformly over ``[1, m]`` (rounded, distinct).

    Parameters
    ----------
    m : int
        The largest ``p`` (the training correspondences of the smallest fold).
    n_points : int

    Returns
    -------
    ndarray of int64

    Examples
    --------
    >>> p_grid(2700, 4).tolist()
    [1, 901, 1800, 2700]
    """
    if m < 1:
        raise InvalidInputError(f"need at least one training correspondence, got m={m}")
    if int(n_points) < 1:
        raise InvalidInputError(f"n_points must be >= 1, got {n_points}")
    if int(n_points) == 1:
        return np.array([m])
    return np.unique(np.round(np.linspace(1, m, int(n_points))).astype(np.int64))


def sweep_order(corr: Correspondences, fold: int, draw: int, seed: int = 0) -> np.ndarray:
    """The random order of fold ``fold``'s training correspondence rows in draw ``draw``.

    The first ``p`` entries are the rows of the size-``p`` subset (nested in ``p``).

    Parameters
    ----------
    corr : Correspondences
    fold, draw, seed : int
        The order is ``numpy.random.default_rng([seed, fold, draw])``'s permutation.

    Returns
    -------
    ndarray of int
        Row indices into ``corr``.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> from facebridge.experiments.core import correspondences
    >>> corr = correspondences(data)
    >>> order = sweep_order(corr, 0, 0)
    >>> sorted(order.tolist()) == corr.training(0).tolist()
    True
    """
    rows = corr.training(fold)
    rng = np.random.default_rng([int(seed), int(fold), int(draw)])
    return rows[rng.permutation(rows.size)]


def _p_values(
    corr: Correspondences, n_points: int, p_values: Sequence[int] | None, n_draws: int
) -> np.ndarray:
    """The sorted values of ``p``: ``p_values``, or ``n_points`` of :func:`p_grid` up to the
    training correspondences of the smallest fold."""
    for name, v in (("n_points", n_points), ("n_draws", n_draws)):
        if int(v) < 1:
            raise InvalidInputError(f"{name} must be >= 1, got {v}")
    m = min(int(corr.training(f).size) for f in range(corr.data.n_folds))
    if m < 1:
        raise InvalidInputError(
            "a fold has no training correspondence; every other fold lacks valid genuine pairs"
        )
    if p_values is None:
        return p_grid(m, n_points)
    ps = np.unique(np.asarray(p_values, dtype=np.int64))
    if ps.size == 0 or ps[0] < 1 or ps[-1] > m:
        raise InvalidInputError(
            f"p_values must lie in [1, {m}] (the training correspondences per fold), got "
            f"{list(p_values)[:5]}..."
        )
    return ps


def _result(ps: np.ndarray, per_fold: np.ndarray, full: float) -> SweepResult:
    """The curve of one directed map from its accuracies ``(n_p, K, n_draws)`` at ``ps``."""
    mean = per_fold.mean(axis=(1, 2))
    std = per_fold.mean(axis=2).std(axis=1)
    within = np.flatnonzero([within_one_point(float(x), full) for x in mean])
    p1 = int(ps[within[0]]) if within.size else None
    return SweepResult(ps.copy(), mean, std, per_fold, float(full), p1)


#: ``fold_accuracy(rows, fold, keys) -> {key: accuracy}``: fit the map of every key on the
#: correspondence ``rows`` (indices into a :class:`Correspondences`) and return its accuracy on
#: test fold ``fold``, the threshold chosen on the other folds.
FoldFit = Callable[[np.ndarray, int, list[Any]], Mapping[Any, float]]


def subset_sweep(
    corr: Correspondences,
    fold_accuracy: FoldFit,
    full_accuracy: Mapping[tuple[str, str], float],
    p_values: Sequence[int],
    *,
    n_draws: int = 1,
    seed: int = 0,
    stop_within: bool = False,
) -> dict[str, SweepResult]:
    """Accuracy of any maps fitted on ``p`` random training correspondences, for each ``p``.

    The sweep of :func:`pairs_sweep` for any fit and score: the first ``p`` rows of
    :func:`sweep_order` (nested in ``p``; one order per fold and draw, shared by every map) are
    the training rows of test fold ``f``, and the curve is the mean over folds and draws.
    :func:`pairs_sweep` computes the ridge/cosine case with exact incremental updates; this one
    refits at every ``p`` (``facebridge compare-maps`` and ``equivalence`` run it with their
    recipe).

    Parameters
    ----------
    corr : Correspondences
        The rows that ``fold_accuracy`` fits on.
    fold_accuracy : callable ``(rows, fold, keys) -> {key: accuracy}``
        Fits the map of every key of ``keys`` (the keys of ``full_accuracy`` still swept) on
        the rows ``rows`` of ``corr`` and returns its accuracy on test fold ``fold``.
    full_accuracy : mapping ``(source, target) -> float``
        The maps swept, each with its accuracy when fitted on every training row.
    p_values : sequence of int
        Values of ``p``, each in ``[1, m]`` (``m``: the training rows of the smallest fold).
    n_draws, seed : int
        As :func:`pairs_sweep`.
    stop_within : bool
        Try the values of ``p`` in ascending order and leave a map out of the larger ones once
        its mean accuracy is within 1 point of its full accuracy
        (:func:`facebridge.vocabulary.within_one_point`); its curve then ends there.

    Returns
    -------
    dict ``"A->B"`` -> SweepResult
        In the order of ``full_accuracy``.

    Raises
    ------
    InvalidInputError
        Bad ``p_values`` or ``n_draws``, a fold without training rows.

    Examples
    --------
    >>> import numpy as np
    >>> from facebridge.experiments.core import correspondences
    >>> from facebridge.maps import fit_lstsq
    >>> from facebridge.metrics import kfold_accuracy
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> corr = correspondences(data)
    >>> X, Y, L, R = corr.source("a"), corr.target("b"), data.left["a"], data.right["b"]
    >>> def fold_accuracy(rows, fold, keys):
    ...     s = np.sum(fit_lstsq(X[rows], Y[rows]).apply(L) * R, axis=1)
    ...     return {k: kfold_accuracy(s, data.genuine, data.folds).per_fold[fold] for k in keys}
    >>> sw = subset_sweep(corr, fold_accuracy, {("a", "b"): 0.9}, [10, 40])
    >>> sw["a->b"].p.tolist(), sw["a->b"].per_fold.shape
    ([10, 40], (2, 3, 1))
    """
    k = corr.data.n_folds
    ps = _p_values(corr, 1, p_values, n_draws)
    orders = [[sweep_order(corr, f, d, seed) for d in range(int(n_draws))] for f in range(k)]
    pending = dict(full_accuracy)
    acc: dict[tuple[str, str], list[np.ndarray]] = {key: [] for key in pending}
    for p in ps:
        keys = list(pending)
        if not keys:
            break
        got = np.empty((len(keys), k, int(n_draws)))
        for f in range(k):
            for d in range(int(n_draws)):
                a = fold_accuracy(orders[f][d][: int(p)], f, keys)
                got[:, f, d] = [a[key] for key in keys]
        for key, arr in zip(keys, got, strict=True):
            acc[key].append(arr)
            if stop_within and within_one_point(float(arr.mean()), pending[key]):
                del pending[key]
    return {
        map_key(*key): _result(ps[: len(a)], np.stack(a), full_accuracy[key])
        for key, a in acc.items()
    }


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


def _first_weights(Xa: np.ndarray, T: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """``(K, W~)`` for the first ``p`` rows; ``p == 1`` in closed form."""
    if Xa.shape[0] != 1 or alpha <= 0:
        return _exact_weights(Xa, T, alpha)
    x = Xa[0, :-1]
    d = x.size
    K = np.zeros((d + 1, d + 1))
    K.flat[:: d + 2] = 1.0 / alpha
    K[:d, d] = K[d, :d] = -x / alpha
    K[d, d] = 1.0 + float(x @ x) / alpha
    W = np.zeros((d + 1, T.shape[1]))
    W[d] = T[0]
    return K, W


@dataclass
class _Updates:
    """One (source, fold, draw) path: ``W~(p_s) = W~(p_{s-1}) + F[:, cols[s-1]:cols[s]] E[...]``."""

    W0: np.ndarray
    F: np.ndarray
    E: np.ndarray
    cols: np.ndarray
    drift: float
    exact: bool


def _woodbury_path(
    Xa: np.ndarray,
    T: np.ndarray,
    alpha: float,
    ps: np.ndarray,
    m_f: int,
    W_exact: np.ndarray,
    drift_tol: float,
    exact: bool = False,
) -> _Updates:
    """The Woodbury path over ``ps`` then ``m_f``; exact solves when it drifts from ``W_exact``
    (or with ``exact``: every point from scratch, as differences of exact solutions)."""
    d1 = Xa.shape[1]
    K, W = _first_weights(Xa[: int(ps[0])], T[: int(ps[0])], alpha)
    W0 = W.copy()
    Fs: list[np.ndarray] = []
    Es: list[np.ndarray] = []
    p = int(ps[0])
    steps = [int(x) for x in ps[1:]] + ([m_f] if int(ps[-1]) < m_f else [])
    for p_new in steps:
        if exact or p_new - p >= d1:  # wider than the system: solve afresh
            K, W_new = _exact_weights(Xa[:p_new], T[:p_new], alpha)
            Fs.append(np.eye(d1))
            Es.append(W_new - W)
            W = W_new
        else:
            R, Y = Xa[p:p_new], T[p:p_new]
            KR = K @ R.T
            S = R @ KR
            S.flat[:: S.shape[0] + 1] += 1.0
            cf = scipy.linalg.cho_factor(S, check_finite=False)
            F = scipy.linalg.cho_solve(cf, KR.T, check_finite=False).T  # K R^T S^-1
            K -= F @ KR.T
            E = Y - R @ W
            W += F @ E
            Fs.append(F)
            Es.append(E)
        p = p_new
    scale = max(1.0, float(np.abs(W_exact).max()))
    drift = float(np.abs(W - W_exact).max()) / scale
    if not exact and not drift <= drift_tol:
        upd = _woodbury_path(Xa, T, alpha, ps, m_f, W_exact, drift_tol, exact=True)
        upd.drift = drift  # the drift of the incremental path
        return upd
    widths = [f.shape[1] for f in Fs]
    cols = np.concatenate(([0], np.cumsum(widths))).astype(np.int64)
    F_all = np.concatenate(Fs, axis=1) if Fs else np.zeros((d1, 0))
    E_all = np.concatenate(Es, axis=0) if Es else np.zeros((0, T.shape[1]))
    return _Updates(W0, F_all, np.ascontiguousarray(E_all), cols, drift, exact)


class _BlockScorer:
    """Scores of every pair along an update path, one cache-sized block of left items at a time."""

    def __init__(self, parts: RightParts, block: int = 128) -> None:
        self.u = parts.u
        self.first, self.extra, self.extra_row = parts.first, parts.extra, parts.extra_row
        self.R_first, self.R_extra = parts.R_first, parts.R_extra
        self.yn_first, self.yn_extra = parts.yn_first, parts.yn_extra
        self.n_pairs = parts.n_pairs
        step = max(1, int(block))
        self.blocks = [(r0, min(r0 + step, self.u)) for r0 in range(0, self.u, step)]
        self.extra_spans = [
            (
                int(np.searchsorted(self.extra_row, r0)),
                int(np.searchsorted(self.extra_row, r1)),
            )
            for r0, r1 in self.blocks
        ]

    @staticmethod
    def _cosine(num: np.ndarray, nrm: np.ndarray, yn: np.ndarray, out: np.ndarray) -> None:
        den = nrm * yn
        np.divide(num, den, out=out, where=den > 0)
        out[den <= 0] = 0.0

    def __call__(self, L1u: np.ndarray, upd: _Updates, targets: Sequence[str]) -> np.ndarray:
        """Scores ``(n_steps, T, n_pairs)`` after ``W0`` and after each update step; the
        columns of ``upd`` hold ``targets`` side by side."""
        n_steps = upd.cols.size
        dims = [self.R_first[b].shape[1] for b in targets]
        offs = np.concatenate(([0], np.cumsum(dims)))
        spans = [(int(offs[j]), int(offs[j + 1])) for j in range(len(targets))]
        T = len(targets)
        ynf_all = np.stack([self.yn_first[b] for b in targets], axis=1)
        yne_all = np.stack([self.yn_extra[b] for b in targets], axis=1)
        first = np.empty((n_steps, self.u, T))
        extra = np.empty((n_steps, self.extra.size, T))
        E, cols = upd.E, upd.cols
        for (r0, r1), (e0, e1) in zip(self.blocks, self.extra_spans, strict=True):
            Lb = L1u[r0:r1]
            Mb = Lb @ upd.W0  # (B, sum d_b)
            buf = np.empty_like(Mb)
            GT = np.dot(upd.F.T, Lb.T)  # (sum c, B), C order: one step's rows contiguous
            Rf = [self.R_first[b][r0:r1] for b in targets]
            Re = [self.R_extra[b][e0:e1] for b in targets]
            le = self.extra_row[e0:e1] - r0
            ynf, yne = ynf_all[r0:r1], yne_all[e0:e1]
            nrm = np.empty((r1 - r0, T))
            num = np.empty((r1 - r0, T))
            num_e = np.empty((e1 - e0, T))
            for s in range(n_steps):
                if s:
                    c0, c1 = int(cols[s - 1]), int(cols[s])
                    # numpy's matmul releases the GIL (scipy's dgemm wrapper does not)
                    np.matmul(GT[c0:c1].T, E[c0:c1], out=buf)
                    Mb += buf
                Me = Mb[le]
                for j, (a, b) in enumerate(spans):
                    x = Mb[:, a:b]
                    nrm[:, j] = np.vecdot(x, x)
                    num[:, j] = np.vecdot(x, Rf[j])
                    num_e[:, j] = np.vecdot(Me[:, a:b], Re[j])
                np.sqrt(nrm, out=nrm)
                self._cosine(num, nrm, ynf, first[s, r0:r1])
                self._cosine(num_e, nrm[le], yne, extra[s, e0:e1])
        out = np.empty((n_steps, T, self.n_pairs))
        out[:, :, self.first] = first.transpose(0, 2, 1)
        out[:, :, self.extra] = extra.transpose(0, 2, 1)
        np.clip(out, -1.0, 1.0, out=out)
        return out


@dataclass
class _Source:
    """What every (fold, draw) run of one source shares (built in a worker)."""

    L1u: np.ndarray  # (u, d_a + 1) distinct left items with a ones column
    X: np.ndarray  # (R, d_a) correspondence rows of the source
    Y: np.ndarray  # (R, sum d_b) correspondence rows of the targets, side by side
    targets: list[str]
    exact_maps: list[np.ndarray]  # per fold, (d_a + 1, sum d_b): [W; b] solved from scratch


def _run(
    src: _Source,
    f: int,
    d: int,
    order: np.ndarray,
    ps: np.ndarray,
    m_f: int,
    alpha: float,
    drift_tol: float,
    scorer: _BlockScorer,
    fold_scorer: FoldScorer,
) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """One (source, fold, draw): accuracies ``(n_p, T)`` at ``ps``, the full fold map's
    accuracies ``(T,)``, the drift and whether the exact path was used."""
    Xa = np.hstack((src.X[order], np.ones((order.size, 1))))
    upd = _woodbury_path(Xa, src.Y[order], alpha, ps, m_f, src.exact_maps[f], drift_tol)
    scores = scorer(src.L1u, upd, src.targets)  # (steps, T, n): ps, then m_f if beyond ps
    T, n = scores.shape[1], scores.shape[2]
    acc, _ = fold_scorer(scores.reshape(-1, n))
    acc = acc.reshape(scores.shape[0], T)
    return acc[: ps.size], acc[-1], upd.drift, upd.exact


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
    block_rows: int = 128,
    device: str | None = None,
) -> dict[str, SweepResult]:
    """Accuracy of every directed ridge map fitted on ``p`` random training correspondences.

    The sweep of :func:`subset_sweep` for ridge and the cosine score, every value of ``p`` from
    one exact incremental path per (source, fold, draw) (see the module docstring).

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
    block_rows : int
        Distinct left items scored together along the whole path (a cache-size knob; results
        do not depend on it).
    device : str, optional
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``: the path's mapped items and scores in torch
        (float64) on that device (:class:`facebridge.experiments._torch.PathScorer`); the
        numbers equal numpy's to rounding.

    Returns
    -------
    dict ``"A->B"`` -> SweepResult

    Raises
    ------
    InvalidInputError
        Fewer than two models, bad ``n_points`` / ``n_draws`` / ``p_values``, no valid pair.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> sw = pairs_sweep(data, n_points=3, n_draws=1)
    >>> sw["a->b"].p.tolist()
    [1, 20, 40]
    """
    a_ = _check_settings(data, alpha, correspondence, "ridge")
    k = data.n_folds
    corr = correspondences(data, correspondence)
    m_f = [int(corr.training(f).size) for f in range(k)]
    ps = _p_values(corr, n_points, p_values, n_draws)
    scorers = [FoldScorer(data.genuine, data.folds, data.valid, f) for f in range(k)]
    right = {mm: data.right[mm].astype(np.float64) for mm in data.models}
    parts = RightParts(LeftIndex.of(data), right)
    scorer: Any = _BlockScorer(parts, block_rows)
    torch_limits: Any = contextlib.nullcontext()
    if device is not None:
        from facebridge.experiments._torch import PathScorer, torch_threads

        scorer, torch_limits = PathScorer(parts, device), torch_threads(device)
    left_rows = scorer.first
    orders = {(f, d): sweep_order(corr, f, d, seed) for f in range(k) for d in range(int(n_draws))}
    dirs = directed_pairs(data.models)
    acc: dict[tuple[str, str], np.ndarray] = {d: np.empty((ps.size, k, int(n_draws))) for d in dirs}
    full = {key: np.empty(k) for key in acc}
    max_drift = 0.0
    reruns = 0
    total = len(data.models) * k * int(n_draws)
    done = 0

    def source(a: str) -> _Source:
        targets = [b for b in data.models if b != a]
        maps = fold_maps(data, corr, a, targets, a_, "ridge")
        L1u = np.hstack((data.left[a][left_rows].astype(np.float64), np.ones((left_rows.size, 1))))
        Y = np.concatenate([corr.target(b) for b in targets], axis=1)
        return _Source(L1u, corr.source(a), Y, targets, [np.vstack((w, b)) for w, b in maps])

    workers = n_workers(n_jobs)
    limits = threadpool_limits(limits=1)  # small BLAS calls: threads only add contention
    with limits, torch_limits, ThreadPoolExecutor(workers) as pool:
        # every run is submitted at once (no idle worker between sources); a source's shared
        # arrays are built by the first of its runs to need them and dropped after its last
        def run(sf: Any, f: int, d: int) -> tuple[np.ndarray, np.ndarray, float, bool]:
            src = sf.result()
            return _run(src, f, d, orders[(f, d)], ps, m_f[f], a_, drift_tol, scorer, scorers[f])

        futures = []
        src_futs = [pool.submit(source, a) for a in data.models]
        for a, src_fut in zip(data.models, src_futs, strict=True):
            for f in range(k):
                for d in range(int(n_draws)):
                    futures.append((a, f, d, pool.submit(run, src_fut, f, d)))
        for a, f, d, fut in futures:
            a_rows, fa, drift, rerun = fut.result()
            max_drift = max(max_drift, drift)
            reruns += int(rerun)
            for j, b in enumerate([b for b in data.models if b != a]):
                acc[(a, b)][:, f, d] = a_rows[:, j]
                if d == 0:
                    full[(a, b)][f] = fa[j]
            done += 1
            if progress is not None:
                progress("pairs sweep", done, total)
    if stats is not None:
        stats["max_drift"] = max_drift
        stats["exact_reruns"] = reruns
    if full_accuracy is None:
        full_accuracy = {key: float(v.mean()) for key, v in full.items()}
    return {map_key(*key): _result(ps, arr, full_accuracy[key]) for key, arr in acc.items()}
