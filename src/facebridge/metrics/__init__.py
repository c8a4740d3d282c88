"""Verification metrics on genuine / impostor scores.

See docs/ARCHITECTURE.md (``facebridge.metrics``).  ``metrics.linkability``,
``metrics.identification`` and ``metrics.similarity`` are imported directly, not re-exported here.
"""

from __future__ import annotations

from facebridge.metrics.curves import RocCurve, eer, roc, roc_auc, tar_at_far
from facebridge.metrics.verification import (
    FoldAccuracy,
    FoldScorer,
    accuracy_at,
    best_threshold,
    cosine_score,
    fmr,
    fnmr,
    kfold_accuracy,
    kfold_accuracy_batch,
)

__all__ = [
    "FoldAccuracy",
    "FoldScorer",
    "RocCurve",
    "accuracy_at",
    "best_threshold",
    "cosine_score",
    "eer",
    "fmr",
    "fnmr",
    "kfold_accuracy",
    "kfold_accuracy_batch",
    "roc",
    "roc_auc",
    "tar_at_far",
]
