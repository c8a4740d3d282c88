"""The standard sections of the report, each built from ``results`` (and the run's context)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from facebridge.report._results import pct, summarize
from facebridge.report.base import (
    ReportContext,
    Section,
    esc,
    figure_html,
    figure_markdown,
    inline_html,
    md_escape,
    paragraphs_html,
)
from facebridge.report.figures import (
    matrix_figure,
    pairs_sweep_figure,
    rank_sweep_figure,
    roc_figure,
)
from facebridge.report.tables import Cell, html_table, markdown_table, matrix_html, matrix_markdown
from facebridge.vocabulary import map_key

#: Above this many failed images the HTML list is folded into a <details> element.
_FOLD_FAILURES = 20


def _arrow(k: tuple[str, str]) -> str:
    return f"{k[0]} → {k[1]}"


def _median(values: list[float]) -> float:
    return float(np.median(values))


def headline(results: Mapping[str, Any], context: ReportContext) -> Section:
    """Headline numbers as cards plus a one-sentence verdict.

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    context : ReportContext
        What the report knows about the data and the run.

    Returns
    -------
    Section
        Its title, Markdown body, HTML body and figures.
    """
    from facebridge.report.paper import paper_table3, paper_table4

    s = summarize(results)
    (wk, wv) = s.worst_drop
    paper = summarize(paper_table4() if context.is_ytf else paper_table3())
    (pk, pv) = paper.worst_drop
    n_within = sum(1 for v in s.drop_vs_target.values() if v <= 1.0 + 1e-9)
    cards: list[tuple[str, str, str]] = [
        (f"{len(s.models)} models", f"{s.n_maps} maps", "directed source → target pairs"),
        (
            f"{wv:.2f} pt",
            "worst mapped drop",
            f"{_arrow(wk)}, against {wk[1]}'s native accuracy (paper: {pv:.2f} pt, {_arrow(pk)})",
        ),
        (f"{s.median_drop:.2f} pt", "median drop", f"{n_within} of {s.n_maps} maps within 1 point"),
    ]
    if s.unmapped:
        lo, hi = min(s.unmapped.values()), max(s.unmapped.values())
        cards.append(
            (
                f"{100 * lo:.0f}–{100 * hi:.0f}%"
                if hi - lo >= 0.02
                else f"{100 * lo:.1f}–{100 * hi:.1f}%",
                "unmapped accuracy",
                f"{len(s.unmapped)} equal-dim maps; chance is 50%",
            )
        )
    else:
        cards.append(("n/a", "unmapped accuracy", "no two models share a dimension"))
    needed = [v for v in s.pairs_needed.values() if v is not None]
    if needed:
        cards.append(
            (
                f"{round(_median(needed)):,}",
                "pairs for a 1-pt drop",
                f"median over maps; range {round(min(needed)):,}–{round(max(needed)):,} (paper: 200–400)",
            )
        )
    ranks = [v for v in s.rank_needed.values() if v is not None]
    if ranks:
        cards.append(
            (
                f"{round(_median(ranks))}",
                "rank within 1 pt",
                f"median; range {round(min(ranks))}–{round(max(ranks))} (paper: ~64 of 512)",
            )
        )
    if wv <= 1.0 + 1e-9:
        verdict = (
            f"Every one of the {s.n_maps} linear maps keeps verification accuracy within "
            f"{wv:.2f} points of the target model's own accuracy: these embedding spaces are "
            "(almost) linear transforms of each other."
        )
    else:
        verdict = (
            f"{n_within} of the {s.n_maps} linear maps keep verification accuracy within 1 point of "
            f"the target model's own accuracy; the median map loses {s.median_drop:.2f} points and "
            f"the worst ({_arrow(wk)}) {wv:.2f}."
        )
    if s.unmapped:
        verdict += (
            f" Compared directly, without a map, equal-dimension spaces score "
            f"{pct(min(s.unmapped.values()), 1)}–{pct(max(s.unmapped.values()), 1)}."
        )
    md = [verdict, ""]
    md += [f"- **{big}** {label} — {sub}" for big, label, sub in cards]
    if context.quick:
        md += [
            "",
            "> **Quick run**: no pairs-needed sweep (matrix, rank sweep and ROC only); rerun without `--quick` for the full analysis.",
        ]
    html = [f'<p class="verdict">{inline_html(verdict)}</p>', '<div class="cards">']
    for big, label, sub in cards:
        html.append(
            f'<div class="card"><div class="big">{esc(big)}</div>'
            f'<div class="label">{esc(label)}</div><div class="sub">{esc(sub)}</div></div>'
        )
    html.append("</div>")
    if context.quick:
        html.append(
            '<p class="quick"><strong>Quick run</strong>: no pairs-needed sweep (matrix, rank sweep and ROC only); rerun '
            "without <code>--quick</code> for the full analysis.</p>"
        )
    return Section("Headline", "\n".join(md), "".join(html))


def matrix_section(results: Mapping[str, Any], context: ReportContext) -> Section:
    """The cross-model matrix (Table 3 layout) as a table and a heat map.

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    context : ReportContext
        What the report knows about the data and the run.

    Returns
    -------
    Section
        Its title, Markdown body, HTML body and figures.
    """
    intro = (
        "Verification accuracy (mean over the test folds) when the **From** model's embedding of "
        "the left image is mapped into the **To** model's space and compared with the To model's "
        "embedding of the right image. Diagonal (bold): each model on its own. In parentheses: "
        "the same comparison without a map (identity), n/a where the dimensions differ."
    )
    fig = matrix_figure(results)
    caption = "Cross-model verification accuracy %: mapped (unmapped)"
    md = "\n\n".join([intro, matrix_markdown(results), figure_markdown("matrix.png", caption)])
    html = paragraphs_html([intro]) + matrix_html(results) + figure_html("matrix.png", caption)
    return Section("Cross-model matrix", md, html, {"matrix.png": fig})


def pairs_section(results: Mapping[str, Any], context: ReportContext) -> Section | None:
    """Accuracy against the number of corresponding pairs (the paper's Figure 3).

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    context : ReportContext
        What the report knows about the data and the run.

    Returns
    -------
    Section or None
        Its title, Markdown body, HTML body and figures; ``None`` when ``results`` has no pairs sweep.
    """
    fig = pairs_sweep_figure(results)
    if fig is None:
        return None
    s = summarize(results)
    rows: list[list[Cell | str]] = []
    for (a, b), p, entry in _sweep_entries(results, "pairs_sweep", s.pairs_needed):
        rows.append(
            [
                Cell(_arrow((a, b))),
                "never" if p is None else f"{round(p):,}",
                pct(entry["accuracy"][0]),
                pct(s.mapped[(a, b)]),
            ]
        )
    first = next(iter(results["pairs_sweep"].values()))
    header = ["Map", "pairs within 1 pt", f"accuracy at p = {float(first['p'][0]):g}", "all pairs"]
    intro = (
        "Each map is refitted on p randomly chosen corresponding training pairs (the threshold is "
        "still chosen on all training pairs), averaged over folds and random draws. The red dot "
        "marks the smallest p whose accuracy is within 1 point of the map fitted on all pairs."
    )
    caption = "Mapped accuracy against the number of corresponding pairs (paper's Figure 3)"
    return _figure_table_section(
        "Pairs needed", intro, "pairs_sweep.png", fig, caption, header, rows
    )


def rank_section(results: Mapping[str, Any], context: ReportContext) -> Section | None:
    """Accuracy against the rank of the truncated map (the paper's Figure 4).

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    context : ReportContext
        What the report knows about the data and the run.

    Returns
    -------
    Section or None
        Its title, Markdown body, HTML body and figures; ``None`` when ``results`` has no rank sweep.
    """
    fig = rank_sweep_figure(results)
    if fig is None:
        return None
    s = summarize(results)
    rows: list[list[Cell | str]] = []
    for (a, b), r, entry in _sweep_entries(results, "rank_sweep", s.rank_needed):
        acc = dict(zip([float(x) for x in entry["rank"]], entry["accuracy"], strict=True))
        rows.append(
            [
                Cell(_arrow((a, b))),
                "never" if r is None else f"{round(r)}",
                f"{round(s.full_rank[(a, b)])}",
                pct(acc.get(16.0)),
                pct(acc.get(64.0)),
                pct(entry["accuracy"][-1]),
            ]
        )
    header = ["Map", "rank within 1 pt", "full rank", "rank 16", "rank 64", "full"]
    intro = (
        "Each fitted map is truncated to its k largest singular values (Section 4.2 of the paper) "
        "and evaluated again. The red dot marks the smallest rank within 1 point of the full map."
    )
    caption = "Mapped accuracy against the rank of the map (paper's Figure 4)"
    return _figure_table_section("Rank needed", intro, "rank_sweep.png", fig, caption, header, rows)


def _sweep_entries(
    results: Mapping[str, Any], sweep: str, needed: Mapping[tuple[str, str], float | None]
) -> list[tuple[tuple[str, str], float | None, Mapping[str, Any]]]:
    """Each map, what it needs (pairs / rank) and its ``results[sweep]`` entry, by what it needs,
    smallest first; maps that never get there last."""
    order = sorted(needed.items(), key=lambda kv: (kv[1] is None, kv[1] or 0))
    return [(k, v, results[sweep][map_key(*k)]) for k, v in order]


def _figure_table_section(
    title: str,
    intro: str,
    name: str,
    fig: bytes,
    caption: str,
    header: list[str],
    rows: list[list[Cell | str]],
) -> Section:
    """A section of an intro paragraph, a figure (file ``name``) and a small table under it."""
    md = "\n\n".join([intro, figure_markdown(name, caption), markdown_table(header, rows)])
    html = (
        paragraphs_html([intro])
        + figure_html(name, caption)
        + html_table(header, rows, css="small")
    )
    return Section(title, md, html, {name: fig})


def _scalars(entry: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in entry.items():
        if isinstance(v, Mapping):
            out.update(_scalars(v, f"{prefix}{k} "))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


_ROC_LABELS = {
    "auc": "AUC",
    "eer": "EER",
    "tar_at_far_1e-2": "TAR @ FAR 1e-2",
    "tar_at_far_1e-3": "TAR @ FAR 1e-3",
}


def roc_section(results: Mapping[str, Any], context: ReportContext) -> Section | None:
    """ROC curves and the summary numbers (AUC, EER, TAR at FAR) per map, when present.

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    context : ReportContext
        What the report knows about the data and the run.

    Returns
    -------
    Section or None
        Its title, Markdown body, HTML body and figures; ``None`` when ``results`` has no ROC summaries.
    """
    roc = results.get("roc") or {}
    if not roc:
        return None
    fig = roc_figure(results)
    cols: list[str] = []
    table: dict[str, dict[str, float]] = {}
    for key, entry in roc.items():
        if isinstance(entry, Mapping):
            sc = _scalars(entry)
            table[key] = sc
            cols += [c for c in sc if c not in cols]
    header = ["Map", *(_ROC_LABELS.get(c, c) for c in cols)]
    rows: list[list[Cell | str]] = []
    for key in sorted(
        table, key=lambda k: (k.split("->")[0], k.split("->")[-1] != k.split("->")[0], k)
    ):
        sc = table[key]
        label = key.replace("->", " → ")
        rows.append([Cell(label), *(f"{sc[c]:.4f}" if c in sc else "" for c in cols)])
    intro = "Receiver operating characteristic of every native and mapped comparison."
    caption = "ROC: true accept rate against false match rate (native dashed)"
    md_parts = [intro]
    html = paragraphs_html([intro])
    figures: dict[str, bytes] = {}
    if fig is not None:
        figures["roc.png"] = fig
        md_parts.append(figure_markdown("roc.png", caption))
        html += figure_html("roc.png", caption)
    if cols:
        md_parts.append(markdown_table(header, rows))
        html += html_table(header, rows, css="small")
    return Section("ROC", "\n\n".join(md_parts), html, figures)


def models_section(results: Mapping[str, Any], context: ReportContext) -> Section:
    """The models: architecture, training data, dim, provenance, licence, accuracy ours/published.

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    context : ReportContext
        What the report knows about the data and the run.

    Returns
    -------
    Section
        Its title, Markdown body, HTML body and figures.
    """
    dims = context.dims(results)
    header = [
        "Model",
        "Architecture",
        "Training data",
        "Dim",
        "Provenance",
        "Licence",
        "Native (ours)",
        "Published",
    ]
    rows: list[list[Cell | str]] = []
    for m in results["models"]:
        info = context.models.get(m)
        pub = info.published_accuracy if info else None
        pub_s = pct(pub) if pub is not None else "—"
        if info and pub is not None and info.published_source:
            pub_s += f" ({info.published_source})"
        rows.append(
            [
                Cell(m, bold=True),
                (info.architecture or "—") if info else "—",
                (info.training_data or "—") if info else "—",
                str(dims.get(m, "—")),
                (info.provenance or "—") if info else "—",
                (info.licence or "—") if info else "—",
                pct(float(results["native"][m]["accuracy"])),
                pub_s,
            ]
        )
    note = (
        "Native accuracy is ours on this run's protocol; published figures are each model's own "
        "claim, measured with its authors' preprocessing."
    )
    md = "\n\n".join([markdown_table(header, rows), note])
    html = html_table(header, rows, css="models") + paragraphs_html([note])
    return Section("Models", md, html)


def data_section(results: Mapping[str, Any], context: ReportContext) -> Section:
    """Dataset, protocol, detector, counts, the missing-pair policy and every failed image.

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    context : ReportContext
        What the report knows about the data and the run.

    Returns
    -------
    Section
        Its title, Markdown body, HTML body and figures.
    """
    # (Markdown, HTML) of each fact: user-controlled text is escaped for both
    facts: list[tuple[str, str]] = []

    def fact(label: str, value: str, *, code: bool = False) -> None:
        html_value = f"<code>{esc(value)}</code>" if code else esc(value)
        facts.append((f"{label}: {md_escape(value)}", f"{esc(label)}: {html_value}"))

    if context.dataset:
        fact("Dataset", context.dataset)
    if context.protocol:
        fact("Protocol", context.protocol, code=True)
    if context.n_pairs is not None:
        fact("Pairs", f"{context.n_pairs:,}")
    if context.n_items is not None:
        fact("Distinct images/videos used by the protocol", f"{context.n_items:,}")
    if context.embedded:
        fact("Embedded per model", ", ".join(f"{m} {n:,}" for m, n in context.embedded.items()))
    if context.detector:
        fact("Detector / alignment", context.detector)
    if context.store:
        fact("Embedding store", context.store, code=True)
    if context.n_invalid_pairs is not None:
        fact(
            "Pairs with a missing embedding",
            f"{context.n_invalid_pairs:,}"
            + (f" of {context.n_pairs:,}" if context.n_pairs else ""),
        )
    fact("Missing-pair policy", context.missing_pair_policy)
    for note in context.notes:
        facts.append((md_escape(note), esc(note)))
    md_f = "\n".join(f"- {m}" for m, _ in facts)
    html_f = "<ul>" + "".join(f"<li>{h}</li>" for _, h in facts) + "</ul>"
    by_item: dict[str, dict[str, str]] = {}
    for model, fails in context.failures.items():
        for item, reason in fails.items():
            by_item.setdefault(item, {})[model] = reason
    md = [md_f, ""]
    html = [html_f]
    title = f"Failed images ({len(by_item)})"
    if by_item:
        header = ["Image", "Model(s)", "Reason"]
        rows: list[list[Cell | str]] = []
        for item in sorted(by_item):
            per = by_item[item]
            reasons = sorted(set(per.values()))
            if len(reasons) == 1:
                rows.append([item, ", ".join(sorted(per)), reasons[0]])
            else:
                for model in sorted(per):
                    rows.append([item, model, per[model]])
        md += [f"### {title}", "", markdown_table(header, rows)]
        table = html_table(header, rows, css="small failures", row_header=False)
        if len(rows) > _FOLD_FAILURES:
            html.append(f"<details><summary>{esc(title)}</summary>{table}</details>")
        else:
            html.append(f"<h3>{esc(title)}</h3>{table}")
    else:
        none = "No image failed: every item of the protocol was embedded by every model."
        if not context.failures and not context.embedded:
            none = "No failure information was given to the report (no store manifests)."
        md.append(none)
        html.append(paragraphs_html([none]))
    return Section("Data", "\n".join(md), "".join(html))


def settings_section(results: Mapping[str, Any], context: ReportContext) -> Section:
    """The analysis settings, the command line and the library version.

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    context : ReportContext
        What the report knows about the data and the run.

    Returns
    -------
    Section
        Its title, Markdown body, HTML body and figures.
    """
    from facebridge import __version__

    settings = dict(results.get("settings") or {})
    rows: list[list[Cell | str]] = [[Cell(str(k)), _short(v)] for k, v in sorted(settings.items())]
    rows.append([Cell("facebridge"), __version__])
    if context.command:
        rows.append([Cell("command"), context.command])
    rows.append([Cell("quick"), "yes (no pairs-needed sweep)" if context.quick else "no"])
    header = ["Setting", "Value"]
    return Section("Settings", markdown_table(header, rows), html_table(header, rows, css="small"))


def _short(v: Any, limit: int = 200) -> str:
    text = str(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def default_sections(
    results: Mapping[str, Any], context: ReportContext
) -> tuple[list[Section], list[Section]]:
    """The built-in sections: (before the extras, after the extras).

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    context : ReportContext
        What the report knows about the data and the run.

    Returns
    -------
    tuple of (list of Section, list of Section)
        The sections placed before the extra sections and those placed after them.
    """
    from facebridge.report.paper import paper_comparison

    first: list[Section | None] = [
        headline(results, context),
        matrix_section(results, context),
        paper_comparison(results, context),
        pairs_section(results, context),
        rank_section(results, context),
        roc_section(results, context),
    ]
    last: list[Section | None] = [
        models_section(results, context),
        data_section(results, context),
        settings_section(results, context),
    ]
    return [s for s in first if s is not None], [s for s in last if s is not None]
