"""Identification metrics: closed-set rank-k rate, CMC curve, open-set DIR at a fixed FPIR.

A *probe* is searched against a *gallery* of enrolled templates; the gallery may hold several
templates per identity (the identity's score is then the best of its templates).  Scores are
cosine similarities (higher is more similar), computed with matrix products in chunks of probes
so that memory stays bounded (about ``chunk_bytes`` for one block of the score matrix).

Vocabulary (ISO/IEC 19795-1 and bob.measure):

* a **mated** probe is one whose identity is enrolled in the gallery, a **non-mated** probe one
  whose identity is not;
* the **rank** of a mated probe is the position of its identity in the list of gallery identities
  sorted by decreasing score (1 = first);
* the **identification rate at rank k** (closed set) is the fraction of mated probes with
  ``rank <= k``; the **CMC curve** is that rate for ``k = 1, 2, ...``;
* open set: a search *alarms* at threshold ``t`` when the best gallery score is ``>= t`` (a score
  exactly at the threshold alarms, as in the rest of facebridge).  The **false-positive
  identification rate** ``FPIR(t)`` is the fraction of non-mated probes that alarm; the
  **detection-and-identification rate** ``DIR(t, k)`` is the fraction of mated probes whose
  identity is at ``rank <= k`` *and* whose mated score is ``>= t``.

Tie rule: a gallery identity whose score equals the mated score counts *ahead* of the mate
(``ties="pessimistic"``, the default, so that a degenerate scorer that gives every identity
the same score has rank N and not rank 1); ``ties="optimistic"`` counts it behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facebridge.errors import DimensionError, InvalidInputError

__all__ = [
    "IdentificationResult",
    "OpenSetResult",
    "cmc_curve",
    "dir_at_fpir",
    "fpir_threshold",
    "identification_rate",
    "normalize_rows",
    "rank_scores",
    "search",
]

TIES = ("pessimistic", "optimistic")
_DEFAULT_CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class IdentificationResult:
    """Outcome of searching every probe against a gallery.

    Attributes
    ----------
    ranks : np.ndarray
        int64 ``(n_probes,)``: 1-based rank of each mated probe's identity; ``0`` for a non-mated
        probe (identity not enrolled).
    mated_scores : np.ndarray
        float64 ``(n_probes,)``: score of the probe's own identity (NaN for non-mated probes).
    best_scores : np.ndarray
        float64 ``(n_probes,)``: best score over all gallery identities (the open-set score).
    n_gallery : int
        Number of distinct gallery identities (``N``; chance rank-k rate is ``k / N``).
    ties : str
        The tie rule used (``"pessimistic"`` or ``"optimistic"``).
    """

    ranks: np.ndarray
    mated_scores: np.ndarray
    best_scores: np.ndarray
    n_gallery: int
    ties: str = "pessimistic"

    @property
    def mated(self) -> np.ndarray:
        """bool ``(n_probes,)``: the probe's identity is enrolled."""
        return self.ranks > 0

    @property
    def n_mated(self) -> int:
        return int(np.count_nonzero(self.ranks > 0))

    @property
    def n_nonmated(self) -> int:
        return int(np.count_nonzero(self.ranks == 0))

    def rate(self, k: int = 1) -> float:
        """Closed-set identification rate at rank ``k`` over the mated probes."""
        return identification_rate(self.ranks, k)

    def cmc(self, max_rank: int | None = None) -> np.ndarray:
        """CMC curve ``(max_rank,)``; see :func:`cmc_curve`."""
        return cmc_curve(self.ranks, max_rank if max_rank is not None else self.n_gallery)


@dataclass(frozen=True)
class OpenSetResult:
    """Open-set detection-and-identification at a fixed false-positive identification rate.

    Attributes
    ----------
    dir : float
        Detection-and-identification rate at ``threshold`` and rank ``rank``.
    threshold : float
        Alarm threshold (``best score >= threshold`` alarms).
    fpir : float
        The FPIR asked for.
    fpir_achieved : float
        The FPIR the threshold actually gives on the non-mated probes (``<= fpir``).
    rank : int
        The rank at which the identity must be found.
    n_mated, n_nonmated : int
        Number of mated and non-mated probes used.
    """

    dir: float
    threshold: float
    fpir: float
    fpir_achieved: float
    rank: int
    n_mated: int
    n_nonmated: int


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Return a float32 copy of ``x`` ``(n, d)`` with unit-norm rows (all-zero rows stay zero)."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2:
        raise DimensionError(f"expected a 2-D array (n, dim), got shape {a.shape}; reshape it")
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return a / norms


def _check_finite(name: str, a: np.ndarray) -> None:
    if a.size and not np.all(np.isfinite(a)):
        raise InvalidInputError(
            f"{name} contains NaN or infinite values; drop or repair those rows"
        )


def _labels(name: str, labels: Sequence | np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DimensionError(
            f"{name} must have one label per row ({n}), got shape {arr.shape}; pass one label per template"
        )
    return arr


def _gallery_layout(
    gallery_labels: np.ndarray,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Identity names (one per score column after the layout), column order and reduceat starts.

    With one template per identity the score columns are used as they are (order and starts are
    ``None``); otherwise columns are grouped by identity and reduced to each identity's best.
    """
    names, inverse = np.unique(gallery_labels, return_inverse=True)
    if names.shape[0] == gallery_labels.shape[0]:
        return gallery_labels, None, None
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
    return names, order, starts


def _identity_scores(
    s: np.ndarray, order: np.ndarray | None, starts: np.ndarray | None
) -> np.ndarray:
    if order is None or starts is None or s.shape[0] == 0:
        return s if order is None else s[:, order]
    return np.maximum.reduceat(s[:, order], starts, axis=1)


def _rank_block(
    s_id: np.ndarray, mate_col: np.ndarray, ties: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranks, mated and best scores for one block of identity-level scores ``(c, N)``.

    One pass over the block: pessimistic rank = number of identities scoring ``>=`` the mate
    (the mate included), optimistic rank = 1 + number scoring ``>`` it.
    """
    best = s_id.max(axis=1).astype(np.float64)
    mated = mate_col >= 0
    rows = np.arange(s_id.shape[0])
    m = s_id[rows, np.where(mated, mate_col, 0)]
    m = np.where(mated, m, np.inf).astype(s_id.dtype)  # non-mated rows count nothing
    if ties == "pessimistic":
        ranks = np.count_nonzero(s_id >= m[:, None], axis=1).astype(np.int64)
    else:
        ranks = 1 + np.count_nonzero(s_id > m[:, None], axis=1).astype(np.int64)
        ranks[~mated] = 0
    mscore = np.where(mated, m, np.nan).astype(np.float64)
    return ranks, mscore, best


def rank_scores(
    scores: np.ndarray,
    probe_labels: Sequence | np.ndarray,
    gallery_labels: Sequence | np.ndarray,
    *,
    ties: str = "pessimistic",
) -> IdentificationResult:
    """Ranks of mated probes from a precomputed probe x gallery score matrix.

    Parameters
    ----------
    scores : np.ndarray
        ``(n_probes, n_gallery)`` similarity scores (higher is more similar).
    probe_labels : array-like
        ``(n_probes,)`` identity of each probe; a label absent from the gallery makes the probe
        non-mated (rank 0).
    gallery_labels : array-like
        ``(n_gallery,)`` identity of each gallery template (repeats allowed: an identity's score
        is the best of its templates).
    ties : {"pessimistic", "optimistic"}
        Tie rule, see the module docstring.

    Returns
    -------
    IdentificationResult

    Raises
    ------
    DimensionError
        When the label lengths do not match the score matrix.
    InvalidInputError
        On NaN/inf scores, an empty gallery or an unknown tie rule.

    Examples
    --------
    >>> s = np.array([[0.9, 0.1], [0.2, 0.3]])
    >>> rank_scores(s, ["a", "a"], ["a", "b"]).ranks.tolist()
    [1, 2]
    """
    s = np.asarray(scores)
    if s.dtype.kind != "f":
        s = s.astype(np.float64)
    if s.ndim != 2:
        raise DimensionError(f"scores must be 2-D (n_probes, n_gallery), got shape {s.shape}")
    _check_options(ties, s.shape[1])
    _check_finite("scores", s)
    pl = _labels("probe_labels", probe_labels, s.shape[0])
    gl = _labels("gallery_labels", gallery_labels, s.shape[1])
    names, order, starts = _gallery_layout(gl)
    s_id = _identity_scores(s, order, starts)
    mate_col = _mate_columns(pl, names)
    ranks, mscore, best = _rank_block(s_id, mate_col, ties)
    return IdentificationResult(ranks, mscore, best, int(names.shape[0]), ties)


def _check_options(ties: str, n_gallery: int) -> None:
    if ties not in TIES:
        raise InvalidInputError(f"ties must be one of {TIES}, got {ties!r}")
    if n_gallery == 0:
        raise InvalidInputError("the gallery is empty; enrol at least one template")


def _mate_columns(probe_labels: np.ndarray, names: np.ndarray) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(names.tolist())}
    return np.array([lookup.get(x, -1) for x in probe_labels.tolist()], dtype=np.int64)


def search(
    probes: np.ndarray,
    gallery: np.ndarray,
    probe_labels: Sequence | np.ndarray,
    gallery_labels: Sequence | np.ndarray,
    *,
    ties: str = "pessimistic",
    chunk_bytes: int = _DEFAULT_CHUNK_BYTES,
    normalized: bool = False,
) -> IdentificationResult:
    """Search every probe embedding against a gallery of embeddings with cosine scores.

    The score matrix is computed block by block (``probes[i:j] @ gallery.T`` in float32) so
    that at most about ``chunk_bytes`` of scores are held at once.

    Parameters
    ----------
    probes : np.ndarray
        ``(n_probes, dim)`` probe embeddings.
    gallery : np.ndarray
        ``(n_gallery, dim)`` enrolled embeddings.
    probe_labels, gallery_labels : array-like
        ``(n_probes,)`` and ``(n_gallery,)`` identities (see :func:`rank_scores`).
    ties : {"pessimistic", "optimistic"}
        Tie rule.
    chunk_bytes : int
        Memory bound for one block of the score matrix.
    normalized : bool
        Set when both inputs already have unit-norm rows (skips the normalisation copy).

    Returns
    -------
    IdentificationResult

    Raises
    ------
    DimensionError
        Different embedding dimensions or label lengths.
    InvalidInputError
        NaN/inf embeddings, an empty gallery, a bad tie rule or chunk size.
    """
    p = np.asarray(probes)
    g = np.asarray(gallery)
    if p.ndim != 2 or g.ndim != 2:
        raise DimensionError(
            f"probes and gallery must be 2-D (n, dim), got {p.shape} and {g.shape}; reshape them"
        )
    if p.shape[1] != g.shape[1]:
        raise DimensionError(
            f"probes have dim {p.shape[1]} but the gallery has dim {g.shape[1]}; "
            "map the probes into the gallery's space first"
        )
    _check_options(ties, g.shape[0])
    if chunk_bytes < 1:
        raise InvalidInputError(f"chunk_bytes must be positive, got {chunk_bytes}")
    _check_finite("probes", p)
    _check_finite("gallery", g)
    pl = _labels("probe_labels", probe_labels, p.shape[0])
    gl = _labels("gallery_labels", gallery_labels, g.shape[0])
    if not normalized:
        p = normalize_rows(p)
        g = normalize_rows(g)
    names, order, starts = _gallery_layout(gl)
    g_sorted = np.ascontiguousarray(g if order is None else g[order], dtype=np.float32)
    mate_col = _mate_columns(pl, names)
    n = p.shape[0]
    ranks = np.zeros(n, dtype=np.int64)
    mscore = np.full(n, np.nan)
    best = np.full(n, np.nan)
    step = max(1, int(chunk_bytes // (4 * max(1, g_sorted.shape[0]))))
    gt = g_sorted.T
    for i in range(0, n, step):
        block = np.asarray(p[i : i + step], dtype=np.float32) @ gt
        if starts is not None:
            block = np.maximum.reduceat(block, starts, axis=1)
        r, m, b = _rank_block(block, mate_col[i : i + step], ties)
        ranks[i : i + step], mscore[i : i + step], best[i : i + step] = r, m, b
    return IdentificationResult(ranks, mscore, best, int(names.shape[0]), ties)


def identification_rate(ranks: np.ndarray | IdentificationResult, k: int = 1) -> float:
    """Closed-set identification rate at rank ``k``: fraction of mated probes with rank <= k.

    Parameters
    ----------
    ranks : np.ndarray or IdentificationResult
        int ``(n_probes,)`` ranks (``0`` marks non-mated probes, which are ignored).
    k : int
        Rank, ``>= 1``.

    Raises
    ------
    InvalidInputError
        When ``k < 1`` or there is no mated probe.
    """
    r = ranks.ranks if isinstance(ranks, IdentificationResult) else np.asarray(ranks)
    if k < 1:
        raise InvalidInputError(f"rank k must be >= 1, got {k}")
    mated = r[r > 0]
    if mated.size == 0:
        raise InvalidInputError(
            "no mated probe (no probe identity is enrolled); enrol the probes' identities"
        )
    return float(np.count_nonzero(mated <= k) / mated.size)


def cmc_curve(ranks: np.ndarray | IdentificationResult, max_rank: int) -> np.ndarray:
    """Cumulative match characteristic: identification rate at ranks ``1..max_rank``.

    Returns
    -------
    np.ndarray
        float64 ``(max_rank,)``, non-decreasing; entry ``k - 1`` is the rank-``k`` rate.
    """
    r = ranks.ranks if isinstance(ranks, IdentificationResult) else np.asarray(ranks)
    if max_rank < 1:
        raise InvalidInputError(f"max_rank must be >= 1, got {max_rank}")
    mated = r[r > 0]
    if mated.size == 0:
        raise InvalidInputError(
            "no mated probe (no probe identity is enrolled); enrol the probes' identities"
        )
    counts = np.bincount(np.minimum(mated, max_rank + 1), minlength=max_rank + 2)[1 : max_rank + 1]
    return np.cumsum(counts) / mated.size


def fpir_threshold(nonmated_best_scores: np.ndarray, fpir: float) -> tuple[float, float]:
    """Smallest alarm threshold whose false-positive identification rate is ``<= fpir``.

    A non-mated probe alarms when its best score is ``>= threshold``.  With the non-mated best
    scores sorted in decreasing order ``s_1 >= s_2 >= ... >= s_n`` and ``k = floor(fpir * n)``,
    the threshold is the next float above ``s_{k+1}`` (so exactly the scores strictly above
    ``s_{k+1}`` alarm; ties with ``s_{k+1}`` do not), and ``-inf`` when ``k == n``.

    Returns
    -------
    (threshold, fpir_achieved) : tuple[float, float]

    Raises
    ------
    InvalidInputError
        Empty or non-finite scores, or ``fpir`` outside ``[0, 1]``.
    """
    s = np.asarray(nonmated_best_scores, dtype=np.float64).ravel()
    if s.size == 0:
        raise InvalidInputError(
            "no non-mated probe: open-set rates need probes whose identity is not enrolled"
        )
    _check_finite("non-mated scores", s)
    if not 0.0 <= fpir <= 1.0:
        raise InvalidInputError(f"fpir must be in [0, 1], got {fpir}")
    n = s.size
    k = int(np.floor(fpir * n + 1e-9))
    if k >= n:
        return float("-inf"), 1.0
    desc = np.sort(s)[::-1]
    t = float(np.nextafter(desc[k], np.inf))
    return t, float(np.count_nonzero(s >= t) / n)


def dir_at_fpir(result: IdentificationResult, fpir: float = 0.01, rank: int = 1) -> OpenSetResult:
    """Open-set detection-and-identification rate at a fixed FPIR.

    The threshold comes from the non-mated probes' best scores only (:func:`fpir_threshold`);
    the DIR is the fraction of mated probes with ``rank <= rank`` and mated score ``>= threshold``.

    Parameters
    ----------
    result : IdentificationResult
        From :func:`search` or :func:`rank_scores` with both mated and non-mated probes.
    fpir : float
        Target false-positive identification rate (false-alarm rate), e.g. ``0.01``.
    rank : int
        Rank at which the identity must be found (1 for the usual DIR).

    Raises
    ------
    InvalidInputError
        When there is no mated or no non-mated probe, or ``rank < 1``.
    """
    if rank < 1:
        raise InvalidInputError(f"rank must be >= 1, got {rank}")
    mated = result.ranks > 0
    if not np.any(mated):
        raise InvalidInputError(
            "no mated probe (no probe identity is enrolled); enrol the probes' identities"
        )
    t, achieved = fpir_threshold(result.best_scores[~mated], fpir)
    hit = (result.ranks[mated] <= rank) & (result.mated_scores[mated] >= t)
    return OpenSetResult(
        dir=float(np.mean(hit)),
        threshold=t,
        fpir=float(fpir),
        fpir_achieved=achieved,
        rank=int(rank),
        n_mated=int(np.count_nonzero(mated)),
        n_nonmated=int(np.count_nonzero(~mated)),
    )
