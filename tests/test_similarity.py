"""metrics.similarity: hand cases, invariances and independent reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.metrics.similarity import (
    canonical_correlations,
    linear_cka,
    procrustes_distance,
    svcca,
)


def _orth(rng: np.random.Generator, d: int) -> np.ndarray:
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return Q


def _cka_hsic(X: np.ndarray, Y: np.ndarray) -> float:
    """Reference: CKA via HSIC with explicit centring matrices and linear Gram matrices."""
    n = X.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = X @ X.T, Y @ Y.T

    def hsic(A: np.ndarray, B: np.ndarray) -> float:
        return float(np.trace(A @ H @ B @ H)) / (n - 1) ** 2

    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def _cca_geneig(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Reference: rho^2 are eigenvalues of Cxx^-1 Cxy Cyy^-1 Cyx (symmetric-definite form)."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Cxx, Cyy, Cxy = Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc
    A = Cxy @ np.linalg.solve(Cyy, Cxy.T)
    w = scipy.linalg.eigh(A, Cxx, eigvals_only=True)
    return np.sqrt(np.clip(np.sort(w)[::-1][: min(X.shape[1], Y.shape[1])], 0, None))


@pytest.fixture
def xy(rng):
    Z = rng.normal(size=(150, 6))
    X = Z @ rng.normal(size=(6, 10)) + 0.5 * rng.normal(size=(150, 10))
    Y = Z @ rng.normal(size=(6, 7)) + 0.5 * rng.normal(size=(150, 7))
    return X, Y


def test_cka_equals_hsic_reference(xy) -> None:
    X, Y = xy
    assert linear_cka(X, Y) == pytest.approx(_cka_hsic(X, Y), rel=1e-10)


def test_cka_hand_cases(rng, xy) -> None:
    X, Y = xy
    Q = _orth(rng, 10)
    assert linear_cka(X, X @ Q) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(X, -4.0 * X @ Q + 7.0) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(3.0 * X, Y) == pytest.approx(linear_cka(X, Y), rel=1e-12)
    # Independent spaces with many rows: CKA near 0; a non-isotropic rescale is not invariant.
    A, B = rng.normal(size=(4000, 5)), rng.normal(size=(4000, 5))
    assert linear_cka(A, B) < 0.01
    assert linear_cka(X, X * np.linspace(0.1, 5, 10)) < 0.99
    assert linear_cka(X, Y) == pytest.approx(linear_cka(Y, X), rel=1e-12)


def test_canonical_correlations_match_generalised_eigenproblem(xy) -> None:
    X, Y = xy
    np.testing.assert_allclose(canonical_correlations(X, Y), _cca_geneig(X, Y), atol=1e-8)


def test_canonical_correlations_match_sklearn_cca_first_component(xy) -> None:
    from sklearn.cross_decomposition import CCA

    X, Y = xy
    a, b = CCA(n_components=1, max_iter=5000, tol=1e-12).fit(X, Y).transform(X, Y)
    assert canonical_correlations(X, Y)[0] == pytest.approx(
        np.corrcoef(a[:, 0], b[:, 0])[0, 1], abs=1e-6
    )


def test_regularised_cca_shrinks_correlations(xy) -> None:
    X, Y = xy
    plain, shrunk = canonical_correlations(X, Y), canonical_correlations(X, Y, reg=0.5)
    assert shrunk.shape == plain.shape
    assert np.all(shrunk <= plain + 1e-12)


def test_svcca_hand_cases(rng, xy) -> None:
    X, Y = xy
    A = rng.normal(size=(10, 10))  # invertible: every direction kept gives 1
    assert svcca(X, X @ A + 1.0, keep=10) == pytest.approx(1.0, abs=1e-9)
    assert svcca(X, X @ _orth(rng, 10)) == pytest.approx(1.0, abs=1e-9)
    assert 0.0 <= svcca(X, Y) <= 1.0
    # keep=k: the mean canonical correlation between the top-k singular subspaces.
    Ux = np.linalg.svd(X - X.mean(0), full_matrices=False)[0][:, :3]
    Uy = np.linalg.svd(Y - Y.mean(0), full_matrices=False)[0][:, :3]
    assert svcca(X, Y, keep=3) == pytest.approx(
        np.mean(np.linalg.svd(Ux.T @ Uy, compute_uv=False)), rel=1e-10
    )


def test_procrustes_distance_hand_cases_and_scipy_reference(rng, xy) -> None:
    X, Y = xy
    assert procrustes_distance(X, 2.5 * X @ _orth(rng, 10) + 3.0) == pytest.approx(0.0, abs=1e-6)
    assert procrustes_distance(X, X, angular=True) == pytest.approx(0.0, abs=1e-6)
    # Reference: scipy's orthogonal Procrustes on centred, unit-norm, zero-padded data.
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Xc, Yc = Xc / np.linalg.norm(Xc), Yc / np.linalg.norm(Yc)
    Yp = np.hstack([Yc, np.zeros((len(Yc), 3))])
    R, _ = scipy.linalg.orthogonal_procrustes(Yp, Xc)
    assert procrustes_distance(X, Y) == pytest.approx(np.linalg.norm(Xc - Yp @ R), rel=1e-8)
    d = procrustes_distance(X, Y)
    assert procrustes_distance(X, Y, angular=True) == pytest.approx(np.arccos(1 - d**2 / 2))
    assert procrustes_distance(Y, X) == pytest.approx(d, rel=1e-10)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(1e-3, 1e3))
def test_invariance_to_rotation_and_scale(seed: int, scale: float) -> None:
    r = np.random.default_rng(seed)
    X, Y = r.normal(size=(40, 5)), r.normal(size=(40, 4))
    Q = _orth(r, 4)
    Y2 = scale * Y @ Q
    assert linear_cka(X, Y2) == pytest.approx(linear_cka(X, Y), rel=1e-7, abs=1e-12)
    assert procrustes_distance(X, Y2) == pytest.approx(procrustes_distance(X, Y), abs=1e-7)
    assert svcca(X, Y2, keep=4) == pytest.approx(svcca(X, Y, keep=4), abs=1e-7)


def test_errors(xy) -> None:
    X, Y = xy
    with pytest.raises(DimensionError, match="rows must correspond"):
        linear_cka(X, Y[:-1])
    with pytest.raises(DimensionError, match="2-D"):
        svcca(X[:, 0], Y)
    with pytest.raises(InvalidInputError, match="zero variance"):
        linear_cka(np.ones_like(X), Y)
    with pytest.raises(InvalidInputError, match="zero variance"):
        procrustes_distance(X, np.zeros_like(Y))
    with pytest.raises(InvalidInputError, match="NaN"):
        linear_cka(X * np.nan, Y)
    with pytest.raises(InvalidInputError, match="keep must be"):
        svcca(X, Y, keep=0)
    with pytest.raises(InvalidInputError, match="reg must be"):
        canonical_correlations(X, Y, reg=-1.0)
