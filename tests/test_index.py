"""TemplateIndex: faiss agrees with numpy brute force; approximate indexes are measured.

faiss-cpu is in the dev extra, so these tests run in CI (and fail without it), never skip.
"""

from __future__ import annotations

import numpy as np
import pytest

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.index import TemplateIndex, recall_at_1


def _brute(G, Q, k):
    Gn = G / np.linalg.norm(G, axis=1, keepdims=True)
    Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    s = Qn @ Gn.T
    rows = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, rows, axis=1), rows


def test_numpy_backend_is_exact_brute_force(rng):
    G, Q = rng.normal(size=(3000, 32)), rng.normal(size=(70, 32))
    s, r = TemplateIndex(backend="numpy").fit(G).search(Q, k=5)
    bs, br = _brute(G, Q, 5)
    np.testing.assert_array_equal(r, br)
    np.testing.assert_allclose(s, bs, atol=1e-5)


def test_faiss_flat_equals_brute_force(rng):
    G, Q = rng.normal(size=(3000, 32)), rng.normal(size=(70, 32))
    s, r = TemplateIndex(kind="flat", backend="faiss").fit(G).search(Q, k=5)
    bs, br = _brute(G, Q, 5)
    np.testing.assert_array_equal(r, br)
    np.testing.assert_allclose(s, bs, atol=1e-5)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_finds_planted_neighbours(rng, kind):
    centres = rng.normal(size=(2000, 32))
    probes = centres[:200] + 0.05 * rng.normal(size=(200, 32))
    _, exact = TemplateIndex(backend="numpy").fit(centres).search(probes, 1)
    _, approx = TemplateIndex(kind=kind).fit(centres).search(probes, 1)
    assert (exact[:, 0] == np.arange(200)).all()
    assert recall_at_1(approx, exact) >= 0.95


def test_bad_input():
    idx = TemplateIndex(backend="numpy").fit(np.eye(4))
    with pytest.raises(DimensionError, match="map them into the gallery"):
        idx.search(np.ones((1, 3)))
    with pytest.raises(InvalidInputError, match="unknown index kind"):
        TemplateIndex(kind="flt").fit(np.eye(2))
    with pytest.raises(InvalidInputError, match="needs the faiss backend"):
        TemplateIndex(kind="hnsw", backend="numpy").fit(np.eye(2))
    with pytest.raises(InvalidInputError, match="NaN"):
        TemplateIndex(backend="numpy").fit(np.full((2, 2), np.nan))
