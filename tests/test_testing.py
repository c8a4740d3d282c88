from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from facebridge.errors import DimensionError, ImageError, InvalidInputError
from facebridge.protocols import Pair, PairProtocol
from facebridge.testing import (
    DEFAULT_DIMS,
    FakeEmbedder,
    identity_of_items,
    make_image_tree,
    make_synthetic_embeddings,
    make_synthetic_protocol,
    make_synthetic_store,
)


@pytest.fixture(scope="module")
def proto() -> PairProtocol:
    return make_synthetic_protocol(n_genuine=60, n_impostor=60, identities_per_fold=40)


def _pair_rows(proto: PairProtocol, ids: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    idx = {x: i for i, x in enumerate(ids)}
    return (
        np.array([idx[p.left] for p in proto]),
        np.array([idx[p.right] for p in proto]),
    )


def _cv_accuracy(scores: np.ndarray, genuine: np.ndarray, folds: np.ndarray) -> float:
    """10-fold accuracy, threshold chosen on the training folds only (independent of metrics/)."""
    accs = []
    for k in np.unique(folds):
        tr, te = folds != k, folds == k
        cand = np.unique(scores[tr])
        best = max(cand, key=lambda t: np.mean((scores[tr] >= t) == genuine[tr]))
        accs.append(np.mean((scores[te] >= best) == genuine[te]))
    return float(np.mean(accs))


def _mapped_accuracy(emb: dict, proto: PairProtocol, src: str, dst: str) -> float:
    """Ridge map src->dst fitted on genuine training pairs (the paper's Eq. 1), per fold."""
    ids, a = emb[src]
    _, b = emb[dst]
    left, right = _pair_rows(proto, ids)
    g, f = proto.genuine_array(), proto.fold_array()
    scores = np.empty(len(proto))
    for k in range(proto.n_folds):
        tr = g & (f != k)
        x, y = a[left[tr]], b[right[tr]]
        w = np.linalg.solve(x.T @ x + np.eye(x.shape[1]), x.T @ y)
        m = a[left[f == k]] @ w
        t = b[right[f == k]]
        scores[f == k] = np.sum(m * t, 1) / np.linalg.norm(m, axis=1) / np.linalg.norm(t, axis=1)
    return _cv_accuracy(scores, g, f)


# ------------------------------------------------------------------------------ protocol


def test_synthetic_protocol_shape_and_disjoint_folds(proto: PairProtocol) -> None:
    assert len(proto) == 1200
    assert proto.fold_counts() == [(60, 60)] * 10
    ident = identity_of_items(proto)
    per_fold: list[set[str]] = [set() for _ in range(10)]
    for p in proto:
        assert (ident[p.left] == ident[p.right]) == p.genuine
        assert p.left != p.right
        per_fold[p.fold].update({ident[p.left], ident[p.right]})
    assert max(Counter(i for s in per_fold for i in s).values()) == 1
    assert make_synthetic_protocol(n_genuine=60, n_impostor=60, identities_per_fold=40) == proto


def test_identity_of_items_uses_dirs_and_genuine_pairs() -> None:
    p = PairProtocol(
        "x",
        (
            Pair("a.jpg", "b.jpg", True, 0),
            Pair("b.jpg", "c.jpg", True, 0),
            Pair("c.jpg", "d.jpg", False, 0),
            Pair("P/P_0001.jpg", "P/P_0002.jpg", False, 0),  # inconsistent, dirs still win
        ),
        1,
    )
    ident = identity_of_items(p)
    assert ident["a.jpg"] == ident["b.jpg"] == ident["c.jpg"] == "a.jpg"
    assert ident["d.jpg"] == "d.jpg"
    assert ident["P/P_0001.jpg"] == ident["P/P_0002.jpg"] == "P"


def test_synthetic_protocol_rejects_bad_settings() -> None:
    with pytest.raises(InvalidInputError, match="identities_per_fold >= 2"):
        make_synthetic_protocol(identities_per_fold=1)
    with pytest.raises(InvalidInputError, match="at least one pair"):
        make_synthetic_protocol(n_genuine=0, n_impostor=0)


# ------------------------------------------------------------------------------ embeddings


def test_embeddings_shapes_norms_determinism(proto: PairProtocol) -> None:
    emb = make_synthetic_embeddings(proto)
    assert set(emb) == set(DEFAULT_DIMS)
    for m, (ids, v) in emb.items():
        assert ids == tuple(proto.items())
        assert v.dtype == np.float32
        assert v.shape == (len(ids), DEFAULT_DIMS[m])
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    again = make_synthetic_embeddings(proto)
    for m in emb:
        np.testing.assert_array_equal(emb[m][1], again[m][1])
    other = make_synthetic_embeddings(proto, seed=1)
    assert not np.allclose(other["alpha"][1], emb["alpha"][1])
    # a model's vectors do not depend on which other models are generated
    solo = make_synthetic_embeddings(proto, dims={"beta": 32})
    np.testing.assert_array_equal(solo["beta"][1], emb["beta"][1])


def test_native_accuracy_good_not_perfect(proto: PairProtocol) -> None:
    g, f = proto.genuine_array(), proto.fold_array()
    for noise, lo, hi in ((0.35, 0.97, 1.0), (0.7, 0.85, 0.99)):
        emb = make_synthetic_embeddings(proto, within_noise=noise)
        accs = []
        for ids, v in emb.values():
            left, right = _pair_rows(proto, ids)
            accs.append(_cv_accuracy(np.sum(v[left] * v[right], 1), g, f))
        assert all(lo <= a <= hi for a in accs), (noise, accs)
    # noisier images are harder
    assert max(accs) < 0.99


def test_related_spaces_map_linearly_unrelated_do_not(proto: PairProtocol) -> None:
    emb = make_synthetic_embeddings(proto, within_noise=0.7, unrelated=["gamma"])
    g, f = proto.genuine_array(), proto.fold_array()
    left, right = _pair_rows(proto, emb["alpha"][0])
    native_beta = _cv_accuracy(np.sum(emb["beta"][1][left] * emb["beta"][1][right], 1), g, f)
    native_gamma = _cv_accuracy(np.sum(emb["gamma"][1][left] * emb["gamma"][1][right], 1), g, f)
    mapped = _mapped_accuracy(emb, proto, "alpha", "beta")
    assert mapped > 0.85
    assert mapped > native_beta - 0.05  # mapping loses little
    # the unrelated space keeps its own native accuracy, yet nothing maps into or out of it
    assert native_gamma > 0.85
    assert abs(_mapped_accuracy(emb, proto, "alpha", "gamma") - 0.5) < 0.08
    assert abs(_mapped_accuracy(emb, proto, "gamma", "beta") - 0.5) < 0.08


def test_same_image_shares_latent_across_models(proto: PairProtocol) -> None:
    # with no image noise the two spaces are exact linear images of each other (before
    # normalisation), so a least-squares map on half the items predicts the other half closely
    emb = make_synthetic_embeddings(proto, model_noise=0.0)
    a, b = emb["alpha"][1].astype(np.float64), emb["beta"][1].astype(np.float64)
    n = len(a) // 2
    w, *_ = np.linalg.lstsq(a[:n], b[:n], rcond=None)
    pred = a[n:] @ w
    cos = np.sum(pred * b[n:], 1) / np.linalg.norm(pred, axis=1)
    assert np.median(cos) > 0.97


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dims": {}}, "dims is empty"),
        ({"dims": {"a": 0}}, "positive integer dimensions, got 'a': 0"),
        ({"latent_dim": 0}, "latent_dim must be a positive integer"),
        ({"within_noise": -1.0}, "within_noise must be a finite number >= 0"),
        ({"model_noise": float("nan")}, "model_noise must be a finite number >= 0"),
        ({"unrelated": ["delta"]}, r"unrelated names models not in dims: \['delta'\]"),
    ],
)
def test_embeddings_reject_bad_settings(proto: PairProtocol, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        make_synthetic_embeddings(proto, **kwargs)


def test_embeddings_reject_empty_protocol() -> None:
    with pytest.raises(InvalidInputError, match="has no pairs"):
        make_synthetic_embeddings(PairProtocol("empty", (), 1))


# ------------------------------------------------------------------------------ fake embedder


def test_fake_embedder_deterministic_and_normalised(rng: np.random.Generator) -> None:
    imgs = rng.integers(0, 256, size=(5, 40, 30, 3), dtype=np.uint8)
    fake = FakeEmbedder(dim=24)
    e = fake.embed(imgs)
    assert e.shape == (5, 24)
    assert e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(FakeEmbedder(dim=24).embed(imgs), e)
    np.testing.assert_array_equal(fake(list(imgs)), e)  # list of images == batch
    assert fake.calls == 10
    assert not np.allclose(FakeEmbedder(dim=24, seed=1).embed(imgs), e)
    assert fake.spec.key == "fake"
    assert fake.spec.dim == 24
    assert fake.spec.detector == fake.spec.alignment == "arcface-112"
    assert fake.spec.input_size == (112, 112)
    assert len(fake.weights_sha256) == 64
    assert fake.embed([]).shape == (0, 24)
    # grey and constant images work too (no division by zero)
    const = fake.embed([np.full((8, 8), 128, np.uint8), np.zeros((3, 3, 1))])
    assert np.isfinite(const).all()


def test_fake_embedder_rejects_bad_images() -> None:
    fake = FakeEmbedder()
    with pytest.raises(DimensionError, match=r"expected an image .* got shape \(2, 2, 2, 2\)"):
        fake.embed([np.zeros((2, 2, 2, 2))])
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        fake.embed([np.full((4, 4), np.nan)])
    with pytest.raises(InvalidInputError, match="dim and grid must be >= 1"):
        FakeEmbedder(dim=0)


def test_image_tree_and_fake_embedder_separate_identities(tmp_path: Path) -> None:
    proto = make_synthetic_protocol(n_folds=2, n_genuine=10, n_impostor=10)
    paths = make_image_tree(tmp_path, proto, size=48)
    assert set(paths) == set(proto.items())
    assert all(p.is_file() and p.suffix == ".jpg" for p in paths.values())
    fake = FakeEmbedder()
    ids = proto.items()
    e = fake.embed_paths([paths[i] for i in ids])
    left, right = _pair_rows(proto, tuple(ids))
    s = np.sum(e[left] * e[right], 1)
    g = proto.genuine_array()
    assert s[g].min() > s[~g].max()  # identities are perfectly separable
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ImageError, match=r"cannot read image .*bad\.jpg"):
        fake.embed_paths([bad])


# ------------------------------------------------------------------------------ synthetic store


def test_synthetic_store_matches_embeddings(tmp_path: Path, proto: PairProtocol) -> None:
    from facebridge.store import EmbeddingStore

    store = make_synthetic_store(tmp_path / "s", proto, unrelated=["gamma"], chunk_size=300)
    assert isinstance(store, EmbeddingStore)
    assert store.models() == sorted(DEFAULT_DIMS)
    emb = make_synthetic_embeddings(proto, unrelated=["gamma"])
    for m, (ids, v) in emb.items():
        got = store.load(m)
        assert got.ids == ids  # protocol items are sorted, as store ids are
        np.testing.assert_array_equal(got.vectors, v)
        man = store.manifest(m)
        assert man["dim"] == DEFAULT_DIMS[m]
        assert man["detector"] == "synthetic"
        assert man["extra"]["synthetic"]["unrelated"] == (m == "gamma")
        assert store.done_ids(m) == set(proto.items())
    assert len(list((tmp_path / "s" / "alpha").glob("chunk-*.npz"))) == 5  # 1256 items / 300
