"""Maps from few pairs: seed map + mutual-nearest-neighbour self-learning on unpaired pools.

The setting is that of unsupervised cross-lingual word-embedding maps (VecMap, MUSE): ``k``
corresponding pairs ``(X, Y)`` (``k >= 0``, the same item embedded by model A and model B, or two
photos of one person) and two *unpaired* pools, ``pool_a`` embedded by A and ``pool_b`` embedded
by B, with no known correspondence between them.

Self-learning (:func:`fit_self_learning`):

1. a seed map from the ``k`` pairs (Procrustes or ridge, :mod:`facebridge.maps.linear`), or, for
   ``k = 0``, an unsupervised initial dictionary (:data:`INITS`);
2. repeat: map ``pool_a``, score every (mapped A, B) pair by cosine with the CSLS hubness
   correction ``2 cos - r_a - r_b`` (``r`` = mean cosine of the ``csls_k`` nearest neighbours in
   the other pool), drop each score with probability ``1 - keep_prob`` (stochastic dictionary
   induction), take the *mutual* nearest neighbours as the dictionary, and re-fit the map on the
   seed pairs plus the dictionary;
3. ``keep_prob`` doubles (up to 1) whenever the objective (mean best CSLS of the mapped A pool,
   scored without dropout) has not improved by ``tol`` for ``patience`` iterations; at
   ``keep_prob = 1`` the same condition stops the loop (or ``n_iter`` is reached).

Unequal dimensions (e.g. 1024 -> 128) are handled by both re-fits: the semi-orthogonal
Procrustes of :func:`~facebridge.maps.linear.fit_procrustes` or a ridge re-fit.

The ``k = 0`` initialisations (:data:`INITS`), each followed by the same self-learning:

* ``"gw"``: entropic Gromov-Wasserstein coupling (POT, the ``facebridge[ot]`` extra) between the
  cosine-similarity matrices of a subsample of each pool; its mutual arg-max pairs seed the map;
* ``"sorted-sim"``: VecMap's unsupervised start: each item is described by its sorted
  similarities to the rest of its own pool (invariant to any rotation of the space), and items
  are matched across pools by that description;
* ``"moments"``: both pools are whitened by PCA and principal axis ``i`` of A is sent to axis
  ``i`` of B with the sign that matches their third moments (skewness);
* ``"clusters"``: each pool is clustered (k-means); cluster centroids are matched by
  Gromov-Wasserstein on their similarity structure (identity-cluster matching when the pools
  hold several photos per person).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.maps.linear import LinearMap, fit_procrustes, fit_ridge
from facebridge.optional import require
from facebridge.vocabulary import unknown

__all__ = [
    "INITS",
    "REFITS",
    "SelfLearningMap",
    "SelfLearningResult",
    "csls_scores",
    "fit_self_learning",
    "initial_dictionary",
    "mutual_nearest",
]

#: Map families for the seed fit and the re-fits.
REFITS: tuple[str, ...] = ("procrustes", "ridge")
#: Starts of the self-learning: ``"seeds"`` (the k pairs) and the unsupervised ``k = 0`` starts.
INITS: tuple[str, ...] = ("seeds", "gw", "sorted-sim", "moments", "clusters")


# ----------------------------------------------------------------------------- input checks


def _rows(a: Any, name: str, dim: int | None = None, allow_empty: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{name} must be a numeric (n, d) array, got {type(a).__name__}"
        ) from exc
    if arr.ndim != 2:
        raise DimensionError(f"{name} must be 2-D (n, d), got shape {arr.shape}; reshape it")
    if dim is not None and arr.shape[1] != dim:
        raise DimensionError(
            f"{name} must have {dim} columns (the model's dimension), got {arr.shape[1]}; "
            "check which model embedded it"
        )
    if arr.shape[0] == 0 and not allow_empty:
        raise InvalidInputError(f"{name} is empty; pass at least one row")
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{name} has NaN or inf entries; drop or re-extract those rows")
    return arr


def _unit(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(a, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return a / n


# ------------------------------------------------------------------------------- algebra


def csls_scores(za: np.ndarray, zb: np.ndarray, k: int = 10) -> np.ndarray:
    """CSLS similarities ``2 cos(a_i, b_j) - r_a(i) - r_b(j)`` between two sets of unit rows.

    ``r_a(i)`` is the mean cosine of ``a_i``'s ``k`` nearest neighbours among ``zb`` and ``r_b(j)``
    that of ``b_j`` among ``za`` (Conneau et al., 2018); ``k = 0`` returns plain cosines.

    Parameters
    ----------
    za : ndarray of shape (n_a, d)
        Unit rows (e.g. mapped A embeddings).
    zb : ndarray of shape (n_b, d)
        Unit rows (B embeddings).
    k : int, default 10
        Neighbourhood size, clipped to the pool sizes.

    Returns
    -------
    ndarray of shape (n_a, n_b), float32.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.eye(3, dtype=np.float32)
    >>> csls_scores(z, z, k=1).argmax(axis=1)
    array([0, 1, 2])
    """
    s = np.asarray(za, dtype=np.float32) @ np.asarray(zb, dtype=np.float32).T
    if k <= 0:
        return s
    ra = _top_mean(s, k)
    rb = _top_mean(np.ascontiguousarray(s.T), k)
    return 2.0 * s - ra[:, None] - rb[None, :]


def _top_mean(s: np.ndarray, k: int) -> np.ndarray:
    """Mean of the ``k`` largest entries of each row of ``s`` (``k`` clipped to the row length)."""
    n = s.shape[1]
    k = min(k, n)
    return np.partition(s, n - k, axis=1)[:, n - k :].mean(axis=1)


def mutual_nearest(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)`` that are each other's best match in ``scores`` (n_a, n_b).

    Examples
    --------
    >>> import numpy as np
    >>> mutual_nearest(np.array([[0.9, 0.1], [0.8, 0.2]]))
    (array([0]), array([0]))
    """
    s = np.asarray(scores)
    fwd = s.argmax(axis=1)
    bwd = s.argmax(axis=0)
    i = np.flatnonzero(bwd[fwd] == np.arange(s.shape[0]))
    return i, fwd[i]


def _fit(kind: str, X: np.ndarray, Y: np.ndarray, alpha: float) -> LinearMap:
    if kind == "ridge":
        return fit_ridge(X, Y, alpha=alpha)
    # Procrustes needs >= 2 rows to centre; one row fits the rotation through the origin
    return fit_procrustes(X, Y, fit_intercept=X.shape[0] >= 2)


# ------------------------------------------------------------------------ k = 0 dictionaries


def _subsample(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=m, replace=False)) if n > m else np.arange(n)


def _import_ot() -> Any:
    return require("ot")


def _gw_coupling(ca: np.ndarray, cb: np.ndarray, epsilon: float) -> np.ndarray:
    ot = _import_ot()
    p = np.full(ca.shape[0], 1.0 / ca.shape[0])
    q = np.full(cb.shape[0], 1.0 / cb.shape[0])
    T = ot.gromov.entropic_gromov_wasserstein(
        ca, cb, p, q, loss_fun="square_loss", epsilon=epsilon, max_iter=200, tol=1e-7
    )
    return np.asarray(T)


def _sorted_description(z: np.ndarray) -> np.ndarray:
    """VecMap's rotation-invariant description: each row's sorted similarities (of the
    square-root similarity matrix), normalised (unit, centred, unit)."""
    u, s, _ = np.linalg.svd(z.astype(np.float64), full_matrices=False)
    sim = (u * s) @ u.T
    sim = -np.sort(-sim, axis=1)
    sim = _unit(sim)
    sim = sim - sim.mean(axis=0, keepdims=True)
    return _unit(sim)


def _pca(x: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, the ``d`` leading principal axes (columns) and their standard deviations."""
    mu = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mu, full_matrices=False)
    sd = s[:d] / np.sqrt(max(x.shape[0] - 1, 1))
    return mu, vt[:d].T, np.maximum(sd, 1e-12)


def initial_dictionary(
    pool_a: Any,
    pool_b: Any,
    init: str,
    *,
    n_sample: int = 600,
    csls_k: int = 10,
    epsilon: float = 5e-3,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray] | LinearMap:
    """An unsupervised start for self-learning (``k = 0``).

    Parameters
    ----------
    pool_a : array-like of shape (n_a, d_a)
    pool_b : array-like of shape (n_b, d_b)
    init : {"gw", "sorted-sim", "moments", "clusters"}
        See the module docstring.
    n_sample : int, default 600
        Items (or clusters) per pool used by the quadratic starts.
    csls_k : int, default 10
    epsilon : float, default 5e-3
        Entropic regularisation of Gromov-Wasserstein.
    random_state : int, default 0

    Returns
    -------
    (ia, ib) : index arrays into the pools (a dictionary), or a LinearMap (``"moments"``).

    Raises
    ------
    InvalidInputError
        Unknown ``init`` or too few rows.
    MissingDependencyError
        ``"gw"`` / ``"clusters"`` without POT.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 4))
    >>> m = initial_dictionary(x, x, "moments")
    >>> m.weight.shape
    (4, 4)
    """
    if init not in INITS or init == "seeds":
        raise unknown(init, INITS[1:], "unsupervised start")
    A = _rows(pool_a, "pool_a")
    B = _rows(pool_b, "pool_b")
    rng = np.random.default_rng([random_state, 7])
    if init == "moments":
        d = min(A.shape[1], B.shape[1], A.shape[0] - 1, B.shape[0] - 1)
        if d < 1:
            raise InvalidInputError("the moments start needs at least 2 rows in each pool")
        ma, va, sa = _pca(A, d)
        mb, vb, sb = _pca(B, d)
        ska = (((A - ma) @ va) ** 3).mean(axis=0)
        skb = (((B - mb) @ vb) ** 3).mean(axis=0)
        sign = np.where(np.sign(ska) == np.sign(skb), 1.0, -1.0)
        W = (va / sa) @ np.diag(sign * sb) @ vb.T
        return LinearMap(W, mb - ma @ W)
    if init == "clusters":
        from scipy.cluster.vq import kmeans2

        ca_, la = kmeans2(
            _unit(A).astype(np.float64), min(n_sample, A.shape[0]), seed=rng, minit="++"
        )
        cb_, lb = kmeans2(
            _unit(B).astype(np.float64), min(n_sample, B.shape[0]), seed=rng, minit="++"
        )
        za, zb = _unit(ca_), _unit(cb_)
        T = _gw_coupling((za @ za.T).astype(np.float64), (zb @ zb.T).astype(np.float64), epsilon)
        ci, cj = mutual_nearest(T)
        # the items of matched cluster ci are paired, in turn, with the items of cluster cj
        ia_l: list[np.ndarray] = []
        ib_l: list[np.ndarray] = []
        for a, b in zip(ci, cj, strict=True):
            ra, rb = np.flatnonzero(la == a), np.flatnonzero(lb == b)
            if ra.size and rb.size:
                ia_l.append(ra)
                ib_l.append(np.resize(rb, ra.size))
        if not ia_l:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(ia_l).astype(np.int64), np.concatenate(ib_l).astype(np.int64)
    m = min(n_sample, A.shape[0], B.shape[0])
    sa = _subsample(A.shape[0], m, rng)
    sb = _subsample(B.shape[0], m, rng)
    za, zb = _unit(A[sa]), _unit(B[sb])
    if init == "gw":
        T = _gw_coupling((za @ za.T).astype(np.float64), (zb @ zb.T).astype(np.float64), epsilon)
        i, j = mutual_nearest(T)
    else:  # sorted-sim
        i, j = mutual_nearest(csls_scores(_sorted_description(za), _sorted_description(zb), csls_k))
    return sa[i], sb[j]


# ----------------------------------------------------------------------------- self-learning


@dataclass(frozen=True)
class SelfLearningResult:
    """The outcome of :func:`fit_self_learning`.

    Attributes
    ----------
    map : LinearMap
        The final A -> B map.
    dictionary : tuple of ndarray
        ``(ia, ib)``: the pool rows paired by the last iteration.
    n_iter : int
        Iterations run.
    converged : bool
        Stopped by the stopping rule (not by ``n_iter``).
    objective : ndarray
        Mean best CSLS of the mapped A pool after each iteration.
    """

    map: LinearMap
    dictionary: tuple[np.ndarray, np.ndarray]
    n_iter: int
    converged: bool
    objective: np.ndarray


def fit_self_learning(
    X: Any,
    Y: Any,
    pool_a: Any,
    pool_b: Any,
    *,
    seed_map: str = "ridge",
    refit: str = "ridge",
    init: str = "seeds",
    n_iter: int = 20,
    csls_k: int = 10,
    keep_prob: float = 0.5,
    patience: int = 2,
    tol: float = 1e-3,
    alpha: float = 1.0,
    max_pool: int = 3000,
    random_state: int = 0,
) -> SelfLearningResult:
    """Fit an A -> B map from ``k`` pairs and two unpaired pools by self-learning.

    Parameters
    ----------
    X : array-like of shape (k, d_a)
        A embeddings of the seed pairs (``k = 0`` allowed: shape ``(0, d_a)``).
    Y : array-like of shape (k, d_b)
        B embeddings of the same items.
    pool_a : array-like of shape (n_a, d_a)
        Unpaired A embeddings.
    pool_b : array-like of shape (n_b, d_b)
        Unpaired B embeddings (no known correspondence with ``pool_a``).
    seed_map : {"procrustes", "ridge"}, default "ridge"
        The map fitted on the seed pairs alone (the start when ``init="seeds"``).
    refit : {"procrustes", "ridge"}, default "ridge"
        The map re-fitted on seeds + dictionary at each iteration.
    init : {"seeds", "gw", "sorted-sim", "moments", "clusters"}, default "seeds"
        ``"seeds"`` starts from the seed map (needs ``k >= 1``); the others are the unsupervised
        starts of :func:`initial_dictionary` (the seed pairs, if any, are added to their
        dictionary).
    n_iter : int, default 20
        Maximum number of self-learning iterations (0: the start map alone).
    csls_k : int, default 10
        CSLS neighbourhood (0: plain cosine nearest neighbours).
    keep_prob : float in (0, 1], default 0.5
        Initial probability of keeping a score in stochastic dictionary induction.
    patience : int, default 2
        Iterations without an objective gain of ``tol`` before ``keep_prob`` doubles (or,
        at ``keep_prob = 1``, the loop stops).
    tol : float, default 1e-3
    alpha : float, default 1.0
        Ridge regularisation (``seed_map`` / ``refit`` = ``"ridge"``).
    max_pool : int, default 3000
        Pools larger than this are subsampled (seeded) to bound the ``n_a x n_b`` scores.
    random_state : int, default 0

    Returns
    -------
    SelfLearningResult

    Raises
    ------
    DimensionError
        Arrays that are not 2-D or whose dimensions disagree.
    InvalidInputError
        Unknown options, bad values, mismatched seed rows, empty pools, or ``k = 0`` with
        ``init="seeds"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> centres = rng.normal(size=(40, 8))
    >>> A = np.repeat(centres, 4, axis=0) + 0.05 * rng.normal(size=(160, 8))
    >>> R = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    >>> B = A @ R
    >>> s = [0, 9, 18, 27, 36]
    >>> res = fit_self_learning(A[s], B[s], A[::2], B[1::2])
    >>> bool(np.abs(res.map.weight - R).max() < 0.1)
    True
    """
    if seed_map not in REFITS:
        raise unknown(seed_map, REFITS, "seed map")
    if refit not in REFITS:
        raise unknown(refit, REFITS, "re-fit map")
    if init not in INITS:
        raise unknown(init, INITS, "self-learning start")
    for name, v, lo in (("n_iter", n_iter, 0), ("csls_k", csls_k, 0), ("patience", patience, 1)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise InvalidInputError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not 0.0 < keep_prob <= 1.0:
        raise InvalidInputError(f"keep_prob must be in (0, 1], got {keep_prob!r}; e.g. 0.5")
    if not tol >= 0.0 or not alpha >= 0.0:
        raise InvalidInputError(f"tol and alpha must be >= 0, got tol={tol!r}, alpha={alpha!r}")
    if isinstance(max_pool, bool) or not isinstance(max_pool, int | np.integer) or max_pool < 2:
        raise InvalidInputError(f"max_pool must be an integer >= 2, got {max_pool!r}")
    A = _rows(pool_a, "pool_a")
    B = _rows(pool_b, "pool_b")
    Xs = _rows(X, "X (seed pairs, model A)", A.shape[1], allow_empty=True)
    Ys = _rows(Y, "Y (seed pairs, model B)", B.shape[1], allow_empty=True)
    if Xs.shape[0] != Ys.shape[0]:
        raise DimensionError(
            f"X and Y must hold the same seed pairs, got {Xs.shape[0]} and {Ys.shape[0]} rows"
        )
    k = Xs.shape[0]
    if init == "seeds" and k == 0:
        raise InvalidInputError(
            "no seed pairs (k = 0): pass init='gw', 'sorted-sim', 'moments' or 'clusters' "
            "for an unsupervised start"
        )
    rng = np.random.default_rng([random_state, 11])
    A = A[_subsample(A.shape[0], max_pool, rng)]
    B = B[_subsample(B.shape[0], max_pool, rng)]
    zb = _unit(B)

    def refit_on(ia: np.ndarray, ib: np.ndarray) -> LinearMap:
        Xd = np.concatenate((Xs, A[ia]))
        Yd = np.concatenate((Ys, B[ib]))
        if Xd.shape[0] == 0:  # an empty dictionary: keep the seeds' view of the world
            return (
                _fit(refit, Xs, Ys, alpha)
                if k
                else LinearMap(np.zeros((A.shape[1], B.shape[1])), B.mean(axis=0))
            )
        return _fit(refit, Xd, Yd, alpha)

    if init == "seeds":
        m = _fit(seed_map, Xs, Ys, alpha)
    else:
        start = initial_dictionary(A, B, init, csls_k=csls_k, random_state=random_state)
        m = start if isinstance(start, LinearMap) else refit_on(*start)

    empty = np.zeros(0, dtype=np.int64)
    ia, ib = empty, empty
    obj: list[float] = []
    best = -np.inf
    stale = 0
    p = float(keep_prob)
    converged = False
    n_done = 0
    s = csls_scores(_unit(A @ m.weight + m.bias), zb, csls_k)
    for n_done in range(1, n_iter + 1):  # noqa: B007 (n_done is the count reported)
        sd = s if p >= 1.0 else np.where(rng.random(s.shape, dtype=np.float32) < p, s, -np.inf)
        ia, ib = mutual_nearest(sd)
        m = refit_on(ia, ib)
        s = csls_scores(_unit(A @ m.weight + m.bias), zb, csls_k)
        o = float(s.max(axis=1).mean())
        obj.append(o)
        if o > best + tol:
            best, stale = o, 0
            continue
        stale += 1
        if stale >= patience:
            if p >= 1.0:
                converged = True
                break
            p, stale = min(1.0, 2.0 * p), 0
    return SelfLearningResult(m, (ia, ib), n_done, converged, np.array(obj))


# ------------------------------------------------------------------------------- estimator


class SelfLearningMap(BaseEstimator):
    """sklearn-style estimator: seed map from ``k`` pairs + self-learning on unpaired pools.

    ``fit(X, y, pool_a=..., pool_b=...)`` runs :func:`fit_self_learning`; ``predict`` maps
    new A rows into B's space.  Without pools (``pool_a=None``) it is the plain seed map.

    Parameters
    ----------
    seed_map, refit, init, n_iter, csls_k, keep_prob, patience, tol, alpha, max_pool, random_state
        As :func:`fit_self_learning`.

    Attributes
    ----------
    map_ : LinearMap
    coef_ : ndarray of shape (d_b, d_a)
    intercept_ : ndarray of shape (d_b,)
    n_features_in_ : int
    n_iter_ : int
    converged_ : bool
    dictionary_ : tuple of ndarray
        Pool rows paired by the last iteration (indices into the subsampled pools).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> A = np.repeat(rng.normal(size=(30, 6)), 3, axis=0) + 0.05 * rng.normal(size=(90, 6))
    >>> R = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    >>> s = [0, 10, 20, 30, 40, 50]
    >>> est = SelfLearningMap().fit(A[s], A[s] @ R, pool_a=A[::2], pool_b=A[1::2] @ R)
    >>> bool(np.allclose(est.predict(A[:3]), A[:3] @ R, atol=0.1))
    True
    """

    def __init__(
        self,
        seed_map: str = "ridge",
        refit: str = "ridge",
        init: str = "seeds",
        n_iter: int = 20,
        csls_k: int = 10,
        keep_prob: float = 0.5,
        patience: int = 2,
        tol: float = 1e-3,
        alpha: float = 1.0,
        max_pool: int = 3000,
        random_state: int = 0,
    ) -> None:
        self.seed_map = seed_map
        self.refit = refit
        self.init = init
        self.n_iter = n_iter
        self.csls_k = csls_k
        self.keep_prob = keep_prob
        self.patience = patience
        self.tol = tol
        self.alpha = alpha
        self.max_pool = max_pool
        self.random_state = random_state

    def fit(self, X: Any, y: Any, *, pool_a: Any = None, pool_b: Any = None) -> SelfLearningMap:
        """Fit from seed pairs ``(X, y)`` and the unpaired pools.

        Parameters
        ----------
        X : array-like of shape (k, d_a)
        y : array-like of shape (k, d_b)
        pool_a : array-like of shape (n_a, d_a), optional
        pool_b : array-like of shape (n_b, d_b), optional
            Both pools or neither.

        Returns
        -------
        self

        Raises
        ------
        DimensionError, InvalidInputError
            As :func:`fit_self_learning`; one pool without the other; no pools and no pairs.
        """
        if (pool_a is None) != (pool_b is None):
            raise InvalidInputError("pass both pool_a and pool_b, or neither (the seed map alone)")
        if pool_a is None:
            if self.seed_map not in REFITS:
                raise unknown(self.seed_map, REFITS, "seed map")
            Xs = _rows(X, "X (seed pairs, model A)")
            Ys = _rows(y, "y (seed pairs, model B)")
            if Xs.shape[0] != Ys.shape[0]:
                raise DimensionError(
                    f"X and y must hold the same seed pairs, got {Xs.shape[0]} and {Ys.shape[0]} rows"
                )
            m = _fit(self.seed_map, Xs, Ys, self.alpha)
            self.n_iter_, self.converged_ = 0, False
            self.dictionary_ = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        else:
            res = fit_self_learning(X, y, pool_a, pool_b, **self.get_params())
            m = res.map
            self.n_iter_, self.converged_, self.dictionary_ = (
                res.n_iter,
                res.converged,
                res.dictionary,
            )
        self.map_ = m
        self.coef_ = m.weight.T.copy()
        self.intercept_ = m.bias.copy()
        self.n_features_in_ = m.d_a
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Map A embeddings ``(n, d_a)`` into B's space ``(n, d_b)``.

        Raises
        ------
        InvalidInputError
            Called before ``fit``.
        DimensionError
            ``X`` without ``d_a`` columns.
        """
        if not hasattr(self, "map_"):
            raise InvalidInputError(
                "SelfLearningMap is not fitted; call fit(X, y, pool_a=..., pool_b=...) first"
            )
        return self.map_.apply(_rows(X, "X", self.n_features_in_, allow_empty=True))
