"""Pair data and the generic (slow, any fitter) cross-model evaluation.

A :class:`PairData` is a pair protocol resolved against the embeddings of ``N`` models: for every
pair, the left and right item's embedding in every model, the genuine flag, the 0-based fold and
a ``valid`` flag (both items embedded by every model).

Fold safety (docs/ARCHITECTURE.md): for test fold ``f``, anything fitted -- the linear map and
the decision threshold -- sees only pairs of the other folds.  Invalid (missing-embedding) pairs
are never used for fitting or for choosing a threshold, and count as errors in accuracy (the
"error-decided" policy).

The functions here are the reference implementation: any fitter, one fit per fold.  The fast
exact paths for ridge live in :mod:`facebridge.experiments.matrix` and
:mod:`facebridge.experiments.sweeps` and are tested against these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from facebridge.errors import DimensionError, InvalidInputError, UnknownModelError
from facebridge.maps import LinearMap, fit_ridge
from facebridge.metrics import FoldAccuracy, kfold_accuracy
from facebridge.store import Embeddings
from facebridge.vocabulary import unknown

__all__ = [
    "CORRESPONDENCES",
    "SCORES",
    "Fitter",
    "PairData",
    "fold_accuracy_from_rows",
    "mapped_accuracy",
    "mapped_scores",
    "native_accuracy",
    "pair_data",
    "pair_data_from_arrays",
    "training_correspondences",
    "unmapped_accuracy",
]

CORRESPONDENCES: tuple[str, ...] = ("matched-pairs", "same-image")
SCORES: tuple[str, ...] = ("cosine", "symmetric")

#: A map fitter: ``(X (m, d_a), Y (m, d_b)) -> LinearMap``.
Fitter = Callable[[np.ndarray, np.ndarray], LinearMap]


@dataclass(frozen=True, eq=False)
class PairData:
    """A pair protocol resolved against ``N`` models' embeddings.

    Attributes
    ----------
    models : tuple of str
        Model keys, in the order used by every result.
    left, right : dict
        model -> float32 ``(n_pairs, d_model)``: embedding of each pair's left / right item.
        Rows of invalid pairs are zero.
    genuine : ndarray
        bool ``(n_pairs,)``.
    folds : ndarray
        int64 ``(n_pairs,)``, 0-based fold ids covering ``0..K-1``.
    valid : ndarray
        bool ``(n_pairs,)``: both items embedded by every model.
    left_ids, right_ids : tuple of str
        Item ids of each pair (empty strings allowed for anonymous in-memory data).
    name : str
        Protocol name (for reports).

    Build it with :func:`pair_data` (store + protocol) or :func:`pair_data_from_arrays`.
    """

    models: tuple[str, ...]
    left: dict[str, np.ndarray]
    right: dict[str, np.ndarray]
    genuine: np.ndarray
    folds: np.ndarray
    valid: np.ndarray
    left_ids: tuple[str, ...]
    right_ids: tuple[str, ...]
    name: str = "pairs"
    failures: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        models = tuple(str(m) for m in self.models)
        if not models:
            raise InvalidInputError("PairData needs at least one model; pass models=[...]")
        if len(set(models)) != len(models):
            raise InvalidInputError(f"models must be distinct, got {list(models)}")
        g = np.asarray(self.genuine)
        n = g.shape[0] if g.ndim == 1 else -1
        if n <= 0:
            raise InvalidInputError(
                f"genuine must be a non-empty 1-D bool array, got shape {g.shape}; pass one flag per pair"
            )
        if g.dtype != np.bool_:
            if g.dtype.kind not in "iu" or not np.isin(g, (0, 1)).all():
                raise InvalidInputError(f"genuine must be bool (or 0/1), got dtype {g.dtype}")
            g = g.astype(bool)
        f = np.asarray(self.folds)
        if f.shape != (n,) or f.dtype.kind not in "iu":
            raise DimensionError(
                f"folds must be integer fold ids of shape ({n},), got {f.dtype} {f.shape}; "
                f"pass protocol.fold_array()"
            )
        f = f.astype(np.int64)
        if f.min() < 0 or not (np.bincount(f) > 0).all():
            raise InvalidInputError(
                f"folds must cover 0..K-1 (0-based), got ids {sorted(set(f.tolist()))[:12]}; renumber them"
            )
        v = np.ones(n, dtype=bool) if self.valid is None else np.asarray(self.valid)
        if v.shape != (n,) or v.dtype != np.bool_:
            raise DimensionError(
                f"valid must be a bool array of shape ({n},), got {v.dtype} {v.shape}"
            )
        v = v.copy()
        left: dict[str, np.ndarray] = {}
        right: dict[str, np.ndarray] = {}
        for m in models:
            if m not in self.left or m not in self.right:
                raise DimensionError(
                    f"no left/right embeddings for model {m!r}; pass both left[{m!r}] and right[{m!r}]"
                )
            arrs = []
            for side, src in (("left", self.left[m]), ("right", self.right[m])):
                a = np.asarray(src)
                if a.ndim != 2 or a.shape[0] != n or a.shape[1] < 1:
                    raise DimensionError(
                        f"{side}[{m!r}] must have shape ({n}, dim), got {a.shape}; one row per pair"
                    )
                if a.dtype.kind not in "fiu":
                    raise InvalidInputError(f"{side}[{m!r}] must be numeric, got dtype {a.dtype}")
                arrs.append(a)
            if arrs[0].shape[1] != arrs[1].shape[1]:
                raise DimensionError(
                    f"left[{m!r}] and right[{m!r}] have different dims {arrs[0].shape[1]} and "
                    f"{arrs[1].shape[1]}; both sides must come from the same model"
                )
            out = []
            for side, a in zip(("left", "right"), arrs, strict=True):
                a32 = np.array(a, dtype=np.float32, copy=True)
                a32[~v] = 0.0
                bad = v & ~np.isfinite(a32).all(axis=1)
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise InvalidInputError(
                        f"{side}[{m!r}] has {int(bad.sum())} pairs with NaN/inf embeddings (first: "
                        f"pair {i}); re-extract them or mark them invalid (valid=False)"
                    )
                zero = v & ~(a32 != 0).any(axis=1)
                if zero.any():
                    i = int(np.flatnonzero(zero)[0])
                    raise InvalidInputError(
                        f"{side}[{m!r}] has {int(zero.sum())} pairs with all-zero embeddings "
                        f"(first: pair {i}), whose cosine is undefined; re-extract them or mark "
                        f"them invalid (valid=False)"
                    )
                a32.flags.writeable = False
                out.append(a32)
            left[m], right[m] = out
        lids = tuple(self.left_ids) if self.left_ids else ("",) * n
        rids = tuple(self.right_ids) if self.right_ids else ("",) * n
        if len(lids) != n or len(rids) != n:
            raise DimensionError(
                f"left_ids/right_ids must have one id per pair ({n}), got {len(lids)}/{len(rids)}"
            )
        for arr in (g, f, v):
            arr.flags.writeable = False
        new = {"models": models, "left": left, "right": right, "genuine": g, "folds": f}
        for k, x in {**new, "valid": v, "left_ids": lids, "right_ids": rids}.items():
            object.__setattr__(self, k, x)

    @property
    def n_pairs(self) -> int:
        return int(self.genuine.shape[0])

    @property
    def n_folds(self) -> int:
        return int(self.folds.max()) + 1

    @property
    def n_missing(self) -> int:
        """Number of invalid pairs (an item not embedded by some model)."""
        return int((~self.valid).sum())

    def dim(self, model: str) -> int:
        """Embedding dimension of ``model``."""
        return int(self.left[self.check_model(model)].shape[1])

    @property
    def dims(self) -> dict[str, int]:
        return {m: self.dim(m) for m in self.models}

    def check_model(self, model: str) -> str:
        """Return ``model`` or raise :class:`UnknownModelError` listing close names."""
        if model in self.left:
            return model
        raise UnknownModelError(str(unknown(model, self.models, "model")))

    def select(self, models: Iterable[str]) -> PairData:
        """The same pairs restricted to ``models`` (validity is kept as is)."""
        ms = tuple(self.check_model(m) for m in models)
        left, right = {m: self.left[m] for m in ms}, {m: self.right[m] for m in ms}
        failures = {m: self.failures[m] for m in ms if m in self.failures}
        return replace(self, models=ms, left=left, right=right, failures=failures)

    def train_mask(self, fold: int) -> np.ndarray:
        """bool ``(n_pairs,)``: valid pairs of every fold except ``fold`` (fitting data)."""
        return self.valid & (self.folds != fold)


def pair_data_from_arrays(
    left: Mapping[str, Any],
    right: Mapping[str, Any],
    genuine: Any,
    folds: Any,
    valid: Any = None,
    *,
    models: Sequence[str] | None = None,
    left_ids: Sequence[str] = (),
    right_ids: Sequence[str] = (),
    name: str = "in-memory",
) -> PairData:
    """Build :class:`PairData` from in-memory arrays (tests, synthetic data, user code).

    Parameters
    ----------
    left, right : mapping
        model -> ``(n_pairs, d)`` embeddings of each pair's left / right item.
    genuine : array-like of bool, shape (n_pairs,)
    folds : array-like of int, shape (n_pairs,)
    valid : array-like of bool, shape (n_pairs,), optional
        Default all valid.
    models : sequence of str, optional
        Default: the keys of ``left`` in order.

    left_ids, right_ids : sequence of str, optional
        Item ids of each pair (same-image correspondences tell images apart by them).
    name : str
        Protocol name (for reports).

    Returns
    -------
    PairData

    Raises
    ------
    DimensionError, InvalidInputError
        Shapes that do not fit, NaN/inf or all-zero embeddings in a valid pair, bad fold ids.

    Examples
    --------
    >>> import numpy as np
    >>> e = {"a": np.eye(4) + 0.1}
    >>> d = pair_data_from_arrays(e, e, [True, True, False, False], [0, 1, 0, 1])
    >>> d.n_pairs, d.n_folds, d.models
    (4, 2, ('a',))
    """
    ms = tuple(models) if models is not None else tuple(left)
    g = np.asarray(genuine)
    v = np.ones(g.shape[0], dtype=bool) if valid is None else np.asarray(valid)
    return PairData(
        ms,
        dict(left),
        dict(right),
        g,
        np.asarray(folds),
        v,
        tuple(left_ids),
        tuple(right_ids),
        name,
    )


def _lookup(
    source: Any, model: str
) -> tuple[Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]], dict[str, str]]:
    """A ``take(ids) -> (vectors, present)`` function and the failures for ``model``."""
    if hasattr(source, "load") and callable(source.load):  # an EmbeddingStore
        emb = source.load(model)
    elif isinstance(source, Mapping):
        if model not in source:
            raise UnknownModelError(str(unknown(model, map(str, source), "model")))
        emb = source[model]
    else:
        raise InvalidInputError(
            f"expected an EmbeddingStore or a mapping model -> Embeddings, got {type(source).__name__}"
        )
    if hasattr(emb, "take"):
        return emb.take, dict(getattr(emb, "failures", {}) or {})
    return Embeddings.of(emb, model).take, {}


def pair_data(source: Any, protocol: Any, models: Sequence[str] | None = None) -> PairData:
    """Resolve ``protocol`` against the embeddings of ``models``.

    Parameters
    ----------
    source : EmbeddingStore or mapping
        A :class:`facebridge.store.EmbeddingStore`, or a mapping model -> ``Embeddings`` (anything
        with ``take(ids) -> (vectors, present)``) or model -> ``(ids, vectors)``.
    protocol : PairProtocol
    models : sequence of str, optional
        Default: every model of the store / mapping, in its order.

    Returns
    -------
    PairData
        A pair is *valid* when both its items are embedded by every model; invalid pairs
        (counted in ``n_missing``) are never fitted on and count as errors in accuracy.

    Raises
    ------
    UnknownModelError
        A model that the source does not hold.
    InvalidInputError
        No model, an empty protocol, NaN/inf or all-zero embeddings.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol
    >>> proto = make_synthetic_protocol(n_folds=3)
    >>> data = pair_data(make_synthetic_embeddings(proto, dims={"a": 8, "b": 6}), proto)
    >>> data.models, data.n_folds, data.n_missing
    (('a', 'b'), 3, 0)
    """
    if models is None:
        if hasattr(source, "models") and callable(source.models):
            models = list(source.models())
        elif isinstance(source, Mapping):
            models = list(source)
        else:
            raise InvalidInputError("pass models=[...]: cannot list the models of this source")
    ms = [str(m) for m in models]
    if not ms:
        raise InvalidInputError("no models to evaluate; embed at least one model into the store")
    if len(protocol.pairs) == 0:
        raise InvalidInputError(
            f"protocol {protocol.name!r} has no pairs; load a non-empty protocol"
        )
    lids = [p.left for p in protocol.pairs]
    rids = [p.right for p in protocol.pairs]
    valid = np.ones(len(lids), dtype=bool)
    left: dict[str, np.ndarray] = {}
    right: dict[str, np.ndarray] = {}
    failures: dict[str, dict[str, str]] = {}
    for m in ms:
        take, fails = _lookup(source, m)
        lv, lp = take(lids)
        rv, rp = take(rids)
        left[m], right[m] = lv, rv
        valid &= np.asarray(lp, dtype=bool) & np.asarray(rp, dtype=bool)
        failures[m] = fails
    return PairData(
        tuple(ms),
        left,
        right,
        protocol.genuine_array(),
        protocol.fold_array(),
        valid,
        tuple(lids),
        tuple(rids),
        protocol.name,
        failures,
    )


def _check_mask(data: PairData, train_mask: Any) -> np.ndarray:
    m = np.asarray(train_mask)
    if m.shape != (data.n_pairs,) or m.dtype != np.bool_:
        raise DimensionError(
            f"train_mask must be a bool array of shape ({data.n_pairs},), got {m.dtype} {m.shape}; "
            f"use data.train_mask(fold)"
        )
    return m & data.valid


def training_rows(data: PairData, train_mask: Any, mode: str = "matched-pairs") -> np.ndarray:
    """Indices of the pairs whose items feed the fit (matched-pairs: genuine training pairs)."""
    m = _check_mask(data, train_mask)
    if mode == "matched-pairs":
        return np.flatnonzero(m & data.genuine)
    if mode == "same-image":
        return np.flatnonzero(m)
    raise unknown(mode, CORRESPONDENCES, "correspondence")


@dataclass(frozen=True, eq=False)
class Items:
    """The distinct images of a set of pairs: mapping an image once serves every pair that
    shows it, on either side.

    Images are told apart by item id (sorted by id); with anonymous in-memory data every pair
    side counts as its own image.

    Attributes
    ----------
    pair : ndarray ``(u,)``
        A pair showing each image.
    right_side : ndarray ``(u,)`` bool
        Whether the image is that pair's right item.
    left, right : ndarray ``(n_pairs,)``
        The image of each pair's left / right item (-1: the pair is not in the set).
    bits : ndarray ``(u,)`` int64
        The folds of the pairs showing each image, as a bit set (bit ``f``: fold ``f``).
    """

    pair: np.ndarray
    right_side: np.ndarray
    left: np.ndarray
    right: np.ndarray
    bits: np.ndarray

    @classmethod
    def of(cls, data: PairData, pairs: np.ndarray | None = None) -> Items:
        """The distinct images of ``pairs`` (indices; default every pair)."""
        rows = np.arange(data.n_pairs) if pairs is None else np.asarray(pairs, dtype=np.int64)
        n = rows.size
        if all(data.left_ids) and all(data.right_ids):
            ids = np.array([data.left_ids[i] for i in rows] + [data.right_ids[i] for i in rows])
            _, first, inv = np.unique(ids, return_index=True, return_inverse=True)
            inv = inv.reshape(-1)
        else:
            first = inv = np.arange(2 * n)
        side_right = first >= n
        left = np.full(data.n_pairs, -1, dtype=np.int64)
        right = np.full(data.n_pairs, -1, dtype=np.int64)
        left[rows], right[rows] = inv[:n], inv[n:]
        bit = np.left_shift(1, data.folds[rows])
        bits = np.zeros(first.size, dtype=np.int64)
        np.bitwise_or.at(bits, inv, np.concatenate((bit, bit)))
        return cls(rows[np.where(side_right, first - n, first)], side_right, left, right, bits)

    def vectors(self, data: PairData, model: str, dtype: Any = np.float64) -> np.ndarray:
        """``(u, d)``: every image embedded by ``model``."""
        return _gather(data, model, self.pair, self.right_side).astype(dtype)


def _gather(data: PairData, model: str, pair: np.ndarray, right_side: np.ndarray) -> np.ndarray:
    if not right_side.any():
        return data.left[model][pair]
    if right_side.all():
        return data.right[model][pair]
    return np.where(right_side[:, None], data.right[model][pair], data.left[model][pair])


@dataclass(frozen=True, eq=False)
class Correspondences:
    """The training correspondences of a pair set, each row with the folds it belongs to.

    Row ``i`` pairs the source image ``(src_pair[i], src_right[i])`` with the target image
    ``(tgt_pair[i], tgt_right[i])`` (a pair and whether its right item).  Build it with
    :func:`correspondences`.

    Attributes
    ----------
    data : PairData
    mode : str
    bits : ndarray ``(R,)`` int64
        The folds of each row as a bit set (several for a same-image row whose image is in
        pairs of several folds).  A row is a training row of test fold ``f`` unless ``f`` is
        its only fold.
    """

    data: PairData
    mode: str
    src_pair: np.ndarray
    src_right: np.ndarray
    tgt_pair: np.ndarray
    tgt_right: np.ndarray
    bits: np.ndarray
    _cache: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return int(self.bits.size)

    def source(self, model: str) -> np.ndarray:
        """float64 ``(R, d)``: the source side of every row through ``model``."""
        return self._side("src", model)

    def target(self, model: str) -> np.ndarray:
        """float64 ``(R, d)``: the target side of every row through ``model``."""
        if self.src_right is self.tgt_right:  # same-image: every row is one image
            return self._side("src", model)
        return self._side("tgt", model)

    def _side(self, side: str, model: str) -> np.ndarray:
        key = (side, model)
        if key not in self._cache:
            pair, right = (
                (self.src_pair, self.src_right)
                if side == "src"
                else (self.tgt_pair, self.tgt_right)
            )
            self._cache[key] = _gather(self.data, model, pair, right).astype(np.float64)
        return self._cache[key]

    def training(self, fold: int) -> np.ndarray:
        """Indices of the training rows of test fold ``fold``."""
        return np.flatnonzero(self.bits & ~(1 << int(fold)))


def correspondences(
    data: PairData,
    mode: str = "matched-pairs",
    *,
    symmetric: bool = False,
    train_mask: Any = None,
) -> Correspondences:
    """Every correspondence row of the pairs in ``train_mask`` (default: every valid pair).

    * ``"matched-pairs"`` (the paper's Eq. 1): for every genuine pair, the *left* item through
      the source and the *right* item through the target -- two photos of one person, in pair
      order.  ``symmetric=True`` adds the right->left orientation, doubling the rows.
    * ``"same-image"``: every distinct image of the pairs, genuine and impostor, through both
      models (sorted by item id; see :class:`Items`).  ``symmetric`` has no effect.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> c = correspondences(data)
    >>> c.n_rows == int((data.valid & data.genuine).sum())
    True
    """
    mask = data.valid.copy() if train_mask is None else train_mask
    rows = training_rows(data, mask, mode)
    if mode == "matched-pairs":
        bit = np.left_shift(1, data.folds[rows])
        no, yes = np.zeros(rows.size, dtype=bool), np.ones(rows.size, dtype=bool)
        if not symmetric:
            return Correspondences(data, mode, rows, no, rows, yes, bit)
        both = np.concatenate((rows, rows))
        lr = np.concatenate((no, yes))
        return Correspondences(data, mode, both, lr, both, ~lr, np.concatenate((bit, bit)))
    it = Items.of(data, rows)
    return Correspondences(data, mode, it.pair, it.right_side, it.pair, it.right_side, it.bits)


def training_correspondences(
    data: PairData,
    source: str,
    target: str,
    train_mask: Any,
    mode: str = "matched-pairs",
    *,
    symmetric: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Corresponding rows ``(X, Y)`` for fitting a ``source -> target`` map.

    Only pairs with ``train_mask`` (and ``data.valid``) contribute; pass ``data.train_mask(f)``
    so that nothing of test fold ``f`` is seen.  The rows are those of :func:`correspondences`.

    Returns
    -------
    X : ndarray, float64 ``(m, d_source)``
    Y : ndarray, float64 ``(m, d_target)``

    Raises
    ------
    UnknownModelError, DimensionError, InvalidInputError
        Unknown model, a bad mask, an unknown mode, or no training row.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> X, Y = training_correspondences(data, "a", "b", data.train_mask(0))
    >>> X.shape[0] == int((data.train_mask(0) & data.genuine).sum())
    True
    """
    s, t = data.check_model(source), data.check_model(target)
    c = correspondences(data, mode, symmetric=symmetric, train_mask=train_mask)
    if c.n_rows == 0:
        raise InvalidInputError(
            f"no training correspondences for {source}->{target} ({mode}); the training folds "
            f"have no valid {'genuine ' if mode == 'matched-pairs' else ''}pair"
        )
    return c.source(s), c.target(t)


def _row_cosine(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Row-wise cosine with zero rows scoring 0 (only invalid pairs have zero rows)."""
    num = np.einsum("ij,ij->i", A, B)
    den = np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return np.clip(out, -1.0, 1.0)


def fold_accuracy_from_rows(
    scores: np.ndarray, genuine: np.ndarray, folds: np.ndarray, valid: np.ndarray
) -> FoldAccuracy:
    """k-fold accuracy when fold ``f`` has its own score vector ``scores[f]`` (its own map).

    For fold ``f``: threshold = :func:`facebridge.metrics.best_threshold` rule on the valid pairs of
    the other folds scored by ``scores[f]``; accuracy = fraction of fold ``f``'s pairs decided
    correctly, invalid pairs counted as errors.

    Parameters
    ----------
    scores : ndarray ``(K, n_pairs)``
    genuine, folds, valid : ndarray ``(n_pairs,)``

    Returns
    -------
    FoldAccuracy

    Examples
    --------
    >>> import numpy as np
    >>> g = np.array([True, False] * 4)
    >>> folds = np.repeat([0, 1], 4)
    >>> S = np.tile(np.where(g, 0.9, 0.1), (2, 1))
    >>> fold_accuracy_from_rows(S, g, folds, np.ones(8, bool)).mean
    1.0
    """
    k = int(folds.max()) + 1
    per_fold = np.empty(k)
    thresholds = np.empty(k)
    for f in range(k):
        r = kfold_accuracy(scores[f], genuine, folds, valid)
        per_fold[f] = r.per_fold[f]
        thresholds[f] = r.thresholds[f]
    return FoldAccuracy(float(per_fold.mean()), float(per_fold.std()), per_fold, thresholds)


def native_accuracy(data: PairData, model: str) -> FoldAccuracy:
    """k-fold accuracy of ``model`` on its own embeddings (cosine score, no map).

    Parameters
    ----------
    data : PairData
    model : str

    Returns
    -------
    FoldAccuracy

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> 0.5 < native_accuracy(data, "a").mean <= 1.0
    True
    """
    m = data.check_model(model)
    s = _row_cosine(data.left[m].astype(np.float64), data.right[m].astype(np.float64))
    return kfold_accuracy(s, data.genuine, data.folds, data.valid)


def unmapped_accuracy(data: PairData, source: str, target: str) -> FoldAccuracy | None:
    """Accuracy of comparing ``source``'s left embedding with ``target``'s right embedding
    directly (identity map), or ``None`` when the dims differ (not comparable).

    Parameters
    ----------
    data : PairData
    source, target : str

    Returns
    -------
    FoldAccuracy or None

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> unmapped_accuracy(data, "a", "b") is None  # 8 and 6 dimensions
    True
    """
    s, t = data.check_model(source), data.check_model(target)
    if data.dim(s) != data.dim(t):
        return None
    sc = _row_cosine(data.left[s].astype(np.float64), data.right[t].astype(np.float64))
    return kfold_accuracy(sc, data.genuine, data.folds, data.valid)


def mapped_scores(
    data: PairData,
    source: str,
    target: str,
    fitter: Fitter | None = None,
    correspondence: str = "matched-pairs",
    score: str = "cosine",
    fit_target: str | None = None,
    *,
    symmetric_pairs: bool = False,
) -> tuple[np.ndarray, list[LinearMap]]:
    """Per-fold mapped scores of every pair: row ``f`` uses the map fitted without fold ``f``.

    Parameters
    ----------
    data, source, target, fitter, correspondence, score, fit_target, symmetric_pairs
        As :func:`mapped_accuracy`.

    Returns
    -------
    scores : ndarray ``(K, n_pairs)`` float64 (invalid pairs score 0 and are ignored downstream)
    maps : list of LinearMap, one per fold (for ``score="symmetric"``: the source->target maps)

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> scores, maps = mapped_scores(data, "a", "b")
    >>> scores.shape, maps[0].weight.shape
    ((3, 120), (8, 6))
    """
    s, t = data.check_model(source), data.check_model(target)
    ft = data.check_model(fit_target) if fit_target is not None else t
    if data.dim(ft) != data.dim(t):
        raise DimensionError(
            f"fit_target {ft!r} has dim {data.dim(ft)} but target {t!r} has {data.dim(t)}; "
            f"the map must land in the target's space"
        )
    if score not in SCORES:
        raise unknown(score, SCORES, "score")
    if correspondence not in CORRESPONDENCES:
        raise unknown(correspondence, CORRESPONDENCES, "correspondence")
    fit: Fitter = fitter if fitter is not None else lambda X, Y: fit_ridge(X, Y, alpha=1.0)
    k = data.n_folds
    out = np.empty((k, data.n_pairs))
    maps: list[LinearMap] = []
    L = data.left[s].astype(np.float64)
    R = data.right[t].astype(np.float64)
    sym = symmetric_pairs
    for f in range(k):
        mask = data.train_mask(f)
        mp = fit(*training_correspondences(data, s, ft, mask, correspondence, symmetric=sym))
        maps.append(mp)
        sc = _row_cosine(mp.apply(L), R)
        if score == "symmetric":  # the same two templates, each mapped into the other's space
            back = fit(*training_correspondences(data, t, s, mask, correspondence, symmetric=sym))
            sc = 0.5 * (sc + _row_cosine(back.apply(R), L))
        out[f] = sc
    return out, maps


def mapped_accuracy(
    data: PairData,
    source: str,
    target: str,
    fitter: Fitter | None = None,
    correspondence: str = "matched-pairs",
    score: str = "cosine",
    fit_target: str | None = None,
    *,
    symmetric_pairs: bool = False,
) -> FoldAccuracy:
    """Cross-model k-fold accuracy through a map fitted per fold (the generic reference path).

    For each test fold ``f``: fit ``fitter(X, Y)`` on the training correspondences of the other
    folds only (:func:`training_correspondences`), score every pair as
    ``cosine(map(source embedding of left), target embedding of right)`` (paper Eq. 3), choose
    the threshold on the other folds' valid pairs, and measure accuracy on fold ``f`` (invalid
    pairs count as errors).

    Parameters
    ----------
    data : PairData
    source, target : str
        Model keys.
    fitter : callable ``(X, Y) -> LinearMap``, optional
        Default: ``fit_ridge`` with ``alpha=1`` (the paper's map).
    correspondence : {"matched-pairs", "same-image"}
    score : {"cosine", "symmetric"}
        ``"symmetric"``: on the same two templates (the source's embedding of the left image,
        the target's of the right), the mean of ``cos(M_st left, right)`` and
        ``cos(left, M_ts right)`` with ``M_ts`` fitted target->source on the same folds -- the
        definition ``compare-maps`` and :mod:`~facebridge.experiments.crossfit` use.
    fit_target : str, optional
        Model whose embeddings are the regression targets when fitting (default ``target``); it
        must have ``target``'s dimension.  Scores are always against ``target``.
    symmetric_pairs : bool
        Also fit on the right->left orientation of matched pairs (see
        :func:`training_correspondences`).

    Returns
    -------
    FoldAccuracy

    Raises
    ------
    UnknownModelError, DimensionError, InvalidInputError

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> 0.5 < mapped_accuracy(data, "a", "b").mean <= 1.0
    True
    """
    sc, _ = mapped_scores(
        data,
        source,
        target,
        fitter,
        correspondence,
        score,
        fit_target,
        symmetric_pairs=symmetric_pairs,
    )
    return fold_accuracy_from_rows(sc, data.genuine, data.folds, data.valid)
