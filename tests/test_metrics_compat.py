"""Compatible-representation metrics against brute force and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.metrics.compat import (
    all_pairs_tar,
    gallery_split,
    identification_metrics,
    negative_flip_rate,
    tar_from_scores,
)
from facebridge.metrics.curves import tar_at_far


def _sklearn_tar(genuine, impostor, far):
    y = np.r_[np.ones(len(genuine)), np.zeros(len(impostor))]
    fpr, tpr, _ = roc_curve(y, np.r_[genuine, impostor], drop_intermediate=False)
    return float(tpr[fpr <= far].max())


@pytest.mark.parametrize("rounded", [False, True])
def test_tar_from_scores_equals_sklearn_roc(rng, rounded):
    for _ in range(10):
        g = rng.normal(1.5, 1, size=int(rng.integers(1, 60)))
        i = rng.normal(0, 1, size=int(rng.integers(1, 4000)))
        if rounded:  # ties inside and across classes
            g, i = np.round(g, 1), np.round(i, 1)
        got = tar_from_scores(g, i, [0.0, 1e-3, 1e-2, 0.3, 1.0])
        for far, v in got.items():
            assert v == pytest.approx(_sklearn_tar(g, i, far), abs=1e-12)
            s = np.r_[g, i]
            lab = np.r_[np.ones(g.size, bool), np.zeros(i.size, bool)]
            assert v == pytest.approx(tar_at_far(s, lab, far), abs=1e-12)


def test_all_pairs_tar_uses_every_ordered_pair_of_distinct_images(rng):
    n, d = 60, 8
    labels = np.repeat(np.arange(20), 3)
    P = rng.normal(size=(n, d))
    G = P + 0.5 * rng.normal(size=(n, d))
    Pn = P / np.linalg.norm(P, axis=1, keepdims=True)
    Gn = G / np.linalg.norm(G, axis=1, keepdims=True)
    gen, imp = [], []
    for i in range(n):
        for j in range(n):
            if i != j:
                (gen if labels[i] == labels[j] else imp).append(Pn[i] @ Gn[j])
    assert len(gen) == 20 * 3 * 2
    assert len(imp) == n * (n - 3)
    got = all_pairs_tar(P, G, labels, fars=[1e-2, 1e-3])
    for far in (1e-2, 1e-3):
        assert got[far] == pytest.approx(_sklearn_tar(np.array(gen), np.array(imp), far), abs=1e-6)


def test_identification_metrics_match_brute_force(rng):
    labels = np.repeat(np.arange(40), 3)
    V = rng.normal(size=(120, 16)) + 2 * rng.normal(size=(40, 16))[labels]
    split = gallery_split(labels.astype(str))
    P, G = V[split.mated], V[split.gallery]
    m = identification_metrics(P, G, labels[split.mated], labels[split.gallery])
    Pn = P / np.linalg.norm(P, axis=1, keepdims=True)
    Gn = G / np.linalg.norm(G, axis=1, keepdims=True)
    top = np.argsort(-(Pn @ Gn.T), axis=1)
    gl = labels[split.gallery]
    assert m.rank1 == pytest.approx(np.mean(gl[top[:, 0]] == labels[split.mated]))
    assert m.rank5 == pytest.approx(
        np.mean([labels[split.mated][i] in gl[top[i, :5]] for i in range(len(P))])
    )
    assert np.isnan(m.tpir)  # no non-mated probe


def test_gallery_split_layout():
    labels = ["a", "a", "a", "b", "c", "d", "e", "e"]
    s = gallery_split(labels)
    assert s.gallery.tolist() == [0, 3, 5, 6]  # first of a, e; singletons b, d alternate
    assert s.mated.tolist() == [1, 2, 7]
    assert s.nonmated.tolist() == [4]
    enrolled = {labels[i] for i in s.gallery}
    assert all(labels[i] in enrolled for i in s.mated)
    assert all(labels[i] not in enrolled for i in s.nonmated)


def test_negative_flip_rate():
    assert negative_flip_rate(np.array([1, 1, 1, 2, 0]), np.array([1, 2, 5, 1, 0])) == 0.5
    with pytest.raises(DimensionError, match="same probes"):
        negative_flip_rate(np.array([1, 0]), np.array([1, 1]))


def test_bad_input_is_one_line():
    with pytest.raises(InvalidInputError, match="no genuine pair"):
        all_pairs_tar(np.eye(3), np.eye(3), ["a", "b", "c"])
    with pytest.raises(DimensionError, match="same images"):
        all_pairs_tar(np.eye(3), np.eye(4)[:3], ["a", "a", "b"])
    with pytest.raises(InvalidInputError, match="far must be"):
        tar_from_scores([1.0], [0.0], [2.0])
