"""maps.shared: CCA shared space and the N-model hub recover planted shared structure."""

from __future__ import annotations

import numpy as np
import pytest

from facebridge.errors import DimensionError, InvalidInputError, UnknownModelError
from facebridge.maps.shared import Hub, fit_hub, fit_shared_space
from facebridge.metrics.similarity import canonical_correlations


def _views(rng: np.random.Generator, n: int = 600, k: int = 5, noise: float = 0.3):
    Z = rng.normal(size=(n, k))
    dims = {"a": 12, "b": 8, "c": 6}
    return Z, {
        m: Z @ rng.normal(size=(k, d)) + noise * rng.normal(size=(n, d)) + rng.normal(size=d)
        for m, d in dims.items()
    }


def test_shared_space_recovers_exact_linear_relation(rng) -> None:
    X = rng.normal(size=(300, 6))
    Y = X @ rng.normal(size=(6, 6)) + 1.0  # invertible: a perfect shared space exists
    proj_a, proj_b = fit_shared_space(X, Y, reg=0.0)
    np.testing.assert_allclose(proj_a.apply(X), proj_b.apply(Y), atol=1e-8)
    assert proj_a.weight.shape == (6, 6)


def test_shared_space_correlations_are_cca(rng) -> None:
    _, V = _views(rng)
    s = fit_shared_space(V["a"], V["b"], reg=0.0)
    np.testing.assert_allclose(s.correlations, canonical_correlations(V["a"], V["b"]), atol=1e-8)
    # Projections are uncorrelated, unit-variance canonical variates scaled by rho ("corr").
    A = s.proj_a.apply(V["a"])
    np.testing.assert_allclose(A.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(np.cov(A.T, bias=True), np.diag(s.correlations**2), atol=1e-8)


def test_whitened_procrustes_weighting_and_dim(rng) -> None:
    _, V = _views(rng)
    s = fit_shared_space(V["a"], V["b"], dim=3, reg=0.1, weighting="none")
    assert s.proj_a.weight.shape == (12, 3)
    assert s.proj_b.weight.shape == (8, 3)
    A, B = s.proj_a.apply(V["a"]), s.proj_b.apply(V["b"])
    # Genuine rows score far higher than shuffled rows.
    assert np.mean(s.score(V["a"], V["b"])) > 0.9
    assert abs(np.mean(s.score(V["a"], V["b"][::-1]))) < 0.2
    assert A.shape == B.shape == (600, 3)


def test_hub_of_two_equals_shared_space(rng) -> None:
    _, V = _views(rng)
    hub = fit_hub({"a": V["a"], "b": V["b"]}, reg=0.05)
    s = fit_shared_space(V["a"], V["b"], reg=0.05)
    # Same space up to the sign of each axis.
    signs = np.sign(np.sum(hub.maps["a"].weight * s.proj_a.weight, axis=0))
    np.testing.assert_allclose(hub.maps["a"].weight * signs, s.proj_a.weight, atol=1e-8)
    np.testing.assert_allclose(hub.maps["b"].weight * signs, s.proj_b.weight, atol=1e-8)


@pytest.mark.parametrize("method", ["maxvar", "gpa"])
def test_hub_links_every_pair_of_models(rng, method: str) -> None:
    _, V = _views(rng, noise=0.1)
    hub = fit_hub(V, method=method)
    assert isinstance(hub, Hub)
    assert hub.models == ("a", "b", "c")
    for ma in V:
        for mb in V:
            genuine = hub.compare(ma, V[ma], mb, V[mb])
            shuffled = hub.compare(ma, V[ma], mb, np.roll(V[mb], 1, axis=0))
            assert genuine.mean() > 0.8, (ma, mb)
            assert genuine.mean() - shuffled.mean() > 0.7, (ma, mb)


def test_maxvar_hub_dims_and_correlations(rng) -> None:
    _, V = _views(rng, k=4, noise=0.1)
    hub = fit_hub(V, reg=0.0)
    assert hub.dim == 6  # min over models
    assert hub.correlations.shape == (6,)
    assert np.all(hub.correlations[:4] > 0.9)  # four planted shared factors
    assert np.all(hub.correlations[4:] < 0.3)
    assert fit_hub(V, dim=2).project("b", V["b"]).shape == (600, 2)


def test_gpa_hub_keeps_each_model_geometry(rng) -> None:
    _, V = _views(rng)
    hub = fit_hub(V, method="gpa")
    assert hub.dim == 12
    assert hub.n_iter >= 1
    P = hub.project("b", V["b"])
    Bc = V["b"] - V["b"].mean(0)
    # Rotation + one global scale: inner products preserved up to that scale.
    G1, G2 = Bc @ Bc.T, P @ P.T
    np.testing.assert_allclose(G2 / G2[0, 0], G1 / G1[0, 0], atol=1e-8)


def test_errors(rng) -> None:
    _, V = _views(rng)
    with pytest.raises(DimensionError, match="at least two models"):
        fit_hub({"a": V["a"]})
    with pytest.raises(DimensionError, match="rows must correspond"):
        fit_hub({"a": V["a"], "b": V["b"][:-1]})
    with pytest.raises(InvalidInputError, match="reg must be"):
        fit_shared_space(V["a"], V["b"], reg=-0.5)
    with pytest.raises(InvalidInputError, match="dim must be"):
        fit_shared_space(V["a"], V["b"], dim=99)
    with pytest.raises(InvalidInputError, match="weighting"):
        fit_shared_space(V["a"], V["b"], weighting="cubic")
    hub = fit_hub(V)
    with pytest.raises(UnknownModelError, match="not in this hub"):
        hub.project("zz", V["a"])
    with pytest.raises(DimensionError, match=r"shape \(n, 8\)"):
        hub.project("b", V["a"])
