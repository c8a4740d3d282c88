"""The ``results.json`` payload: validation, JSON cleaning and summary numbers.

Everything the report says about a run is computed here from the results dict, so the paper's
Table 3 (hard-coded in :mod:`facebridge.report.paper`) goes through exactly the same code as ours.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facebridge.contracts import AnalysisResult, to_jsonable
from facebridge.errors import InvalidInputError
from facebridge.vocabulary import directed_pairs, map_key, within_one_point

#: Slack for accuracies that must lie in [0, 1].
_TOL = 1e-9


def _bad(msg: str) -> InvalidInputError:
    return InvalidInputError(
        f"results: {msg}; pass the dict returned by facebridge.experiments.run_analysis"
    )


def _accuracy(value: Any, where: str, *, allow_none: bool = False) -> float | None:
    if value is None:
        if allow_none:
            return None
        raise _bad(f"{where} is missing or NaN")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise _bad(f"{where} = {value!r} is not a number") from None
    if not math.isfinite(f):
        if allow_none:
            return None
        raise _bad(f"{where} = {f} is not finite")
    if not -_TOL <= f <= 1 + _TOL:
        raise _bad(f"{where} = {f} is outside [0, 1] (accuracies are fractions, not percent)")
    return f


def _curve(entry: Any, where: str, x_name: str) -> None:
    if not isinstance(entry, Mapping):
        raise _bad(f"{where} must be an object with {x_name!r} and 'accuracy'")
    xs, ys = entry.get(x_name), entry.get("accuracy")
    if not isinstance(xs, Sequence) or not isinstance(ys, Sequence) or len(xs) != len(ys):
        raise _bad(f"{where}: {x_name!r} and 'accuracy' must be lists of the same length")
    if len(xs) == 0:
        raise _bad(f"{where} is empty")
    if any(float(b) <= float(a) for a, b in itertools.pairwise(xs)):
        raise _bad(f"{where}: {x_name!r} must be strictly increasing")
    for i, y in enumerate(ys):
        _accuracy(y, f"{where}.accuracy[{i}]", allow_none=True)


def validate_results(results: AnalysisResult | Mapping[str, Any]) -> dict[str, Any]:
    """Check ``results`` against the ``results.json`` schema and return a JSON-ready copy.

    Checks: at least two distinct model keys; a finite native accuracy in [0, 1] for each; one
    matrix entry for every directed pair of distinct models (a diagonal entry, if present, must
    equal the native accuracy); unmapped accuracies in [0, 1] or null; sweeps (optional, but when
    present, for every directed pair) with strictly increasing x values and accuracies in [0, 1].

    Parameters
    ----------
    results : AnalysisResult or mapping
        The analysis result, or its ``results.json`` dict.

    Returns
    -------
    dict
        A deep copy with numpy values converted and NaN/inf replaced by ``None`` (JSON ``null``).

    Raises
    ------
    InvalidInputError
        The first violation found, in one line.
    """
    if isinstance(results, AnalysisResult):
        results = results.to_dict()
    if not isinstance(results, Mapping):
        raise _bad(f"expected a dict, got {type(results).__name__}")
    out = to_jsonable(results)
    models = out.get("models")
    if not isinstance(models, list) or len(models) < 2 or len(set(models)) != len(models):
        raise _bad(f"'models' must list at least two distinct model keys, got {models!r}")
    if not all(isinstance(m, str) and m for m in models):
        raise _bad(f"'models' must be non-empty strings, got {models!r}")
    native = out.get("native")
    if not isinstance(native, dict):
        raise _bad("'native' must map each model to {'accuracy', 'std'}")
    for m in models:
        entry = native.get(m)
        if not isinstance(entry, dict):
            raise _bad(f"native accuracy of {m!r} is missing")
        _accuracy(entry.get("accuracy"), f"native[{m!r}].accuracy")
    matrix = out.get("matrix")
    if not isinstance(matrix, list):
        raise _bad("'matrix' must be a list of {source, target, accuracy, std, unmapped_accuracy}")
    seen: set[tuple[str, str]] = set()
    for i, cell in enumerate(matrix):
        if not isinstance(cell, dict):
            raise _bad(f"matrix[{i}] is not an object")
        a, b = cell.get("source"), cell.get("target")
        if a not in models or b not in models:
            raise _bad(f"matrix[{i}] names unknown models {a!r} -> {b!r}")
        if (a, b) in seen:
            raise _bad(f"matrix has {a}->{b} twice")
        seen.add((str(a), str(b)))
        acc = float(_accuracy(cell.get("accuracy"), f"matrix {a}->{b} accuracy") or 0.0)
        _accuracy(cell.get("unmapped_accuracy"), f"matrix {a}->{b} unmapped", allow_none=True)
        if a == b and abs(acc - float(native[a]["accuracy"])) > 1e-6:
            raise _bad(f"matrix diagonal {a}->{a} = {acc} differs from native {native[a]}")
    missing = [map_key(a, b) for a, b in directed_pairs(models) if (a, b) not in seen]
    if missing:
        raise _bad(f"matrix lacks {len(missing)} directed pair(s), e.g. {missing[0]}")
    for name, x_name in (("pairs_sweep", "p"), ("rank_sweep", "rank")):
        sweep = out.get(name)
        if sweep is None:
            continue
        if not isinstance(sweep, dict):
            raise _bad(f"{name!r} must map 'A->B' to a curve")
        absent = [map_key(a, b) for a, b in directed_pairs(models) if map_key(a, b) not in sweep]
        if absent:
            raise _bad(f"{name} lacks {len(absent)} directed map(s), e.g. {absent[0]}")
        for key, entry in sweep.items():
            _curve(entry, f"{name}[{key!r}]", x_name)
    settings = out.setdefault("settings", {})
    if not isinstance(settings, dict):
        raise _bad("'settings' must be an object")
    return out


# ----------------------------------------------------------------------------------- accessors


def native_accuracy(results: Mapping[str, Any], model: str) -> float:
    """Native (own-space) accuracy of ``model``.

    Parameters
    ----------
    results : mapping
        A ``results.json`` payload.
    model : str

    Returns
    -------
    float

    Examples
    --------
    >>> from facebridge.report import paper_table3
    >>> native_accuracy(paper_table3(), "Model-IC")
    0.9903
    """
    return float(results["native"][model]["accuracy"])


def matrix_cell(results: Mapping[str, Any], source: str, target: str) -> dict[str, Any]:
    """The matrix entry ``source -> target`` (the native accuracy on the diagonal).

    Parameters
    ----------
    results : mapping
        A ``results.json`` payload.
    source, target : str

    Returns
    -------
    dict
        ``accuracy``, ``std``, ``unmapped_accuracy``...

    Raises
    ------
    KeyError
        No such entry.

    Examples
    --------
    >>> from facebridge.report import paper_table3
    >>> matrix_cell(paper_table3(), "Model-IC", "Model-IV")["accuracy"]
    0.9898
    """
    for cell in results["matrix"]:
        if cell["source"] == source and cell["target"] == target:
            return dict(cell)
    if source == target:
        nat = results["native"][source]
        return {
            "source": source,
            "target": target,
            "accuracy": nat["accuracy"],
            "std": nat.get("std"),
            "unmapped_accuracy": None,
        }
    raise KeyError(map_key(source, target))


def smallest_within_one_point(
    xs: Sequence[float], ys: Sequence[float | None], full: float
) -> float | None:
    """The smallest x whose accuracy is within 1 point of ``full``; ``None`` if there is none.

    "Within 1 point" is :func:`facebridge.vocabulary.within_one_point`.

    Parameters
    ----------
    xs : sequence of float
        The curve's x values (pairs or ranks), increasing.
    ys : sequence of float or None
        The accuracy at each x (``None``: not measured).
    full : float
        The reference accuracy (the full map's).

    Returns
    -------
    float or None

    Examples
    --------
    >>> smallest_within_one_point([10, 100, 1000], [0.90, 0.985, 0.99], 0.995)
    100.0
    """
    for x, y in zip(xs, ys, strict=True):
        if y is not None and within_one_point(float(y), float(full)):
            return float(x)
    return None


# ------------------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class Summary:
    """Headline numbers of one results dict (accuracies as fractions, drops in points)."""

    models: tuple[str, ...]
    native: dict[str, float]
    mapped: dict[tuple[str, str], float]
    unmapped: dict[tuple[str, str], float]
    drop_vs_target: dict[tuple[str, str], float]  # points: native[target] - mapped
    drop_vs_source: dict[tuple[str, str], float]  # points: native[source] - mapped
    pairs_needed: dict[tuple[str, str], float | None] = field(default_factory=dict)
    n_train_pairs: float | None = None
    rank_needed: dict[tuple[str, str], float | None] = field(default_factory=dict)
    full_rank: dict[tuple[str, str], float] = field(default_factory=dict)
    #: best point of each pairs sweep: (p, accuracy)
    pairs_peak: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    @property
    def n_maps(self) -> int:
        return len(self.mapped)

    def worst(self, drops: Mapping[tuple[str, str], float]) -> tuple[tuple[str, str], float]:
        key = max(drops, key=lambda k: drops[k])
        return key, drops[key]

    @property
    def worst_drop(self) -> tuple[tuple[str, str], float]:
        """The map with the largest drop against its target's native accuracy (points)."""
        return self.worst(self.drop_vs_target)

    @property
    def median_drop(self) -> float:
        return float(np.median(list(self.drop_vs_target.values())))

    @property
    def weakest(self) -> str:
        return min(self.native, key=lambda m: self.native[m])

    def drops_without(self, model: str) -> dict[tuple[str, str], float]:
        return {k: v for k, v in self.drop_vs_target.items() if model not in k}


def summarize(results: Mapping[str, Any]) -> Summary:
    """Compute the headline numbers of a (validated) results dict.

    Parameters
    ----------
    results : mapping
        A ``results.json`` payload.

    Returns
    -------
    Summary

    Examples
    --------
    >>> from facebridge.report import paper_table3
    >>> summarize(paper_table3()).n_maps
    12
    """
    models = tuple(results["models"])
    native = {m: native_accuracy(results, m) for m in models}
    mapped: dict[tuple[str, str], float] = {}
    unmapped: dict[tuple[str, str], float] = {}
    for a, b in directed_pairs(models):
        cell = matrix_cell(results, a, b)
        mapped[(a, b)] = float(cell["accuracy"])
        if cell.get("unmapped_accuracy") is not None:
            unmapped[(a, b)] = float(cell["unmapped_accuracy"])
    drop_t = {k: 100.0 * (native[k[1]] - v) for k, v in mapped.items()}
    drop_s = {k: 100.0 * (native[k[0]] - v) for k, v in mapped.items()}
    pairs_needed: dict[tuple[str, str], float | None] = {}
    pairs_peak: dict[tuple[str, str], tuple[float, float]] = {}
    n_train: float | None = None
    for (a, b), full in mapped.items():
        entry = (results.get("pairs_sweep") or {}).get(map_key(a, b))
        if not entry:
            continue
        p_in = entry.get("p_within_1pt")
        if p_in is None:
            p_in = smallest_within_one_point(entry["p"], entry["accuracy"], full)
        pairs_needed[(a, b)] = None if p_in is None else float(p_in)
        pts = [
            (float(x), float(y))
            for x, y in zip(entry["p"], entry["accuracy"], strict=True)
            if y is not None
        ]
        if pts:
            pairs_peak[(a, b)] = max(pts, key=lambda t: t[1])
        n_train = max(n_train or 0.0, float(entry["p"][-1]))
    rank_needed: dict[tuple[str, str], float | None] = {}
    full_rank: dict[tuple[str, str], float] = {}
    for a, b in mapped:
        entry = (results.get("rank_sweep") or {}).get(map_key(a, b))
        if not entry:
            continue
        ys = entry["accuracy"]
        full = ys[-1] if ys[-1] is not None else mapped[(a, b)]
        rank_needed[(a, b)] = smallest_within_one_point(entry["rank"], ys, float(full))
        full_rank[(a, b)] = float(entry["rank"][-1])
    return Summary(
        models=models,
        native=native,
        mapped=mapped,
        unmapped=unmapped,
        drop_vs_target=drop_t,
        drop_vs_source=drop_s,
        pairs_needed=pairs_needed,
        n_train_pairs=n_train,
        rank_needed=rank_needed,
        full_rank=full_rank,
        pairs_peak=pairs_peak,
    )


def pct(x: float | None, digits: int = 2) -> str:
    """``0.9903 -> '99.03%'``; None -> 'n/a'.

    Parameters
    ----------
    x : float or None
        A fraction.
    digits : int
        Decimals.

    Returns
    -------
    str

    Examples
    --------
    >>> pct(0.9903), pct(None)
    ('99.03%', 'n/a')
    """
    return "n/a" if x is None else f"{100.0 * x:.{digits}f}%"
