"""1:N search of unit-norm templates by inner product: FAISS when installed, numpy otherwise.

:class:`TemplateIndex` holds a gallery of templates (rows normalised to unit length, so inner
product is cosine) and returns the ``k`` best templates of each probe.  ``kind="flat"`` is exact
search; ``"ivf"`` (inverted lists, ``nlist`` cells, ``nprobe`` visited) and ``"hnsw"`` (a graph
with ``M`` links, ``ef_search``) are approximate and need ``faiss-cpu`` (the ``facebridge[faiss]``
extra).  ``backend="numpy"`` is exact brute force in bounded-memory blocks: the fallback when
faiss is absent and the reference the faiss results are tested against.  :func:`recall_at_1`
measures an approximate index against exact search.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.optional import require
from facebridge.vocabulary import unknown

__all__ = ["INDEX_KINDS", "TemplateIndex", "faiss_available", "recall_at_1"]

INDEX_KINDS = ("flat", "ivf", "hnsw")
_BACKENDS = ("auto", "faiss", "numpy")
_BLOCK_BYTES = 256 * 2**20


def faiss_available() -> bool:
    """Whether ``faiss`` can be imported."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _faiss() -> Any:
    return require("faiss")


def _unit_rows(x: Any, name: str, dim: int | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2:
        raise DimensionError(f"{name} must be 2-D (n, dim), got shape {a.shape}")
    if dim is not None and a.shape[1] != dim:
        raise DimensionError(
            f"{name} have dimension {a.shape[1]}, the index holds {dim}-d templates; "
            "map them into the gallery's space first"
        )
    if a.size and not np.isfinite(a).all():
        raise InvalidInputError(f"{name} contain NaN or inf; drop or re-embed those rows")
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return np.ascontiguousarray(a / np.where(norms > 0, norms, 1.0), dtype=np.float32)


class TemplateIndex:
    """A gallery of unit-norm templates searched by inner product (cosine).

    Parameters
    ----------
    kind : {"flat", "ivf", "hnsw"}, default "flat"
        ``flat`` is exact; ``ivf`` and ``hnsw`` are approximate (faiss only).
    backend : {"auto", "faiss", "numpy"}, default "auto"
        ``auto``: faiss when installed, else numpy (which only does ``flat``).
    nlist : int, optional
        IVF cells; default ``4 * sqrt(n)`` clipped to ``[1, n // 39]``.
    nprobe : int, default 32
        IVF cells visited per query.
    hnsw_m : int, default 32
        HNSW links per node.
    ef_search : int, default 128
        HNSW search breadth.
    ef_construction : int, default 80
    seed : int, default 0
        Seed of the IVF k-means training sample.

    Attributes
    ----------
    backend_ : str
        ``"faiss"`` or ``"numpy"``.
    dim_, ntotal_ : int

    Examples
    --------
    >>> import numpy as np
    >>> g = np.eye(3, dtype=np.float32)
    >>> idx = TemplateIndex(backend="numpy").fit(g)
    >>> idx.search(np.array([[0.1, 0.9, 0.0]]), k=1)[1].tolist()
    [[1]]
    """

    def __init__(
        self,
        kind: str = "flat",
        backend: str = "auto",
        nlist: int | None = None,
        nprobe: int = 32,
        hnsw_m: int = 32,
        ef_search: int = 128,
        ef_construction: int = 80,
        seed: int = 0,
    ) -> None:
        self.kind = kind
        self.backend = backend
        self.nlist = nlist
        self.nprobe = nprobe
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.ef_construction = ef_construction
        self.seed = seed

    def fit(self, gallery: Any) -> TemplateIndex:
        """Build the index over ``gallery`` ``(n, dim)`` (rows are normalised here).

        Raises
        ------
        InvalidInputError
            Unknown kind or backend, an approximate kind on the numpy backend, an empty or
            non-finite gallery.
        MissingDependencyError
            ``backend="faiss"`` (or an approximate kind) without faiss installed.
        """
        if self.kind not in INDEX_KINDS:
            raise unknown(self.kind, INDEX_KINDS, "index kind")
        if self.backend not in _BACKENDS:
            raise unknown(self.backend, _BACKENDS, "index backend")
        g = _unit_rows(gallery, "gallery templates")
        if g.shape[0] == 0:
            raise InvalidInputError("the gallery is empty; enrol at least one template")
        backend = self.backend
        if backend == "auto":
            backend = "faiss" if (faiss_available() or self.kind != "flat") else "numpy"
        if backend == "numpy" and self.kind != "flat":
            raise InvalidInputError(
                f"kind={self.kind!r} needs the faiss backend; use kind='flat' or install faiss"
            )
        self.dim_ = int(g.shape[1])
        self.ntotal_ = int(g.shape[0])
        self.backend_ = backend
        if backend == "numpy":
            self._gallery = g
            return self
        faiss = _faiss()
        d, n = self.dim_, self.ntotal_
        if self.kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, int(self.hnsw_m), faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = int(self.ef_construction)
            index.hnsw.efSearch = int(self.ef_search)
        else:
            nlist = self.nlist or int(np.clip(4 * np.sqrt(n), 1, max(1, n // 39)))
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, int(nlist), faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(self.seed)
            n_train = min(n, max(64 * int(nlist), 10_000))
            sample = g[np.sort(rng.choice(n, size=n_train, replace=False))]
            index.train(sample)
            index.nprobe = int(self.nprobe)
            self.nlist_ = int(nlist)
        index.add(g)
        self._index = index
        return self

    def search(self, probes: Any, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best templates of each probe.

        Parameters
        ----------
        probes : array-like of shape (m, dim)
        k : int

        Returns
        -------
        scores : ndarray float32 (m, k)
            Cosine similarities, decreasing along each row.
        rows : ndarray int64 (m, k)
            Gallery rows; ``-1`` where an approximate index found fewer than ``k``.

        Raises
        ------
        DimensionError
            Probes of another dimension than the gallery.
        """
        if not hasattr(self, "backend_"):
            raise InvalidInputError("the index is not built; call fit(gallery) first")
        if not 1 <= int(k) <= self.ntotal_:
            raise InvalidInputError(f"k must be in [1, {self.ntotal_}], got {k}")
        q = _unit_rows(probes, "probes", self.dim_)
        if self.backend_ == "faiss":
            scores, rows = self._index.search(q, int(k))
            return scores.astype(np.float32), rows.astype(np.int64)
        return _brute_force(q, self._gallery, int(k))


def _brute_force(q: np.ndarray, g: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    m = q.shape[0]
    scores = np.empty((m, k), dtype=np.float32)
    rows = np.empty((m, k), dtype=np.int64)
    step = max(1, _BLOCK_BYTES // (4 * g.shape[0]))
    for i in range(0, m, step):
        s = q[i : i + step] @ g.T
        if k < s.shape[1]:
            part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(s.shape[1]), s.shape).copy()
        ps = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        rows[i : i + step] = np.take_along_axis(part, order, axis=1)
        scores[i : i + step] = np.take_along_axis(ps, order, axis=1)
    return scores, rows


def recall_at_1(approx_rows: np.ndarray, exact_rows: np.ndarray) -> float:
    """Fraction of probes whose approximate top-1 template is the exact top-1.

    Examples
    --------
    >>> recall_at_1(np.array([[1], [2]]), np.array([[1], [3]]))
    0.5
    """
    a = np.asarray(approx_rows).reshape(len(approx_rows), -1)[:, 0]
    e = np.asarray(exact_rows).reshape(len(exact_rows), -1)[:, 0]
    if a.shape != e.shape or a.size == 0:
        raise DimensionError(
            f"need the same non-zero number of probes, got {a.shape} and {e.shape}"
        )
    return float(np.mean(a == e))
