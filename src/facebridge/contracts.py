"""The typed contracts between the layers: the analysis settings and the analysis result.

:class:`AnalysisSettings` holds every default and every check of the cross-model analysis in one
place; the CLI, :func:`facebridge.experiments.run_analysis` and the application layer all read
them from here.  :class:`AnalysisResult` is what the analysis produces and what the report
renders; :meth:`AnalysisResult.to_dict` is the ``results.json`` payload.  This module imports
nothing from facebridge but :mod:`facebridge.errors`; :func:`to_jsonable` gives any result
the JSON types it is written with.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from facebridge.errors import InvalidInputError

__all__ = ["CORRESPONDENCE_CHOICES", "AnalysisResult", "AnalysisSettings", "to_jsonable"]

#: The training correspondences a map may be fitted on.
CORRESPONDENCE_CHOICES = ("matched-pairs", "same-image")

#: Values of p in the pairs-needed sweep of a full run and of a quick run.
FULL_POINTS = 100
QUICK_POINTS = 12


def _is_device(device: str) -> bool:
    """Whether ``device`` reads ``cpu``, ``cuda`` or ``cuda:N``."""
    return re.fullmatch(r"cpu|cuda(:[0-9]+)?", str(device)) is not None


@dataclass(frozen=True)
class AnalysisSettings:
    """Everything that decides the numbers of :func:`facebridge.experiments.run_analysis`.

    Parameters
    ----------
    n_points : int
        Values of p in the pairs-needed sweep (the paper: 100), at least 2.
    n_draws : int
        Random subsets per fold and value of p (the paper: 1), at least 1.
    alpha : float
        Ridge strength (the paper: 1), positive.
    correspondence : {"matched-pairs", "same-image"}
        Training correspondences of the maps (the paper: matched pairs, its Eq. 1).
    seed : int
        Seed of the pairs-needed sweep's random subsets.
    ranks : tuple of int, optional
        The rank sweep's ranks; ``None`` is ``(1, 2, 4, ..., full)`` per map.
    pairs : bool
        Run the pairs-needed sweep.
    roc_curves : bool
        Compute the ROC summaries.
    quick : bool
        A quick run (labelled so in the report); see :meth:`from_options`.
    n_jobs : int, optional
        Worker threads of the analysis (default: the CPUs available); the numbers do not
        depend on it.
    device : str, optional
        ``None``: the analysis in numpy.  ``"cpu"``, ``"cuda"`` or ``"cuda:N"``: the matrix and
        rank sweep in torch (float64) on that device; the numbers equal numpy's to rounding.

    Raises
    ------
    InvalidInputError
        A setting out of range, in one line naming the CLI option.

    Examples
    --------
    >>> AnalysisSettings().n_draws
    1
    >>> s = AnalysisSettings.from_options(quick=True)
    >>> (s.n_points, s.pairs, s.quick)
    (12, False, True)
    """

    n_points: int = FULL_POINTS
    n_draws: int = 1
    alpha: float = 1.0
    correspondence: str = "matched-pairs"
    seed: int = 0
    ranks: tuple[int, ...] | None = None
    pairs: bool = True
    roc_curves: bool = True
    quick: bool = False
    n_jobs: int | None = field(default=None, compare=False)
    device: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.n_points, bool) or int(self.n_points) < 2:
            raise InvalidInputError(f"--points must be at least 2, got {self.n_points}")
        if isinstance(self.n_draws, bool) or int(self.n_draws) < 1:
            raise InvalidInputError(f"--draws must be at least 1, got {self.n_draws}")
        if not float(self.alpha) > 0:
            raise InvalidInputError(f"--alpha must be positive, got {self.alpha}")
        if self.correspondence not in CORRESPONDENCE_CHOICES:
            raise InvalidInputError(
                f"--correspondence must be one of {', '.join(CORRESPONDENCE_CHOICES)}, "
                f"got {self.correspondence!r}"
            )
        if self.n_jobs is not None and int(self.n_jobs) < 1:
            raise InvalidInputError(f"n_jobs must be at least 1 or None, got {self.n_jobs}")
        if self.device is not None and not _is_device(self.device):
            raise InvalidInputError(
                f"--device must be cpu, cuda or cuda:N, got {self.device!r}; e.g. --device cuda"
            )
        if self.ranks is not None:
            object.__setattr__(self, "ranks", tuple(int(r) for r in self.ranks))

    @classmethod
    def from_options(
        cls,
        *,
        quick: bool = False,
        n_points: int | None = None,
        n_draws: int | None = None,
        alpha: float | None = None,
        correspondence: str | None = None,
        seed: int | None = None,
        device: str | None = None,
    ) -> AnalysisSettings:
        """The settings of a full run, or of a quick one, with the options given (``None``
        keeps the default).

        A quick run has 12 values of p and no pairs-needed sweep.

        Examples
        --------
        >>> AnalysisSettings.from_options(n_draws=3).n_draws
        3
        """
        given: dict[str, Any] = {
            k: v
            for k, v in (
                ("n_points", n_points),
                ("n_draws", n_draws),
                ("alpha", alpha),
                ("correspondence", correspondence),
                ("seed", seed),
            )
            if v is not None
        }
        if quick:
            given.setdefault("n_points", QUICK_POINTS)
            given["pairs"] = False
        return cls(quick=bool(quick), device=device, **given)

    def analysis_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`facebridge.experiments.run_analysis`."""
        return {
            "n_points": int(self.n_points),
            "n_draws": int(self.n_draws),
            "ranks": self.ranks,
            "alpha": float(self.alpha),
            "correspondence": self.correspondence,
            "seed": int(self.seed),
            "pairs": bool(self.pairs),
            "roc_curves": bool(self.roc_curves),
            "n_jobs": self.n_jobs,
            "device": self.device,
        }

    def record(self) -> dict[str, Any]:
        """The run-level entries of ``results.json``'s ``settings`` (the analysis adds the rest)."""
        out: dict[str, Any] = {"n_points": int(self.n_points), "n_draws": int(self.n_draws)}
        if not self.pairs:
            out["pairs"] = False
        return out


#: The keys of ``results.json`` in their order (``"run"`` is added by the report writer).
RESULT_KEYS = (
    "models",
    "dims",
    "native",
    "matrix",
    "pairs_sweep",
    "rank_sweep",
    "roc",
    "missing",
    "settings",
)


@dataclass(frozen=True)
class AnalysisResult:
    """The numbers of one cross-model analysis, as the report renders them.

    The fields are the entries of ``results.json`` (docs/ARCHITECTURE.md): ``native``
    ({model: {accuracy, std, per_fold}}), ``matrix`` (one record per directed pair),
    ``pairs_sweep`` / ``rank_sweep`` ({"A->B": curve}; ``pairs_sweep`` is ``None`` without the
    sweep), ``roc`` ({"A->B" or "A->A": summary}), ``missing`` (pairs without an embedding)
    and ``settings`` (everything needed to rerun).

    Examples
    --------
    >>> r = AnalysisResult.from_dict({"models": ["a", "b"], "native": {}, "matrix": []})
    >>> r.to_dict()["models"]
    ['a', 'b']
    """

    models: tuple[str, ...]
    dims: Mapping[str, int] = field(default_factory=dict)
    native: Mapping[str, Any] = field(default_factory=dict)
    matrix: Sequence[Mapping[str, Any]] = ()
    pairs_sweep: Mapping[str, Any] | None = None
    rank_sweep: Mapping[str, Any] | None = None
    roc: Mapping[str, Any] | None = None
    missing: int = 0
    settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> AnalysisResult:
        """The result held by a ``results.json`` payload (keys outside the schema are refused).

        Raises
        ------
        InvalidInputError
            ``payload`` has no ``models`` or a key the schema does not define.
        """
        names = {f.name for f in fields(cls)}
        extra = sorted(k for k in payload if k not in names and k != "run")
        if extra:
            raise InvalidInputError(
                f"results hold unknown key(s) {', '.join(map(repr, extra))}; the schema has "
                f"{', '.join(RESULT_KEYS)}"
            )
        if "models" not in payload:
            raise InvalidInputError("results lack 'models'; the schema needs the model keys")
        kw = {k: payload[k] for k in names if k in payload}
        kw["models"] = tuple(payload["models"])
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """The ``results.json`` payload (keys in the schema's order)."""
        out = {k: getattr(self, k) for k in RESULT_KEYS}
        out["models"] = list(self.models)
        out["dims"] = dict(self.dims)
        return out

    def with_settings(self, settings: Mapping[str, Any]) -> AnalysisResult:
        """A copy whose ``settings`` are ``settings``."""
        return AnalysisResult(
            **{**{f.name: getattr(self, f.name) for f in fields(self)}, "settings": dict(settings)}
        )


def to_jsonable(obj: Any) -> Any:
    """A deep copy of ``obj`` made of JSON types: numpy scalars/arrays to Python, NaN/inf to None.

    Parameters
    ----------
    obj : any
        Mappings, sequences, numpy arrays and scalars, paths, strings.

    Returns
    -------
    dict, list, str, int, float, bool or None

    Examples
    --------
    >>> import numpy as np
    >>> to_jsonable({"a": np.float32(0.5), "b": [np.nan, np.int64(2)]})
    {'a': 0.5, 'b': [None, 2]}
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)  # paths and anything else
