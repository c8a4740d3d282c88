"""The fast exact paths (matrix, rank sweep, pairs sweep, run_analysis) against the generic path."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from facebridge.errors import InvalidInputError
from facebridge.experiments import PairData, mapped_accuracy, pair_data, pair_data_from_arrays
from facebridge.experiments.core import _row_cosine as rowwise_cosine
from facebridge.experiments.core import correspondences
from facebridge.experiments.matrix import (
    cross_model_matrix,
    default_ranks,
    matrix_and_ranks,
    rank_sweep,
)
from facebridge.experiments.sweeps import p_grid, pairs_sweep, sweep_order
from facebridge.maps import fit_ridge
from facebridge.maps.moments import MAP_KINDS
from facebridge.metrics import FoldScorer, kfold_accuracy
from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    """Small matrices: BLAS threads only add contention on a shared 2-core machine."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def data() -> PairData:
    proto = make_synthetic_protocol(n_genuine=30, n_impostor=30, identities_per_fold=20, seed=3)
    emb = make_synthetic_embeddings(
        proto, dims={"a": 40, "b": 24, "c": 48, "u": 16}, unrelated=["u"], within_noise=0.6
    )
    return pair_data(emb, proto)


@pytest.fixture(scope="module")
def holey(data: PairData) -> PairData:
    """The same data with some pairs invalid (missing embeddings)."""
    v = data.valid.copy()
    v[[1, 2, 70, 71, 300, 599]] = False
    return pair_data_from_arrays(
        data.left,
        data.right,
        data.genuine,
        data.folds,
        v,
        left_ids=data.left_ids,
        right_ids=data.right_ids,
    )


# ----------------------------------------------------------------------------- FoldScorer


@pytest.mark.parametrize("with_invalid", [False, True])
def test_fold_scorer_equals_kfold_accuracy(with_invalid: bool) -> None:
    rng = np.random.default_rng(1)
    n, k = 300, 5
    folds = np.repeat(np.arange(k), n // k)
    genuine = rng.random(n) < 0.5
    valid = rng.random(n) > 0.1 if with_invalid else np.ones(n, dtype=bool)
    S = rng.normal(size=(7, n)) + genuine
    S[3] = np.round(S[3], 1)  # many ties
    S[4] = 0.25  # all tied
    S[5] = np.where(genuine, 1.0, 0.0)  # separable
    S[6] = np.where(genuine, 0.0, 1.0)  # inverted
    for f in range(k):
        acc, thr = FoldScorer(genuine, folds, valid, f)(S)
        for r in range(S.shape[0]):
            ref = kfold_accuracy(S[r], genuine, folds, valid)
            assert acc[r] == pytest.approx(ref.per_fold[f], abs=1e-12)
            assert thr[r] == ref.thresholds[f]


# ------------------------------------------------------------------------------------ matrix


def _max_diff(fast: dict, data: PairData, **kw: object) -> float:
    out = 0.0
    for (s, t), r in fast.items():
        ref = mapped_accuracy(data, s, t, **kw)  # type: ignore[arg-type]
        out = max(out, float(np.abs(ref.per_fold - r.per_fold).max()))
        out = max(out, float(np.abs(ref.thresholds - r.thresholds).max()))
    return out


def test_matrix_equals_generic_path(data: PairData) -> None:
    mr = cross_model_matrix(data)
    assert _max_diff(mr.mapped, data) <= 1e-6
    assert mr.table().shape == (4, 4)
    np.testing.assert_allclose(np.diag(mr.table()), [mr.native[m].mean for m in data.models])
    recs = mr.records()
    assert len(recs) == 12
    cell = next(r for r in recs if r["source"] == "a" and r["target"] == "c")
    assert cell["unmapped_accuracy"] is None
    assert {"source", "target", "accuracy", "std", "unmapped_accuracy"} <= set(cell)
    assert mr.settings == {
        "alpha": 1.0,
        "correspondence": "matched-pairs",
        "map": "ridge",
        "symmetric_pairs": False,
    }


@pytest.mark.parametrize("kind", sorted(set(MAP_KINDS) - {"ridge"}))
def test_every_map_kind_equals_generic_path(data: PairData, kind: str) -> None:
    """The matrix fits each kind from block moments; the generic path fits it from rows."""
    mr = cross_model_matrix(data.select(["a", "b", "c"]), map=kind)
    fit_rows = MAP_KINDS[kind].fit_rows
    assert _max_diff(mr.mapped, data, fitter=lambda X, Y: fit_rows(X, Y, 1.0)) <= 1e-6


def test_same_image_alpha_and_invalid_pairs_equal_generic_path(holey: PairData) -> None:
    sub = holey.select(["a", "b", "u"])
    mr = cross_model_matrix(sub, correspondence="same-image", alpha=0.3)
    assert (
        _max_diff(
            mr.mapped, sub, correspondence="same-image", fitter=lambda X, Y: fit_ridge(X, Y, 0.3)
        )
        <= 1e-6
    )
    mr2 = cross_model_matrix(sub)
    assert _max_diff(mr2.mapped, sub) <= 1e-6
    # out-of-fold scores: fold f's pairs scored by fold f's map
    _, maps = __import__("facebridge.experiments", fromlist=["mapped_scores"]).mapped_scores(
        sub, "a", "b"
    )
    te = (sub.folds == 2) & sub.valid
    ref = rowwise_cosine(maps[2].apply(sub.left["a"].astype(float)), sub.right["b"].astype(float))
    np.testing.assert_allclose(mr2.oof_scores[("a", "b")][te], ref[te], atol=1e-9)


def test_matrix_planted_and_unrelated(data: PairData) -> None:
    mr = cross_model_matrix(data)
    assert mr.accuracy("a", "c") > 0.85
    assert abs(mr.accuracy("a", "u") - 0.5) < 0.1
    assert abs(mr.accuracy("u", "b") - 0.5) < 0.1


def test_matrix_errors(data: PairData) -> None:
    with pytest.raises(InvalidInputError, match="at least two models"):
        cross_model_matrix(data.select(["a"]))
    with pytest.raises(InvalidInputError, match="unknown map"):
        cross_model_matrix(data, map="mlp")
    with pytest.raises(InvalidInputError, match="correspondence"):
        cross_model_matrix(data, correspondence="pairs")
    with pytest.raises(InvalidInputError, match="alpha"):
        cross_model_matrix(data, alpha=-1)


# ------------------------------------------------------------------------------------- ranks


def test_default_ranks() -> None:
    assert default_ranks(512) == (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
    assert default_ranks(192) == (1, 2, 4, 8, 16, 32, 64, 128, 192)
    assert default_ranks(1) == (1,)


def test_rank_sweep_equals_truncated_maps(holey: PairData) -> None:
    sub = holey.select(["a", "b", "c"])
    rs = rank_sweep(sub)
    assert set(rs) == {"a->b", "a->c", "b->a", "b->c", "c->a", "c->b"}
    for key in ("a->b", "b->c", "c->a", "a->c"):
        s, t = key.split("->")
        r = rs[key]
        assert r.ranks == default_ranks(min(sub.dim(s), sub.dim(t)))
        for i, k in enumerate(r.ranks):
            ref = mapped_accuracy(sub, s, t, fitter=lambda X, Y, k=k: fit_ridge(X, Y).truncate(k))
            np.testing.assert_allclose(r.per_fold[i], ref.per_fold, atol=1e-6)
        # spectrum: mean over folds of the fitted weights' singular values
        sv = np.mean(
            [
                np.linalg.svd(fit_ridge(*_train(sub, s, t, f)).weight, compute_uv=False)
                for f in range(sub.n_folds)
            ],
            axis=0,
        )
        np.testing.assert_allclose(r.singular_values, sv, rtol=1e-6, atol=1e-9)
    # accuracy grows (weakly, up to noise) with the rank and the full rank is the matrix value
    mr, rs2 = matrix_and_ranks(sub, ranks=(2, 8, 1000))
    assert rs2["a->c"].ranks == (2, 8, 40)
    np.testing.assert_allclose(rs2["a->c"].per_fold[-1], mr.mapped[("a", "c")].per_fold)
    assert rs["a->c"].accuracy[-1] > rs["a->c"].accuracy[0]


def _train(d: PairData, s: str, t: str, f: int) -> tuple[np.ndarray, np.ndarray]:
    rows = d.train_mask(f) & d.genuine
    return d.left[s][rows].astype(float), d.right[t][rows].astype(float)


# ---------------------------------------------------------------------------------- pairs sweep


def test_p_grid() -> None:
    g = p_grid(2700, 100)
    assert g[0] == 1
    assert g[-1] == 2700
    assert g.size == 100
    assert np.all(np.diff(g) > 0)
    assert list(p_grid(5, 100)) == [1, 2, 3, 4, 5]
    with pytest.raises(InvalidInputError, match="n_points"):
        p_grid(10, 0)


def test_pairs_sweep_equals_fresh_fits(holey: PairData) -> None:
    sub = holey.select(["c", "b", "a"])
    stats: dict = {}
    sw = pairs_sweep(sub, n_points=12, n_draws=2, seed=5, stats=stats)
    assert stats["exact_reruns"] == 0
    assert stats["max_drift"] < 1e-9
    corr = correspondences(sub)
    r = sw["c->b"]
    assert r.per_fold.shape == (r.p.size, sub.n_folds, 2)
    for i in (0, 1, 4, r.p.size - 1):
        p = int(r.p[i])
        for f in (0, 3, 9):
            for d in range(2):
                rows = sweep_order(corr, f, d, seed=5)[:p]
                mp = fit_ridge(corr.source("c")[rows], corr.target("b")[rows])
                s = rowwise_cosine(
                    mp.apply(sub.left["c"].astype(float)), sub.right["b"].astype(float)
                )
                ref = kfold_accuracy(s, sub.genuine, sub.folds, sub.valid).per_fold[f]
                assert r.per_fold[i, f, d] == pytest.approx(ref, abs=1e-6)
    # the last point is the full map, i.e. the matrix value
    mr = cross_model_matrix(sub)
    for key, res in sw.items():
        s, t = key.split("->")
        assert res.full_accuracy == pytest.approx(mr.mapped[(s, t)].mean, abs=1e-12)
        assert res.p_within_1pt is not None
        j = int(np.flatnonzero(res.p == res.p_within_1pt)[0])
        assert res.accuracy[j] >= res.full_accuracy - 0.01 - 1e-12
        assert np.all(res.accuracy[:j] < res.full_accuracy - 0.01)


def test_nested_subsets_and_draws(data: PairData) -> None:
    corr = correspondences(data)
    o1 = sweep_order(corr, 4, 0, seed=1)
    assert set(o1.tolist()) == set(corr.training(4).tolist())
    assert not (corr.bits[o1] == 1 << 4).any()  # fold-safe
    assert not np.array_equal(o1, sweep_order(corr, 4, 1, seed=1))
    np.testing.assert_array_equal(o1, sweep_order(corr, 4, 0, seed=1))


def test_pairs_sweep_exact_rerun_path_agrees(data: PairData) -> None:
    sub = data.select(["a", "b"])
    stats: dict = {}
    m = 9 * 30  # training matched pairs per fold, the same in every fold here
    fast = pairs_sweep(sub, p_values=[1, 5, 40, 200, m], n_draws=1, stats=stats)
    forced: dict = {}
    slow = pairs_sweep(sub, p_values=[1, 5, 40, 200, m], n_draws=1, drift_tol=-1.0, stats=forced)
    assert forced["exact_reruns"] == sub.n_folds * 2
    for key in fast:
        np.testing.assert_allclose(fast[key].per_fold, slow[key].per_fold, atol=1e-12)
        # p = m is the full map
        assert fast[key].accuracy[-1] == pytest.approx(fast[key].full_accuracy, abs=1e-12)


def test_pairs_sweep_errors(data: PairData) -> None:
    with pytest.raises(InvalidInputError, match="n_draws"):
        pairs_sweep(data, n_draws=0)
    with pytest.raises(InvalidInputError, match="p_values"):
        pairs_sweep(data, p_values=[0, 3])


# -------------------------------------------------------------------------------- run_analysis


def test_run_analysis_payload(holey: PairData) -> None:
    from sklearn.metrics import roc_auc_score

    from facebridge.experiments import run_analysis
    from facebridge.report._results import validate_results

    sub = holey.select(["a", "b", "u"])
    calls: list[tuple] = []
    res = run_analysis(sub, n_points=6, n_draws=2, seed=7, progress=lambda *a: calls.append(a))
    validate_results(res)
    assert res["models"] == ["a", "b", "u"]
    assert res["missing"] == 6
    assert res["dims"] == {"a": 40, "b": 24, "u": 16}
    mr, rk = matrix_and_ranks(sub)
    cell = next(c for c in res["matrix"] if c["source"] == "b" and c["target"] == "a")
    assert cell["accuracy"] == mr.mapped[("b", "a")].mean
    assert res["native"]["a"]["accuracy"] == mr.native["a"].mean
    assert res["rank_sweep"]["a->b"]["rank"] == list(rk["a->b"].ranks)
    sw = res["pairs_sweep"]["a->b"]
    assert len(sw["p"]) == 6
    assert sw["full_accuracy"] == mr.mapped[("a", "b")].mean
    # ROC on out-of-fold scores of valid pairs, checked against sklearn
    v = sub.valid
    auc = roc_auc_score(sub.genuine[v], mr.oof_scores[("a", "b")][v])
    assert res["roc"]["a->b"]["auc"] == pytest.approx(auc, abs=1e-12)
    assert {"eer", "tar_at_far_1e-2", "tar_at_far_1e-3", "fmr", "tar"} <= set(res["roc"]["a->a"])
    s = res["settings"]
    assert (s["n_points"], s["n_draws"], s["seed"], s["alpha"]) == (6, 2, 7, 1.0)
    assert s["correspondence"] == "matched-pairs"
    assert "error" in s["missing_policy"]
    assert s["pairs_sweep_exact_reruns"] == 0
    assert {c[0] for c in calls} == {"matrix", "pairs sweep", "roc"}
    assert calls[-1] == ("roc", 9, 9)


def test_run_analysis_without_sweep_and_errors(data: PairData) -> None:
    from facebridge.experiments import run_analysis

    res = run_analysis(data.select(["a", "b"]), pairs=False, roc_curves=False, ranks=[1, 4])
    assert res["pairs_sweep"] is None
    assert res["roc"] == {}
    assert res["rank_sweep"]["a->b"]["rank"] == [1, 4]
    with pytest.raises(InvalidInputError, match="at least two models"):
        run_analysis(data.select(["a"]))


def test_results_do_not_depend_on_threads(data: PairData) -> None:
    sub = data.select(["a", "b", "c"])
    one = pairs_sweep(sub, n_points=5, n_draws=2, n_jobs=1)
    two = pairs_sweep(sub, n_points=5, n_draws=2, n_jobs=2)
    for key in one:
        np.testing.assert_array_equal(one[key].per_fold, two[key].per_fold)
    m1, r1 = matrix_and_ranks(sub, n_jobs=1)
    m2, r2 = matrix_and_ranks(sub, n_jobs=3)
    for key in m1.mapped:
        np.testing.assert_array_equal(m1.mapped[key].per_fold, m2.mapped[key].per_fold)
        np.testing.assert_array_equal(m1.oof_scores[key], m2.oof_scores[key])
    for key in r1:
        np.testing.assert_array_equal(r1[key].per_fold, r2[key].per_fold)
    with pytest.raises(InvalidInputError, match="n_jobs"):
        cross_model_matrix(sub, n_jobs=0)


def test_sweep_does_not_depend_on_block_size(holey: PairData) -> None:
    """The blocked scorer (distinct left items scored in blocks along the whole path) gives the
    same accuracies whatever the block size, down to one item per block."""
    sub = holey.select(["a", "b", "c"])
    ref = pairs_sweep(sub, n_points=6, n_draws=1, block_rows=100_000)
    for rows in (1, 7):
        got = pairs_sweep(sub, n_points=6, n_draws=1, block_rows=rows)
        for key in ref:
            np.testing.assert_array_equal(ref[key].per_fold, got[key].per_fold)


# ------------------------------------------------------------------------------ real protocol


@pytest.mark.realdata
def test_real_lfw_protocol_fast_equals_generic(lfw_dir) -> None:  # type: ignore[no-untyped-def]
    """The real View 2 pairs (repeated items, identity-disjoint folds) through the fast paths."""
    from facebridge.experiments._fast import LeftIndex
    from facebridge.protocols import load_lfw_pairs

    proto = load_lfw_pairs(lfw_dir / "pairs.txt")
    emb = make_synthetic_embeddings(proto, dims={"p": 16, "q": 12}, latent_dim=10, within_noise=0.9)
    d = pair_data(emb, proto)
    assert d.n_pairs == 6000
    assert LeftIndex.of(d).rows.size == 4564  # distinct left images: mapped once each
    assert LeftIndex.of(d, "right").rows.size == 4576
    mr, rk = matrix_and_ranks(d)
    ref = mapped_accuracy(d, "q", "p")
    np.testing.assert_allclose(mr.mapped[("q", "p")].per_fold, ref.per_fold, atol=1e-12)
    assert mr.mapped[("q", "p")].mean > 0.7  # well above chance (noisy planted spaces)
    ref4 = mapped_accuracy(d, "p", "q", fitter=lambda X, Y: fit_ridge(X, Y).truncate(4))
    np.testing.assert_allclose(rk["p->q"].per_fold[2], ref4.per_fold, atol=1e-12)
    sw = pairs_sweep(d, p_values=[1, 100, 2700], n_draws=1)
    assert sw["p->q"].p.tolist() == [1, 100, 2700]
    assert sw["p->q"].accuracy[-1] == pytest.approx(mr.mapped[("p", "q")].mean, abs=1e-12)


def test_fold_without_training_pairs_is_one_line_naming_the_fold() -> None:
    from facebridge.testing import make_synthetic_pair_data

    d = make_synthetic_pair_data({"a": 8, "b": 6})
    valid = d.valid & ~((d.folds != 0) & d.genuine)  # fold 1's training folds: no genuine pair
    bad = pair_data_from_arrays(d.left, d.right, d.genuine, d.folds, valid)
    with pytest.raises(InvalidInputError, match=r"^fold 1 has no training correspondence for a;"):
        cross_model_matrix(bad)
