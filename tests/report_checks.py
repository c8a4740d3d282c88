"""Checks shared by the report tests (test_cli_evaluate, test_reproduce, test_ytf).

Deliberately independent of facebridge.report's own validation: the HTML is parsed here with the
standard library, and results.json is checked against the schema from the issue.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np

REPORT_FILES = ("results.json", "report.md", "report.html", "matrix.png")


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bad: list[str] = []
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "link":
            self.bad.append(f"<link rel={a.get('rel')!r} href={a.get('href')!r}>")
        if tag == "script" and "src" in a:
            self.bad.append(f"<script src={a['src']!r}>")
        if tag == "img":
            self.images += 1
        for key in ("src", "href"):
            v = a.get(key, "").strip()
            if not v:
                continue
            if v.lower().startswith(("http:", "https:", "//")):
                self.bad.append(f"<{tag} {key}={v!r}>")
            elif key == "src" and not v.startswith("data:"):
                self.bad.append(f"<{tag} src={v!r}> (not embedded)")


def check_html_self_contained(path: Path) -> int:
    """Assert the HTML report is one file with no external reference; return its image count."""
    html = path.read_text(encoding="utf-8")
    p = _Refs()
    p.feed(html)
    assert p.bad == [], p.bad
    assert "url(http" not in html.replace(" ", "").lower()
    assert p.images >= 1
    return p.images


def check_results(out: Path, *, expect_sweeps: bool = True) -> dict[str, Any]:
    """Assert results.json is consistent: every directed pair, accuracies in [0, 1], the diagonal
    equal to the native accuracies, sweeps rising in p on average."""
    for name in REPORT_FILES:
        assert (out / name).is_file(), f"{name} missing from {out}"
        assert (out / name).stat().st_size > 0, name
    r = json.loads((out / "results.json").read_text())
    models = r["models"]
    assert len(models) >= 2
    cells = {(c["source"], c["target"]): c for c in r["matrix"]}
    for a in models:
        assert 0.0 <= r["native"][a]["accuracy"] <= 1.0
        for b in models:
            if a == b:
                if (a, a) in cells:
                    assert cells[a, a]["accuracy"] == r["native"][a]["accuracy"]
                continue
            c = cells[a, b]
            assert 0.0 <= c["accuracy"] <= 1.0
            u = c["unmapped_accuracy"]
            assert u is None or 0.0 <= u <= 1.0
    if expect_sweeps:
        for a in models:
            for b in models:
                if a == b:
                    continue
                sw = r["pairs_sweep"][f"{a}->{b}"]
                acc = np.array([np.nan if y is None else y for y in sw["accuracy"]], dtype=float)
                assert np.all((acc[np.isfinite(acc)] >= 0) & (acc[np.isfinite(acc)] <= 1))
                assert list(sw["p"]) == sorted(sw["p"])
                third = max(1, len(acc) // 3)
                assert np.nanmean(acc[-third:]) > np.nanmean(acc[:third]), f"{a}->{b}"
                rk = r["rank_sweep"][f"{a}->{b}"]
                assert list(rk["rank"]) == sorted(rk["rank"])
                assert all(0 <= y <= 1 for y in rk["accuracy"] if y is not None)
    return r
