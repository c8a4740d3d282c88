"""Which map, which correspondences, which score: every recipe on the same folds (docs/RECIPES.md).

A *recipe* is a (map, correspondence, score) triple:

* map -- every pairwise kind of :data:`facebridge.maps.moments.MAP_KINDS`, then ``shared``
  (regularised-CCA shared space, :func:`facebridge.maps.shared.fit_shared_space`), ``hub`` (one
  canonical space for all models, :func:`facebridge.maps.shared.fit_hub`) and ``fusion`` (the
  mean of the ``shared`` and the ``ridge-gcv`` scores);
* correspondence -- ``matched-pairs`` (the paper's Eq. 1) or ``same-image``, exactly as
  :func:`facebridge.experiments.core.training_correspondences`; the hub under ``matched-pairs``
  shows each model one of a genuine pair's two images, by a seeded coin per (pair, model);
* score -- ``cosine`` (the paper's Eq. 3: ``cos(M_ab a, b)``) or ``symmetric``: the mean of
  ``cos(M_ab a, b)`` and ``cos(a, M_ba b)`` on the same two templates.

A directed map's drop is the target's native accuracy minus the mapped accuracy, in points.

Fold safety: the training moments of test fold ``f`` are the total minus what only fold ``f``
contributes, equal to the moments of ``training_correspondences(data, s, t,
data.train_mask(f), mode)`` (tested); thresholds see only the other folds' scores.  One pass
builds the joint Gram matrices of all models (:class:`~facebridge.maps.moments.BlockMoments`)
and each map is applied once to every distinct image.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from facebridge.errors import InvalidInputError
from facebridge.experiments.core import (
    CORRESPONDENCES,
    SCORES,
    Correspondences,
    Items,
    PairData,
    correspondences,
    native_accuracy,
)
from facebridge.experiments.sweeps import subset_sweep
from facebridge.maps.cv import DEFAULT_ALPHAS
from facebridge.maps.linear import LinearMap
from facebridge.maps.moments import MAP_KINDS, BlockMoments, MomentFit, Moments, column_spans
from facebridge.maps.shared import (
    _inv_sqrt_shrunk,
    hub_from_covariances,
    shared_space_from_covariances,
)
from facebridge.metrics import FoldAccuracy, FoldScorer
from facebridge.vocabulary import PRECISIONS, STRONG_NATIVE, map_key, unknown
from facebridge.vocabulary import blas_threads as _blas_limit

__all__ = [
    "DEFAULT_MAPS",
    "MAPS",
    "PAPER_RECIPE",
    "CompareResult",
    "CompareSettings",
    "DirectedResult",
    "Recipe",
    "RecipeSummary",
    "compare_maps",
    "fold_maps",
    "summarize_drops",
]

#: The pairwise map kinds (:data:`facebridge.maps.moments.MAP_KINDS`), then the joint ones.
MAPS: tuple[str, ...] = (*MAP_KINDS, "shared", "hub", "fusion")
#: The maps of the default grid.
DEFAULT_MAPS: tuple[str, ...] = tuple(
    m for m in MAPS if m not in MAP_KINDS or MAP_KINDS[m].in_default_grid
)
_PAIRWISE = tuple(MAP_KINDS)
#: The three parts of a recipe and their choices.
_CHOICES = (("map", MAPS), ("correspondence", CORRESPONDENCES), ("score", SCORES))


@dataclass(frozen=True, order=True)
class Recipe:
    """A (map, correspondence, score) triple; ``str()`` gives ``"map / correspondence / score"``."""

    map: str
    correspondence: str
    score: str

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES:
            if getattr(self, name) not in allowed:
                raise unknown(getattr(self, name), allowed, name)

    def __str__(self) -> str:
        return f"{self.map} / {self.correspondence} / {self.score}"

    @classmethod
    def parse(cls, text: str) -> Recipe:
        """``"ridge-gcv/same-image/symmetric"`` (``/`` or ``,`` separated) -> Recipe."""
        parts = [p.strip() for p in text.replace(",", "/").split("/")]
        if len(parts) != 3:
            raise InvalidInputError(
                f"a recipe is 'map/correspondence/score', got {text!r}; "
                "e.g. 'ridge-gcv/same-image/symmetric'"
            )
        return cls(*parts)


#: The paper's recipe (Sections 3.3 and Eq. 3): ridge alpha = 1 on matched pairs, cosine score.
PAPER_RECIPE = Recipe("ridge", "matched-pairs", "cosine")


@dataclass(frozen=True)
class CompareSettings:
    """Settings of :func:`compare_maps` (all recorded in the results).

    Attributes
    ----------
    maps, correspondences, scores : tuple of str
        The grid (default: :data:`DEFAULT_MAPS`, every correspondence and score).
    alpha : float
        Ridge alpha of the ``ridge`` map (the paper: 1).
    alphas : tuple of float
        GCV candidates of ``ridge-gcv``.
    shared_reg, shared_weighting : float, str
        Regularisation and dimension weighting of ``shared`` (see maps.shared).
    hub_method, hub_reg, hub_dim : str, float, int or None
        The hub's fit.
    high_native : float
        Models whose native accuracy is at least this (a fraction) form the "high" subset.
    sweep : bool
        Measure the correspondences needed for a 1-point drop with the best recipe.
    sweep_points : tuple of int
        Numbers of correspondences tried, ascending (capped at what the folds hold).
    sweep_scope : {"high", "all"}
        Directed maps swept: between high-native models only, or all.
    seed : int
        For the sweep's subsets and the hub's matched-pairs sides.
    precision : {"float32", "float64"}
        Of the projections and pair cosines.  ``"float64"`` is about twice the scoring time and
        agrees with the torch engine (``device``) to rounding; ``"float32"`` loses digits on
        maps that cancel large terms (unregularised ``lstsq`` from a near-singular model such as
        dlib-resnet: accuracies up to 1.2 points off on LFW).
    """

    maps: tuple[str, ...] = DEFAULT_MAPS
    correspondences: tuple[str, ...] = CORRESPONDENCES
    scores: tuple[str, ...] = SCORES
    alpha: float = 1.0
    alphas: tuple[float, ...] = tuple(float(a) for a in DEFAULT_ALPHAS)
    shared_reg: float = 0.1
    shared_weighting: str = "corr"
    hub_method: str = "maxvar"
    hub_reg: float = 0.1
    hub_dim: int | None = None
    high_native: float = STRONG_NATIVE
    sweep: bool = True
    sweep_points: tuple[int, ...] = (25, 50, 100, 200, 400, 800, 1600, 3200)
    sweep_scope: str = "high"
    seed: int = 0
    precision: str = "float32"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise unknown(self.precision, PRECISIONS, "precision")
        for one, allowed in _CHOICES:
            name = f"{one}s"
            vals = tuple(getattr(self, name))
            bad = [v for v in vals if v not in allowed]
            if bad or not vals:
                raise InvalidInputError(
                    f"{name} must be a non-empty subset of {allowed}, got {list(vals)}"
                )
            object.__setattr__(self, name, vals)
        if not (np.isfinite(self.alpha) and self.alpha >= 0):
            raise InvalidInputError(f"alpha must be >= 0, got {self.alpha}; the paper uses 1")
        if self.sweep_scope not in ("high", "all"):
            raise InvalidInputError(
                f"sweep_scope must be 'high' or 'all', got {self.sweep_scope!r}"
            )
        if not 0.0 <= self.high_native <= 1.0:
            raise InvalidInputError(
                f"high_native is a fraction in [0, 1], got {self.high_native}; e.g. 0.985"
            )
        pts = tuple(int(p) for p in self.sweep_points)
        if not pts or any(p < 2 for p in pts) or list(pts) != sorted(set(pts)):
            raise InvalidInputError(
                f"sweep_points must be increasing integers >= 2, got {list(self.sweep_points)}"
            )
        object.__setattr__(self, "sweep_points", pts)
        object.__setattr__(self, "alphas", tuple(float(a) for a in self.alphas))

    def recipes(self) -> list[Recipe]:
        """Every recipe of the grid, map-major."""
        return [
            Recipe(m, c, s) for m in self.maps for c in self.correspondences for s in self.scores
        ]


@dataclass(frozen=True)
class DirectedResult:
    """One directed map under one recipe.

    Attributes
    ----------
    source, target : str
    accuracy, std : float
        Mean and population std over folds (fractions).
    per_fold : ndarray, shape (n_folds,)
    drop : float
        ``native(target) - accuracy`` in percentage points.
    """

    source: str
    target: str
    accuracy: float
    std: float
    per_fold: np.ndarray = field(repr=False)
    drop: float

    @property
    def key(self) -> str:
        return map_key(self.source, self.target)


@dataclass(frozen=True)
class RecipeSummary:
    """All directed maps of one recipe, with the worst and median drop.

    Attributes
    ----------
    recipe : Recipe
    results : tuple of DirectedResult
    worst_drop, median_drop : float
        Over all directed maps (points).
    worst_drop_high, median_drop_high : float or None
        Over maps between models with native accuracy >= ``high_native`` (None: < 2 such models).
    worst_map, worst_map_high : str or None
        The ``"A->B"`` of the worst drop.
    alphas : dict of str to list of float
        ``ridge-gcv`` only: the chosen alpha per fold of each directed map.
    """

    recipe: Recipe
    results: tuple[DirectedResult, ...]
    worst_drop: float
    median_drop: float
    worst_map: str
    worst_drop_high: float | None
    median_drop_high: float | None
    worst_map_high: str | None
    alphas: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def result(self, source: str, target: str) -> DirectedResult:
        for r in self.results:
            if r.source == source and r.target == target:
                return r
        raise InvalidInputError(f"no directed map {source}->{target} in this comparison")

    def to_dict(self) -> dict[str, Any]:
        keys = ("source", "target", "accuracy", "std", "drop")
        drops = ("worst_drop", "median_drop", "worst_map")
        return {
            "recipe": asdict(self.recipe),
            "name": str(self.recipe),
            **{k: getattr(self, k) for k in (f"{w}{h}" for h in ("", "_high") for w in drops)},
            "maps": [
                {**{k: getattr(r, k) for k in keys}, "per_fold": [float(x) for x in r.per_fold]}
                for r in self.results
            ],
            **({"alphas": self.alphas} if self.alphas else {}),
        }


@dataclass(frozen=True)
class CompareResult:
    """The output of :func:`compare_maps`.

    Attributes
    ----------
    models : tuple of str
    native : dict of str to FoldAccuracy
    high_models : tuple of str
        Models with native accuracy >= ``settings.high_native``.
    summaries : tuple of RecipeSummary
        One per recipe, in grid order.
    best : Recipe
        Smallest worst drop over the high subset (all maps when fewer than two high models),
        ties broken by the median drop.
    pairs_needed : dict of str to int or None
        Best recipe, per swept directed map ``"A->B"``: the fewest correspondences (of
        ``sweep_points``) whose mapped accuracy is within 1 point of the full-data mapped
        accuracy; None when no swept size reaches it.  Empty without a sweep.
    sweep : dict of str to dict
        ``"A->B" -> {"p": [...], "accuracy": [...]}`` for the swept sizes.
    n_pairs, n_folds, n_invalid : int
    seconds : float
        Wall-clock time of the run.
    settings : CompareSettings
    """

    models: tuple[str, ...]
    native: dict[str, FoldAccuracy]
    high_models: tuple[str, ...]
    summaries: tuple[RecipeSummary, ...]
    best: Recipe
    pairs_needed: dict[str, int | None]
    sweep: dict[str, dict[str, list[float]]]
    n_pairs: int
    n_folds: int
    n_invalid: int
    seconds: float
    settings: CompareSettings
    protocol: str = "pairs"

    def summary(self, recipe: Recipe | str) -> RecipeSummary:
        """The summary of ``recipe`` (a Recipe or ``"map/correspondence/score"``)."""
        r = Recipe.parse(recipe) if isinstance(recipe, str) else recipe
        for s in self.summaries:
            if s.recipe == r:
                return s
        raise InvalidInputError(f"recipe {r} was not run; include it in the settings' grid")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready payload."""
        s = asdict(self.settings)
        return {
            "protocol": self.protocol,
            "models": list(self.models),
            "native": {m: {"accuracy": a.mean, "std": a.std} for m, a in self.native.items()},
            "high_models": list(self.high_models),
            "high_native": self.settings.high_native,
            "best": str(self.best),
            "paper": str(PAPER_RECIPE),
            "recipes": [x.to_dict() for x in self.summaries],
            "pairs_needed": self.pairs_needed,
            "sweep": self.sweep,
            "n_pairs": self.n_pairs,
            "n_folds": self.n_folds,
            "n_invalid": self.n_invalid,
            "seconds": self.seconds,
            "settings": s,
        }


@dataclass
class _Items:
    """The distinct images of the valid pairs (:class:`~facebridge.experiments.core.Items`)
    through every model, in the scores' precision: the inputs of the scores."""

    items: Items
    Z: list[np.ndarray]  # per model: (n_items, d_m)
    Zn: list[np.ndarray]  # per model: unit-norm rows
    offs: np.ndarray  # (N + 1,) column offsets of each model, side by side


def _items(data: PairData, dtype: Any, pairs: np.ndarray | None = None) -> _Items:
    it = Items.of(data, np.flatnonzero(data.valid) if pairs is None else pairs)
    Z = [it.vectors(data, m, dtype) for m in data.models]
    offs = np.concatenate([[0], np.cumsum([b.shape[1] for b in Z])]).astype(np.int64)
    Zn = [b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-30) for b in Z]
    return _Items(it, Z, Zn, offs)


def _hub_sides(data: PairData, rows: np.ndarray, seed: int) -> np.ndarray:
    """Matched-pairs hub: which image (True = right) each model sees for each genuine pair."""
    rng = np.random.default_rng([seed, 7])
    coins = rng.random((data.n_pairs, len(data.models))) < 0.5
    return coins[rows]


#: Fitted maps of one kind: ``{(s, t): (projection of s, projection of t)}``, ``None`` being
#: the model's own space (a pairwise map ``s -> t`` is ``(M_st, None)``).
_Projections = dict[tuple[int, int], tuple[LinearMap | None, LinearMap | None]]


class _Engine:
    """Per-fold fits from moments and scores of every valid pair (or of the valid pairs
    ``pairs``; the others score 0), for one PairData."""

    def __init__(
        self, data: PairData, settings: CompareSettings, pairs: np.ndarray | None = None
    ) -> None:
        self.data = data
        self.st = settings
        self.models = data.models
        self.N = len(self.models)
        self.it = _items(data, np.dtype(settings.precision), pairs)
        self._moments: dict[tuple[str, bool], BlockMoments] = {}

    def rows(
        self, mode: str, hub: bool = False
    ) -> tuple[Correspondences, np.ndarray, np.ndarray | None]:
        """The correspondences of ``mode`` (:func:`~facebridge.experiments.core.correspondences`)
        and their rows through every model side by side: ``(corr, S, T)``, ``T`` None when the
        rows are their own targets (same-image; the matched-pairs hub, where each model sees
        one of a genuine pair's two images by a seeded coin)."""
        corr = correspondences(self.data, mode)
        S = np.concatenate([corr.source(m) for m in self.models], axis=1)
        if mode == "same-image":
            return corr, S, None
        T = np.concatenate([corr.target(m) for m in self.models], axis=1)
        if not hub:
            return corr, S, T
        sides = _hub_sides(self.data, corr.src_pair, self.st.seed)
        for j in range(self.N):
            S[sides[:, j], self._sl(j)] = T[sides[:, j], self._sl(j)]
        return corr, S, None

    def fold_moments(self, mode: str, fold: int | Sequence[int], hub: bool = False) -> Moments:
        """Moments of the training correspondences for test fold ``fold`` (a sequence of
        folds: of the rows outside all of them).

        The total over all correspondences minus those that only the excluded folds contribute
        (a same-image item that also appears in a training pair stays in, as in
        :func:`facebridge.experiments.core.training_correspondences`).

        Raises
        ------
        InvalidInputError
            No correspondence outside the excluded folds.
        """
        key = (mode, hub and mode == "matched-pairs")
        if key not in self._moments:
            corr, S, T = self.rows(mode, hub)
            self._moments[key] = BlockMoments(S, T, corr.bits, target_gram=True, lazy=True)
        excluded = np.atleast_1d(fold).tolist()
        m = self._moments[key].without(excluded)
        if m.n == 0:
            raise InvalidInputError(
                f"no training correspondence outside folds {[f + 1 for f in excluded]}; the "
                f"other folds have no valid pair to fit on"
            )
        return m

    def _sl(self, j: int) -> slice:
        return slice(int(self.it.offs[j]), int(self.it.offs[j + 1]))

    def fit_pairwise(
        self, mom: Moments, maps: Sequence[str], dirs: Sequence[tuple[int, int]]
    ) -> tuple[dict[str, dict[tuple[int, int], LinearMap]], dict[tuple[int, int], float]]:
        """The pairwise maps (:data:`~facebridge.maps.moments.MAP_KINDS`) of every direction,
        from moments; and the alpha ``ridge-gcv`` chose per direction."""
        out: dict[str, dict[tuple[int, int], LinearMap]] = {m: {} for m in maps}
        chosen: dict[tuple[int, int], float] = {}
        by_src: dict[int, list[int]] = {}
        for s, t in dirs:
            by_src.setdefault(s, []).append(t)
        yy = np.diagonal(mom.yy) if mom.yy is not None else None
        for s, targets in by_src.items():
            ss = self._sl(s)
            cols = np.concatenate([np.arange(self._sl(t).start, self._sl(t).stop) for t in targets])
            sub = Moments(mom.n, mom.sx[ss], mom.sy[cols], mom.xx[ss, ss], mom.xy[ss][:, cols])  # type: ignore[index]
            fit = MomentFit(sub, self.st.alphas, None if yy is None else yy[cols])
            spans = column_spans(self._sl(t).stop - self._sl(t).start for t in targets)
            for name in maps:
                W, b = MAP_KINDS[name].fit(fit, spans, self.st.alpha)
                for t, sl in zip(targets, spans, strict=True):
                    out[name][(s, t)] = LinearMap(W[:, sl], b[sl])
            for j, a in fit.chosen.items():
                chosen[(s, targets[j])] = a
        return out, chosen

    def fit_shared(
        self, mom: Moments, dirs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[LinearMap, LinearMap]]:
        """Per direction (s, t): projections (of s's source side, of t's target side)."""
        mS, mT, CSS, CST, CTT = mom.centred()
        n = mom.n
        reg = self.st.shared_reg
        same = CSS is CTT
        wS: dict[int, np.ndarray] = {}
        wT: dict[int, np.ndarray] = {}
        out: dict[tuple[int, int], tuple[LinearMap, LinearMap]] = {}
        for s, t in dirs:
            if same and (t, s) in out:
                pb, pa = out[(t, s)]
                out[(s, t)] = (pa, pb)
                continue
            ss, ts = self._sl(s), self._sl(t)
            if s not in wS:
                wS[s] = _inv_sqrt_shrunk(CSS[ss, ss] / n, reg)
            if t not in wT:
                wT[t] = wS[t] if same and t in wS else _inv_sqrt_shrunk(CTT[ts, ts] / n, reg)
            if same:
                wS.setdefault(t, wT[t])
            covs = (CSS[ss, ss] / n, CTT[ts, ts] / n, CST[ss, ts] / n)
            kw: dict[str, Any] = {
                "weighting": self.st.shared_weighting,
                "whiten_a": wS[s],
                "whiten_b": wT[t],
            }
            sp = shared_space_from_covariances(mS[ss], mT[ts], *covs, reg=reg, **kw)
            out[(s, t)] = (sp.proj_a, sp.proj_b)
        return out

    def fit_hub(self, mom: Moments) -> list[LinearMap]:
        mS, _, CSS, _, _ = mom.centred()
        n = mom.n
        cov = {
            (i, j): CSS[self._sl(i), self._sl(j)] / n
            for i in range(self.N)
            for j in range(i, self.N)
        }
        keys, means = tuple(str(i) for i in range(self.N)), [mS[self._sl(i)] for i in range(self.N)]
        kw: dict[str, Any] = {"dim": self.st.hub_dim, "reg": self.st.hub_reg}
        kw |= {"method": self.st.hub_method, "weighting": self.st.shared_weighting}
        hub = hub_from_covariances(keys, means, cov, **kw)
        return [hub.maps[k] for k in keys]

    def fit(
        self,
        mom: Moments,
        hub_mom: Moments | None,
        maps: Sequence[str],
        dirs: Sequence[tuple[int, int]],
    ) -> tuple[dict[str, _Projections], dict[tuple[int, int], float]]:
        """Every map of ``maps`` for every direction of ``dirs`` (the hub from ``hub_mom``), and
        the alpha ``ridge-gcv`` chose per direction."""
        out: dict[str, _Projections] = {}
        chosen: dict[tuple[int, int], float] = {}
        pw = [m for m in maps if m in _PAIRWISE]
        if pw:
            fitted, chosen = self.fit_pairwise(mom, pw, dirs)
            out |= {m: {d: (w, None) for d, w in fitted[m].items()} for m in pw}
        if "shared" in maps:
            out["shared"] = dict(self.fit_shared(mom, dirs))
        if "hub" in maps:
            assert hub_mom is not None
            hm = self.fit_hub(hub_mom)
            out["hub"] = {(s, t): (hm[s], hm[t]) for s, t in dirs}
        return out, chosen

    def _project(self, j: int, m: LinearMap | None) -> np.ndarray:
        """Unit-norm projection of every item of model ``j`` through ``m``."""
        if m is None:
            return self.it.Zn[j]
        Z = self.it.Z[j]
        P = Z @ m.weight.astype(Z.dtype)  # in place from here: no second fresh array
        P += m.bias.astype(Z.dtype)
        P /= np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-30)
        return P

    def _pair_cos(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """cos(A[left item], B[right item]) for every pair; 0 for invalid pairs."""
        L, R = self.it.items.left, self.it.items.right
        out = np.zeros(self.data.n_pairs)
        v = L >= 0
        out[v] = np.einsum("ij,ij->i", A[L[v]], B[R[v]], dtype=np.float64)
        return out

    def score(
        self, proj: _Projections, dirs: Sequence[tuple[int, int]], scores: Sequence[str]
    ) -> dict[tuple[str, tuple[int, int]], np.ndarray]:
        """The ``cosine`` and ``symmetric`` pair scores of the directions ``dirs`` (s embeds
        each pair's left image, t its right image).

        Each projection of a model's items is made once and dropped after its last cosine: the
        cosines are taken grouped by projection, so few are held at a time.
        """
        # each cosine: ("c", d) = cos(M_st s_left, t_right); ("c2", d) = cos(s_left, M_ts t_right)
        # (the t->s fit: its first projection is t's, its second s's)
        need: dict[tuple[str, tuple[int, int]], tuple[tuple[int, Any], tuple[int, Any]]] = {}
        for s, t in dirs:
            pa, pb = proj[(s, t)]
            need[("c", (s, t))] = ((s, pa), (t, pb))
            pt, ps = proj[(t, s)]
            if "symmetric" in scores and not (pt is pb and ps is pa):  # hub, same-image: one fit
                need[("c2", (s, t))] = ((s, ps), (t, pt))
        uses = Counter((m, id(p)) for sides in need.values() for m, p in sides)
        held: dict[tuple[int, int], np.ndarray] = {}
        cos: dict[tuple[str, tuple[int, int]], np.ndarray] = {}
        for key in sorted(need, key=lambda k: [(m, id(p)) for m, p in need[k] if p is not None]):
            vecs = []
            for m, p in need[key]:
                pk = (m, id(p))
                if pk not in held:
                    held[pk] = self._project(m, p)
                vecs.append(held[pk])
                uses[pk] -= 1
                if not uses[pk]:
                    del held[pk]
            cos[key] = self._pair_cos(*vecs)
        out: dict[tuple[str, tuple[int, int]], np.ndarray] = {}
        for d in dirs:
            c = cos[("c", d)]
            if "cosine" in scores:
                out[("cosine", d)] = c
            if "symmetric" in scores:
                c2 = cos.get(("c2", d))
                out[("symmetric", d)] = c if c2 is None else 0.5 * (c + c2)
        return out

    def fold_scores(
        self,
        mode: str,
        fold: int,
        maps: Sequence[str],
        scores: Sequence[str],
        dirs: Sequence[tuple[int, int]],
        mom: Moments | None = None,
        hub_mom: Moments | None = None,
    ) -> tuple[dict[tuple[str, str, tuple[int, int]], np.ndarray], dict[tuple[int, int], float]]:
        """Scores of every pair under every (map, score, direction) fitted without ``fold``
        (or on ``mom`` and ``hub_mom``)."""
        want = tuple(maps)
        if "fusion" in want:  # the mean of the shared-space and the ridge-GCV scores
            maps = tuple(
                dict.fromkeys([m for m in want if m != "fusion"] + ["shared", "ridge-gcv"])
            )
        mom = self.fold_moments(mode, fold) if mom is None else mom
        if "hub" in maps and hub_mom is None:
            hub_mom = self.fold_moments(mode, fold, hub=True)
        all_dirs = sorted(set(dirs) | {(t, s) for s, t in dirs})
        fitted, chosen = self.fit(mom, hub_mom, maps, all_dirs)
        out: dict[tuple[str, str, tuple[int, int]], np.ndarray] = {}
        for m, proj in fitted.items():
            for (sc, d), v in self.score(proj, dirs, scores).items():
                out[(m, sc, d)] = v
        if "fusion" in want:
            for sc in scores:
                for d in dirs:
                    out[("fusion", sc, d)] = 0.5 * (
                        out[("shared", sc, d)] + out[("ridge-gcv", sc, d)]
                    )
            out = {k: v for k, v in out.items() if k[0] in want}
        return out, chosen

    def per_fold(
        self,
        mode: str,
        maps: Sequence[str],
        scores: Sequence[str],
        dirs: Sequence[tuple[int, int]],
        say: Any,
        label: str = "",
    ) -> tuple[dict[tuple[str, str, tuple[int, int]], np.ndarray], dict[tuple[int, int], list]]:
        """Per-fold accuracies ``(K,)`` of every (map, score, direction), fold ``f`` scored by
        the fits without it (:meth:`fold_scores`); and the alphas ``ridge-gcv`` chose per fold.
        ``say`` is called with ``"label: fold f/K"`` (``label`` default: ``mode``)."""
        K = self.data.n_folds
        out: dict[tuple[str, str, tuple[int, int]], np.ndarray] = {}
        alphas: dict[tuple[int, int], list[float]] = {}
        for f in range(K):
            say(f"{label or mode}: fold {f + 1}/{K}")
            rows, chosen = self.fold_scores(mode, f, maps, scores, dirs)
            for d, a in chosen.items():
                alphas.setdefault(d, []).append(a)
            for key, a in self.fold_accuracy(rows, f).items():
                out.setdefault(key, np.empty(K))[f] = a
        return out, alphas

    def fold_accuracy(self, rows: dict[Any, np.ndarray], fold: int) -> dict[Any, float]:
        """Accuracy on ``fold`` of each score vector (threshold from the other folds)."""
        if not rows:
            return {}
        keys = list(rows)
        scorer = FoldScorer(self.data.genuine, self.data.folds, self.data.valid, fold)
        acc, _ = scorer(np.stack([rows[k] for k in keys]))
        return dict(zip(keys, acc.tolist(), strict=True))


def fold_maps(
    data: PairData,
    mode: str,
    fold: int | Sequence[int],
    settings: CompareSettings | None = None,
) -> dict[str, dict[tuple[str, str], Any]]:
    """The maps :func:`compare_maps` fits for test fold ``fold`` (for inspection and tests);
    with several folds, the maps fitted without any of them (the inner maps of
    :mod:`facebridge.experiments.crossfit`).

    Parameters
    ----------
    data : PairData
    mode : {"matched-pairs", "same-image"}
    fold : int or sequence of int
        The test fold (or folds): nothing of it is fitted on.
    settings : CompareSettings, optional
        Which maps, and their settings.

    Returns
    -------
    dict
        map name -> ``{(source, target): LinearMap}`` for the pairwise maps, ``{(source, target):
        (proj_source, proj_target)}`` for ``shared`` and ``{(model, model): LinearMap}`` for ``hub``.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> maps = fold_maps(data, "matched-pairs", 0, CompareSettings(maps=("ridge",), sweep=False))
    >>> maps["ridge"][("a", "b")].weight.shape
    (8, 6)
    """
    st = settings or CompareSettings(sweep=False)
    eng = _Engine(data, st)
    names = data.models
    dirs = [(s, t) for s in range(eng.N) for t in range(eng.N) if s != t]
    hub_mom = eng.fold_moments(mode, fold, hub=True) if "hub" in st.maps else None
    fitted, _ = eng.fit(eng.fold_moments(mode, fold), hub_mom, st.maps, dirs)
    return {
        m: {
            (names[s], names[s if m == "hub" else t]): v if m == "shared" else v[0]
            for (s, t), v in proj.items()
        }
        for m, proj in fitted.items()
    }


def summarize_drops(
    drops: dict[tuple[str, str], float],
    native: dict[str, float],
    high_native: float = STRONG_NATIVE,
) -> dict[str, Any]:
    """Worst / median drop (points) over all maps and over maps between high-native models.

    Parameters
    ----------
    drops : dict of (str, str) to float
        Drop of each directed map (points); the first of equal worst drops names the worst map.
    native : dict of str to float
        Native accuracy of each model (fraction).
    high_native : float
        Models with a native accuracy at least this form the "high" subset.

    Returns
    -------
    dict
        ``all`` and ``high``: ``worst``, ``median``, ``worst_map``, ``n`` (``worst`` and
        ``median`` NaN and ``worst_map`` None without maps); ``high_models``, ``high_native``.

    Examples
    --------
    >>> s = summarize_drops({("a", "b"): 0.5, ("b", "a"): 2.0}, {"a": 0.99, "b": 0.97})
    >>> s["all"]["worst_map"], s["high"]["n"]
    ('b->a', 0)
    """

    def stats(keys: list[tuple[str, str]]) -> dict[str, Any]:
        if not keys:
            return {"worst": float("nan"), "median": float("nan"), "worst_map": None, "n": 0}
        vals = np.array([drops[k] for k in keys])
        w = keys[int(np.argmax(vals))]
        return {
            "worst": float(vals.max()),
            "median": float(np.median(vals)),
            "worst_map": map_key(*w),
            "n": len(keys),
        }

    high = {m for m, a in native.items() if a >= high_native}
    return {
        "all": stats(list(drops)),
        "high": stats([k for k in drops if k[0] in high and k[1] in high]),
        "high_models": sorted(high),
        "high_native": high_native,
    }


def _summaries(
    data: PairData,
    recipes: list[Recipe],
    per_fold: dict[tuple[Recipe, tuple[int, int]], np.ndarray],
    native: dict[str, FoldAccuracy],
    high_native: float,
    dirs: list[tuple[int, int]],
    alphas: dict[tuple[str, tuple[int, int]], list[float]],
) -> list[RecipeSummary]:
    names = data.models
    nat = {m: a.mean for m, a in native.items()}
    out = []
    for r in recipes:
        res = []
        for s, t in dirs:
            pf = per_fold[(r, (s, t))]
            acc, drop = float(pf.mean()), 100.0 * (nat[names[t]] - float(pf.mean()))
            res.append(DirectedResult(names[s], names[t], acc, float(pf.std()), pf, drop))
        sm = summarize_drops({(x.source, x.target): x.drop for x in res}, nat, high_native)
        h = sm["high"] if sm["high"]["n"] else dict.fromkeys(sm["high"])  # None: no high maps
        a, high = sm["all"], (h["worst"], h["median"], h["worst_map"])
        al = {}
        if r.map == "ridge-gcv":
            al = {
                map_key(names[s], names[t]): alphas.get((r.correspondence, (s, t)), [])
                for s, t in dirs
            }
        out.append(RecipeSummary(r, tuple(res), a["worst"], a["median"], a["worst_map"], *high, al))
    return out


def _pick_best(summaries: list[RecipeSummary], use_high: bool) -> Recipe:
    def key(s: RecipeSummary) -> tuple[float, float, str]:
        if use_high and s.worst_drop_high is not None:
            return (s.worst_drop_high, s.median_drop_high or 0.0, str(s.recipe))
        return (s.worst_drop, s.median_drop, str(s.recipe))

    return min(summaries, key=key).recipe


def compare_maps(
    data: PairData,
    settings: CompareSettings | None = None,
    *,
    progress: Any = None,
    blas_threads: int | None = None,
    device: str | None = None,
) -> CompareResult:
    """Run every (map, correspondence, score) recipe on every directed map, on the same folds.

    Parameters
    ----------
    data : PairData
        At least two models (``facebridge.experiments.pair_data(store, protocol, models)``).
    settings : CompareSettings, optional
        The grid and the fits' settings (default: everything).
    progress : callable(str), optional
        Called with a short status line per stage.
    blas_threads : int, optional
        Limit BLAS/LAPACK threads while running (``threadpoolctl``); on a busy machine 1 is
        often several times faster than oversubscribed threads.  Default: leave as is.
    device : str, optional
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``: the fold moments, projections and pair scores in
        torch (float64) on that device (:func:`facebridge.experiments._torch.compare_engine`).

    Returns
    -------
    CompareResult

    Raises
    ------
    InvalidInputError
        Fewer than two models, or fewer than two folds.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> res = compare_maps(data, CompareSettings(maps=("ridge", "procrustes"), sweep=False))
    >>> [str(s.recipe) for s in res.summaries][:2]
    ['ridge / matched-pairs / cosine', 'ridge / matched-pairs / symmetric']
    """
    st = settings or CompareSettings()
    if len(data.models) < 2:
        raise InvalidInputError(
            f"compare-maps needs at least two models, got {list(data.models)}; embed another model"
        )
    if data.n_folds < 2:
        raise InvalidInputError(
            "compare-maps needs a protocol with at least 2 folds (maps are fitted on the others)"
        )
    if blas_threads is not None:
        with _blas_limit(blas_threads):
            return compare_maps(data, st, progress=progress, device=device)
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    if device is None:
        eng = _Engine(data, st)
    else:
        from facebridge.experiments._torch import compare_engine

        eng = compare_engine(data, st, device)
    names = data.models
    native = {m: native_accuracy(data, m) for m in names}
    high = tuple(m for m in names if native[m].mean >= st.high_native)
    dirs = [(s, t) for s in range(eng.N) for t in range(eng.N) if s != t]
    recipes = st.recipes()
    K = data.n_folds
    per_fold: dict[tuple[Recipe, tuple[int, int]], np.ndarray] = {}
    alphas: dict[tuple[str, tuple[int, int]], list[float]] = {}
    for mode in st.correspondences:
        acc, chosen = eng.per_fold(mode, st.maps, st.scores, dirs, say)
        alphas |= {(mode, d): a for d, a in chosen.items()}
        per_fold |= {(Recipe(m, mode, sc), d): pf for (m, sc, d), pf in acc.items()}
    summaries = _summaries(data, recipes, per_fold, native, st.high_native, dirs, alphas)
    best = _pick_best(summaries, use_high=len(high) >= 2)
    pairs_needed: dict[str, int | None] = {}
    sweep: dict[str, dict[str, list[float]]] = {}
    if st.sweep:
        say(f"sweep: correspondences needed with {best}")
        summ = next(s for s in summaries if s.recipe == best)
        scope = high if st.sweep_scope == "high" and len(high) >= 2 else names
        full = {
            (names.index(r.source), names.index(r.target)): r.accuracy
            for r in summ.results
            if r.source in scope and r.target in scope
        }
        pairs_needed, sweep = pairs_needed_sweep(eng, best, full)
    found = (names, native, high, tuple(summaries), best, pairs_needed, sweep)
    counts = (data.n_pairs, K, data.n_missing, time.perf_counter() - t0)
    return CompareResult(*found, *counts, settings=st, protocol=data.name)


def pairs_needed_sweep(
    eng: _Engine, recipe: Recipe, full: dict[tuple[int, int], float]
) -> tuple[dict[str, int | None], dict[str, dict[str, list[float]]]]:
    """The fewest correspondences with which each directed map is within 1 point of its
    full-data accuracy, for one recipe: :func:`facebridge.experiments.sweeps.subset_sweep` (one
    draw, seeded by ``settings.seed``) with the recipe's fits and score.

    The sizes are ``settings.sweep_points`` below the smallest training-fold count, then that
    count; they are tried in ascending order and a map leaves the sweep once it is within 1
    point (:func:`facebridge.vocabulary.within_one_point`).

    Parameters
    ----------
    eng : _Engine
        The fits and scores of one PairData and CompareSettings.
    recipe : Recipe
    full : dict of (int, int) to float
        Directed maps (model indices) and their full-data accuracy.

    Returns
    -------
    needed : dict of str to int or None
        ``"A->B"`` -> the fewest correspondences (None: no size reached it).
    curves : dict of str to dict
        ``"A->B"`` -> ``{"p": [...], "accuracy": [...]}`` over the sizes tried.
    """
    names, mode = eng.models, recipe.correspondence
    corr, S, T = eng.rows(mode, hub=recipe.map == "hub")
    m = min(int(corr.training(f).size) for f in range(eng.data.n_folds))
    points = [p for p in eng.st.sweep_points if p < m] + [m]

    def fold_accuracy(rows: np.ndarray, fold: int, keys: list[tuple[str, str]]) -> dict:
        mom = Moments.of(S[rows], None if T is None else T[rows], target_gram=True)
        dirs = [(names.index(a), names.index(b)) for a, b in keys]
        fit = (recipe.map,), (recipe.score,), dirs
        scores, _ = eng.fold_scores(mode, fold, *fit, mom=mom, hub_mom=mom)
        acc = eng.fold_accuracy(scores, fold)
        return {(names[s], names[t]): a for (_, _, (s, t)), a in acc.items()}

    full_acc = {(names[s], names[t]): a for (s, t), a in full.items()}
    res = subset_sweep(corr, fold_accuracy, full_acc, points, seed=eng.st.seed, stop_within=True)
    curves = {k: {"p": r.p.tolist(), "accuracy": r.accuracy.tolist()} for k, r in res.items()}
    return {k: r.p_within_1pt for k, r in res.items()}, curves
