"""The "migration" report section: the cross-test table and the backfill curves.

Rendered from the JSON form of gallery-migration results (a list of
``MigrationResult.to_dict()`` payloads, as ``facebridge migrate evaluate --json`` prints them);
this module imports nothing from ``experiments`` or ``store``.

* :func:`migration_table` — one row per directed pair, fitting size and recipe: self-test
  new/new, cross-test and drop for 1:1 TAR at FAR 1e-3 and closed-set rank-1, open-set TPIR, and
  the negative-flip rate; plus the goal lines (median strong pair within 1 point for TAR, 2 for
  rank-1);
* :func:`backfill_table` — the fraction of the cross-test gap closed by re-embedding 10 % of the
  gallery, per order;
* :func:`backfill_figure` — rank-1 against the percentage re-embedded, one curve per order,
  averaged over the pairs given;
* :func:`migration_section` — the Markdown section with all of the above.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from facebridge.report.figures import _plt, _png

__all__ = ["backfill_figure", "backfill_table", "migration_section", "migration_table"]

_FAR = "0.001"


def _m(entry: Mapping[str, Any]) -> float:
    return float(entry["mean"])


def _row(r: Mapping[str, Any]) -> dict[str, Any]:
    s = r["summary"]
    return {
        "pair": f"{r['source']}->{r['target']}",
        "n_fit": r["n_fit"],
        "recipe": r["recipe"],
        "tar_new": _m(s["tar"]["new/new"][_FAR]),
        "tar_cross": _m(s["tar"]["cross"][_FAR]),
        "tar_drop": _m(s["drop"][f"tar@{_FAR}"]),
        "tar_drop_se": float(s["drop"][f"tar@{_FAR}"]["se"]),
        "r1_new": _m(s["rank1"]["new/new"]),
        "r1_cross": _m(s["rank1"]["cross"]),
        "r1_drop": _m(s["drop"]["rank1"]),
        "tpir_drop": _m(s["drop"]["tpir"]),
        "nfr": _m(s["negative_flip_rate"]),
    }


def migration_table(results: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of the cross-test against self-test new/new, and the goal lines.

    Parameters
    ----------
    results : sequence of mapping
        Migration results (``MigrationResult`` summaries as dicts), one per directed pair and recipe.

    Returns
    -------
    str
        A Markdown table, or ``'no migration results'``.

    Examples
    --------
    >>> migration_table([])
    'no migration results'
    """
    if not results:
        return "no migration results"
    rows = [_row(r) for r in results]
    lines = [
        "| pair (old->new) | fit images | recipe | TAR@1e-3 new/new | cross | drop (pt) "
        "| rank-1 new/new | cross | drop (pt) | TPIR@1e-2 drop (pt) | neg. flips (%) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in rows:
        lines.append(
            f"| {x['pair']} | {x['n_fit']} | {x['recipe']} | {x['tar_new']:.2f} | "
            f"{x['tar_cross']:.2f} | {x['tar_drop']:.2f} ± {x['tar_drop_se']:.2f} | "
            f"{x['r1_new']:.2f} | {x['r1_cross']:.2f} | {x['r1_drop']:.2f} | "
            f"{x['tpir_drop']:.2f} | {x['nfr']:.2f} |"
        )
    lines.append("")
    lines.append(
        "| fit images | recipe | median TAR@1e-3 drop (pt) | worst | median rank-1 drop (pt) "
        "| worst | median neg. flips (%) | goal (TAR <= 1, rank-1 <= 2) |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    groups: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for x in rows:
        groups.setdefault((x["n_fit"], x["recipe"]), []).append(x)
    for (n_fit, recipe), g in groups.items():
        td = statistics.median(x["tar_drop"] for x in g)
        rd = statistics.median(x["r1_drop"] for x in g)
        met = "met" if td <= 1.0 and rd <= 2.0 else "missed"
        lines.append(
            f"| {n_fit} | {recipe} | {td:.2f} | {max(x['tar_drop'] for x in g):.2f} | {rd:.2f} | "
            f"{max(x['r1_drop'] for x in g):.2f} | "
            f"{statistics.median(x['nfr'] for x in g):.2f} | {met} |"
        )
    return "\n".join(lines)


def _curves(results: Sequence[Mapping[str, Any]]) -> tuple[list[int], dict[str, list[float]]]:
    with_curves = [r for r in results if r["summary"].get("backfill")]
    if not with_curves:
        return [], {}
    xs = list(with_curves[0]["backfill_x"])
    orders = list(with_curves[0]["summary"]["backfill"])
    mean = {
        o: [
            statistics.fmean(r["summary"]["backfill"][o][i] for r in with_curves)
            for i in range(len(xs))
        ]
        for o in orders
    }
    return xs, mean


def backfill_table(results: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: per order, the median over results of the gap fraction closed at 10 %, and the
    mean rank-1 at 0, 10 and 100 %.

    Parameters
    ----------
    results : sequence of mapping
        Migration results with backfill curves.

    Returns
    -------
    str
        A Markdown table, one row per order.
    """
    xs, mean = _curves(results)
    if not xs:
        return "no backfill curves"
    closed: dict[str, list[float]] = {}
    for r in results:
        for o, v in r["summary"].get("backfill_closed_at_10", {}).items():
            if v == v:  # not NaN
                closed.setdefault(o, []).append(float(v))
    lines = [
        "| order | median gap closed at 10 % | mean rank-1 at 0 % | at 10 % | at 100 % |",
        "|---|---|---|---|---|",
    ]
    i0, i10, i100 = xs.index(0), xs.index(10), xs.index(100)
    for o, c in mean.items():
        med = statistics.median(closed[o]) if closed.get(o) else float("nan")
        lines.append(f"| {o} | {100 * med:.1f} % | {c[i0]:.2f} | {c[i10]:.2f} | {c[i100]:.2f} |")
    return "\n".join(lines)


def backfill_figure(results: Sequence[Mapping[str, Any]], title: str = "") -> bytes | None:
    """PNG: cross-test rank-1 against the percentage of the gallery re-embedded, one curve per
    order (mean over the results given); ``None`` without backfill curves.

    Parameters
    ----------
    results : sequence of mapping
        Migration results with backfill curves.
    title : str, default ''
        Figure title.

    Returns
    -------
    bytes or None
        The figure as PNG; ``None`` without backfill curves.
    """
    xs, mean = _curves(results)
    if not xs:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for o, c in mean.items():
        style = "--" if o == "oracle" else ("-" if o != "random" else ":")
        ax.plot(xs, c, style, marker="o", ms=3, label=o)
    ax.set_xlabel("gallery re-embedded with the new model (%)")
    ax.set_ylabel("cross-test rank-1 (%)")
    ax.set_title(title or f"partial backfill (mean of {len(results)} migrations)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def migration_section(
    results: Sequence[Mapping[str, Any]], figure_name: str | None = "migration-backfill.png"
) -> str:
    """The Markdown "migration" section (the figure is referenced by ``figure_name``).

    Parameters
    ----------
    results : sequence of mapping
        Migration results.
    figure_name : str or None, default 'migration-backfill.png'
        File name of the backfill figure to reference; ``None`` for no figure.

    Returns
    -------
    str
        The section in Markdown, with its heading.
    """
    parts = ["## Migration", "", migration_table(results), "", "### Partial backfill", ""]
    parts.append(backfill_table(results))
    if figure_name:
        parts += ["", f"![partial backfill]({figure_name})"]
    return "\n".join(parts) + "\n"
