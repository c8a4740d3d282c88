"""Cross-fitted verification thresholds for mapped (cross-model) scores.

Under the paper's protocol the map for test fold ``f`` is fitted on the nine training folds and the
verification threshold is then chosen on the *same* training pairs, whose mapped scores are
inflated by the fit (the genuine training pairs were the regression's own rows).  The threshold
comes out too high and the test fold pays for it.

``threshold="crossfit"`` keeps the map that scores test fold ``f`` (fitted on all nine training
folds) but chooses the threshold on *out-of-sample* training scores: for every training fold
``h != f`` a map fitted on the other eight training folds scores fold ``h``'s pairs; the threshold
is :func:`facebridge.metrics.best_threshold` on these nine folds' scores.  Nothing sees fold ``f``.
``threshold="training"`` is the paper's protocol (equal to ``cross_model_matrix`` /
``mapped_accuracy``).

Fast path: per source model, the correspondence rows are grouped into blocks by the set of folds
they belong to (one fold per row on LFW), and each block's moments (``sum x``, ``sum y``,
``X^T X``, ``X^T Y`` for all target models stacked) are formed once.  The training set of any
union of excluded folds is a sum of blocks; ridge with an unpenalised intercept is solved from
the centred moments (one Cholesky factorisation for all targets).  The 55 fits per source
(10 outer, 45 inner: the map without folds ``{f, h}`` serves both ``(f, h)`` and ``(h, f)``)
never touch raw rows again.

Scores: ``cosine`` = ``cos(M_ab a_left, b_right)`` (the paper's Eq. 3); ``symmetric`` =
``(cos(M_ab a_left, b_right) + cos(a_left, M_ba b_right)) / 2`` -- the same two templates, each
mapped into the other's space (the definition of docs/RECIPES.md and ``experiments.compare``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facebridge.errors import InvalidInputError
from facebridge.experiments._fast import ridge_solve
from facebridge.experiments.core import (
    CORRESPONDENCES,
    SCORES,
    PairData,
    native_accuracy,
    training_rows,
)
from facebridge.maps import LinearMap
from facebridge.metrics import FoldAccuracy, best_threshold

__all__ = [
    "THRESHOLDS",
    "CrossfitAccuracy",
    "crossfit_accuracy",
    "crossfit_maps",
    "crossfit_matrices",
    "crossfit_matrix",
    "summarize_drops",
]

THRESHOLDS: tuple[str, ...] = ("crossfit", "training")


@dataclass(frozen=True)
class CrossfitAccuracy:
    """k-fold accuracy of one directed map (fractions), like ``metrics.FoldAccuracy``.

    ``thresholds[f]`` is the threshold used on fold ``f`` (chosen without fold ``f``).
    """

    source: str
    target: str
    mean: float
    std: float
    per_fold: np.ndarray
    thresholds: np.ndarray
    threshold: str
    correspondence: str
    score: str

    @property
    def n_folds(self) -> int:
        return int(self.per_fold.size)

    def as_fold_accuracy(self) -> FoldAccuracy:
        return FoldAccuracy(self.mean, self.std, self.per_fold, self.thresholds)


# ------------------------------------------------------------------------------ correspondences


@dataclass(frozen=True)
class _Rows:
    """Correspondence rows of every model: ``src[m]`` / ``tgt[m]`` float64 ``(R, d_m)`` and the
    bit set of folds each row belongs to (a row is a training row whenever one of its folds is
    not excluded -- exactly ``core.training_correspondences``)."""

    src: dict[str, np.ndarray]
    tgt: dict[str, np.ndarray]
    fold_bits: np.ndarray  # int64 (R,)


def _rows(data: PairData, models: Sequence[str], mode: str) -> _Rows:
    rows = training_rows(data, data.valid.copy(), mode)
    src: dict[str, np.ndarray] = {}
    tgt: dict[str, np.ndarray] = {}
    bit = np.left_shift(1, data.folds.astype(np.int64))
    if mode == "matched-pairs":
        bits = bit[rows]
        for m in models:
            src[m] = data.left[m][rows].astype(np.float64)
            tgt[m] = data.right[m][rows].astype(np.float64)
        return _Rows(src, tgt, bits)
    n = rows.size
    if all(data.left_ids) and all(data.right_ids):
        ids = np.array([data.left_ids[i] for i in rows] + [data.right_ids[i] for i in rows])
        uniq, first, inv = np.unique(ids, return_index=True, return_inverse=True)
        bits = np.zeros(uniq.size, dtype=np.int64)
        np.bitwise_or.at(bits, inv.reshape(-1), np.concatenate((bit[rows], bit[rows])))
    else:  # anonymous data: every pair side is its own image
        first = np.arange(2 * n)
        bits = np.concatenate((bit[rows], bit[rows]))
    side_right = first >= n
    pair = rows[np.where(side_right, first - n, first)]
    for m in models:
        e = np.where(side_right[:, None], data.right[m][pair], data.left[m][pair])
        src[m] = tgt[m] = e.astype(np.float64)
    return _Rows(src, tgt, bits)


class _Moments:
    """Block moments of one source against stacked targets; ridge fits for any fold exclusion."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, fold_bits: np.ndarray) -> None:
        keys, inv = np.unique(fold_bits, return_inverse=True)
        self.keys = keys
        nb = keys.size
        d_a, d_y = X.shape[1], Y.shape[1]
        self.G = np.empty((nb, d_a, d_a))
        self.C = np.empty((nb, d_a, d_y))
        self.sx = np.empty((nb, d_a))
        self.sy = np.empty((nb, d_y))
        self.n = np.empty(nb, dtype=np.int64)
        for b in range(nb):
            idx = np.flatnonzero(inv == b)
            Xb, Yb = X[idx], Y[idx]
            self.G[b] = Xb.T @ Xb
            self.C[b] = Xb.T @ Yb
            self.sx[b] = Xb.sum(axis=0)
            self.sy[b] = Yb.sum(axis=0)
            self.n[b] = idx.size
        self.totals = (self.G.sum(0), self.C.sum(0), self.sx.sum(0), self.sy.sum(0))

    def fit(self, excluded: Sequence[int], alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """Ridge ``(W (d_a, d_y), bias (d_y,))`` on the rows outside the ``excluded`` folds."""
        ex = 0
        for f in excluded:
            ex |= 1 << int(f)
        inc = (self.keys & ~ex) != 0
        n = int(self.n[inc].sum())
        if n == 0:
            raise InvalidInputError(
                f"no training correspondence outside folds {[f + 1 for f in excluded]}; the "
                f"other folds have no valid pair to fit on"
            )
        out = np.flatnonzero(~inc)  # few blocks (the excluded folds'): total minus them
        G, C, sx, sy = (
            tot - part[out].sum(0)
            for tot, part in zip(self.totals, (self.G, self.C, self.sx, self.sy), strict=True)
        )
        return ridge_solve(G, C, sx, sy, n, alpha)


# ----------------------------------------------------------------------------------- engine


def _check(data: PairData, alpha: float, correspondence: str, score: str, thresholds) -> None:
    if correspondence not in CORRESPONDENCES:
        raise InvalidInputError(
            f"correspondence must be one of {CORRESPONDENCES}, got {correspondence!r}"
        )
    if score not in SCORES:
        raise InvalidInputError(f"score must be one of {SCORES}, got {score!r}")
    for t in thresholds:
        if t not in THRESHOLDS:
            raise InvalidInputError(f"threshold must be one of {THRESHOLDS}, got {t!r}")
    if not np.isfinite(alpha) or alpha < 0:
        raise InvalidInputError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if data.n_folds < 3 and "crossfit" in thresholds:
        raise InvalidInputError(
            f"a cross-fitted threshold needs at least 3 folds, the data has {data.n_folds}"
        )


class _Items:
    """Distinct images of the pairs (pair sides when the data has no item ids): mapping each
    image once per fit serves every pair it appears in, on either side."""

    def __init__(self, data: PairData, models: Sequence[str]) -> None:
        n = data.n_pairs
        if all(data.left_ids) and all(data.right_ids):
            ids = np.array(list(data.left_ids) + list(data.right_ids))
            _, first, inv = np.unique(ids, return_index=True, return_inverse=True)
        else:
            first = inv = np.arange(2 * n)
        inv = inv.reshape(-1)
        self.left, self.right = inv[:n], inv[n:]
        side_right = first >= n
        pair = np.where(side_right, first - n, first)
        self.z = {
            m: np.where(side_right[:, None], data.right[m][pair], data.left[m][pair]).astype(
                np.float64
            )
            for m in models
        }
        self.norm = {m: np.linalg.norm(z, axis=1) for m, z in self.z.items()}


def _pair_cos(P: np.ndarray, Pn: np.ndarray, pi: np.ndarray, Z: np.ndarray, Zn, zi) -> np.ndarray:
    """cos(P[pi], Z[zi]) row-wise with precomputed norms; a zero row scores 0."""
    num = np.einsum("ij,ij->i", P[pi], Z[zi])
    den = Pn[pi] * Zn[zi]
    out = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return np.clip(out, -1.0, 1.0)


def _scores(
    data: PairData,
    dirs: Sequence[tuple[str, str]],
    alpha: float,
    correspondence: str,
    score: str,
    thresholds: Sequence[str],
) -> tuple[dict, dict]:
    """Outer scores ``(K, n)`` (row f: map without fold f) and out-of-sample scores ``(K, n)``
    (row f, fold h's pairs: map without folds f and h) for every direction in ``dirs``."""
    k, n = data.n_folds, data.n_pairs
    need_rev = score == "symmetric"
    wanted: set[tuple[str, str]] = set(dirs) | ({(t, s) for s, t in dirs} if need_rev else set())
    by_src: dict[str, list[str]] = {}
    for s, t in sorted(wanted):
        by_src.setdefault(s, []).append(t)
    models = sorted({m for d in wanted for m in d})
    rows = _rows(data, models, correspondence)
    it = _Items(data, models)
    fold_idx = [np.flatnonzero(data.folds == f) for f in range(k)]
    want_cf = "crossfit" in thresholds
    # fwd[(s, t)]: cos(M_st s_left, t_right); rev[(s, t)]: cos(M_st s_right, t_left), the second
    # half of the symmetric score of t -> s.  [0]: outer maps, [1]: inner (out-of-sample) maps.
    fwd: dict = {}
    rev: dict = {}

    def project(s, targets, cols, W, b, idx, slot_rows, which):
        """Score pairs ``idx``; ``slot_rows``: list of (slot, positions in idx)."""
        sides = [it.left[idx]] + ([it.right[idx]] if need_rev else [])
        items, pos = np.unique(np.concatenate(sides), return_inverse=True)
        pos = pos.reshape(-1)
        lpos, rpos = pos[: idx.size], pos[idx.size :]
        P = it.z[s][items] @ W + b
        for j, t in enumerate(targets):
            Pt = P[:, cols[j] : cols[j + 1]]
            Pn = np.sqrt(np.einsum("ij,ij->i", Pt, Pt))
            if (s, t) in dirs:
                c = _pair_cos(Pt, Pn, lpos, it.z[t], it.norm[t], it.right[idx])
                for slot, sel in slot_rows:
                    fwd[(s, t)][which][slot, idx[sel]] = c[sel]
            if need_rev and (t, s) in dirs:
                c = _pair_cos(Pt, Pn, rpos, it.z[t], it.norm[t], it.left[idx])
                for slot, sel in slot_rows:
                    rev[(s, t)][which][slot, idx[sel]] = c[sel]

    all_idx = np.arange(n)
    want_train = "training" in thresholds
    for s, targets in by_src.items():
        Y = np.concatenate([rows.tgt[t] for t in targets], axis=1)
        mom = _Moments(rows.src[s], Y, rows.fold_bits)
        cols = np.cumsum([0] + [data.dim(t) for t in targets])
        for t in targets:
            fwd[(s, t)] = (np.full((k, n), np.nan), np.full((k, n), np.nan))
            rev[(s, t)] = (np.full((k, n), np.nan), np.full((k, n), np.nan))
        for f in range(k):
            W, b = mom.fit([f], alpha)
            idx = all_idx if want_train else fold_idx[f]
            project(s, targets, cols, W, b, idx, [(f, slice(None))], 0)
        if want_cf:
            for f, h in itertools.combinations(range(k), 2):
                W, b = mom.fit([f, h], alpha)
                idx = np.concatenate((fold_idx[f], fold_idx[h]))
                nf = fold_idx[f].size
                # fold f's pairs are out-of-sample for outer fold h and vice versa
                project(s, targets, cols, W, b, idx, [(h, slice(0, nf)), (f, slice(nf, None))], 1)
    outer: dict = {}
    oos: dict = {}
    for s, t in dirs:
        if need_rev:  # cos(a_left, M_ba b_right) comes from the t -> s maps
            outer[(s, t)] = 0.5 * (fwd[(s, t)][0] + rev[(t, s)][0])
            oos[(s, t)] = 0.5 * (fwd[(s, t)][1] + rev[(t, s)][1])
        else:
            outer[(s, t)] = fwd[(s, t)][0]
            oos[(s, t)] = fwd[(s, t)][1]
    return outer, oos


def _accuracy(
    data: PairData, outer: np.ndarray, thr_scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    k = data.n_folds
    per_fold = np.empty(k)
    thresholds = np.empty(k)
    g, v = data.genuine, data.valid
    for f in range(k):
        train = v & (data.folds != f)
        test = v & (data.folds == f)
        t = best_threshold(thr_scores[f][train], g[train])
        ok = np.count_nonzero((outer[f][test] >= t) == g[test])
        per_fold[f] = ok / np.count_nonzero(data.folds == f)
        thresholds[f] = t
    return per_fold, thresholds


def _results(
    data: PairData,
    dirs: Sequence[tuple[str, str]],
    alpha: float,
    correspondence: str,
    score: str,
    thresholds: Sequence[str],
) -> dict[str, dict[tuple[str, str], CrossfitAccuracy]]:
    _check(data, alpha, correspondence, score, thresholds)
    outer, oos = _scores(data, dirs, alpha, correspondence, score, thresholds)
    out: dict[str, dict[tuple[str, str], CrossfitAccuracy]] = {t: {} for t in thresholds}
    for th in thresholds:
        for d in dirs:
            src = outer[d] if th == "training" else oos[d]
            pf, thr = _accuracy(data, outer[d], src)
            out[th][d] = CrossfitAccuracy(
                d[0], d[1], float(pf.mean()), float(pf.std()), pf, thr, th, correspondence, score
            )
    return out


# ----------------------------------------------------------------------------------- public


def crossfit_accuracy(
    data: PairData,
    source: str,
    target: str,
    *,
    alpha: float = 1.0,
    correspondence: str = "matched-pairs",
    score: str = "cosine",
    threshold: str = "crossfit",
) -> CrossfitAccuracy:
    """k-fold accuracy of the ridge map ``source -> target`` with a cross-fitted (or the
    paper's training-fold) threshold.

    Parameters
    ----------
    data : PairData
    source, target : str
    alpha : float
        Ridge alpha (the paper: 1).
    correspondence : {"matched-pairs", "same-image"}
    score : {"cosine", "symmetric"}
        ``symmetric``: ``(cos(M_ab a_left, b_right) + cos(a_left, M_ba b_right)) / 2``.
    threshold : {"crossfit", "training"}
        ``training``: chosen on the training folds' scores under the map fitted on them (the
        paper; equals ``cross_model_matrix``).  ``crossfit``: chosen on out-of-sample scores of
        the training folds (fold ``h`` scored by a map fitted without folds ``f`` and ``h``).

    Returns
    -------
    CrossfitAccuracy (``mean``, ``std``, ``per_fold``, ``thresholds``)
    """
    s, t = data.check_model(source), data.check_model(target)
    return _results(data, [(s, t)], alpha, correspondence, score, (threshold,))[threshold][(s, t)]


def crossfit_maps(
    data: PairData,
    source: str,
    target: str,
    fold: int,
    *,
    alpha: float = 1.0,
    correspondence: str = "matched-pairs",
) -> tuple[LinearMap, dict[int, LinearMap]]:
    """The maps behind test fold ``fold`` (for inspection and tests): the outer map (fitted
    without ``fold``) and ``{h: map fitted without folds fold and h}`` for every other fold."""
    s, t = data.check_model(source), data.check_model(target)
    _check(data, alpha, correspondence, "cosine", ())
    rows = _rows(data, [s, t], correspondence)
    mom = _Moments(rows.src[s], rows.tgt[t], rows.fold_bits)
    outer = LinearMap(*mom.fit([fold], alpha))
    inner = {h: LinearMap(*mom.fit([fold, h], alpha)) for h in range(data.n_folds) if h != fold}
    return outer, inner


def summarize_drops(
    drops: dict[tuple[str, str], float], native: dict[str, float], high_native: float = 0.985
) -> dict[str, Any]:
    """Worst / median drop (points) over all maps and over maps between high-native models."""

    def stats(keys):
        if not keys:
            return {"worst": float("nan"), "median": float("nan"), "worst_map": None, "n": 0}
        vals = np.array([drops[k] for k in keys])
        w = keys[int(np.argmax(vals))]
        return {
            "worst": float(vals.max()),
            "median": float(np.median(vals)),
            "worst_map": f"{w[0]}->{w[1]}",
            "n": len(keys),
        }

    keys = sorted(drops)
    high = {m for m, a in native.items() if a >= high_native}
    return {
        "all": stats(keys),
        "high": stats([k for k in keys if k[0] in high and k[1] in high]),
        "high_models": sorted(high),
        "high_native": high_native,
    }


def crossfit_matrices(
    data: PairData,
    models: Sequence[str] | None = None,
    *,
    alpha: float = 1.0,
    correspondence: str = "matched-pairs",
    score: str = "cosine",
    thresholds: Sequence[str] = THRESHOLDS,
    high_native: float = 0.985,
) -> dict[str, dict[str, Any]]:
    """:func:`crossfit_matrix` for several threshold rules at once (the fits are shared)."""
    ms = [data.check_model(m) for m in (models if models is not None else data.models)]
    if len(ms) < 2:
        raise InvalidInputError(f"need at least two models, got {ms}")
    dirs = [(s, t) for s in ms for t in ms if s != t]
    t0 = time.perf_counter()
    res = _results(data, dirs, alpha, correspondence, score, tuple(thresholds))
    seconds = time.perf_counter() - t0
    native = {m: native_accuracy(data, m) for m in ms}
    nat = {m: native[m].mean for m in ms}
    out: dict[str, dict[str, Any]] = {}
    for th in thresholds:
        drops = {d: 100.0 * (nat[d[1]] - r.mean) for d, r in res[th].items()}
        out[th] = {
            "models": tuple(ms),
            "native": native,
            "mapped": res[th],
            "drops": drops,
            "summary": summarize_drops(drops, nat, high_native),
            "settings": {
                "map": "ridge",
                "alpha": alpha,
                "correspondence": correspondence,
                "score": score,
                "threshold": th,
                "high_native": high_native,
                "seconds": seconds,
            },
        }
    return out


def crossfit_matrix(
    data: PairData,
    models: Sequence[str] | None = None,
    *,
    alpha: float = 1.0,
    correspondence: str = "matched-pairs",
    score: str = "cosine",
    threshold: str = "crossfit",
    high_native: float = 0.985,
) -> dict[str, Any]:
    """Every directed map between ``models`` (default: all of ``data``) with one threshold rule.

    Returns
    -------
    dict with ``models``, ``native`` {m: FoldAccuracy}, ``mapped`` {(s, t): CrossfitAccuracy},
    ``drops`` {(s, t): native(t) - mapped, points}, ``summary`` (``all`` / ``high``: worst,
    median, worst_map, n; ``high_models``) and ``settings``.
    """
    return crossfit_matrices(
        data,
        models,
        alpha=alpha,
        correspondence=correspondence,
        score=score,
        thresholds=(threshold,),
        high_native=high_native,
    )[threshold]
