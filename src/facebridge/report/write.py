"""Write a report: ``results.json``, ``report.md``, ``report.html`` and the figures as PNG."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from facebridge.errors import InvalidInputError
from facebridge.report._results import validate_results
from facebridge.report.base import ReportContext, ReportPaths, Section, esc
from facebridge.report.sections import default_sections

_CSS = """
:root{--fg:#1d2433;--muted:#5b6478;--line:#e3e7ef;--bg:#f6f8fb;--accent:#2f5bd3;--card:#fff}
*{box-sizing:border-box}
body{margin:0;font:15px/1.55 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{background:linear-gradient(120deg,#1f3b8f,#2f5bd3);color:#fff;padding:28px 40px 22px}
header h1{margin:0 0 6px;font-size:26px;font-weight:650}
header .meta{opacity:.85;font-size:13.5px}
nav{background:#fff;border-bottom:1px solid var(--line);padding:8px 40px;position:sticky;top:0;z-index:2;font-size:13.5px}
nav a{color:var(--accent);text-decoration:none;margin-right:16px;white-space:nowrap}
main{max-width:1280px;margin:0 auto;padding:8px 40px 60px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 26px;margin:22px 0;box-shadow:0 1px 2px rgba(20,30,60,.04)}
h2{margin:4px 0 12px;font-size:20px}
h3{margin:20px 0 8px;font-size:16px;color:#2a3350}
p{margin:8px 0}
code{background:#eef1f7;padding:1px 5px;border-radius:4px;font-size:90%}
.verdict{font-size:17px;line-height:1.5}
.cards{display:flex;flex-wrap:wrap;gap:14px;margin:14px 0 4px}
.card{flex:1 1 170px;background:var(--bg);border:1px solid var(--line);border-radius:10px;padding:12px 16px}
.card .big{font-size:28px;font-weight:700;color:var(--accent);line-height:1.15}
.card .label{font-weight:600;margin-top:2px}
.card .sub{color:var(--muted);font-size:12.5px;margin-top:4px}
.quick{background:#fff6db;border:1px solid #f0d98a;border-radius:8px;padding:8px 12px}
table{border-collapse:collapse;margin:12px 0;font-size:13.5px;font-variant-numeric:tabular-nums}
th,td{border:1px solid var(--line);padding:6px 10px;text-align:right;vertical-align:top}
thead th{background:#eef1f7;text-align:center}
tbody th{text-align:left;background:#fafbfd;font-weight:600}
table.models td,table.compare td,table.failures td{text-align:left}
table.compare td:first-child{font-weight:600}
table.matrix td{min-width:120px;text-align:center}
table.matrix td.diag{outline:2px solid #1d2433;outline-offset:-2px}
.h5{background:#d7f2dd}.h4{background:#e8f6d8}.h3{background:#fbf3cf}.h2{background:#fde3c8}.h1{background:#fbd0c6}.h0{background:#f4b9b9}
figure{margin:14px 0}
figure img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:8px;background:#fff}
figcaption{color:var(--muted);font-size:13px;margin-top:4px}
details summary{cursor:pointer;font-weight:600;margin:10px 0}
footer{color:var(--muted);font-size:12.5px;text-align:center;padding:10px 0 30px}
"""


class _RefScanner(HTMLParser):
    """Collects every attribute that could load something from elsewhere."""

    def __init__(self, allowed: frozenset[str] = frozenset()) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.allowed = allowed

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "link":
            self.problems.append(f"<link {a.get('rel', '')} href={a.get('href', '')!r}>")
        if tag == "script" and "src" in a:
            self.problems.append(f"<script src={a['src']!r}>")
        for key in ("src", "href", "srcset", "data", "poster", "action", "background"):
            val = a.get(key, "").strip().lower()
            if not val or val.startswith("#"):
                continue
            if key == "src" and (val.startswith("data:") or a[key].strip() in self.allowed):
                continue
            if key == "href" and val.startswith(("data:", "#")):
                continue
            self.problems.append(f"<{tag} {key}={val[:60]!r}>")

    def handle_data(self, data: str) -> None:
        return None


def external_references(html: str, allowed: Iterable[str] = ()) -> list[str]:
    """Every reference in ``html`` that would make the browser load something not embedded.

    Allowed: ``data:`` URIs and in-page ``#anchors``.  Flagged: ``<link>``, ``<script src>``,
    any other ``src``/``href``/``srcset``..., and CSS ``url(...)`` / ``@import`` that is not a
    ``data:`` URI.  ``allowed`` names ``src`` values to accept (a section's own figure names,
    before they are embedded).

    Parameters
    ----------
    html : str
        An HTML document or fragment.
    allowed : iterable of str, default ()
        ``src`` values to accept.

    Returns
    -------
    list of str
        The offending references, in document order (empty when the HTML is self-contained).

    Examples
    --------
    >>> external_references('<img src="data:image/png;base64,AA"><a href="#x">x</a>')
    []
    >>> len(external_references('<script src="https://example.org/a.js"></script>')) > 0
    True
    """
    scanner = _RefScanner(frozenset(allowed))
    scanner.feed(html)
    problems = list(scanner.problems)
    for m in re.finditer(r"url\(\s*['\"]?([^'\")]+)", html, flags=re.IGNORECASE):
        if not m.group(1).strip().lower().startswith("data:"):
            problems.append(f"url({m.group(1)[:60]})")
    if re.search(r"@import", html, flags=re.IGNORECASE):
        problems.append("@import")
    return problems


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never half-written).

    Parameters
    ----------
    path : Path
        The file to write.
    data : bytes or str
        Its content (str is written as UTF-8).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, "x")
    >>> p.read_text()
    'x'
    """
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def _render_html(sections: list[Section], context: ReportContext, figures: dict[str, bytes]) -> str:
    def embed(match: re.Match[str]) -> str:
        name = match.group(2)
        if name in figures:
            b64 = base64.b64encode(figures[name]).decode("ascii")
            return f"{match.group(1)}data:image/png;base64,{b64}{match.group(3)}"
        return match.group(0)

    from facebridge import __version__

    meta = []
    if context.dataset:
        meta.append(esc(context.dataset))
    if context.protocol:
        meta.append(f"protocol {esc(context.protocol)}")
    if context.quick:
        meta.append("<strong>quick run</strong>")
    meta.append(f"facebridge {esc(__version__)}")
    nav = "".join(f'<a href="#{s.anchor}">{esc(s.title)}</a>' for s in sections)
    body = []
    for s in sections:
        frag = re.sub(r'(<img\b[^>]*?\bsrc=")([^"]+)(")', embed, s.html)
        body.append(f'<section id="{s.anchor}"><h2>{esc(s.title)}</h2>{frag}</section>')
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(context.title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1>{esc(context.title)}</h1><div class="meta">{" · ".join(meta)}</div></header>'
        f"<nav>{nav}</nav><main>{''.join(body)}</main>"
        "<footer>Generated by facebridge. One self-contained file: every figure is embedded."
        "</footer></body></html>\n"
    )


def _render_markdown(sections: list[Section], context: ReportContext) -> str:
    parts = [f"# {context.title}", ""]
    if context.quick:
        parts += ["*Quick run: no pairs-needed sweep.*", ""]
    for s in sections:
        parts += [f"## {s.title}", "", s.markdown.strip(), ""]
    return "\n".join(parts)


def _run_info(context: ReportContext) -> dict[str, Any]:
    info: dict[str, Any] = {
        "protocol": context.protocol,
        "dataset": context.dataset,
        "detector": context.detector,
        "n_items": context.n_items,
        "n_pairs": context.n_pairs,
        "n_invalid_pairs": context.n_invalid_pairs,
        "n_failures": {m: len(f) for m, f in context.failures.items()},
        "quick": context.quick,
        "command": context.command,
        "missing_pair_policy": context.missing_pair_policy,
    }
    return {k: v for k, v in info.items() if v not in (None, {})}


#: Figure names the built-in sections may use.
BUILTIN_FIGURES = ("matrix.png", "pairs_sweep.png", "rank_sweep.png", "roc.png")


def _check_extras(extras: list[Section]) -> None:
    names: set[str] = set(BUILTIN_FIGURES)
    for s in extras:
        if not isinstance(s, Section):
            raise InvalidInputError(
                f"sections_extra must hold facebridge.report.Section objects, got {type(s).__name__}"
            )
        for name in s.figures:
            if name in names:
                raise InvalidInputError(
                    f"two report sections both define figure {name!r}; give each figure a unique name"
                )
            names.add(name)
        bad = external_references(s.html, allowed=s.figures)
        if bad:
            raise InvalidInputError(
                f"section {s.title!r} references {bad[0]} outside the report; embed figures by "
                "their .png name and use no external links"
            )


def build_sections(
    results: Mapping[str, Any],
    sections_extra: Iterable[Section] = (),
    context: ReportContext | None = None,
) -> list[Section]:
    """All sections of the report in order: built-in first part, the extras, built-in last part.

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    sections_extra : iterable of Section, default ()
        Sections placed between the built-in parts (privacy audit, compare-maps, ...).
    context : ReportContext, optional
        What the report knows about the data and the run (default: an empty context).

    Returns
    -------
    list of Section
        Every section of the report, in order.
    """
    ctx = context or ReportContext()
    first, last = default_sections(results, ctx)
    extras = list(sections_extra)
    for s in extras:
        if not isinstance(s, Section):
            raise InvalidInputError(
                f"sections_extra must hold facebridge.report.Section objects, got {type(s).__name__}"
            )
    return first + extras + last


def write_report(
    results: Mapping[str, Any],
    out_dir: str | Path,
    sections_extra: Iterable[Section] = (),
    context: ReportContext | None = None,
) -> ReportPaths:
    """Validate ``results`` and write the report into ``out_dir`` (created if needed).

    Writes ``results.json`` (NaN as ``null``, plus a ``"run"`` object describing the data when a
    context is given), ``report.md``, ``report.html`` (one self-contained file: inline CSS,
    figures as base64 ``data:`` URIs, no external reference) and every figure as PNG
    (``matrix.png``, ``pairs_sweep.png``, ``rank_sweep.png``, ``roc.png`` when the results hold the
    data for them, plus the extra sections' figures).

    Parameters
    ----------
    results : AnalysisResult or mapping
        The analysis result, or its ``results.json`` dict.
    out_dir : str or Path
        The report folder (created if needed).
    sections_extra : iterable of Section, default ()
        Extra sections, placed after the ROC section.
    context : ReportContext, optional
        What the report knows about the data and the run; gives ``results.json`` its ``run`` object.

    Returns
    -------
    ReportPaths
        The paths written: ``results_json``, ``markdown``, ``html`` and ``figures`` by name.

    Raises
    ------
    InvalidInputError
        ``results`` does not follow the schema, two sections define the same figure name, or a
        section's HTML references something outside the file.
    """
    ctx = context or ReportContext()
    clean = validate_results(results)
    extras = list(sections_extra)
    _check_extras(extras)  # fail before the (slow) figures are drawn
    sections = build_sections(clean, extras, ctx)
    figures: dict[str, bytes] = {}
    for s in sections:
        for name, data in s.figures.items():
            if name in figures:
                raise InvalidInputError(
                    f"two report sections both define figure {name!r}; give each figure a unique name"
                )
            figures[name] = bytes(data)
    html = _render_html(sections, ctx, figures)
    bad = external_references(html)
    if bad:
        raise InvalidInputError(
            f"report.html would reference {bad[0]} outside the file; embed figures by their .png "
            "name and use no external links"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = dict(clean)
    if context is not None:
        payload["run"] = _run_info(ctx)
    fig_paths: dict[str, Path] = {}
    for name, data in figures.items():
        fig_paths[name] = out / name
        atomic_write(fig_paths[name], data)
    results_json = out / "results.json"
    atomic_write(results_json, json.dumps(payload, indent=2, allow_nan=False) + "\n")
    md_path, html_path = out / "report.md", out / "report.html"
    atomic_write(md_path, _render_markdown(sections, ctx))
    atomic_write(html_path, html)
    return ReportPaths(out, results_json, md_path, html_path, fig_paths)
