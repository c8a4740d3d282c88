"""The privacy section of the report and the audit's figures.

:func:`privacy_section` turns the results of :func:`facebridge.experiments.privacy.audit` /
``audit_all`` -- either the result objects or their ``to_dict()`` JSON form, as written by
``facebridge audit --out`` -- into a :class:`facebridge.report.Section` (Markdown + HTML + PNG
figures).  The figures are also available alone: :func:`rank1_figure` (rank-1 rate against the
number of paired images, with chance and ceiling lines) and :func:`linkability_figure` (mated /
non-mated score densities with the local measure ``D<->(s)``).  matplotlib (Agg) is imported
inside the functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from facebridge.errors import InvalidInputError
from facebridge.report.base import Section, esc, figure_html, figure_markdown, paragraphs_html
from facebridge.report.figures import _plt, _png
from facebridge.report.tables import html_table, markdown_table

__all__ = [
    "audit_dicts",
    "linkability_figure",
    "privacy_section",
    "rank1_figure",
    "rank1_overview_figure",
    "summary_line",
]


def audit_dicts(audit_results: Iterable[Any] | Any) -> list[dict]:
    """Normalise audit results (objects with ``to_dict`` or dicts, one or many) to dicts.

    Parameters
    ----------
    audit_results : AuditResult, dict, or an iterable of them
        One audit result or several, as objects with ``to_dict`` or as dicts.

    Returns
    -------
    list of dict
        The results as dicts, in order.
    """
    if isinstance(audit_results, Mapping) or hasattr(audit_results, "to_dict"):
        audit_results = [audit_results]
    out = []
    for r in audit_results:
        d = r.to_dict() if hasattr(r, "to_dict") else r
        if not isinstance(d, Mapping) or "attack" not in d or "linkability" not in d:
            raise InvalidInputError(
                "audit results must be AuditResult objects or their to_dict() form "
                "(with 'attack' and 'linkability'); run facebridge.experiments.privacy.audit"
            )
        out.append(dict(d))
    if not out:
        raise InvalidInputError("no audit result to report; run the audit on at least one pair")
    return out


def summary_line(d: Mapping[str, Any]) -> str:
    """The plain-language summary of one audit result (dict form).

    Parameters
    ----------
    d : mapping
        One audit result as a dict (``AuditResult.to_dict()``).

    Returns
    -------
    str
        One plain-language sentence with the rank-1 rate and the linkability.
    """
    if d.get("summary"):
        return str(d["summary"])
    a, link = d["attack"], d["linkability"]
    return (
        f"{d['source']} -> {d['target']}: with {d['pairs']} paired images, "
        f"{d['rank1_at_pairs']:.0%} of leaked {d['source']} templates are re-identified at rank 1 "
        f"among {a['n_gallery']} enrolled identities; D_sys = {link['d_sys']:.2f}"
    )


def _label(d: Mapping[str, Any]) -> str:
    return f"{d['source']} \u2192 {d['target']}"


def rank1_figure(result: Any) -> bytes:
    """Rank-1 (and rank-5) rate of the mapped attack against the number of paired images.

    Mean over draws with a min-max band, and horizontal lines for B's native rate (ceiling),
    the unmapped attack and chance (``1 / N``).  Returns PNG bytes.

    Parameters
    ----------
    result : AuditResult or dict
        One audit result, or its ``to_dict()``.

    Returns
    -------
    bytes
        The figure as PNG.
    """
    d = audit_dicts(result)[0]
    a = d["attack"]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    p = a["p"]
    for key, colour, name in (("rank1", "C0", "rank-1"), ("rank5", "C1", "rank-5")):
        st = a[key]
        ax.plot(p, st["mean"], marker="o", color=colour, label=f"mapped, {name}")
        ax.fill_between(p, st["min"], st["max"], color=colour, alpha=0.2, linewidth=0)
    ax.axhline(
        a["native"]["rank1"],
        color="k",
        linestyle="-",
        linewidth=1,
        label=f"native {d['target']} rank-1",
    )
    ax.axhline(
        a["unmapped"]["rank1"],
        color="C2",
        linestyle=":",
        label=f"unmapped ({a['unmapped']['kind']})",
    )
    ax.axhline(
        a["chance"]["rank1"], color="grey", linestyle="--", label=f"chance 1/{a['n_gallery']}"
    )
    ax.axvline(d["pairs"], color="grey", linewidth=0.8, alpha=0.6)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("paired images the map is fitted on (p)")
    ax.set_ylabel("identification rate")
    ax.set_title(
        f"Re-identification of leaked {d['source']} templates in a {d['target']} gallery",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def linkability_figure(result: Any) -> bytes:
    """Mated / non-mated score densities of the mapped attack and the local measure ``D<->(s)``.

    Needs the curves (``to_dict(curves=True)``, the default).  Returns PNG bytes.

    Parameters
    ----------
    result : AuditResult or dict
        One audit result with its curves, or its ``to_dict()``.

    Returns
    -------
    bytes
        The figure as PNG.
    """
    d = audit_dicts(result)[0]
    m = d["linkability"]["mapped"]
    if "grid" not in m:
        raise InvalidInputError(
            "the linkability curves are missing; keep them with AuditResult.to_dict(curves=True)"
        )
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    ax.fill_between(
        m["grid"], m["nonmated_density"], step="mid", alpha=0.4, color="C3", label="non-mated"
    )
    ax.fill_between(m["grid"], m["mated_density"], step="mid", alpha=0.4, color="C0", label="mated")
    ax.set_xlabel(
        f"cosine score (mapped {d['source']} template vs enrolled {d['target']} template)"
    )
    ax.set_ylabel("density")
    ax2 = ax.twinx()
    ax2.plot(m["grid"], m["local"], color="k", linewidth=1.2, label="D\u2194(s)")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("D\u2194(s)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    ax.set_title(
        f"{_label(d)}: D_sys = {m['d_sys']:.2f}, maximal linkability = "
        f"{m['maximal_linkability']:.2f} bit",
        fontsize=9,
    )
    return _png(fig)


def rank1_overview_figure(results: Sequence[Any]) -> bytes:
    """Rank-1 against p for every audited pair: one panel per source model. PNG bytes.

    Parameters
    ----------
    results : sequence of AuditResult or dict
        The audited pairs.

    Returns
    -------
    bytes
        The figure as PNG.
    """
    ds = audit_dicts(results)
    sources = sorted({d["source"] for d in ds})
    plt = _plt()
    cols = min(3, len(sources))
    rows = (len(sources) + cols - 1) // cols
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(4.2 * cols, 3.2 * rows),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    targets = sorted({d["target"] for d in ds})
    colour = {t: f"C{i % 10}" for i, t in enumerate(targets)}
    for ax, src in zip(axes.ravel(), sources, strict=False):
        for d in (x for x in ds if x["source"] == src):
            a = d["attack"]
            ax.plot(
                a["p"], a["rank1"]["mean"], marker=".", color=colour[d["target"]], label=d["target"]
            )
            ax.axhline(
                a["native"]["rank1"], color=colour[d["target"]], linestyle=":", linewidth=0.8
            )
        chance = max(x["attack"]["chance"]["rank1"] for x in ds if x["source"] == src)
        ax.axhline(chance, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"leaked: {src}", fontsize=9)
        ax.set_xlabel("paired images p")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, title="attacker's model", title_fontsize=6)
    for ax in axes.ravel()[len(sources) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("rank-1 rate")
    fig.suptitle(
        "Re-identification vs paired images (dotted: native ceiling, dashed: chance)", fontsize=10
    )
    return _png(fig)


def _pct(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{100 * x:.1f}%"


def privacy_section(
    audit_results: Iterable[Any] | Any,
    *,
    title: str = "Privacy: re-identification and linkability of leaked templates",
    figures: bool = True,
    detail_pair: tuple[str, str] | None = None,
) -> Section:
    """The report section for one or more audited pairs.

    Parameters
    ----------
    audit_results : AuditResult, dict, or an iterable of them
        From :func:`facebridge.experiments.privacy.audit` / ``audit_all`` or their ``to_dict()``.
    title : str
    figures : bool
        Render the figures (rank-1 overview; rank-1 vs p and the ``D<->(s)`` plot of
        ``detail_pair``).
    detail_pair : (source, target), optional
        The pair shown in detail (default: the pair with the highest ``D_sys``).

    Returns
    -------
    facebridge.report.Section
    """
    ds = audit_dicts(audit_results)
    pairs = sorted({d["pairs"] for d in ds})
    header = [
        "leaked (A)",
        "attacker (B)",
        "N enrolled",
        f"rank-1 @ {'/'.join(map(str, pairs))} pairs",
        "rank-5",
        "DIR @ FPIR 1%",
        "native B rank-1",
        "unmapped rank-1",
        "chance",
        "D_sys",
        "max. linkability (bit)",
    ]
    rows = []
    for d in ds:
        a, link = d["attack"], d["linkability"]
        i = a["p"].index(d["pairs"])
        rows.append(
            [
                d["source"],
                d["target"],
                str(a["n_gallery"]),
                _pct(a["rank1"]["mean"][i]),
                _pct(a["rank5"]["mean"][i]),
                _pct(a["dir"]["mean"][i]),
                _pct(a["native"]["rank1"]),
                _pct(a["unmapped"]["rank1"]),
                _pct(a["chance"]["rank1"]),
                f"{link['d_sys']:.2f} (unmapped {link['unmapped']['d_sys']:.2f})",
                f"{link['maximal_linkability']:.2f}",
            ]
        )
    intro = [
        "Threat model (paper Sections 1 and 5): templates of system A leak without names; an "
        "attacker who runs system B and holds a labelled B gallery pushes a few hundred images "
        "through both systems, fits a linear map A\u2192B on them, maps the leaked templates and "
        "searches them in the B gallery. Correspondence, gallery and probe identities are "
        "disjoint; rates are means over random draws of the paired images.",
        "**Re-identification** is the closed-set rank-1 rate among N enrolled identities "
        "(chance 1/N); **DIR** is the open-set detection-and-identification rate when the "
        "alarm threshold lets 1% of non-enrolled leaked templates through. **D_sys** "
        "(Gomez-Barrero et al. 2018, 0 = unlinkable, 1 = fully linkable) and **maximal "
        "linkability** (Otroshi Shahreza et al. 2023, bits of the 1-bit mated/non-mated secret) "
        "measure how well a mapped template links to an enrolled one (ISO/IEC 24745 "
        "unlinkability). See docs/PRIVACY.md.",
    ]
    summaries = [summary_line(d) for d in ds]
    md_parts = [
        "\n\n".join(intro),
        "\n".join(f"- {s}" for s in summaries),
        markdown_table(header, rows),
    ]
    html_parts = [
        paragraphs_html(intro),
        "<ul>" + "".join(f"<li>{esc(s)}</li>" for s in summaries) + "</ul>",
        html_table(header, rows, row_header=True),
    ]
    figs: dict[str, bytes] = {}
    if figures:
        if len(ds) > 1:
            figs["privacy_rank1_all.png"] = rank1_overview_figure(ds)
        if detail_pair is not None:
            chosen = [d for d in ds if (d["source"], d["target"]) == tuple(detail_pair)]
            if not chosen:
                raise InvalidInputError(
                    f"detail_pair {detail_pair} was not audited; pick one of "
                    f"{[(d['source'], d['target']) for d in ds]}"
                )
            detail = chosen[0]
        else:
            detail = max(ds, key=lambda d: d["linkability"]["d_sys"])
        figs["privacy_rank1.png"] = rank1_figure(detail)
        if "grid" in detail["linkability"]["mapped"]:
            figs["privacy_linkability.png"] = linkability_figure(detail)
        captions = {
            "privacy_rank1_all.png": "Rank-1 re-identification against the number of paired images, every pair.",
            "privacy_rank1.png": f"Re-identification against paired images, {_label(detail)}.",
            "privacy_linkability.png": f"Score distributions and local linkability D\u2194(s), {_label(detail)}.",
        }
        for name in figs:
            md_parts.append(figure_markdown(name, captions[name]))
            html_parts.append(figure_html(name, captions[name]))
    return Section(
        title=title, markdown="\n\n".join(md_parts), html="".join(html_parts), figures=figs
    )
