"""Linear maps between embedding spaces: pure functions and sklearn-compatible estimators.

See docs/ARCHITECTURE.md (``facebridge.maps``).  ``maps.cv`` and ``maps.shared`` are imported
directly, not re-exported here.
"""

from __future__ import annotations

from facebridge.maps.estimators import LowRankMap, LstsqMap, ProcrustesMap, RidgeMap
from facebridge.maps.linear import (
    LinearMap,
    check_rank,
    fit_low_rank,
    fit_lstsq,
    fit_procrustes,
    fit_ridge,
)

__all__ = [
    "LinearMap",
    "LowRankMap",
    "LstsqMap",
    "ProcrustesMap",
    "RidgeMap",
    "check_rank",
    "fit_low_rank",
    "fit_lstsq",
    "fit_procrustes",
    "fit_ridge",
]
