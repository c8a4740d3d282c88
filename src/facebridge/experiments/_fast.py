"""Private float64 kernels of the fast exact experiment paths: the pair scores from the mapped
*distinct* left items, and the leading right singular vectors of a map weight (the fold scorer
is :class:`facebridge.metrics.verification.FoldScorer`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facebridge.experiments.core import Items, PairData

__all__ = [
    "LeftIndex",
    "RightParts",
    "top_right_singular",
]


@dataclass(frozen=True)
class LeftIndex:
    """Distinct left items: mapping the ``u`` distinct rows once serves all ``n`` pairs."""

    rows: np.ndarray  # (u,) a pair index holding each distinct left item
    inverse: np.ndarray  # (n,) pair -> distinct row

    @classmethod
    def of(cls, data: PairData, side: str = "left") -> LeftIndex:
        """Distinct items of the pairs' ``side`` ("left" or "right"), told apart as
        :class:`~facebridge.experiments.core.Items` does."""
        it = Items.of(data)
        _, rows, inv = np.unique(
            it.left if side == "left" else it.right, return_index=True, return_inverse=True
        )
        inv = inv.reshape(-1)
        emb = data.left if side == "left" else data.right
        # one id must carry one vector in every model (true for pair_data); else no sharing
        if all(np.array_equal(emb[m][rows][inv], emb[m]) for m in data.models):
            return cls(rows, inv)
        return cls(np.arange(data.n_pairs), np.arange(data.n_pairs))


def top_right_singular(W: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """All singular values (descending, ``(min(d_a, d_b),)``) and the ``k`` leading right
    singular vectors ``(d_b, k)`` of ``W``.

    Computed from the eigen-decomposition of the smaller Gram matrix (``W^T W`` or ``W W^T``),
    exact to rounding for the leading directions and several times faster than a full SVD.
    Signs are arbitrary (they cancel in every score).
    """
    d_a, d_b = W.shape
    r = min(d_a, d_b)
    k = max(0, min(k, r))
    if d_b <= d_a:
        lam, V = np.linalg.eigh(W.T @ W)  # numpy releases the GIL, scipy does not
        s = np.sqrt(np.maximum(lam[::-1], 0.0))
        V = np.ascontiguousarray(V[:, ::-1][:, :k])
    else:
        lam, U = np.linalg.eigh(W @ W.T)
        s = np.sqrt(np.maximum(lam[::-1], 0.0))
        U = U[:, ::-1][:, :k]
        V = W.T @ U
        V /= np.where(s[:k] > 0, s[:k], 1.0)
    return s, V


class RightParts:
    """Per model, the right embeddings of the pairs split as :meth:`cosines` and the pairs
    sweep read them (pairs that first use their left item / the other pairs, the latter grouped
    by left item) with their norms; built once and shared by every source."""

    def __init__(self, left: LeftIndex, right: dict[str, np.ndarray]) -> None:
        n = left.inverse.size
        self.first = left.rows  # pair index of each distinct row's first use
        is_first = np.zeros(n, dtype=bool)
        is_first[self.first] = True
        extra = np.flatnonzero(~is_first)
        # grouped by distinct row (stable), so a block of rows has a contiguous run of extras
        self.extra = extra[np.argsort(left.inverse[extra], kind="stable")]
        self.extra_row = left.inverse[self.extra]
        self.u = int(left.rows.size)
        self.n_pairs = n
        self.R_first = {m: np.ascontiguousarray(r[self.first]) for m, r in right.items()}
        self.R_extra = {m: np.ascontiguousarray(r[self.extra]) for m, r in right.items()}
        yn = {m: np.linalg.norm(r, axis=1) for m, r in right.items()}
        self.yn_first = {m: v[self.first] for m, v in yn.items()}
        self.yn_extra = {m: v[self.extra] for m, v in yn.items()}

    def cosines(self, M: np.ndarray, target: str, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` ``(n_pairs,)`` with the cosine of every pair from ``M`` ``(u, d_b)``,
        the distinct left items mapped into ``target``'s space; zero-norm rows score 0."""
        nrm = np.sqrt(np.vecdot(M, M))
        num = np.vecdot(M, self.R_first[target])
        den = nrm * self.yn_first[target]
        out[self.first] = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        if self.extra.size:
            num_e = np.vecdot(M[self.extra_row], self.R_extra[target])
            den_e = nrm[self.extra_row] * self.yn_extra[target]
            out[self.extra] = np.divide(num_e, den_e, out=np.zeros_like(num_e), where=den_e > 0)
        return np.clip(out, -1.0, 1.0, out=out)
