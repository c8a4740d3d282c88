"""Linear maps between embedding spaces: the exact algebra (paper Sections 3.3 and 4.2).

A map sends a row vector ``x`` of the source space (dimension ``d_a``) to ``x @ weight + bias`` in
the target space (dimension ``d_b``).  Every ``fit_*`` function takes ``X`` (n, d_a) and ``Y``
(n, d_b) with corresponding rows, never modifies them, computes in float64 and returns a
:class:`LinearMap`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

from facebridge.errors import DimensionError, InvalidInputError

__all__ = [
    "LinearMap",
    "check_rank",
    "fit_low_rank",
    "fit_lstsq",
    "fit_procrustes",
    "fit_ridge",
]


# --------------------------------------------------------------------------- validation helpers


def _as_float_matrix(A: Any, name: str) -> np.ndarray:
    """Return ``A`` as a 2-D float64 array with finite entries (a copy only when needed)."""
    try:
        arr = np.asarray(A)
    except Exception as exc:  # ragged lists and the like
        raise InvalidInputError(
            f"{name} must be a 2-D numeric array, got an object numpy cannot convert ({exc}); "
            f"pass a rectangular float array"
        ) from exc
    if arr.dtype.kind not in "fiu":
        raise InvalidInputError(
            f"{name} must hold real numbers, got dtype {arr.dtype}; convert it with "
            f"np.asarray({name}, dtype=float)"
        )
    if arr.ndim != 2:
        raise DimensionError(
            f"{name} must be 2-D (n_samples, dim), got shape {arr.shape}; "
            f"reshape a single vector with {name}.reshape(1, -1)"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidInputError(
            f"{name} must have at least one row and one column, got shape {arr.shape}; "
            f"pass non-empty embeddings"
        )
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(bad.sum()) - n_nan
        raise InvalidInputError(
            f"{name} must be finite, got {n_nan} NaN and {n_inf} inf entries in "
            f"{int(bad.any(axis=1).sum())} rows; drop or re-extract those rows"
        )
    return arr


def _check_pair(X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    Xa = _as_float_matrix(X, "X")
    Ya = _as_float_matrix(Y, "Y")
    if Xa.shape[0] != Ya.shape[0]:
        raise DimensionError(
            f"X and Y must have the same number of rows (corresponding pairs), got "
            f"{Xa.shape[0]} and {Ya.shape[0]}; pass the source and target embeddings of the same items"
        )
    return Xa, Ya


def _check_alpha(alpha: float) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"alpha must be a number >= 0, got {alpha!r}") from exc
    if not np.isfinite(a) or a < 0:
        raise InvalidInputError(
            f"alpha must be a finite number >= 0, got {alpha!r}; use alpha=0 for no regularisation"
        )
    return a


def check_rank(rank: Any, d_a: int, d_b: int) -> int:
    """Validate a truncation rank against ``min(d_a, d_b)``; return it as ``int``.

    Raises
    ------
    InvalidInputError
        If ``rank`` is not an integer in ``[1, min(d_a, d_b)]``.
    """
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)):
        raise InvalidInputError(f"rank must be an integer, got {rank!r}; pass e.g. rank=64")
    top = min(d_a, d_b)
    if not 1 <= int(rank) <= top:
        raise InvalidInputError(
            f"rank must be in [1, min(d_a, d_b)] = [1, {top}] for a ({d_a}, {d_b}) map, "
            f"got {rank}; choose a rank <= {top}"
        )
    return int(rank)


def _centre(
    X: np.ndarray, Y: np.ndarray, fit_intercept: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if fit_intercept:
        x_mean = X.mean(axis=0)
        y_mean = Y.mean(axis=0)
        return X - x_mean, Y - y_mean, x_mean, y_mean
    return X, Y, np.zeros(X.shape[1]), np.zeros(Y.shape[1])


# --------------------------------------------------------------------------- LinearMap


@dataclass(frozen=True)
class LinearMap:
    """An affine map ``x -> x @ weight + bias`` from a ``d_a``- to a ``d_b``-dimensional space.

    Parameters
    ----------
    weight : ndarray of shape (d_a, d_b)
        The linear part (the paper's ``M``).
    bias : ndarray of shape (d_b,)
        Added after the product; zeros for a purely linear map.

    Both arrays are stored as read-only float64 copies, so a map never changes after it is made.

    Raises
    ------
    DimensionError
        If ``weight`` is not 2-D or ``bias`` is not of shape ``(d_b,)``.
    InvalidInputError
        If either array has NaN or inf entries.

    Examples
    --------
    >>> import numpy as np
    >>> m = LinearMap(np.eye(2), np.array([1.0, 0.0]))
    >>> m.apply(np.array([[1.0, 2.0]]))
    array([[2., 2.]])
    """

    weight: np.ndarray
    bias: np.ndarray

    def __post_init__(self) -> None:
        w = np.array(_as_float_matrix(self.weight, "weight"), dtype=np.float64, copy=True)
        b = np.array(self.bias, dtype=np.float64, copy=True)
        if b.shape != (w.shape[1],):
            raise DimensionError(
                f"bias must have shape (d_b,) = ({w.shape[1]},) for a weight of shape {w.shape}, "
                f"got {b.shape}; pass one bias per target dimension"
            )
        if not np.isfinite(b).all():
            raise InvalidInputError(
                f"bias must be finite, got {int((~np.isfinite(b)).sum())} NaN/inf entries; refit the map"
            )
        w.flags.writeable = False
        b.flags.writeable = False
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)

    @property
    def d_a(self) -> int:
        """Source dimension."""
        return int(self.weight.shape[0])

    @property
    def d_b(self) -> int:
        """Target dimension."""
        return int(self.weight.shape[1])

    @property
    def rank(self) -> int:
        """Numerical rank of ``weight`` (``numpy.linalg.matrix_rank``'s default tolerance)."""
        return int(np.linalg.matrix_rank(self.weight))

    def singular_values(self) -> np.ndarray:
        """Singular values of ``weight``, descending, shape ``(min(d_a, d_b),)``."""
        return np.asarray(scipy.linalg.svd(self.weight, compute_uv=False))

    def apply(self, X: Any) -> np.ndarray:
        """Map rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n, d_a) or (d_a,)

        Returns
        -------
        ndarray of shape (n, d_b) (or (d_b,) for a single vector), float64.

        Raises
        ------
        DimensionError
            If the last dimension of ``X`` is not ``d_a``.
        """
        arr = np.asarray(X)
        if arr.ndim not in (1, 2) or arr.shape[-1] != self.d_a:
            raise DimensionError(
                f"X must have shape (n, {self.d_a}) to be mapped by a ({self.d_a} -> {self.d_b}) map, "
                f"got {arr.shape}; check which model's embeddings you passed"
            )
        return np.asarray(arr @ self.weight + self.bias)

    __call__ = apply

    def truncate(self, rank: int) -> LinearMap:
        """Return the map whose weight is the best rank-``rank`` approximation of ``weight``.

        Keeps the ``rank`` largest singular values of the SVD ``weight = U S V^T`` (Eckart-Young,
        paper Section 4.2); the bias is kept unchanged.

        Raises
        ------
        InvalidInputError
            If ``rank`` is not an integer in ``[1, min(d_a, d_b)]``.
        """
        k = check_rank(rank, self.d_a, self.d_b)
        U, s, Vt = scipy.linalg.svd(self.weight, full_matrices=False)
        return LinearMap((U[:, :k] * s[:k]) @ Vt[:k], self.bias)


# --------------------------------------------------------------------------- fits


def fit_ridge(X: Any, Y: Any, alpha: float = 1.0, fit_intercept: bool = True) -> LinearMap:
    """Ridge regression ``min_W ||Xc W - Yc||_F^2 + alpha ||W||_F^2`` (the paper's Eq. 2).

    Equal to ``sklearn.linear_model.Ridge(alpha, fit_intercept=fit_intercept).fit(X, Y)`` (to
    1e-6): with an intercept, ``X`` and ``Y`` are centred, ``W`` is solved on the centred data and
    ``bias = mean(Y) - mean(X) @ W``; the intercept is not penalised.  When ``n >= d_a`` the primal
    ``(d_a, d_a)`` system ``(Xc^T Xc + alpha I) W = Xc^T Yc`` is solved; otherwise the dual
    ``(n, n)`` system ``W = Xc^T (Xc Xc^T + alpha I)^{-1} Yc``.  Both are exact.  ``alpha == 0`` is
    :func:`fit_lstsq` (the minimum-norm least-squares solution), which stays defined when ``Xc`` is
    rank-deficient (where sklearn's Cholesky path would return an ill-conditioned answer).

    Parameters
    ----------
    X : array-like of shape (n, d_a)
        Source embeddings.
    Y : array-like of shape (n, d_b)
        Target embeddings of the same items (row ``i`` corresponds to row ``i`` of ``X``).
    alpha : float, default 1.0
        Regularisation strength, ``>= 0``.
    fit_intercept : bool, default True
        Learn a bias (centre the data); otherwise ``bias`` is zero.

    Returns
    -------
    LinearMap with weight (d_a, d_b) and bias (d_b,).

    Raises
    ------
    DimensionError
        If ``X`` or ``Y`` is not 2-D or their row counts differ.
    InvalidInputError
        If either is empty or has NaN/inf, or ``alpha < 0``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> m = fit_ridge(X, X @ np.diag([1.0, 2.0, 3.0]) + 1.0, alpha=1e-9)
    >>> np.round(np.diag(m.weight), 6), np.round(m.bias, 6)
    (array([1., 2., 3.]), array([1., 1., 1.]))
    """
    Xa, Ya = _check_pair(X, Y)
    a = _check_alpha(alpha)
    Xc, Yc, x_mean, y_mean = _centre(Xa, Ya, fit_intercept)
    n, d_a = Xc.shape
    if a == 0:
        W = _min_norm_lstsq(Xc, Yc)
        return LinearMap(W, y_mean - x_mean @ W)
    # numpy's LAPACK releases the GIL (scipy's wrappers hold it, which stalls worker threads);
    # LU on this symmetric positive definite system is as accurate here as Cholesky
    try:
        if n >= d_a:
            G = Xc.T @ Xc
            G.flat[:: d_a + 1] += a
            W = np.linalg.solve(G, Xc.T @ Yc)
        else:
            K = Xc @ Xc.T
            K.flat[:: n + 1] += a
            W = Xc.T @ np.linalg.solve(K, Yc)
    except np.linalg.LinAlgError:  # singular through round-off
        W = _ridge_svd(Xc, Yc, a)
    return LinearMap(W, y_mean - x_mean @ W)


def _ridge_svd(Xc: np.ndarray, Yc: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge through the SVD (a fallback for numerically indefinite systems)."""
    U, s, Vt = scipy.linalg.svd(Xc, full_matrices=False)
    return np.asarray((Vt.T * (s / (s**2 + alpha))) @ (U.T @ Yc))


def _min_norm_lstsq(Xc: np.ndarray, Yc: np.ndarray) -> np.ndarray:
    """``pinv(Xc) @ Yc`` through the SVD; singular values below ``max(n, d) * eps * s_max`` (the
    ``numpy.linalg.matrix_rank`` tolerance) are treated as zero."""
    U, s, Vt = scipy.linalg.svd(Xc, full_matrices=False, check_finite=False)
    tol = max(Xc.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0)
    keep = s > tol
    return np.asarray((Vt[keep].T / s[keep]) @ (U[:, keep].T @ Yc))


def fit_lstsq(X: Any, Y: Any, fit_intercept: bool = True) -> LinearMap:
    """Ordinary least squares ``min_W ||Xc W - Yc||_F``, the minimum-norm solution when
    ``Xc`` is rank-deficient (e.g. ``n <= d_a``): ``W = pinv(Xc) @ Yc``, singular values below
    ``max(n, d_a) * eps * s_max`` treated as zero.

    Equal to ``sklearn.linear_model.LinearRegression`` and to ``fit_ridge(..., alpha=0)`` when
    ``Xc`` has full column rank.

    Parameters
    ----------
    X : array-like of shape (n, d_a)
    Y : array-like of shape (n, d_b)
    fit_intercept : bool, default True

    Returns
    -------
    LinearMap with weight (d_a, d_b) and bias (d_b,).

    Raises
    ------
    DimensionError, InvalidInputError
        As :func:`fit_ridge`.
    """
    Xa, Ya = _check_pair(X, Y)
    Xc, Yc, x_mean, y_mean = _centre(Xa, Ya, fit_intercept)
    W = _min_norm_lstsq(Xc, Yc)
    return LinearMap(W, y_mean - x_mean @ W)


def fit_procrustes(X: Any, Y: Any, scale: bool = False, fit_intercept: bool = True) -> LinearMap:
    """Orthogonal Procrustes: the (semi-)orthogonal ``W`` maximising ``trace(W^T Xc^T Yc)``.

    ``W = U V^T`` from the thin SVD ``Xc^T Yc = U S V^T``.  When ``d_a == d_b``, ``W`` is orthogonal,
    minimises ``||Xc W - Yc||_F`` and equals ``scipy.linalg.orthogonal_procrustes(Xc, Yc)[0]``.
    When ``d_a < d_b`` its rows are orthonormal (``W W^T = I``), ``||Xc W||`` is constant and ``W``
    again minimises the residual.  When ``d_a > d_b`` (e.g. 512 -> 128) its columns are
    orthonormal (``W^T W = I``); it then minimises the residual only if ``Xc`` is isotropic
    (``Xc^T Xc`` proportional to ``I``), otherwise it is the best-correlated projection.  With
    ``scale=True`` an isotropic factor ``s = trace(S) / ||Xc W||_F^2`` (the least-squares scale for
    that ``W``; ``||Xc W|| = ||Xc||`` when ``W`` is orthogonal, as in Umeyama's method) is folded
    into the weight (``s = 1`` when ``Xc W`` is all zeros); otherwise ``s = 1``.  ``W`` maximises
    ``trace(W^T Xc^T Yc)`` and so is optimal for every ``s > 0``: the pair is the joint optimum.  With ``fit_intercept`` the data are
    centred and ``bias = mean(Y) - s mean(X) @ W``.

    Parameters
    ----------
    X : array-like of shape (n, d_a)
    Y : array-like of shape (n, d_b)
    scale : bool, default False
    fit_intercept : bool, default True

    Returns
    -------
    LinearMap whose weight is ``s W`` (d_a, d_b) and bias (d_b,).

    Raises
    ------
    DimensionError, InvalidInputError
        As :func:`fit_ridge`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(20, 2))
    >>> R = np.array([[0.0, -1.0], [1.0, 0.0]])
    >>> np.allclose(fit_procrustes(X, X @ R).weight, R)
    True
    """
    Xa, Ya = _check_pair(X, Y)
    Xc, Yc, x_mean, y_mean = _centre(Xa, Ya, fit_intercept)
    U, s, Vt = scipy.linalg.svd(Xc.T @ Yc, full_matrices=False)
    W = U @ Vt
    if scale:
        XW = Xc @ W
        denom = float(np.sum(XW * XW))
        W = W * (float(s.sum()) / denom if denom > 0 else 1.0)
    return LinearMap(W, y_mean - x_mean @ W)


def fit_low_rank(
    X: Any, Y: Any, rank: int, alpha: float = 1.0, fit_intercept: bool = True
) -> LinearMap:
    """Ridge map truncated to rank ``rank``: ``fit_ridge(X, Y, alpha, fit_intercept).truncate(rank)``.

    This is the paper's Section 4.2 ablation (SVD of the fitted map, keep the largest singular
    values); it is not the reduced-rank-regression optimum.

    Parameters
    ----------
    X : array-like of shape (n, d_a)
    Y : array-like of shape (n, d_b)
    rank : int in [1, min(d_a, d_b)]
    alpha : float, default 1.0
    fit_intercept : bool, default True

    Raises
    ------
    DimensionError, InvalidInputError
        As :func:`fit_ridge`; ``InvalidInputError`` for a rank outside ``[1, min(d_a, d_b)]``
        (checked before fitting).
    """
    Xa, Ya = _check_pair(X, Y)
    check_rank(rank, Xa.shape[1], Ya.shape[1])
    return fit_ridge(Xa, Ya, alpha=alpha, fit_intercept=fit_intercept).truncate(rank)
