"""Tests of facebridge.maps: parity with sklearn/scipy, planted recovery, invariants, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.maps import (
    LinearMap,
    LowRankMap,
    LstsqMap,
    ProcrustesMap,
    RidgeMap,
    fit_low_rank,
    fit_lstsq,
    fit_procrustes,
    fit_ridge,
)

# (n, d_a, d_b): n > d_a (primal), n < d_a (dual), a 512 -> 128-like projection, d_a < d_b
SHAPES = [(200, 32, 32), (40, 64, 16), (300, 64, 16), (30, 8, 24)]


def _data(n: int, d_a: int, d_b: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d_a)) + rng.normal(size=d_a)  # non-zero mean: the intercept matters
    Y = X @ rng.normal(size=(d_a, d_b)) + rng.normal(size=(n, d_b)) + 3.0
    return X, Y


def _orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


# --------------------------------------------------------------------------- ridge / lstsq parity


@pytest.mark.parametrize(("n", "d_a", "d_b"), SHAPES)
@pytest.mark.parametrize("alpha", [1e-3, 1.0, 100.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_fit_ridge_equals_sklearn_ridge(n, d_a, d_b, alpha, fit_intercept):
    X, Y = _data(n, d_a, d_b)
    m = fit_ridge(X, Y, alpha=alpha, fit_intercept=fit_intercept)
    ref = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, Y)
    assert m.weight.shape == (d_a, d_b)
    assert m.bias.shape == (d_b,)
    np.testing.assert_allclose(m.weight, ref.coef_.T, atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(m.bias, np.broadcast_to(ref.intercept_, (d_b,)), atol=1e-6)
    np.testing.assert_allclose(m.apply(X), ref.predict(X), atol=1e-6)


def test_fit_ridge_float32_input_matches_float64():
    X, Y = _data(100, 16, 8)
    m32 = fit_ridge(X.astype(np.float32), Y.astype(np.float32))
    m64 = fit_ridge(
        X.astype(np.float32).astype(np.float64), Y.astype(np.float32).astype(np.float64)
    )
    np.testing.assert_array_equal(m32.weight, m64.weight)


def test_fit_ridge_primal_and_dual_agree_at_the_boundary():
    # n = d_a + 1 uses the primal system; dropping one row (n = d_a) would too, so compare
    # the dual (n < d_a) against the explicit formula instead.
    X, Y = _data(10, 25, 4)
    a = 0.5
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    W = np.linalg.solve(Xc.T @ Xc + a * np.eye(25), Xc.T @ Yc)
    np.testing.assert_allclose(fit_ridge(X, Y, alpha=a).weight, W, atol=1e-8)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_fit_lstsq_equals_linear_regression(fit_intercept):
    X, Y = _data(120, 20, 6)
    m = fit_lstsq(X, Y, fit_intercept=fit_intercept)
    ref = LinearRegression(fit_intercept=fit_intercept).fit(X, Y)
    np.testing.assert_allclose(m.weight, ref.coef_.T, atol=1e-8)
    np.testing.assert_allclose(m.bias, np.broadcast_to(ref.intercept_, (6,)), atol=1e-8)


def test_fit_lstsq_is_minimum_norm_when_underdetermined():
    X, Y = _data(10, 30, 5)
    m = fit_lstsq(X, Y)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    np.testing.assert_allclose(m.weight, np.linalg.pinv(Xc) @ Yc, atol=1e-8)
    np.testing.assert_allclose(m.apply(X), Y, atol=1e-8)  # interpolates


def test_fit_ridge_alpha_zero_singular_falls_back_to_minimum_norm():
    X, Y = _data(10, 30, 5)  # centred Gram matrix has rank 9 < 10: singular
    np.testing.assert_allclose(fit_ridge(X, Y, alpha=0.0).weight, fit_lstsq(X, Y).weight, atol=1e-6)


# --------------------------------------------------------------------------- procrustes


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_fit_procrustes_equals_scipy(fit_intercept):
    X, Y = _data(80, 12, 12)
    m = fit_procrustes(X, Y, fit_intercept=fit_intercept)
    Xc, Yc = (X - X.mean(0), Y - Y.mean(0)) if fit_intercept else (X, Y)
    R, _ = scipy.linalg.orthogonal_procrustes(Xc, Yc)
    np.testing.assert_allclose(m.weight, R, atol=1e-10)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_procrustes_map_estimator_equals_scipy(fit_intercept):
    X, Y = _data(80, 12, 12, seed=8)
    est = ProcrustesMap(fit_intercept=fit_intercept).fit(X, Y)
    mx, my = (X.mean(0), Y.mean(0)) if fit_intercept else (np.zeros(12), np.zeros(12))
    R, _ = scipy.linalg.orthogonal_procrustes(X - mx, Y - my)
    np.testing.assert_allclose(est.coef_.T, R, atol=1e-10)
    np.testing.assert_allclose(est.intercept_, my - mx @ R, atol=1e-10)
    np.testing.assert_allclose(est.predict(X), (X - mx) @ R + my, atol=1e-10)


@pytest.mark.parametrize("scale", [False, True])
def test_procrustes_recovers_planted_rotation(scale):
    rng = np.random.default_rng(1)
    Q = _orthogonal(16, rng)
    b = rng.normal(size=16)
    X = rng.normal(size=(50, 16))
    s = 2.5 if scale else 1.0
    est = ProcrustesMap(scale=scale).fit(X, s * X @ Q + b)
    np.testing.assert_allclose(est.coef_.T, s * Q, atol=1e-10)
    np.testing.assert_allclose(est.intercept_, b, atol=1e-10)


def test_procrustes_recovers_semi_orthogonal_embedding_into_larger_space():
    rng = np.random.default_rng(2)
    Q = _orthogonal(64, rng)[:16]  # (16, 64), orthonormal rows
    X = rng.normal(size=(200, 16))
    m = fit_procrustes(X, X @ Q + 1.0)
    np.testing.assert_allclose(m.weight, Q, atol=1e-10)
    np.testing.assert_allclose(m.weight @ m.weight.T, np.eye(16), atol=1e-12)


def test_procrustes_recovers_semi_orthogonal_projection_from_isotropic_source():
    # 512 -> 128-like projection: exact recovery needs an isotropic (whitened) source
    rng = np.random.default_rng(3)
    Q = _orthogonal(64, rng)[:, :16]  # (64, 16), orthonormal columns
    Z = rng.normal(size=(300, 64))
    Z -= Z.mean(0)
    U, _, Vt = np.linalg.svd(Z, full_matrices=False)
    X = 5.0 * U @ Vt + 0.7  # centred part has X^T X = 25 I
    m = fit_procrustes(X, X @ Q)
    np.testing.assert_allclose(m.weight, Q, atol=1e-10)
    np.testing.assert_allclose(m.weight.T @ m.weight, np.eye(16), atol=1e-12)


def test_procrustes_is_not_a_good_fit_for_a_general_linear_map():
    # the wrong model fails: a planted non-orthogonal map is recovered by ridge, not Procrustes
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 10))
    W = rng.normal(size=(10, 10)) * np.linspace(0.1, 3.0, 10)
    Y = X @ W
    res_ridge = np.linalg.norm(fit_ridge(X, Y, alpha=1e-8).apply(X) - Y)
    res_proc = np.linalg.norm(fit_procrustes(X, Y, scale=True).apply(X) - Y)
    assert res_ridge < 1e-5
    assert res_proc > 0.1 * np.linalg.norm(Y - Y.mean(0))


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    d_a=st.integers(1, 12),
    d_b=st.integers(1, 12),
    n=st.integers(2, 30),
)
def test_procrustes_weight_is_semi_orthogonal(seed, d_a, d_b, n):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n, d_a)), rng.normal(size=(n, d_b))
    R = fit_procrustes(X, Y).weight
    if d_a >= d_b:
        np.testing.assert_allclose(R.T @ R, np.eye(d_b), atol=1e-10)
    if d_a <= d_b:
        np.testing.assert_allclose(R @ R.T, np.eye(d_a), atol=1e-10)


def test_procrustes_scale_is_least_squares_optimal():
    X, Y = _data(60, 6, 6, seed=5)
    m = fit_procrustes(X, Y, scale=True)
    s = np.linalg.svd(m.weight, compute_uv=False)[0]
    R = m.weight / s

    def resid(c: float) -> float:
        return float(np.linalg.norm(c * (X - X.mean(0)) @ R - (Y - Y.mean(0))))

    assert resid(s) <= min(resid(0.99 * s), resid(1.01 * s))


# --------------------------------------------------------------------------- low rank / truncate


def test_low_rank_map_recovers_planted_rank_r_map():
    rng = np.random.default_rng(6)
    r = 4
    W = rng.normal(size=(40, r)) @ rng.normal(size=(r, 30))
    b = rng.normal(size=30)
    X = rng.normal(size=(500, 40))
    est = LowRankMap(rank=r, alpha=1e-8).fit(X, X @ W + b)
    assert est.map_.rank == r
    np.testing.assert_allclose(est.coef_.T, W, atol=1e-6)
    np.testing.assert_allclose(est.intercept_, b, atol=1e-6)
    # too small a rank cannot fit it
    short = LowRankMap(rank=r - 1, alpha=1e-8).fit(X, X @ W + b)
    assert np.linalg.norm(short.coef_.T - W) > 0.1 * np.linalg.norm(W)


def test_truncate_is_eckart_young_and_keeps_bias():
    rng = np.random.default_rng(7)
    m = LinearMap(rng.normal(size=(20, 12)), rng.normal(size=12))
    s = np.linalg.svd(m.weight, compute_uv=False)
    for k in (1, 5, 12):
        t = m.truncate(k)
        assert t.rank == k
        np.testing.assert_array_equal(t.bias, m.bias)
        np.testing.assert_allclose(t.singular_values()[:k], s[:k], rtol=1e-10)
        err = np.linalg.norm(m.weight - t.weight)
        np.testing.assert_allclose(err, np.sqrt(np.sum(s[k:] ** 2)), atol=1e-10)
    np.testing.assert_allclose(m.truncate(12).weight, m.weight, atol=1e-12)


def test_fit_low_rank_equals_ridge_then_truncate():
    X, Y = _data(100, 20, 10)
    a = fit_low_rank(X, Y, rank=3, alpha=2.0)
    b = fit_ridge(X, Y, alpha=2.0).truncate(3)
    np.testing.assert_allclose(a.weight, b.weight, atol=1e-12)
    np.testing.assert_allclose(a.bias, b.bias)


# --------------------------------------------------------------------------- LinearMap


def test_linear_map_is_immutable_and_owns_its_arrays():
    w = np.eye(3)
    b = np.zeros(3)
    m = LinearMap(w, b)
    w[0, 0] = 5.0
    assert m.weight[0, 0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        m.weight[0, 0] = 2.0
    with pytest.raises(AttributeError):
        m.bias = np.ones(3)  # type: ignore[misc]


def test_linear_map_apply_accepts_one_vector():
    m = LinearMap(np.arange(6.0).reshape(3, 2), np.array([1.0, -1.0]))
    x = np.array([1.0, 0.0, 2.0])
    np.testing.assert_allclose(m.apply(x), x @ m.weight + m.bias)
    assert m.apply(x[None]).shape == (1, 2)


@pytest.mark.parametrize("fit", [fit_ridge, fit_lstsq, fit_procrustes])
def test_fits_do_not_mutate_inputs(fit):
    X, Y = _data(30, 5, 4)
    X0, Y0 = X.copy(), Y.copy()
    fit(X, Y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


# --------------------------------------------------------------------------- errors


def test_error_nan_in_x_names_array_and_count():
    X, Y = _data(10, 3, 2)
    X[2, 1] = np.nan
    X[4, 0] = np.inf
    with pytest.raises(
        InvalidInputError, match=r"X must be finite, got 1 NaN and 1 inf entries in 2 rows"
    ):
        fit_ridge(X, Y)


def test_error_inf_in_y():
    X, Y = _data(10, 3, 2)
    Y[0, 0] = -np.inf
    with pytest.raises(InvalidInputError, match=r"Y must be finite, got 0 NaN and 1 inf"):
        fit_procrustes(X, Y)


def test_error_row_mismatch():
    X, Y = _data(10, 3, 2)
    with pytest.raises(DimensionError, match=r"same number of rows.*got 10 and 9"):
        fit_lstsq(X, Y[:9])


def test_error_not_2d():
    with pytest.raises(DimensionError, match=r"X must be 2-D.*reshape"):
        fit_ridge(np.ones(5), np.ones((5, 2)))


def test_error_empty():
    with pytest.raises(InvalidInputError, match="at least one row"):
        fit_ridge(np.ones((0, 3)), np.ones((0, 2)))


def test_error_non_numeric():
    with pytest.raises(InvalidInputError, match="must hold real numbers"):
        fit_ridge(np.array([["a", "b"]]), np.ones((1, 2)))


@pytest.mark.parametrize("alpha", [-1.0, np.nan, "x"])
def test_error_bad_alpha(alpha):
    X, Y = _data(10, 3, 2)
    with pytest.raises(InvalidInputError, match="alpha must be"):
        fit_ridge(X, Y, alpha=alpha)


@pytest.mark.parametrize("rank", [0, 3, 2.0, True])
def test_error_bad_rank(rank):
    X, Y = _data(10, 4, 2)
    with pytest.raises(InvalidInputError, match="rank must be"):
        fit_low_rank(X, Y, rank=rank)


def test_error_rank_message_names_the_range():
    with pytest.raises(InvalidInputError, match=r"\[1, 2\] for a \(4, 2\) map, got 3"):
        LinearMap(np.ones((4, 2)), np.zeros(2)).truncate(3)


def test_error_bias_shape():
    with pytest.raises(DimensionError, match=r"bias must have shape \(d_b,\) = \(2,\)"):
        LinearMap(np.ones((3, 2)), np.zeros(3))


def test_error_bias_not_finite():
    with pytest.raises(InvalidInputError, match="bias must be finite"):
        LinearMap(np.ones((3, 2)), np.array([0.0, np.nan]))


def test_error_apply_wrong_dimension():
    m = LinearMap(np.ones((3, 2)), np.zeros(2))
    with pytest.raises(DimensionError, match=r"shape \(n, 3\).*got \(4, 5\)"):
        m.apply(np.ones((4, 5)))


def test_estimator_errors_are_facebridge_errors():
    X, Y = _data(10, 4, 2)
    with pytest.raises(InvalidInputError, match=r"RidgeMap\.fit: .*NaN"):
        RidgeMap().fit(np.full_like(X, np.nan), Y)
    est = RidgeMap().fit(X, Y)
    with pytest.raises(InvalidInputError, match=r"RidgeMap.predict: X has 3 features.*expecting 4"):
        est.predict(X[:, :3])
    with pytest.raises(
        InvalidInputError, match=r"LowRankMap\(rank=64\): rank must be in .*\[1, 2\]"
    ):
        LowRankMap().fit(X, Y)


# --------------------------------------------------------------------------- estimators


def test_ridge_map_matches_sklearn_ridge_attributes():
    X, Y = _data(60, 8, 3)
    est = RidgeMap(alpha=2.0).fit(X, Y)
    ref = Ridge(alpha=2.0).fit(X, Y)
    assert est.coef_.shape == ref.coef_.shape == (3, 8)
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, atol=1e-8)
    assert est.n_features_in_ == 8
    assert est.map_.weight.shape == (8, 3)
    assert est.score(X, Y) == pytest.approx(ref.score(X, Y))


def test_one_dimensional_y_like_sklearn():
    X, Y = _data(60, 8, 1)
    y = Y[:, 0]
    est = RidgeMap().fit(X, y)
    ref = Ridge().fit(X, y)
    assert est.coef_.shape == ref.coef_.shape == (8,)
    assert isinstance(est.intercept_, float)
    assert est.predict(X).shape == (60,)
    np.testing.assert_allclose(est.predict(X), ref.predict(X), atol=1e-8)


@parametrize_with_checks(
    [RidgeMap(), LstsqMap(), ProcrustesMap(), ProcrustesMap(scale=True), LowRankMap(rank=1)]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_analysis_import_does_not_load_sklearn() -> None:
    """``reproduce``/``evaluate`` use the pure map functions; the sklearn estimators (1.2 s to
    import) load on first use only, and still resolve from ``facebridge.maps``."""
    import subprocess
    import sys

    code = (
        "import sys, facebridge.experiments, facebridge.report; "
        "print('sklearn' in sys.modules); "
        "from facebridge.maps import RidgeMap; print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
