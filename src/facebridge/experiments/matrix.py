"""The cross-model matrix (paper Table 3) and the rank sweep (Figure 4): fast and exact.

Both give the same numbers as the generic path (:func:`facebridge.experiments.mapped_accuracy`
with ``fit_ridge`` / ``LinearMap.truncate``) -- tested to 1e-6 -- but share the work:

* per source model, the Gram sums ``X^T X``, ``X^T [Y_1 ... Y_T]`` (all targets' columns stacked),
  ``sum x`` and ``sum y`` are formed once per fold *block*; the training sums of fold ``f`` are
  the totals minus block ``f``;
* per (source, fold), one LU solve gives the ridge map to every target at once,
  and one product maps the distinct left items into all targets' spaces;
* the rank sweep takes the leading singular directions ``V_k`` of each fold's full map once
  (eigen-decomposition of the smaller Gram matrix of the weight) and scores every truncation
  from cumulative sums over the projected coordinates: for ``m = x W + b`` and ``p = m V``,
  ``beta = b V``, ``q = y V``, the rank-``k`` map ``x U_k S_k V_k^T + b`` gives
  ``<m_k, y> = sum_{j<=k} (p_j - beta_j) q_j + <b, y>`` and
  ``||m_k||^2 = sum_{j<=k} (p_j^2 - beta_j^2) + ||b||^2``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from facebridge.errors import InvalidInputError
from facebridge.experiments._fast import (
    LeftIndex,
    RightParts,
    top_right_singular,
)
from facebridge.experiments.core import (
    CORRESPONDENCES,
    Correspondences,
    PairData,
    correspondences,
    native_accuracy,
    unmapped_accuracy,
)
from facebridge.maps.moments import (
    MAP_KINDS,
    BlockMoments,
    column_spans,
)
from facebridge.metrics import FoldAccuracy, FoldScorer
from facebridge.vocabulary import Progress, map_key, unknown

__all__ = [
    "MAP_KINDS",
    "MatrixResult",
    "RankResult",
    "cross_model_matrix",
    "default_ranks",
    "rank_sweep",
]

_PAIR_CHUNK = 1024  # pairs per chunk of the rank scores' element-wise products


def n_workers(n_jobs: int | None) -> int:
    """Worker threads: ``n_jobs``, or the CPUs available to this process."""
    if n_jobs is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not on Linux
            return max(1, os.cpu_count() or 1)
    if int(n_jobs) < 1:
        raise InvalidInputError(f"n_jobs must be >= 1, got {n_jobs}")
    return int(n_jobs)


def default_ranks(full: int) -> tuple[int, ...]:
    """``(1, 2, 4, ..., full)``: powers of two below ``full``, then ``full``."""
    out = []
    k = 1
    while k < full:
        out.append(k)
        k *= 2
    out.append(full)
    return tuple(out)


@dataclass(frozen=True)
class RankResult:
    """Accuracy of the rank-``k`` truncations of one directed map (paper Figure 4).

    Attributes
    ----------
    ranks : tuple of int
    accuracy, std : ndarray ``(n_ranks,)``
        Mean and population std over folds.
    per_fold : ndarray ``(n_ranks, K)``
    singular_values : ndarray ``(min(d_a, d_b),)``
        Singular values of the fitted weight, averaged over the fold maps (descending).
    """

    ranks: tuple[int, ...]
    accuracy: np.ndarray
    std: np.ndarray
    per_fold: np.ndarray
    singular_values: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """The ``results.json`` entry."""
        return {
            "rank": [int(r) for r in self.ranks],
            "accuracy": [float(a) for a in self.accuracy],
            "std": [float(s) for s in self.std],
            "singular_values": [float(s) for s in self.singular_values],
        }


@dataclass(frozen=True)
class MatrixResult:
    """The cross-model matrix.

    Attributes
    ----------
    models : tuple of str
    native : dict model -> FoldAccuracy
    mapped : dict (source, target) -> FoldAccuracy
    unmapped : dict (source, target) -> FoldAccuracy or None (dims differ)
    oof_scores : dict (source, target) -> ndarray ``(n_pairs,)``
        Out-of-fold mapped scores: pair ``i`` scored by the map fitted without its fold (for ROC
        curves); entries of invalid pairs are meaningless.
    settings : dict
    """

    models: tuple[str, ...]
    native: dict[str, FoldAccuracy]
    mapped: dict[tuple[str, str], FoldAccuracy]
    unmapped: dict[tuple[str, str], FoldAccuracy | None]
    oof_scores: dict[tuple[str, str], np.ndarray] = field(repr=False)
    settings: dict[str, Any]

    def accuracy(self, source: str, target: str) -> float:
        """Mean accuracy of ``source -> target`` (the native accuracy when they are equal)."""
        if source == target:
            return self.native[source].mean
        return self.mapped[(source, target)].mean

    def table(self) -> np.ndarray:
        """``(N, N)`` mean accuracies, rows = source ("From"), diagonal = native."""
        return np.array([[self.accuracy(a, b) for b in self.models] for a in self.models])

    def records(self) -> list[dict[str, Any]]:
        """The ``results.json`` ``"matrix"`` list (off-diagonal cells, rows major)."""
        out = []
        for a in self.models:
            for b in self.models:
                if a == b:
                    continue
                r = self.mapped[(a, b)]
                u = self.unmapped[(a, b)]
                out.append(
                    {
                        "source": a,
                        "target": b,
                        "accuracy": r.mean,
                        "std": r.std,
                        "per_fold": [float(x) for x in r.per_fold],
                        "unmapped_accuracy": None if u is None else u.mean,
                        "unmapped_std": None if u is None else u.std,
                    }
                )
        return out


def fold_maps(
    data: PairData,
    corr: Correspondences,
    source: str,
    targets: Sequence[str],
    alpha: float = 1.0,
    kind: str = "ridge",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``source -> targets`` maps for every test fold: ``[(W (d_a, sum d_b), bias), ...]``.

    Target columns are stacked in the order of ``targets``.  Fold ``f``'s map sees only the
    training rows of fold ``f`` (:meth:`Correspondences.training`).
    """
    for f in range(data.n_folds):
        if corr.training(f).size == 0:
            raise InvalidInputError(
                f"fold {f + 1} has no training correspondence for {source}; every other fold "
                f"lacks valid genuine pairs"
            )
    Y = np.concatenate([corr.target(t) for t in targets], axis=1)
    bm = BlockMoments(corr.source(source), Y, corr.bits, target_gram=kind == "ridge-gcv")
    spans = column_spans(data.dim(t) for t in targets)
    return [MAP_KINDS[kind].fit(bm.without([f]), spans, alpha) for f in range(data.n_folds)]


def _check_settings(data: PairData, alpha: float, correspondence: str, kind: str) -> float:
    if len(data.models) < 2:
        raise InvalidInputError(
            f"the cross-model analysis needs at least two models, got {list(data.models)}; "
            f"embed another model"
        )
    if kind not in MAP_KINDS:
        raise unknown(kind, MAP_KINDS, "map")
    if correspondence not in CORRESPONDENCES:
        raise unknown(correspondence, CORRESPONDENCES, "correspondence")
    try:
        a = float(alpha)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"alpha must be a number >= 0, got {alpha!r}") from exc
    if not np.isfinite(a) or a < 0:
        raise InvalidInputError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if not data.valid.any():
        raise InvalidInputError("no valid pair: every pair lacks an embedding; check the store")
    return a


def _check_ranks(ranks: Sequence[int] | None, full: int) -> tuple[int, ...]:
    if ranks is None:
        return default_ranks(full)
    out = sorted({min(int(r), full) for r in ranks})
    if not out or out[0] < 1:
        raise InvalidInputError(f"ranks must be integers >= 1, got {list(ranks)}")
    return tuple(out)


class _Tally:
    """The matrix's and the rank sweep's per-fold results, filled one (source, fold) at a time
    by either engine (numpy or torch)."""

    def __init__(self, data: PairData, ranks: Sequence[int] | bool | None) -> None:
        self.data, self.sweep = data, ranks is not False
        k = data.n_folds
        self.pf: dict[tuple[str, str], np.ndarray] = {}
        self.thr: dict[tuple[str, str], np.ndarray] = {}
        self.oof: dict[tuple[str, str], np.ndarray] = {}
        self.rank_pf: dict[tuple[str, str], np.ndarray] = {}
        self.ranks: dict[tuple[str, str], tuple[int, ...]] = {}
        self.spectra: dict[tuple[str, str], np.ndarray] = {}
        for a in data.models:
            for b in (b for b in data.models if b != a):
                key = (a, b)
                self.pf[key], self.thr[key] = np.empty(k), np.empty(k)
                self.oof[key] = np.zeros(data.n_pairs)
                if self.sweep:
                    full = min(data.dim(a), data.dim(b))
                    rl = _check_ranks(None if ranks is True else ranks, full)  # type: ignore[arg-type]
                    self.ranks[key] = rl
                    self.rank_pf[key] = np.empty((len(rl), k))
                    self.spectra[key] = np.zeros(full)

    def add(
        self,
        a: str,
        targets: Sequence[str],
        f: int,
        acc: np.ndarray,
        thr: np.ndarray,
        spans: Sequence[tuple[int, int]],
        full: Sequence[np.ndarray],
        svals: Sequence[np.ndarray],
    ) -> None:
        """Source ``a``'s fold ``f``: accuracies and thresholds of the scored rows (target
        ``j``'s full map in row ``spans[j][0]``, its ranks below full in the rows after it, in
        order), ``full[j]`` its pair scores and ``svals[j]`` its singular values."""
        te = self.data.folds == f
        for j, b in enumerate(targets):
            key = (a, b)
            s0, s1 = spans[j]
            self.oof[key][te] = full[j][te]
            self.pf[key][f] = acc[s0]
            self.thr[key][f] = thr[s0]
            if self.sweep:  # the ranks below full, then the full map when it is swept
                self.spectra[key] += svals[j]
                top = self.ranks[key][-1] == min(self.data.dim(a), self.data.dim(b))
                self.rank_pf[key][:, f] = np.append(acc[s0 + 1 : s1], acc[s0 : s0 + top])

    def results(self) -> tuple[dict[tuple[str, str], np.ndarray], dict, dict]:
        """``(oof_scores, mapped, rank results)``."""
        k = self.data.n_folds
        mapped = {
            key: FoldAccuracy(float(pf.mean()), float(pf.std()), pf, self.thr[key])
            for key, pf in self.pf.items()
        }
        ranks_out = {
            key: RankResult(
                self.ranks[key], pf.mean(axis=1), pf.std(axis=1), pf, self.spectra[key] / k
            )
            for key, pf in self.rank_pf.items()
        }
        return self.oof, mapped, ranks_out


@dataclass
class _Engine:
    """Shared computation of the matrix and the rank sweep."""

    data: PairData
    alpha: float
    correspondence: str
    kind: str
    symmetric_pairs: bool
    ranks: Sequence[int] | bool | None  # False: no rank sweep
    progress: Progress | None
    n_jobs: int | None = None

    def run(self) -> tuple[dict[tuple[str, str], np.ndarray], dict, dict]:
        data = self.data
        k = data.n_folds
        corr = correspondences(data, self.correspondence, symmetric=self.symmetric_pairs)
        for m in data.models:  # gathered here once, read by every worker
            corr.source(m), corr.target(m)
        left = LeftIndex.of(data)
        rights = LeftIndex.of(data, "right")
        scorers = [FoldScorer(data.genuine, data.folds, data.valid, f) for f in range(k)]
        tally = _Tally(data, self.ranks)
        n_src = len(data.models)
        done = 0

        def right_side(m: str) -> list[np.ndarray | None]:
            """``[all right rows (dropped once RightParts has them), distinct right rows,
            norms of all right rows]``, float64."""
            r = data.right[m].astype(np.float64)
            return [r, np.ascontiguousarray(r[rights.rows]), np.linalg.norm(r, axis=1)]

        def shared(sides: dict[str, Any]) -> tuple[RightParts, dict[str, list]]:
            got = {m: f.result() for m, f in sides.items()}
            parts = RightParts(left, {m: g[0] for m, g in got.items()})
            for g in got.values():
                g[0] = None  # the 6,000-row copies are not needed after the split
            return parts, got

        plan: dict[str, tuple[list[str], np.ndarray, list[tuple[int, ...]] | None]] = {}
        for a in data.models:
            targets = [b for b in data.models if b != a]
            offs = np.concatenate(([0], np.cumsum([data.dim(b) for b in targets])))
            rls = [tally.ranks[(a, b)] for b in targets] if tally.sweep else None
            plan[a] = (targets, offs, rls)

        def prepare(a: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
            L = data.left[a][left.rows].astype(np.float64)
            return fold_maps(data, corr, a, plan[a][0], self.alpha, self.kind), L

        def job(a: str, f: int, prep: Any) -> tuple[np.ndarray, np.ndarray, list, np.ndarray, list]:
            targets, offs, rls = plan[a]
            maps, L = prep.result()
            parts, sides = common.result()
            W, bias = maps[f]
            u = L.shape[0]
            # one reused buffer per worker thread for one target's mapped vectors, scored while
            # they are in cache; fresh large arrays cost page faults (about a second of system
            # time over the run when every job allocated its own)
            buf = getattr(local, "M", None)
            if buf is None:
                buf = local.M = np.empty(max_m)
            full_scores = np.empty((len(targets), data.n_pairs))
            rows: list[np.ndarray] = []
            spans: list[tuple[int, int]] = []
            svals: list[np.ndarray] = []
            for j, b in enumerate(targets):
                sl = slice(int(offs[j]), int(offs[j + 1]))
                Mb = buf[: u * (sl.stop - sl.start)].reshape(u, sl.stop - sl.start)
                np.matmul(L, W[:, sl], out=Mb)
                Mb += bias[sl]
                parts.cosines(Mb, b, full_scores[j])
                start = len(rows)
                rows.append(full_scores[j])
                if rls is not None:
                    inv = (left.inverse, rights.inverse)
                    sv, extra = self._rank_scores(
                        L, Mb, W[:, sl], bias[sl], sides[b][1], sides[b][2], *inv, rls[j]
                    )
                    rows.extend(extra)
                    svals.append(sv)
                spans.append((start, len(rows)))
            acc, thr = scorers[f](np.asarray(rows))
            return acc, thr, spans, full_scores, svals

        local = threading.local()
        max_m = left.rows.size * max(data.dim(m) for m in data.models)
        workers = n_workers(self.n_jobs)
        limits = threadpool_limits(limits=1)  # small BLAS calls: threads only add contention
        with limits, ThreadPoolExecutor(workers) as pool:
            # the right-side arrays and each source's fold maps are built by the workers too
            side_futs = {m: pool.submit(right_side, m) for m in data.models}
            common = pool.submit(shared, side_futs)
            # a source's fold maps are prepared while the previous source's jobs run (not all
            # at the start): at most about two sources' maps are held at a time
            models = list(data.models)
            preps = {models[0]: pool.submit(prepare, models[0])}
            futures: list[tuple[str, int, Any]] = []
            for i, a in enumerate(models):
                if i + 1 < len(models):
                    preps[models[i + 1]] = pool.submit(prepare, models[i + 1])
                futures.extend((a, f, pool.submit(job, a, f, preps[a])) for f in range(k))
            for a, f, fut in futures:
                acc, thr, spans, full_scores, svals = fut.result()
                if f == k - 1:
                    del preps[a]  # its fold maps are no longer needed (jobs run in order)
                tally.add(a, plan[a][0], f, acc, thr, spans, full_scores, svals)
                done += 1
                if self.progress is not None:
                    self.progress("matrix", done, n_src * k)
        return tally.results()

    @staticmethod
    def _rank_scores(
        L: np.ndarray,
        Mb: np.ndarray,
        Wb: np.ndarray,
        bias: np.ndarray,
        R_distinct: np.ndarray,
        ynorm: np.ndarray,
        inverse: np.ndarray,
        right_inverse: np.ndarray,
        ranks: tuple[int, ...],
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Scores of the truncations of one fold map to the ranks below full."""
        full = min(Wb.shape)
        partial = [r for r in ranks if r < full]
        kmax = max(partial, default=0)
        s, V = top_right_singular(Wb, kmax)
        if kmax == 0:
            return s, []
        d_a, d_b = Wb.shape
        beta = bias @ V
        P = Mb @ V if d_b <= d_a else L @ (Wb @ V) + beta  # (u, kmax) = m V
        Qd = R_distinct @ V  # (u_r, kmax), each distinct right item once
        by = (R_distinct @ bias)[right_inverse]
        bb = float(bias @ bias)
        # sums over the rank segments [r_{i-1}, r_i) only, then a running sum over segments
        starts = np.array([0, *partial[:-1]])
        sq = np.square(P)
        sq -= beta * beta
        seg_nrm = np.add.reduceat(sq, starts, axis=1)
        del sq
        P -= beta  # P - beta from here on
        n = inverse.size
        seg_num = np.empty((n, len(starts)))
        # pair-level products in chunks: no (n, kmax) temporaries, whose allocation churns
        # glibc's per-thread heaps (fresh, zeroed pages every time)
        for c0 in range(0, n, _PAIR_CHUNK):
            c = slice(c0, c0 + _PAIR_CHUNK)
            g = P[inverse[c]]
            g *= Qd[right_inverse[c]]
            seg_num[c] = np.add.reduceat(g, starts, axis=1)
        num = np.cumsum(seg_num, axis=1).T  # (ranks, n)
        num += by
        nrm = np.cumsum(seg_nrm, axis=1).T[:, inverse]
        nrm += bb
        np.maximum(nrm, 0.0, out=nrm)
        np.sqrt(nrm, out=nrm)
        nrm *= ynorm
        out = np.zeros_like(num)
        np.divide(num, nrm, out=out, where=nrm > 0)
        np.clip(out, -1.0, 1.0, out=out)
        return s, list(out)


def _run(
    data: PairData,
    map: str,
    alpha: float,
    correspondence: str,
    ranks: Sequence[int] | bool | None,
    symmetric_pairs: bool,
    progress: Progress | None,
    n_jobs: int | None,
    device: str | None = None,
) -> tuple[MatrixResult, dict[str, RankResult]]:
    """One pass of the engine (numpy, or torch on ``device``): the matrix and (``ranks`` not
    False) the rank sweep."""
    a = _check_settings(data, alpha, correspondence, map)
    rk_arg = True if ranks is None else ranks
    if device is None:
        eng = _Engine(data, a, correspondence, map, symmetric_pairs, rk_arg, progress, n_jobs)
        oof, mapped, rk = eng.run()
    else:
        from facebridge.experiments._torch import run_matrix

        oof, mapped, rk = run_matrix(
            data, a, correspondence, map, symmetric_pairs, rk_arg, progress, device, n_jobs
        )
    settings = {"alpha": a, "correspondence": correspondence, "map": map}
    settings["symmetric_pairs"] = symmetric_pairs
    native = {m: native_accuracy(data, m) for m in data.models}
    unmapped = {
        (s, t): unmapped_accuracy(data, s, t) for s in data.models for t in data.models if s != t
    }
    matrix = MatrixResult(tuple(data.models), native, mapped, unmapped, oof, settings)
    return matrix, {map_key(s, t): r for (s, t), r in rk.items()}


def cross_model_matrix(
    data: PairData,
    map: str = "ridge",
    alpha: float = 1.0,
    correspondence: str = "matched-pairs",
    *,
    symmetric_pairs: bool = False,
    progress: Progress | None = None,
    n_jobs: int | None = None,
    device: str | None = None,
) -> MatrixResult:
    """The cross-model accuracy matrix (paper Table 3), exact and fast.

    Diagonal: native accuracy.  Off-diagonal ``A -> B``: for each test fold ``f``, a map fitted
    only on the correspondences of the other folds (``correspondence``, default the paper's
    matched pairs) sends ``A``'s left embedding into ``B``'s space; the cosine with ``B``'s right
    embedding is thresholded at the best threshold of the other folds.  In parentheses in the
    paper: the unmapped accuracy (identity map), ``None`` when the dims differ.  Invalid pairs
    are never fitted on and count as errors.

    Parameters
    ----------
    data : PairData
        At least two models.
    map : str
        A kind of :data:`facebridge.maps.moments.MAP_KINDS` (``ridge``, the paper's, equals
        ``fit_ridge``; every kind has an intercept).
    alpha : float
        Ridge strength (``map="ridge"``), default 1 as in the paper.
    correspondence : {"matched-pairs", "same-image"}
    symmetric_pairs : bool
        Also fit on the right->left orientation of matched pairs.
    progress : Progress, optional
    n_jobs : int, optional
        Worker threads over folds (single-threaded BLAS each); default: the CPUs available.
        With ``device``: torch's CPU threads (default 1).  Results do not
        depend on it.
    device : str, optional
        ``None``: numpy on the CPU.  ``"cpu"``, ``"cuda"`` or ``"cuda:N"``: the heavy linear
        algebra in torch (float64) on that device; the numbers equal numpy's to rounding.

    Returns
    -------
    MatrixResult

    Raises
    ------
    InvalidInputError
        Fewer than two models, an unknown ``map`` / ``correspondence``, ``alpha < 0``, no valid
        pair, a bad ``device`` (a CUDA device that torch does not see).
    MissingDependencyError
        ``device`` given and torch not installed.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> mr = cross_model_matrix(data)
    >>> mr.table().shape, 0.5 < mr.accuracy("a", "b") <= 1.0
    ((2, 2), True)
    """
    return _run(data, map, alpha, correspondence, False, symmetric_pairs, progress, n_jobs, device)[
        0
    ]


def rank_sweep(
    data: PairData,
    ranks: Sequence[int] | None = None,
    alpha: float = 1.0,
    correspondence: str = "matched-pairs",
    *,
    symmetric_pairs: bool = False,
    map: str = "ridge",
    progress: Progress | None = None,
    n_jobs: int | None = None,
    device: str | None = None,
) -> dict[str, RankResult]:
    """Accuracy of rank-``k`` truncations of every directed map (paper Section 4.2).

    For each test fold, the fold's full map (as in :func:`cross_model_matrix`) is truncated to
    its ``k`` largest singular values (``LinearMap.truncate``; the bias is kept) and evaluated
    like the full map.

    Parameters
    ----------
    data : PairData
    ranks : sequence of int, optional
        Default :func:`default_ranks` per map (``full = min(d_a, d_b)``); larger values are
        clipped to ``full``.
    alpha, correspondence, symmetric_pairs, map, progress, n_jobs, device
        As :func:`cross_model_matrix`.

    Returns
    -------
    dict ``"A->B"`` -> RankResult

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> rs = rank_sweep(data)
    >>> rs["a->b"].ranks
    (1, 2, 4, 6)
    """
    return _run(data, map, alpha, correspondence, ranks, symmetric_pairs, progress, n_jobs, device)[
        1
    ]


def matrix_and_ranks(
    data: PairData,
    ranks: Sequence[int] | None = None,
    alpha: float = 1.0,
    correspondence: str = "matched-pairs",
    *,
    symmetric_pairs: bool = False,
    progress: Progress | None = None,
    n_jobs: int | None = None,
    device: str | None = None,
) -> tuple[MatrixResult, dict[str, RankResult]]:
    """:func:`cross_model_matrix` (ridge) and :func:`rank_sweep` sharing one pass.

    The arguments are those of :func:`rank_sweep` (``device``: torch on that device, see
    :func:`cross_model_matrix`).

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> mr, rs = matrix_and_ranks(data)
    >>> bool(rs["b->a"].accuracy[-1] == mr.mapped[("b", "a")].mean)
    True
    """
    return _run(
        data, "ridge", alpha, correspondence, ranks, symmetric_pairs, progress, n_jobs, device
    )
