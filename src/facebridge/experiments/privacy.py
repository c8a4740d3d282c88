"""Privacy audit: re-identify and link leaked templates of an "unknown" model through a linear map.

Threat model (paper Sections 1 and 5; docs/PRIVACY.md).  Templates of a **source** system A have
leaked, without names.  The attacker runs a **target** system B, holds a labelled B gallery (one
enrolled image per identity) and ``p`` *corresponding* images pushed through both A and B.  From
those pairs they fit a map A -> B, map every leaked A template into B's space and search it
against the B gallery.

The items embedded by both models are split **by identity** (seeded, :func:`split_identities`)
into disjoint gallery (enrolled image + mated probes), unenrolled (non-mated probes) and
correspondence identities, so no face the map is fitted on is ever searched or enrolled.

Rates reported: closed-set rank-1 and rank-5 identification of the mapped probes (a curve over
``p`` with ``n_draws`` draws per point), the unmapped attack (A templates as they are when the
dimensions agree, else through a random projection: chance level), B's native identification
(the ceiling), chance ``k / N``, and the open-set detection-and-identification rate at a fixed
FPIR.  Everything is matrix products on float32 (no nearest-neighbour library).
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import Any

import numpy as np

from facebridge.contracts import to_jsonable
from facebridge.errors import InvalidInputError, StoreError, UnknownModelError
from facebridge.maps.moments import MAP_KINDS
from facebridge.metrics.identification import (
    IdentificationResult,
    dir_at_fpir,
    normalize_rows,
    rank_scores,
    search,
)
from facebridge.metrics.linkability import LinkabilityResult, unlinkability
from facebridge.store import Embeddings
from facebridge.vocabulary import blas_threads as _blas_limit
from facebridge.vocabulary import directed_pairs, unknown

__all__ = [
    "DEFAULT_P_VALUES",
    "MAP_NAMES",
    "AttackResult",
    "AuditResult",
    "IdentitySplit",
    "LinkageResult",
    "audit",
    "audit_all",
    "lfw_identity",
    "linkability",
    "reidentification_attack",
    "split_identities",
]

DEFAULT_P_VALUES: tuple[int, ...] = (10, 20, 50, 100, 200, 400, 1000, 2000)
#: The map kinds an audit can fit (:data:`facebridge.maps.moments.MAP_KINDS`).
MAP_NAMES = tuple(MAP_KINDS)
_MAX_NONMATED = 200_000

MapSpec = str | Callable[[np.ndarray, np.ndarray], Any]


def lfw_identity(item_id: str) -> str:
    """Identity of an item id: the folder that holds the image (``Name/Name_0001.jpg`` -> ``Name``).

    LFW's layout and any identity-per-folder tree (``team/person/x.jpg`` -> ``team/person``)
    give one identity per folder; an id without a folder is its own identity.

    Parameters
    ----------
    item_id : str

    Returns
    -------
    str

    Examples
    --------
    >>> lfw_identity("Ann_Smith/Ann_Smith_0001.jpg")
    'Ann_Smith'
    >>> lfw_identity("team/Ann_Smith/photo-1.png")
    'team/Ann_Smith'
    """
    head, sep, _ = item_id.rpartition("/")
    return head if sep else item_id


def _aligned(a: Embeddings, b: Embeddings) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Items embedded by both models (sorted ids) and the two aligned matrices."""
    for e in (a, b):
        if e.vectors.size and not np.all(np.isfinite(e.vectors)):
            raise InvalidInputError(
                f"{e.model}: embeddings contain NaN or inf; re-extract or drop them"
            )
    ia = {x: i for i, x in enumerate(a.ids)}
    ib = {x: i for i, x in enumerate(b.ids)}
    common = sorted(set(ia) & set(ib))
    if not common:
        raise InvalidInputError(
            f"models {a.model!r} and {b.model!r} share no embedded item; embed the same images with both"
        )
    xa = a.vectors[[ia[x] for x in common]]
    xb = b.vectors[[ib[x] for x in common]]
    return common, xa, xb


def _fitter(map: MapSpec, alpha: float) -> tuple[str, Callable[[np.ndarray, np.ndarray], Any]]:
    if callable(map):
        return getattr(map, "__name__", "custom"), map
    if map not in MAP_KINDS:
        raise unknown(map, MAP_KINDS, "map")
    kind = MAP_KINDS[map]
    return map, lambda x, y: kind.fit_rows(x, y, alpha)


def _weights(m: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """A fitted map's float32 ``(weight, bias)``, or ``None`` when it has none."""
    w, b = getattr(m, "weight", None), getattr(m, "bias", None)
    if w is None or b is None:
        return None
    return np.asarray(w, dtype=np.float32), np.asarray(b, dtype=np.float32)


def _apply(m: Any, x: np.ndarray) -> np.ndarray:
    """Apply a fitted map in float32 (a LinearMap's weight/bias, else its ``apply``)."""
    wb = _weights(m)
    if wb is not None:
        return x @ wb[0] + wb[1]
    fn = getattr(m, "apply", None) or getattr(m, "predict", None)
    if fn is None:
        raise InvalidInputError(
            "a map fitter must return an object with weight/bias, apply() or predict()"
        )
    return np.asarray(fn(x), dtype=np.float32)


@dataclass(frozen=True)
class IdentitySplit:
    """Identity-disjoint split of the items embedded by both models.

    Attributes
    ----------
    correspondence_items : tuple[str, ...]
        Images the attacker may use as paired correspondences (``p`` are drawn from them).
    gallery_items : tuple[str, ...]
        One enrolled B image per gallery identity.
    probe_items : tuple[str, ...]
        The other images of the gallery identities (leaked A templates; mated probes).
    unenrolled_items : tuple[str, ...]
        Images of identities not enrolled (non-mated probes for the open-set rates).
    correspondence_identities, gallery_identities, unenrolled_identities : frozenset[str]
        The identities of each set (gallery identities are also the probes' identities).
    seed : int
    """

    correspondence_items: tuple[str, ...]
    gallery_items: tuple[str, ...]
    probe_items: tuple[str, ...]
    unenrolled_items: tuple[str, ...]
    correspondence_identities: frozenset[str]
    gallery_identities: frozenset[str]
    unenrolled_identities: frozenset[str]
    seed: int = 0

    def is_disjoint(self) -> bool:
        """True when no identity and no image is shared between the sets (probes vs gallery
        share identities by design, never images)."""
        ids = (self.correspondence_identities, self.gallery_identities, self.unenrolled_identities)
        if any(ids[i] & ids[j] for i in range(3) for j in range(i + 1, 3)):
            return False
        items = [set(getattr(self, f.name)) for f in fields(self) if f.name.endswith("_items")]
        return sum(len(s) for s in items) == len(set().union(*items))

    def to_dict(self) -> dict:
        sizes = {
            f"n_{f.name}": len(getattr(self, f.name)) for f in fields(self) if f.name != "seed"
        }
        return {"seed": self.seed, **sizes, "disjoint": self.is_disjoint()}


def split_identities(
    item_ids: Iterable[str],
    *,
    seed: int = 0,
    gallery_fraction: float = 0.5,
    unenrolled_fraction: float = 0.25,
    identity_fn: Callable[[str], str] = lfw_identity,
) -> IdentitySplit:
    """Split items into disjoint correspondence / gallery+probe / unenrolled identity sets.

    Procedure (seeded; independent of the input order):

    1. identities with ``>= 2`` images are shuffled; the first ``round(gallery_fraction * n)``
       become gallery identities: one random image each is enrolled, the rest are probes;
    2. every other identity (the remaining multi-image ones and the single-image ones) is
       shuffled; identities are moved to the unenrolled set until it holds
       ``min(n_probes, unenrolled_fraction * n_remaining_images)`` images;
    3. the rest are correspondence identities.

    Parameters
    ----------
    item_ids : iterable of str
        Items embedded by both models.
    seed : int
    gallery_fraction : float
        Share of the multi-image identities that are enrolled, in ``(0, 1)``.
    unenrolled_fraction : float
        Upper bound on the share of the remaining images used as non-mated probes, ``[0, 1)``.
    identity_fn : callable
        Item id -> identity (default: the folder that holds the image, as in LFW).

    Returns
    -------
    IdentitySplit

    Raises
    ------
    InvalidInputError
        Fractions out of range, fewer than 2 gallery identities, or no correspondence image.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol
    >>> proto = make_synthetic_protocol(n_folds=4, n_genuine=30, n_impostor=30)
    >>> emb = make_synthetic_embeddings(proto, dims={"a": 16, "b": 12})
    >>> sp = split_identities(emb["a"][0])
    >>> sp.is_disjoint(), len(sp.gallery_items) > 0
    (True, True)
    """
    if not 0.0 < gallery_fraction < 1.0:
        raise InvalidInputError(f"gallery_fraction must be in (0, 1), got {gallery_fraction}")
    if not 0.0 <= unenrolled_fraction < 1.0:
        raise InvalidInputError(f"unenrolled_fraction must be in [0, 1), got {unenrolled_fraction}")
    groups: dict[str, list[str]] = {}
    for item in sorted(set(item_ids)):
        groups.setdefault(identity_fn(item), []).append(item)
    rng = np.random.default_rng([seed, 0])
    multi = sorted(k for k, v in groups.items() if len(v) >= 2)
    n_gal = round(gallery_fraction * len(multi))
    if n_gal < 2:
        raise InvalidInputError(
            f"only {len(multi)} identities have >= 2 images, {n_gal} would be enrolled; the audit "
            "needs at least 2 gallery identities: embed more images or raise gallery_fraction"
        )
    order = rng.permutation(len(multi))
    gallery_ids = [multi[i] for i in order[:n_gal]]
    gallery_items: list[str] = []
    probe_items: list[str] = []
    for who in sorted(gallery_ids):
        imgs = groups[who]
        k = int(rng.integers(len(imgs)))
        gallery_items.append(imgs[k])
        probe_items.extend(x for j, x in enumerate(imgs) if j != k)
    gal_set = set(gallery_ids)
    rest = sorted(k for k in groups if k not in gal_set)
    rest = [rest[i] for i in rng.permutation(len(rest))]
    n_rest = sum(len(groups[k]) for k in rest)
    target = min(len(probe_items), int(unenrolled_fraction * n_rest))
    unenrolled: list[str] = []
    count = 0
    for who in rest:
        if count >= target:
            break
        unenrolled.append(who)
        count += len(groups[who])
    un_set = set(unenrolled)
    corr = [k for k in rest if k not in un_set]
    corr_items = [x for k in sorted(corr) for x in groups[k]]
    if len(corr_items) < 2:
        raise InvalidInputError(
            f"only {len(corr_items)} images are left for correspondences; embed more images or "
            "lower gallery_fraction / unenrolled_fraction"
        )
    return IdentitySplit(
        correspondence_items=tuple(corr_items),
        gallery_items=tuple(gallery_items),
        probe_items=tuple(probe_items),
        unenrolled_items=tuple(x for k in sorted(unenrolled) for x in groups[k]),
        correspondence_identities=frozenset(corr),
        gallery_identities=frozenset(gallery_ids),
        unenrolled_identities=frozenset(unenrolled),
        seed=seed,
    )


def _rowwise(fn: Callable[..., np.ndarray], x: np.ndarray) -> np.ndarray:
    """``fn(x, axis=1)`` for a NaN-aware reduction; all-NaN rows give NaN without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(fn(x, axis=1), dtype=np.float64)


def _stat(x: np.ndarray) -> dict[str, list[float]]:
    fns: dict[str, Callable[..., Any]] = {
        "mean": np.nanmean,
        "std": np.nanstd,
        "min": np.nanmin,
        "max": np.nanmax,
    }
    return {k: _rowwise(fn, x).tolist() if x.size else [] for k, fn in fns.items()}


@dataclass(frozen=True)
class AttackResult:
    """Re-identification of leaked source templates through a map fitted on ``p`` pairs.

    Attributes
    ----------
    source, target : str
        Models A (leaked) and B (attacker's).
    map : str
        Map family (``"ridge"``...).
    alpha : float
    seed, n_draws : int
    p : np.ndarray
        int ``(n_p,)`` numbers of correspondence pairs evaluated (values above the number of
        correspondence images are left out and listed in ``p_skipped``).
    rank1, rank5, dir : np.ndarray
        float ``(n_p, n_draws)``: closed-set rank-1 / rank-5 rate and open-set rank-1 DIR at
        ``fpir`` of the mapped probes, one column per draw (``dir`` is NaN without unenrolled
        probes; :func:`audit` computes it at its headline ``pairs`` only, NaN elsewhere).
    unmapped_rank1, unmapped_rank5, unmapped_dir : float
        The same without a learned map; ``unmapped_kind`` says how (``"identity"`` when the
        dimensions agree, ``"random-projection"`` otherwise).
    native_rank1, native_rank5, native_dir : float
        B's own templates of the probe images against the B gallery (the ceiling).
    chance_rank1, chance_rank5 : float
        ``1 / N`` and ``min(5, N) / N`` for ``N`` enrolled identities.
    n_gallery, n_probes, n_unenrolled : int
    fpir : float
    split : IdentitySplit
    p_skipped : tuple[int, ...]
    """

    source: str
    target: str
    map: str
    alpha: float
    seed: int
    n_draws: int
    p: np.ndarray
    rank1: np.ndarray
    rank5: np.ndarray
    dir: np.ndarray
    unmapped_rank1: float
    unmapped_rank5: float
    unmapped_dir: float
    unmapped_kind: str
    native_rank1: float
    native_rank5: float
    native_dir: float
    chance_rank1: float
    chance_rank5: float
    n_gallery: int
    n_probes: int
    n_unenrolled: int
    fpir: float
    split: IdentitySplit
    p_skipped: tuple[int, ...] = ()

    def at(self, p: int, what: str = "rank1") -> float:
        """Mean of ``rank1`` / ``rank5`` / ``dir`` over draws at ``p`` pairs."""
        if what not in ("rank1", "rank5", "dir"):
            raise InvalidInputError(f"what must be rank1, rank5 or dir, got {what!r}")
        hits = np.flatnonzero(self.p == p)
        if hits.size == 0:
            raise InvalidInputError(f"p = {p} was not evaluated; choose one of {self.p.tolist()}")
        return float(_rowwise(np.nanmean, getattr(self, what)[hits[:1]])[0])

    def to_dict(self) -> dict:
        """JSON-ready form (NaN written as ``None``)."""
        head = ("source", "target", "map", "alpha", "seed", "n_draws")
        d: dict[str, Any] = {k: getattr(self, k) for k in head}
        d |= {"p": self.p.tolist(), "p_skipped": list(self.p_skipped)}
        for k in ("rank1", "rank5", "dir"):
            d[k] = {**_stat(getattr(self, k)), "draws": getattr(self, k).tolist()}
        d["dir"] |= {"fpir": self.fpir, "rank": 1}
        for base, ks in (
            ("unmapped", ("rank1", "rank5", "dir")),
            ("native", ("rank1", "rank5", "dir")),
            ("chance", ("rank1", "rank5")),
        ):
            d[base] = {k: getattr(self, f"{base}_{k}") for k in ks}
        d["unmapped"] = {"kind": self.unmapped_kind, **d["unmapped"]}
        d |= {k: getattr(self, k) for k in ("n_gallery", "n_probes", "n_unenrolled")}
        return to_jsonable({**d, "split": self.split.to_dict()})


@dataclass
class _Prepared:
    source: str
    target: str
    split: IdentitySplit
    a_corr: np.ndarray
    b_corr: np.ndarray
    a_probe: np.ndarray  # probes then unenrolled
    b_probe: np.ndarray
    probe_labels: np.ndarray
    gallery: np.ndarray  # unit rows, B space
    gallery_labels: np.ndarray
    n_probes: int
    n_unenrolled: int


def _prepare(
    source_emb: Any,
    target_emb: Any,
    seed: int,
    split: IdentitySplit | None,
    identity_fn: Callable[[str], str],
    gallery_fraction: float,
    unenrolled_fraction: float,
) -> _Prepared:
    """The aligned, split matrices of one directed pair."""
    a, b = Embeddings.of(source_emb, "source"), Embeddings.of(target_emb, "target")
    common, xa, xb = _aligned(a, b)
    if split is None:
        split = split_identities(
            common,
            seed=seed,
            identity_fn=identity_fn,
            gallery_fraction=gallery_fraction,
            unenrolled_fraction=unenrolled_fraction,
        )
    pos = {x: i for i, x in enumerate(common)}
    every = (*split.correspondence_items, *split.gallery_items, *split.probe_items)
    missing = [x for x in (*every, *split.unenrolled_items) if x not in pos]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} split items (e.g. {missing[0]!r}) are not embedded by both models; "
            "build the split from the items both models embedded"
        )

    def rows(items: Sequence[str]) -> np.ndarray:
        return np.array([pos[x] for x in items], dtype=np.int64)

    corr = rows(split.correspondence_items)
    probe = rows((*split.probe_items, *split.unenrolled_items))
    gal = rows(split.gallery_items)
    labels = np.array([identity_fn(common[i]) for i in probe])
    return _Prepared(
        source=a.model,
        target=b.model,
        split=split,
        a_corr=xa[corr],
        b_corr=xb[corr],
        a_probe=xa[probe],
        b_probe=xb[probe],
        probe_labels=labels,
        gallery=normalize_rows(xb[gal]),
        gallery_labels=np.array([identity_fn(common[i]) for i in gal]),
        n_probes=len(split.probe_items),
        n_unenrolled=len(split.unenrolled_items),
    )


def _search(prep: _Prepared, probes_b: np.ndarray) -> IdentificationResult:
    return search(
        normalize_rows(probes_b),
        prep.gallery,
        prep.probe_labels[: probes_b.shape[0]],
        prep.gallery_labels,
        normalized=True,
    )


def _search_mapped(prep: _Prepared, m: Any, open_set: bool = True) -> IdentificationResult:
    """Search ``normalise(P W + b)``; with ``d_a < d_b`` the map is folded into the gallery."""
    wb = _weights(m)
    p = prep.a_probe if open_set else prep.a_probe[: prep.n_probes]
    if wb is None or p.shape[1] >= prep.gallery.shape[1]:
        return _search(prep, _apply(m, p))
    w32, b32 = wb
    h = w32 @ prep.gallery.T  # (d_a, N)
    raw = p @ h + b32 @ prep.gallery.T  # (n, N): (P W + b) G^T
    sq = np.einsum("ij,ij->i", p @ (w32 @ w32.T), p) + 2.0 * (p @ (w32 @ b32)) + float(b32 @ b32)
    norms = np.sqrt(np.maximum(sq, 0.0))
    norms[norms == 0] = 1.0
    return rank_scores(raw / norms[:, None], prep.probe_labels[: p.shape[0]], prep.gallery_labels)


def _rates(res: IdentificationResult, fpir: float, n_unenrolled: int) -> tuple[float, float, float]:
    d = dir_at_fpir(res, fpir, 1).dir if n_unenrolled > 0 and res.n_nonmated else float("nan")
    return res.rate(1), res.rate(5), d


def _unmapped(prep: _Prepared, seed: int) -> tuple[np.ndarray, str]:
    d_a, d_b = prep.a_probe.shape[1], prep.gallery.shape[1]
    if d_a == d_b:
        return prep.a_probe, "identity"
    rng = np.random.default_rng([seed, 3])
    proj = (rng.standard_normal((d_a, d_b)) / math.sqrt(d_b)).astype(np.float32)
    return prep.a_probe @ proj, "random-projection"


def _check_common(n_draws: int, fpir: float, pairs: Sequence[int]) -> tuple[int, ...]:
    if isinstance(n_draws, bool) or not isinstance(n_draws, int | np.integer) or n_draws < 1:
        raise InvalidInputError(f"n_draws must be a positive integer, got {n_draws!r}")
    if not 0.0 < fpir < 1.0:
        raise InvalidInputError(f"fpir must be in (0, 1), e.g. 0.01; got {fpir}")
    out = []
    for p in pairs:
        if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 2:
            raise InvalidInputError(
                f"numbers of correspondence pairs must be integers >= 2, got {p!r}"
            )
        out.append(int(p))
    if not out:
        raise InvalidInputError("p_values is empty; give at least one number of pairs, e.g. 400")
    return tuple(sorted(set(out)))


def reidentification_attack(
    source_emb: Any,
    target_emb: Any,
    p_values: Sequence[int] = DEFAULT_P_VALUES,
    n_draws: int = 5,
    map: MapSpec = "ridge",
    alpha: float = 1.0,
    seed: int = 0,
    *,
    fpir: float = 0.01,
    split: IdentitySplit | None = None,
    identity_fn: Callable[[str], str] = lfw_identity,
    gallery_fraction: float = 0.5,
    unenrolled_fraction: float = 0.25,
) -> AttackResult:
    """Re-identify leaked source templates in the target's gallery through a fitted map.

    For every ``p`` in ``p_values`` and each of ``n_draws`` draws, ``p`` correspondence images
    are drawn without replacement (seeded), a map A -> B is fitted on their two embeddings, the
    A templates of the probes are mapped and searched against the B gallery (cosine scores).

    Parameters
    ----------
    source_emb, target_emb : Embeddings or (ids, vectors)
        Embeddings of models A (leaked, "unknown") and B (attacker's) for the same item ids;
        items that only one model embedded are ignored.
    p_values : sequence of int
        Numbers of correspondence pairs (values above the number of correspondence images are
        skipped and recorded in ``p_skipped``).
    n_draws : int
        Random draws of the correspondence images per ``p``.
    map : {"ridge", "lstsq", "procrustes"} or callable
        Map family (``facebridge.maps``), or ``fit(X, Y) -> LinearMap``.
    alpha : float
        Ridge regularisation.
    seed : int
        Seeds the identity split, the draws and the random projection.
    fpir : float
        False-positive identification rate of the open-set DIR (default 1%).
    split : IdentitySplit, optional
        A precomputed split (default: :func:`split_identities` with ``seed``).
    identity_fn : callable
        Item id -> identity (default: LFW folder name).
    gallery_fraction, unenrolled_fraction : float
        See :func:`split_identities`.

    Returns
    -------
    AttackResult

    Raises
    ------
    InvalidInputError
        Bad options, no shared items, too few identities, or every ``p`` too large.
    DimensionError
        Malformed embedding arrays.

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol
    >>> proto = make_synthetic_protocol(n_folds=4, n_genuine=30, n_impostor=30)
    >>> emb = make_synthetic_embeddings(proto, dims={"a": 16, "b": 12})
    >>> r = reidentification_attack(emb["a"], emb["b"], p_values=(20, 40), n_draws=1)
    >>> r.p.tolist(), r.rank1.shape
    ([20, 40], (2, 1))
    """
    ps = _check_common(n_draws, fpir, p_values)
    map_name, fit = _fitter(map, alpha)
    prep = _prepare(
        source_emb, target_emb, seed, split, identity_fn, gallery_fraction, unenrolled_fraction
    )
    return _attack(prep, ps, n_draws, fit, map_name, alpha, seed, fpir)


def _attack(
    prep: _Prepared,
    ps: tuple[int, ...],
    n_draws: int,
    fit: Callable[[np.ndarray, np.ndarray], Any],
    map_name: str,
    alpha: float,
    seed: int,
    fpir: float,
    dir_at: Sequence[int] | None = None,
) -> AttackResult:
    n_corr = prep.a_corr.shape[0]
    used = tuple(p for p in ps if p <= n_corr)
    skipped = tuple(p for p in ps if p > n_corr)
    if not used:
        raise InvalidInputError(
            f"every p in {list(ps)} exceeds the {n_corr} correspondence images; use p <= {n_corr}"
        )
    rng = np.random.default_rng([seed, 1])
    r1 = np.full((len(used), n_draws), np.nan)
    r5 = np.full_like(r1, np.nan)
    dr = np.full_like(r1, np.nan)
    for i, p in enumerate(used):
        for j in range(n_draws):
            idx = rng.choice(n_corr, size=p, replace=False)
            m = fit(prep.a_corr[idx], prep.b_corr[idx])
            res = _search_mapped(prep, m, open_set=dir_at is None or p in dir_at)
            r1[i, j], r5[i, j], dr[i, j] = _rates(res, fpir, prep.n_unenrolled)
    raw, kind = _unmapped(prep, seed)
    u1, u5, ud = _rates(_search(prep, raw), fpir, prep.n_unenrolled)
    n1, n5, nd = _rates(_search(prep, prep.b_probe), fpir, prep.n_unenrolled)
    n_gal = int(np.unique(prep.gallery_labels).shape[0])
    head = (prep.source, prep.target, map_name, float(alpha), int(seed), int(n_draws))
    curves = (np.array(used, dtype=np.int64), r1, r5, dr)
    rates = (u1, u5, ud, kind, n1, n5, nd, 1.0 / n_gal, min(5, n_gal) / n_gal)
    sizes = (n_gal, prep.n_probes, prep.n_unenrolled, float(fpir), prep.split, skipped)
    values = (*head, *curves, *rates, *sizes)
    return AttackResult(*values)


@dataclass(frozen=True)
class LinkageResult:
    """Linkability of mapped source templates to target templates.

    Attributes
    ----------
    source, target, map : str
    pairs : int
        Correspondence pairs the map is fitted on.
    mapped : LinkabilityResult
        Mated / non-mated scores of A templates mapped to B against B's enrolled templates.
    unmapped : LinkabilityResult
        The same without a learned map (identity or random projection; the baseline).
    native : LinkabilityResult
        B's own templates of the same images against B's enrolled templates (the ceiling).
    mated_scores, nonmated_scores : np.ndarray
        float ``(n_m,)`` and ``(n_nm,)``: the mapped comparison scores used (non-mated pairs
        drawn uniformly, with replacement, when there are more than ``max_nonmated``).
    """

    source: str
    target: str
    map: str
    pairs: int
    mapped: LinkabilityResult
    unmapped: LinkabilityResult
    native: LinkabilityResult
    mated_scores: np.ndarray
    nonmated_scores: np.ndarray

    @property
    def d_sys(self) -> float:
        return self.mapped.d_sys

    @property
    def maximal_linkability(self) -> float:
        return self.mapped.maximal_linkability

    def to_dict(self, curves: bool = True) -> dict:
        def one(r: LinkabilityResult) -> dict:
            d = r.to_dict()
            if not curves:
                for k in ("grid", "local", "mated_density", "nonmated_density"):
                    d.pop(k)
            return d

        head = ("source", "target", "map", "pairs", "d_sys", "maximal_linkability")
        d = {k: getattr(self, k) for k in head}
        return d | {k: one(getattr(self, k)) for k in ("mapped", "unmapped", "native")}


def _mated_nonmated(
    prep: _Prepared, probes_b: np.ndarray, rng: np.random.Generator, max_nonmated: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mated and non-mated (all, or ``max_nonmated`` drawn with replacement) probe scores."""
    n = prep.n_probes
    p = normalize_rows(probes_b[:n])
    g = prep.gallery
    n_gal = g.shape[0]
    col = {k: i for i, k in enumerate(prep.gallery_labels.tolist())}
    mate = np.array([col[x] for x in prep.probe_labels[:n].tolist()], dtype=np.int64)
    s = p @ g.T  # (n_probes, n_gallery), one matrix product
    mated = s[np.arange(n), mate].astype(np.float64)
    if n * (n_gal - 1) <= max_nonmated:
        mask = np.ones(s.shape, dtype=bool)
        mask[np.arange(n), mate] = False
        return mated, s[mask].astype(np.float64)
    rows = rng.integers(0, n, size=max_nonmated)
    cols = rng.integers(0, n_gal - 1, size=max_nonmated)
    cols += cols >= mate[rows]  # skip the mate's column
    return mated, s[rows, cols].astype(np.float64)


def linkability(
    source_emb: Any,
    target_emb: Any,
    map: MapSpec = "ridge",
    pairs: int = 400,
    alpha: float = 1.0,
    seed: int = 0,
    *,
    omega: float = 1.0,
    method: str = "hist",
    n_bins: int | None = None,
    max_nonmated: int = _MAX_NONMATED,
    split: IdentitySplit | None = None,
    identity_fn: Callable[[str], str] = lfw_identity,
    gallery_fraction: float = 0.5,
    unenrolled_fraction: float = 0.25,
) -> LinkageResult:
    """Unlinkability metrics of mapped source templates against the target's enrolled templates.

    A map A -> B is fitted on ``pairs`` correspondence images (seeded draw; the same identity
    split as :func:`reidentification_attack`).  *Mated* comparisons: each probe's A template,
    mapped to B, against the B template enrolled for the same identity (a different image);
    *non-mated*: against the B templates enrolled for every other identity (subsampled to
    ``max_nonmated``).  From them: Gomez-Barrero et al.'s local ``D<->(s)`` and global ``D_sys``
    and Otroshi Shahreza et al.'s maximal linkability (:mod:`facebridge.metrics.linkability`).

    Parameters
    ----------
    source_emb, target_emb, map, alpha, seed, split, identity_fn, gallery_fraction, unenrolled_fraction
        As in :func:`reidentification_attack`.
    pairs : int
        Correspondence pairs the map is fitted on (capped at the number available).
    omega : float
        Prior ratio ``p(H_m) / p(H_nm)`` (default 1).
    method, n_bins
        Density estimate (``"hist"`` or ``"kde"``) and bins.
    max_nonmated : int
        Upper bound on the number of non-mated scores kept.

    Returns
    -------
    LinkageResult

    Examples
    --------
    >>> from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol
    >>> proto = make_synthetic_protocol(n_folds=4, n_genuine=30, n_impostor=30)
    >>> emb = make_synthetic_embeddings(proto, dims={"a": 16, "b": 12})
    >>> lk = linkability(emb["a"], emb["b"], pairs=40)
    >>> 0.0 <= lk.d_sys <= 1.0
    True
    """
    _check_common(1, 0.5, [pairs])
    if max_nonmated < 1:
        raise InvalidInputError(f"max_nonmated must be >= 1, got {max_nonmated}")
    map_name, fit = _fitter(map, alpha)
    prep = _prepare(
        source_emb, target_emb, seed, split, identity_fn, gallery_fraction, unenrolled_fraction
    )
    if prep.n_probes == 0:
        raise InvalidInputError("no probe image: linkability needs identities with >= 2 images")
    return _linkage(prep, fit, map_name, pairs, seed, omega, method, n_bins, max_nonmated)


def _linkage(
    prep: _Prepared,
    fit: Callable[[np.ndarray, np.ndarray], Any],
    map_name: str,
    pairs: int,
    seed: int,
    omega: float,
    method: str,
    n_bins: int | None,
    max_nonmated: int,
) -> LinkageResult:
    n_corr = prep.a_corr.shape[0]
    p = min(int(pairs), n_corr)
    rng = np.random.default_rng([seed, 2])
    idx = rng.choice(n_corr, size=p, replace=False)
    m = fit(prep.a_corr[idx], prep.b_corr[idx])
    kw: dict[str, Any] = {"omega": omega, "method": method, "n_bins": n_bins}
    mated, non = _mated_nonmated(prep, _apply(m, prep.a_probe), rng, max_nonmated)
    raw, _ = _unmapped(prep, seed)
    um, un = _mated_nonmated(prep, raw, rng, max_nonmated)
    nm, nn = _mated_nonmated(prep, prep.b_probe, rng, max_nonmated)
    mapped, unmapped, native = (
        unlinkability(x, y, **kw) for x, y in ((mated, non), (um, un), (nm, nn))
    )
    return LinkageResult(
        prep.source, prep.target, map_name, p, mapped, unmapped, native, mated, non
    )


@dataclass(frozen=True)
class AuditResult:
    """Attack and linkability of one directed pair of models, with a one-line summary.

    Attributes
    ----------
    source, target : str
    pairs : int
        The headline number of correspondence pairs.
    attack : AttackResult
    linkage : LinkageResult
    """

    source: str
    target: str
    pairs: int
    attack: AttackResult
    linkage: LinkageResult

    @property
    def rank1_at_pairs(self) -> float:
        """Mean rank-1 rate of the attack at ``pairs`` correspondence pairs."""
        return self.attack.at(self.pairs, "rank1")

    @property
    def summary(self) -> str:
        """Plain-language summary line."""
        a = self.attack
        return (
            f"{self.source} -> {self.target}: with {self.pairs} paired images, "
            f"{self.rank1_at_pairs:.0%} of leaked {self.source} templates are re-identified at "
            f"rank 1 among {a.n_gallery} enrolled identities (native {self.target}: "
            f"{a.native_rank1:.0%}, unmapped: {a.unmapped_rank1:.1%}, chance: "
            f"{a.chance_rank1:.1%}); D_sys = {self.linkage.d_sys:.2f}, maximal linkability = "
            f"{self.linkage.maximal_linkability:.2f} bit"
        )

    def to_dict(self, curves: bool = True) -> dict:
        head = ("source", "target", "pairs", "rank1_at_pairs", "summary")
        d = {k: getattr(self, k) for k in head}
        return d | {"attack": self.attack.to_dict(), "linkability": self.linkage.to_dict(curves)}


def _check_models(store: Any, models: Sequence[str]) -> None:
    have = list(store.models())
    if not have:
        raise StoreError(
            f"the store at {getattr(store, 'root', store)} holds no model; give the right --store "
            "or embed images first (`facebridge embed`)"
        )
    for m in models:
        if m not in have:
            raise UnknownModelError(str(unknown(m, have, "model")))


def _audit_pairs(
    store: Any,
    tasks: Sequence[tuple[str, str]],
    pairs: int,
    n_jobs: int,
    blas_threads: int | None,
    opts: dict[str, Any],
) -> list[AuditResult]:
    """Audit every directed pair of ``tasks`` (each model loaded once) in ``n_jobs`` threads;
    ``opts``: every option of :func:`audit`."""
    o = SimpleNamespace(**opts)
    ps = tuple(sorted({*_check_common(o.n_draws, o.fpir, o.p_values), int(pairs)}))
    pairs = _check_common(1, 0.5, [pairs])[0]
    map_name, fit = _fitter(o.map, o.alpha)
    names = list(dict.fromkeys(m for task in tasks for m in task))
    _check_models(store, names)
    loaded = {m: store.load(m) for m in names}

    def one(task: tuple[str, str]) -> AuditResult:
        a, b = loaded[task[0]], loaded[task[1]]
        prep = _prepare(a, b, o.seed, None, o.identity_fn, 0.5, 0.25)
        n_corr = prep.a_corr.shape[0]
        if pairs > n_corr:
            raise InvalidInputError(
                f"--pairs {pairs} exceeds the {n_corr} correspondence images available; "
                "use a smaller value"
            )
        # open-set rates at the headline p only: the other points search the mated probes alone
        attack = _attack(prep, ps, o.n_draws, fit, map_name, o.alpha, o.seed, o.fpir, (pairs,))
        kw = (o.seed, o.omega, o.method, o.n_bins, _MAX_NONMATED)
        link = _linkage(prep, fit, map_name, pairs, *kw)
        return AuditResult(prep.source, prep.target, pairs, attack, link)

    with _blas_limit(blas_threads):
        if n_jobs == 1:
            return [one(t) for t in tasks]
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            return list(pool.map(one, tasks))


def audit(
    store: Any,
    source: str,
    target: str,
    pairs: int = 400,
    *,
    p_values: Sequence[int] = DEFAULT_P_VALUES,
    n_draws: int = 5,
    map: MapSpec = "ridge",
    alpha: float = 1.0,
    seed: int = 0,
    fpir: float = 0.01,
    omega: float = 1.0,
    method: str = "hist",
    n_bins: int | None = None,
    identity_fn: Callable[[str], str] = lfw_identity,
    blas_threads: int | None = 1,
) -> AuditResult:
    """Privacy audit of one directed pair: re-identification curve and linkability.

    Parameters
    ----------
    store : facebridge.store.EmbeddingStore
        Where both models' embeddings are (``store.load(model)``).
    source, target : str
        Model A whose templates leaked, model B the attacker runs.
    pairs : int
        The headline number of correspondence pairs (added to ``p_values``; the linkability
        map is fitted on that many).
    p_values, n_draws, map, alpha, seed, fpir, identity_fn
        See :func:`reidentification_attack`.
    omega, method, n_bins
        See :func:`linkability`.
    blas_threads : int or None
        BLAS threads while running (``None`` leaves the setting alone); 1 avoids the contention
        of mid-sized products on a busy machine.

    Returns
    -------
    AuditResult

    Raises
    ------
    UnknownModelError
        A model that is not in the store (the message lists close names).
    InvalidInputError
        ``source == target`` or bad options.

    Examples
    --------
    >>> import tempfile
    >>> from facebridge.testing import make_synthetic_protocol, make_synthetic_store
    >>> proto = make_synthetic_protocol(n_folds=4, n_genuine=30, n_impostor=30)
    >>> store = make_synthetic_store(tempfile.mkdtemp(), proto, dims={"a": 16, "b": 12})
    >>> res = audit(store, "a", "b", pairs=20, p_values=(20,), n_draws=1)
    >>> res.pairs, 0.0 <= res.rank1_at_pairs <= 1.0
    (20, True)
    """
    if source == target:
        raise InvalidInputError(
            f"source and target are both {source!r}; audit two different models (or use --all)"
        )
    opts = {k: v for k, v in locals().items() if k in _AUDIT_OPTIONS}
    return _audit_pairs(store, [(source, target)], pairs, 1, blas_threads, opts)[0]


#: The options of :func:`audit` that :func:`audit_all` passes on, with their defaults.
_AUDIT_OPTIONS: dict[str, Any] = {
    k: v.default
    for k, v in inspect.signature(audit).parameters.items()
    if v.kind is inspect.Parameter.KEYWORD_ONLY and k != "blas_threads"
}


def audit_all(
    store: Any,
    models: Sequence[str] | None = None,
    pairs: int = 400,
    *,
    n_jobs: int = 1,
    blas_threads: int | None = 1,
    **kwargs: Any,
) -> list[AuditResult]:
    """:func:`audit` for every directed pair ``(A, B)``, ``A != B``, of ``models``.

    Each model is loaded once.  Pairs run in ``n_jobs`` threads (numpy releases the GIL in its
    matrix products) with ``blas_threads`` BLAS threads each; every pair is seeded on its own,
    so the results do not depend on ``n_jobs``.

    Parameters
    ----------
    store, pairs, blas_threads
        As :func:`audit`.
    models : sequence of str, optional
        The models audited pairwise (default: the store's).
    n_jobs : int
        Directed pairs audited at once.
    **kwargs
        The keyword-only options of :func:`audit`.

    Returns
    -------
    list of AuditResult
        In the order ``(A, B) for A in models for B in models``.

    Examples
    --------
    >>> import tempfile
    >>> from facebridge.testing import make_synthetic_protocol, make_synthetic_store
    >>> proto = make_synthetic_protocol(n_folds=4, n_genuine=30, n_impostor=30)
    >>> store = make_synthetic_store(tempfile.mkdtemp(), proto, dims={"a": 16, "b": 12})
    >>> [(r.source, r.target) for r in audit_all(store, pairs=20, p_values=(20,), n_draws=1)]
    [('a', 'b'), ('b', 'a')]
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise InvalidInputError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    names = list(store.models()) if models is None else list(models)
    if len(names) < 2:
        raise InvalidInputError(
            f"an audit needs at least two models, got {names}; add embeddings of another model"
        )
    bad = sorted(set(kwargs) - set(_AUDIT_OPTIONS))
    if bad:
        raise InvalidInputError(f"unknown audit option(s) {bad}; use {sorted(_AUDIT_OPTIONS)}")
    tasks = directed_pairs(names)
    return _audit_pairs(store, tasks, pairs, n_jobs, blas_threads, {**_AUDIT_OPTIONS, **kwargs})
