"""Verification metrics on genuine / impostor scores: scores, thresholds, k-fold accuracy.

Conventions (docs/ARCHITECTURE.md): a score is a similarity (higher is more similar); a pair is
declared *genuine* iff ``score >= threshold`` (a score exactly at the threshold is genuine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facebridge.errors import DimensionError, InvalidInputError

__all__ = [
    "FoldAccuracy",
    "FoldScorer",
    "accuracy_at",
    "best_threshold",
    "cosine_score",
    "fmr",
    "fnmr",
    "kfold_accuracy",
    "kfold_accuracy_batch",
]

# Rows of kfold_accuracy_batch processed at once: bounds the working memory to a few tens of MB.
_BATCH_ELEMENTS = 4_000_000


# --------------------------------------------------------------------------- validation helpers


def _check_scores(scores: Any, name: str = "scores") -> np.ndarray:
    s = np.asarray(scores)
    if s.dtype.kind not in "fiu":
        raise InvalidInputError(f"{name} must be real numbers, got dtype {s.dtype}")
    if s.ndim != 1:
        raise DimensionError(f"{name} must be 1-D (n_pairs,), got shape {s.shape}; flatten it")
    if s.size == 0:
        raise InvalidInputError(f"{name} is empty; pass at least one scored pair")
    s = s.astype(np.float64, copy=False)
    bad = ~np.isfinite(s)
    if bad.any():
        raise InvalidInputError(
            f"{name} must be finite, got {int(bad.sum())} NaN/inf of {s.size}; drop those pairs "
            f"(or pass valid= to kfold_accuracy)"
        )
    return s


def _check_genuine(genuine: Any, n: int) -> np.ndarray:
    g = np.asarray(genuine)
    if g.ndim != 1 or g.shape[0] != n:
        raise DimensionError(
            f"genuine must be a 1-D bool array with one entry per score ({n}), got shape "
            f"{g.shape}; pass protocol.genuine_array()"
        )
    if g.dtype != np.bool_:
        if g.dtype.kind not in "iu" or not np.isin(g, (0, 1)).all():
            raise InvalidInputError(
                f"genuine must be bool (or 0/1), got dtype {g.dtype}; pass protocol.genuine_array()"
            )
        g = g.astype(bool)
    return g


def _require_both_classes(g: np.ndarray) -> None:
    n_gen = int(g.sum())
    if n_gen == 0 or n_gen == g.size:
        raise InvalidInputError(
            f"need both genuine and impostor pairs, got {n_gen} genuine and {g.size - n_gen} "
            f"impostor; pass scores of both kinds"
        )


def _check_threshold(threshold: Any) -> float:
    try:
        t = float(threshold)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"threshold must be a number, got {threshold!r}") from exc
    if np.isnan(t):
        raise InvalidInputError("threshold is NaN; pass a number (e.g. from best_threshold)")
    return t


def _check_folds(folds: Any, n: int) -> tuple[np.ndarray, int]:
    f = np.asarray(folds)
    if f.ndim != 1 or f.shape[0] != n:
        raise DimensionError(
            f"folds must be 1-D with one fold id per pair ({n}), got shape {f.shape}; "
            f"pass protocol.fold_array()"
        )
    if f.dtype.kind not in "iu":
        raise InvalidInputError(
            f"folds must be integer fold ids 0..K-1, got dtype {f.dtype}; pass protocol.fold_array()"
        )
    f = f.astype(np.int64, copy=False)
    if f.size == 0:
        raise InvalidInputError("folds is empty; pass one fold id per pair")
    if f.min() < 0:
        raise InvalidInputError(f"folds must be >= 0 (0-based), got {int(f.min())}")
    k = int(f.max()) + 1
    present = np.bincount(f, minlength=k) > 0
    if not present.all() or k < 2:
        missing = np.flatnonzero(~present).tolist()
        raise InvalidInputError(
            f"folds must cover 0..K-1 with K >= 2, got K={k} and empty folds {missing}; "
            f"renumber the folds 0..K-1"
        )
    return f, k


def _check_valid(valid: Any, shape: tuple[int, ...]) -> np.ndarray:
    if valid is None:
        return np.ones(shape, dtype=bool)
    v = np.asarray(valid)
    if v.dtype != np.bool_:
        raise InvalidInputError(f"valid must be a bool mask, got dtype {v.dtype}")
    if v.shape != shape and v.shape != shape[-1:]:
        raise DimensionError(
            f"valid must have shape {shape[-1:]} (one flag per pair) or {shape}, got {v.shape}"
        )
    return np.broadcast_to(v, shape)


# --------------------------------------------------------------------------- scores


def cosine_score(A: Any, B: Any) -> np.ndarray:
    """Row-wise cosine similarity ``<a_i, b_i> / (||a_i|| ||b_i||)``.

    Parameters
    ----------
    A, B : array-like of shape (n, d)
        Embeddings of the left and right items of ``n`` pairs (same space).

    Returns
    -------
    ndarray of shape (n,), float64, in [-1, 1].

    Raises
    ------
    DimensionError
        If ``A`` and ``B`` are not 2-D arrays of the same shape.
    InvalidInputError
        If a row is all zeros (cosine undefined) or an entry is NaN/inf.

    Examples
    --------
    >>> cosine_score([[1.0, 0.0]], [[1.0, 1.0]]).round(4)
    array([0.7071])
    """
    a = np.asarray(A, dtype=np.float64)
    b = np.asarray(B, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise DimensionError(
            f"A and B must be 2-D with the same shape (n, d), got {a.shape} and {b.shape}; "
            f"map both sides into the same space first"
        )
    for name, m in (("A", a), ("B", b)):
        bad = ~np.isfinite(m)
        if bad.any():
            raise InvalidInputError(
                f"{name} must be finite, got {int(bad.any(axis=1).sum())} rows with NaN/inf; "
                f"drop those pairs"
            )
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    for name, norms in (("A", na), ("B", nb)):
        zero = np.flatnonzero(norms == 0)
        if zero.size:
            raise InvalidInputError(
                f"{name} has {zero.size} all-zero rows (first: row {int(zero[0])}), whose cosine is "
                f"undefined; drop those pairs or re-extract their embeddings"
            )
    return np.clip(np.einsum("ij,ij->i", a, b) / (na * nb), -1.0, 1.0)


# --------------------------------------------------------------------------- threshold-based rates


def accuracy_at(scores: Any, genuine: Any, threshold: float) -> float:
    """Fraction of pairs classified correctly by "genuine iff score >= threshold"."""
    s = _check_scores(scores)
    g = _check_genuine(genuine, s.size)
    t = _check_threshold(threshold)
    return float(np.mean((s >= t) == g))


def fmr(scores: Any, genuine: Any, threshold: float) -> float:
    """False match rate: fraction of impostor scores ``>= threshold``.

    Raises
    ------
    InvalidInputError
        If there is no impostor pair (or scores are empty / non-finite).
    """
    s = _check_scores(scores)
    g = _check_genuine(genuine, s.size)
    t = _check_threshold(threshold)
    if g.all():
        raise InvalidInputError("fmr needs impostor pairs, got none; pass impostor scores too")
    return float(np.mean(s[~g] >= t))


def fnmr(scores: Any, genuine: Any, threshold: float) -> float:
    """False non-match rate: fraction of genuine scores ``< threshold``.

    Raises
    ------
    InvalidInputError
        If there is no genuine pair (or scores are empty / non-finite).
    """
    s = _check_scores(scores)
    g = _check_genuine(genuine, s.size)
    t = _check_threshold(threshold)
    if not g.any():
        raise InvalidInputError("fnmr needs genuine pairs, got none; pass genuine scores too")
    return float(np.mean(s[g] < t))


# --------------------------------------------------------------------------- best threshold


def _candidates(sorted_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boundary positions ``j`` (pairs at sorted positions >= j are genuine) and their thresholds.

    ``j = 0`` has threshold ``sorted_s[0]`` (all genuine), ``j = n`` has ``nextafter(max, inf)``
    (all impostor); in between only boundaries between distinct values, with the threshold midway
    (or the upper value when the midpoint rounds down onto the lower one).
    """
    n = sorted_s.size
    inner = np.flatnonzero(sorted_s[1:] > sorted_s[:-1]) + 1
    lo, hi = sorted_s[inner - 1], sorted_s[inner]
    mid = lo + (hi - lo) / 2
    mid = np.where(mid > lo, mid, hi)
    pos = np.concatenate(([0], inner, [n]))
    thr = np.concatenate(([sorted_s[0]], mid, [np.nextafter(sorted_s[-1], np.inf)]))
    return pos, thr


def _best_index(sorted_s: np.ndarray, g_sorted: np.ndarray) -> tuple[int, float, int]:
    """Return (boundary position, threshold, n correct) maximising correct decisions."""
    pos, thr = _candidates(sorted_s)
    cum_g = np.concatenate(([0], np.cumsum(g_sorted)))
    cum_i = np.arange(sorted_s.size + 1) - cum_g
    correct = cum_i[pos] + (cum_g[-1] - cum_g[pos])
    k = int(np.argmax(correct))  # first maximum: the lowest threshold
    return int(pos[k]), float(thr[k]), int(correct[k])


def best_threshold(scores: Any, genuine: Any) -> float:
    """Threshold maximising accuracy under "genuine iff score >= threshold".

    Exact and ``O(n log n)``: candidates are the smallest score (everything genuine), the midpoints
    between adjacent distinct sorted scores, and the next float above the largest score
    (everything impostor).  When several candidates reach the best accuracy, the lowest is
    returned.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Similarity scores.
    genuine : array-like of bool, shape (n,)
        True for genuine (same identity) pairs.

    Returns
    -------
    float

    Raises
    ------
    InvalidInputError
        Empty or non-finite scores, or only one class present.
    DimensionError
        ``genuine`` not of shape ``(n,)``.

    Examples
    --------
    >>> best_threshold([0.1, 0.2, 0.8, 0.9], [False, False, True, True])
    0.5
    """
    s = _check_scores(scores)
    g = _check_genuine(genuine, s.size)
    _require_both_classes(g)
    order = np.argsort(s, kind="stable")
    return _best_index(s[order], g[order])[1]


# --------------------------------------------------------------------------- k-fold accuracy


@dataclass(frozen=True)
class FoldAccuracy:
    """Result of :func:`kfold_accuracy`.

    Attributes
    ----------
    mean : float
        Mean of the per-fold accuracies.
    std : float
        Population standard deviation (``ddof=0``) of the per-fold accuracies.
    per_fold : ndarray of shape (n_folds,)
    thresholds : ndarray of shape (n_folds,)
        Threshold used on fold ``f``, chosen on the other folds only.
    """

    mean: float
    std: float
    per_fold: np.ndarray
    thresholds: np.ndarray

    @property
    def n_folds(self) -> int:
        return int(self.per_fold.size)

    def standard_error(self) -> float:
        """The LFW convention: ``sample std (ddof=1) / sqrt(n_folds)``."""
        return float(np.std(self.per_fold, ddof=1) / np.sqrt(self.n_folds))


def kfold_accuracy(scores: Any, genuine: Any, folds: Any, valid: Any = None) -> FoldAccuracy:
    """k-fold verification accuracy: each fold is tested with a threshold fitted on the others.

    For fold ``f`` the threshold is :func:`best_threshold` on the valid pairs of the other folds
    only (fold ``f``'s scores never influence it); the fold's accuracy is then the fraction of
    *all* of its pairs classified correctly, where invalid pairs (``valid == False``, e.g. a
    missing embedding) count as errors.  Scores of invalid pairs are ignored and may be NaN.

    ``std`` is the population standard deviation over folds (``ddof=0``).  The LFW README reports
    instead the standard error ``std(ddof=1) / sqrt(10)``: see
    :meth:`FoldAccuracy.standard_error`.

    Parameters
    ----------
    scores : array-like of shape (n,)
    genuine : array-like of bool, shape (n,)
    folds : array-like of int, shape (n,)
        0-based fold ids covering ``0..K-1``, ``K >= 2``.
    valid : array-like of bool, shape (n,), optional
        Default: all pairs valid.

    Returns
    -------
    FoldAccuracy

    Raises
    ------
    InvalidInputError
        Empty input, NaN/inf in a valid score, only one class among the valid pairs, or fold ids
        that do not cover ``0..K-1``.
    DimensionError
        Arrays of different lengths.
    """
    s_raw = np.asarray(scores)
    if s_raw.dtype.kind not in "fiu":  # before any float conversion: "0.1" is not a score
        raise InvalidInputError(f"scores must be real numbers, got dtype {s_raw.dtype}")
    if s_raw.ndim != 1:
        raise DimensionError(f"scores must be 1-D (n_pairs,), got shape {s_raw.shape}")
    n = s_raw.shape[0]
    if n == 0:
        raise InvalidInputError("scores is empty; pass at least one scored pair")
    v = _check_valid(valid, (n,))
    g = _check_genuine(genuine, n)
    f, k = _check_folds(folds, n)
    if not v.any():
        raise InvalidInputError("no valid pair (valid is all False); nothing to evaluate")
    s = _check_scores(np.asarray(s_raw, dtype=np.float64)[v])
    _require_both_classes(g[v])
    gv, fv = g[v], f[v]
    order = np.argsort(s, kind="stable")
    s, gv, fv = s[order], gv[order], fv[order]
    counts = np.bincount(f, minlength=k)
    per_fold = np.empty(k)
    thresholds = np.empty(k)
    for fold in range(k):
        train = fv != fold
        if train.any():
            _, t, _ = _best_index(s[train], gv[train])
        else:  # no valid training pair: everything genuine
            t = -np.inf
        test = ~train
        thresholds[fold] = t
        per_fold[fold] = np.sum((s[test] >= t) == gv[test]) / counts[fold]
    return FoldAccuracy(
        mean=float(per_fold.mean()),
        std=float(per_fold.std()),
        per_fold=per_fold,
        thresholds=thresholds,
    )


def kfold_accuracy_batch(scores: Any, genuine: Any, folds: Any, valid: Any = None) -> np.ndarray:
    """Per-fold accuracies of :func:`kfold_accuracy` for many score vectors at once.

    Row ``r`` of the result equals ``kfold_accuracy(scores[r], genuine, folds, valid[r]).per_fold``
    (same thresholds, same tie rule, same policy for invalid pairs): :class:`FoldScorer` per
    fold, vectorised over the rows that share their valid pairs (in blocks to bound memory).

    Parameters
    ----------
    scores : array-like of shape (m, n)
        ``m`` score vectors over the same ``n`` pairs.  Invalid entries may be NaN.
    genuine : array-like of bool, shape (n,)
    folds : array-like of int, shape (n,)
        0-based fold ids covering ``0..K-1``, ``K >= 2``.
    valid : array-like of bool, shape (n,) or (m, n), optional
        Invalid pairs are left out of threshold selection and counted as errors in their fold.

    Returns
    -------
    ndarray of shape (m, K), float64

    Raises
    ------
    InvalidInputError
        Empty input, NaN/inf in a valid score, or bad fold ids.
    DimensionError
        Shapes that do not match.
    """
    S = np.asarray(scores)
    if S.ndim != 2:
        raise DimensionError(
            f"scores must be 2-D (n_rows, n_pairs), got shape {S.shape}; use kfold_accuracy for one row"
        )
    if S.dtype.kind not in "fiu":
        raise InvalidInputError(f"scores must be real numbers, got dtype {S.dtype}")
    m, n = S.shape
    if m == 0 or n == 0:
        raise InvalidInputError(
            f"scores is empty (shape {S.shape}); pass at least one row and pair"
        )
    g = _check_genuine(genuine, n)
    f, k = _check_folds(folds, n)
    V = _check_valid(valid, (m, n))
    S = S.astype(np.float64, copy=False)
    bad = V & ~np.isfinite(S)
    if bad.any():
        raise InvalidInputError(
            f"scores must be finite where valid, got {int(bad.sum())} NaN/inf in "
            f"{int(bad.any(axis=1).sum())} rows; mark those pairs invalid with valid="
        )
    block = max(1, _BATCH_ELEMENTS // (n + 1))
    out = np.empty((m, k))
    shared = [slice(None)] if (V == V[0]).all() else [slice(r, r + 1) for r in range(m)]
    for rows in shared:  # one FoldScorer per fold for every row with the same valid pairs
        v = V[rows][0]
        for fold in range(k):
            out[rows, fold] = FoldScorer(g, f, v, fold)(S[rows], block)[0]
    return out


class FoldScorer:
    """Accuracy on test fold ``fold`` of score rows whose threshold is chosen on the other folds.

    The rule of :func:`kfold_accuracy` (the :func:`best_threshold` of the valid training pairs;
    invalid pairs count as errors), for many score rows at once: every experiment's accuracies
    come from it.

    Parameters
    ----------
    genuine, folds, valid : ndarray ``(n_pairs,)``
        Validated as by :func:`kfold_accuracy` (this class does not check them).
    fold : int
        The test fold.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.array([True, False] * 4)
    >>> folds = np.repeat([0, 1], 4)
    >>> acc, thr = FoldScorer(g, folds, np.ones(8, bool), 0)(np.where(g, 0.9, 0.1)[None])
    >>> acc.tolist(), thr.tolist()
    ([1.0], [0.5])
    """

    def __init__(self, genuine: np.ndarray, folds: np.ndarray, valid: np.ndarray, fold: int):
        self.train = np.flatnonzero(valid & (folds != fold))
        self.test = np.flatnonzero(valid & (folds == fold))
        self.g_train = genuine[self.train]
        self.g_test = genuine[self.test]
        self.n_fold = int((folds == fold).sum())
        self.n_gen = int(self.g_train.sum())

    def __call__(self, S: np.ndarray, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Accuracy and threshold of each row of ``S`` ``(r, n_pairs)``, ``block`` rows at a time.

        Returns
        -------
        accuracy : ndarray ``(r,)``
        threshold : ndarray ``(r,)``
        """
        S = np.atleast_2d(S)
        r = S.shape[0]
        acc = np.empty(r)
        thr = np.empty(r)
        for r0 in range(0, r, block):
            rows = S[r0 : r0 + block]
            acc[r0 : r0 + block], thr[r0 : r0 + block] = self._block(
                rows[:, self.train], rows[:, self.test]
            )
        return acc, thr

    def _block(self, tr: np.ndarray, te: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b, n = tr.shape
        if n == 0:  # no valid training pair: everything genuine
            t = np.full(b, -np.inf)
        else:
            order = np.argsort(tr, axis=1)
            s = np.take_along_axis(tr, order, axis=1)
            cum_g = np.zeros((b, n + 1), dtype=np.int32)
            np.cumsum(self.g_train[order], axis=1, dtype=np.int32, out=cum_g[:, 1:])
            # correct(j) = impostors below j + genuine from j on = j - cum_g[j] + G - cum_g[j]
            correct = np.arange(n + 1, dtype=np.int32) - 2 * cum_g + self.n_gen
            inner = np.ones((b, n + 1), dtype=bool)
            inner[:, 1:n] = s[:, 1:] > s[:, :-1]  # boundaries between distinct values only
            correct[~inner] = -1
            j = np.argmax(correct, axis=1)  # first maximum: the lowest threshold
            rows = np.arange(b)
            lo = s[rows, np.maximum(j - 1, 0)]
            hi = s[rows, np.minimum(j, n - 1)]
            mid = lo + (hi - lo) / 2
            t = np.where(mid > lo, mid, hi)
            t = np.where(j == 0, s[:, 0], t)
            t = np.where(j == n, np.nextafter(s[:, -1], np.inf), t)
        above = te >= t[:, None]
        ok = np.count_nonzero(above == self.g_test[None, :], axis=1)
        return ok / self.n_fold, t
