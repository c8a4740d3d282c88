"""The "few pairs" section: mapped accuracy and re-identification rank-1 against ``k``.

Renders the JSON form of :class:`facebridge.experiments.fewpairs.FewPairsResult` (its
``to_dict()``, as ``facebridge few-pairs --out`` writes ``fewpairs.json``).  Imports nothing from
``experiments`` or ``store``: it renders what it is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from facebridge.errors import InvalidInputError
from facebridge.report.tables import markdown_table
from facebridge.vocabulary import ONE_POINT, STRONG_NATIVE, DirectedPair

__all__ = ["audit_fewpairs_section", "fewpairs_section", "strong_pairs", "summarise"]

_KEYS = ("models", "native", "k", "settings", "accuracy")


def _check(result: Mapping[str, Any]) -> None:
    missing = [k for k in _KEYS if k not in result]
    if missing:
        raise InvalidInputError(
            f"a few-pairs result needs the keys {list(_KEYS)}, missing {missing}; pass "
            "FewPairsResult.to_dict() or the fewpairs.json that `facebridge few-pairs --out` writes"
        )


def strong_pairs(result: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    """The pair keys among ``keys`` whose two models are strong (native >= STRONG_NATIVE).

    Parameters
    ----------
    result : mapping
        A few-pairs result dict with ``native`` accuracies per model.
    keys : sequence of str
        Directed pair keys ``"A->B"``.

    Returns
    -------
    list of str
        The keys of ``keys`` between two strong models, in their order.

    Examples
    --------
    >>> strong_pairs({"native": {"a": 0.99, "b": 0.99, "c": 0.9}}, ["a->b", "a->c"])
    ['a->b']
    """
    thr = float(result.get("strong_native", STRONG_NATIVE))
    nat = result["native"]
    out = []
    for key in keys:
        p = DirectedPair.parse(key)
        if nat.get(p.source, 0.0) >= thr and nat.get(p.target, 0.0) >= thr:
            out.append(key)
    return out


def _values(
    table: Mapping[str, Sequence[float | None]], keys: Sequence[str], i: int
) -> list[float]:
    return [float(v) for k in keys if (v := table[k][i]) is not None and not math.isnan(float(v))]


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    if not n:
        return math.nan
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def summarise(result: Mapping[str, Any]) -> dict[str, dict[str, list[dict[str, float | int]]]]:
    """Median and worst (minimum) over the strong pairs, per setting and per ``k``.

    Parameters
    ----------
    result : mapping
        A few-pairs result dict (``FewPairsResult.to_dict()``).

    Returns
    -------
    dict
        ``{"accuracy": {setting: [{"k", "median", "worst", "highest", "n"}, ...]},
        "reid_rank1": ..., "reid_d_sys": ...}`` ("worst" is the minimum, "highest" the maximum;
        NaN where no pair has a value).

    Raises
    ------
    InvalidInputError
        A dict that is not a few-pairs result.
    """
    _check(result)
    out: dict[str, dict[str, list[dict[str, float | int]]]] = {}
    reid_k = result.get("reid_k", [])
    for field, ks in (("accuracy", result["k"]), ("reid_rank1", reid_k), ("reid_d_sys", reid_k)):
        per: dict[str, list[dict[str, float | int]]] = {}
        for setting, table in (result.get(field) or {}).items():
            keys = strong_pairs(result, list(table))
            rows = []
            for i, k in enumerate(ks):
                xs = _values(table, keys, i)
                rows.append(
                    {
                        "k": int(k),
                        "median": _median(xs),
                        "worst": min(xs) if xs else math.nan,
                        "highest": max(xs) if xs else math.nan,
                        "n": len(xs),
                    }
                )
            per[setting] = rows
        out[field] = per
    return out


def _pct(x: float) -> str:
    return "—" if x is None or math.isnan(x) else f"{100 * x:.1f}"


def _of(row: Mapping[str, Any], n: int) -> str:
    """`` (15 of 20)`` when a cell summarises fewer pairs than its row (cells not computed)."""
    return f" ({row['n']} of {n})" if 0 < row["n"] < n else ""


def _dsys(x: float) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.2f}"


def fewpairs_section(result: Mapping[str, Any]) -> str:
    """Markdown: the k-table (median / worst over strong pairs) per setting, the goals, rank-1.

    Parameters
    ----------
    result : mapping
        ``FewPairsResult.to_dict()``.

    Returns
    -------
    str
        Markdown text (a ``## Maps from few pairs`` section).

    Raises
    ------
    InvalidInputError
        A dict that is not a few-pairs result.

    Examples
    --------
    >>> r = {"models": ["a", "b"], "native": {"a": 0.99, "b": 0.99}, "k": [5, 400],
    ...      "settings": {"c": "no pool"}, "accuracy": {"c": {"a->b": [0.7, 0.98]}}}
    >>> "1 pairs" in fewpairs_section(r) and "| 70.0 / 70.0 | 98.0 / 98.0 |" in fewpairs_section(r)
    True
    """
    summary = summarise(result)
    settings = result["settings"]
    ks = list(result["k"])
    lines = [
        "## Maps from few pairs",
        "",
        "Mapped LFW View 2 accuracy (10 folds, %) against the number of seed pairs k: "
        "median / worst over the directed pairs of strong models (native >= "
        f"{100 * float(result.get('strong_native', STRONG_NATIVE)):.1f} %). "
        "Pools: " + "; ".join(f"({s}) {text}" for s, text in settings.items()) + ".",
        "",
    ]
    if result.get("cells_missing"):
        lines += [
            f"**{result['cells_missing']} cells are not computed yet** (shown as —): the medians "
            "below are over the pairs computed, counted in brackets per setting.",
            "",
        ]
    rows = []
    for s, text in settings.items():
        n = max((r["n"] for r in summary["accuracy"].get(s, [])), default=0)
        cells = [f"{s}: {text} [{n} pairs]"]
        for r in summary["accuracy"].get(s, []):
            cells.append(f"{_pct(r['median'])} / {_pct(r['worst'])}{_of(r, n)}")
        rows.append(cells)
    lines.append(markdown_table(["setting", *[f"k={k}" for k in ks]], rows))
    lines.append("")
    acc = summary["accuracy"]
    if "c" in acc and 400 in ks and "a" in acc:
        ref = acc["c"][ks.index(400)]["median"]
        best = max(
            (r["median"] for r in acc["a"] if r["k"] <= 50 and not math.isnan(r["median"])),
            default=math.nan,
        )
        hit = not math.isnan(best) and ref - best <= ONE_POINT + 1e-9
        lines.append(
            f"- Goal (setting a, k <= 50 within 1 point of the 400-pair recipe, median): "
            f"best {_pct(best)} vs {_pct(ref)} -> {'met' if hit else 'missed'}."
        )
    if 0 in ks:
        k0 = [acc[s][ks.index(0)]["median"] for s in acc]
        k0 = [x for x in k0 if not math.isnan(x)]
        best0 = max(k0, default=math.nan)
        lines.append(
            f"- Goal (k = 0, any setting, median above 90 %): best {_pct(best0)} -> "
            f"{'met' if best0 > 0.9 else 'missed'}."
        )
    rk = list(result.get("reid_k", []))
    for field, what, fmt in (
        (
            "reid_rank1",
            "Re-identification rank-1 (%) of leaked source templates in the target's gallery",
            _pct,
        ),
        ("reid_d_sys", "Linkability D_sys of mapped leaked templates to the gallery", _dsys),
    ):
        table = summary.get(field) or {}
        if not table:
            continue
        lines += ["", f"{what} (median / highest over strong pairs):", ""]
        rrows = []
        for s, text in settings.items():
            if s in table:
                n = max((r["n"] for r in table[s]), default=0)
                rrows.append(
                    [
                        f"{s}: {text} [{n} pairs]",
                        *[f"{fmt(r['median'])} / {fmt(r['highest'])}{_of(r, n)}" for r in table[s]],
                    ]
                )
        lines.append(markdown_table(["setting", *[f"k={k}" for k in rk]], rrows))
    lines += ["", *_per_pair(result, ks)]
    inits = result.get("k0_inits") or {}
    if inits:
        lines += ["", "Unsupervised starts at k = 0 (accuracy %, median over the pairs tried):", ""]
        irows = []
        for init, per in inits.items():
            irows.append(
                [
                    init,
                    *[
                        _pct(_median([float(v) for v in per.get(s, {}).values() if v is not None]))
                        for s in ("a", "b")
                    ],
                ]
            )
        lines.append(markdown_table(["start", "setting a", "setting b"], irows))
    return "\n".join(lines) + "\n"


def _per_pair(result: Mapping[str, Any], ks: Sequence[int]) -> list[str]:
    """Markdown lines: the mapped accuracy of every directed pair at every ``k``, one cell
    holding the settings side by side (strong pairs first)."""
    acc = result["accuracy"]
    settings = [s for s in result["settings"] if s in acc]
    keys = list(dict.fromkeys(key for s in settings for key in acc[s]))
    strong = strong_pairs(result, keys)
    rows = []
    for key in strong + [x for x in keys if x not in strong]:
        row = [acc[s].get(key, [None] * len(ks)) for s in settings]
        cells = [" / ".join(_pct(r[i]) for r in row) for i in range(len(ks))]
        rows.append([key + ("" if key in strong else " (weak model)"), *cells])
    head = " / ".join(settings)
    return [
        f"Mapped accuracy (%) of every directed pair, settings {head} side by side; pairs with a "
        "weak model (native below the strong threshold) last:",
        "",
        markdown_table(["directed pair", *[f"k={k}" for k in ks]], rows),
    ]


def audit_fewpairs_section(few: Mapping[str, Any]) -> str:
    """Markdown: the audit's "few pairs" table, rank-1 and ``D_sys`` against ``k`` per pair.

    Parameters
    ----------
    few : mapping
        What :func:`facebridge.experiments.fewpairs.audit_few_pairs` returns (``audit.json``'s
        ``few_pairs``).

    Returns
    -------
    str
        Markdown text (a ``### Few pairs`` subsection).

    Raises
    ------
    InvalidInputError
        A dict without ``k``, ``settings`` and ``pairs``.

    Examples
    --------
    >>> few = {"k": [0, 50], "settings": {"c": "k pairs only"},
    ...        "pairs": {"a->b": {"c": {"rank1": [None, 0.4], "d_sys": [None, 0.61]}}}}
    >>> "| c | — | 40.0 % / 0.61 |" in audit_fewpairs_section(few)
    True
    """
    missing = [k for k in ("k", "settings", "pairs") if k not in few]
    if missing:
        raise InvalidInputError(
            f"a few-pairs audit needs the keys k, settings, pairs, missing {missing}; pass what "
            "audit_few_pairs returns (audit.json's few_pairs)"
        )
    ks = list(few["k"])
    rows = []
    for key, per in few["pairs"].items():
        for s in few["settings"]:
            cells = per.get(s, {})
            rows.append(
                [
                    key,
                    s,
                    *[
                        "—" if r is None else f"{_pct(r)} % / {_dsys(d)}"
                        for r, d in zip(cells.get("rank1", []), cells.get("d_sys", []), strict=True)
                    ],
                ]
            )
    text = [
        "### Few pairs",
        "",
        "Closed-set rank-1 / linkability D_sys of the leaked templates when the attacker has "
        "only k paired images, with and without unpaired photos (self-learning, "
        "docs/FEWPAIRS.md). Settings: "
        + "; ".join(f"({s}) {t}" for s, t in few["settings"].items())
        + ".",
        "",
        markdown_table(["pair", "setting", *[f"k={k}" for k in ks]], rows),
    ]
    return "\n".join(text) + "\n"
