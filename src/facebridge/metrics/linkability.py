r"""Linkability of templates from mated / non-mated comparison scores (ISO/IEC 24745, 30136).

Two templates are *linked* when an adversary can tell, from their comparison score ``s``, that
they belong to the same subject (hypothesis ``H_m``, *mated*) rather than to different subjects
(``H_nm``, *non-mated*).  Implemented from the papers' equations:

**Gomez-Barrero et al., "General framework to evaluate unlinkability in biometric template
protection systems", IEEE TIFS 13(6), 2018.**  With the likelihood ratio
``LR(s) = p(s | H_m) / p(s | H_nm)`` and the prior ratio ``omega = p(H_m) / p(H_nm)``, Bayes gives
``p(H_m | s) = LR(s) omega / (1 + LR(s) omega)``; the *local* measure is

.. math:: D_\leftrightarrow(s) = p(H_m|s) - p(H_{nm}|s) = \frac{LR(s)\,\omega - 1}{LR(s)\,\omega + 1}

where ``LR(s) omega > 1`` and ``0`` elsewhere, and the *global* measure is its mean over the mated
scores, :math:`D^{sys}_\leftrightarrow = \int p(s|H_m)\, D_\leftrightarrow(s)\, ds`, in ``[0, 1]``
(0: fully unlinkable, 1: fully linkable).

**Otroshi Shahreza, Shkel and Marcel, "Measuring linkability of protected biometric templates
using maximal leakage", IEEE TIFS 18, 2023.**  The maximal leakage from the binary hypothesis
``H`` to the score is :math:`\mathcal{L}(H \to S) = \log_2 \int \max_h p(s|h)\, ds`; in bits it lies
in ``[0, 1]`` (a binary secret leaks at most one bit) and equals ``log2(1 + TV)`` where ``TV`` is the
total-variation distance between the mated and non-mated score distributions.  It does not
depend on the prior ``omega``.

Density estimates (``method``):

* ``"hist"`` (default): ``n_bins`` equal-width bins spanning ``[min, max]`` of the pooled scores
  (the reference choice of both papers); every integral is then an exact finite sum over bins
  and a bin holding mated but no non-mated scores has ``LR = inf`` and ``D = 1``.  By default
  ``n_bins = sqrt(min(n_mated, n_nonmated))`` clipped to ``[10, 100]`` (:func:`default_bins`),
  which keeps the small-sample bias (below) modest.
* ``"kde"``: a binned Gaussian kernel density estimate of each sample (Silverman's bandwidth
  ``0.9 min(sd, IQR / 1.34) n^(-1/5)`` unless ``bandwidth`` is given): the scores are counted on a
  fine grid (spacing about a quarter bandwidth, extended by four bandwidths on each side) and
  the counts are convolved with the Gaussian kernel; integrals use the grid spacing.

Rescaling the scores: both measures are functionals of the likelihood ratio, so in theory they are
invariant under any strictly monotone transformation of the score (increasing *or* decreasing:
neither assumes that mated scores are the higher ones).  The histogram estimate is invariant
exactly (up to floating-point rounding at bin edges) under affine maps ``a s + b`` with ``a != 0``,
because the bins follow ``[min, max]``; under a non-linear monotone map the bins change, so the
estimate changes by the estimation error only.  The KDE estimate is affine invariant when the
bandwidth is the default rule.  Finite samples bias both measures upwards for identical
distributions (noise makes ``LR != 1`` in some bins); more scores or fewer bins reduce it.
Measured for two identical Gaussians with 200,000 non-mated scores: 635 mated scores give
``D_sys`` about 0.04 (default bins) and 0.03 (KDE); 3,000 give 0.02 and 0.01.  Compare a result
with a baseline computed on the same numbers of scores (the audit reports the unmapped attack).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facebridge.errors import InvalidInputError

__all__ = [
    "METHODS",
    "LinkabilityResult",
    "default_bins",
    "global_linkability",
    "local_linkability",
    "maximal_linkability",
    "score_densities",
    "unlinkability",
]

METHODS = ("hist", "kde")


@dataclass(frozen=True)
class LinkabilityResult:
    """Local and global linkability of one mated / non-mated score sample.

    Attributes
    ----------
    d_sys : float
        Global measure :math:`D^{sys}_\\leftrightarrow` in ``[0, 1]``.
    maximal_linkability : float
        Maximal leakage in bits, in ``[0, 1]``.
    grid : np.ndarray
        float64 ``(n,)``: score at the centre of each bin / grid point.
    local : np.ndarray
        float64 ``(n,)``: :math:`D_\\leftrightarrow(s)` at each grid point.
    mated_density, nonmated_density : np.ndarray
        float64 ``(n,)``: estimated ``p(s|H_m)`` and ``p(s|H_nm)`` (each integrates to 1).
    omega : float
        Prior ratio ``p(H_m) / p(H_nm)`` used for ``local`` and ``d_sys``.
    method : str
        ``"hist"`` or ``"kde"``.
    n_mated, n_nonmated : int
        Sample sizes.
    """

    d_sys: float
    maximal_linkability: float
    grid: np.ndarray
    local: np.ndarray
    mated_density: np.ndarray
    nonmated_density: np.ndarray
    omega: float
    method: str
    n_mated: int
    n_nonmated: int

    def to_dict(self) -> dict:
        """JSON-ready summary (the curves as lists)."""
        return {
            "d_sys": self.d_sys,
            "maximal_linkability": self.maximal_linkability,
            "omega": self.omega,
            "method": self.method,
            "n_mated": self.n_mated,
            "n_nonmated": self.n_nonmated,
            "grid": self.grid.tolist(),
            "local": self.local.tolist(),
            "mated_density": self.mated_density.tolist(),
            "nonmated_density": self.nonmated_density.tolist(),
        }


def _sample(name: str, x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size == 0:
        raise InvalidInputError(
            f"{name} scores are empty; pass at least one {name} comparison score"
        )
    if not np.all(np.isfinite(a)):
        raise InvalidInputError(f"{name} scores contain NaN or infinite values; drop them first")
    return a


def _silverman(x: np.ndarray) -> float:
    sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
    iqr = float(np.subtract(*np.percentile(x, [75, 25])))
    spread = min(sd, iqr / 1.34) if iqr > 0 else sd
    if spread <= 0:
        spread = max(abs(float(x.mean())), 1.0) * 1e-3
    return 0.9 * spread * x.size ** (-0.2)


def default_bins(n_mated: int, n_nonmated: int) -> int:
    """Default number of histogram bins: ``sqrt(min(n_mated, n_nonmated))`` clipped to [10, 100]."""
    return int(np.clip(int(np.sqrt(min(n_mated, n_nonmated))), 10, 100))


def _binned_kde(x: np.ndarray, edges: np.ndarray, bw: float) -> np.ndarray:
    """Gaussian KDE of ``x`` evaluated at bin centres via linear binning and a convolution."""
    n_bins = edges.size - 1
    width = edges[1] - edges[0]
    counts, _ = np.histogram(x, bins=edges)
    half = int(np.ceil(4.0 * bw / width))
    offsets = np.arange(-half, half + 1) * width
    kernel = np.exp(-0.5 * (offsets / bw) ** 2)
    dens = np.convolve(counts.astype(np.float64), kernel, mode="full")[half : half + n_bins]
    total = dens.sum() * width
    return dens / total if total > 0 else dens


def score_densities(
    mated: np.ndarray,
    nonmated: np.ndarray,
    *,
    method: str = "hist",
    n_bins: int | None = None,
    bandwidth: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimate ``p(s|H_m)`` and ``p(s|H_nm)`` on a common grid.

    Parameters
    ----------
    mated, nonmated : np.ndarray
        ``(n_m,)`` and ``(n_nm,)`` comparison scores.
    method : {"hist", "kde"}
        Density estimate, see the module docstring.
    n_bins : int, optional
        Number of histogram bins / grid points (default :func:`default_bins`) (``>= 2``; the KDE grid has at least 1024 points
        and at most 65536, spaced at most a quarter of the smaller bandwidth where possible).
    bandwidth : float, optional
        KDE bandwidth (same for both samples); default Silverman's rule per sample.

    Returns
    -------
    (edges, mated_density, nonmated_density)
        ``edges`` float64 ``(n + 1,)`` bin edges; the densities are float64 ``(n,)``, constant on
        each bin and integrating to 1 over it.

    Raises
    ------
    InvalidInputError
        Empty or non-finite scores, an unknown method, ``n_bins < 2`` or ``bandwidth <= 0``.
    """
    m = _sample("mated", mated)
    nm = _sample("non-mated", nonmated)
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {METHODS}, got {method!r}")
    if n_bins is None:
        n_bins = default_bins(m.size, nm.size)
    if n_bins < 2:
        raise InvalidInputError(f"n_bins must be >= 2, got {n_bins}")
    if bandwidth is not None and not bandwidth > 0:
        raise InvalidInputError(f"bandwidth must be positive, got {bandwidth}")
    lo = min(m.min(), nm.min())
    hi = max(m.max(), nm.max())
    if hi <= lo:  # all scores equal: one tiny interval
        pad = max(abs(lo), 1.0) * 1e-6
        lo, hi = lo - pad, hi + pad
    if method == "hist":
        edges = np.linspace(lo, hi, n_bins + 1)
        width = edges[1] - edges[0]
        pm = np.histogram(m, bins=edges)[0] / (m.size * width)
        pn = np.histogram(nm, bins=edges)[0] / (nm.size * width)
        return edges, pm, pn
    bw_m = bandwidth if bandwidth is not None else _silverman(m)
    bw_n = bandwidth if bandwidth is not None else _silverman(nm)
    pad = 4.0 * max(bw_m, bw_n)
    # grid fine enough that binning the points costs little against the kernel width
    n = int(min(2**16, max(n_bins, 1024, np.ceil((hi - lo + 2 * pad) / (min(bw_m, bw_n) / 4)))))
    edges = np.linspace(lo - pad, hi + pad, n + 1)
    return edges, _binned_kde(m, edges, bw_m), _binned_kde(nm, edges, bw_n)


def local_linkability(
    mated_density: np.ndarray, nonmated_density: np.ndarray, omega: float = 1.0
) -> np.ndarray:
    """Local measure :math:`D_\\leftrightarrow(s)` from the two densities at the same points.

    ``(LR omega - 1) / (LR omega + 1)`` where ``LR omega > 1``, else ``0``; a point with positive
    mated and zero non-mated density gives ``1``; a point where both vanish gives ``0``.

    Parameters
    ----------
    mated_density, nonmated_density : np.ndarray
        ``(n,)`` non-negative density values.
    omega : float
        Prior ratio ``p(H_m) / p(H_nm)`` (``> 0``; 1 = equal priors).

    Returns
    -------
    np.ndarray
        float64 ``(n,)`` in ``[0, 1]``.
    """
    if not omega > 0 or not np.isfinite(omega):
        raise InvalidInputError(f"omega (prior ratio p(H_m)/p(H_nm)) must be positive, got {omega}")
    pm = np.asarray(mated_density, dtype=np.float64)
    pn = np.asarray(nonmated_density, dtype=np.float64)
    if pm.shape != pn.shape:
        raise InvalidInputError(
            f"densities must have the same shape, got {pm.shape} and {pn.shape}; "
            "evaluate both on one grid"
        )
    a = omega * pm  # LR * omega = a / pn
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(a > pn, (a - pn) / (a + pn), 0.0)
    return np.nan_to_num(d, nan=0.0)


def unlinkability(
    mated: np.ndarray,
    nonmated: np.ndarray,
    *,
    omega: float = 1.0,
    method: str = "hist",
    n_bins: int | None = None,
    bandwidth: float | None = None,
) -> LinkabilityResult:
    """Gomez-Barrero et al. local and global linkability, plus maximal linkability.

    Parameters
    ----------
    mated, nonmated : np.ndarray
        ``(n_m,)`` and ``(n_nm,)`` comparison scores of mated and non-mated template pairs.
    omega : float
        Prior ratio ``p(H_m) / p(H_nm)``; default 1 (equal priors, as in the paper).
    method, n_bins, bandwidth
        Density estimate, see :func:`score_densities`.

    Returns
    -------
    LinkabilityResult

    Examples
    --------
    >>> r = unlinkability(np.array([0.8, 0.9]), np.array([0.1, 0.2]), n_bins=10)
    >>> round(r.d_sys, 3), round(r.maximal_linkability, 3)
    (1.0, 1.0)
    """
    edges, pm, pn = score_densities(
        mated, nonmated, method=method, n_bins=n_bins, bandwidth=bandwidth
    )
    width = edges[1] - edges[0]
    local = local_linkability(pm, pn, omega)
    d_sys = float(np.clip(np.sum(pm * local) * width, 0.0, 1.0))
    ml = _maximal_from_densities(pm, pn, width)
    return LinkabilityResult(
        d_sys=d_sys,
        maximal_linkability=ml,
        grid=0.5 * (edges[:-1] + edges[1:]),
        local=local,
        mated_density=pm,
        nonmated_density=pn,
        omega=float(omega),
        method=method,
        n_mated=int(np.size(mated)),
        n_nonmated=int(np.size(nonmated)),
    )


def global_linkability(
    mated: np.ndarray,
    nonmated: np.ndarray,
    *,
    omega: float = 1.0,
    method: str = "hist",
    n_bins: int | None = None,
    bandwidth: float | None = None,
) -> float:
    """Global measure :math:`D^{sys}_\\leftrightarrow` in ``[0, 1]``; see :func:`unlinkability`."""
    return unlinkability(
        mated, nonmated, omega=omega, method=method, n_bins=n_bins, bandwidth=bandwidth
    ).d_sys


def _maximal_from_densities(pm: np.ndarray, pn: np.ndarray, width: float) -> float:
    # int max(pm, pn) = 1 + TV for two densities; via TV it is exactly 0 for equal densities
    tv = 0.5 * float(np.sum(np.abs(pm - pn)) * width)
    return float(np.clip(np.log2(1.0 + tv), 0.0, 1.0))


def maximal_linkability(
    mated: np.ndarray,
    nonmated: np.ndarray,
    *,
    method: str = "hist",
    n_bins: int | None = None,
    bandwidth: float | None = None,
) -> float:
    """Maximal linkability (Otroshi Shahreza et al. 2023): ``log2 ∫ max(p_m, p_nm) ds`` in bits.

    Parameters
    ----------
    mated, nonmated : np.ndarray
        ``(n_m,)`` and ``(n_nm,)`` comparison scores.
    method, n_bins, bandwidth
        Density estimate, see :func:`score_densities`.

    Returns
    -------
    float
        In ``[0, 1]``: 0 when the two score distributions coincide, 1 when they do not overlap.

    Examples
    --------
    >>> maximal_linkability(np.array([0.0, 1.0]), np.array([0.0, 1.0]), n_bins=4)
    0.0
    """
    edges, pm, pn = score_densities(
        mated, nonmated, method=method, n_bins=n_bins, bandwidth=bandwidth
    )
    return _maximal_from_densities(pm, pn, edges[1] - edges[0])
