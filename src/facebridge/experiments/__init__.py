"""Cross-model experiments: pair data, the cross-model matrix, the pairs and rank sweeps.

See docs/ARCHITECTURE.md (``facebridge.experiments``).  ``experiments.privacy``,
``experiments.compare`` and ``experiments.equivalence`` are imported directly, not re-exported.
"""

from __future__ import annotations

from facebridge.experiments.analysis import MISSING_POLICY, roc_summary, run_analysis
from facebridge.experiments.core import (
    CORRESPONDENCES,
    SCORES,
    Fitter,
    PairData,
    fold_accuracy_from_rows,
    mapped_accuracy,
    mapped_scores,
    native_accuracy,
    pair_data,
    pair_data_from_arrays,
    training_correspondences,
    unmapped_accuracy,
)
from facebridge.experiments.matrix import (
    MAP_KINDS,
    MatrixResult,
    RankResult,
    cross_model_matrix,
    default_ranks,
    matrix_and_ranks,
    rank_sweep,
)
from facebridge.experiments.sweeps import SweepResult, p_grid, pairs_sweep

__all__ = [
    "CORRESPONDENCES",
    "MAP_KINDS",
    "MISSING_POLICY",
    "SCORES",
    "Fitter",
    "MatrixResult",
    "PairData",
    "RankResult",
    "SweepResult",
    "cross_model_matrix",
    "default_ranks",
    "fold_accuracy_from_rows",
    "mapped_accuracy",
    "mapped_scores",
    "matrix_and_ranks",
    "native_accuracy",
    "p_grid",
    "pair_data",
    "pair_data_from_arrays",
    "pairs_sweep",
    "rank_sweep",
    "roc_summary",
    "run_analysis",
    "training_correspondences",
    "unmapped_accuracy",
]
