"""Self-learning maps from few pairs: planted-map recovery, unequal dimensions, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from facebridge.errors import DimensionError, FacebridgeError, InvalidInputError
from facebridge.maps.linear import fit_ridge
from facebridge.maps.semisupervised import (
    SelfLearningMap,
    csls_scores,
    fit_self_learning,
    initial_dictionary,
    mutual_nearest,
)


def _clustered(n_id: int = 60, per: int = 4, d: int = 16, noise: float = 0.08, seed: int = 0):
    """Identities with ``per`` photos each (clustered, so nearest neighbours mean something)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_id, d))
    X = np.repeat(centres, per, axis=0) + noise * rng.normal(size=(n_id * per, d))
    labels = np.repeat(np.arange(n_id), per)
    return X, labels


def _split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Alternate photos of each identity between pool A and pool B (no photo in both)."""
    pos = np.zeros_like(labels)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        pos[idx] = np.arange(idx.size)
    return np.flatnonzero(pos % 2 == 0), np.flatnonzero(pos % 2 == 1)


def test_planted_rotation_recovered_from_five_pairs_and_pools():
    X, labels = _clustered()
    R = np.linalg.qr(np.random.default_rng(1).normal(size=(16, 16)))[0]
    Y = X @ R
    seeds = np.arange(0, 5 * 4 * 3, 12)[:5]  # 5 pairs, 5 different identities
    ia, ib = _split(labels)
    res = fit_self_learning(X[seeds], Y[seeds], X[ia], Y[ib], refit="procrustes")
    assert np.abs(res.map.weight - R).max() < 0.05
    # the dictionary pairs photos of one identity; most identities are found
    da, db = res.dictionary
    assert (labels[ia][da] == labels[ib][db]).mean() > 0.95
    assert da.size > 40
    # the seeds alone do not determine the map (5 pairs in 16 dimensions)
    assert np.abs(fit_ridge(X[seeds], Y[seeds]).weight - R).max() > 0.3


def test_unequal_dimensions_planted_map_recovered_by_ridge_refit():
    rng = np.random.default_rng(2)
    Z, labels = _clustered(n_id=80, d=12, seed=3)
    Pa = rng.normal(size=(12, 40)) / np.sqrt(12)  # A: 40-d, B: 12-d, B = A-latent
    A = Z @ Pa
    B = Z.copy()
    seeds = np.arange(0, 4 * 40, 4)[:5] * 2
    ia, ib = _split(labels)
    res = fit_self_learning(A[seeds], B[seeds], A[ia], B[ib])
    mapped = res.map.apply(A[ib])
    cos = np.sum(mapped * B[ib], axis=1) / (
        np.linalg.norm(mapped, axis=1) * np.linalg.norm(B[ib], axis=1)
    )
    assert res.map.weight.shape == (40, 12)
    assert np.median(cos) > 0.95
    plain = fit_ridge(A[seeds], B[seeds]).apply(A[ib])
    cos0 = np.sum(plain * B[ib], axis=1) / (
        np.linalg.norm(plain, axis=1) * np.linalg.norm(B[ib], axis=1)
    )
    assert np.median(cos) > np.median(cos0) + 0.1


def test_estimator_equals_function_and_seed_map_without_pools():
    X, labels = _clustered(seed=4)
    R = np.linalg.qr(np.random.default_rng(5).normal(size=(16, 16)))[0]
    ia, ib = _split(labels)
    s = np.arange(0, 240, 24)
    est = SelfLearningMap(n_iter=5).fit(X[s], X[s] @ R, pool_a=X[ia], pool_b=X[ib] @ R)
    ref = fit_self_learning(X[s], X[s] @ R, X[ia], X[ib] @ R, n_iter=5)
    np.testing.assert_allclose(est.map_.weight, ref.map.weight)
    np.testing.assert_allclose(est.predict(X[:3]), ref.map.apply(X[:3]))
    assert est.coef_.shape == (16, 16)
    assert est.n_features_in_ == 16
    plain = SelfLearningMap().fit(X[s], X[s] @ R)
    np.testing.assert_allclose(plain.map_.weight, fit_ridge(X[s], X[s] @ R).weight)


def test_csls_and_mutual_nearest_against_brute_force():
    rng = np.random.default_rng(6)
    za = rng.normal(size=(7, 5))
    zb = rng.normal(size=(9, 5))
    za /= np.linalg.norm(za, axis=1, keepdims=True)
    zb /= np.linalg.norm(zb, axis=1, keepdims=True)
    s = za @ zb.T
    k = 3
    ra = np.array([np.sort(row)[-k:].mean() for row in s])
    rb = np.array([np.sort(col)[-k:].mean() for col in s.T])
    np.testing.assert_allclose(csls_scores(za, zb, k), 2 * s - ra[:, None] - rb[None, :], atol=1e-5)
    i, j = mutual_nearest(s)
    brute = [
        (a, b) for a in range(7) for b in range(9) if s[a].argmax() == b and s[:, b].argmax() == a
    ]
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == brute


@pytest.mark.parametrize("init", ["sorted-sim", "moments"])
def test_unsupervised_starts_run_and_return_a_map(init):
    X, labels = _clustered(n_id=30, seed=7)
    ia, ib = _split(labels)
    res = fit_self_learning(np.zeros((0, 16)), np.zeros((0, 16)), X[ia], X[ib], init=init, n_iter=3)
    assert res.map.weight.shape == (16, 16)
    assert np.isfinite(res.map.weight).all()


def test_sorted_similarity_start_finds_identity_in_identical_spaces():
    # with B = A (same space) the sorted-similarity description is exactly invariant
    X, _ = _clustered(n_id=30, per=2, seed=8)
    ia, ib = initial_dictionary(X, X, "sorted-sim", n_sample=60)
    assert (ia == ib).mean() > 0.9


def test_gw_start_needs_pot_or_works():
    X, _ = _clustered(n_id=20, per=2, seed=9)
    ia, ib = initial_dictionary(X, X, "gw", n_sample=40)
    assert ia.shape == ib.shape


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"refit": "ridg"}, InvalidInputError),
        ({"seed_map": "lstsq"}, InvalidInputError),
        ({"init": "magic"}, InvalidInputError),
        ({"keep_prob": 0.0}, InvalidInputError),
        ({"n_iter": -1}, InvalidInputError),
        ({"max_pool": 1}, InvalidInputError),
    ],
)
def test_bad_settings_raise_one_line_errors(kwargs, error):
    X, _labels = _clustered(n_id=10, seed=10)
    with pytest.raises(error) as exc:
        fit_self_learning(X[:3], X[:3], X, X, **kwargs)
    assert "\n" not in str(exc.value)


def test_bad_inputs():
    X, _ = _clustered(n_id=10, seed=11)
    with pytest.raises(InvalidInputError, match="k = 0"):
        fit_self_learning(np.zeros((0, 16)), np.zeros((0, 16)), X, X)
    with pytest.raises(DimensionError, match="same seed pairs"):
        fit_self_learning(X[:3], X[:4], X, X)
    with pytest.raises(DimensionError, match="16 columns"):
        fit_self_learning(X[:3, :8], X[:3], X, X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        fit_self_learning(X[:3], X[:3], bad, X)
    with pytest.raises(InvalidInputError, match="empty"):
        fit_self_learning(X[:3], X[:3], X[:0], X)
    with pytest.raises(InvalidInputError, match="both pool_a and pool_b"):
        SelfLearningMap().fit(X[:3], X[:3], pool_a=X)
    with pytest.raises(FacebridgeError, match="not fitted"):
        SelfLearningMap().predict(X)
