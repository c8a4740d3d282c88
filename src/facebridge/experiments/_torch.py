"""The analysis on a torch device (CPU or CUDA), float64.

* :func:`run_matrix`: the cross-model matrix and the rank sweep -- the same fold maps as
  :mod:`facebridge.experiments.matrix` (ridge from the per-fold-block moments, one solve per
  source and fold for every target), the same mapped items, cosine scores and rank truncations
  (leading right singular vectors from the eigen-decomposition of the smaller Gram matrix of the
  weight).  Map kinds other than ridge (and ridge with ``alpha = 0``) are fitted by the numpy
  code; their mapping and scoring still run on the device.
* :class:`PathScorer`: the pairs sweep's mapped items and scores along each update path.
* :func:`compare_engine`: compare-maps' fold moments, projections and pair scores.

Thresholds, accuracies and result objects come from the numpy code (:class:`FoldScorer`,
``_Tally``), on the CPU.  The numbers equal the numpy path's to rounding (tested to 1e-9).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from facebridge.errors import InvalidInputError
from facebridge.experiments._fast import LeftIndex
from facebridge.experiments.core import PairData, correspondences
from facebridge.experiments.matrix import _Tally, fold_maps
from facebridge.maps.moments import Moments, ridge_from_moments
from facebridge.metrics import FoldScorer
from facebridge.optional import require, torch_device
from facebridge.vocabulary import Progress

__all__ = ["PathScorer", "run_matrix", "torch_threads"]


def run_matrix(
    data: PairData,
    alpha: float,
    correspondence: str,
    kind: str,
    symmetric_pairs: bool,
    ranks: Sequence[int] | bool | None,
    progress: Progress | None,
    device: str,
    n_jobs: int | None = None,
) -> tuple[dict[tuple[str, str], np.ndarray], dict, dict]:
    """``(oof_scores, mapped, rank results)`` as the numpy engine of
    :mod:`facebridge.experiments.matrix` returns them, computed on ``device``.

    ``ranks``: ``False`` for no rank sweep, ``True`` for the default ranks, or a sequence.
    ``n_jobs``: torch's CPU threads during the run (default 1 on the CPU).

    Raises
    ------
    InvalidInputError
        A bad device, or a fold without a training correspondence.
    MissingDependencyError
        torch is not installed.
    """
    with torch_threads(device, n_jobs) as dev:
        torch = require("torch")
        k = data.n_folds
        corr = correspondences(data, correspondence, symmetric=symmetric_pairs)
        left = LeftIndex.of(data)
        inv = torch.as_tensor(left.inverse, device=dev)
        scorers = [FoldScorer(data.genuine, data.folds, data.valid, f) for f in range(k)]
        R = {m: torch.as_tensor(data.right[m].astype(np.float64), device=dev) for m in data.models}
        Rn = {m: torch.linalg.vector_norm(r, dim=1) for m, r in R.items()}
        bits = torch.as_tensor(corr.bits.astype(np.int64), device=dev)
        keys = np.unique(corr.bits.astype(np.int64))
        tally = _Tally(data, ranks)
        n_src = len(data.models)
        done = 0
        for a in data.models:
            targets = [b for b in data.models if b != a]
            offs = np.concatenate(([0], np.cumsum([data.dim(b) for b in targets])))
            L = torch.as_tensor(data.left[a][left.rows].astype(np.float64), device=dev)
            maps = _fold_maps(torch, dev, data, corr, bits, keys, a, targets, alpha, kind)
            for f in range(k):
                W, bias = maps[f]
                M = L @ W
                M += bias
                rows: list[Any] = []
                spans: list[tuple[int, int]] = []
                svals: list[np.ndarray] = []
                for j, b in enumerate(targets):
                    sl = slice(int(offs[j]), int(offs[j + 1]))
                    Mb = M[:, sl]
                    start = len(rows)
                    rows.append(_cosine(torch, Mb, inv, R[b], Rn[b]))
                    if tally.sweep:
                        s, extra = _rank_scores(
                            torch, L, Mb, W[:, sl], bias[sl], R[b], Rn[b], inv, tally.ranks[(a, b)]
                        )
                        rows.extend(extra)
                        svals.append(s)
                    spans.append((start, len(rows)))
                S = torch.stack(rows).cpu().numpy()
                acc, thr = scorers[f](S)
                tally.add(a, targets, f, acc, thr, spans, [S[s0] for s0, _ in spans], svals)
                done += 1
                if progress is not None:
                    progress("matrix", done, n_src * k)
        return tally.results()


def _fold_maps(
    torch: Any,
    dev: Any,
    data: PairData,
    corr: Any,
    bits: Any,
    keys: np.ndarray,
    source: str,
    targets: list[str],
    alpha: float,
    kind: str,
) -> list[tuple[Any, Any]]:
    """Every test fold's ``(W (d_a, sum d_b), bias)`` on the device: ridge solved there from
    the per-block moments (training moments of fold ``f`` = total - the blocks within ``{f}``)."""
    k = data.n_folds
    if kind != "ridge" or alpha <= 0:
        return [
            (torch.as_tensor(W, device=dev), torch.as_tensor(b, device=dev))
            for W, b in fold_maps(data, corr, source, targets, alpha, kind)
        ]
    f64 = torch.float64
    X = torch.as_tensor(corr.source(source), dtype=f64, device=dev)
    Y = torch.cat([torch.as_tensor(corr.target(t), dtype=f64, device=dev) for t in targets], 1)
    blocks = []
    for key in keys:
        r = torch.nonzero(bits == int(key)).reshape(-1)
        Xb, Yb = X[r], Y[r]
        blocks.append((int(r.numel()), Xb.sum(0), Yb.sum(0), Xb.T @ Xb, Xb.T @ Yb))
    n_t = sum(b[0] for b in blocks)
    tot = [sum(b[i] for b in blocks) for i in range(1, 5)]
    d_a = X.shape[1]
    eye = torch.eye(d_a, dtype=f64, device=dev)
    out = []
    for f in range(k):
        within = [i for i, key in enumerate(keys) if int(key) & ~(1 << f) == 0]
        n = n_t - sum(blocks[i][0] for i in within)
        if n == 0:
            raise InvalidInputError(
                f"fold {f + 1} has no training correspondence for {source}; every other fold "
                f"lacks valid genuine pairs"
            )
        sx, sy, xx, xy = (t - sum(blocks[i][j + 1] for i in within) for j, t in enumerate(tot))
        mx, my = sx / n, sy / n
        A = xx - torch.outer(sx, sx / n) + alpha * eye
        B = xy - torch.outer(sx, my)
        W = torch.linalg.solve(A, B)
        if not bool(torch.isfinite(W).all()):  # pragma: no cover - singular despite alpha > 0
            m = Moments(n, *(v.cpu().numpy() for v in (sx, sy, xx, xy)))
            W = torch.as_tensor(ridge_from_moments(m, alpha)[0], device=dev)
        out.append((W, my - mx @ W))
    return out


def _cosine(torch: Any, Mb: Any, inv: Any, R: Any, Rn: Any) -> Any:
    """Cosine of each pair's mapped left item (row ``inv`` of ``Mb``) with its right item;
    zero-norm rows score 0."""
    num = torch.sum(Mb[inv] * R, dim=1)
    den = torch.linalg.vector_norm(Mb, dim=1)[inv] * Rn
    out = torch.where(den > 0, num / torch.where(den > 0, den, 1.0), 0.0)
    return out.clamp_(-1.0, 1.0)


def _top_right_singular(torch: Any, W: Any, k: int) -> tuple[Any, Any]:
    """As :func:`facebridge.experiments._fast.top_right_singular`, in torch."""
    d_a, d_b = W.shape
    k = max(0, min(k, min(d_a, d_b)))
    if d_b <= d_a:
        lam, V = torch.linalg.eigh(W.T @ W)
        s = torch.sqrt(torch.clamp(lam.flip(0), min=0.0))
        return s, V.flip(1)[:, :k]
    lam, U = torch.linalg.eigh(W @ W.T)
    s = torch.sqrt(torch.clamp(lam.flip(0), min=0.0))
    V = W.T @ U.flip(1)[:, :k]
    return s, V / torch.where(s[:k] > 0, s[:k], 1.0)


def _rank_scores(
    torch: Any,
    L: Any,
    Mb: Any,
    Wb: Any,
    bias: Any,
    R: Any,
    Rn: Any,
    inv: Any,
    ranks: tuple[int, ...],
) -> tuple[np.ndarray, list[Any]]:
    """Singular values of ``Wb`` and the pair scores of its truncations to the ranks below
    full (the identities of :mod:`facebridge.experiments.matrix`'s docstring)."""
    full = min(Wb.shape)
    partial = [r for r in ranks if r < full]
    kmax = max(partial, default=0)
    s, V = _top_right_singular(torch, Wb, kmax)
    if kmax == 0:
        return s.cpu().numpy(), []
    d_a, d_b = Wb.shape
    beta = bias @ V
    P = Mb @ V if d_b <= d_a else L @ (Wb @ V) + beta  # (u, kmax) = m V
    cols = torch.as_tensor([r - 1 for r in partial], device=P.device)
    nrm = torch.cumsum(P * P - beta * beta, dim=1)[:, cols][inv]  # (n, ranks)
    nrm = torch.sqrt(torch.clamp(nrm + bias @ bias, min=0.0)) * Rn[:, None]
    num = torch.cumsum((P - beta)[inv] * (R @ V), dim=1)[:, cols] + (R @ bias)[:, None]
    out = torch.where(nrm > 0, num / torch.where(nrm > 0, nrm, 1.0), 0.0).clamp_(-1.0, 1.0)
    return s.cpu().numpy(), list(out.T)


class PathScorer:
    """The pairs sweep's scores along an update path on ``device``: the drop-in for
    :class:`facebridge.experiments.sweeps._BlockScorer` (same call, same scores to rounding).

    The path itself (:func:`facebridge.experiments.sweeps._woodbury_path`, ``(d_a + 1)``-sized
    updates) stays in numpy; the mapped distinct left items ``u x sum d_b``, their updates
    ``M <- M + (L~ F) E`` and the cosines of every pair at every step -- most of the flops --
    run in torch, float64.

    Parameters
    ----------
    parts : RightParts
        The right embeddings of the pairs, split by their left item's first use.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """

    def __init__(self, parts: Any, device: str) -> None:
        self.torch = require("torch")
        self.dev = torch_device(device, "the pairs sweep")
        self.first = parts.first
        n = parts.n_pairs
        inv = np.empty(n, dtype=np.int64)
        inv[parts.first] = np.arange(parts.u)
        inv[parts.extra] = parts.extra_row
        self.inv = self.torch.as_tensor(inv, device=self.dev)
        self.parts = parts
        self._right: dict[tuple[str, ...], tuple[Any, Any, Any]] = {}

    def _right_side(self, targets: Sequence[str]) -> tuple[Any, Any, Any]:
        """``(R (n, sum d_b), norms (n, T), segment indicator (sum d_b, T))`` on the device."""
        key = tuple(targets)
        if key not in self._right:
            torch, p = self.torch, self.parts
            n, T = p.n_pairs, len(targets)
            dims = [p.R_first[b].shape[1] for b in targets]
            R = np.empty((n, sum(dims)))
            yn = np.empty((n, T))
            seg = np.zeros((sum(dims), T))
            c = 0
            for j, (b, d) in enumerate(zip(targets, dims, strict=True)):
                R[p.first, c : c + d], R[p.extra, c : c + d] = p.R_first[b], p.R_extra[b]
                yn[p.first, j], yn[p.extra, j] = p.yn_first[b], p.yn_extra[b]
                seg[c : c + d, j] = 1.0
                c += d
            self._right[key] = tuple(torch.as_tensor(a, device=self.dev) for a in (R, yn, seg))
        return self._right[key]

    def __call__(self, L1u: np.ndarray, upd: Any, targets: Sequence[str]) -> np.ndarray:
        """Scores ``(n_steps, T, n_pairs)`` after ``W0`` and after each update step."""
        torch, dev = self.torch, self.dev
        R, yn, seg = self._right_side(targets)
        L = torch.as_tensor(L1u, device=dev)
        M = L @ torch.as_tensor(upd.W0, device=dev)
        G = L @ torch.as_tensor(upd.F, device=dev)  # (u, sum c): every step's L~ F
        E = torch.as_tensor(upd.E, device=dev)
        cols = [int(c) for c in upd.cols]
        out = torch.empty((len(cols), len(targets), self.inv.numel()), dtype=M.dtype, device=dev)
        for s in range(len(cols)):
            if s:
                M.addmm_(G[:, cols[s - 1] : cols[s]], E[cols[s - 1] : cols[s]])
            nrm = torch.sqrt((M * M) @ seg)[self.inv]  # (n, T)
            num = (M[self.inv] * R) @ seg
            den = nrm * yn
            out[s] = torch.where(den > 0, num / torch.where(den > 0, den, 1.0), 0.0).T
        return out.clamp_(-1.0, 1.0).cpu().numpy()


class torch_threads:
    """Context: torch's CPU threads ``n_jobs`` (default 1 on the CPU, the numpy path's single-
    threaded BLAS per worker) while the block runs; restored after."""

    def __init__(self, device: str, n_jobs: int | None = None) -> None:
        self.device, self.n_jobs = device, n_jobs

    def __enter__(self) -> Any:
        dev = torch_device(self.device, "the analysis")
        self.torch = require("torch")
        self.saved = self.torch.get_num_threads()
        if self.n_jobs is not None:
            self.torch.set_num_threads(int(self.n_jobs))
        elif dev.type == "cpu":
            self.torch.set_num_threads(1)
        return dev

    def __exit__(self, *exc: object) -> None:
        self.torch.set_num_threads(self.saved)


def compare_engine(data: PairData, settings: Any, device: str) -> Any:
    """The engine of :func:`facebridge.experiments.compare.compare_maps` with the projection of
    every image through each fitted map and the pair cosines on ``device``, in the precision of
    the settings (in float64 the numpy engine's scores to rounding).  The fold moments and the
    maps stay in numpy.

    Raises
    ------
    InvalidInputError
        A bad device.
    MissingDependencyError
        torch is not installed.
    """
    from facebridge.experiments.compare import _Engine

    torch = require("torch")
    dev = torch_device(device, "compare-maps")
    dtype = getattr(torch, settings.precision)

    class _TorchEngine(_Engine):
        def __init__(self) -> None:
            super().__init__(data, settings)
            it = self.it
            it.Z = [torch.as_tensor(z, device=dev) for z in it.Z]
            it.Zn = [
                z / torch.linalg.vector_norm(z, dim=1, keepdim=True).clamp(1e-30) for z in it.Z
            ]
            L, R = it.items.left, it.items.right
            self.pv = np.flatnonzero(L >= 0)
            self.lv = torch.as_tensor(L[self.pv], device=dev)
            self.rv = torch.as_tensor(R[self.pv], device=dev)

        def _project(self, j: int, m: Any) -> Any:
            if m is None:
                return self.it.Zn[j]
            W = torch.tensor(m.weight, dtype=dtype, device=dev)
            P = self.it.Z[j] @ W + torch.tensor(m.bias, dtype=dtype, device=dev)
            return P / torch.linalg.vector_norm(P, dim=1, keepdim=True).clamp(1e-30)

        def _pair_cos(self, A: Any, B: Any) -> np.ndarray:
            out = np.zeros(self.data.n_pairs)
            cos = torch.sum(A[self.lv].double() * B[self.rv].double(), dim=1)
            out[self.pv] = cos.cpu().numpy()
            return out

    return _TorchEngine()
