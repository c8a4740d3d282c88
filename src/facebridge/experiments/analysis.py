"""``run_analysis``: everything the report shows, as the ``results.json`` payload.

One call computes the native accuracies, the cross-model matrix with unmapped accuracies, the
rank sweep (sharing the matrix pass), the pairs-needed sweep, and ROC summaries of every native
and mapped comparison, all with the fast exact paths.  The defaults and the checks of every
setting are those of :class:`facebridge.contracts.AnalysisSettings`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from facebridge.contracts import AnalysisSettings
from facebridge.experiments.core import PairData, _row_cosine
from facebridge.experiments.matrix import matrix_and_ranks
from facebridge.experiments.sweeps import pairs_sweep
from facebridge.metrics import eer, roc, roc_auc, tar_at_far
from facebridge.vocabulary import ONE_POINT, Progress, map_key

__all__ = ["MISSING_POLICY", "roc_summary", "run_analysis"]

_DEFAULT = AnalysisSettings()

#: How pairs with a missing embedding are treated (also written into the settings).
MISSING_POLICY = (
    "error-decided: a pair whose image has no embedding in some model is never used for "
    "fitting or threshold choice and counts as an error in its fold's accuracy"
)

#: Largest number of ROC operating points kept per curve in results.json.
ROC_POINTS = 200


def roc_summary(
    scores: np.ndarray, genuine: np.ndarray, points: int = ROC_POINTS
) -> dict[str, Any]:
    """AUC, EER, TAR at FAR 1e-2 / 1e-3 and a thinned ROC curve (at most ``points`` operating
    points, log-spaced in FMR, always keeping both ends)."""
    curve = roc(scores, genuine)
    fmr, tar = np.asarray(curve.fmr), np.asarray(curve.tar)
    if fmr.size > points:
        grid = np.concatenate(([0.0], np.logspace(-4, 0, points - 2)))
        idx = np.searchsorted(fmr, grid, side="right") - 1
        idx = np.unique(np.clip(np.concatenate(([0], idx, [fmr.size - 1])), 0, fmr.size - 1))
        fmr, tar = fmr[idx], tar[idx]
    return {
        "auc": roc_auc(scores, genuine),
        "eer": eer(scores, genuine),
        "tar_at_far_1e-2": tar_at_far(scores, genuine, 1e-2),
        "tar_at_far_1e-3": tar_at_far(scores, genuine, 1e-3),
        "fmr": [float(x) for x in fmr],
        "tar": [float(x) for x in tar],
    }


def _timed(timings: dict[str, float], name: str, t0: float, c0: float) -> None:
    """Record the wall and CPU seconds since ``t0`` / ``c0`` as ``name_s`` and ``name_cpu_s``."""
    timings[f"{name}_s"] = time.perf_counter() - t0
    timings[f"{name}_cpu_s"] = time.process_time() - c0


def run_analysis(
    data: PairData,
    n_points: int = _DEFAULT.n_points,
    n_draws: int = _DEFAULT.n_draws,
    ranks: Sequence[int] | None = _DEFAULT.ranks,
    alpha: float = _DEFAULT.alpha,
    correspondence: str = _DEFAULT.correspondence,
    seed: int = _DEFAULT.seed,
    progress: Progress | None = None,
    *,
    pairs: bool = _DEFAULT.pairs,
    roc_curves: bool = _DEFAULT.roc_curves,
    n_jobs: int | None = _DEFAULT.n_jobs,
    device: str | None = _DEFAULT.device,
) -> dict[str, Any]:
    """The full cross-model analysis as the ``results.json`` payload (docs/ARCHITECTURE.md).

    Parameters
    ----------
    data : PairData
        At least two models.
    n_points, n_draws, seed
        The pairs-needed sweep (:func:`facebridge.experiments.pairs_sweep`): 100 values of p,
        one random subset per fold (the paper's sweep).
    ranks : sequence of int, optional
        The rank sweep; default ``(1, 2, 4, ..., full)`` per map.
    alpha : float
        Ridge strength (paper: 1).
    correspondence : {"matched-pairs", "same-image"}
    progress : callable ``(stage, done, total)``, optional
        Called as work advances; stages ``"matrix"``, ``"pairs sweep"``, ``"roc"``.
    pairs : bool
        Run the pairs sweep (``"pairs_sweep"`` is ``None`` otherwise).
    roc_curves : bool
        Compute the ``"roc"`` summaries.
    n_jobs : int, optional
        Worker threads (default: the CPUs available); results do not depend on it.
    device : str, optional
        ``None``: numpy.  ``"cpu"``, ``"cuda"`` or ``"cuda:N"``: the matrix and the rank sweep
        in torch (float64) on that device, equal to numpy's numbers to rounding
        (:func:`facebridge.experiments.matrix_and_ranks`).

    Returns
    -------
    dict
        ``models``, ``dims``, ``native`` ({model: accuracy, std, per_fold}), ``matrix`` (list of
        {source, target, accuracy, std, per_fold, unmapped_accuracy, unmapped_std}),
        ``pairs_sweep`` ({"A->B": {p, accuracy, std, full_accuracy, p_within_1pt}}; ``None`` when
        ``pairs=False``),
        ``rank_sweep`` ({"A->B": {rank, accuracy, std, singular_values}}), ``roc``
        ({"A->B" or "A->A": {auc, eer, tar_at_far_1e-2, tar_at_far_1e-3, fmr, tar}}, computed on
        the out-of-fold scores: each pair scored by the map fitted without its fold),
        ``missing`` (number of invalid pairs) and ``settings`` (everything needed to rerun,
        plus timings).

    Raises
    ------
    InvalidInputError
        Fewer than two models, bad settings, no valid pair, a CUDA device that torch does not
        see.

    Examples
    --------
    >>> import tempfile
    >>> from facebridge.experiments import pair_data
    >>> from facebridge.store import EmbeddingStore
    >>> from facebridge.testing import make_synthetic_protocol, make_synthetic_store
    >>> protocol = make_synthetic_protocol(n_folds=2, n_genuine=8, n_impostor=8)
    >>> root = tempfile.mkdtemp()
    >>> _ = make_synthetic_store(root, protocol, dims={"a": 8, "b": 6})
    >>> data = pair_data(EmbeddingStore(root), protocol, ["a", "b"])
    >>> res = run_analysis(data, n_points=4, roc_curves=False)
    >>> [c["source"] + "->" + c["target"] for c in res["matrix"]]
    ['a->b', 'b->a']
    """
    rk = None if ranks is None else tuple(ranks)
    AnalysisSettings(
        n_points,
        n_draws,
        alpha,
        correspondence,
        seed,
        rk,
        pairs,
        roc_curves,
        n_jobs=n_jobs,
        device=device,
    )
    timings: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    kw: dict[str, Any] = {"alpha": alpha, "correspondence": correspondence, "n_jobs": n_jobs}
    matrix, rank = matrix_and_ranks(data, ranks=ranks, progress=progress, device=device, **kw)
    _timed(timings, "matrix_and_ranks", t0, c0)
    sweep: dict[str, Any] | None = None
    stats: dict[str, Any] = {}
    if pairs:
        t1, c1 = time.perf_counter(), time.process_time()
        full = {key: fa.mean for key, fa in matrix.mapped.items()}
        res = pairs_sweep(
            data,
            n_points,
            n_draws,
            seed,
            full_accuracy=full,
            progress=progress,
            stats=stats,
            device=device,
            **kw,
        )
        sweep = {k: v.to_dict() for k, v in res.items()}
        _timed(timings, "pairs_sweep", t1, c1)
    roc_out: dict[str, Any] = {}
    if roc_curves:
        t2 = time.perf_counter()
        v = data.valid
        g = data.genuine[v]
        keys = [(a, b) for a in data.models for b in data.models]
        for i, (a, b) in enumerate(keys):
            if a == b:
                s = _row_cosine(data.left[a][v].astype(float), data.right[a][v].astype(float))
            else:
                s = matrix.oof_scores[(a, b)][v]
            roc_out[map_key(a, b)] = roc_summary(s, g)
            if progress is not None:
                progress("roc", i + 1, len(keys))
        timings["roc_s"] = time.perf_counter() - t2
    _timed(timings, "total", t0, c0)
    settings: dict[str, Any] = {
        "protocol": data.name,
        "n_pairs": data.n_pairs,
        "n_folds": data.n_folds,
        "map": "ridge",
        "alpha": float(alpha),
        "fit_intercept": True,
        "correspondence": correspondence,
        "orientation": "left->right",
        "score": "cosine",
        "threshold": "best accuracy on the training folds; genuine iff score >= threshold",
        "std": "population std over folds (ddof=0)",
        "n_points": int(n_points),
        "n_draws": int(n_draws),
        "seed": int(seed),
        "pairs_sweep": "nested random subsets per fold and draw; threshold on all training pairs",
        "one_point": ONE_POINT,
        "ranks": None if ranks is None else [int(r) for r in ranks],
        "missing_policy": MISSING_POLICY,
        "failures": {m: len(f) for m, f in data.failures.items()},
        "device": "numpy" if device is None else str(device),
        "timings": timings,
    }
    if stats:
        settings["pairs_sweep_max_drift"] = stats.get("max_drift")
        settings["pairs_sweep_exact_reruns"] = stats.get("exact_reruns")
    return {
        "models": list(data.models),
        "dims": dict(data.dims),
        "native": {
            m: {"accuracy": r.mean, "std": r.std, "per_fold": [float(x) for x in r.per_fold]}
            for m, r in matrix.native.items()
        },
        "matrix": matrix.records(),
        "pairs_sweep": sweep,
        "rank_sweep": {k: v.to_dict() for k, v in rank.items()},
        "roc": roc_out,
        "missing": data.n_missing,
        "settings": settings,
    }
