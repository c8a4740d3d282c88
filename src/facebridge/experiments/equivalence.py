"""The linear-equivalence test the paper proposes for a new model (Section 5).

``equivalence(data, new)`` compares model ``new`` with every other model of ``data`` in both
directions:

* mapped accuracy and drop (vs the target's native accuracy) with one recipe -- by default the
  paper's (ridge alpha = 1, matched pairs, cosine), any :class:`~facebridge.experiments.compare.Recipe`
  allowed;
* the correspondences needed for a mapped accuracy within 1 point of the full-data map (as the
  paper's Section 3.4; sizes tried in ascending order);
* the rank needed: the smallest rank of the SVD-truncated map within 1 point of the full map
  (Section 4.2), from :func:`facebridge.experiments.rank_sweep` on its default rank grid (the
  one of ``reproduce``) with the recipe's correspondences and cosine score, and the recipe's map
  when it is pairwise (ridge alpha = 1 for ``shared``/``hub``/``fusion``);
* similarity indices from the literature on the same-image embeddings (every distinct protocol
  image both models embedded): linear CKA, SVCCA (99% variance), Procrustes shape distance.

Fits and thresholds are fold-safe as in :mod:`facebridge.experiments.compare` and
:mod:`facebridge.experiments.matrix` (the same engines); the similarity indices are descriptive
(no threshold, nothing evaluated on a test fold), so they use every image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from facebridge.errors import InvalidInputError
from facebridge.experiments.compare import (
    PAPER_RECIPE,
    CompareSettings,
    Recipe,
    _Engine,
    pairs_needed_sweep,
)
from facebridge.experiments.core import PairData, native_accuracy
from facebridge.experiments.matrix import rank_sweep
from facebridge.maps.moments import MAP_KINDS
from facebridge.metrics.similarity import linear_cka, procrustes_distance, svcca
from facebridge.vocabulary import blas_threads as blas_limit
from facebridge.vocabulary import map_key, within_one_point

__all__ = [
    "DirectionReport",
    "EquivalenceResult",
    "PairReport",
    "equivalence",
]


@dataclass(frozen=True)
class DirectionReport:
    """One directed map ``source -> target``.

    Attributes
    ----------
    source, target : str
    accuracy, std : float
        Mapped k-fold accuracy (fraction) and its population std over folds.
    drop : float
        ``native(target) - accuracy`` in percentage points.
    pairs_needed : int or None
        Fewest correspondences within 1 point of the full-data map (None: not reached or
        not swept).
    rank_needed : int or None
        Smallest rank within 1 point of the full-rank map (None: not reached or not swept).
    full_rank : int
        ``min(d_source, d_target)``.
    """

    source: str
    target: str
    accuracy: float
    std: float
    drop: float
    pairs_needed: int | None
    rank_needed: int | None
    full_rank: int
    pairs_curve: dict[str, list[float]] = field(default_factory=dict, repr=False)
    rank_curve: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def text(self) -> str:
        p = "n/a" if self.pairs_needed is None else str(self.pairs_needed)
        r = "n/a" if self.rank_needed is None else f"{self.rank_needed}/{self.full_rank}"
        return (
            f"{self.source}->{self.target} {100 * self.accuracy:.2f}% "
            f"(drop {self.drop:+.2f} pt, pairs {p}, rank {r})"
        )


@dataclass(frozen=True)
class PairReport:
    """``new`` against one other model: both directions and the similarity indices.

    Attributes
    ----------
    new, other : str
    native_new, native_other : float
        Native k-fold accuracies (fractions).
    forward : DirectionReport
        ``new -> other``.
    backward : DirectionReport
        ``other -> new``.
    cka, svcca, procrustes : float
        Linear CKA, SVCCA (mean canonical correlation, 99% variance kept) and Procrustes shape
        distance (in [0, sqrt 2]) on ``n_items`` same-image embeddings.
    n_items : int
    """

    new: str
    other: str
    native_new: float
    native_other: float
    forward: DirectionReport
    backward: DirectionReport
    cka: float
    svcca: float
    procrustes: float
    n_items: int

    def line(self) -> str:
        """One summary line."""
        return (
            f"{self.new} <-> {self.other}: {self.forward.text()} | {self.backward.text()} | "
            f"CKA {self.cka:.3f}, SVCCA {self.svcca:.3f}, Procrustes {self.procrustes:.3f} "
            f"({self.n_items} images)"
        )


@dataclass(frozen=True)
class EquivalenceResult:
    """The output of :func:`equivalence`.

    Attributes
    ----------
    model : str
        The new model.
    recipe : Recipe
    pairs : tuple of PairReport
        One per other model.
    native : dict of str to float
    n_pairs, n_folds, n_invalid : int
    protocol : str
    """

    model: str
    recipe: Recipe
    pairs: tuple[PairReport, ...]
    native: dict[str, float]
    n_pairs: int
    n_folds: int
    n_invalid: int
    protocol: str = "pairs"

    def lines(self) -> list[str]:
        return [p.line() for p in self.pairs]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready payload."""

        return {
            "model": self.model,
            "recipe": str(self.recipe),
            "protocol": self.protocol,
            "native": self.native,
            "n_pairs": self.n_pairs,
            "n_folds": self.n_folds,
            "n_invalid": self.n_invalid,
            "pairs": [{**asdict(p), "line": p.line()} for p in self.pairs],
        }


def _rank_needed(
    data: PairData,
    recipe: Recipe,
    dirs: Sequence[tuple[int, int]],
    full: dict[tuple[int, int], float],
    ranks: Sequence[int] | None,
    alpha: float,
) -> tuple[dict[tuple[int, int], int | None], dict[tuple[int, int], dict[str, list[float]]]]:
    """Smallest truncation rank within 1 point of ``full`` per direction, and the curves."""
    kind = recipe.map if recipe.map in MAP_KINDS else "ridge"
    sweep = rank_sweep(data, ranks, alpha, recipe.correspondence, map=kind)
    names = data.models
    needed: dict[tuple[int, int], int | None] = {}
    curves: dict[tuple[int, int], dict[str, list[float]]] = {}
    for d in dirs:
        res = sweep[map_key(names[d[0]], names[d[1]])]
        top = min(data.dim(names[d[0]]), data.dim(names[d[1]]))
        curve: dict[str, list[float]] = {"rank": [], "accuracy": []}
        needed[d] = top
        for r, a in zip(res.ranks, res.accuracy, strict=True):
            if r >= top:
                break
            curve["rank"].append(int(r))
            curve["accuracy"].append(float(a))
            if within_one_point(float(a), full[d]):
                needed[d] = int(r)
                break
        curves[d] = curve
    return needed, curves


def equivalence(
    data: PairData,
    model: str,
    *,
    recipe: Recipe | str = PAPER_RECIPE,
    others: Sequence[str] | None = None,
    sweep: bool = True,
    ranks: Sequence[int] | None = None,
    settings: CompareSettings | None = None,
    blas_threads: int | None = None,
    progress: Any = None,
) -> EquivalenceResult:
    """Test model ``model`` for linear equivalence against every other model of ``data``.

    Parameters
    ----------
    data : PairData
        Holding ``model`` and at least one other model.
    model : str
        The new model.
    recipe : Recipe or str
        Map, correspondence and score (default: the paper's).
    others : sequence of str, optional
        Compare against these only (default: every other model of ``data``).
    sweep : bool
        Run the pairs-needed and rank-needed sweeps.
    ranks : sequence of int, optional
        Ranks tried, ascending (default, per map, :func:`~facebridge.experiments.default_ranks`:
        the powers of two below the full rank).
    settings : CompareSettings, optional
        Fitting settings (alphas, regularisation, sweep sizes, seed).
    blas_threads : int, optional
        Limit BLAS threads (see :func:`facebridge.experiments.compare.compare_maps`).
    progress : callable(str), optional

    Returns
    -------
    EquivalenceResult

    Raises
    ------
    UnknownModelError
        ``model`` or one of ``others`` not in ``data``.
    InvalidInputError
        No other model, or bad ranks.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> res = equivalence(data, "a", sweep=False)
    >>> [(p.new, p.other) for p in res.pairs], 0.0 <= res.pairs[0].cka <= 1.0
    ([('a', 'b')], True)
    """
    with blas_limit(blas_threads):
        rec = Recipe.parse(recipe) if isinstance(recipe, str) else recipe
        new = data.check_model(model)
        rest = [data.check_model(m) for m in (others or [m for m in data.models if m != new])]
        rest = [m for m in dict.fromkeys(rest) if m != new]
        if not rest:
            raise InvalidInputError(
                f"no other model to compare {new!r} with; embed at least one more model into the store"
            )
        if ranks is not None:
            rk = [int(r) for r in ranks]
            if not rk or any(r < 1 for r in rk) or rk != sorted(set(rk)):
                raise InvalidInputError(
                    f"ranks must be increasing integers >= 1, got {list(ranks)}"
                )
        say = progress or (lambda _m: None)
        sub = data.select([new, *rest])
        st = settings or CompareSettings(sweep=sweep)
        eng = _Engine(sub, st)
        names = sub.models
        native = {m: native_accuracy(sub, m).mean for m in names}
        dirs = [(0, j) for j in range(1, len(names))] + [(j, 0) for j in range(1, len(names))]
        fit = (rec.correspondence, (rec.map,), (rec.score,), dirs, say, str(rec))
        per_fold = {d: pf for (_, _, d), pf in eng.per_fold(*fit)[0].items()}
        full = {d: float(per_fold[d].mean()) for d in dirs}
        pairs_needed: dict[str, int | None] = {}
        pair_curves: dict[str, dict[str, list[float]]] = {}
        rank_needed: dict[tuple[int, int], int | None] = {d: None for d in dirs}
        rank_curves: dict[tuple[int, int], dict[str, list[float]]] = {d: {} for d in dirs}
        if sweep:
            say("pairs-needed sweep")
            pairs_needed, pair_curves = pairs_needed_sweep(eng, rec, full)
            say("rank-needed sweep")
            rank_needed, rank_curves = _rank_needed(sub, rec, dirs, full, ranks, st.alpha)
        it = eng.it
        reports = []
        for j in range(1, len(names)):
            A = it.Z[0].astype(np.float64)
            B = it.Z[j].astype(np.float64)
            say(f"similarity indices {new} / {names[j]}")

            def direction(d: tuple[int, int]) -> DirectionReport:
                s, t = names[d[0]], names[d[1]]
                key = map_key(s, t)
                acc = (full[d], float(per_fold[d].std()), 100.0 * (native[t] - full[d]))
                needed = (pairs_needed.get(key), rank_needed.get(d), min(sub.dim(s), sub.dim(t)))
                curves = (pair_curves.get(key, {}), rank_curves.get(d, {}))
                return DirectionReport(s, t, *acc, *needed, *curves)

            sims = (linear_cka(A, B), svcca(A, B, keep=0.99), procrustes_distance(A, B), A.shape[0])
            both = (native[new], native[names[j]], direction((0, j)), direction((j, 0)))
            reports.append(PairReport(new, names[j], *both, *sims))
        counts = (sub.n_pairs, sub.n_folds, sub.n_missing, sub.name)
        return EquivalenceResult(new, rec, tuple(reports), native, *counts)
