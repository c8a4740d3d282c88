"""maps.moments: fits from moments equal the fits from rows; block moments equal the moments of
the training rows for any set of excluded folds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from facebridge.maps.moments import (
    MAP_KINDS,
    BlockMoments,
    MomentFit,
    Moments,
    column_spans,
    fold_bits,
    ridge_from_moments,
)


@pytest.fixture
def rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of 4 folds, some shared by two folds (same-image rows), and a planted map."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    Y = X @ rng.normal(size=(6, 7)) + 0.1 * rng.normal(size=(120, 7)) + 2.0
    folds = rng.integers(0, 4, size=120)
    keys = np.left_shift(1, folds)
    keys[:15] |= np.left_shift(1, (folds[:15] + 1) % 4)  # belong to two folds
    return X, Y, keys


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("excluded", [[0], [2], [1, 3], [0, 1, 2]])
def test_block_moments_equal_the_training_rows(rows, lazy: bool, excluded: list[int]) -> None:
    X, Y, keys = rows
    train = (keys & ~fold_bits(excluded)) != 0  # a row trains unless all its folds are excluded
    got = BlockMoments(X, Y, keys, target_gram=True, lazy=lazy).without(excluded)
    ref = Moments.of(X[train], Y[train])
    assert got.n == ref.n == int(train.sum())
    for f in ("sx", "sy", "xx", "xy", "yy"):
        np.testing.assert_allclose(getattr(got, f), getattr(ref, f), atol=1e-10)
    same = BlockMoments(X, None, keys, lazy=lazy).without(excluded)
    assert same.same
    np.testing.assert_allclose(same.xx, X[train].T @ X[train], atol=1e-10)


def test_ridge_from_moments_equals_sklearn(rows) -> None:
    X, Y, _ = rows
    W, b = ridge_from_moments(Moments.of(X, Y), 0.7)
    ref = Ridge(alpha=0.7).fit(X, Y)
    np.testing.assert_allclose(W, ref.coef_.T, atol=1e-9)
    np.testing.assert_allclose(b, ref.intercept_, atol=1e-9)


@pytest.mark.parametrize("name", sorted(MAP_KINDS))
def test_every_kind_from_moments_equals_its_fit_from_rows(rows, name: str) -> None:
    """A kind fitted from moments against two targets side by side equals its fit from rows
    against each target alone (the matrix and compare-maps use the first, the audit the
    second)."""
    X, Y, _ = rows
    kind = MAP_KINDS[name]
    spans = column_spans([3, 4])
    W, b = kind.fit(MomentFit(Moments.of(X, Y)), spans, 0.7)
    for sl in spans:
        ref = kind.fit_rows(X, Y[:, sl], 0.7)
        np.testing.assert_allclose(W[:, sl], ref.weight, atol=1e-8)
        np.testing.assert_allclose(b[sl], ref.bias, atol=1e-8)


def test_scaled_procrustes_recovers_a_planted_scaled_rotation() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    R = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    Y = 2.5 * X @ R + 1.0
    W, b = MAP_KINDS["procrustes-scaled"].fit(Moments.of(X, Y), column_spans([4]), 1.0)
    np.testing.assert_allclose(W, 2.5 * R, atol=1e-10)
    np.testing.assert_allclose(b, 1.0, atol=1e-10)
