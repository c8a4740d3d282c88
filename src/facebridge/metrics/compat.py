"""Compatible-representation metrics: self-test and cross-test, 1:1 and 1:N, negative flips.

The protocol of the backward-compatible-training papers (BCT, FCT): a *gallery* embedded by one
model (or migrated into its space) is searched with *probes* embedded by another.

* **1:1** (:func:`all_pairs_tar`): every ordered pair ``(i, j), i != j`` of test images is a
  comparison (probe ``i`` against gallery template ``j``), genuine when both images show the same
  identity; TAR at a FAR is taken over all of them (on the 1,500-image LFW folds that is two million
  impostors, enough for FAR 1e-4, where LFW's 3,000 impostor pairs cannot go below 1e-3).
* **1:N** (:func:`identification_metrics`): closed-set rank-1 / rank-5 of the mated probes and
  open-set TPIR (detection-and-identification rate at rank 1) at a fixed FPIR, through
  :func:`facebridge.metrics.identification.search`.
* :func:`negative_flip_rate`: the fraction of mated probes identified correctly at rank 1 by the
  reference (old/old) system and wrongly by the new one (cross-test).
* :func:`gallery_split`: the 1:N layout of a set of test images by identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.metrics.identification import (
    IdentificationResult,
    dir_at_fpir,
    normalize_rows,
    search,
)

__all__ = [
    "FARS",
    "GallerySplit",
    "IdentificationMetrics",
    "all_pairs_tar",
    "gallery_split",
    "identification_metrics",
    "negative_flip_rate",
    "tar_from_scores",
]

#: The FARs at which 1:1 TAR is reported.
FARS: tuple[float, ...] = (1e-2, 1e-3, 1e-4)


def tar_from_scores(
    genuine: np.ndarray, impostor: np.ndarray, fars: Sequence[float]
) -> dict[float, float]:
    """TAR at each FAR from separate genuine and impostor scores.

    Equal to :func:`facebridge.metrics.curves.tar_at_far` on the concatenated scores (the largest
    TAR over the ROC's operating points whose FAR is ``<= far``): with ``k = floor(far * n_imp)``
    and ``s`` the ``(k+1)``-th largest impostor score, exactly the scores strictly above ``s``
    are accepted.  Uses a partition instead of a sort, so it is linear in the number of scores.

    Raises
    ------
    InvalidInputError
        An empty class, non-finite scores or a FAR outside [0, 1].

    Examples
    --------
    >>> tar_from_scores(np.array([0.3, 0.9]), np.array([0.1, 0.2, 0.5, 0.6]), [0.25])
    {0.25: 0.5}
    """
    g = np.asarray(genuine, dtype=np.float64).ravel()
    imp = np.asarray(impostor, dtype=np.float64).ravel()
    if g.size == 0 or imp.size == 0:
        raise InvalidInputError(
            f"TAR at FAR needs genuine and impostor scores, got {g.size} and {imp.size}"
        )
    if not (np.isfinite(g).all() and np.isfinite(imp).all()):
        raise InvalidInputError("scores contain NaN or inf; check the embeddings")
    ks: dict[float, int] = {}
    for far in fars:
        f = float(far)
        if not 0.0 <= f <= 1.0:
            raise InvalidInputError(f"far must be in [0, 1], got {far!r}")
        ks[f] = int(np.floor(f * imp.size + 1e-9))
    need = sorted({imp.size - 1 - k for k in ks.values() if k < imp.size})
    part = np.partition(imp, need) if need else imp
    out: dict[float, float] = {}
    for f, k in ks.items():
        if k >= imp.size:
            out[f] = 1.0
        else:
            out[f] = float(np.count_nonzero(g > part[imp.size - 1 - k]) / g.size)
    return out


def all_pairs_tar(
    probes: np.ndarray,
    gallery: np.ndarray,
    labels: Sequence | np.ndarray,
    fars: Sequence[float] = FARS,
) -> dict[float, float]:
    """1:1 TAR at each FAR over every ordered pair of distinct test images.

    Parameters
    ----------
    probes : ndarray of shape (n, d)
        Probe templates of the n test images (e.g. new-model embeddings).
    gallery : ndarray of shape (n, d)
        Gallery templates of the same n images in the same order (e.g. migrated old-model
        embeddings); the pair ``(i, i)`` (an image against itself) is left out.
    labels : array-like of shape (n,)
        Identity of each image; a pair is genuine when the labels are equal.
    fars : sequence of float

    Returns
    -------
    dict
        far -> TAR (fractions).

    Raises
    ------
    DimensionError
        Shapes that do not agree.
    InvalidInputError
        No genuine pair (every identity has one image), or non-finite embeddings.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> all_pairs_tar(x, x, ["a", "a", "b", "b"], fars=[0.0])
    {0.0: 1.0}
    """
    p = np.asarray(probes)
    g = np.asarray(gallery)
    lab = np.asarray(labels)
    if p.ndim != 2 or g.ndim != 2 or p.shape[0] != g.shape[0] or p.shape[1] != g.shape[1]:
        raise DimensionError(
            f"probes and gallery must be (n, d) templates of the same images, got {p.shape} and "
            f"{g.shape}; map the gallery into the probes' space first"
        )
    if lab.shape != (p.shape[0],):
        raise DimensionError(f"labels must have shape ({p.shape[0]},), got {lab.shape}")
    for name, a in (("probes", p), ("gallery", g)):
        if a.size and not np.isfinite(a).all():
            raise InvalidInputError(f"{name} contain NaN or inf; check the embeddings")
    s = normalize_rows(p) @ normalize_rows(g).T
    _, codes = np.unique(lab, return_inverse=True)
    same = codes[:, None] == codes[None, :]
    off = ~np.eye(len(codes), dtype=bool)
    genuine = s[same & off]
    if genuine.size == 0:
        raise InvalidInputError("no genuine pair: give at least one identity with two images")
    return tar_from_scores(genuine, s[~same], fars)


@dataclass(frozen=True)
class GallerySplit:
    """The 1:N layout of a set of test images (indices into the image arrays).

    Attributes
    ----------
    gallery : ndarray of int
        One template per enrolled identity: the first image (in id order) of every identity with
        two or more images, plus every other single-image identity as a distractor.
    mated : ndarray of int
        The remaining images of the enrolled multi-image identities (mated probes).
    nonmated : ndarray of int
        The single-image identities not enrolled (non-mated probes, for FPIR).
    """

    gallery: np.ndarray
    mated: np.ndarray
    nonmated: np.ndarray

    @property
    def probes(self) -> np.ndarray:
        """Mated then non-mated probe indices."""
        return np.concatenate([self.mated, self.nonmated])


def gallery_split(labels: Sequence | np.ndarray) -> GallerySplit:
    """Split images into gallery, mated probes and non-mated probes by identity.

    Parameters
    ----------
    labels : array-like of shape (n,)
        Identity of each image, images in a fixed (e.g. id-sorted) order.

    Returns
    -------
    GallerySplit

    Raises
    ------
    InvalidInputError
        No identity with two images (no mated probe).

    Examples
    --------
    >>> s = gallery_split(["a", "a", "b", "c", "d"])
    >>> s.gallery.tolist(), s.mated.tolist(), s.nonmated.tolist()
    ([0, 2, 4], [1], [3])
    """
    lab = np.asarray(labels)
    seen: dict[object, int] = {}
    counts: dict[object, int] = {}
    for x in lab.tolist():
        counts[x] = counts.get(x, 0) + 1
    gallery: list[int] = []
    mated: list[int] = []
    nonmated: list[int] = []
    n_single = 0
    for i, x in enumerate(lab.tolist()):
        if counts[x] >= 2:
            (mated if x in seen else gallery).append(i)
            seen.setdefault(x, i)
        else:
            (gallery if n_single % 2 == 0 else nonmated).append(i)
            n_single += 1
    if not mated:
        raise InvalidInputError("no identity with two images: 1:N needs mated probes")
    return GallerySplit(
        np.array(gallery, dtype=np.int64),
        np.array(mated, dtype=np.int64),
        np.array(nonmated, dtype=np.int64),
    )


@dataclass(frozen=True)
class IdentificationMetrics:
    """Closed- and open-set 1:N results of one search.

    Attributes
    ----------
    rank1, rank5 : float
        Closed-set identification rates of the mated probes.
    tpir : float
        Open-set TPIR (DIR at rank 1) at ``fpir``; NaN without non-mated probes.
    fpir : float
    result : IdentificationResult
        Per-probe ranks and scores (for negative flips).
    """

    rank1: float
    rank5: float
    tpir: float
    fpir: float
    result: IdentificationResult


def identification_metrics(
    probes: np.ndarray,
    gallery: np.ndarray,
    probe_labels: Sequence | np.ndarray,
    gallery_labels: Sequence | np.ndarray,
    fpir: float = 1e-2,
) -> IdentificationMetrics:
    """Rank-1, rank-5 and TPIR at ``fpir`` of ``probes`` searched against ``gallery``.

    Raises
    ------
    DimensionError, InvalidInputError
        As :func:`facebridge.metrics.identification.search`.

    Examples
    --------
    >>> g = np.eye(3)
    >>> m = identification_metrics(g[:2] + 0.1, g, ["a", "b"], ["a", "b", "c"])
    >>> m.rank1
    1.0
    """
    res = search(probes, gallery, probe_labels, gallery_labels)
    tpir = dir_at_fpir(res, fpir=fpir, rank=1).dir if res.n_nonmated else float("nan")
    return IdentificationMetrics(res.rate(1), res.rate(min(5, res.n_gallery)), tpir, fpir, res)


def negative_flip_rate(
    reference: IdentificationResult | np.ndarray, new: IdentificationResult | np.ndarray
) -> float:
    """Fraction of mated probes right at rank 1 under ``reference`` and wrong under ``new``.

    Parameters
    ----------
    reference, new : IdentificationResult or int ndarray of ranks
        The same probes searched by both systems (rank 0 marks a non-mated probe).

    Raises
    ------
    DimensionError
        Different probe sets.

    Examples
    --------
    >>> negative_flip_rate(np.array([1, 1, 2, 0]), np.array([1, 3, 1, 0]))
    0.3333333333333333
    """
    a = reference.ranks if isinstance(reference, IdentificationResult) else np.asarray(reference)
    b = new.ranks if isinstance(new, IdentificationResult) else np.asarray(new)
    if a.shape != b.shape or not np.array_equal(a > 0, b > 0):
        raise DimensionError("negative flips need the same probes (and mated set) in both searches")
    mated = a > 0
    if not mated.any():
        raise InvalidInputError("no mated probe: negative flips need enrolled probe identities")
    return float(np.count_nonzero((a == 1) & (b != 1) & mated) / np.count_nonzero(mated))
