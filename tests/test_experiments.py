"""Tests of facebridge.experiments.core: pair data, correspondences, the generic mapped accuracy."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from facebridge.errors import DimensionError, InvalidInputError, UnknownModelError
from facebridge.experiments import (
    PairData,
    mapped_accuracy,
    mapped_scores,
    native_accuracy,
    pair_data,
    pair_data_from_arrays,
    training_correspondences,
    unmapped_accuracy,
)
from facebridge.maps import LinearMap, fit_ridge
from facebridge.metrics import kfold_accuracy
from facebridge.protocols import Pair, PairProtocol
from facebridge.testing import (
    identity_of_items,
    make_synthetic_embeddings,
    make_synthetic_protocol,
)


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    """Small matrices: BLAS threads only add contention on a shared 2-core machine."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def protocol() -> PairProtocol:
    return make_synthetic_protocol(n_genuine=30, n_impostor=30, identities_per_fold=20, seed=1)


@pytest.fixture(scope="module")
def embeddings(protocol: PairProtocol) -> dict:
    return make_synthetic_embeddings(
        protocol, dims={"a": 40, "b": 24, "c": 40, "u": 32}, unrelated=["u"], within_noise=0.6
    )


@pytest.fixture(scope="module")
def data(protocol: PairProtocol, embeddings: dict) -> PairData:
    return pair_data(embeddings, protocol)


# ------------------------------------------------------------------------------------ PairData


def test_pair_data_resolves_protocol(
    data: PairData, protocol: PairProtocol, embeddings: dict
) -> None:
    assert data.models == ("a", "b", "c", "u")
    assert data.n_pairs == len(protocol.pairs)
    assert data.n_folds == 10
    assert data.dims == {"a": 40, "b": 24, "c": 40, "u": 32}
    ids, vecs = embeddings["b"]
    row = {i: k for k, i in enumerate(ids)}
    for i in (0, 17, 599):
        p = protocol.pairs[i]
        np.testing.assert_array_equal(data.left["b"][i], vecs[row[p.left]])
        np.testing.assert_array_equal(data.right["b"][i], vecs[row[p.right]])
        assert data.genuine[i] == p.genuine
        assert data.folds[i] == p.fold
    assert data.valid.all()
    assert data.n_missing == 0
    assert data.left["a"].dtype == np.float32


def test_missing_embedding_makes_pair_invalid(protocol: PairProtocol, embeddings: dict) -> None:
    victim = protocol.pairs[5].left
    ids, vecs = embeddings["b"]
    keep = [k for k, i in enumerate(ids) if i != victim]
    partial = dict(embeddings)
    partial["b"] = (tuple(ids[k] for k in keep), vecs[keep])
    d = pair_data(partial, protocol)
    uses = np.array([p.left == victim or p.right == victim for p in protocol.pairs])
    np.testing.assert_array_equal(d.valid, ~uses)
    assert d.n_missing == int(uses.sum()) >= 1
    assert not d.left["b"][~d.valid].any()  # zero rows, never fitted on


def test_invalid_pairs_count_as_errors(data: PairData) -> None:
    v = data.valid.copy()
    v[np.flatnonzero(data.folds == 3)[:12]] = False
    d = pair_data_from_arrays(data.left, data.right, data.genuine, data.folds, v)
    full = native_accuracy(data, "a")
    part = native_accuracy(d, "a")
    # fold 3 loses at least the errors it had plus up to 12 newly failed pairs
    assert part.per_fold[3] <= full.per_fold[3]
    n3 = int((data.folds == 3).sum())
    assert part.per_fold[3] <= (n3 - 12) / n3 + 1e-12
    # mapped accuracy never fits on invalid pairs
    seen: list[np.ndarray] = []

    def fitter(X: np.ndarray, Y: np.ndarray) -> LinearMap:
        seen.append(X)
        return fit_ridge(X, Y)

    mapped_accuracy(d, "a", "b", fitter=fitter)
    bad_rows = d.left["a"][np.flatnonzero(~v)].astype(np.float64)
    for X in seen:
        assert not (np.abs(X[:, None, :] - bad_rows[None]).sum(axis=2) == 0).any()


def test_pair_data_errors(data: PairData, protocol: PairProtocol, embeddings: dict) -> None:
    with pytest.raises(UnknownModelError, match="did you mean"):
        data.check_model("aa")
    with pytest.raises(UnknownModelError, match="choices: a, b"):
        pair_data(embeddings, protocol, models=["a", "zeta"])
    bad = data.left["a"].copy()
    bad[3, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN/inf"):
        pair_data_from_arrays({"a": bad}, {"a": data.right["a"]}, data.genuine, data.folds)
    zero = data.left["a"].copy()
    zero[4] = 0
    with pytest.raises(InvalidInputError, match="all-zero"):
        pair_data_from_arrays({"a": zero}, {"a": data.right["a"]}, data.genuine, data.folds)
    with pytest.raises(DimensionError, match="shape"):
        pair_data_from_arrays({"a": bad[:-1]}, {"a": data.right["a"]}, data.genuine, data.folds)
    with pytest.raises(DimensionError, match="different dims"):
        pair_data_from_arrays(
            {"a": data.left["a"]}, {"a": data.right["c"][:, :7]}, data.genuine, data.folds
        )
    with pytest.raises(InvalidInputError, match=r"0\.\.K-1"):
        pair_data_from_arrays(
            {"a": data.left["a"]}, {"a": data.right["a"]}, data.genuine, data.folds + 1
        )
    with pytest.raises(InvalidInputError, match="at least one model"):
        pair_data_from_arrays({}, {}, data.genuine, data.folds)
    empty = PairProtocol("empty", (), 1)
    with pytest.raises(InvalidInputError, match="no pairs"):
        pair_data(embeddings, empty)


# ------------------------------------------------------------------------------ correspondences


def test_matched_pairs_are_eq1(data: PairData) -> None:
    mask = data.train_mask(2)
    X, Y = training_correspondences(data, "a", "b", mask)
    rows = np.flatnonzero(mask & data.genuine)
    np.testing.assert_array_equal(X, data.left["a"][rows])
    np.testing.assert_array_equal(Y, data.right["b"][rows])
    assert X.dtype == np.float64
    assert X.shape == (rows.size, 40)
    assert Y.shape == (rows.size, 24)
    Xs, Ys = training_correspondences(data, "a", "b", mask, symmetric=True)
    assert Xs.shape[0] == 2 * rows.size
    np.testing.assert_array_equal(Xs[rows.size :], data.right["a"][rows])
    np.testing.assert_array_equal(Ys[rows.size :], data.left["b"][rows])


def test_same_image_uses_each_training_image_once(data: PairData) -> None:
    mask = data.train_mask(0)
    X, Y = training_correspondences(data, "a", "c", mask, "same-image")
    rows = np.flatnonzero(mask)
    imgs = {data.left_ids[i] for i in rows} | {data.right_ids[i] for i in rows}
    assert X.shape == (len(imgs), 40) == Y.shape
    # the same image through both models: row j of X and Y belong to one item
    lookup_a = {}
    lookup_c = {}
    for i in rows:
        lookup_a[data.left_ids[i]] = data.left["a"][i]
        lookup_c[data.left_ids[i]] = data.left["c"][i]
        lookup_a[data.right_ids[i]] = data.right["a"][i]
        lookup_c[data.right_ids[i]] = data.right["c"][i]
    for j, item in enumerate(sorted(imgs)):
        np.testing.assert_array_equal(X[j], lookup_a[item])
        np.testing.assert_array_equal(Y[j], lookup_c[item])


def test_correspondence_errors(data: PairData) -> None:
    with pytest.raises(InvalidInputError, match="correspondence"):
        training_correspondences(data, "a", "b", data.train_mask(0), "pairs")
    with pytest.raises(DimensionError, match="train_mask"):
        training_correspondences(data, "a", "b", np.ones(3, dtype=bool))
    with pytest.raises(InvalidInputError, match="no training correspondences"):
        training_correspondences(data, "a", "b", np.zeros(data.n_pairs, dtype=bool))


# ---------------------------------------------------------------------------------- fold safety


def test_nothing_fitted_for_fold_f_sees_fold_f(data: PairData, protocol: PairProtocol) -> None:
    """Instrument the fitter: every row it is given must come from another fold, and (as the
    protocol is identity-disjoint, like LFW View 2) no identity of the test fold."""
    ident = identity_of_items(protocol)
    calls: list[np.ndarray] = []

    def fitter(X: np.ndarray, Y: np.ndarray) -> LinearMap:
        calls.append(X.copy())
        return fit_ridge(X, Y)

    for mode in ("matched-pairs", "same-image"):
        calls.clear()
        mapped_accuracy(data, "a", "b", fitter=fitter, correspondence=mode)
        assert len(calls) == data.n_folds
        # map each fitted row back to the items whose "a" embedding it is
        emb = {}
        for i in range(data.n_pairs):
            emb.setdefault(data.left["a"][i].tobytes(), set()).add(data.left_ids[i])
            emb.setdefault(data.right["a"][i].tobytes(), set()).add(data.right_ids[i])
        for f, X in enumerate(calls):
            test_items = {data.left_ids[i] for i in np.flatnonzero(data.folds == f)}
            test_items |= {data.right_ids[i] for i in np.flatnonzero(data.folds == f)}
            test_people = {ident[i] for i in test_items}
            for row in X.astype(np.float32):
                items = emb[row.tobytes()]
                assert not items & test_items
                assert not {ident[i] for i in items} & test_people


def test_threshold_chosen_on_training_folds_only(data: PairData) -> None:
    """Changing fold 4's genuine labels cannot move fold 4's threshold."""
    sc, _ = mapped_scores(data, "a", "c")
    g2 = data.genuine.copy()
    g2[data.folds == 4] = ~g2[data.folds == 4]
    r1 = kfold_accuracy(sc[4], data.genuine, data.folds)
    r2 = kfold_accuracy(sc[4], g2, data.folds)
    assert r1.thresholds[4] == r2.thresholds[4]


# ------------------------------------------------------------------------------ mapped accuracy


def test_mapped_accuracy_matches_hand_loop(data: PairData) -> None:
    got = mapped_accuracy(data, "b", "a")
    per = []
    for f in range(data.n_folds):
        tr = (data.folds != f) & data.genuine
        mp = fit_ridge(data.left["b"][tr], data.right["a"][tr], alpha=1.0)
        m = mp.apply(data.left["b"].astype(np.float64))
        r = data.right["a"].astype(np.float64)
        s = np.einsum("ij,ij->i", m, r) / np.linalg.norm(m, axis=1) / np.linalg.norm(r, axis=1)
        per.append(kfold_accuracy(s, data.genuine, data.folds).per_fold[f])
    np.testing.assert_allclose(got.per_fold, per, atol=1e-12)
    assert got.mean == pytest.approx(np.mean(per))


def test_planted_recovery_and_unrelated(data: PairData) -> None:
    """Linearly related planted spaces map at near-native accuracy (900 training pairs, as the
    paper's 2,700 are not needed for 40 dims); an unrelated space stays at chance."""
    proto = make_synthetic_protocol(n_genuine=100, n_impostor=100, identities_per_fold=50, seed=1)
    emb = make_synthetic_embeddings(
        proto, dims={"a": 40, "b": 24, "c": 40, "u": 32}, unrelated=["u"], within_noise=0.6
    )
    big = pair_data(emb, proto)
    nat = {m: native_accuracy(big, m).mean for m in big.models}
    assert min(nat.values()) > 0.9
    for s, t in (("a", "b"), ("b", "c"), ("c", "a")):
        acc = mapped_accuracy(big, s, t).mean
        assert acc > min(nat[s], nat[t]) - 0.025
    for s, t in (("a", "u"), ("u", "b")):
        assert abs(mapped_accuracy(data, s, t).mean - 0.5) < 0.08
    # unmapped: different spaces of equal dim are not comparable; different dims give None
    assert abs(unmapped_accuracy(data, "a", "c").mean - 0.5) < 0.08
    assert unmapped_accuracy(data, "a", "b") is None
    assert unmapped_accuracy(data, "a", "a").mean == native_accuracy(data, "a").mean


def test_symmetric_score_and_fit_target(data: PairData) -> None:
    sym = mapped_accuracy(data, "a", "b", score="symmetric")
    assert sym.mean > 0.8
    sc_ab, _ = mapped_scores(data, "a", "b")
    _, maps_ba = mapped_scores(data, "b", "a")
    sc_sym, _ = mapped_scores(data, "a", "b", score="symmetric")
    # the same two templates (a's left, b's right), b's right mapped into a's space by fold f's map
    left_a, right_b = data.left["a"].astype(float), data.right["b"].astype(float)
    v = data.valid
    for f, mp in enumerate(maps_ba):
        back = mp.apply(right_b[v])
        cos = np.einsum("ij,ij->i", back, left_a[v]) / (
            np.linalg.norm(back, axis=1) * np.linalg.norm(left_a[v], axis=1)
        )
        np.testing.assert_allclose(sc_sym[f, v], 0.5 * (sc_ab[f, v] + cos), atol=1e-12)
    # fitting a->c towards c itself equals the default
    same = mapped_accuracy(data, "a", "c", fit_target="c")
    np.testing.assert_array_equal(same.per_fold, mapped_accuracy(data, "a", "c").per_fold)
    with pytest.raises(DimensionError, match="fit_target"):
        mapped_accuracy(data, "a", "c", fit_target="b")
    with pytest.raises(InvalidInputError, match="score"):
        mapped_accuracy(data, "a", "c", score="euclid")


def test_lfw_like_protocol_from_pairs() -> None:
    """A tiny hand-made protocol through the (ids, vectors) mapping form."""
    rng = np.random.default_rng(0)
    pairs = []
    for f in range(2):
        for k in range(4):
            pairs.append(Pair(f"P{f}{k}/x1.jpg", f"P{f}{k}/x2.jpg", True, f))
            pairs.append(Pair(f"P{f}{k}/x1.jpg", f"Q{f}{k}/x1.jpg", False, f))
    proto = PairProtocol("hand", tuple(pairs), 2)
    ids = tuple(proto.items())
    emb = {"m": (ids, rng.normal(size=(len(ids), 5)).astype(np.float32))}
    d = pair_data(emb, proto)
    assert d.n_pairs == 16
    assert d.name == "hand"
    assert d.valid.all()
