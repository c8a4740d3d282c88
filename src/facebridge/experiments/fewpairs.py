"""Maps from few pairs: mapped LFW accuracy and re-identification rank-1 against ``k``.

For every directed pair ``A -> B`` and every number of seed pairs ``k``, a map is fitted per
test fold by :func:`facebridge.maps.semisupervised.fit_self_learning` from ``k`` seed pairs plus
two *unpaired* pools, in three settings of the pools:

* ``"a"`` -- **transductive**: the pools hold the test fold's own people, other templates.  The
  A pool holds the A templates of the fold's images that are never a *left* item of a fold pair
  (the left items are the ones scored through A); the B pool the B templates of the fold's
  images that are never a *right* item.  No template that is scored is fitted on, but the map
  is fitted on other photos of exactly the people it is tested on: an attacker who holds other
  photos of the enrolled population.
* ``"b"`` -- other people only: the training folds' images (LFW View 2 folds are identity-
  disjoint), each identity's images alternating between the A pool and the B pool (no image is
  in both pools).
* ``"c"`` -- no pool: the plain seed map (ridge) on the ``k`` pairs.  ``k = 400`` is the paper's
  recipe (ridge on 400 matched pairs).

Seed pairs are matched pairs (paper Eq. 1): ``k`` genuine pairs drawn (seeded, per fold) from
the *training* folds only, left item through A, right item through B.  For ``k < 2`` the
self-learning starts from an unsupervised start (``k0_init``), the seed pair (if any) added to
its dictionary.  Fold safety: for test fold ``f`` nothing fitted sees a pair of fold ``f``
(``"b"``, ``"c"``) or a template that fold ``f`` scores (``"a"``); thresholds are chosen on the
training folds (:func:`~facebridge.experiments.core.fold_accuracy_from_rows`).

Re-identification (the audit's threat model, :mod:`facebridge.experiments.privacy`): the items
both models embed are split by identity with
:func:`~facebridge.experiments.privacy.split_identities`; ``k`` seed images (same image through
both models) come from the correspondence identities; the mapped A probes are searched against
the B gallery (closed-set rank-1).  Pools: ``"a"`` the leaked A probe templates and the B gallery
themselves (unlabelled: exactly what the attacker holds; transductive), ``"b"`` the
correspondence identities' images alternating between the pools, ``"c"`` none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facebridge.errors import InvalidInputError
from facebridge.experiments.core import (
    PairData,
    _row_cosine,
    fold_accuracy_from_rows,
    native_accuracy,
)
from facebridge.experiments.privacy import lfw_identity, split_identities
from facebridge.maps.linear import LinearMap, fit_ridge
from facebridge.metrics.identification import normalize_rows, search
from facebridge.vocabulary import STRONG_NATIVE, DirectedPair, Progress, directed_pairs, unknown

__all__ = [
    "K_VALUES",
    "REID_K",
    "SETTINGS",
    "FewPairsResult",
    "few_pairs",
    "fold_map",
    "reid_rank1",
    "seed_rows",
    "unpaired_pools",
]

K_VALUES: tuple[int, ...] = (0, 1, 5, 10, 25, 50, 100, 400)
REID_K: tuple[int, ...] = (0, 10, 50)
SETTINGS: tuple[str, ...] = ("a", "b", "c")
SETTING_NAMES = {
    "a": "same people as the test, other templates (transductive)",
    "b": "other people only",
    "c": "no unpaired pool (ridge on the k pairs)",
}


# ----------------------------------------------------------------------------- inputs


class _Vectors:
    """item id -> row, for one model's embeddings (store ``Embeddings`` or ``(ids, vectors)``)."""

    def __init__(self, emb: Any) -> None:
        ids, vec = (emb.ids, emb.vectors) if hasattr(emb, "ids") else emb
        self.ids = tuple(str(i) for i in ids)
        self.vectors = np.asarray(vec, dtype=np.float64)
        self.index = {x: i for i, x in enumerate(self.ids)}

    def take(self, items: Sequence[str]) -> np.ndarray:
        rows = np.array([self.index[x] for x in items], dtype=np.int64)
        return self.vectors[rows]


def _check_k(ks: Sequence[int], name: str) -> tuple[int, ...]:
    out = []
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
            raise InvalidInputError(f"{name} must be integers >= 0 (e.g. 0,5,50), got {k!r}")
        out.append(int(k))
    if not out:
        raise InvalidInputError(f"{name} is empty; give at least one number of pairs, e.g. 50")
    return tuple(sorted(set(out)))


def _check_settings(settings: Sequence[str]) -> tuple[str, ...]:
    for s in settings:
        if s not in SETTINGS:
            raise unknown(s, SETTINGS, "unpaired-pool setting")
    if not settings:
        raise InvalidInputError("settings is empty; give some of a,b,c")
    return tuple(s for s in SETTINGS if s in settings)


# ----------------------------------------------------------------------------- folds


def seed_rows(data: PairData, fold: int, k: int, seed: int = 0) -> np.ndarray:
    """``k`` genuine valid pairs of the training folds of ``fold`` (seeded), as pair indices.

    Raises
    ------
    InvalidInputError
        If the training folds have fewer than ``k`` genuine pairs.

    Examples
    --------
    >>> from facebridge.experiments.core import pair_data
    >>> from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol
    >>> proto = make_synthetic_protocol()
    >>> emb = make_synthetic_embeddings(proto)
    >>> d = pair_data(emb, proto)
    >>> bool((d.folds[seed_rows(d, 0, 5)] != 0).all())
    True
    """
    train = np.flatnonzero(data.train_mask(fold) & data.valid & data.genuine)
    if k > train.size:
        raise InvalidInputError(
            f"k = {k} seed pairs asked, but fold {fold}'s training folds hold {train.size} "
            f"genuine pairs; use k <= {train.size}"
        )
    rng = np.random.default_rng([seed, fold, k])
    return np.sort(rng.choice(train, size=k, replace=False))


def unpaired_pools(
    data: PairData,
    fold: int,
    setting: str,
    identity_fn: Callable[[str], str] = lfw_identity,
) -> tuple[list[str], list[str]]:
    """Item ids of the A pool and the B pool for test fold ``fold`` (see the module docstring).

    Raises
    ------
    InvalidInputError
        Unknown ``setting`` or a :class:`PairData` without item ids.
    """
    if setting not in SETTINGS:
        raise unknown(setting, SETTINGS, "unpaired-pool setting")
    if setting == "c":
        return [], []
    if not (all(data.left_ids) and all(data.right_ids)):
        raise InvalidInputError("unpaired pools need item ids; build the PairData with pair_data()")
    test = (data.folds == fold) & data.valid
    lefts = {data.left_ids[i] for i in np.flatnonzero(data.folds == fold)}
    rights = {data.right_ids[i] for i in np.flatnonzero(data.folds == fold)}
    if setting == "a":
        items_a = {data.right_ids[i] for i in np.flatnonzero(test)} - lefts
        items_b = {data.left_ids[i] for i in np.flatnonzero(test)} - rights
        return sorted(items_a), sorted(items_b)
    train = data.train_mask(fold) & data.valid
    test_people = {identity_fn(x) for x in lefts | rights}
    items = {data.left_ids[i] for i in np.flatnonzero(train)}
    items |= {data.right_ids[i] for i in np.flatnonzero(train)}
    groups: dict[str, list[str]] = {}
    for x in sorted(items - lefts - rights):
        if identity_fn(x) not in test_people:
            groups.setdefault(identity_fn(x), []).append(x)
    pa: list[str] = []
    pb: list[str] = []
    flip = False
    for who in sorted(groups):
        for j, x in enumerate(groups[who]):
            (pa if (j % 2 == 0) != flip else pb).append(x)
        flip = not flip if len(groups[who]) % 2 else flip
    return pa, pb


@dataclass(frozen=True)
class _Fit:
    """How a few-pairs map is fitted (the self-learning settings)."""

    k0_init: str = "sorted-sim"
    n_iter: int = 10
    max_pool: int = 1500
    csls_k: int = 10
    keep_prob: float = 0.5
    alpha: float = 1.0

    def __call__(
        self, X: np.ndarray, Y: np.ndarray, A: np.ndarray, B: np.ndarray, seed: int
    ) -> LinearMap | None:
        if A.shape[0] == 0 or B.shape[0] == 0:  # setting (c): the seed map alone
            return fit_ridge(X, Y, alpha=self.alpha) if X.shape[0] >= 1 else None
        from facebridge.maps.semisupervised import fit_self_learning  # imports scikit-learn

        return fit_self_learning(
            X,
            Y,
            A,
            B,
            seed_map="ridge",
            refit="ridge",
            init="seeds" if X.shape[0] >= 2 else self.k0_init,
            n_iter=self.n_iter,
            csls_k=self.csls_k,
            keep_prob=self.keep_prob,
            alpha=self.alpha,
            max_pool=self.max_pool,
            random_state=seed,
        ).map


def fold_map(
    data: PairData,
    vectors: Mapping[str, Any],
    source: str,
    target: str,
    fold: int,
    k: int,
    setting: str,
    *,
    seed: int = 0,
    fitter: Callable[..., LinearMap | None] | None = None,
) -> LinearMap | None:
    """The map ``source -> target`` fitted for test fold ``fold`` (``None``: no map, ``k = 0``
    without a pool).

    Parameters
    ----------
    data : PairData
    vectors : mapping
        model -> store ``Embeddings`` or ``(ids, vectors)`` holding every pool item.
    source, target : str
    fold, k : int
    setting : {"a", "b", "c"}
    seed : int
    fitter : callable, optional
        ``(X, Y, pool_a, pool_b, seed) -> LinearMap | None``; default self-learning settings.

    Examples
    --------
    >>> from facebridge.experiments.core import pair_data
    >>> from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol
    >>> proto = make_synthetic_protocol()
    >>> emb = make_synthetic_embeddings(proto)
    >>> d = pair_data(emb, proto)
    >>> fold_map(d, emb, d.models[0], d.models[1], 0, 5, "c").weight.shape[0] == d.dim(d.models[0])
    True
    """
    s, t = data.check_model(source), data.check_model(target)
    rows = seed_rows(data, fold, k, seed)
    X = data.left[s][rows].astype(np.float64)
    Y = data.right[t][rows].astype(np.float64)
    ia, ib = unpaired_pools(data, fold, setting)
    A = _as_vectors(vectors, s).take(ia) if ia else np.zeros((0, data.dim(s)))
    B = _as_vectors(vectors, t).take(ib) if ib else np.zeros((0, data.dim(t)))
    return (fitter or _Fit())(X, Y, A, B, seed)


def _as_vectors(vectors: Mapping[str, Any], model: str) -> _Vectors:
    v = vectors[model]
    return v if isinstance(v, _Vectors) else _Vectors(v)


def _accuracy(
    data: PairData,
    vectors: Mapping[str, Any],
    pair: DirectedPair,
    k: int,
    setting: str,
    fit: _Fit,
    seed: int,
) -> float:
    L = data.left[pair.source].astype(np.float64)
    R = data.right[pair.target].astype(np.float64)
    scores = np.zeros((data.n_folds, data.n_pairs))
    for f in range(data.n_folds):
        m = fold_map(data, vectors, pair.source, pair.target, f, k, setting, seed=seed, fitter=fit)
        if m is None:
            return float("nan")
        scores[f] = _row_cosine(m.apply(L), R)
    return fold_accuracy_from_rows(scores, data.genuine, data.folds, data.valid).mean


# ----------------------------------------------------------------------------- re-identification


def reid_rank1(
    source_emb: Any,
    target_emb: Any,
    k: int,
    setting: str,
    *,
    seed: int = 0,
    fitter: Callable[..., LinearMap | None] | None = None,
    identity_fn: Callable[[str], str] = lfw_identity,
) -> float:
    """Closed-set rank-1 of leaked A templates searched in a B gallery through a few-pairs map.

    The identity split is :func:`~facebridge.experiments.privacy.split_identities` (``seed``);
    the ``k`` seed images are drawn from its correspondence items.  ``NaN`` when there is no map
    (``k = 0``, setting ``"c"``).

    Parameters
    ----------
    source_emb, target_emb : Embeddings or (ids, vectors)
    k : int
    setting : {"a", "b", "c"}
    seed : int
    fitter : callable, optional
        As :func:`fold_map`.
    identity_fn : callable

    Returns
    -------
    float in [0, 1] or NaN.
    """
    a, b = _Vectors(source_emb), _Vectors(target_emb)
    common = sorted(set(a.ids) & set(b.ids))
    split = split_identities(common, seed=seed, identity_fn=identity_fn)
    corr = list(split.correspondence_items)
    if k > len(corr):
        raise InvalidInputError(f"k = {k} exceeds the {len(corr)} correspondence images")
    rng = np.random.default_rng([seed, 5, k])
    chosen = [corr[i] for i in np.sort(rng.choice(len(corr), size=k, replace=False))]
    if setting == "a":
        ia, ib = list(split.probe_items), list(split.gallery_items)
    elif setting == "b":
        rest = sorted(set(corr) - set(chosen))
        ia, ib = rest[0::2], rest[1::2]
    elif setting == "c":
        ia, ib = [], []
    else:
        raise unknown(setting, SETTINGS, "unpaired-pool setting")
    A = a.take(ia) if ia else np.zeros((0, a.vectors.shape[1]))
    B = b.take(ib) if ib else np.zeros((0, b.vectors.shape[1]))
    m = (fitter or _Fit())(a.take(chosen), b.take(chosen), A, B, seed)
    if m is None:
        return float("nan")
    probes = normalize_rows(m.apply(a.take(list(split.probe_items))))
    res = search(
        probes,
        normalize_rows(b.take(list(split.gallery_items))),
        [identity_fn(x) for x in split.probe_items],
        [identity_fn(x) for x in split.gallery_items],
        normalized=True,
    )
    return float(res.rate(1))


# ----------------------------------------------------------------------------- the experiment


@dataclass
class FewPairsResult:
    """Mapped accuracy and re-identification rank-1 against the number of seed pairs.

    Attributes
    ----------
    models : tuple of str
    native : dict
        model -> native LFW accuracy (fraction).
    k : tuple of int
    settings : tuple of str
    accuracy : dict
        setting -> ``"A->B"`` -> list of mean 10-fold accuracies, one per ``k`` (NaN: no map).
    reid_k : tuple of int
    reid_rank1 : dict
        setting -> ``"A->B"`` -> list of rank-1 rates, one per ``reid_k``.
    k0_inits : dict
        unsupervised start -> setting -> ``"A->B"`` -> accuracy at ``k = 0``.
    settings_text : dict
        setting -> its description.
    fit : dict
        The self-learning settings.
    seconds : float
    """

    models: tuple[str, ...]
    native: dict[str, float]
    k: tuple[int, ...]
    settings: tuple[str, ...]
    accuracy: dict[str, dict[str, list[float]]]
    reid_k: tuple[int, ...]
    reid_rank1: dict[str, dict[str, list[float]]]
    k0_inits: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form (NaN -> None); what :func:`facebridge.report.fewpairs.fewpairs_section`
        renders."""

        def clean(x: Any) -> Any:
            if isinstance(x, float):
                return None if np.isnan(x) else x
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            return x

        return clean(
            {
                "models": list(self.models),
                "native": self.native,
                "strong_native": STRONG_NATIVE,
                "k": list(self.k),
                "settings": {s: SETTING_NAMES[s] for s in self.settings},
                "accuracy": self.accuracy,
                "reid_k": list(self.reid_k),
                "reid_rank1": self.reid_rank1,
                "k0_inits": self.k0_inits,
                "fit": self.fit,
                "seconds": self.seconds,
            }
        )


def few_pairs(
    data: PairData,
    vectors: Mapping[str, Any],
    *,
    pairs: Sequence[DirectedPair] | None = None,
    ks: Sequence[int] = K_VALUES,
    settings: Sequence[str] = SETTINGS,
    reid_ks: Sequence[int] = REID_K,
    k0_inits: Sequence[str] = (),
    k0_pairs: Sequence[DirectedPair] | None = None,
    seed: int = 0,
    k0_init: str = "sorted-sim",
    n_iter: int = 10,
    max_pool: int = 1500,
    progress: Progress | None = None,
) -> FewPairsResult:
    """Mapped LFW accuracy and re-identification rank-1 against ``k`` in the pool settings.

    Parameters
    ----------
    data : PairData
        The pair protocol (LFW View 2) resolved against the models' embeddings.
    vectors : mapping
        model -> store ``Embeddings`` (or ``(ids, vectors)``) of every item.
    pairs : sequence of DirectedPair, optional
        Default: every directed pair of ``data.models``.
    ks : sequence of int
        Numbers of seed pairs.
    settings : sequence of {"a", "b", "c"}
    reid_ks : sequence of int
        Numbers of seed images for the re-identification rank-1 (empty: skipped).
    k0_inits : sequence of str
        Unsupervised starts compared at ``k = 0`` (on ``k0_pairs``; settings a and b).
    k0_pairs : sequence of DirectedPair, optional
        Default: ``pairs``.
    seed : int
    k0_init : str
        The start used for ``k < 2`` in the main table.
    n_iter, max_pool : int
        Self-learning iterations and pool subsample size.
    progress : Progress, optional

    Returns
    -------
    FewPairsResult

    Raises
    ------
    InvalidInputError
        Bad ``ks``/``settings``/starts, a ``k`` above the training genuine pairs.

    Examples
    --------
    >>> from facebridge.experiments.core import pair_data
    >>> from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol
    >>> proto = make_synthetic_protocol()
    >>> emb = make_synthetic_embeddings(proto)
    >>> d = pair_data(emb, proto)
    >>> r = few_pairs(d, emb, ks=[5], settings=["c"], reid_ks=[])
    >>> sorted(r.accuracy["c"])[:1] == [directed_pairs(d.models)[0].key]
    True
    """
    t0 = time.perf_counter()
    ks_ = _check_k(ks, "ks")
    rk = _check_k(reid_ks, "reid_ks") if len(reid_ks) else ()
    sts = _check_settings(settings)
    from facebridge.maps.semisupervised import INITS

    for init in (*k0_inits, k0_init):
        if init not in INITS or init == "seeds":
            raise unknown(init, INITS[1:], "unsupervised start")
    prs = list(pairs) if pairs is not None else directed_pairs(data.models)
    for p in prs:
        data.check_model(p.source), data.check_model(p.target)
    fit = _Fit(k0_init=k0_init, n_iter=n_iter, max_pool=max_pool)
    vec = {m: _as_vectors(vectors, m) for m in {x for p in prs for x in p} if m in vectors}
    total = len(prs) * len(sts) * (len(ks_) + len(rk))
    done = 0
    acc: dict[str, dict[str, list[float]]] = {s: {} for s in sts}
    reid: dict[str, dict[str, list[float]]] = {s: {} for s in sts}
    for p in prs:
        for s in sts:
            acc[s][p.key] = [_accuracy(data, vec, p, k, s, fit, seed) for k in ks_]
            done += len(ks_)
            if rk:
                reid[s][p.key] = [
                    reid_rank1(vec[p.source], vec[p.target], k, s, seed=seed, fitter=fit)
                    for k in rk
                ]
                done += len(rk)
            if progress is not None:
                progress("few pairs", done, total)
    k0: dict[str, dict[str, dict[str, float]]] = {}
    for init in k0_inits:
        f0 = _Fit(k0_init=init, n_iter=n_iter, max_pool=max_pool)
        k0[init] = {
            s: {p.key: _accuracy(data, vec, p, 0, s, f0, seed) for p in (k0_pairs or prs)}
            for s in sts
            if s != "c"
        }
        if progress is not None:
            progress("k = 0 starts", len(k0), len(k0_inits))
    return FewPairsResult(
        models=tuple(data.models),
        native={m: native_accuracy(data, m).mean for m in data.models},
        k=ks_,
        settings=sts,
        accuracy=acc,
        reid_k=rk,
        reid_rank1=reid if rk else {},
        k0_inits=k0,
        fit={
            "k0_init": k0_init,
            "n_iter": n_iter,
            "max_pool": max_pool,
            "seed_map": "ridge",
            "refit": "ridge",
            "csls_k": fit.csls_k,
            "keep_prob": fit.keep_prob,
            "seed": seed,
        },
        seconds=time.perf_counter() - t0,
    )
