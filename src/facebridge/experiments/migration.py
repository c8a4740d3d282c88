"""Gallery migration, measured: self-test, cross-test, negative flips and the partial backfill curve.

A gallery embedded by an *old* model is migrated into a *new* model's space by a linear map
fitted on a few images embedded by both (:func:`facebridge.maps.artifact.fit_recipe`); new-model
probes are then searched against it.  :func:`evaluate_migration` measures what that costs on
any set of images with identities, with identity-disjoint folds: the identities are split into
``n_folds`` folds; for test fold ``f`` the map is fitted on ``n_fit`` images drawn from the other
folds' identities only, and every test number uses fold ``f``'s images only.

Per fold it reports (see :mod:`facebridge.metrics.compat`):

* **self-test** old/old and new/new, and **cross-test** (new probes against the migrated old
  gallery): 1:1 TAR at FAR 1e-2 / 1e-3 / 1e-4 over all ordered pairs of test images, closed-set
  rank-1 / rank-5, open-set TPIR at FPIR 1e-2;
* the **negative-flip rate**: mated probes right at rank 1 old/old and wrong in cross-test;
* the **partial backfill curve**: rank-1 of the cross-test when ``x`` % of the gallery templates
  are re-embedded with the new model, in random order (mean of ``n_random`` orders) and in the
  order of a per-template risk score that needs no new-model embedding (:data:`RISK_SCORES`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from facebridge.errors import InvalidInputError
from facebridge.experiments.privacy import lfw_identity
from facebridge.maps.artifact import DEFAULT_RECIPE, fit_recipe
from facebridge.metrics.compat import (
    FARS,
    all_pairs_tar,
    gallery_split,
    identification_metrics,
    negative_flip_rate,
)
from facebridge.metrics.identification import normalize_rows, search
from facebridge.vocabulary import DirectedPair, Progress, unknown

__all__ = [
    "BACKFILL_X",
    "ORACLE",
    "RISK_SCORES",
    "FoldMetrics",
    "MigrationResult",
    "evaluate_migration",
    "evaluate_pairs",
    "identity_folds",
    "lfw_identity",
    "risk_scores",
    "summarize",
]

#: Percentages of the gallery re-embedded on the backfill curve.
BACKFILL_X: tuple[int, ...] = (0, 5, 10, 20, 30, 50, 75, 100)

#: Per-template risk scores (higher = re-embed first), none of which uses the new model:
#: ``leverage``: the map's predictive uncertainty ``x^T (X^T X + I)^-1 x`` of the centred old
#: template against the centred fitting sample; ``distance``: one minus the template's best cosine
#: to a fitting image (old space); ``margin``: the template's best cosine to another identity's
#: template in the migrated gallery (a crowded template is the first to be confused).
RISK_SCORES: tuple[str, ...] = ("leverage", "distance", "margin")

#: The backfill order that uses the new model (re-embed the templates the map reproduces worst,
#: lowest cosine between migrated and new template first): not available in a real migration,
#: reported as the bound on what any risk score can reach.
ORACLE = "oracle"


def identity_folds(labels: Sequence[str], n_folds: int, seed: int = 0) -> np.ndarray:
    """Fold of each image: identities are shuffled (seeded) and dealt to folds in turn.

    Every image of one identity is in the same fold, so folds are identity-disjoint.

    Examples
    --------
    >>> f = identity_folds(["a", "a", "b", "c"], 2)
    >>> bool(f[0] == f[1])
    True
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2:
        raise InvalidInputError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    names = sorted(set(labels))
    if len(names) < n_folds:
        raise InvalidInputError(
            f"{len(names)} identities cannot fill {n_folds} identity-disjoint folds; use fewer folds"
        )
    perm = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[j]: i % n_folds for i, j in enumerate(perm)}
    return np.array([fold_of[x] for x in labels], dtype=np.int64)


@dataclass(frozen=True)
class FoldMetrics:
    """The numbers of one test fold (fractions; TAR keys are the FARs as strings)."""

    fold: int
    n_fit: int
    n_test: int
    n_gallery: int
    n_mated: int
    n_nonmated: int
    tar: dict[str, dict[str, float]]  # system -> far -> TAR; systems old/old, new/new, cross
    rank1: dict[str, float]
    rank5: dict[str, float]
    tpir: dict[str, float]
    negative_flip_rate: float
    backfill: dict[str, list[float]] = field(default_factory=dict)  # order -> rank-1 per x


@dataclass(frozen=True)
class MigrationResult:
    """Everything :func:`evaluate_migration` measured for one directed pair and recipe."""

    source: str
    target: str
    recipe: str
    n_fit: int | None
    n_folds: int
    seed: int
    fars: tuple[float, ...]
    fpir: float
    backfill_x: tuple[int, ...]
    folds: tuple[FoldMetrics, ...]

    @property
    def pair(self) -> DirectedPair:
        return DirectedPair(self.source, self.target)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["summary"] = summarize(self)
        return d


def _mean_se(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    se = float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else float("nan")
    return {"mean": float(a.mean()), "se": se}


def summarize(result: MigrationResult) -> dict[str, Any]:
    """Fold means (and standard errors over folds) of every number, in points (percent).

    Returns
    -------
    dict
        ``tar[system][far]``, ``rank1[system]``, ``rank5``, ``tpir``: ``{"mean", "se"}``;
        ``drop``: new/new minus cross for ``tar@<far>``, ``rank1``, ``rank5``, ``tpir``;
        ``negative_flip_rate``; ``backfill[order]``: rank-1 per x; ``backfill_closed_at_10``:
        per order, the fraction of the gap between x = 0 and x = 100 closed at x = 10.
    """
    folds = result.folds
    systems = ("old/old", "new/new", "cross")
    out: dict[str, Any] = {"tar": {}, "rank1": {}, "rank5": {}, "tpir": {}}
    for s in systems:
        out["tar"][s] = {
            far: _mean_se([100 * f.tar[s][far] for f in folds]) for far in folds[0].tar[s]
        }
        for m in ("rank1", "rank5", "tpir"):
            out[m][s] = _mean_se([100 * getattr(f, m)[s] for f in folds])
    drop: dict[str, dict[str, float]] = {}
    for far in folds[0].tar["cross"]:
        drop[f"tar@{far}"] = _mean_se(
            [100 * (f.tar["new/new"][far] - f.tar["cross"][far]) for f in folds]
        )
    for m in ("rank1", "rank5", "tpir"):
        drop[m] = _mean_se(
            [100 * (getattr(f, m)["new/new"] - getattr(f, m)["cross"]) for f in folds]
        )
    out["drop"] = drop
    out["negative_flip_rate"] = _mean_se([100 * f.negative_flip_rate for f in folds])
    if folds[0].backfill:
        curves = {
            o: (100 * np.mean([f.backfill[o] for f in folds], axis=0)).tolist()
            for o in folds[0].backfill
        }
        out["backfill"] = curves
        x = list(result.backfill_x)
        if 0 in x and 100 in x and 10 in x:
            i0, i10, i100 = x.index(0), x.index(10), x.index(100)
            closed = {}
            for o, c in curves.items():
                gap = c[i100] - c[i0]
                closed[o] = float((c[i10] - c[i0]) / gap) if gap > 0 else float("nan")
            out["backfill_closed_at_10"] = closed
    return out


def risk_scores(
    old_gallery: np.ndarray,
    migrated_gallery: np.ndarray,
    old_fit: np.ndarray,
    which: str,
) -> np.ndarray:
    """Per-template risk of a migrated gallery (higher = re-embed first); see :data:`RISK_SCORES`.

    Parameters
    ----------
    old_gallery : ndarray (n, d_old)
        The old-model gallery templates.
    migrated_gallery : ndarray (n, d_new)
        The same templates through the map.
    old_fit : ndarray (m, d_old)
        The old-model embeddings the map was fitted on.
    which : str
        One of :data:`RISK_SCORES`.

    Returns
    -------
    ndarray float64 (n,)

    Examples
    --------
    >>> g = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> risk_scores(g, g, g, "margin").argmin()
    np.int64(2)
    """
    if which == "margin":
        m = normalize_rows(migrated_gallery).astype(np.float64)
        s = m @ m.T
        np.fill_diagonal(s, -np.inf)
        return s.max(axis=1)
    if which == "leverage":
        X = np.asarray(old_fit, dtype=np.float64)
        mu = X.mean(axis=0)
        Xc = X - mu
        A = Xc.T @ Xc + np.eye(X.shape[1])
        G = np.asarray(old_gallery, dtype=np.float64) - mu
        return np.einsum("ij,ij->i", G, np.linalg.solve(A, G.T).T)
    if which == "distance":
        s = normalize_rows(old_gallery) @ normalize_rows(old_fit).T
        return 1.0 - s.max(axis=1).astype(np.float64)
    raise unknown(which, RISK_SCORES, "risk score")


def _backfill_curve(
    probes_new: np.ndarray,
    probe_labels: np.ndarray,
    gal_mig: np.ndarray,
    gal_new: np.ndarray,
    gal_labels: np.ndarray,
    order: np.ndarray,
    xs: Sequence[int],
) -> list[float]:
    out = []
    n = gal_mig.shape[0]
    for x in xs:
        k = round(n * x / 100)
        g = gal_mig.copy()
        g[order[:k]] = gal_new[order[:k]]
        res = search(probes_new, g, probe_labels, gal_labels, normalized=True)
        out.append(res.rate(1))
    return out


def _self_test(
    cache: dict[tuple[str, int], Any],
    key: tuple[str, int],
    V: np.ndarray,
    labels: np.ndarray,
    split: Any,
    fars: Sequence[float],
    fpir: float,
) -> Any:
    if key not in cache:
        pl, gl = labels[split.probes], labels[split.gallery]
        cache[key] = (
            all_pairs_tar(V, V, labels, fars),
            identification_metrics(V[split.probes], V[split.gallery], pl, gl, fpir),
        )
    return cache[key]


def evaluate_migration(
    old_ids: Sequence[str],
    old_vectors: np.ndarray,
    new_vectors: np.ndarray,
    *,
    source: str = "old",
    target: str = "new",
    recipe: str = DEFAULT_RECIPE,
    n_fit: int | None = 1000,
    n_folds: int = 5,
    seed: int = 0,
    fars: Sequence[float] = FARS,
    fpir: float = 1e-2,
    backfill_x: Sequence[int] = BACKFILL_X,
    n_random: int = 5,
    risk: Sequence[str] = RISK_SCORES,
    oracle: bool = True,
    identity: Callable[[str], str] = lfw_identity,
    self_tests: Mapping[tuple[str, int], Any] | None = None,
    progress: Progress | None = None,
) -> MigrationResult:
    """Measure a gallery migration old -> new with identity-disjoint folds.

    Parameters
    ----------
    old_ids : sequence of str, length n
        Item ids; ``identity(id)`` gives the identity.
    old_vectors, new_vectors : ndarray (n, d_old), (n, d_new)
        The same n images embedded by the old and by the new model, row for row.
    source, target : str
        Model names (for the result).
    recipe : str
        A recipe of :data:`facebridge.maps.artifact.RECIPES`.
    n_fit : int or None
        Fitting images per fold, drawn (seeded, the same for every pair) from the images of the
        other folds' identities; ``None``: all of them.
    n_folds : int
        Identity-disjoint folds.
    seed : int
    fars, fpir : the 1:1 FARs and the open-set FPIR.
    backfill_x : sequence of int
        Percentages for the backfill curve; empty to skip it.
    n_random : int
        Random orders averaged for the random backfill curve.
    risk : sequence of str
        Risk scores to order the backfill by (see :data:`RISK_SCORES`).
    oracle : bool
        Add the :data:`ORACLE` order (uses the new model; the bound for any risk score).
    identity : callable
        item id -> identity.
    self_tests : mapping, optional
        A dict ``(model, fold) -> metrics`` filled and reused across calls (self-tests of one
        model do not depend on the map), or ``None``.
    progress : Progress, optional
        Called as ``progress("migration", fold + 1, n_folds)``.

    Returns
    -------
    MigrationResult

    Raises
    ------
    InvalidInputError
        Too few images for ``n_fit``, mismatched rows, or an unknown recipe / risk score.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ids = [f"p{i // 4}/{i}" for i in range(200)]
    >>> centres = rng.normal(size=(50, 8))
    >>> old = centres[np.arange(200) // 4] + 0.1 * rng.normal(size=(200, 8))
    >>> r = evaluate_migration(ids, old, old @ rng.normal(size=(8, 8)), n_fit=100,
    ...                        backfill_x=(), n_folds=2)
    >>> summarize(r)["rank1"]["cross"]["mean"] > 90
    True
    """
    ids = list(old_ids)
    X = np.asarray(old_vectors, dtype=np.float32)
    Y = np.asarray(new_vectors, dtype=np.float32)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != len(ids) or Y.shape[0] != len(ids):
        raise InvalidInputError(
            f"old and new vectors must have one row per id ({len(ids)}), got {X.shape} and "
            f"{Y.shape}; take both models' vectors of the same ids"
        )
    labels = np.array([identity(i) for i in ids])
    folds = identity_folds(labels.tolist(), n_folds, seed)
    Xn, Yn = normalize_rows(X), normalize_rows(Y)
    cache: dict[tuple[str, int], Any] = self_tests if self_tests is not None else {}  # type: ignore[assignment]
    out: list[FoldMetrics] = []
    for f in range(n_folds):
        test = np.flatnonzero(folds == f)
        pool = np.flatnonzero(folds != f)
        if n_fit is None:
            fit_idx = pool
        else:
            if n_fit > pool.size:
                raise InvalidInputError(
                    f"n_fit={n_fit} but only {pool.size} images lie outside test fold {f}; "
                    "use fewer fitting images or more folds"
                )
            rng = np.random.default_rng([seed, f])
            fit_idx = np.sort(rng.choice(pool, size=n_fit, replace=False))
        if set(labels[fit_idx].tolist()) & set(labels[test].tolist()):
            raise AssertionError("a fitting image shares an identity with the test fold")
        lmap = fit_recipe(X[fit_idx], Y[fit_idx], recipe)
        M = normalize_rows(lmap.apply(X[test]).astype(np.float32))
        lab_t = labels[test]
        split = gallery_split(lab_t)
        pl, gl = lab_t[split.probes], lab_t[split.gallery]

        tar_old, id_old = _self_test(cache, (source, f), Xn[test], lab_t, split, fars, fpir)
        tar_new, id_new = _self_test(cache, (target, f), Yn[test], lab_t, split, fars, fpir)
        Yt = Yn[test]
        tar_cross = all_pairs_tar(Yt, M, lab_t, fars)
        id_cross = identification_metrics(Yt[split.probes], M[split.gallery], pl, gl, fpir)
        nfr = negative_flip_rate(id_old.result, id_cross.result)
        curves: dict[str, list[float]] = {}
        if backfill_x:
            mated = split.mated
            pm, plm = Yt[mated], lab_t[mated]
            gm, gn = M[split.gallery], Yt[split.gallery]
            ng = gm.shape[0]
            rs = np.random.default_rng([seed, f, 1])
            rand = [
                _backfill_curve(pm, plm, gm, gn, gl, rs.permutation(ng), backfill_x)
                for _ in range(n_random)
            ]
            curves["random"] = np.mean(rand, axis=0).tolist()
            old_g = X[test][split.gallery]
            for name in risk:
                score = risk_scores(old_g, gm, X[fit_idx], name)
                order = np.argsort(-score, kind="stable")
                curves[name] = _backfill_curve(pm, plm, gm, gn, gl, order, backfill_x)
            if oracle:
                order = np.argsort(np.einsum("ij,ij->i", gm, gn), kind="stable")
                curves[ORACLE] = _backfill_curve(pm, plm, gm, gn, gl, order, backfill_x)
        systems = {
            "old/old": (tar_old, id_old),
            "new/new": (tar_new, id_new),
            "cross": (tar_cross, id_cross),
        }
        out.append(
            FoldMetrics(
                fold=f,
                n_fit=int(fit_idx.size),
                n_test=int(test.size),
                n_gallery=int(split.gallery.size),
                n_mated=int(split.mated.size),
                n_nonmated=int(split.nonmated.size),
                tar={s: {str(k): v for k, v in t.items()} for s, (t, _) in systems.items()},
                rank1={s: m.rank1 for s, (_, m) in systems.items()},
                rank5={s: m.rank5 for s, (_, m) in systems.items()},
                tpir={s: m.tpir for s, (_, m) in systems.items()},
                negative_flip_rate=nfr,
                backfill=curves,
            )
        )
        if progress is not None:
            progress("migration", f + 1, n_folds)
    return MigrationResult(
        source=source,
        target=target,
        recipe=recipe,
        n_fit=n_fit,
        n_folds=n_folds,
        seed=seed,
        fars=tuple(float(x) for x in fars),
        fpir=float(fpir),
        backfill_x=tuple(int(x) for x in backfill_x),
        folds=tuple(out),
    )


def evaluate_pairs(
    embeddings: Mapping[str, tuple[Sequence[str], np.ndarray]],
    pairs: Sequence[DirectedPair],
    *,
    n_fits: Sequence[int | None] = (400, 1000),
    recipes: Sequence[str] = ("ridge", DEFAULT_RECIPE),
    progress: Progress | None = None,
    **kwargs: Any,
) -> list[MigrationResult]:
    """:func:`evaluate_migration` over directed pairs, fitting sizes and recipes.

    Parameters
    ----------
    embeddings : mapping
        model -> ``(ids, vectors)``; every model must hold the same ids in the same order.
    pairs : sequence of DirectedPair
    n_fits, recipes : sequences
        Every combination is evaluated; self-tests are computed once per model and fold.
    progress : Progress, optional
        Called as ``progress("migration", done, total)`` per evaluation.
    **kwargs
        Passed to :func:`evaluate_migration` (``n_folds``, ``seed``, ``backfill_x``, ...).

    Returns
    -------
    list of MigrationResult
        Pair major, then fitting size, then recipe.

    Raises
    ------
    InvalidInputError
        Models whose ids differ.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ids = [f"p{i // 4}/{i}" for i in range(120)]
    >>> v = rng.normal(size=(120, 6))
    >>> res = evaluate_pairs({"a": (ids, v), "b": (ids, v @ rng.normal(size=(6, 6)))},
    ...                      [DirectedPair("a", "b")], n_fits=(60,), recipes=("lstsq",),
    ...                      n_folds=2, backfill_x=())
    >>> [(r.source, r.target, r.n_fit) for r in res]
    [('a', 'b', 60)]
    """
    cache: dict[tuple[str, int], Any] = {}
    jobs = [(p, n, r) for p in pairs for n in n_fits for r in recipes]
    out = []
    for k, (pair, n_fit, recipe) in enumerate(jobs):
        ids_a, va = embeddings[pair.source]
        ids_b, vb = embeddings[pair.target]
        if list(ids_a) != list(ids_b):
            raise InvalidInputError(
                f"{pair.source!r} and {pair.target!r} hold different ids; evaluate on the ids "
                "both models embedded"
            )
        out.append(
            evaluate_migration(
                ids_a,
                va,
                vb,
                source=pair.source,
                target=pair.target,
                recipe=recipe,
                n_fit=n_fit,
                self_tests=cache,
                **kwargs,
            )
        )
        if progress is not None:
            progress("migration", k + 1, len(jobs))
    return out
