"""The building blocks of a report: sections, the run's context, and the written paths.

A report is a list of :class:`Section` objects, each carrying the same content twice — as
Markdown (for ``report.md``) and as an HTML fragment (for ``report.html``) — plus its figures as
PNG bytes.  A section refers to its figures by file name: ``![caption](matrix.png)`` in Markdown,
``<img src="matrix.png">`` in HTML; :func:`facebridge.report.write_report` writes each figure next
to the report and replaces the HTML reference by an embedded ``data:`` URI, so ``report.html`` is
one self-contained file.  Other modules add sections by building :class:`Section` objects and
passing them as ``sections_extra``.
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facebridge.errors import InvalidInputError

_FIGURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.png$")

#: The default policy for pairs whose image has no embedding (see the analysis core).
MISSING_PAIR_POLICY = (
    "a pair with an image that has no embedding in some compared model (it failed, was never "
    "embedded, or is an id the store does not hold) never enters a map's fit and is counted "
    "as a wrongly decided pair (an error) in every accuracy"
)


@dataclass(frozen=True)
class Section:
    """One part of the report.

    Parameters
    ----------
    title : str
        The heading (rendered as ``##`` / ``<h2>``).
    markdown : str
        The body in Markdown, without the heading.
    html : str
        The same body as an HTML fragment, without the heading.  Figures are referenced as
        ``<img src="NAME.png">``; no external ``http(s)`` reference is allowed.
    figures : dict[str, bytes]
        PNG bytes by file name (``"matrix.png"``); written next to the report.
    """

    title: str
    markdown: str
    html: str
    figures: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise InvalidInputError("Section title is empty; give every report section a title")
        for name, data in self.figures.items():
            if not _FIGURE_NAME.match(name):
                raise InvalidInputError(
                    f"figure name {name!r} is not a plain file name ending in .png; use e.g. 'roc.png'"
                )
            if not bytes(data[:8]) == b"\x89PNG\r\n\x1a\n":
                raise InvalidInputError(
                    f"figure {name!r} is not PNG data; render it with format='png'"
                )

    @property
    def anchor(self) -> str:
        """The HTML id of the section (a slug of the title)."""
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "section"


@dataclass(frozen=True)
class ModelInfo:
    """What the report says about one model (every field optional except the key)."""

    key: str
    architecture: str | None = None
    training_data: str | None = None
    loss: str | None = None
    dim: int | None = None
    provenance: str | None = None
    licence: str | None = None
    published_accuracy: float | None = None  # fraction, as published (LFW)
    published_source: str | None = None


@dataclass(frozen=True)
class ReportContext:
    """Everything the report shows that is not in ``results``.

    All fields are optional; the report leaves out what it is not told.  Build one from a store
    with :func:`facebridge.app.context_from_store`.
    """

    title: str = "facebridge: cross-model face embedding report"
    protocol: str | None = None  # e.g. "lfw-view2"
    dataset: str | None = None  # e.g. "LFW (deep-funneled images)"
    store: str | None = None
    detector: str | None = None
    n_items: int | None = None  # distinct images / videos the protocol uses
    n_pairs: int | None = None
    n_invalid_pairs: int | None = None
    embedded: dict[str, int] = field(default_factory=dict)  # model -> items embedded
    failures: dict[str, dict[str, str]] = field(default_factory=dict)  # model -> {item: reason}
    models: dict[str, ModelInfo] = field(default_factory=dict)
    quick: bool = False
    command: str | None = None
    missing_pair_policy: str = MISSING_PAIR_POLICY
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def dims(self, results: Mapping[str, Any] | None = None) -> dict[str, int]:
        """Embedding dimension per model, from the context or from ``results['dims']``."""
        out = {k: int(v) for k, v in ((results or {}).get("dims") or {}).items() if v}
        for k, info in self.models.items():
            if info.dim:
                out.setdefault(k, int(info.dim))
        return out

    @property
    def is_ytf(self) -> bool:
        return (self.protocol or "").startswith("ytf")


@dataclass(frozen=True)
class ReportPaths:
    """Files written by :func:`facebridge.report.write_report`."""

    out_dir: Path
    results_json: Path
    markdown: Path
    html: Path
    figures: dict[str, Path]

    def __str__(self) -> str:
        return str(self.html)


def esc(text: Any) -> str:
    """HTML-escape ``text``.

    Parameters
    ----------
    text : any
        Converted with ``str``.

    Returns
    -------
    str

    Examples
    --------
    >>> esc("<b>&")
    '&lt;b&gt;&amp;'
    """
    return _html.escape(str(text))


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|&])")


def md_escape(text: Any) -> str:
    r"""``text`` as literal Markdown: the characters that make code, emphasis, links, images,
    entities, table cells or HTML are backslash-escaped, and line breaks become spaces.

    Parameters
    ----------
    text : any
        Converted with ``str``.

    Returns
    -------
    str

    For every user-controlled string (ids, failure reasons, paths, the command line) written
    into a ``.md`` file: a Markdown viewer shows it as typed, never as a link, an image or HTML.

    Examples
    --------
    >>> md_escape("<img src=x onerror=alert(1)>")
    '\\<img src=x onerror=alert(1)\\>'
    >>> md_escape("a_b [x](javascript:y)")
    'a\\_b \\[x\\](javascript:y)'
    """
    return _MD_SPECIAL.sub(r"\\\1", str(text).replace("\r", " ").replace("\n", " "))


def figure_markdown(name: str, caption: str) -> str:
    """A Markdown image reference to a figure written next to the report.

    Parameters
    ----------
    name : str
        The figure's file name (``"matrix.png"``).
    caption : str
        The alternative text and caption.

    Returns
    -------
    str
        ``![caption](name)`` and the caption in italics below it.

    Examples
    --------
    >>> figure_markdown("matrix.png", "cross-model matrix").splitlines()[0]
    '![cross-model matrix](matrix.png)'
    """
    return f"![{caption}]({name})\n\n*{caption}*"


def figure_html(name: str, caption: str) -> str:
    """An HTML figure; ``src`` is replaced by a data URI when the report is written.

    Parameters
    ----------
    name : str
        The figure's file name (``"matrix.png"``).
    caption : str
        The alternative text and caption (escaped).

    Returns
    -------
    str
        A ``<figure>`` element whose ``<img src>`` is ``name``.
    """
    return (
        f'<figure><img src="{esc(name)}" alt="{esc(caption)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def paragraphs_html(paragraphs: list[str]) -> str:
    """Plain-text paragraphs (with ``**bold**``) as HTML ``<p>`` elements.

    Parameters
    ----------
    paragraphs : list of str
        Plain-text paragraphs; ``**bold**`` and `` `code` `` are rendered, everything else escaped.

    Returns
    -------
    str
        One ``<p>`` element per paragraph.
    """
    return "".join(f"<p>{inline_html(p)}</p>" for p in paragraphs)


def inline_html(text: str) -> str:
    """Escape ``text`` and render the Markdown ``**bold**`` and `` `code` `` it contains.

    Parameters
    ----------
    text : str
        Plain text with Markdown ``**bold**`` and `` `code` ``.

    Returns
    -------
    str
        HTML-escaped text with ``<strong>`` and ``<code>`` elements.

    Examples
    --------
    >>> inline_html("**a** < b")
    '<strong>a</strong> &lt; b'
    """
    out = esc(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"`(.+?)`", r"<code>\1</code>", out)
    return out


def bullets(items: list[str]) -> tuple[str, str]:
    """A bullet list as (Markdown, HTML).

    Parameters
    ----------
    items : list of str
        The items, plain text with ``**bold**`` and `` `code` ``.

    Returns
    -------
    tuple of str
        The list as Markdown (``- item`` lines) and as an HTML ``<ul>``.
    """
    md = "\n".join(f"- {i}" for i in items)
    ht = "<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in items) + "</ul>"
    return md, ht
