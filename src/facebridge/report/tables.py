"""Tables in the paper's Table 3 layout, as Markdown, HTML and plain terminal text.

Rows are the "From" (source) model, columns the "To" (target) model; the diagonal (bold) is the
native accuracy; off-diagonal cells are ``mapped (unmapped)``, with ``n/a`` where the two spaces
have different dimensions and so cannot be compared without a map.
"""

from __future__ import annotations

import html as _html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from facebridge.contracts import AnalysisResult
from facebridge.report._results import matrix_cell, pct
from facebridge.report.base import md_escape


@dataclass(frozen=True)
class Cell:
    """One table cell: text, optional emphasis and an optional CSS class for the HTML."""

    text: str
    bold: bool = False
    css: str = ""
    title: str = ""


def _cell(x: Cell | str) -> Cell:
    return x if isinstance(x, Cell) else Cell(str(x))


def markdown_table(header: Sequence[Cell | str], rows: Sequence[Sequence[Cell | str]]) -> str:
    """A GitHub-flavoured Markdown table; every cell's text is shown as typed (see
    :func:`facebridge.report.base.md_escape`).

    Parameters
    ----------
    header : sequence of Cell or str
    rows : sequence of sequences of Cell or str

    Returns
    -------
    str

    Examples
    --------
    >>> print(markdown_table(["Id", "Reason"], [["a|b", "<x>"]]))
    | Id | Reason |
    |---|---|
    | a\\|b | \\<x\\> |
    """

    def fmt(c: Cell | str) -> str:
        c = _cell(c)
        t = md_escape(c.text)
        return f"**{t}**" if c.bold and t else t

    lines = ["| " + " | ".join(fmt(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def html_table(
    header: Sequence[Cell | str],
    rows: Sequence[Sequence[Cell | str]],
    *,
    css: str = "",
    row_header: bool = True,
) -> str:
    """An HTML table; the first column is a row header (``<th scope=row>``) when ``row_header``.

    Parameters
    ----------
    header : sequence of Cell or str
    rows : sequence of sequences of Cell or str
    css : str
        The table's class.
    row_header : bool

    Returns
    -------
    str
        Every cell's text HTML-escaped.

    Examples
    --------
    >>> "&lt;x&gt;" in html_table(["Id"], [["<x>"]])
    True
    """

    def td(c: Cell | str, tag: str) -> str:
        c = _cell(c)
        attrs = ""
        if c.css:
            attrs += f' class="{_html.escape(c.css)}"'
        if c.title:
            attrs += f' title="{_html.escape(c.title)}"'
        if tag == "th" and row_header:
            attrs += ' scope="row"'
        text = _html.escape(c.text)
        if c.bold:
            text = f"<strong>{text}</strong>"
        return f"<{tag}{attrs}>{text}</{tag}>"

    head = "".join(f"<th>{_html.escape(_cell(h).text)}</th>" for h in header)
    body = []
    for row in rows:
        cells = [td(c, "th" if (i == 0 and row_header) else "td") for i, c in enumerate(row)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>" + "".join(body) + "</tbody></table>"


def _heat_class(acc: float) -> str:
    """A colour band for an accuracy (fraction): used by the HTML matrix."""
    if acc >= 0.99:
        return "h5"
    if acc >= 0.98:
        return "h4"
    if acc >= 0.95:
        return "h3"
    if acc >= 0.90:
        return "h2"
    if acc >= 0.75:
        return "h1"
    return "h0"


def matrix_rows(
    results: Mapping[str, Any], *, models: Sequence[str] | None = None, digits: int = 2
) -> tuple[list[Cell], list[list[Cell]]]:
    """Header and rows of the cross-model matrix in the Table 3 layout.

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    models : sequence of str, optional
        Row and column order (default ``results["models"]``).
    digits : int, default 2
        Decimals of the percentages.

    Returns
    -------
    tuple
        The header cells and one list of cells per source model (diagonal: native accuracy; off
        the diagonal: ``mapped (unmapped)``).
    """
    models = list(models or results["models"])
    header = [Cell("From \\ To"), *(Cell(m) for m in models)]
    rows: list[list[Cell]] = []
    for a in models:
        row = [Cell(a, bold=True)]
        for b in models:
            cell = matrix_cell(results, a, b)
            acc = float(cell["accuracy"])
            std = cell.get("std")
            tip = f"± {pct(std, digits)} over folds" if std is not None else ""
            if a == b:
                row.append(
                    Cell(pct(acc, digits), bold=True, css=f"diag {_heat_class(acc)}", title=tip)
                )
            else:
                un = cell.get("unmapped_accuracy")
                text = f"{pct(acc, digits)} ({pct(un, digits) if un is not None else 'n/a'})"
                row.append(Cell(text, css=_heat_class(acc), title=tip))
        rows.append(row)
    return header, rows


def matrix_markdown(results: Mapping[str, Any], *, digits: int = 2) -> str:
    """The cross-model matrix as a Markdown table (Table 3 layout).

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    digits : int, default 2
        Decimals of the percentages.

    Returns
    -------
    str
        A Markdown table.
    """
    header, rows = matrix_rows(results, digits=digits)
    return markdown_table(header, rows)


def matrix_html(results: Mapping[str, Any], *, digits: int = 2) -> str:
    """The cross-model matrix as an HTML table with accuracy colour bands (Table 3 layout).

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    digits : int, default 2
        Decimals of the percentages.

    Returns
    -------
    str
        An HTML ``<table>`` element.
    """
    header, rows = matrix_rows(results, digits=digits)
    return html_table(header, rows, css="matrix")


def format_matrix_terminal(results: AnalysisResult | Mapping[str, Any], *, digits: int = 2) -> str:
    """The cross-model matrix as aligned plain text for a terminal.

    Rows are "From", columns "To"; the native accuracy on the diagonal is shown in ``[brackets]``
    (terminals have no bold); off-diagonal cells are ``mapped (unmapped)`` or ``mapped (n/a)``.

    Parameters
    ----------
    results : AnalysisResult or mapping
        The analysis (or its ``results.json`` payload).
    digits : int
        Decimals of the percentages.

    Returns
    -------
    str

    Examples
    --------
    >>> from facebridge.report import paper_table3
    >>> print(format_matrix_terminal(paper_table3()).splitlines()[0])  # doctest: +ELLIPSIS
    From \\ To ...
    """
    if isinstance(results, AnalysisResult):
        results = results.to_dict()
    models = list(results["models"])
    grid: list[list[str]] = [["From \\ To", *models]]
    for a in models:
        row = [a]
        for b in models:
            cell = matrix_cell(results, a, b)
            acc = float(cell["accuracy"])
            if a == b:
                row.append(f"[{100 * acc:.{digits}f}]")
            else:
                un = cell.get("unmapped_accuracy")
                un_s = "n/a" if un is None else f"{100 * float(un):.{digits}f}"
                row.append(f"{100 * acc:.{digits}f} ({un_s})")
        grid.append(row)
    widths = [max(len(r[i]) for r in grid) for i in range(len(grid[0]))]
    lines = []
    for r_i, row in enumerate(grid):
        parts = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
        if r_i == 0:
            lines.append("-" * len(lines[0]))
    lines.append(
        "mean accuracy % over the test folds; rows From, columns To; [native]; "
        "mapped (unmapped; n/a where the dims differ)"
    )
    return "\n".join(lines)
