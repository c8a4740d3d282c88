from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from facebridge.errors import InvalidInputError
from facebridge.metrics.linkability import (
    default_bins,
    global_linkability,
    local_linkability,
    maximal_linkability,
    score_densities,
    unlinkability,
)


def _gaussian_reference(delta: float) -> tuple[float, float]:
    """D_sys and maximal linkability of N(delta, 1) (mated) vs N(0, 1) (non-mated), omega = 1.

    log LR(s) = delta s - delta^2 / 2, so D(s) = tanh(log LR / 2) where LR > 1 (s > delta / 2);
    D_sys = int_{delta/2}^inf phi(s - delta) tanh(...) ds (numerical quadrature); the total
    variation is 2 Phi(delta / 2) - 1, so the maximal leakage is log2(2 Phi(delta / 2)).
    """
    d_sys = integrate.quad(
        lambda s: stats.norm.pdf(s, delta) * np.tanh((delta * s - delta**2 / 2) / 2),
        delta / 2,
        np.inf,
    )[0]
    return d_sys, float(np.log2(2 * stats.norm.cdf(delta / 2)))


@pytest.mark.parametrize("method", ["hist", "kde"])
def test_fully_separable_scores_are_fully_linkable(rng, method):
    mated = rng.uniform(0.7, 0.9, 2000)
    nonmated = rng.uniform(-0.2, 0.1, 5000)
    r = unlinkability(mated, nonmated, method=method)
    assert r.d_sys == pytest.approx(1.0, abs=1e-3 if method == "hist" else 0.01)
    assert r.maximal_linkability == pytest.approx(1.0, abs=1e-3 if method == "hist" else 0.01)


def test_identical_samples_are_unlinkable():
    s = np.linspace(-1, 1, 500)
    r = unlinkability(s, s.copy())
    assert r.d_sys == 0.0
    assert r.maximal_linkability == 0.0
    assert np.all(r.local == 0)


@pytest.mark.parametrize("method", ["hist", "kde"])
def test_identical_distributions_are_nearly_unlinkable(rng, method):
    r = unlinkability(rng.normal(size=5000), rng.normal(size=50000), method=method)
    assert r.d_sys < 0.03
    assert r.maximal_linkability < 0.06


@pytest.mark.parametrize("delta", [0.5, 1.5, 3.0])
@pytest.mark.parametrize("method", ["hist", "kde"])
def test_gaussian_case_matches_quadrature(delta, method):
    r = np.random.default_rng(7)
    mated = r.normal(delta, 1.0, 20000)
    nonmated = r.normal(0.0, 1.0, 20000)
    ref_d, ref_ml = _gaussian_reference(delta)
    res = unlinkability(mated, nonmated, method=method, n_bins=100)
    assert res.d_sys == pytest.approx(ref_d, abs=0.02)
    assert res.maximal_linkability == pytest.approx(ref_ml, abs=0.02)


def test_densities_integrate_to_one(rng):
    for method in ("hist", "kde"):
        edges, pm, pn = score_densities(rng.normal(size=300), rng.normal(1, 2, 700), method=method)
        w = edges[1] - edges[0]
        assert pm.sum() * w == pytest.approx(1.0, abs=1e-9 if method == "hist" else 2e-3)
        assert pn.sum() * w == pytest.approx(1.0, abs=1e-9 if method == "hist" else 2e-3)


def test_local_measure_hand_values_and_omega():
    pm = np.array([3.0, 1.0, 0.0, 1.0, 0.0])
    pn = np.array([1.0, 1.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(local_linkability(pm, pn), [0.5, 0.0, 0.0, 1.0, 0.0])
    # omega = 3 -> LR*omega = 9, 3, 0, inf
    np.testing.assert_allclose(local_linkability(pm, pn, omega=3.0), [0.8, 0.5, 0.0, 1.0, 0.0])
    # omega < 1 lowers the measure: 3 * 0.25 < 1; an infinite LR stays at 1
    np.testing.assert_allclose(local_linkability(pm, pn, omega=0.25), [0.0, 0.0, 0.0, 1.0, 0.0])


def test_d_sys_grows_with_omega(rng):
    m, n = rng.normal(1, 1, 3000), rng.normal(0, 1, 3000)
    vals = [global_linkability(m, n, omega=w) for w in (0.1, 0.5, 1.0, 2.0, 10.0)]
    assert vals == sorted(vals)
    # the maximal linkability has no prior
    assert maximal_linkability(m, n) == pytest.approx(
        unlinkability(m, n, omega=5).maximal_linkability
    )


@settings(max_examples=30, deadline=None)
@given(
    st.floats(0.01, 100.0) | st.floats(-100.0, -0.01),
    st.floats(-50.0, 50.0),
    st.integers(0, 1000),
)
def test_affine_rescaling_keeps_histogram_estimates(a, b, seed):
    r = np.random.default_rng(seed)
    m, n = r.normal(1.0, 1.0, 1500), r.normal(0.0, 1.2, 3000)
    base = unlinkability(m, n)
    moved = unlinkability(a * m + b, a * n + b)
    # identical up to points that rounding moves across a bin edge
    assert moved.d_sys == pytest.approx(base.d_sys, abs=5e-3)
    assert moved.maximal_linkability == pytest.approx(base.maximal_linkability, abs=5e-3)


def test_monotone_nonlinear_rescaling_changes_estimates_only_slightly(rng):
    m, n = rng.normal(0.6, 0.15, 5000), rng.normal(0.1, 0.15, 20000)
    base = unlinkability(m, n, method="kde")
    warped = unlinkability(np.exp(3 * m), np.exp(3 * n), method="kde")
    assert warped.d_sys == pytest.approx(base.d_sys, abs=0.03)
    assert warped.maximal_linkability == pytest.approx(base.maximal_linkability, abs=0.03)


def test_result_shapes_and_dict(rng):
    r = unlinkability(rng.normal(1, 1, 400), rng.normal(size=900))
    assert r.grid.shape == r.local.shape == r.mated_density.shape == r.nonmated_density.shape
    assert r.grid.shape == (default_bins(400, 900),) == (20,)
    d = r.to_dict()
    assert d["n_mated"] == 400
    assert d["omega"] == 1.0
    assert 0.0 <= d["d_sys"] <= 1.0


def test_errors_name_the_fix():
    with pytest.raises(InvalidInputError, match="at least one"):
        unlinkability(np.array([]), np.ones(3))
    with pytest.raises(InvalidInputError, match="NaN"):
        unlinkability(np.array([np.nan]), np.ones(3))
    with pytest.raises(InvalidInputError, match="method must be"):
        unlinkability(np.ones(3), np.ones(3), method="gmm")
    with pytest.raises(InvalidInputError, match="n_bins"):
        unlinkability(np.ones(3), np.ones(3), n_bins=1)
    with pytest.raises(InvalidInputError, match="omega"):
        local_linkability(np.ones(2), np.ones(2), omega=0)
    with pytest.raises(InvalidInputError, match="one grid"):
        local_linkability(np.ones(2), np.ones(3))
