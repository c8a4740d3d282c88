"""Report section and figure for ``facebridge compare-maps`` (which recipe closes the gap).

Works from the JSON payload (:meth:`facebridge.experiments.compare.CompareResult.to_dict`), so a
saved ``compare.json`` can be re-rendered without re-running anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facebridge.report.base import Section, bullets, esc, figure_html, figure_markdown
from facebridge.report.figures import _plt, _png
from facebridge.report.tables import html_table, markdown_table
from facebridge.vocabulary import STRONG_NATIVE

__all__ = ["compare_figure", "compare_markdown", "compare_section"]

FIGURE_NAME = "compare_drops.png"


def _payload(result: Any) -> Mapping[str, Any]:
    return result.to_dict() if hasattr(result, "to_dict") else result


def _pt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _sorted_recipes(d: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    use_high = len(d.get("high_models", [])) >= 2

    def key(r: Mapping[str, Any]) -> tuple[float, float]:
        if use_high and r.get("worst_drop_high") is not None:
            return (r["worst_drop_high"], r["median_drop_high"])
        return (r["worst_drop"], r["median_drop"])

    return sorted(d["recipes"], key=key)


def compare_figure(result: Any) -> bytes:
    """Drops per recipe: one row per recipe, one dot per directed map (PNG bytes).

    Maps between high-native models are filled; the others hollow.  Dashed lines mark the
    goal (worst <= 1.0 point, median <= 0.5 point).

    Parameters
    ----------
    result : CompareResult or dict
        The comparison, or its ``to_dict()``.

    Returns
    -------
    bytes
        The figure as PNG.
    """
    plt = _plt()
    d = _payload(result)
    recs = _sorted_recipes(d)
    high = set(d.get("high_models", []))
    fig, ax = plt.subplots(figsize=(8.5, 0.32 * len(recs) + 1.6))
    # Keep the axis on the interesting range; drops beyond it are drawn at the edge as ">".
    xmax = 6.0
    all_drops = [m["drop"] for r in recs for m in r["maps"]]
    xmin = min(-1.0, min(all_drops, default=0.0) - 0.3)
    n_clipped = 0
    for y, r in enumerate(recs):
        for hi_set, style in ((False, "lo"), (True, "hi")):
            xs = [
                m["drop"]
                for m in r["maps"]
                if (m["source"] in high and m["target"] in high) == hi_set
            ]
            inside = [x for x in xs if x <= xmax]
            over = len(xs) - len(inside)
            n_clipped += over
            if style == "lo":
                ax.scatter(
                    inside, [y] * len(inside), s=14, facecolors="none", edgecolors="0.45", lw=0.8
                )
            else:
                ax.scatter(inside, [y] * len(inside), s=16, color="tab:blue")
            if over:
                ax.scatter([xmax], [y], marker=">", s=28, color="tab:blue" if hi_set else "0.45")
                ax.annotate(
                    f"{over}", (xmax, y), xytext=(5, -3), textcoords="offset points", fontsize=6.5
                )
        med = r["median_drop_high"] if r.get("median_drop_high") is not None else r["median_drop"]
        ax.plot([med], [y], marker="|", color="black", ms=12, mew=2)
    ax.axvline(1.0, color="tab:red", ls="--", lw=1, label="goal: worst drop 1.0 pt")
    ax.axvline(0.5, color="tab:orange", ls=":", lw=1, label="goal: median drop 0.5 pt")
    ax.axvline(0.0, color="0.7", lw=0.8)
    labels = []
    for r in recs:
        tag = (
            "  [paper]"
            if r["name"] == d["paper"]
            else ("  [best]" if r["name"] == d["best"] else "")
        )
        labels.append(r["name"] + tag)
    ax.set_yticks(range(len(recs)), labels, fontsize=7.5)
    ax.invert_yaxis()
    ax.set_xlim(xmin, xmax + 0.6)
    ax.set_xlabel(
        "drop vs the target's native accuracy (percentage points)"
        + (f"; {n_clipped} drops > {xmax:g} pt drawn as >" if n_clipped else "")
    )
    ax.set_title(
        "Cross-model drop per recipe (filled: maps between models with native >= "
        f"{100 * d.get('high_native', STRONG_NATIVE):.1f}%; bar: median)",
        fontsize=9,
    )
    ax.legend(fontsize=7.5, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _table_rows(d: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = [
        "recipe (map / correspondence / score)",
        "worst drop, high (pt)",
        "median, high (pt)",
        "worst drop, all (pt)",
        "median, all (pt)",
        "worst map",
    ]
    rows = []
    for r in _sorted_recipes(d):
        name = r["name"] + (" (paper)" if r["name"] == d["paper"] else "")
        name += " (best)" if r["name"] == d["best"] else ""
        rows.append(
            [
                name,
                _pt(r.get("worst_drop_high")),
                _pt(r.get("median_drop_high")),
                _pt(r["worst_drop"]),
                _pt(r["median_drop"]),
                str(r.get("worst_map_high") or r["worst_map"]),
            ]
        )
    semi = d.get("semi_supervised")
    if semi:
        rows.append(
            [
                semi["recipe"],
                *(_pt(semi[x]) for x in ("worst_drop_high", "median_drop_high")),
                *(_pt(semi[x]) for x in ("worst_drop", "median_drop")),
                str(semi.get("worst_map_high") or semi.get("worst_map")),
            ]
        )
    return header, rows


def _findings(d: Mapping[str, Any]) -> list[str]:
    by_name = {r["name"]: r for r in d["recipes"]}
    best, paper = by_name[d["best"]], by_name.get(d["paper"])
    high = d.get("high_models", [])
    out = [
        f"Models with native accuracy >= {100 * d.get('high_native', STRONG_NATIVE):.1f}%: "
        + (", ".join(f"`{m}`" for m in high) if high else "none")
        + f" (of {len(d['models'])}); native: "
        + ", ".join(f"`{m}` {100 * v['accuracy']:.2f}%" for m, v in d["native"].items())
        + "."
    ]

    def line(label: str, r: Mapping[str, Any]) -> str:
        return (
            f"**{label}** `{r['name']}`: worst drop {_pt(r.get('worst_drop_high'))} pt and median "
            f"{_pt(r.get('median_drop_high'))} pt between high-native models "
            f"({_pt(r['worst_drop'])} / {_pt(r['median_drop'])} pt over all "
            f"{len(r['maps'])} directed maps; worst: `{r.get('worst_map_high') or r['worst_map']}`)."
        )

    out.append(line("Best recipe", best))
    if paper is not None:
        out.append(line("Paper's recipe", paper))
    wh, mh = best.get("worst_drop_high"), best.get("median_drop_high")
    if wh is not None and mh is not None:
        met = wh <= 1.0 and mh <= 0.5
        out.append(
            "Goal (worst <= 1.0 pt, median <= 0.5 pt between high-native models): "
            + ("**met**." if met else "**not met**.")
        )
    pn = {k: v for k, v in (d.get("pairs_needed") or {}).items()}
    if pn:
        got = sorted(v for v in pn.values() if v is not None)
        missing = [k for k, v in pn.items() if v is None]
        if got:
            out.append(
                f"Correspondences needed for a mapped accuracy within 1 point of the full-data "
                f"map (best recipe, {len(pn)} directed maps): median {got[len(got) // 2]}, "
                f"max {got[-1]}"
                + (
                    f"; not reached within the swept sizes for {', '.join(missing)}"
                    if missing
                    else ""
                )
                + "."
            )
    return out


def compare_markdown(result: Any) -> str:
    """The section body as Markdown (without its heading).

    Parameters
    ----------
    result : CompareResult or dict
        The comparison, or its ``to_dict()``.

    Returns
    -------
    str
        The recipes table, the best recipe beside the paper's and the pairs it needs, in Markdown.
    """
    d = _payload(result)
    header, rows = _table_rows(d)
    md_list, _ = bullets(_findings(d))
    return (
        md_list
        + "\n\n"
        + markdown_table(header, rows)
        + "\n\n"
        + figure_markdown(FIGURE_NAME, "Drop per recipe, every directed map")
        + f"\n\n{d['n_folds']} folds, {d['n_pairs']} pairs ({d['n_invalid']} invalid, counted as "
        f"errors); every fit and threshold sees only the training folds. Run time {d['seconds']:.0f} s.\n"
    )


def compare_section(result: Any, *, figure: bool = True) -> Section:
    """A report :class:`~facebridge.report.Section` for a comparison result (or its JSON dict).

    Parameters
    ----------
    result : CompareResult or dict
        The comparison, or its ``to_dict()``.
    figure : bool, default True
        Include the drops figure (``compare_drops.png``).

    Returns
    -------
    Section
        The "Map recipes" section of the report.
    """
    d = _payload(result)
    header, rows = _table_rows(d)
    _, html_list = bullets(_findings(d))
    html = (
        html_list
        + html_table(header, rows)
        + (figure_html(FIGURE_NAME, "Drop per recipe, every directed map") if figure else "")
        + f"<p>{esc(d['n_folds'])} folds, {esc(d['n_pairs'])} pairs ({esc(d['n_invalid'])} invalid, "
        "counted as errors); every fit and threshold sees only the training folds.</p>"
    )
    md = compare_markdown(d)
    if not figure:
        md = md.replace(figure_markdown(FIGURE_NAME, "Drop per recipe, every directed map"), "")
    return Section(
        title="Beyond the paper: which map, correspondence and score",
        markdown=md,
        html=html,
        figures={FIGURE_NAME: compare_figure(d)} if figure else {},
    )
