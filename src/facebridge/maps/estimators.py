"""scikit-learn compatible estimators wrapping the exact fits of :mod:`facebridge.maps.linear`.

Each estimator follows the sklearn contract: ``__init__`` only stores its settings, ``fit(X, y)``
validates, learns ``coef_`` (shape ``(d_b, d_a)``, or ``(d_a,)`` for a 1-D ``y``, as in sklearn),
``intercept_`` (``(d_b,)`` or a float), ``map_`` (the :class:`~facebridge.maps.linear.LinearMap`,
always 2-D) and ``n_features_in_``, and returns ``self``; ``predict`` maps new rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from facebridge.errors import InvalidInputError
from facebridge.maps.linear import (
    LinearMap,
    check_rank,
    fit_low_rank,
    fit_lstsq,
    fit_procrustes,
    fit_ridge,
)

__all__ = ["LowRankMap", "LstsqMap", "ProcrustesMap", "RidgeMap"]


class _LinearMapEstimator(RegressorMixin, BaseEstimator):
    """Shared fit / predict; subclasses implement ``_fit_map(X, Y) -> LinearMap``."""

    def _fit_map(self, X: np.ndarray, Y: np.ndarray) -> LinearMap:  # pragma: no cover
        raise NotImplementedError

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def fit(self, X: Any, y: Any) -> _LinearMapEstimator:
        """Fit the map from source embeddings ``X`` to target embeddings ``y``.

        Parameters
        ----------
        X : array-like of shape (n, d_a)
        y : array-like of shape (n, d_b) or (n,)
            Row ``i`` is the target embedding of the item whose source embedding is ``X[i]``.

        Returns
        -------
        self

        Raises
        ------
        InvalidInputError
            Empty, NaN/inf or non-numeric input, mismatched rows, or a bad setting.
        """
        try:
            Xv, yv = validate_data(
                self, X, y, multi_output=True, y_numeric=True, dtype=[np.float64, np.float32]
            )
        except ValueError as exc:
            raise InvalidInputError(f"{type(self).__name__}.fit: {exc}") from exc
        Y = yv.reshape(-1, 1) if yv.ndim == 1 else yv
        m = self._fit_map(np.asarray(Xv, dtype=np.float64), np.asarray(Y, dtype=np.float64))
        self._y_1d = yv.ndim == 1
        self.map_ = m
        self.coef_: np.ndarray = m.weight[:, 0].copy() if self._y_1d else m.weight.T.copy()
        self.intercept_: float | np.ndarray = float(m.bias[0]) if self._y_1d else m.bias.copy()
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Map source embeddings into the target space.

        Parameters
        ----------
        X : array-like of shape (n, d_a)

        Returns
        -------
        ndarray of shape (n, d_b), or (n,) when fitted on a 1-D ``y``.

        Raises
        ------
        InvalidInputError
            NaN/inf or non-numeric input, or ``d_a`` other than at fit time.
        """
        check_is_fitted(self, "map_")
        try:
            Xv = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        except ValueError as exc:
            raise InvalidInputError(f"{type(self).__name__}.predict: {exc}") from exc
        out = self.map_.apply(Xv)
        return out[:, 0] if self._y_1d else out


class RidgeMap(_LinearMapEstimator):
    """Ridge-regression map (the paper's Eq. 2); equal to ``sklearn.linear_model.Ridge``.

    Parameters
    ----------
    alpha : float, default 1.0
        Regularisation strength, ``>= 0``.
    fit_intercept : bool, default True

    Attributes
    ----------
    coef_ : ndarray of shape (d_b, d_a)
    intercept_ : ndarray of shape (d_b,)
    map_ : LinearMap
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(40, 4))
    >>> RidgeMap(alpha=1e-9).fit(X, 2 * X).coef_.round(6).diagonal()
    array([2., 2., 2., 2.])
    """

    def __init__(self, alpha: float = 1.0, fit_intercept: bool = True) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def _fit_map(self, X: np.ndarray, Y: np.ndarray) -> LinearMap:
        return fit_ridge(X, Y, alpha=self.alpha, fit_intercept=self.fit_intercept)


class LstsqMap(_LinearMapEstimator):
    """Minimum-norm least-squares map (``sklearn.linear_model.LinearRegression``).

    Parameters
    ----------
    fit_intercept : bool, default True
    """

    def __init__(self, fit_intercept: bool = True) -> None:
        self.fit_intercept = fit_intercept

    def _fit_map(self, X: np.ndarray, Y: np.ndarray) -> LinearMap:
        return fit_lstsq(X, Y, fit_intercept=self.fit_intercept)


class ProcrustesMap(_LinearMapEstimator):
    """(Semi-)orthogonal Procrustes map, optionally with an isotropic scale.

    ``coef_.T`` is orthogonal when ``d_a == d_b`` (times the scale when ``scale=True``) and has
    orthonormal columns (``d_a > d_b``) or rows (``d_a < d_b``) otherwise.  See
    :func:`facebridge.maps.linear.fit_procrustes`.

    Parameters
    ----------
    scale : bool, default False
    fit_intercept : bool, default True
    """

    def __init__(self, scale: bool = False, fit_intercept: bool = True) -> None:
        self.scale = scale
        self.fit_intercept = fit_intercept

    def _fit_map(self, X: np.ndarray, Y: np.ndarray) -> LinearMap:
        return fit_procrustes(X, Y, scale=self.scale, fit_intercept=self.fit_intercept)


class LowRankMap(_LinearMapEstimator):
    """Ridge map truncated to its ``rank`` largest singular values (paper Section 4.2).

    Parameters
    ----------
    rank : int, default 64
        Must lie in ``[1, min(d_a, d_b)]`` for the data given to ``fit``.
    alpha : float, default 1.0
    fit_intercept : bool, default True
    """

    def __init__(self, rank: int = 64, alpha: float = 1.0, fit_intercept: bool = True) -> None:
        self.rank = rank
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def _fit_map(self, X: np.ndarray, Y: np.ndarray) -> LinearMap:
        try:
            check_rank(self.rank, X.shape[1], Y.shape[1])
        except InvalidInputError as exc:
            raise InvalidInputError(f"LowRankMap(rank={self.rank!r}): {exc}") from exc
        return fit_low_rank(X, Y, self.rank, alpha=self.alpha, fit_intercept=self.fit_intercept)
