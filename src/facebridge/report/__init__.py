"""Reports: ``results.json``, Markdown tables in the paper's layout, figures and one
self-contained HTML page.  See docs/ARCHITECTURE.md.

>>> from facebridge.report import write_report          # doctest: +SKIP
>>> paths = write_report(results, "facebridge-report")   # doctest: +SKIP
>>> print(paths.html)                                    # doctest: +SKIP

Sections are pluggable: build a :class:`Section` (title, Markdown, HTML, PNG figures) and pass it
in ``sections_extra``.
"""

from __future__ import annotations

from facebridge.report._results import (
    Summary,
    summarize,
    to_jsonable,
    validate_results,
)
from facebridge.report.base import (
    MISSING_PAIR_POLICY,
    ModelInfo,
    ReportContext,
    ReportPaths,
    Section,
    figure_html,
    figure_markdown,
)
from facebridge.report.paper import paper_comparison, paper_table3, paper_table4
from facebridge.report.tables import (
    format_matrix_terminal,
    html_table,
    markdown_table,
    matrix_html,
    matrix_markdown,
)
from facebridge.report.write import build_sections, external_references, write_report

__all__ = [
    "MISSING_PAIR_POLICY",
    "ModelInfo",
    "ReportContext",
    "ReportPaths",
    "Section",
    "Summary",
    "build_sections",
    "external_references",
    "figure_html",
    "figure_markdown",
    "format_matrix_terminal",
    "html_table",
    "markdown_table",
    "matrix_html",
    "matrix_markdown",
    "paper_comparison",
    "paper_table3",
    "paper_table4",
    "summarize",
    "to_jsonable",
    "validate_results",
    "write_report",
]
