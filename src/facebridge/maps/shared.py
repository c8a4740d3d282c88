"""Shared-space maps: two models (regularised CCA) or N models (a canonical hub) in one space.

Instead of mapping model A *into* model B's space, both are projected into a common space where
a pair is scored as ``cosine(proj_a(x), proj_b(y))`` -- a score that treats A and B alike.

* :func:`fit_shared_space` -- regularised CCA.  Each space is centred and whitened with a ridged
  covariance ``C + reg * mean(diag C) I``; the SVD of the whitened cross-covariance
  gives the canonical directions.  ``weighting`` scales canonical dimension ``k`` by its
  correlation ``rho_k`` (``"corr"``, default: the least-squares prediction of one whitened space
  from the other), by ``sqrt(rho_k)``, or not at all (``"none"``: this is exactly the *whitened
  Procrustes* map -- whiten both spaces, rotate one onto the other by orthogonal Procrustes).
* :func:`fit_hub` -- a canonical space for N models fitted jointly: every model has one map into
  the hub, so any two are compared through it (N maps instead of N(N-1)).  ``method="maxvar"``
  (default) is MAXVAR generalised CCA (Kettenring 1971): the hub directions are the top
  eigenvectors of the whitened joint covariance, and for N = 2 it equals :func:`fit_shared_space`.
  ``method="gpa"`` is generalised Procrustes analysis (Gower 1975): each model, centred and
  scaled to unit Frobenius norm, is rotated (orthogonally, dimensions zero-padded) onto the
  running consensus until it stops moving -- a hub that keeps every model's own centred geometry
  (with the full ``dim`` a within-model comparison through the hub is the centred cosine).

All fits use only the rows they are given: pass training-fold correspondences only (fold safety is
the caller's; facebridge's experiments hand these functions training folds alone).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from facebridge.errors import DimensionError, InvalidInputError, UnknownModelError
from facebridge.maps.linear import LinearMap

__all__ = [
    "Hub",
    "SharedSpace",
    "fit_hub",
    "fit_shared_space",
    "hub_from_covariances",
    "shared_space_from_covariances",
]

_WEIGHTINGS = ("corr", "sqrt-corr", "none")
_HUB_METHODS = ("maxvar", "gpa")


def _check_rows(X: np.ndarray, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] == 0:
        raise DimensionError(
            f"{name} must be 2-D (n, d), got shape {X.shape}; pass one embedding per row"
        )
    if X.shape[0] < 2:
        raise InvalidInputError(f"{name} needs at least 2 rows to fit, got {X.shape[0]}")
    if not np.isfinite(X).all():
        raise InvalidInputError(f"{name} holds NaN or infinite values; drop those rows first")
    return X


def _check_reg(reg: float) -> float:
    if not (np.isfinite(reg) and reg >= 0.0):
        raise InvalidInputError(
            f"reg must be a number >= 0, got {reg}; 0.1 is a good start, 0 is plain CCA"
        )
    return float(reg)


def _check_weighting(weighting: str) -> None:
    if weighting not in _WEIGHTINGS:
        raise InvalidInputError(f"weighting must be one of {_WEIGHTINGS}, got {weighting!r}")


def _check_hub_options(method: str, weighting: str, reg: float) -> float:
    """Validate a hub's ``method``, ``weighting`` and ``reg`` (in that order); return ``reg``."""
    if method not in _HUB_METHODS:
        raise InvalidInputError(f"method must be one of {_HUB_METHODS}, got {method!r}")
    _check_weighting(weighting)
    return _check_reg(reg)


def _inv_sqrt_shrunk(C: np.ndarray, reg: float) -> np.ndarray:
    """``(C + reg * mean(diag C) I)^(-1/2)`` of a symmetric PSD ``C`` (d, d)."""
    d = C.shape[0]
    Cs = C + reg * (np.trace(C) / d) * np.eye(d)
    w, V = np.linalg.eigh((Cs + Cs.T) / 2.0)
    floor = max(float(w.max()), 1e-300) * 1e-12
    return (V / np.sqrt(np.maximum(w, floor))) @ V.T


def _dim_weights(rho: np.ndarray, weighting: str) -> np.ndarray:
    rho = np.clip(rho, 0.0, None)
    if weighting == "corr":
        return rho
    if weighting == "sqrt-corr":
        return np.sqrt(rho)
    return np.ones_like(rho)


def _check_dim(dim: int | None, limit: int) -> int:
    if dim is None:
        return limit
    if isinstance(dim, bool) or int(dim) != dim or not 1 <= dim <= limit:
        raise InvalidInputError(f"dim must be an integer in [1, {limit}], got {dim!r}")
    return int(dim)


@dataclass(frozen=True)
class SharedSpace:
    """Two projections into a common space; unpacks as ``proj_a, proj_b = fit_shared_space(...)``.

    Attributes
    ----------
    proj_a : LinearMap
        Model A into the shared space, ``weight`` (d_a, dim).
    proj_b : LinearMap
        Model B into the shared space, ``weight`` (d_b, dim).
    correlations : ndarray, shape (dim,)
        Canonical correlations on the training rows (shrunk when ``reg > 0``), descending.
    """

    proj_a: LinearMap
    proj_b: LinearMap
    correlations: np.ndarray = field(repr=False)

    def __iter__(self) -> Iterator[LinearMap]:
        yield self.proj_a
        yield self.proj_b

    def score(self, xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
        """Row-wise cosine of ``proj_a(xa)`` (n, d_a) and ``proj_b(xb)`` (n, d_b); shape (n,)."""
        return _cosine(self.proj_a.apply(xa), self.proj_b.apply(xb))


def _cosine(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    num = np.sum(A * B, axis=1)
    den = np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def fit_shared_space(
    X: np.ndarray,
    Y: np.ndarray,
    dim: int | None = None,
    reg: float = 0.1,
    weighting: str = "corr",
) -> SharedSpace:
    """Fit a regularised-CCA shared space for two row-corresponding embedding sets.

    Parameters
    ----------
    X : ndarray, shape (n, d_a)
        Model A's embeddings of the training correspondences.
    Y : ndarray, shape (n, d_b)
        Model B's embeddings, row-corresponding to ``X``.
    dim : int, optional
        Shared dimensions kept (the top canonical pairs); default ``min(d_a, d_b)``.
    reg : float >= 0
        Covariance shrinkage before whitening.
    weighting : {"corr", "sqrt-corr", "none"}
        Scale of canonical dimension k: ``rho_k``, ``sqrt(rho_k)`` or 1 (whitened Procrustes).

    Returns
    -------
    SharedSpace
        ``proj_a``, ``proj_b`` (LinearMaps into R^dim) and the canonical ``correlations``.

    Raises
    ------
    DimensionError
        Arrays not 2-D or with different row counts.
    InvalidInputError
        Fewer than 2 rows, NaN/inf, ``reg``, ``dim`` or ``weighting`` out of range.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 6)); Y = X @ rng.normal(size=(6, 4))
    >>> proj_a, proj_b = fit_shared_space(X, Y, reg=0.0)
    >>> bool(np.allclose(proj_a.apply(X), proj_b.apply(Y)))
    True
    """
    X = _check_rows(X, "X")
    Y = _check_rows(Y, "Y")
    if X.shape[0] != Y.shape[0]:
        raise DimensionError(
            f"X has {X.shape[0]} rows but Y has {Y.shape[0]}; pass corresponding rows"
        )
    n = X.shape[0]
    mx, my = X.mean(axis=0), Y.mean(axis=0)
    Xc, Yc = X - mx, Y - my
    return shared_space_from_covariances(
        mx, my, Xc.T @ Xc / n, Yc.T @ Yc / n, Xc.T @ Yc / n, dim=dim, reg=reg, weighting=weighting
    )


def shared_space_from_covariances(
    mean_a: np.ndarray,
    mean_b: np.ndarray,
    cov_aa: np.ndarray,
    cov_bb: np.ndarray,
    cov_ab: np.ndarray,
    *,
    dim: int | None = None,
    reg: float = 0.1,
    weighting: str = "corr",
    whiten_a: np.ndarray | None = None,
    whiten_b: np.ndarray | None = None,
) -> SharedSpace:
    """:func:`fit_shared_space` from means and (cross-)covariances (the fast path).

    Parameters
    ----------
    mean_a : ndarray, shape (d_a,)
    mean_b : ndarray, shape (d_b,)
    cov_aa : ndarray, shape (d_a, d_a)
        ``Xc^T Xc / n`` of the training rows.
    cov_bb : ndarray, shape (d_b, d_b)
    cov_ab : ndarray, shape (d_a, d_b)
    dim, reg, weighting
        As :func:`fit_shared_space`.
    whiten_a, whiten_b : ndarray, optional
        Precomputed ``(cov + reg * mean(diag cov) I)^(-1/2)`` (shape (d, d)) to reuse across fits.

    Returns
    -------
    SharedSpace
    """
    reg = _check_reg(reg)
    _check_weighting(weighting)
    k = _check_dim(dim, min(cov_aa.shape[0], cov_bb.shape[0]))
    Wa = _inv_sqrt_shrunk(cov_aa, reg) if whiten_a is None else whiten_a
    Wb = _inv_sqrt_shrunk(cov_bb, reg) if whiten_b is None else whiten_b
    U, rho, Vt = np.linalg.svd(Wa @ cov_ab @ Wb, full_matrices=False)
    rho = np.clip(rho[:k], 0.0, 1.0)
    w = _dim_weights(rho, weighting)
    Pa = (Wa @ U[:, :k]) * w
    Pb = (Wb @ Vt[:k].T) * w
    return SharedSpace(
        LinearMap(weight=Pa, bias=-mean_a @ Pa), LinearMap(weight=Pb, bias=-mean_b @ Pb), rho
    )


@dataclass(frozen=True)
class Hub:
    """A canonical space shared by N models.

    Attributes
    ----------
    models : tuple of str
        The model keys, in fitting order.
    maps : dict of str to LinearMap
        ``maps[m].weight`` has shape (d_m, dim).
    correlations : ndarray, shape (dim,)
        Per hub dimension, the mean pairwise correlation of the models' projections on the
        training rows (MAXVAR: ``(lambda_k - 1) / (N - 1)``; GPA: measured after fitting).
    method : str
        ``"maxvar"`` or ``"gpa"``.
    n_iter : int
        Iterations used (GPA; 0 for MAXVAR).
    """

    models: tuple[str, ...]
    maps: dict[str, LinearMap]
    correlations: np.ndarray = field(repr=False)
    method: str = "maxvar"
    n_iter: int = 0

    @property
    def dim(self) -> int:
        """Hub dimension."""
        return int(next(iter(self.maps.values())).weight.shape[1])

    def _map(self, model: str) -> LinearMap:
        try:
            return self.maps[model]
        except KeyError:
            raise UnknownModelError(
                f"model {model!r} is not in this hub (has: {', '.join(self.models)}); "
                "refit the hub with it"
            ) from None

    def project(self, model: str, X: np.ndarray) -> np.ndarray:
        """Project ``model``'s embeddings ``X`` (n, d_m) into the hub; shape (n, dim)."""
        m = self._map(model)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != m.weight.shape[0]:
            raise DimensionError(
                f"{model} embeddings must have shape (n, {m.weight.shape[0]}), got {X.shape}"
            )
        return X @ m.weight + m.bias

    def compare(self, model_a: str, xa: np.ndarray, model_b: str, xb: np.ndarray) -> np.ndarray:
        """Row-wise cosine in the hub of ``xa`` (n, d_a) from ``model_a`` and ``xb`` (n, d_b)."""
        A = self.project(model_a, xa)
        B = self.project(model_b, xb)
        if A.shape[0] != B.shape[0]:
            raise DimensionError(f"xa has {A.shape[0]} rows but xb has {B.shape[0]}")
        return _cosine(A, B)


def fit_hub(
    embeddings: Mapping[str, np.ndarray],
    dim: int | None = None,
    reg: float = 0.1,
    weighting: str = "corr",
    method: str = "maxvar",
    n_iter: int = 100,
    tol: float = 1e-10,
) -> Hub:
    """Fit a canonical hub space for N models from row-corresponding embeddings.

    Parameters
    ----------
    embeddings : mapping of str to ndarray, shape (n, d_m)
        Each model's embeddings of the same n training items (rows correspond across models);
        at least two models.
    dim : int, optional
        Hub dimensions.  MAXVAR: default ``min(d_m)``; GPA: default (and maximum) ``max(d_m)``.
    reg : float >= 0
        MAXVAR covariance shrinkage before whitening (ignored by GPA).
    weighting : {"corr", "sqrt-corr", "none"}
        MAXVAR: scale hub dimension k by its mean pairwise correlation, its root, or 1.
        Ignored by GPA (rotations only).
    method : {"maxvar", "gpa"}
        Generalised CCA or generalised Procrustes (see the module docstring).
    n_iter, tol : int, float
        GPA iteration cap and relative-change stopping tolerance.

    Returns
    -------
    Hub

    Raises
    ------
    DimensionError
        Fewer than two models, arrays not 2-D, or different row counts.
    InvalidInputError
        Fewer than 2 rows, NaN/inf, or an option out of range.
    """
    reg = _check_hub_options(method, weighting, reg)
    if len(embeddings) < 2:
        raise DimensionError(f"a hub needs at least two models, got {len(embeddings)}")
    names = tuple(embeddings)
    Xs = [_check_rows(embeddings[m], f"embeddings[{m!r}]") for m in names]
    n = Xs[0].shape[0]
    if any(X.shape[0] != n for X in Xs):
        rows = {m: X.shape[0] for m, X in zip(names, Xs, strict=True)}
        raise DimensionError(f"rows must correspond across models, got row counts {rows}")
    means = [X.mean(axis=0) for X in Xs]
    Xc = [X - mu for X, mu in zip(Xs, means, strict=True)]
    cov = {(i, j): Xc[i].T @ Xc[j] / n for i in range(len(Xs)) for j in range(i, len(Xs))}
    return hub_from_covariances(
        names,
        means,
        cov,
        dim=dim,
        reg=reg,
        weighting=weighting,
        method=method,
        n_iter=n_iter,
        tol=tol,
    )


def hub_from_covariances(
    models: tuple[str, ...],
    means: list[np.ndarray],
    cov: Mapping[tuple[int, int], np.ndarray],
    *,
    dim: int | None = None,
    reg: float = 0.1,
    weighting: str = "corr",
    method: str = "maxvar",
    n_iter: int = 100,
    tol: float = 1e-10,
) -> Hub:
    """Fit a hub from per-model means and (cross-)covariance blocks (the fast path of fit_hub).

    Parameters
    ----------
    models : tuple of str, length N
    means : list of ndarray, shape (d_m,)
    cov : mapping (i, j) -> ndarray, shape (d_i, d_j), for ``i <= j``
        ``Xc_i^T Xc_j / n`` of the centred training rows.
    dim, reg, weighting, method, n_iter, tol
        As :func:`fit_hub`.

    Returns
    -------
    Hub
    """
    reg = _check_hub_options(method, weighting, reg)
    N = len(models)
    dims = [mu.shape[0] for mu in means]

    def block(i: int, j: int) -> np.ndarray:
        return cov[(i, j)] if i <= j else cov[(j, i)].T

    if method == "gpa":
        return _gpa(models, means, block, dims, dim, n_iter, tol)

    k = _check_dim(dim, min(dims))
    W = [_inv_sqrt_shrunk(block(i, i), reg) for i in range(N)]
    offs = np.concatenate([[0], np.cumsum(dims)])
    D = int(offs[-1])
    M = np.empty((D, D))
    for i in range(N):
        # Regularised MAXVAR: the whitened within-model blocks are taken as exactly I, so that
        # for N = 2 the hub is the regularised CCA of fit_shared_space.
        M[offs[i] : offs[i + 1], offs[i] : offs[i + 1]] = np.eye(dims[i])
        for j in range(i + 1, N):
            Bij = W[i] @ block(i, j) @ W[j]
            M[offs[i] : offs[i + 1], offs[j] : offs[j + 1]] = Bij
            M[offs[j] : offs[j + 1], offs[i] : offs[i + 1]] = Bij.T
    lam, E = scipy.linalg.eigh(M, subset_by_index=[D - k, D - 1])
    lam, E = lam[::-1], E[:, ::-1]
    corr = np.clip((lam - 1.0) / (N - 1), 0.0, 1.0)
    scale = np.sqrt(N) * _dim_weights(corr, weighting)
    maps: dict[str, LinearMap] = {}
    for i, name in enumerate(models):
        Wt = W[i] @ E[offs[i] : offs[i + 1]] * scale
        maps[name] = LinearMap(weight=Wt, bias=-means[i] @ Wt)
    return Hub(models=tuple(models), maps=maps, correlations=corr, method="maxvar", n_iter=0)


def _gpa(models, means, block, dims, dim, n_iter, tol) -> Hub:  # type: ignore[no-untyped-def]
    """Generalised Procrustes on centred, unit-Frobenius-scaled spaces (zero-padded)."""
    N = len(models)
    Dmax = max(dims)
    k = _check_dim(dim, Dmax)
    norms = [float(np.sqrt(max(np.trace(block(i, i)), 1e-300))) for i in range(N)]

    def cross(i: int, j: int) -> np.ndarray:
        return block(i, j) / (norms[i] * norms[j])

    # R[i]: (d_i, Dmax) with orthonormal rows; start at the identity (zero-padded).
    R = [np.eye(d, Dmax) for d in dims]
    prev = np.inf
    used = 0
    for it in range(1, max(int(n_iter), 1) + 1):
        used = it
        for i in range(N):
            # Align model i to the consensus of the others: argmax tr(R_i^T X_i^T sum_j X_j R_j).
            T = sum(cross(i, j) @ R[j] for j in range(N) if j != i)
            U, _, Vt = np.linalg.svd(T, full_matrices=False)
            R[i] = U @ Vt
        # Residual sum of squares to the consensus (up to a constant): -sum_{i<j} tr(...)
        fit = -sum(
            float(np.trace(R[i].T @ cross(i, j) @ R[j])) for i in range(N) for j in range(i + 1, N)
        )
        if abs(prev - fit) <= tol * max(1.0, abs(fit)):
            break
        prev = fit
    # Hub axes: principal axes of the consensus, truncated to k.
    G = (
        sum(R[i].T @ cross(i, j) @ R[j] for i in range(N) for j in range(N)) / N**2
    )  # consensus covariance (Dmax, Dmax)
    w, P = np.linalg.eigh((G + G.T) / 2.0)
    P = P[:, np.argsort(w)[::-1][:k]]
    maps: dict[str, LinearMap] = {}
    proj_var = []
    for i, name in enumerate(models):
        Wt = R[i] @ P / norms[i]
        maps[name] = LinearMap(weight=Wt, bias=-means[i] @ Wt)
        proj_var.append(np.einsum("ak,ab,bk->k", Wt, block(i, i), Wt))
    corr = np.zeros(k)
    pairs = 0
    for i in range(N):
        for j in range(i + 1, N):
            cij = np.einsum(
                "ak,ab,bk->k", maps[models[i]].weight, block(i, j), maps[models[j]].weight
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                corr += np.nan_to_num(cij / np.sqrt(proj_var[i] * proj_var[j]))
            pairs += 1
    return Hub(
        models=tuple(models), maps=maps, correlations=corr / pairs, method="gpa", n_iter=used
    )
