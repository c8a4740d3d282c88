"""experiments.compare: the fast per-fold fits equal the reference fits, fold safety, summaries."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from facebridge.errors import InvalidInputError
from facebridge.experiments.compare import (
    PAPER_RECIPE,
    CompareSettings,
    Recipe,
    _Engine,
    compare_maps,
    fold_maps,
)
from facebridge.experiments.core import (
    fold_accuracy_from_rows,
    mapped_accuracy,
    pair_data,
    training_correspondences,
    training_rows,
)
from facebridge.experiments.sweeps import pairs_sweep, subset_sweep
from facebridge.maps import fit_lstsq, fit_procrustes, fit_ridge
from facebridge.maps.cv import fit_ridge_cv
from facebridge.maps.moments import Moments
from facebridge.maps.shared import fit_hub, fit_shared_space
from facebridge.testing import (
    identity_of_items,
    make_synthetic_embeddings,
    make_synthetic_protocol,
)

DIMS = {"alpha": 12, "beta": 8, "gamma": 10}
MODES = ("matched-pairs", "same-image")


@pytest.fixture(scope="module")
def proto():
    return make_synthetic_protocol(
        n_folds=4, n_genuine=30, n_impostor=30, identities_per_fold=15, seed=1
    )


@pytest.fixture(scope="module")
def data(proto):
    emb = make_synthetic_embeddings(proto, dims=DIMS, latent_dim=6, within_noise=0.5, seed=2)
    return pair_data(emb, proto)


@pytest.fixture(scope="module")
def result(data):
    st = CompareSettings(sweep=True, sweep_points=(5, 10, 20, 40), sweep_scope="all")
    return compare_maps(data, st)


def _cos(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    return np.sum(A * B, 1) / (np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1))


@pytest.mark.parametrize("mode", MODES)
def test_no_test_fold_identity_reaches_a_fit(proto, data, mode: str) -> None:
    ident = identity_of_items(proto)
    for f in range(data.n_folds):
        test_ids = {
            ident[i]
            for k in np.flatnonzero(data.folds == f)
            for i in (data.left_ids[k], data.right_ids[k])
        }
        rows = training_rows(data, data.train_mask(f), mode)
        seen = {ident[i] for k in rows for i in (data.left_ids[k], data.right_ids[k])}
        assert seen
        assert not seen & test_ids


@pytest.mark.parametrize("mode", MODES)
def test_fold_moments_are_exactly_the_training_correspondences(data, mode: str) -> None:
    eng = _Engine(data, CompareSettings(sweep=False))
    sl = [eng._sl(j) for j in range(3)]
    for f in range(data.n_folds):
        mS, mT, _, CST, _ = eng.fold_moments(mode, f).centred()
        X, Y = training_correspondences(data, "alpha", "gamma", data.train_mask(f), mode)
        np.testing.assert_allclose(mS[sl[0]], X.mean(0), atol=1e-6)
        np.testing.assert_allclose(mT[sl[2]], Y.mean(0), atol=1e-6)
        Xc, Yc = X - X.mean(0), Y - Y.mean(0)
        np.testing.assert_allclose(CST[sl[0], sl[2]], Xc.T @ Yc, atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_poisoning_the_test_fold_changes_no_fit(proto, data, mode: str) -> None:
    """Replace every embedding of fold 0's images: fold 0's maps must not move."""
    emb = make_synthetic_embeddings(proto, dims=DIMS, latent_dim=6, within_noise=0.5, seed=2)
    fold0 = {i for p in proto.pairs if p.fold == 0 for i in (p.left, p.right)}
    rng = np.random.default_rng(9)
    poisoned = {}
    for m, (ids, vec) in emb.items():
        v = vec.copy()
        rows = [k for k, i in enumerate(ids) if i in fold0]
        v[rows] = rng.normal(size=(len(rows), v.shape[1])).astype(np.float32)
        poisoned[m] = (ids, v)
    bad = pair_data(poisoned, proto)
    a, b = fold_maps(data, mode, 0), fold_maps(bad, mode, 0)
    for name in a:
        for key, m in a[name].items():
            ms, ns = (m, b[name][key]) if name != "shared" else (m[0], b[name][key][0])
            np.testing.assert_allclose(ms.weight, ns.weight, atol=1e-6, err_msg=f"{name} {key}")
    # ... and the poisoning does reach fold 1's fits (fold 0 is training data there).
    a1, b1 = fold_maps(data, mode, 1), fold_maps(bad, mode, 1)
    w, wb = a1["ridge"][("alpha", "beta")].weight, b1["ridge"][("alpha", "beta")].weight
    assert not np.allclose(w, wb, atol=1e-3)


@pytest.mark.parametrize("mode", MODES)
def test_fast_fits_equal_reference_fits(data, mode: str) -> None:
    f = 2
    maps = fold_maps(data, mode, f)
    X, Y = training_correspondences(data, "alpha", "beta", data.train_mask(f), mode)
    ref = {
        "ridge": fit_ridge(X, Y, alpha=1.0),
        "lstsq": fit_lstsq(X, Y),
        "procrustes": fit_procrustes(X, Y),
        "ridge-gcv": fit_ridge_cv(X, Y).map,
    }
    for name, r in ref.items():
        got = maps[name][("alpha", "beta")]
        np.testing.assert_allclose(got.weight, r.weight, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(got.bias, r.bias, atol=1e-6, err_msg=name)
    pa, pb = maps["shared"][("alpha", "beta")]
    sp = fit_shared_space(X, Y, reg=0.1)
    np.testing.assert_allclose(np.abs(pa.weight), np.abs(sp.proj_a.weight), atol=1e-6)
    np.testing.assert_allclose(np.abs(pb.weight), np.abs(sp.proj_b.weight), atol=1e-6)
    if mode == "same-image":
        Xs = {m: training_correspondences(data, m, m, data.train_mask(f), mode)[0] for m in DIMS}
        hub = fit_hub(Xs, reg=0.1)
        for m in DIMS:
            np.testing.assert_allclose(
                np.abs(maps["hub"][(m, m)].weight), np.abs(hub.maps[m].weight), atol=1e-6
            )


def test_paper_recipe_equals_generic_mapped_accuracy(data, result) -> None:
    paper = result.summary(PAPER_RECIPE)
    for s, t in [("alpha", "beta"), ("gamma", "alpha")]:
        ref = mapped_accuracy(data, s, t)
        np.testing.assert_allclose(paper.result(s, t).per_fold, ref.per_fold, atol=1e-12)


def test_symmetric_score_keeps_one_template_per_image(data, result) -> None:
    """symmetric = mean of cos(M_ab a_left, b_right) and cos(a_left, M_ba b_right)."""
    K = data.n_folds
    rows = np.empty((K, data.n_pairs))
    La, Rb = data.left["alpha"].astype(float), data.right["beta"].astype(float)
    for f in range(K):
        mask = data.train_mask(f)
        ab = fit_ridge(*training_correspondences(data, "alpha", "beta", mask, "same-image"))
        ba = fit_ridge(*training_correspondences(data, "beta", "alpha", mask, "same-image"))
        rows[f] = 0.5 * (_cos(ab.apply(La), Rb) + _cos(La, ba.apply(Rb)))
    ref = fold_accuracy_from_rows(rows, data.genuine, data.folds, data.valid)
    got = result.summary("ridge/same-image/symmetric").result("alpha", "beta")
    np.testing.assert_allclose(got.per_fold, ref.per_fold, atol=1e-12)


def test_summaries_and_best(result) -> None:
    assert len(result.summaries) == 7 * 2 * 2
    for s in result.summaries:
        assert len(s.results) == 6
        drops = [r.drop for r in s.results]
        assert s.worst_drop == pytest.approx(max(drops))
        assert s.median_drop == pytest.approx(float(np.median(drops)))
        for r in s.results:
            assert r.drop == pytest.approx(100 * (result.native[r.target].mean - r.accuracy))
    best = result.summary(result.best)
    key = (
        (lambda s: s.worst_drop_high) if len(result.high_models) >= 2 else (lambda s: s.worst_drop)
    )
    assert key(best) == min(key(s) for s in result.summaries)
    gcv = result.summary("ridge-gcv/same-image/cosine")
    assert all(len(v) == 4 for v in gcv.alphas.values())
    # Linearly related spaces: every recipe maps far above chance.
    assert all(r.accuracy > 0.7 for s in result.summaries for r in s.results)


def test_sweep_finds_pairs_needed(result) -> None:
    assert set(result.pairs_needed) == {f"{a}->{b}" for a in DIMS for b in DIMS if a != b}
    for key, p in result.pairs_needed.items():
        curve = result.sweep[key]
        assert curve["p"] == sorted(curve["p"])
        if p is not None:
            assert p == curve["p"][-1]
            full = result.summary(result.best).result(*key.split("->")).accuracy
            assert curve["accuracy"][-1] >= full - 0.01


def test_recipe_sweep_of_the_paper_recipe_equals_the_fast_ridge_sweep(data) -> None:
    """compare-maps' sweep (refits from moments, float32 scores) and reproduce's (Woodbury
    updates, float64 scores) are one sweep: same subsets, same accuracies."""
    eng = _Engine(data, CompareSettings(sweep=False))
    corr, S, T = eng.rows("matched-pairs")
    names = data.models

    def fold_accuracy(rows, fold, keys):
        mom = Moments.of(S[rows], T[rows], target_gram=True)
        dirs = [(names.index(a), names.index(b)) for a, b in keys]
        sc, _ = eng.fold_scores("matched-pairs", fold, ("ridge",), ("cosine",), dirs, mom=mom)
        acc = eng.fold_accuracy(sc, fold)
        return {(names[s], names[t]): a for (_, _, (s, t)), a in acc.items()}

    ps, full = [2, 5, 20, 60, 90], {(a, b): 0.9 for a in names for b in names if a != b}
    slow = subset_sweep(corr, fold_accuracy, full, ps, n_draws=2, seed=3)
    fast = pairs_sweep(data, p_values=ps, n_draws=2, seed=3, full_accuracy=full)
    assert list(slow) == list(fast)
    for key, r in fast.items():
        np.testing.assert_array_equal(slow[key].per_fold, r.per_fold)
        assert slow[key].p_within_1pt == r.p_within_1pt


def test_recipe_sweep_stops_each_map_within_one_point(data) -> None:
    full = {(a, b): 0.5 for a in DIMS for b in DIMS if a != b}
    full[("alpha", "beta")] = 2.0  # never reached: swept to the last size
    corr = _Engine(data, CompareSettings(sweep=False)).rows("same-image")[0]
    calls = []

    def fold_accuracy(rows, fold, keys):
        calls.append((rows.size, len(keys)))
        return {k: 0.75 for k in keys}

    res = subset_sweep(corr, fold_accuracy, full, [3, 6, 9], stop_within=True)
    assert res["alpha->beta"].p.tolist() == [3, 6, 9]
    assert res["alpha->beta"].p_within_1pt is None
    assert all(
        r.p.tolist() == [3] and r.p_within_1pt == 3 for k, r in res.items() if k != "alpha->beta"
    )
    K = corr.data.n_folds
    assert calls == [(3, 6)] * K + [(6, 1)] * K + [(9, 1)] * K


def test_unrelated_model_is_exposed(proto) -> None:
    emb = make_synthetic_embeddings(
        proto, dims=DIMS, latent_dim=6, within_noise=0.5, unrelated=("gamma",), seed=2
    )
    st = CompareSettings(maps=("ridge", "hub"), scores=("cosine",), sweep=False)
    res = compare_maps(pair_data(emb, proto), st)
    s = res.summary("ridge/same-image/cosine")
    assert s.result("alpha", "gamma").accuracy < 0.65
    assert s.result("alpha", "beta").accuracy > 0.75
    assert s.worst_map.endswith("gamma") or s.worst_map.startswith("gamma")


def test_to_dict_is_json_ready(result) -> None:
    import json

    d = json.loads(json.dumps(result.to_dict()))
    assert d["paper"] == "ridge / matched-pairs / cosine"
    assert len(d["recipes"]) == 28
    assert d["recipes"][0]["maps"][0]["per_fold"]


def test_errors(data) -> None:
    with pytest.raises(InvalidInputError, match="at least two models"):
        compare_maps(data.select(["alpha"]))
    with pytest.raises(InvalidInputError, match="maps must be"):
        CompareSettings(maps=("ridge", "mlp"))
    with pytest.raises(InvalidInputError, match="sweep_points"):
        CompareSettings(sweep_points=(100, 50))
    with pytest.raises(InvalidInputError, match="map/correspondence/score"):
        Recipe.parse("ridge")
    with pytest.raises(InvalidInputError, match="unknown correspondence 'pairs'"):
        Recipe("ridge", "pairs", "cosine")
    with pytest.raises(InvalidInputError, match="unknown precision 'float16'"):
        CompareSettings(precision="float16")


def test_report_section_and_figure(result) -> None:
    from facebridge.report import Section
    from facebridge.report.compare import FIGURE_NAME, compare_figure, compare_section

    sec = compare_section(result)
    assert isinstance(sec, Section)
    assert sec.figures[FIGURE_NAME][:8] == b"\x89PNG\r\n\x1a\n"
    assert f"`{result.best}`" in sec.markdown
    assert "Paper's recipe" in sec.markdown
    assert "(paper)" in sec.markdown
    # Renders from the saved JSON payload too.
    assert compare_figure(result.to_dict())[:4] == b"\x89PNG"
    assert "<table" in compare_section(result.to_dict(), figure=False).html


@pytest.fixture(scope="module")
def real_data():
    from facebridge.errors import StoreError
    from facebridge.protocols import default_lfw_pairs
    from facebridge.store import default_store

    try:
        store = default_store()
    except StoreError as exc:
        pytest.skip(f"shipped LFW store absent: {exc}")
    models = store.models()
    if len(models) < 2:
        pytest.skip("the shipped LFW store holds fewer than two models")
    return pair_data(store, default_lfw_pairs(), models[:2])


@pytest.mark.realdata
def test_real_lfw_folds_are_identity_disjoint_for_every_fit(real_data) -> None:
    data = real_data
    for mode in MODES:
        for f in range(data.n_folds):
            test_people = {
                i.split("/")[0]
                for k in np.flatnonzero(data.folds == f)
                for i in (data.left_ids[k], data.right_ids[k])
            }
            rows = training_rows(data, data.train_mask(f), mode)
            fit_people = {
                i.split("/")[0] for k in rows for i in (data.left_ids[k], data.right_ids[k])
            }
            assert not fit_people & test_people


@pytest.mark.realdata
def test_real_lfw_paper_recipe_matches_generic_path(real_data) -> None:
    data = real_data
    st = CompareSettings(maps=("ridge",), scores=("cosine",), sweep=False)
    res = compare_maps(data, st)
    a, b = data.models
    ref = mapped_accuracy(data, a, b)
    got = res.summary(PAPER_RECIPE).result(a, b)
    np.testing.assert_allclose(got.per_fold, ref.per_fold, atol=1e-12)
    assert got.accuracy > 0.9  # real face embeddings: a linear map carries verification


@pytest.mark.parametrize("mode", MODES)
def test_fusion_is_the_mean_of_shared_and_ridge_gcv_scores(data, mode: str) -> None:
    eng = _Engine(data, CompareSettings(sweep=False))
    dirs = [(0, 1), (2, 0)]
    both, _ = eng.fold_scores(mode, 1, ("shared", "ridge-gcv"), ("cosine", "symmetric"), dirs)
    fused, _ = eng.fold_scores(mode, 1, ("fusion",), ("cosine", "symmetric"), dirs)
    assert {k[0] for k in fused} == {"fusion"}
    for (_, sc, d), v in fused.items():
        np.testing.assert_allclose(v, 0.5 * (both[("shared", sc, d)] + both[("ridge-gcv", sc, d)]))


@pytest.mark.realdata
def test_real_lfw_float64_scores_equal_the_maps_applied_one_by_one() -> None:
    """dlib-resnet is near-singular on LFW: its unregularised least-squares map into sface
    cancels large terms.  float64 scores equal each fold's map applied and scored on its own;
    float32 scores lose digits there."""
    from facebridge.protocols import default_lfw_pairs
    from facebridge.store import default_store

    s, t = "dlib-resnet", "sface"
    data = pair_data(default_store(), default_lfw_pairs(), [s, t])
    st = CompareSettings(maps=("lstsq",), scores=("cosine",), sweep=False)
    rows = np.empty((data.n_folds, data.n_pairs))
    L, R = data.left[s].astype(float), data.right[t].astype(float)
    for f in range(data.n_folds):
        m = fold_maps(data, "matched-pairs", f, st)["lstsq"][(s, t)]
        rows[f] = np.where(data.valid, _cos(m.apply(L), R), 0.0)
    ref = fold_accuracy_from_rows(rows, data.genuine, data.folds, data.valid)
    got = {}
    for precision in ("float32", "float64"):
        res = compare_maps(data, replace(st, precision=precision))
        got[precision] = res.summary("lstsq/matched-pairs/cosine").result(s, t).per_fold
    np.testing.assert_allclose(got["float64"], ref.per_fold, rtol=0, atol=1e-12)
    assert np.abs(got["float32"] - ref.per_fold).max() > 0
