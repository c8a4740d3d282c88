"""Linear maps between embedding spaces: pure functions and sklearn-compatible estimators.

See docs/ARCHITECTURE.md (``facebridge.maps``).  ``maps.cv`` and ``maps.shared`` are imported
directly, not re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from facebridge.maps.linear import (
    LinearMap,
    check_rank,
    fit_low_rank,
    fit_lstsq,
    fit_procrustes,
    fit_ridge,
)

if TYPE_CHECKING:
    from facebridge.maps.estimators import LowRankMap, LstsqMap, ProcrustesMap, RidgeMap

_ESTIMATORS = ("LowRankMap", "LstsqMap", "ProcrustesMap", "RidgeMap")


def __getattr__(name: str) -> Any:
    """The sklearn-compatible estimators, imported on first use: importing scikit-learn takes
    over a second, and the analysis paths (``reproduce``, ``evaluate``) use only the pure
    functions."""
    if name in _ESTIMATORS:
        from facebridge.maps import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
