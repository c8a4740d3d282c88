"""Cross-fitted verification thresholds for mapped (cross-model) scores (docs/RECIPES.md).

The map that scores test fold ``f`` is fitted on the other folds.  ``threshold="training"`` (the
paper; equal to ``cross_model_matrix``) chooses the threshold on those same training pairs, whose
mapped scores the fit inflates.  ``threshold="crossfit"`` chooses it on *out-of-sample* training
scores: every training fold ``h != f`` scored by a map fitted without folds ``f`` and ``h``.
Nothing sees fold ``f``.

The fits and pair scores are those of ``compare-maps`` (:class:`facebridge.experiments.compare`'s
engine, ``ridge``): the training moments of any excluded set of folds are the total minus a few
blocks, so the ``K + K(K-1)/2`` fits never touch raw rows again.

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
from facebridge.experiments.compare import CompareSettings, _Engine, summarize_drops
from facebridge.experiments.core import PairData, native_accuracy
from facebridge.metrics import FoldScorer
from facebridge.vocabulary import STRONG_NATIVE, unknown

__all__ = [
    "THRESHOLDS",
    "CrossfitAccuracy",
    "crossfit_accuracy",
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


def _engine(
    data: PairData, models: Sequence[str], alpha: float, correspondence: str, score: str
) -> _Engine:
    """The ``compare-maps`` engine of ``models`` with the ridge map alone, scoring in float64
    (its settings check ``alpha``, ``correspondence`` and ``score``)."""
    kw: dict[str, Any] = {"correspondences": (correspondence,), "scores": (score,), "alpha": alpha}
    st = CompareSettings(maps=("ridge",), sweep=False, precision="float64", **kw)
    return _Engine(data.select(models), st)


def _results(
    data: PairData,
    dirs: Sequence[tuple[str, str]],
    alpha: float,
    correspondence: str,
    score: str,
    thresholds: Sequence[str],
) -> dict[str, dict[tuple[str, str], CrossfitAccuracy]]:
    """Every direction of ``dirs`` under every threshold rule.  Outer scores: fold ``f`` by
    the map without fold ``f``; out-of-sample scores (``crossfit``): fold ``h``'s pairs, for
    outer fold ``f``, by the map without folds ``f`` and ``h``."""
    for t in thresholds:
        if t not in THRESHOLDS:
            raise unknown(t, THRESHOLDS, "threshold")
    k = data.n_folds
    if k < 3 and "crossfit" in thresholds:
        raise InvalidInputError(
            f"a cross-fitted threshold needs at least 3 folds, the data has {k}"
        )
    models = list(dict.fromkeys(m for d in dirs for m in d))
    eng = _engine(data, models, alpha, correspondence, score)
    pos = [(models.index(s), models.index(t)) for s, t in dirs]

    def scores(excluded: list[int], by: _Engine = eng) -> np.ndarray:
        mom = eng.fold_moments(correspondence, excluded)
        got, _ = by.fold_scores(correspondence, excluded[0], ("ridge",), (score,), pos, mom=mom)
        return np.stack([got[("ridge", score, d)] for d in pos])

    outer = np.stack([scores([f]) for f in range(k)], axis=1)  # (dirs, K, n)
    oos = np.full_like(outer, np.nan)
    if "crossfit" in thresholds:
        for f, h in itertools.combinations(range(k), 2):
            # only the pairs of folds f and h are scored by the map without them
            fh = np.flatnonzero(eng.data.valid & np.isin(eng.data.folds, (f, h)))
            inner = scores([f, h], _Engine(eng.data, eng.st, fh))
            for a, b in ((f, h), (h, f)):  # fold a's pairs are out-of-sample for outer fold b
                oos[:, b, data.folds == a] = inner[:, data.folds == a]
    out: dict[str, dict[tuple[str, str], CrossfitAccuracy]] = {}
    for th in thresholds:
        src = outer if th == "training" else oos
        acc, thr = np.empty((2, len(dirs), k))
        for f in range(k):  # the threshold from src's training folds, the accuracy on fold f
            rows = np.where(data.folds == f, outer[:, f], src[:, f])
            acc[:, f], thr[:, f] = FoldScorer(data.genuine, data.folds, data.valid, f)(rows)
        out[th] = {
            d: CrossfitAccuracy(
                *d, float(a.mean()), float(a.std()), a, t, th, correspondence, score
            )
            for d, a, t in zip(dirs, acc, thr, strict=True)
        }
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
        As :func:`facebridge.experiments.compare.summarize_drops`.

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
