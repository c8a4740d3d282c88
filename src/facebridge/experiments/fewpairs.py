"""Maps from few pairs: mapped LFW accuracy and re-identification rank-1 against ``k``.

For every directed pair ``A -> B`` and every number of seed pairs ``k``, a map is fitted per
test fold by :func:`facebridge.maps.semisupervised.fit_self_learning` from ``k`` seed pairs plus
two *unpaired* pools, in three settings of the pools:

* ``"b"`` -- other people only: the training folds' images (LFW View 2 folds are identity-
  disjoint), each identity's images alternating between the A pool and the B pool (no image is
  in both pools).
* ``"a"`` -- **transductive**: the pools of ``"b"`` plus other templates of the test fold's own
  people.  The A pool gains the A templates of the fold's images that are never a *left* item of
  a fold pair (the left items are the ones scored through A), the B pool the B templates of the
  fold's images that are never a *right* item.  No template that is scored is fitted on, but the
  map is fitted on other photos of the very people it is tested on: an attacker who holds photos
  of the whole enrolled population.
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
from collections.abc import Callable, Mapping, MutableMapping, Sequence
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
from facebridge.metrics.linkability import unlinkability
from facebridge.vocabulary import STRONG_NATIVE, DirectedPair, Progress, directed_pairs, unknown

__all__ = [
    "AUDIT_SETTINGS",
    "K_VALUES",
    "REID_K",
    "SETTINGS",
    "FewPairsResult",
    "ReidResult",
    "audit_few_pairs",
    "few_pairs",
    "fold_map",
    "reid_attack",
    "seed_rows",
    "semi_supervised_recipe",
    "unpaired_pools",
]

K_VALUES: tuple[int, ...] = (0, 1, 5, 10, 25, 50, 100, 400)
REID_K: tuple[int, ...] = (0, 10, 50)
SETTINGS: tuple[str, ...] = ("a", "b", "c")
SETTING_NAMES = {
    "a": "other people + the test's people, other templates (transductive)",
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
    if setting == "a":  # and the test fold's people: the templates fold ``fold`` never scores
        pa += sorted({data.right_ids[i] for i in np.flatnonzero(test)} - lefts)
        pb += sorted({data.left_ids[i] for i in np.flatnonzero(test)} - rights)
    return pa, pb


@dataclass(frozen=True)
class _Fit:
    """How a few-pairs map is fitted (the self-learning settings)."""

    k0_init: str = "sorted-sim"
    n_iter: int = 10
    max_pool: int = 4000
    csls_k: int = 10
    keep_prob: float = 0.5
    alpha: float = 1.0

    def signature(self, seed: int) -> str:
        """The settings and seed as text: what a cached cell was computed with."""
        return ",".join(f"{k}={v}" for k, v in sorted(vars(self).items())) + f",seed={seed}"

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


@dataclass(frozen=True)
class ReidResult:
    """The audit's two numbers for one few-pairs map.

    Attributes
    ----------
    rank1 : float
        Closed-set rank-1 of the mapped leaked templates in the target gallery (NaN: no map).
    d_sys : float
        Gomez-Barrero et al.'s global linkability ``D_sys`` of mapped probe vs gallery scores
        (mated: the probe's identity; non-mated: every other enrolled identity), NaN: no map.
    """

    rank1: float
    d_sys: float


def reid_attack(
    source_emb: Any,
    target_emb: Any,
    k: int,
    setting: str,
    *,
    seed: int = 0,
    fitter: Callable[..., LinearMap | None] | None = None,
    identity_fn: Callable[[str], str] = lfw_identity,
    max_nonmated: int = 200_000,
) -> ReidResult:
    """Re-identification rank-1 and linkability of leaked A templates through a few-pairs map.

    The identity split is :func:`~facebridge.experiments.privacy.split_identities` (``seed``);
    the ``k`` seed images are drawn from its correspondence items.  The map is fitted from them
    and the ``setting``'s pools; the mapped A probes are searched in the B gallery.

    Parameters
    ----------
    source_emb, target_emb : Embeddings or (ids, vectors)
    k : int
    setting : {"a", "b", "c"}
    seed : int
    fitter : callable, optional
        As :func:`fold_map`.
    identity_fn : callable
    max_nonmated : int
        Non-mated scores kept for ``D_sys`` (drawn, seeded, when there are more).

    Returns
    -------
    ReidResult
        NaN numbers when there is no map (``k = 0``, setting ``"c"``).

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol
    >>> emb = make_synthetic_embeddings(make_synthetic_protocol(), dims={"a": 16, "b": 12})
    >>> r = reid_attack(emb["a"], emb["b"], 60, "c")
    >>> 0.0 <= r.rank1 <= 1.0 and 0.0 <= r.d_sys <= 1.0
    True
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
        return ReidResult(float("nan"), float("nan"))
    probes = normalize_rows(m.apply(a.take(list(split.probe_items))))
    gallery = normalize_rows(b.take(list(split.gallery_items)))
    p_labels = np.array([identity_fn(x) for x in split.probe_items])
    g_labels = np.array([identity_fn(x) for x in split.gallery_items])
    res = search(probes, gallery, p_labels, g_labels, normalized=True)
    s = probes @ gallery.T
    mate = p_labels[:, None] == g_labels[None, :]
    non = s[~mate]
    if non.size > max_nonmated:
        non = non[np.random.default_rng([seed, 6, k]).choice(non.size, max_nonmated)]
    return ReidResult(float(res.rate(1)), unlinkability(s[mate], non).d_sys)


AUDIT_SETTINGS: tuple[str, ...] = ("a", "c")
AUDIT_SETTING_NAMES = {
    "a": "k pairs + the leaked templates and the gallery, unpaired (what the attacker holds)",
    "b": "k pairs + unpaired photos of other people",
    "c": "k pairs only (ridge)",
}


def audit_few_pairs(
    vectors: Mapping[str, Any],
    pairs: Sequence[tuple[str, str]],
    ks: Sequence[int] = REID_K,
    settings: Sequence[str] = AUDIT_SETTINGS,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The audit's "few pairs" numbers: rank-1 and ``D_sys`` against ``k``, per audited pair.

    With setting ``"a"`` the attacker holds ``k`` paired images plus the unpaired leaked
    templates and its own gallery (exactly what the audit's attacker holds); with ``"c"`` the
    ``k`` pairs only; ``"b"`` adds other people's unpaired photos (see :func:`reid_attack`).

    Parameters
    ----------
    vectors : mapping
        model -> store ``Embeddings`` or ``(ids, vectors)``.
    pairs : sequence of (source, target)
    ks : sequence of int
    settings : sequence of {"a", "b", "c"}
    seed : int
        The identity split's seed (the audit's).
    progress : Progress, optional

    Returns
    -------
    dict
        JSON-ready: ``{"k", "settings": {setting: text}, "pairs": {"A->B": {setting:
        {"rank1": [...], "d_sys": [...]}}}, "fit"}`` (None: no map).

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol
    >>> emb = make_synthetic_embeddings(make_synthetic_protocol(), dims={"a": 16, "b": 12})
    >>> out = audit_few_pairs(emb, [("a", "b")], ks=[0, 50])
    >>> out["pairs"]["a->b"]["c"]["rank1"][0] is None  # k = 0 without a pool: no map
    True
    """
    ks_ = _check_k(ks, "ks")
    sts = _check_settings(settings)
    fit = _Fit()
    out: dict[str, dict[str, dict[str, list[float | None]]]] = {}
    for n, (a, b) in enumerate(pairs):
        key = DirectedPair(a, b).key
        out[key] = {}
        for s in sts:
            rs = [reid_attack(vectors[a], vectors[b], k, s, seed=seed, fitter=fit) for k in ks_]
            out[key][s] = {
                "rank1": [None if np.isnan(r.rank1) else r.rank1 for r in rs],
                "d_sys": [None if np.isnan(r.d_sys) else r.d_sys for r in rs],
            }
        if progress is not None:
            progress("few pairs", n + 1, len(pairs))
    return {
        "k": list(ks_),
        "settings": {s: AUDIT_SETTING_NAMES[s] for s in sts},
        "pairs": out,
        "fit": {"signature": fit.signature(seed)},
    }


def semi_supervised_recipe(
    data: PairData,
    vectors: Mapping[str, Any],
    k: int = 50,
    *,
    setting: str = "b",
    pairs: Sequence[DirectedPair] | None = None,
    high_native: float = STRONG_NATIVE,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The semi-supervised recipe beside compare-maps' recipes: ``k`` matched pairs plus
    unpaired photos, self-learning, cosine score, every directed pair on the same folds.

    The drop of a directed pair is the target's native accuracy minus the mapped accuracy (in
    points), as in :mod:`facebridge.experiments.compare`; the default ``setting="b"`` (unpaired
    photos of the training folds' people only) is as fold-safe as the supervised recipes.

    Parameters
    ----------
    data : PairData
    vectors : mapping
        model -> store ``Embeddings`` or ``(ids, vectors)``.
    k : int
        Matched pairs (seed pairs) per fold.
    setting : {"a", "b", "c"}
    pairs : sequence of DirectedPair, optional
        Default: every directed pair of ``data.models``.
    high_native : float
        Models with at least this native accuracy form the "high" subset.
    seed : int
    progress : Progress, optional

    Returns
    -------
    dict
        JSON-ready: ``recipe`` (its name), ``k``, ``setting``, ``accuracy`` and ``drop`` per
        ``"A->B"``, ``worst_drop``, ``median_drop``, ``worst_drop_high``, ``median_drop_high``
        and the pairs with the worst drops, ``worst_map`` and ``worst_map_high`` (None where
        there is no pair).

    Examples
    --------
    >>> from facebridge.experiments.core import pair_data
    >>> from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol
    >>> proto = make_synthetic_protocol()
    >>> emb = make_synthetic_embeddings(proto, dims={"a": 16, "b": 12})
    >>> r = semi_supervised_recipe(pair_data(emb, proto), emb, k=20)
    >>> sorted(r["drop"]) == ["a->b", "b->a"]
    True
    """
    (k,) = _check_k([k], "k")
    (setting,) = _check_settings([setting])
    prs = list(pairs) if pairs is not None else directed_pairs(data.models)
    vec = {m: _as_vectors(vectors, m) for m in {x for p in prs for x in p}}
    native = {m: native_accuracy(data, m).mean for m in data.models}
    fit = _Fit()
    acc: dict[str, float] = {}
    for n, p in enumerate(prs):
        acc[p.key] = _accuracy(data, vec, p, k, setting, fit, seed)
        if progress is not None:
            progress("semi-supervised recipe", n + 1, len(prs))
    drop = {p.key: 100.0 * (native[p.target] - acc[p.key]) for p in prs}
    high = [p.key for p in prs if min(native[p.source], native[p.target]) >= high_native]

    def stat(keys: Sequence[str], fn: Callable[[list[float]], float]) -> float | None:
        xs = [drop[x] for x in keys if not np.isnan(drop[x])]
        return float(fn(xs)) if xs else None

    def worst(keys: Sequence[str]) -> str | None:
        xs = [x for x in keys if not np.isnan(drop[x])]
        return max(xs, key=lambda x: drop[x]) if xs else None

    return {
        "recipe": f"self-learning ({k} pairs + unpaired, {setting}) / matched-pairs / cosine",
        "k": k,
        "setting": setting,
        "setting_text": SETTING_NAMES[setting],
        "accuracy": {x: (None if np.isnan(v) else v) for x, v in acc.items()},
        "drop": {x: (None if np.isnan(v) else v) for x, v in drop.items()},
        "worst_drop": stat(list(drop), max),
        "median_drop": stat(list(drop), np.median),
        "worst_drop_high": stat(high, max),
        "median_drop_high": stat(high, np.median),
        "worst_map": worst(list(drop)),
        "worst_map_high": worst(high),
        "fit": {"signature": fit.signature(seed)},
    }


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
    reid_d_sys : dict
        setting -> ``"A->B"`` -> list of linkability ``D_sys``, one per ``reid_k``.
    k0_inits : dict
        unsupervised start -> setting -> ``"A->B"`` -> accuracy at ``k = 0``.
    settings_text : dict
        setting -> its description.
    fit : dict
        The self-learning settings.
    seconds : float
    n_missing : int
        Cells not computed (``cached_only``), NaN in the tables.
    """

    models: tuple[str, ...]
    native: dict[str, float]
    k: tuple[int, ...]
    settings: tuple[str, ...]
    accuracy: dict[str, dict[str, list[float]]]
    reid_k: tuple[int, ...]
    reid_rank1: dict[str, dict[str, list[float]]]
    reid_d_sys: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    k0_inits: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    n_missing: int = 0

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
                "reid_d_sys": self.reid_d_sys,
                "k0_inits": self.k0_inits,
                "fit": self.fit,
                "seconds": self.seconds,
                "cells_missing": self.n_missing,
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
    max_pool: int = 4000,
    progress: Progress | None = None,
    cache: MutableMapping[str, float] | None = None,
    cached_only: bool = False,
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
    cache : mutable mapping, optional
        Cell key -> value, read before and written after each computed cell (one accuracy or
        rank-1 for one setting, pair and ``k``); keys name the fit settings and the seed, so a
        cache filled by an earlier call with other ``ks`` or ``pairs`` is reused, never mixed
        with another fit.  The CLI keeps it in ``--out``/``fewpairs-cells.jsonl``, which makes a
        long run resumable and extendable.
    cached_only : bool
        Compute nothing: the cells missing from ``cache`` are NaN and counted in
        ``FewPairsResult.n_missing`` (a report of a run still under way).

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
    cells = {} if cache is None else cache
    total = len(prs) * len(sts) * (len(ks_) + len(rk))
    done = missing = 0

    def cell(key: str, f: _Fit, compute: Callable[[], float]) -> float:
        nonlocal done, missing
        key = f"{key}|{f.signature(seed)}"
        if key not in cells and cached_only:
            missing += 1
            return float("nan")
        if key not in cells:
            cells[key] = compute()
        done += 1
        if progress is not None and done <= total:
            progress("few pairs", done, total)
        return cells[key]

    acc: dict[str, dict[str, list[float]]] = {s: {} for s in sts}
    reid: dict[str, dict[str, list[float]]] = {s: {} for s in sts}
    link: dict[str, dict[str, list[float]]] = {s: {} for s in sts}
    for p in prs:
        for s in sts:
            acc[s][p.key] = [
                cell(
                    f"accuracy|{s}|{p.key}|{k}",
                    fit,
                    lambda k=k, s=s, p=p: _accuracy(data, vec, p, k, s, fit, seed),
                )
                for k in ks_
            ]
            for k in rk:
                key = f"{s}|{p.key}|{k}|{fit.signature(seed)}"
                if f"rank1|{key}" not in cells or f"dsys|{key}" not in cells:
                    if cached_only:
                        r = ReidResult(float("nan"), float("nan"))
                        missing += 1
                    else:
                        r = reid_attack(vec[p.source], vec[p.target], k, s, seed=seed, fitter=fit)
                        cells[f"rank1|{key}"], cells[f"dsys|{key}"] = r.rank1, r.d_sys
                else:
                    r = ReidResult(cells[f"rank1|{key}"], cells[f"dsys|{key}"])
                reid[s].setdefault(p.key, []).append(r.rank1)
                link[s].setdefault(p.key, []).append(r.d_sys)
                done += 1
                if progress is not None:
                    progress("few pairs", done, total)
    k0: dict[str, dict[str, dict[str, float]]] = {}
    for init in k0_inits:
        f0 = _Fit(k0_init=init, n_iter=n_iter, max_pool=max_pool)
        k0[init] = {
            s: {
                p.key: cell(
                    f"k0|{s}|{p.key}",
                    f0,
                    lambda s=s, p=p, f0=f0: _accuracy(data, vec, p, 0, s, f0, seed),
                )
                for p in (k0_pairs or prs)
            }
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
        reid_d_sys=link if rk else {},
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
        n_missing=missing,
    )
