"""Representation-similarity indices between two embedding spaces of the same items.

Each function takes two arrays whose *rows correspond* (row ``i`` of ``X`` and row ``i`` of ``Y``
are the same image embedded by two models); the dimensions may differ (512 against 128 is normal).

* :func:`linear_cka` -- linear centred kernel alignment (Kornblith et al., 2019), in ``[0, 1]``,
  invariant to orthogonal transforms and isotropic scaling of either space.
* :func:`svcca` -- singular-vector CCA (Raghu et al., 2017): keep the top singular directions of
  each centred space, then the mean canonical correlation between them, in ``[0, 1]``.
* :func:`procrustes_distance` -- the orthogonal-Procrustes shape distance (Williams et al., 2021,
  "Generalized shape metrics"): both spaces centred and scaled to unit Frobenius norm, the smaller
  one zero-padded, ``min_Q ||X - Y Q||_F`` over orthogonal ``Q``; 0 for rotated / scaled copies.
* :func:`canonical_correlations` -- all canonical correlations (descending), the building block.

These are descriptive indices, not fitted maps: compute them on any set of items both models
embedded (facebridge's ``equivalence`` uses every protocol image both models embedded).

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 8))
>>> Q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
>>> round(linear_cka(X, 3.0 * X @ Q), 6), round(procrustes_distance(X, X @ Q), 6)
(1.0, 0.0)
"""

from __future__ import annotations

import numpy as np

from facebridge.errors import DimensionError, InvalidInputError

__all__ = [
    "canonical_correlations",
    "linear_cka",
    "procrustes_distance",
    "svcca",
]


def _pair(X: np.ndarray, Y: np.ndarray, *, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate two row-corresponding 2-D arrays; return float64 copies centred per column."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2:
        raise DimensionError(
            f"expected two 2-D arrays (n, d_a) and (n, d_b), got shapes {X.shape} and {Y.shape}; "
            "pass one embedding per row"
        )
    if X.shape[0] != Y.shape[0]:
        raise DimensionError(
            f"rows must correspond: X has {X.shape[0]} rows, Y has {Y.shape[0]}; "
            "embed the same items with both models"
        )
    if X.shape[0] < min_rows:
        raise InvalidInputError(
            f"need at least {min_rows} corresponding rows, got {X.shape[0]}; pass more items"
        )
    if X.shape[1] == 0 or Y.shape[1] == 0:
        raise DimensionError(f"zero-width input: shapes {X.shape} and {Y.shape}; pass embeddings")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise InvalidInputError("X or Y holds NaN or infinite values; drop or re-embed those rows")
    return X - X.mean(axis=0), Y - Y.mean(axis=0)


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA between two row-corresponding embedding sets.

    ``CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred ``Xc``, ``Yc``
    (the feature-space form of HSIC with linear kernels; equal to the Gram-matrix form
    ``tr(K H L H) / sqrt(tr(K H K H) tr(L H L H))``).

    Parameters
    ----------
    X : ndarray, shape (n, d_a)
    Y : ndarray, shape (n, d_b)

    Returns
    -------
    float
        In ``[0, 1]``; 1 when ``Y = s X Q + b`` for orthogonal ``Q`` and scalar ``s != 0``.

    Raises
    ------
    DimensionError
        Arrays not 2-D or rows that do not correspond.
    InvalidInputError
        Fewer than 2 rows, NaN/inf, or a constant (zero-variance) input.
    """
    Xc, Yc = _pair(X, Y)
    # Scale first so that the fourth powers below do not overflow or underflow.
    nx, ny = np.linalg.norm(Xc), np.linalg.norm(Yc)
    if nx == 0.0 or ny == 0.0:
        raise InvalidInputError("X or Y is constant (zero variance); CKA is undefined for it")
    Xc, Yc = Xc / nx, Yc / ny
    cross = np.linalg.norm(Yc.T @ Xc) ** 2
    return float(cross / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)))


def _orthonormal_basis(Z: np.ndarray, rtol: float) -> np.ndarray:
    """Orthonormal basis (n, r) of the column space of a centred ``Z``, dropping null directions."""
    U, s, _ = np.linalg.svd(Z, full_matrices=False)
    if s.size == 0 or s[0] == 0.0:
        raise InvalidInputError("an input is constant (zero variance); CCA is undefined for it")
    return U[:, s > rtol * s[0]]


def canonical_correlations(
    X: np.ndarray, Y: np.ndarray, *, reg: float = 0.0, rtol: float = 1e-10
) -> np.ndarray:
    """Canonical correlations between two row-corresponding embedding sets, descending.

    Without regularisation these are the singular values of ``Qx^T Qy`` where ``Qx`` and ``Qy`` are
    orthonormal bases of the centred column spaces (Bjorck & Golub); directions whose singular
    value is below ``rtol`` times the largest are dropped as null.  With ``reg > 0`` each covariance
    is shrunk, ``C <- C + reg * mean(diag C) * I`` (canonical ridge, Vinod 1976),
    which can only lower the correlations.

    Parameters
    ----------
    X : ndarray, shape (n, d_a)
    Y : ndarray, shape (n, d_b)
    reg : float >= 0
        Covariance shrinkage; 0 gives classical CCA.
    rtol : float
        Relative singular-value cut-off for null directions.

    Returns
    -------
    ndarray, shape (k,)
        ``k = min(rank X, rank Y)`` correlations in ``[0, 1]``, descending.

    Raises
    ------
    DimensionError, InvalidInputError
        As :func:`linear_cka`; ``reg`` negative or not finite; with ``reg > 0``, a constant
        ``X`` or ``Y`` (no variance to whiten).
    """
    if not (np.isfinite(reg) and reg >= 0.0):
        raise InvalidInputError(f"reg must be a number >= 0, got {reg}; 0 means no regularisation")
    Xc, Yc = _pair(X, Y)
    if reg == 0.0:
        Qx = _orthonormal_basis(Xc, rtol)
        Qy = _orthonormal_basis(Yc, rtol)
        rho = np.linalg.svd(Qx.T @ Qy, compute_uv=False)
        return np.clip(rho, 0.0, 1.0)
    n = Xc.shape[0]
    for name, Z in (("X", Xc), ("Y", Yc)):
        if not np.any(Z):
            raise InvalidInputError(
                f"{name} is constant (every row the same): no direction to correlate; "
                f"pass varying embeddings"
            )
    Wx = _inv_sqrt_shrunk(Xc.T @ Xc / n, reg)
    Wy = _inv_sqrt_shrunk(Yc.T @ Yc / n, reg)
    rho = np.linalg.svd(Wx @ (Xc.T @ Yc / n) @ Wy, compute_uv=False)
    return np.clip(rho, 0.0, 1.0)


def _inv_sqrt_shrunk(C: np.ndarray, reg: float) -> np.ndarray:
    """``(C + reg * mean(diag C) I)^(-1/2)`` for a symmetric PSD ``C`` (d, d)."""
    d = C.shape[0]
    Cs = C + reg * (np.trace(C) / d) * np.eye(d)
    w, V = np.linalg.eigh(Cs)
    w = np.maximum(w, w.max() * 1e-12)
    return (V / np.sqrt(w)) @ V.T


def _top_directions(Z: np.ndarray, keep: int | float) -> np.ndarray:
    """Project centred ``Z`` on its top singular directions: a count, or a variance fraction."""
    U, s, _ = np.linalg.svd(Z, full_matrices=False)
    if isinstance(keep, float):
        var = np.cumsum(s**2) / np.sum(s**2)
        k = int(np.searchsorted(var, keep - 1e-12) + 1)
    else:
        k = keep
    k = max(1, min(k, s.size))
    return U[:, :k] * s[:k]


def svcca(X: np.ndarray, Y: np.ndarray, *, keep: int | float = 0.99) -> float:
    """SVCCA similarity: mean canonical correlation between the top singular directions.

    Step 1 (SV): centre each space and keep its top singular directions -- ``keep`` directions when
    an integer >= 1, or the fewest that explain a ``keep`` fraction of the variance when in (0, 1)
    (Raghu et al. use 0.99).  Step 2 (CCA): canonical correlations between the two reduced spaces;
    return their mean.

    Parameters
    ----------
    X : ndarray, shape (n, d_a)
    Y : ndarray, shape (n, d_b)
    keep : int >= 1 or float in (0, 1)
        Directions (or variance fraction) kept per space.

    Returns
    -------
    float
        In ``[0, 1]``; 1 when one space is an invertible linear transform of the other
        (up to the kept directions).

    Raises
    ------
    DimensionError, InvalidInputError
        As :func:`linear_cka`; ``keep`` not a count >= 1 or a fraction in (0, 1).
    """
    if isinstance(keep, bool) or not ((keep >= 1 and float(keep).is_integer()) or 0 < keep < 1):
        raise InvalidInputError(
            f"keep must be a count >= 1 or a variance fraction in (0, 1), got {keep!r}; e.g. 0.99"
        )
    Xc, Yc = _pair(X, Y)
    if np.linalg.norm(Xc) == 0.0 or np.linalg.norm(Yc) == 0.0:
        raise InvalidInputError("X or Y is constant (zero variance); SVCCA is undefined for it")
    keep_arg: int | float = int(keep) if keep >= 1 else float(keep)
    Xr = _top_directions(Xc, keep_arg)
    Yr = _top_directions(Yc, keep_arg)
    return float(np.mean(canonical_correlations(Xr, Yr)))


def procrustes_distance(X: np.ndarray, Y: np.ndarray, *, angular: bool = False) -> float:
    """Orthogonal-Procrustes shape distance between two row-corresponding embedding sets.

    Both sets are centred and scaled to unit Frobenius norm; the narrower one is zero-padded to the
    wider dimension.  The Euclidean form is ``min_Q ||X - Y Q||_F = sqrt(2 - 2 ||X^T Y||_*)``
    (``||.||_*`` the nuclear norm), in ``[0, sqrt(2)]``; the angular form is
    ``arccos(||X^T Y||_*)`` in ``[0, pi/2]`` and is a metric (Williams et al., 2021).

    Parameters
    ----------
    X : ndarray, shape (n, d_a)
    Y : ndarray, shape (n, d_b)
    angular : bool
        Return the angular (arccos) form instead of the Euclidean residual.

    Returns
    -------
    float
        0 when ``Y = s X Q + b`` with orthogonal ``Q`` and ``s > 0``.

    Raises
    ------
    DimensionError, InvalidInputError
        As :func:`linear_cka`.
    """
    Xc, Yc = _pair(X, Y)
    nx, ny = np.linalg.norm(Xc), np.linalg.norm(Yc)
    if nx == 0.0 or ny == 0.0:
        raise InvalidInputError(
            "X or Y is constant (zero variance); the Procrustes distance is undefined"
        )
    nuc = float(np.sum(np.linalg.svd((Xc / nx).T @ (Yc / ny), compute_uv=False)))
    nuc = min(max(nuc, 0.0), 1.0)
    if angular:
        return float(np.arccos(nuc))
    return float(np.sqrt(max(2.0 - 2.0 * nuc, 0.0)))
