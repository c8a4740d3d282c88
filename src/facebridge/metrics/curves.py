"""ROC, AUC, EER and TAR@FAR on genuine / impostor similarity scores.

Vocabulary (bob.measure): FMR = false match rate = fraction of impostor scores accepted;
FNMR = false non-match rate = fraction of genuine scores rejected; TAR = 1 - FNMR.  A score is
accepted iff ``score >= threshold`` (a score exactly at the threshold is accepted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facebridge.errors import InvalidInputError
from facebridge.metrics.verification import _check_genuine, _check_scores, _require_both_classes

__all__ = ["RocCurve", "eer", "roc", "roc_auc", "tar_at_far"]


@dataclass(frozen=True)
class RocCurve:
    """Operating points of a verifier, one per distinct threshold.

    Attributes
    ----------
    fmr : ndarray of shape (k,)
        False match rate at each threshold, non-decreasing.
    tar : ndarray of shape (k,)
        True accept rate (``1 - fnmr``) at each threshold, non-decreasing.
    thresholds : ndarray of shape (k,)
        Decreasing: ``+inf`` (nothing accepted, the point (0, 0)) then every distinct score, so the
        last point accepts everything, (1, 1).
    """

    fmr: np.ndarray
    tar: np.ndarray
    thresholds: np.ndarray

    @property
    def fnmr(self) -> np.ndarray:
        """False non-match rate ``1 - tar``, shape (k,)."""
        return 1.0 - self.tar


def roc(scores: Any, genuine: Any) -> RocCurve:
    """Full ROC (no point dropped): equals ``sklearn.metrics.roc_curve(genuine, scores,
    drop_intermediate=False)`` with ``fmr = fpr`` and ``tar = tpr``.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Similarity scores.
    genuine : array-like of bool, shape (n,)

    Returns
    -------
    RocCurve

    Raises
    ------
    InvalidInputError
        Empty or non-finite scores, or only one class present.
    DimensionError
        ``genuine`` not of shape ``(n,)``.

    Examples
    --------
    >>> c = roc([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
    >>> c.fmr.tolist(), c.tar.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    s = _check_scores(scores)
    g = _check_genuine(genuine, s.size)
    _require_both_classes(g)
    order = np.argsort(-s, kind="stable")
    s_desc, g_desc = s[order], g[order]
    # last index of each run of equal scores: everything up to it is accepted at that score
    ends = np.flatnonzero(np.r_[s_desc[1:] < s_desc[:-1], True])
    tp = np.cumsum(g_desc)[ends]
    fp = (ends + 1) - tp
    n_gen = int(g.sum())
    n_imp = s.size - n_gen
    return RocCurve(
        fmr=np.r_[0.0, fp / n_imp],
        tar=np.r_[0.0, tp / n_gen],
        thresholds=np.r_[np.inf, s_desc[ends]],
    )


def roc_auc(scores: Any, genuine: Any) -> float:
    """Area under the ROC (trapezoidal; ties count one half), equal to
    ``sklearn.metrics.roc_auc_score(genuine, scores)``.  Raises as :func:`roc`."""
    c = roc(scores, genuine)
    return float(np.trapezoid(c.tar, c.fmr))


def eer(scores: Any, genuine: Any) -> float:
    """Equal error rate: the rate where FMR equals FNMR.

    Walking the ROC from the strictest threshold, ``FNMR - FMR`` goes from 1 to -1; the EER is
    taken on the straight segment between the two adjacent operating points where it changes
    sign (linear interpolation of both rates along that segment), or is the common value when an
    operating point has ``FMR == FNMR`` exactly.  It depends only on the ranking of the scores,
    so any strictly increasing transform of the scores leaves it unchanged.  Raises as :func:`roc`.

    Examples
    --------
    >>> eer([0.1, 0.2, 0.3, 0.4], [False, True, False, True])
    0.5
    """
    c = roc(scores, genuine)
    d = c.fnmr - c.fmr
    i = int(np.argmax(d <= 0))  # d[-1] == -1, so a crossing exists; d[0] == 1, so i >= 1
    if d[i] == 0:
        return float(c.fmr[i])
    lam = d[i - 1] / (d[i - 1] - d[i])
    return float(c.fmr[i - 1] + lam * (c.fmr[i] - c.fmr[i - 1]))


def tar_at_far(scores: Any, genuine: Any, far: float) -> float:
    """True accept rate at a false accept (match) rate: the largest TAR over the operating points
    whose FMR is ``<= far`` (no interpolation).

    Parameters
    ----------
    scores : array-like of shape (n,)
    genuine : array-like of bool, shape (n,)
    far : float in [0, 1]

    Raises
    ------
    InvalidInputError
        ``far`` outside [0, 1], or as :func:`roc`.

    Examples
    --------
    >>> tar_at_far([0.1, 0.2, 0.3, 0.4], [False, True, False, True], far=0.0)
    0.5
    """
    try:
        f = float(far)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"far must be a number in [0, 1], got {far!r}") from exc
    if not 0.0 <= f <= 1.0:
        raise InvalidInputError(f"far must be in [0, 1], got {far!r}; e.g. far=1e-3 for 0.1%")
    c = roc(scores, genuine)
    return float(c.tar[c.fmr <= f].max())
