"""Cross-model experiments: pair data, the cross-model matrix, the pairs and rank sweeps.

See docs/ARCHITECTURE.md (``facebridge.experiments``).  ``experiments.privacy``,
``experiments.compare`` and ``experiments.equivalence`` are imported directly, not re-exported.
"""

from __future__ import annotations

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

__all__ = [
    "CORRESPONDENCES",
    "SCORES",
    "Fitter",
    "PairData",
    "fold_accuracy_from_rows",
    "mapped_accuracy",
    "mapped_scores",
    "native_accuracy",
    "pair_data",
    "pair_data_from_arrays",
    "training_correspondences",
    "unmapped_accuracy",
]
