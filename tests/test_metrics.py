"""Tests of facebridge.metrics (verification): naive references, sklearn parity, invariants, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.metrics.pairwise import cosine_similarity

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.metrics import (
    FoldAccuracy,
    accuracy_at,
    best_threshold,
    cosine_score,
    eer,
    fmr,
    fnmr,
    kfold_accuracy,
    kfold_accuracy_batch,
    roc,
    roc_auc,
    tar_at_far,
)

# --------------------------------------------------------------------------- naive references


def _naive_best(s: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """O(n^2): try "genuine iff s >= v" for every score value v and +inf; return
    (best accuracy, the lowest v reaching it)."""
    best_acc, best_v = -1.0, np.inf
    for v in sorted({*s.tolist(), np.inf}):
        acc = float(np.mean((s >= v) == g))
        if acc > best_acc:
            best_acc, best_v = acc, v
    return best_acc, best_v


def _naive_threshold(s: np.ndarray, g: np.ndarray) -> float:
    """O(n^2) version of the documented rule: try the smallest score, every midpoint between
    adjacent distinct scores and the next float above the largest; keep the first (lowest) best."""
    u = np.unique(s)
    cands = [u[0], *((u[:-1] + u[1:]) / 2), np.nextafter(u[-1], np.inf)]
    accs = [float(np.mean((s >= t) == g)) for t in cands]
    return float(cands[int(np.argmax(accs))])


def _naive_kfold(s, g, f, valid):
    k = int(f.max()) + 1
    out = np.empty(k)
    for fold in range(k):
        tr = (f != fold) & valid
        t = _naive_threshold(s[tr], g[tr])
        te = (f == fold) & valid
        out[fold] = np.sum((s[te] >= t) == g[te]) / np.sum(f == fold)
    return out


def _random_case(rng, n, k, decimals=1):
    f = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    g = rng.random(n) < 0.5
    g[:2] = [True, False]
    s = np.round(rng.normal(size=n) + 0.8 * g, decimals)  # ties on purpose
    return s, g, f


# --------------------------------------------------------------------------- cosine


def test_cosine_score_equals_sklearn_diagonal():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(20, 7)), rng.normal(size=(20, 7))
    np.testing.assert_allclose(cosine_score(A, B), np.diag(cosine_similarity(A, B)), atol=1e-12)
    np.testing.assert_allclose(cosine_score(A, 3 * A), 1.0)
    np.testing.assert_allclose(cosine_score(A, -A), -1.0)


def test_cosine_score_zero_row_error():
    A = np.ones((3, 2))
    B = np.ones((3, 2))
    B[1] = 0
    with pytest.raises(InvalidInputError, match=r"B has 1 all-zero rows \(first: row 1\)"):
        cosine_score(A, B)


def test_cosine_score_shape_and_nan_errors():
    with pytest.raises(DimensionError, match="same shape"):
        cosine_score(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(InvalidInputError, match="A must be finite, got 1 rows"):
        cosine_score([[np.nan, 1.0]], [[1.0, 1.0]])


# --------------------------------------------------------------------------- thresholds


def test_best_threshold_matches_naive_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(2, 40))
        s = np.round(rng.normal(size=n), 1)
        g = rng.random(n) < 0.5
        g[:2] = [True, False]
        t = best_threshold(s, g)
        acc, v = _naive_best(s, g)
        assert accuracy_at(s, g, t) == pytest.approx(acc)
        # same decisions as the lowest maximising score value
        np.testing.assert_array_equal(s >= t, s >= v)
        assert t == pytest.approx(_naive_threshold(s, g))


def test_best_threshold_is_midway_between_distinct_scores():
    assert best_threshold([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == pytest.approx(0.5)
    # inverted data: the best is to call everything impostor (above the maximum) or genuine
    t = best_threshold([0.1, 0.9], [True, False])
    assert accuracy_at([0.1, 0.9], [True, False], t) == 0.5


def test_rates_at_threshold_follow_the_tie_rule():
    s = np.array([0.2, 0.5, 0.5, 0.8])
    g = np.array([False, True, False, True])
    # a score exactly at the threshold is accepted (genuine)
    assert fmr(s, g, 0.5) == 0.5
    assert fnmr(s, g, 0.5) == 0.0
    assert fnmr(s, g, 0.51) == 0.5
    assert accuracy_at(s, g, 0.5) == 0.75


# --------------------------------------------------------------------------- k-fold


def test_kfold_accuracy_matches_naive():
    rng = np.random.default_rng(2)
    for _ in range(60):
        s, g, f = _random_case(rng, int(rng.integers(10, 60)), int(rng.integers(2, 6)))
        res = kfold_accuracy(s, g, f)
        ref = _naive_kfold(s, g, f, np.ones(s.size, bool))
        np.testing.assert_allclose(res.per_fold, ref)
        assert res.mean == pytest.approx(ref.mean())
        assert res.std == pytest.approx(ref.std(ddof=0))  # population std


def test_kfold_accuracy_with_invalid_pairs_matches_naive():
    rng = np.random.default_rng(3)
    for _ in range(40):
        s, g, f = _random_case(rng, 50, 5)
        valid = rng.random(50) < 0.8
        valid[:2] = True
        s[~valid] = np.nan  # invalid scores are ignored
        res = kfold_accuracy(s, g, f, valid)
        np.testing.assert_allclose(res.per_fold, _naive_kfold(s, g, f, valid))


def test_invalid_pairs_count_as_errors():
    s = np.array([0.9, 0.8, 0.1, 0.2] * 2 + [np.nan])
    g = np.array([True, True, False, False] * 2 + [True])
    f = np.array([0] * 4 + [1] * 4 + [0])
    valid = ~np.isnan(s)
    res = kfold_accuracy(s, g, f, valid)
    np.testing.assert_allclose(res.per_fold, [4 / 5, 1.0])


def test_fold_threshold_does_not_depend_on_its_own_scores():
    rng = np.random.default_rng(4)
    s, g, f = _random_case(rng, 200, 10, decimals=3)
    base = kfold_accuracy(s, g, f)
    for fold in range(10):
        s2 = s.copy()
        s2[f == fold] = rng.normal(size=int(np.sum(f == fold))) * 10
        res = kfold_accuracy(s2, g, f)
        assert res.thresholds[fold] == base.thresholds[fold]


def test_standard_error_is_the_lfw_convention():
    res = FoldAccuracy(0.5, 0.1, np.array([0.4, 0.6]), np.zeros(2))
    assert res.standard_error() == pytest.approx(np.std([0.4, 0.6], ddof=1) / np.sqrt(2))


@pytest.mark.parametrize(
    ("sign", "valid_frac"), [(1.0, 0.85), (-1.0, 0.85), (1.0, 0.3), (0.0, 1.0)]
)
def test_kfold_accuracy_batch_equals_loop(sign, valid_frac):
    # sign -1: inverted scores (the all-impostor threshold wins); valid_frac 0.3: folds whose
    # training set has one class or a handful of pairs
    rng = np.random.default_rng(5)
    for _ in range(30):
        n, k, m = int(rng.integers(6, 80)), int(rng.integers(2, 6)), 7
        _, g, f = _random_case(rng, n, k)
        S = np.round(rng.normal(size=(m, n)) + sign * g, 1)
        V = rng.random((m, n)) < valid_frac
        V[:, :2] = True
        S[~V] = np.nan
        batch = kfold_accuracy_batch(S, g, f, V)
        assert batch.shape == (m, k)
        for r in range(m):
            ref = kfold_accuracy(S[r], g, f, V[r]).per_fold
            np.testing.assert_allclose(batch[r], ref, err_msg=f"row {r}")


def test_kfold_accuracy_batch_shared_valid_and_blocks(monkeypatch):
    import facebridge.metrics.verification as ver

    rng = np.random.default_rng(6)
    _, g, f = _random_case(rng, 100, 10)
    S = rng.normal(size=(9, 100)) + g
    valid = rng.random(100) < 0.9
    valid[:2] = True
    full = kfold_accuracy_batch(S, g, f, valid)
    monkeypatch.setattr(ver, "_BATCH_ELEMENTS", 250)  # rows processed two at a time
    np.testing.assert_array_equal(kfold_accuracy_batch(S, g, f, valid), full)
    for r in range(9):
        np.testing.assert_allclose(full[r], kfold_accuracy(S[r], g, f, valid).per_fold)


# --------------------------------------------------------------------------- ROC family


def test_roc_equals_sklearn_roc_curve():
    rng = np.random.default_rng(7)
    s = np.round(rng.normal(size=300), 1)
    g = rng.random(300) < 0.4
    c = roc(s, g)
    fpr, tpr, thr = roc_curve(g, s, drop_intermediate=False)
    np.testing.assert_allclose(c.fmr, fpr)
    np.testing.assert_allclose(c.tar, tpr)
    np.testing.assert_array_equal(c.thresholds, thr)
    assert roc_auc(s, g) == pytest.approx(roc_auc_score(g, s), abs=1e-12)


def test_eer_known_values():
    assert eer([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 0.0
    assert eer([0.1, 0.2, 0.3, 0.4], [False, True, False, True]) == 0.5
    # crossing inside a segment: linear interpolation between (fmr, fnmr) = (0, 2/3) and (1/2, 0)
    s = [0.1, 0.4, 0.5, 0.6, 0.7]
    g = [False, True, False, True, True]
    c = roc(s, g)
    assert 0 < eer(s, g) < 1
    i = int(np.argmax(c.fnmr - c.fmr <= 0))
    assert c.fmr[i - 1] <= eer(s, g) <= c.fmr[i]


def test_tar_at_far_matches_naive():
    rng = np.random.default_rng(8)
    s = np.round(rng.normal(size=200), 1)
    g = rng.random(200) < 0.5
    for far in (0.0, 0.01, 0.1, 0.5, 1.0):
        best = max(
            np.mean(s[g] >= t) for t in [*np.unique(s), np.inf] if np.mean(s[~g] >= t) <= far
        )
        assert tar_at_far(s, g, far) == pytest.approx(best)


@settings(max_examples=40, deadline=None)
@given(
    scores=st.lists(st.integers(-20, 20), min_size=4, max_size=40),
    labels=st.lists(st.booleans(), min_size=40, max_size=40),
    transform=st.sampled_from(["affine", "cube", "exp"]),
)
def test_eer_and_auc_invariant_under_increasing_transform(scores, labels, transform):
    s = np.array(scores, dtype=float)
    g = np.array(labels[: s.size])
    g[0], g[1] = True, False
    t = {"affine": 3.0 * s - 7.0, "cube": s**3, "exp": np.exp(s / 5.0)}[transform]
    assert eer(t, g) == pytest.approx(eer(s, g), abs=1e-12)
    assert roc_auc(t, g) == pytest.approx(roc_auc(s, g), abs=1e-12)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("func", [best_threshold, roc, roc_auc, eer])
def test_single_class_error(func):
    with pytest.raises(
        InvalidInputError, match="need both genuine and impostor pairs, got 3 genuine"
    ):
        func([0.1, 0.2, 0.3], [True, True, True])


@pytest.mark.parametrize("func", [best_threshold, roc, eer])
def test_empty_and_nonfinite_errors(func):
    with pytest.raises(InvalidInputError, match="scores is empty"):
        func([], [])
    with pytest.raises(InvalidInputError, match=r"scores must be finite, got 1 NaN/inf of 3"):
        func([0.1, np.inf, 0.3], [True, False, True])


def test_genuine_shape_and_type_errors():
    with pytest.raises(DimensionError, match=r"one entry per score \(3\)"):
        best_threshold([0.1, 0.2, 0.3], [True, False])
    with pytest.raises(InvalidInputError, match="genuine must be bool"):
        best_threshold([0.1, 0.2], [0.5, 1.0])


def test_rate_errors():
    with pytest.raises(InvalidInputError, match="fmr needs impostor pairs"):
        fmr([0.1], [True], 0.0)
    with pytest.raises(InvalidInputError, match="fnmr needs genuine pairs"):
        fnmr([0.1], [False], 0.0)
    with pytest.raises(InvalidInputError, match="threshold is NaN"):
        accuracy_at([0.1], [False], np.nan)
    with pytest.raises(InvalidInputError, match=r"far must be in \[0, 1\], got 1.5"):
        tar_at_far([0.1, 0.2], [True, False], 1.5)


def test_fold_errors():
    s, g = np.array([0.1, 0.2, 0.3, 0.4]), np.array([True, False, True, False])
    with pytest.raises(InvalidInputError, match=r"K=3 and empty folds \[1\]"):
        kfold_accuracy(s, g, np.array([0, 0, 2, 2]))
    with pytest.raises(InvalidInputError, match=r"K >= 2, got K=1"):
        kfold_accuracy(s, g, np.zeros(4, int))
    with pytest.raises(InvalidInputError, match="folds must be >= 0"):
        kfold_accuracy(s, g, np.array([-1, 0, 1, 1]))
    with pytest.raises(DimensionError, match=r"one fold id per pair \(4\)"):
        kfold_accuracy(s, g, np.array([0, 1]))
    with pytest.raises(InvalidInputError, match="no valid pair"):
        kfold_accuracy(s, g, np.array([0, 0, 1, 1]), valid=np.zeros(4, bool))


def test_batch_errors():
    g, f = np.array([True, False, True, False]), np.array([0, 0, 1, 1])
    with pytest.raises(DimensionError, match="scores must be 2-D"):
        kfold_accuracy_batch(np.zeros(4), g, f)
    with pytest.raises(InvalidInputError, match="finite where valid, got 1 NaN/inf in 1 rows"):
        kfold_accuracy_batch(np.array([[0.1, np.nan, 0.2, 0.3]]), g, f)
    with pytest.raises(DimensionError, match=r"valid must have shape \(4,\)"):
        kfold_accuracy_batch(np.zeros((2, 4)), g, f, valid=np.ones(3, bool))


# --------------------------------------------------------------------------- real protocol


@pytest.mark.realdata
def test_kfold_on_the_real_lfw_view2_folds(lfw_dir):
    from facebridge.protocols import load_lfw_pairs

    proto = load_lfw_pairs(lfw_dir / "pairs.txt")
    g, f = proto.genuine_array(), proto.fold_array()
    rng = np.random.default_rng(9)
    S = np.round(rng.normal(size=(5, g.size)) + 2.0 * g, 2)
    valid = rng.random(g.size) > 0.01  # a few missing embeddings
    batch = kfold_accuracy_batch(S, g, f, valid)
    assert batch.shape == (5, 10)
    for r in range(5):
        res = kfold_accuracy(S[r], g, f, valid)
        np.testing.assert_allclose(batch[r], res.per_fold)
        # separation d' = 2 gives about Phi(1) = 84% accuracy per fold, minus the missing pairs
        assert 0.78 < res.mean < 0.88
