"""Ridge maps whose alpha is chosen by exact closed-form leave-one-out or generalised CV.

One eigendecomposition of the centred source Gram matrix (equivalently one SVD of the centred
``X``) gives the ridge solution and its cross-validation error for every alpha at once:

* ``method="gcv"`` -- generalised cross-validation (Golub, Heath & Wahba 1979),
  ``GCV(a) = mean(R_a^2) / (1 - tr(H_a) / n)^2``; needs only the moments ``X^T X``, ``X^T Y``,
  ``||Y||^2`` (so it is cheap, and :func:`fit_ridge_gcv_moments` fits from moments alone).
* ``method="loo"`` -- exact leave-one-out, ``mean((R_a / (1 - diag H_a))^2)``; the same criterion as
  :class:`sklearn.linear_model.RidgeCV` with ``cv=None`` (chosen alpha and coefficients agree).

With ``fit_intercept=True`` the intercept is unpenalised and the criteria are exact for the model
with an intercept (the hat matrix is ``11^T/n + Xc (Xc^T Xc + a I)^-1 Xc^T``).  Ties go to the first
alpha in ``alphas``.  Errors are averaged over all targets (one alpha for the whole map).

Fold safety is the caller's: these functions select alpha by cross-validation *within* the rows
they are given, so hand them only the training folds' correspondences (facebridge's experiments
do); never pass test-fold rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.maps.estimators import _LinearMapEstimator
from facebridge.maps.linear import LinearMap
from facebridge.maps.moments import Moments, Spectrum

__all__ = [
    "DEFAULT_ALPHAS",
    "Moments",
    "RidgeCVMap",
    "RidgeCVResult",
    "fit_ridge_cv",
    "fit_ridge_gcv_moments",
    "gcv_errors",
]

DEFAULT_ALPHAS: np.ndarray = np.logspace(-3, 3, 13)
_METHODS = ("gcv", "loo")


@dataclass(frozen=True)
class RidgeCVResult:
    """A ridge map with its cross-validated alpha.

    Attributes
    ----------
    map : LinearMap
        Fitted with ``alpha``; ``weight`` (d_a, d_b), ``bias`` (d_b,).
    alpha : float
        The chosen alpha.
    alphas : ndarray, shape (n_alphas,)
        The candidates, in the order given.
    cv_errors : ndarray, shape (n_alphas,)
        Mean squared GCV / LOO error of each candidate (per target coordinate).
    method : str
        ``"gcv"`` or ``"loo"``.
    """

    map: LinearMap
    alpha: float
    alphas: np.ndarray = field(repr=False)
    cv_errors: np.ndarray = field(repr=False)
    method: str = "gcv"


def _check_xy(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2:
        raise DimensionError(
            f"expected X (n, d_a) and Y (n, d_b), got shapes {X.shape} and {Y.shape}; "
            "pass one embedding per row"
        )
    if X.shape[0] != Y.shape[0]:
        raise DimensionError(
            f"X has {X.shape[0]} rows but Y has {Y.shape[0]}; pass corresponding rows"
        )
    if X.shape[0] < 2:
        raise InvalidInputError(
            f"cross-validation needs at least 2 corresponding rows, got n_samples = {X.shape[0]}"
        )
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise InvalidInputError("X or Y holds NaN or infinite values; drop those rows first")
    return X, Y


def _check_alphas(alphas: np.ndarray | list[float] | tuple[float, ...]) -> np.ndarray:
    a = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise InvalidInputError(
            f"alphas must be a non-empty list of positive numbers, got {alphas!r}; "
            "e.g. np.logspace(-3, 3, 13)"
        )
    return a


def _check_method(method: str) -> None:
    if method not in _METHODS:
        raise InvalidInputError(f"method must be one of {_METHODS}, got {method!r}")


def fit_ridge_gcv_moments(
    moments: Moments,
    alphas: np.ndarray | list[float] | tuple[float, ...] = DEFAULT_ALPHAS,
    fit_intercept: bool = True,
) -> RidgeCVResult:
    """Ridge with alpha chosen by GCV, from the moments of ``(X, Y)`` alone.

    Identical to ``fit_ridge_cv(X, Y, alphas, fit_intercept, method="gcv")`` up to rounding;
    useful when moments of many fold subsets are obtained by subtraction.

    Parameters
    ----------
    moments : Moments
        Of the training correspondences only.
    alphas : array-like, shape (n_alphas,)
        Positive candidates.
    fit_intercept : bool
        Fit an unpenalised bias (centre X and Y).

    Returns
    -------
    RidgeCVResult

    Raises
    ------
    InvalidInputError
        Non-positive alphas, fewer than 2 rows, or a GCV denominator of zero (more effective
        parameters than rows even at the largest alpha).
    """
    a = _check_alphas(alphas)
    n = moments.n
    if n < 2:
        raise InvalidInputError(f"need at least 2 corresponding rows to cross-validate, got {n}")
    if moments.xy is None or moments.yy is None:
        raise InvalidInputError("GCV needs X^T Y and Y^T Y; form the moments with Moments.of(X, Y)")
    mx = moments.sx / n if fit_intercept else np.zeros_like(moments.sx)
    my = moments.sy / n if fit_intercept else np.zeros_like(moments.sy)
    xx = moments.xx - n * np.outer(mx, mx)
    xy = moments.xy - n * np.outer(mx, my)
    yy = float(np.trace(moments.yy)) - n * float(my @ my)
    sp = Spectrum(xx)
    B = sp.project(xy)  # (d_a, d_b)
    errors = gcv_errors(sp.lam, np.sum(B * B, axis=1), yy, n, xy.shape[1], a, fit_intercept)
    best = int(np.argmin(errors))
    alpha = float(a[best])
    W = sp.ridge(B, alpha)
    bias = my - mx @ W
    return RidgeCVResult(
        map=LinearMap(weight=W, bias=bias), alpha=alpha, alphas=a, cv_errors=errors, method="gcv"
    )


def gcv_errors(
    lam: np.ndarray,
    b2: np.ndarray,
    yy: float,
    n: int,
    d_b: int,
    alphas: np.ndarray,
    fit_intercept: bool = True,
) -> np.ndarray:
    """GCV error of every alpha from the eigen-decomposition of the centred source Gram matrix.

    Parameters
    ----------
    lam : ndarray, shape (d_a,)
        Eigenvalues of ``Xc^T Xc`` (clipped at 0).
    b2 : ndarray, shape (d_a,)
        ``||V_k^T Xc^T Yc||^2`` for each eigenvector ``V_k``.
    yy : float
        ``||Yc||_F^2``.
    n, d_b : int
        Rows and target dimension.
    alphas : ndarray, shape (n_alphas,)
    fit_intercept : bool
        Counts one more effective parameter.

    Returns
    -------
    ndarray, shape (n_alphas,)
        ``(RSS / (n d_b)) / (1 - df / n)^2``; ``inf`` where ``df >= n``.

    Raises
    ------
    InvalidInputError
        If GCV is undefined at every alpha.
    """
    errors = np.empty(alphas.size)
    for j, alpha in enumerate(alphas):
        rss = yy - float(np.sum(b2 * (lam + 2.0 * alpha) / (lam + alpha) ** 2))
        df = float(np.sum(lam / (lam + alpha))) + (1.0 if fit_intercept else 0.0)
        denom = (1.0 - df / n) ** 2
        errors[j] = np.inf if denom <= 1e-300 or df >= n else max(rss, 0.0) / (n * d_b) / denom
    if not np.isfinite(errors).any():
        raise InvalidInputError(
            f"GCV is undefined: {n} rows are too few for {lam.size} source dimensions at every "
            "alpha; add correspondences or larger alphas"
        )
    return errors


def fit_ridge_cv(
    X: np.ndarray,
    Y: np.ndarray,
    alphas: np.ndarray | list[float] | tuple[float, ...] = DEFAULT_ALPHAS,
    fit_intercept: bool = True,
    method: str = "gcv",
) -> RidgeCVResult:
    """Fit ``Y ~ X W + b`` by ridge regression with alpha chosen by closed-form GCV or LOO.

    Minimises ``||X W + 1 b^T - Y||_F^2 + alpha ||W||_F^2`` (bias unpenalised), the same objective
    as :func:`facebridge.maps.fit_ridge` / ``sklearn.linear_model.Ridge``, for the alpha in
    ``alphas`` with the smallest cross-validation error.

    Parameters
    ----------
    X : ndarray, shape (n, d_a)
        Source embeddings of the *training* correspondences only (see module docstring).
    Y : ndarray, shape (n, d_b)
        Target embeddings, row-corresponding to ``X``.
    alphas : array-like, shape (n_alphas,)
        Positive candidates (default ``np.logspace(-3, 3, 13)``).
    fit_intercept : bool
        Fit an unpenalised bias.
    method : {"gcv", "loo"}
        Generalised CV (cheap, from moments) or exact leave-one-out (as sklearn's ``RidgeCV``).

    Returns
    -------
    RidgeCVResult
        ``.map`` (a :class:`~facebridge.maps.LinearMap`), ``.alpha``, ``.cv_errors``.

    Raises
    ------
    DimensionError
        X, Y not 2-D or with different row counts.
    InvalidInputError
        Fewer than 2 rows, NaN/inf, non-positive alphas, unknown method.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 20)); W = rng.normal(size=(20, 5))
    >>> res = fit_ridge_cv(X, X @ W + 0.01 * rng.normal(size=(300, 5)))
    >>> res.alpha <= 0.1, np.allclose(res.map.weight, W, atol=0.01)
    (True, True)
    """
    _check_method(method)
    a = _check_alphas(alphas)
    X, Y = _check_xy(X, Y)
    if method == "gcv":
        return fit_ridge_gcv_moments(Moments.of(X, Y), a, fit_intercept)
    n, d_b = Y.shape
    mx = X.mean(axis=0) if fit_intercept else np.zeros(X.shape[1])
    my = Y.mean(axis=0) if fit_intercept else np.zeros(d_b)
    Xc, Yc = X - mx, Y - my
    U, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    keep = s > s.max() * 1e-12 if s.size and s.max() > 0 else np.zeros(s.shape, bool)
    U, s, Vt = U[:, keep], s[keep], Vt[keep]
    Z = U.T @ Yc  # (k, d_b)
    U2 = U * U
    h0 = 1.0 / n if fit_intercept else 0.0
    errors = np.empty(a.size)
    for j, alpha in enumerate(a):
        f = s**2 / (s**2 + alpha)
        R = Yc - U @ (f[:, None] * Z)
        h = h0 + U2 @ f
        with np.errstate(divide="ignore", invalid="ignore"):
            loo = R / (1.0 - h)[:, None]
        errors[j] = float(np.mean(loo**2)) if np.all(h < 1.0 - 1e-12) else np.inf
    if not np.isfinite(errors).any():
        raise InvalidInputError(
            f"leave-one-out is undefined: some row is fitted exactly at every alpha ({n} rows); "
            "add correspondences or larger alphas"
        )
    best = int(np.argmin(errors))
    alpha = float(a[best])
    W = (Vt.T * (s / (s**2 + alpha))) @ Z
    bias = my - mx @ W
    return RidgeCVResult(
        map=LinearMap(weight=W, bias=bias), alpha=alpha, alphas=a, cv_errors=errors, method="loo"
    )


class RidgeCVMap(_LinearMapEstimator):
    """sklearn-compatible ridge map with alpha chosen by closed-form GCV or leave-one-out.

    Parameters
    ----------
    alphas : array-like, shape (n_alphas,)
        Positive candidates.
    fit_intercept : bool
        Fit an unpenalised bias.
    method : {"gcv", "loo"}
        ``"loo"`` matches :class:`sklearn.linear_model.RidgeCV` (``cv=None``).

    Attributes
    ----------
    coef_ : ndarray, shape (d_b, d_a) (or (d_a,) for a 1-D target)
    intercept_ : ndarray, shape (d_b,) (or float)
    alpha_ : float
        The chosen alpha.
    cv_errors_ : ndarray, shape (n_alphas,)
    map_ : LinearMap
        ``weight`` (d_a, d_b).

    Notes
    -----
    ``fit`` cross-validates within the rows it is given; pass training-fold data only.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 4))
    >>> est = RidgeCVMap().fit(X, X @ np.ones((4, 2)))
    >>> est.alpha_, est.coef_.shape
    (0.001, (2, 4))
    """

    def __init__(
        self,
        alphas: np.ndarray | list[float] | tuple[float, ...] = tuple(DEFAULT_ALPHAS),
        fit_intercept: bool = True,
        method: str = "gcv",
    ) -> None:
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.method = method

    def _fit_map(self, X: np.ndarray, Y: np.ndarray) -> LinearMap:
        res = fit_ridge_cv(X, Y, self.alphas, self.fit_intercept, self.method)
        self.alpha_ = res.alpha
        self.cv_errors_ = res.cv_errors
        return res.map
