"""Cross-fitted verification thresholds for mapped (cross-model) scores (docs/RECIPES.md).

The map that scores test fold ``f`` is fitted on the other folds.  ``threshold="training"`` (the
paper; equal to ``cross_model_matrix``) chooses the threshold on those same training pairs, whose
mapped scores the fit inflates.  ``threshold="crossfit"`` chooses it on *out-of-sample* training
scores: every training fold ``h != f`` scored by a map fitted without folds ``f`` and ``h``.
Nothing sees fold ``f``.

Fast path: per source model one :class:`~facebridge.maps.moments.BlockMoments` (blocks by fold,
every target stacked); any excluded set of folds is the total minus a few blocks, solved by ridge
from moments, so the ``K + K(K-1)/2`` fits per source never touch raw rows again.

Scores: ``cosine`` = ``cos(M_ab a_left, b_right)`` (the paper's Eq. 3); ``symmetric`` =
``(cos(M_ab a_left, b_right) + cos(a_left, M_ba b_right)) / 2``, as in ``experiments.compare``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facebridge.errors import InvalidInputError
from facebridge.experiments._fast import FoldScorer
from facebridge.experiments.core import (
    CORRESPONDENCES,
    SCORES,
    Items,
    PairData,
    correspondences,
    native_accuracy,
)
from facebridge.maps import LinearMap
from facebridge.maps.moments import BlockMoments, ridge_from_moments
from facebridge.vocabulary import STRONG_NATIVE, map_key, unknown

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


def _check(data: PairData, alpha: float, correspondence: str, score: str, thresholds) -> None:
    named = [(correspondence, CORRESPONDENCES, "correspondence"), (score, SCORES, "score")]
    for name, choices, what in named + [(t, THRESHOLDS, "threshold") for t in thresholds]:
        if name not in choices:
            raise unknown(name, choices, what)
    if not np.isfinite(alpha) or alpha < 0:
        raise InvalidInputError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if data.n_folds < 3 and "crossfit" in thresholds:
        raise InvalidInputError(
            f"a cross-fitted threshold needs at least 3 folds, the data has {data.n_folds}"
        )


def _fit(mom: BlockMoments, excluded: Sequence[int], alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge ``(W, bias)`` on the rows outside the ``excluded`` folds."""
    m = mom.without(excluded)
    if m.n == 0:
        raise InvalidInputError(
            f"no training correspondence outside folds {[f + 1 for f in excluded]}; the "
            f"other folds have no valid pair to fit on"
        )
    return ridge_from_moments(m, alpha)


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
    rows = correspondences(data, correspondence)
    it = Items.of(data)
    z = {m: it.vectors(data, m) for m in models}
    z_norm = {m: np.linalg.norm(v, axis=1) for m, v in z.items()}
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
        P = z[s][items] @ W + b
        for j, t in enumerate(targets):
            Pt = P[:, cols[j] : cols[j + 1]]
            Pn = np.sqrt(np.einsum("ij,ij->i", Pt, Pt))
            if (s, t) in dirs:
                c = _pair_cos(Pt, Pn, lpos, z[t], z_norm[t], it.right[idx])
                for slot, sel in slot_rows:
                    fwd[(s, t)][which][slot, idx[sel]] = c[sel]
            if need_rev and (t, s) in dirs:
                c = _pair_cos(Pt, Pn, rpos, z[t], z_norm[t], it.left[idx])
                for slot, sel in slot_rows:
                    rev[(s, t)][which][slot, idx[sel]] = c[sel]

    all_idx = np.arange(n)
    want_train = "training" in thresholds
    for s, targets in by_src.items():
        Y = np.concatenate([rows.target(t) for t in targets], axis=1)
        mom = BlockMoments(rows.source(s), Y, rows.bits)
        cols = np.cumsum([0] + [data.dim(t) for t in targets])
        for t in targets:
            fwd[(s, t)], rev[(s, t)] = np.full((2, 2, k, n), np.nan)
        for f in range(k):
            W, b = _fit(mom, [f], alpha)
            idx = all_idx if want_train else fold_idx[f]
            project(s, targets, cols, W, b, idx, [(f, slice(None))], 0)
        if want_cf:
            for f, h in itertools.combinations(range(k), 2):
                W, b = _fit(mom, [f, h], alpha)
                idx = np.concatenate((fold_idx[f], fold_idx[h]))
                nf = fold_idx[f].size
                # fold f's pairs are out-of-sample for outer fold h and vice versa
                project(s, targets, cols, W, b, idx, [(h, slice(0, nf)), (f, slice(nf, None))], 1)
    # symmetric: cos(a_left, M_ba b_right) comes from the t -> s maps
    both = {d: 0.5 * (fwd[d] + rev[d[::-1]]) if need_rev else fwd[d] for d in dirs}
    return {d: b[0] for d, b in both.items()}, {d: b[1] for d, b in both.items()}


def _accuracy(
    data: PairData, outer: np.ndarray, thr_scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per fold ``f``: the threshold chosen on ``thr_scores[f]`` of the training folds, the
    accuracy of ``outer[f]`` on fold ``f``."""
    k = data.n_folds
    per_fold = np.empty(k)
    thresholds = np.empty(k)
    for f in range(k):
        row = np.where(data.folds == f, outer[f], thr_scores[f])
        acc, thr = FoldScorer(data.genuine, data.folds, data.valid, f)(row)
        per_fold[f], thresholds[f] = acc[0], thr[0]
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
    CrossfitAccuracy
        ``mean``, ``std``, ``per_fold``, ``thresholds``.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> r = crossfit_accuracy(data, "a", "b")
    >>> r.threshold, r.n_folds, 0.5 < r.mean <= 1.0
    ('crossfit', 3, True)
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
    """The maps behind test fold ``fold`` (for inspection and tests).

    Parameters
    ----------
    data : PairData
    source, target : str
    fold : int
        The test fold.
    alpha, correspondence
        As :func:`crossfit_accuracy`.

    Returns
    -------
    outer : LinearMap
        Fitted without ``fold``.
    inner : dict of int to LinearMap
        ``{h: map fitted without folds fold and h}`` for every other fold ``h``.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> outer, inner = crossfit_maps(data, "a", "b", 0)
    >>> outer.weight.shape, sorted(inner)
    ((8, 6), [1, 2])
    """
    s, t = data.check_model(source), data.check_model(target)
    _check(data, alpha, correspondence, "cosine", ())
    rows = correspondences(data, correspondence)
    mom = BlockMoments(rows.source(s), rows.target(t), rows.bits)
    outer = LinearMap(*_fit(mom, [fold], alpha))
    inner = {h: LinearMap(*_fit(mom, [fold, h], alpha)) for h in range(data.n_folds) if h != fold}
    return outer, inner


def summarize_drops(
    drops: dict[tuple[str, str], float],
    native: dict[str, float],
    high_native: float = STRONG_NATIVE,
) -> dict[str, Any]:
    """Worst / median drop (points) over all maps and over maps between high-native models.

    Parameters
    ----------
    drops : dict of (str, str) to float
        Drop of each directed map (points).
    native : dict of str to float
        Native accuracy of each model (fraction).
    high_native : float
        Models with a native accuracy at least this form the "high" subset.

    Returns
    -------
    dict
        ``all`` and ``high``: ``worst``, ``median``, ``worst_map``, ``n``; ``high_models``,
        ``high_native``.

    Examples
    --------
    >>> s = summarize_drops({("a", "b"): 0.5, ("b", "a"): 2.0}, {"a": 0.99, "b": 0.97})
    >>> s["all"]["worst_map"], s["high"]["n"]
    ('b->a', 0)
    """

    def stats(keys):
        if not keys:
            return {"worst": float("nan"), "median": float("nan"), "worst_map": None, "n": 0}
        vals = np.array([drops[k] for k in keys])
        w = keys[int(np.argmax(vals))]
        return {
            "worst": float(vals.max()),
            "median": float(np.median(vals)),
            "worst_map": map_key(*w),
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
    high_native: float = STRONG_NATIVE,
) -> dict[str, dict[str, Any]]:
    """:func:`crossfit_matrix` for several threshold rules at once (the fits are shared).

    Parameters
    ----------
    data : PairData
    models : sequence of str, optional
        Default: every model of ``data``.
    alpha, correspondence, score
        As :func:`crossfit_accuracy`.
    thresholds : sequence of {"crossfit", "training"}
    high_native : float
        As :func:`summarize_drops`.

    Returns
    -------
    dict
        Threshold rule -> the :func:`crossfit_matrix` result.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> out = crossfit_matrices(data)
    >>> sorted(out), sorted(out["crossfit"]["mapped"])
    (['crossfit', 'training'], [('a', 'b'), ('b', 'a')])
    """
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
    high_native: float = STRONG_NATIVE,
) -> dict[str, Any]:
    """Every directed map between ``models`` (default: all of ``data``) with one threshold rule.

    Parameters
    ----------
    data, models, alpha, correspondence, score, high_native
        As :func:`crossfit_matrices`.
    threshold : {"crossfit", "training"}

    Returns
    -------
    dict with ``models``, ``native`` {m: FoldAccuracy}, ``mapped`` {(s, t): CrossfitAccuracy},
    ``drops`` {(s, t): native(t) - mapped, points}, ``summary`` (``all`` / ``high``: worst,
    median, worst_map, n; ``high_models``) and ``settings``.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> crossfit_matrix(data, threshold="training")["settings"]["threshold"]
    'training'
    """
    kw: dict[str, Any] = {"alpha": alpha, "correspondence": correspondence, "score": score}
    out = crossfit_matrices(data, models, thresholds=(threshold,), high_native=high_native, **kw)
    return out[threshold]
