"""maps.cv: closed-form GCV / LOO ridge against sklearn's RidgeCV and brute-force leave-one-out."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.maps import fit_ridge
from facebridge.maps.cv import (
    DEFAULT_ALPHAS,
    Moments,
    RidgeCVMap,
    fit_ridge_cv,
    fit_ridge_gcv_moments,
)


def _data(rng: np.random.Generator, n: int, d: int, noise: float = 3.0):
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 3.0, size=d) + 2.0
    W = rng.normal(size=(d, 5))
    return X, X @ W + noise * rng.normal(size=(n, 5)) + 1.0


@pytest.mark.parametrize(("n", "d"), [(120, 15), (30, 45)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_loo_matches_sklearn_ridgecv(n: int, d: int, fit_intercept: bool, rng) -> None:
    X, Y = _data(rng, n, d)
    res = fit_ridge_cv(X, Y, DEFAULT_ALPHAS, fit_intercept=fit_intercept, method="loo")
    ref = RidgeCV(alphas=DEFAULT_ALPHAS, fit_intercept=fit_intercept).fit(X, Y)
    assert res.alpha == ref.alpha_
    np.testing.assert_allclose(res.map.weight, ref.coef_.T, atol=1e-9)
    np.testing.assert_allclose(res.map.bias, np.broadcast_to(ref.intercept_, (5,)), atol=1e-9)


def test_loo_errors_equal_brute_force_leave_one_out(rng) -> None:
    X, Y = _data(rng, 25, 6)
    alphas = [0.1, 3.0]
    res = fit_ridge_cv(X, Y, alphas, method="loo")
    for j, a in enumerate(alphas):
        errs = []
        for i in range(len(X)):
            keep = np.arange(len(X)) != i
            pred = Ridge(alpha=a).fit(X[keep], Y[keep]).predict(X[i : i + 1])
            errs.append(np.mean((pred - Y[i]) ** 2))
        assert res.cv_errors[j] == pytest.approx(np.mean(errs), rel=1e-9)


def test_gcv_error_formula_and_chosen_map(rng) -> None:
    X, Y = _data(rng, 80, 10)
    res = fit_ridge_cv(X, Y, method="gcv")
    n = len(X)
    Xc = X - X.mean(0)
    for j, a in enumerate(res.alphas):
        m = fit_ridge(X, Y, alpha=a)
        rss = np.sum((m.apply(X) - Y) ** 2)
        df = 1 + np.trace(Xc @ np.linalg.solve(Xc.T @ Xc + a * np.eye(10), Xc.T))
        assert res.cv_errors[j] == pytest.approx(rss / Y.size / (1 - df / n) ** 2, rel=1e-8)
    assert res.alpha == res.alphas[np.argmin(res.cv_errors)]
    np.testing.assert_allclose(res.map.weight, fit_ridge(X, Y, alpha=res.alpha).weight, atol=1e-9)


def test_moments_subtract_to_training_folds(rng) -> None:
    X, Y = _data(rng, 100, 8)
    fold = np.arange(100) % 5 == 0
    whole, part = Moments.of(X, Y), Moments.of(X[fold], Y[fold])
    a = fit_ridge_gcv_moments(whole - part)
    b = fit_ridge_cv(X[~fold], Y[~fold])
    assert a.alpha == b.alpha
    np.testing.assert_allclose(a.map.weight, b.map.weight, atol=1e-8)


def test_planted_map_recovered_with_small_alpha(rng) -> None:
    X = rng.normal(size=(400, 12))
    W = rng.normal(size=(12, 4))
    res = fit_ridge_cv(X, X @ W + 0.01 * rng.normal(size=(400, 4)) + 2.0)
    assert res.alpha <= 0.1
    np.testing.assert_allclose(res.map.weight, W, atol=0.01)
    np.testing.assert_allclose(res.map.bias, 2.0, atol=0.01)


def test_noise_only_target_prefers_the_largest_alpha(rng) -> None:
    X = rng.normal(size=(60, 30))
    res = fit_ridge_cv(X, rng.normal(size=(60, 3)), method="loo")
    assert res.alpha == DEFAULT_ALPHAS[-1]


def test_estimator_alpha_attribute_and_shapes(rng) -> None:
    X, Y = _data(rng, 90, 7)
    est = RidgeCVMap(method="loo").fit(X, Y)
    assert est.alpha_ == RidgeCV(alphas=DEFAULT_ALPHAS).fit(X, Y).alpha_
    assert est.coef_.shape == (5, 7)
    assert est.predict(X).shape == (90, 5)


@parametrize_with_checks([RidgeCVMap(), RidgeCVMap(method="loo")])
def test_sklearn_compatible(estimator, check) -> None:
    check(estimator)


def test_errors_name_the_fix(rng) -> None:
    X, Y = _data(rng, 20, 3)
    with pytest.raises(InvalidInputError, match="positive"):
        fit_ridge_cv(X, Y, alphas=[0.0, 1.0])
    with pytest.raises(InvalidInputError, match="method must be one of"):
        fit_ridge_cv(X, Y, method="kfold")
    with pytest.raises(DimensionError, match="corresponding rows"):
        fit_ridge_cv(X, Y[:-1])
    with pytest.raises(InvalidInputError, match="at least 2 corresponding rows"):
        fit_ridge_cv(X[:1], Y[:1])
    with pytest.raises(InvalidInputError, match="NaN"):
        fit_ridge_cv(np.full_like(X, np.nan), Y)


def test_inputs_not_mutated(rng) -> None:
    X, Y = _data(rng, 40, 4)
    X0, Y0 = X.copy(), Y.copy()
    fit_ridge_cv(X, Y, method="loo")
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
