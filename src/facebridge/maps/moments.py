"""Linear maps fitted from moments, and the map kinds every experiment shares.

A map with an intercept depends on its training rows ``(X, Y)`` only through the row count,
``sum x``, ``sum y``, ``X^T X`` and ``X^T Y``.  :class:`Moments` holds these sums;
:class:`BlockMoments` holds them per block of rows, where a block is the set of folds its rows
belong to, so that the moments of "every row outside the excluded folds" are the total minus a
few blocks (``training sums of fold f = total - block f``), for any set of excluded folds.

The fits (:func:`ridge_from_moments`, :class:`Spectrum`, :func:`procrustes_from_cross`) solve
the same problems as :func:`facebridge.maps.fit_ridge`, :func:`~facebridge.maps.fit_lstsq` and
:func:`~facebridge.maps.fit_procrustes` (tested equal to them).  :data:`MAP_KINDS` names each
kind of pairwise map once, with its fit from rows and from moments; the cross-model matrix,
``compare-maps`` and the privacy audit read their choices from it.

All arithmetic is float64 and uses numpy's LAPACK, which releases the GIL (the experiments run
fits in worker threads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from facebridge.errors import InvalidInputError
from facebridge.maps.linear import LinearMap, fit_lstsq, fit_procrustes, fit_ridge

__all__ = [
    "MAP_KINDS",
    "BlockMoments",
    "MapKind",
    "MomentFit",
    "Moments",
    "Spectrum",
    "column_spans",
    "fold_bits",
    "procrustes_from_cross",
    "ridge_from_moments",
    "ridge_system",
]


def column_spans(dims: Iterable[int]) -> list[slice]:
    """The column slices of blocks of widths ``dims`` placed side by side.

    Examples
    --------
    >>> column_spans([2, 3])
    [slice(0, 2, None), slice(2, 5, None)]
    """
    out, c0 = [], 0
    for d in dims:
        out.append(slice(c0, c0 + int(d)))
        c0 += int(d)
    return out


def fold_bits(folds: Iterable[int]) -> int:
    """The bit set of ``folds`` (bit ``f`` set for fold ``f``).

    Examples
    --------
    >>> fold_bits([0, 3])
    9
    """
    out = 0
    for f in folds:
        out |= 1 << int(f)
    return out


@dataclass(frozen=True)
class Moments:
    """Uncentred sums of row-corresponding ``X`` ``(n, d_a)`` and ``Y`` ``(n, d_b)``.

    Attributes
    ----------
    n : int
        Number of rows.
    sx, sy : ndarray
        Column sums of ``X`` and ``Y``.
    xx : ndarray ``(d_a, d_a)``
        ``X^T X``.
    xy : ndarray ``(d_a, d_b)`` or None
        ``X^T Y`` (``None`` when not formed).  The same object as ``xx`` when ``Y`` is ``X``.
    yy : ndarray ``(d_b, d_b)`` or None
        ``Y^T Y`` (``None`` when not formed).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> m = Moments.of(X, 2 * X)
    >>> m.n, m.sy.tolist(), np.allclose(m.xy, 2 * m.xx)
    (3, [12.0, 18.0], True)
    """

    n: int
    sx: np.ndarray
    sy: np.ndarray
    xx: np.ndarray
    xy: np.ndarray | None
    yy: np.ndarray | None = None

    @classmethod
    def of(
        cls,
        X: np.ndarray,
        Y: np.ndarray | None = None,
        *,
        target_gram: bool = True,
    ) -> Moments:
        """The moments of ``X`` and ``Y`` (``Y=None``: the rows are their own targets).

        Parameters
        ----------
        X, Y : ndarray
            float64 rows; ``Y`` defaults to ``X`` (then ``xx``, ``xy`` and ``yy`` are one
            array).
        target_gram : bool
            Form ``Y^T Y``.
        """
        if Y is None:
            G = X.T @ X
            s = X.sum(axis=0)
            return cls(X.shape[0], s, s, G, G, G)
        return cls(
            X.shape[0],
            X.sum(axis=0),
            Y.sum(axis=0),
            X.T @ X,
            X.T @ Y,
            Y.T @ Y if target_gram else None,
        )

    @property
    def same(self) -> bool:
        """Whether the rows are their own targets (``Y`` is ``X``)."""
        return self.xy is self.xx

    def __sub__(self, other: Moments) -> Moments:
        xx = self.xx - other.xx
        if self.same:
            return Moments(self.n - other.n, self.sx - other.sx, self.sx - other.sx, xx, xx, xx)
        return Moments(
            self.n - other.n,
            self.sx - other.sx,
            self.sy - other.sy,
            xx,
            None if self.xy is None or other.xy is None else self.xy - other.xy,
            None if self.yy is None or other.yy is None else self.yy - other.yy,
        )

    def centred(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(mean_x, mean_y, Cxx, Cxy, Cyy)``: means and centred, unnormalised cross-products.

        ``Cxy`` and ``Cyy`` are ``Cxx`` when the rows are their own targets.
        """
        n = self.n
        mx, my = self.sx / n, self.sy / n
        cxx = self.xx - n * np.outer(mx, mx)
        if self.same:
            return mx, my, cxx, cxx, cxx
        if self.xy is None or self.yy is None:
            raise InvalidInputError("centred() needs X^T Y and Y^T Y; form them with Moments.of")
        return mx, my, cxx, self.xy - n * np.outer(mx, my), self.yy - n * np.outer(my, my)


class BlockMoments:
    """:class:`Moments` per block of rows, a block being the set of folds its rows belong to.

    A row belongs to several folds when it is shared (a same-image row whose image appears in
    pairs of two folds); it is a training row whenever one of its folds is not excluded.  The
    training moments for any set of excluded folds are the total minus the blocks whose folds
    are all excluded.

    Parameters
    ----------
    X : ndarray ``(R, d_a)``
    Y : ndarray ``(R, d_b)`` or None
        ``None``: the rows are their own targets.
    keys : ndarray ``(R,)`` int
        The fold bit set of each row (:func:`fold_bits`).
    target_gram : bool
        As :meth:`Moments.of`.
    lazy : bool
        Keep the rows and form the excluded blocks' moments when asked (the total from every
        row at once), instead of storing every block's moments: for wide joint matrices,
        whose blocks would not fit in memory together.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(8.0).reshape(4, 2)
    >>> bm = BlockMoments(X, X, np.array([1, 1, 2, 3]))
    >>> bm.without([0]).n, bm.without([0, 1]).n
    (2, 0)
    >>> np.allclose(bm.without([0]).xx, X[2:].T @ X[2:])
    True
    """

    def __init__(
        self,
        X: np.ndarray,
        Y: np.ndarray | None,
        keys: np.ndarray,
        *,
        target_gram: bool = False,
        lazy: bool = False,
    ) -> None:
        self.row_keys = np.asarray(keys, dtype=np.int64)
        self.keys, inv = np.unique(self.row_keys, return_inverse=True)
        inv = inv.reshape(-1)
        self.rows = [np.flatnonzero(inv == b) for b in range(self.keys.size)]
        self.n = np.array([r.size for r in self.rows], dtype=np.int64)
        self.same = Y is None
        self._of = lambda r: Moments.of(X[r], None if Y is None else Y[r], target_gram=target_gram)
        self.parts: dict[str, np.ndarray] = {}
        if lazy:
            self.total = Moments.of(X, Y, target_gram=target_gram)
            return
        names = ("sx", "xx") if self.same else ("sx", "sy", "xx", "xy", "yy")
        for b, r in enumerate(self.rows):  # filled in place: no second copy of the blocks
            part = self._of(r)
            for f in names:
                v = getattr(part, f)
                if v is None:
                    continue
                if b == 0:
                    self.parts[f] = np.empty((self.keys.size, *np.shape(v)))
                self.parts[f][b] = v
        tot = {f: a.sum(axis=0) for f, a in self.parts.items()}
        self.total = self._moments(int(self.n.sum()), tot)

    def _moments(self, n: int, v: dict[str, np.ndarray]) -> Moments:
        if self.same:
            return Moments(n, v["sx"], v["sx"], v["xx"], v["xx"], v["xx"])
        return Moments(n, v["sx"], v["sy"], v["xx"], v.get("xy"), v.get("yy"))

    def blocks_within(self, folds: Iterable[int]) -> np.ndarray:
        """Indices of the blocks whose folds are all in ``folds``."""
        return np.flatnonzero((self.keys & ~fold_bits(folds)) == 0)

    def without(self, excluded: Iterable[int]) -> Moments:
        """The moments of the rows outside the ``excluded`` folds (total minus their blocks)."""
        out = self.blocks_within(excluded)
        if not self.parts:
            rows = np.concatenate([self.rows[b] for b in out]) if out.size else np.zeros(0, int)
            return self.total - self._of(np.sort(rows))
        sub = {f: getattr(self.total, f) - a[out].sum(axis=0) for f, a in self.parts.items()}
        return self._moments(int(self.n.sum() - self.n[out].sum()), sub)


# ------------------------------------------------------------------------------------- fits


def ridge_system(G: np.ndarray, sx: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """``G - sx sx^T / n + alpha I``: the centred, penalised normal matrix of ridge with an
    unpenalised intercept (``G``: ``X^T X``; ``sx``: ``sum x``; ``n`` rows).

    Examples
    --------
    >>> import numpy as np
    >>> ridge_system(np.eye(2) * 4.0, np.array([2.0, 0.0]), 2, 1.0).tolist()
    [[3.0, 0.0], [0.0, 5.0]]
    """
    A = G - np.outer(sx, sx / n)
    A.flat[:: A.shape[0] + 1] += alpha
    return A


def ridge_from_moments(m: Moments, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge with an unpenalised intercept from uncentred moments: ``(W, bias)``.

    Equal to ``fit_ridge(X, Y, alpha)`` (one LU solve for every target column; the least-squares
    solution of the centred system when it is singular).

    Parameters
    ----------
    m : Moments
        With ``xy``.
    alpha : float
        ``>= 0``.

    Returns
    -------
    W : ndarray ``(d_a, d_b)``
    bias : ndarray ``(d_b,)``

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> W, b = ridge_from_moments(Moments.of(X, X @ np.diag([1.0, 2.0, 3.0]) + 1.0), 1e-9)
    >>> np.round(np.diag(W), 6).tolist(), np.round(b, 6).tolist()
    ([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    """
    assert m.xy is not None
    n = m.n
    mx, my = m.sx / n, m.sy / n
    A = ridge_system(m.xx, m.sx, n, alpha)
    B = m.xy - np.outer(m.sx, my)
    W = None
    if alpha > 0:
        try:
            W = np.linalg.solve(A, B)
        except np.linalg.LinAlgError:  # pragma: no cover - singular despite alpha > 0
            W = None
    if W is None or not np.isfinite(W).all():
        W = np.linalg.lstsq(A, B, rcond=None)[0]
    return W, my - mx @ W


class Spectrum:
    """The eigen-decomposition of a centred source Gram matrix ``Cxx``: one decomposition
    serves ridge at any alpha, its GCV and the minimum-norm least squares.

    Parameters
    ----------
    cxx : ndarray ``(d_a, d_a)``
        ``Xc^T Xc``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(30, 2))
    >>> Xc = X - X.mean(0)
    >>> sp = Spectrum(Xc.T @ Xc)
    >>> np.allclose(sp.lstsq(sp.project(Xc.T @ (2 * Xc)), 30), 2 * np.eye(2))
    True
    """

    def __init__(self, cxx: np.ndarray) -> None:
        lam, V = np.linalg.eigh((cxx + cxx.T) / 2.0)
        self.lam = np.maximum(lam, 0.0)
        self.V = V

    def project(self, cxy: np.ndarray) -> np.ndarray:
        """``V^T Cxy``: the centred cross-products in the eigenbasis."""
        return self.V.T @ cxy

    def ridge(self, B: np.ndarray, alpha: float) -> np.ndarray:
        """Ridge weight from ``B = project(Cxy)``."""
        return self.V @ (B / (self.lam + alpha)[:, None])

    def lstsq(self, B: np.ndarray, n: int) -> np.ndarray:
        """Minimum-norm least-squares weight from ``B`` (``n`` rows): directions whose singular
        value is below ``max(n, d_a) * eps * s_max`` are left out."""
        sv = np.sqrt(self.lam)
        tol = sv.max() * max(n, self.lam.size) * np.finfo(float).eps
        inv = np.where(sv > tol, 1.0 / np.where(sv > tol, self.lam, 1.0), 0.0)
        return self.V @ (B * inv[:, None])


def procrustes_from_cross(cxy: np.ndarray) -> np.ndarray:
    """The (semi-)orthogonal ``W = U V^T`` of the thin SVD ``Cxy = U S V^T`` (``Cxy = Xc^T Yc``),
    as :func:`facebridge.maps.fit_procrustes`.

    Examples
    --------
    >>> import numpy as np
    >>> R = np.array([[0.0, -1.0], [1.0, 0.0]])
    >>> np.allclose(procrustes_from_cross(2.0 * R), R)
    True
    """
    U, _, Vt = np.linalg.svd(cxy, full_matrices=False)
    return U @ Vt


# ------------------------------------------------------------------------------- map kinds


class MomentFit:
    """One source's training moments against target columns placed side by side, with the
    centred products and the eigen-decomposition formed once, on first use, for every kind.

    Parameters
    ----------
    moments : Moments
        ``X``: the source rows; ``Y``: the targets' rows side by side.
    alphas : sequence of float, optional
        GCV candidates of ``ridge-gcv`` (default :data:`facebridge.maps.cv.DEFAULT_ALPHAS`).
    yy_diag : ndarray, optional
        The diagonal of ``Y^T Y`` (default: read from ``moments.yy``); ``ridge-gcv`` only.

    Attributes
    ----------
    chosen : dict of int to float
        ``ridge-gcv``: the alpha chosen for each target span (by position).
    """

    def __init__(
        self,
        moments: Moments,
        alphas: Sequence[float] | None = None,
        yy_diag: np.ndarray | None = None,
    ) -> None:
        self.m = moments
        self.alphas = alphas
        self.yy_diag = yy_diag
        self.chosen: dict[int, float] = {}
        self._cache: dict[str, np.ndarray | Spectrum] = {}

    @property
    def mx(self) -> np.ndarray:
        return self.m.sx / self.m.n

    @property
    def my(self) -> np.ndarray:
        return self.m.sy / self.m.n

    @property
    def cxx(self) -> np.ndarray:
        """``Xc^T Xc``."""
        if "cxx" not in self._cache:
            self._cache["cxx"] = self.m.xx - self.m.n * np.outer(self.mx, self.mx)
        return self._cache["cxx"]  # type: ignore[return-value]

    @property
    def cxy(self) -> np.ndarray:
        """``Xc^T Yc``."""
        if "cxy" not in self._cache:
            assert self.m.xy is not None
            self._cache["cxy"] = self.m.xy - self.m.n * np.outer(self.mx, self.my)
        return self._cache["cxy"]  # type: ignore[return-value]

    @property
    def spectrum(self) -> Spectrum:
        if "spectrum" not in self._cache:
            self._cache["spectrum"] = Spectrum(self.cxx)
        return self._cache["spectrum"]  # type: ignore[return-value]

    def projected(self, sl: slice) -> np.ndarray:
        """``V^T Cxy`` of the target columns ``sl``."""
        key = f"B{sl.start}:{sl.stop}"
        if key not in self._cache:
            self._cache[key] = self.spectrum.project(self.cxy[:, sl])
        return self._cache[key]  # type: ignore[return-value]

    def yy_trace(self, sl: slice) -> float:
        """``||Yc||_F^2`` of the target columns ``sl``."""
        if self.yy_diag is not None:
            d = self.yy_diag[sl]
        else:
            assert self.m.yy is not None
            d = np.diagonal(self.m.yy)[sl]
        my = self.my[sl]
        return float(np.sum(d - self.m.n * (my * my)))

    def bias(self, W: np.ndarray) -> np.ndarray:
        """``mean_y - mean_x @ W``."""
        return self.my - self.mx @ W


#: ``weights(fit, spans, alpha)``: the weight of a map from a source's :class:`MomentFit`
#: against the target columns ``spans`` (one slice per target model).
Weights = Callable[[MomentFit, Sequence[slice], float], np.ndarray]


@dataclass(frozen=True)
class MapKind:
    """One kind of pairwise map, fitted from rows or from moments.

    Attributes
    ----------
    name : str
    summary : str
        One line for help texts.
    fit_rows : callable ``(X, Y, alpha) -> LinearMap``
    weights : callable ``(fit, spans, alpha) -> W``
        The weight from moments (:class:`MomentFit`); the bias is ``mean_y - mean_x @ W``.
    in_default_grid : bool
        Run by ``compare-maps`` when no ``--maps`` are given.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> kind = MAP_KINDS["procrustes"]
    >>> W, b = kind.fit(Moments.of(X, X + 1.0), column_spans([3]), 1.0)
    >>> np.allclose(W, np.eye(3)), np.allclose(b, 1.0)
    (True, True)
    """

    name: str
    summary: str
    fit_rows: Callable[[np.ndarray, np.ndarray, float], LinearMap]
    weights: Weights
    in_default_grid: bool = True

    def fit(
        self, m: Moments | MomentFit, spans: Sequence[slice], alpha: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(W, bias)`` of this kind from moments."""
        fit = m if isinstance(m, MomentFit) else MomentFit(m)
        W = self.weights(fit, spans, alpha)
        return W, fit.bias(W)


def _per_target(fn: Callable[[MomentFit, slice, int, float], np.ndarray]) -> Weights:
    """A weight solved for every target's columns ``fn(fit, span, position, alpha)``."""

    def weights(fit: MomentFit, spans: Sequence[slice], alpha: float) -> np.ndarray:
        W = np.empty_like(fit.cxy)
        for j, sl in enumerate(spans):
            W[:, sl] = fn(fit, sl, j, alpha)
        return W

    return weights


def _gcv(fit: MomentFit, sl: slice, j: int, alpha: float) -> np.ndarray:
    """Ridge with the alpha of smallest GCV error (the largest when GCV is undefined)."""
    from facebridge.maps.cv import DEFAULT_ALPHAS, gcv_errors

    alphas = np.asarray(DEFAULT_ALPHAS if fit.alphas is None else fit.alphas, dtype=float)
    sp, B = fit.spectrum, fit.projected(sl)
    try:
        err = gcv_errors(
            sp.lam, np.sum(B * B, axis=1), fit.yy_trace(sl), fit.m.n, B.shape[1], alphas
        )
        a = float(alphas[int(np.argmin(err))])
    except InvalidInputError:  # too few rows for GCV: the strongest shrinkage
        a = float(alphas.max())
    fit.chosen[j] = a
    return sp.ridge(B, a)


def _scaled_procrustes(fit: MomentFit, sl: slice, j: int, alpha: float) -> np.ndarray:
    """Procrustes times ``trace(W^T Cxy) / ||Xc W||_F^2``, the least-squares scale for ``W``."""
    W = procrustes_from_cross(fit.cxy[:, sl])
    denom = float(np.sum((fit.cxx @ W) * W))
    return W * (float(np.sum(W * fit.cxy[:, sl])) / denom if denom > 0 else 1.0)


def _ridge_cv_rows(X: np.ndarray, Y: np.ndarray, alpha: float) -> LinearMap:
    from facebridge.maps.cv import fit_ridge_cv

    return fit_ridge_cv(X, Y).map


#: Every kind of pairwise map, by name.
MAP_KINDS: dict[str, MapKind] = {
    k.name: k
    for k in (
        MapKind(
            "ridge",
            "ridge regression (alpha = 1 in the paper)",
            lambda X, Y, alpha: fit_ridge(X, Y, alpha=alpha),
            lambda fit, spans, alpha: ridge_from_moments(fit.m, alpha)[0],
        ),
        MapKind(
            "ridge-gcv",
            "ridge with alpha chosen by generalised cross-validation on the training rows",
            _ridge_cv_rows,
            _per_target(_gcv),
        ),
        MapKind(
            "lstsq",
            "minimum-norm least squares",
            lambda X, Y, alpha: fit_lstsq(X, Y),
            _per_target(lambda fit, sl, j, alpha: fit.spectrum.lstsq(fit.projected(sl), fit.m.n)),
        ),
        MapKind(
            "procrustes",
            "(semi-)orthogonal Procrustes",
            lambda X, Y, alpha: fit_procrustes(X, Y),
            _per_target(lambda fit, sl, j, alpha: procrustes_from_cross(fit.cxy[:, sl])),
        ),
        MapKind(
            "procrustes-scaled",
            "orthogonal Procrustes with one global scale (Umeyama)",
            lambda X, Y, alpha: fit_procrustes(X, Y, scale=True),
            _per_target(_scaled_procrustes),
            in_default_grid=False,
        ),
    )
}
