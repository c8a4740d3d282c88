from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.metrics.identification import (
    cmc_curve,
    dir_at_fpir,
    fpir_threshold,
    identification_rate,
    normalize_rows,
    rank_scores,
    search,
)


def _reference_ranks(scores: np.ndarray, probe_labels, gallery_labels) -> np.ndarray:
    """Independent reference: sort identities by their best score, find the mate's position."""
    names = sorted(set(gallery_labels))
    out = []
    for i, who in enumerate(probe_labels):
        if who not in names:
            out.append(0)
            continue
        best = {n: max(scores[i, j] for j, g in enumerate(gallery_labels) if g == n) for n in names}
        # pessimistic ties: every other identity with a score >= the mate's is ahead
        out.append(1 + sum(1 for n in names if n != who and best[n] >= best[who]))
    return np.array(out)


def test_rank_scores_hand_case_and_tie_rules():
    s = np.array(
        [
            [0.9, 0.1, 0.2],  # mate a first
            [0.2, 0.3, 0.5],  # mate a third
            [0.5, 0.5, 0.1],  # mate b tied with a
            [0.4, 0.3, 0.2],  # identity z not enrolled
        ]
    )
    g = ["a", "b", "c"]
    res = rank_scores(s, ["a", "a", "b", "z"], g)
    assert res.ranks.tolist() == [1, 3, 2, 0]
    assert res.n_gallery == 3
    assert res.mated.tolist() == [True, True, True, False]
    assert np.isnan(res.mated_scores[3])
    assert res.best_scores.tolist() == [0.9, 0.5, 0.5, 0.4]
    assert rank_scores(s, ["a", "a", "b", "z"], g, ties="optimistic").ranks.tolist() == [1, 3, 1, 0]
    assert res.rate(1) == pytest.approx(1 / 3)
    assert res.rate(3) == 1.0


def test_all_equal_scores_give_rank_n_pessimistic():
    s = np.zeros((4, 5))
    res = rank_scores(s, list("abcd"), list("abcde"))
    assert res.ranks.tolist() == [5, 5, 5, 5]
    assert res.rate(1) == 0.0


def test_search_matches_reference_with_repeated_gallery_identities(rng):
    p = rng.normal(size=(40, 8))
    g = rng.normal(size=(15, 8))
    gl = [f"id{i % 6}" for i in range(15)]
    pl = [f"id{i % 8}" for i in range(40)]  # id6, id7 are not enrolled
    res = search(p, g, pl, gl)
    s = normalize_rows(p) @ normalize_rows(g).T
    ref = _reference_ranks(s, pl, gl)
    assert res.ranks.tolist() == ref.tolist()
    assert res.n_gallery == 6
    assert res.n_nonmated == 10
    np.testing.assert_allclose(res.best_scores, s.max(axis=1), rtol=1e-6)


def test_search_chunking_does_not_change_results(rng):
    p = rng.normal(size=(101, 16)).astype(np.float32)
    g = rng.normal(size=(37, 16)).astype(np.float32)
    pl = rng.integers(0, 45, size=101)
    gl = np.arange(37)
    whole = search(p, g, pl, gl)
    tiny = search(p, g, pl, gl, chunk_bytes=4 * 37 * 3)  # 3 probes per block
    assert whole.ranks.tolist() == tiny.ranks.tolist()
    np.testing.assert_array_equal(whole.best_scores, tiny.best_scores)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.01, 100.0))
def test_ranks_invariant_to_probe_scaling(seed, scale):
    r = np.random.default_rng(seed)
    p = r.normal(size=(20, 6))
    g = r.normal(size=(9, 6))
    pl = r.integers(0, 9, size=20)
    gl = np.arange(9)
    a = search(p, g, pl, gl)
    b = search(p * scale, g, pl, gl)
    assert a.ranks.tolist() == b.ranks.tolist()


def test_cmc_curve_is_cumulative_and_reaches_one():
    ranks = np.array([1, 1, 2, 4, 0, 3])
    cmc = cmc_curve(ranks, 5)
    np.testing.assert_allclose(cmc, [0.4, 0.6, 0.8, 1.0, 1.0])
    assert identification_rate(ranks, 2) == pytest.approx(0.6)
    assert cmc_curve(ranks, 2).tolist() == pytest.approx([0.4, 0.6])


def test_fpir_threshold_hand_cases():
    s = np.arange(100, dtype=float)  # 0..99
    t, achieved = fpir_threshold(s, 0.05)
    assert achieved == pytest.approx(0.05)
    assert np.count_nonzero(s >= t) == 5
    assert 94 < t <= 95
    t0, a0 = fpir_threshold(s, 0.0)
    assert a0 == 0.0
    assert t0 > 99
    t1, a1 = fpir_threshold(s, 1.0)
    assert t1 == -np.inf
    assert a1 == 1.0
    # ties at the cut: none of the tied scores alarms, so the achieved rate is below the target
    t, achieved = fpir_threshold(np.array([1.0, 0.5, 0.5, 0.5, 0.1]), 0.4)
    assert achieved == pytest.approx(0.2)
    assert t > 0.5


def test_dir_at_fpir_hand_case():
    #               mated probes (identity enrolled)   | non-mated probes
    s = np.array([[0.9, 0.1], [0.6, 0.2], [0.55, 0.8], [0.7, 0.1], [0.5, 0.2]])
    res = rank_scores(s, ["a", "a", "a", "x", "y"], ["a", "b"])
    # non-mated best scores 0.7 and 0.5: FPIR 0.5 -> threshold just above 0.5
    out = dir_at_fpir(res, fpir=0.5, rank=1)
    assert out.fpir_achieved == pytest.approx(0.5)
    assert out.n_mated == 3
    assert out.n_nonmated == 2
    # probe 0: rank 1, 0.9 >= t; probe 1: rank 1, 0.6 >= t; probe 2: rank 2 -> miss at rank 1
    assert out.dir == pytest.approx(2 / 3)
    assert dir_at_fpir(res, fpir=0.5, rank=2).dir == 1.0
    strict = dir_at_fpir(res, fpir=0.0)
    assert strict.threshold > 0.7
    assert strict.dir == pytest.approx(1 / 3)
    # at rank 2 probe 2 is found, but its mated score 0.55 is below the threshold
    assert dir_at_fpir(res, fpir=0.0, rank=2).dir == pytest.approx(1 / 3)


def test_dir_never_exceeds_closed_set_rate(rng):
    p = rng.normal(size=(200, 10))
    g = rng.normal(size=(30, 10))
    pl = rng.integers(0, 60, size=200)
    res = search(p + 0.0, g, pl, np.arange(30))
    for k in (1, 5):
        assert dir_at_fpir(res, 0.1, rank=k).dir <= res.rate(k) + 1e-12


def test_errors_name_the_fix(rng):
    p = rng.normal(size=(3, 4))
    g = rng.normal(size=(2, 5))
    with pytest.raises(DimensionError, match="map the probes"):
        search(p, g, [0, 1, 2], [0, 1])
    with pytest.raises(DimensionError, match="one label per"):
        search(p, p, [0, 1], [0, 1, 2])
    with pytest.raises(InvalidInputError, match="gallery is empty"):
        search(p, np.zeros((0, 4)), [0, 1, 2], [])
    with pytest.raises(InvalidInputError, match="NaN"):
        search(np.full((3, 4), np.nan), p, [0, 1, 2], [0, 1, 2])
    with pytest.raises(InvalidInputError, match="ties must be"):
        rank_scores(np.zeros((1, 1)), [0], [0], ties="random")
    with pytest.raises(InvalidInputError, match="no mated probe"):
        identification_rate(np.array([0, 0]), 1)
    with pytest.raises(InvalidInputError, match="rank k must be"):
        identification_rate(np.array([1]), 0)
    with pytest.raises(InvalidInputError, match="no non-mated probe"):
        dir_at_fpir(rank_scores(np.eye(2), [0, 1], [0, 1]), 0.01)
    with pytest.raises(InvalidInputError, match="fpir must be"):
        fpir_threshold(np.ones(3), 1.5)
