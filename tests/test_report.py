"""facebridge.report: results.json validation, Table 3 layout, figures, self-contained HTML,
and the comparison with the paper (on stand-in results dicts; the real pipeline is tested in
test_cli_evaluate.py and test_reproduce.py)."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facebridge.errors import InvalidInputError
from facebridge.report import (
    ModelInfo,
    ReportContext,
    Section,
    external_references,
    format_matrix_terminal,
    matrix_markdown,
    paper_comparison,
    paper_table3,
    paper_table4,
    summarize,
    validate_results,
    write_report,
)

MODELS = ("big", "small-a", "small-b", "weak")
DIMS = {"big": 64, "small-a": 16, "small-b": 16, "weak": 48}


def standin_results(
    native: dict[str, float] | None = None,
    loss: float = 0.004,
    with_roc: bool = True,
) -> dict[str, Any]:
    """A results dict in the analysis-core schema with known numbers.

    Mapped accuracy = min(native[a], native[b]) - loss; unmapped 0.52 where dims agree (NaN for
    one cell, to exercise NaN -> null); sweeps rise with p / rank.
    """
    nat = native or {"big": 0.99, "small-a": 0.985, "small-b": 0.98, "weak": 0.975}
    matrix = []
    for a in MODELS:
        for b in MODELS:
            if a == b:
                matrix.append(
                    {
                        "source": a,
                        "target": b,
                        "accuracy": nat[a],
                        "std": 0.004,
                        "unmapped_accuracy": None,
                    }
                )
                continue
            un: float | None = 0.52 if DIMS[a] == DIMS[b] else None
            if (a, b) == ("small-b", "small-a"):
                un = float("nan")
            matrix.append(
                {
                    "source": a,
                    "target": b,
                    "accuracy": min(nat[a], nat[b]) - loss,
                    "std": 0.005,
                    "unmapped_accuracy": un,
                }
            )
    ps = [1, 2, 5, 10, 20, 50, 100, 200, 400, 800, 1600, 2700]
    pairs, ranks, roc = {}, {}, {}
    for c in matrix:
        a, b = c["source"], c["target"]
        if a == b:
            continue
        full = c["accuracy"]
        acc = [full - 0.45 * math.exp(-p / 80) for p in ps]
        p1 = next(p for p, y in zip(ps, acc, strict=True) if y >= full - 0.01)
        pairs[f"{a}->{b}"] = {"p": ps, "accuracy": np.array(acc), "p_within_1pt": p1}
        rk = [1, 2, 4, 8, min(DIMS[a], DIMS[b])]
        ranks[f"{a}->{b}"] = {"rank": rk, "accuracy": [full - 0.3 * math.exp(-k / 2) for k in rk]}
        fmr = np.geomspace(1e-4, 1, 20)
        roc[f"{a}->{b}"] = {"fmr": fmr, "tar": fmr**0.05, "auc": 0.99, "eer": 0.02}
    out: dict[str, Any] = {
        "models": list(MODELS),
        "native": {m: {"accuracy": np.float64(nat[m]), "std": 0.004} for m in MODELS},
        "matrix": matrix,
        "pairs_sweep": pairs,
        "rank_sweep": ranks,
        "dims": DIMS,
        "settings": {"n_points": 12, "n_draws": 1, "alpha": 1.0, "seed": 0},
    }
    if with_roc:
        out["roc"] = roc
    return out


CONTEXT = ReportContext(
    protocol="lfw-view2",
    dataset="LFW (deep-funneled images)",
    detector="MTCNN",
    n_pairs=6000,
    n_items=7701,
    n_invalid_pairs=2,
    failures={
        "small-a": {"Ann/Ann_0001.jpg": "no face detected"},
        "weak": {"Ann/Ann_0001.jpg": "no face detected", "Bob/Bob_0003.jpg": "corrupt JPEG"},
    },
    models={
        "big": ModelInfo("big", "ResNet", "MS1M", dim=64, licence="MIT", published_accuracy=0.995)
    },
)


# ------------------------------------------------------------------------------- validation


def test_validate_converts_numpy_and_nan_to_json() -> None:
    clean = validate_results(standin_results())
    text = json.dumps(clean, allow_nan=False)  # raises if a NaN survived
    cell = next(c for c in clean["matrix"] if (c["source"], c["target"]) == ("small-b", "small-a"))
    assert cell["unmapped_accuracy"] is None
    assert isinstance(clean["native"]["big"]["accuracy"], float)
    assert isinstance(clean["pairs_sweep"]["big->weak"]["accuracy"], list)
    assert '"NaN"' not in text


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda r: r["matrix"].pop(1), r"lacks 1 directed pair"),
        (lambda r: r["matrix"][1].update(accuracy=98.5), r"outside \[0, 1\]"),
        (lambda r: r["matrix"][0].update(accuracy=0.5), r"diagonal big->big"),
        (lambda r: r["native"].pop("weak"), r"native accuracy of 'weak' is missing"),
        (lambda r: r["pairs_sweep"].pop("big->weak"), r"pairs_sweep lacks 1 directed map"),
        (
            lambda r: r["rank_sweep"]["big->weak"].update(rank=[4, 2, 1, 8, 16]),
            r"strictly increasing",
        ),
        (lambda r: r.update(models=["big"]), r"at least two distinct"),
        (lambda r: r["matrix"].append(dict(r["matrix"][1])), r"twice"),
    ],
)
def test_validate_rejects_schema_violations(mutate: Any, match: str) -> None:
    r = standin_results()
    mutate(r)
    with pytest.raises(InvalidInputError, match=match):
        validate_results(r)


def test_validate_rejects_non_dict() -> None:
    with pytest.raises(InvalidInputError, match="expected a dict"):
        validate_results([1, 2])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------- tables


def test_matrix_markdown_is_table3_layout() -> None:
    md = matrix_markdown(standin_results())
    lines = md.splitlines()
    assert lines[0] == "| From \\\\ To | big | small-a | small-b | weak |"  # the backslash escaped
    assert len(lines) == 2 + len(MODELS)
    big_row = lines[2].split(" | ")
    assert big_row[1] == "**99.00%**"  # bold native diagonal
    assert big_row[2] == "98.10% (n/a)"  # 64-D -> 16-D: no unmapped baseline
    sa_row = lines[3].split(" | ")
    assert sa_row[3] == "97.60% (52.00%)"  # equal dims: unmapped in parentheses


def test_terminal_matrix_marks_native_and_na() -> None:
    text = format_matrix_terminal(standin_results())
    rows = text.splitlines()
    assert rows[0].split() == ["From", "\\", "To", "big", "small-a", "small-b", "weak"]
    assert "[99.00]" in rows[2]
    assert "98.10 (n/a)" in rows[2]
    assert "97.60 (52.00)" in rows[3]
    assert "n/a where the dims differ" in rows[-1]


# ------------------------------------------------------------------------------------ paper


def test_paper_table3_summary_matches_the_paper_text() -> None:
    s = summarize(paper_table3())
    # "no more than a 1.0% penalty ... compared to their host network": the source's accuracy
    (k, v) = s.worst(s.drop_vs_source)
    assert k == ("Model-IV", "Model-RM")
    assert v == pytest.approx(0.99)
    (k, v) = s.worst_drop  # against the target, as the issue asks
    assert k == ("Model-MM", "Model-RM")
    assert v == pytest.approx(1.08)
    assert min(s.unmapped.values()) == pytest.approx(0.5030)
    assert max(s.unmapped.values()) == pytest.approx(0.5812)
    assert len(s.unmapped) == 12


def test_paper_table4_worst_penalty_is_13_9() -> None:
    s = summarize(paper_table4())
    (k, v) = s.worst(s.drop_vs_source)
    assert k == ("Model-IV", "Model-MM")
    assert v == pytest.approx(13.93)


def test_comparison_says_finding_holds_when_all_drops_are_small() -> None:
    nat = {"big": 0.99, "small-a": 0.988, "small-b": 0.987, "weak": 0.986}
    sec = paper_comparison(validate_results(standin_results(native=nat, loss=0.004)), CONTEXT)
    assert "The paper's main finding holds here" in sec.markdown
    assert "1.08 pt (Model-MM → Model-RM)" in sec.markdown  # the paper's column
    assert "50.30% – 58.12%" in sec.markdown


def test_comparison_explains_a_weak_model_from_the_numbers() -> None:
    nat = {"big": 0.99, "small-a": 0.985, "small-b": 0.98, "weak": 0.90}
    r = validate_results(standin_results(native=nat, loss=0.004))
    sec = paper_comparison(r, CONTEXT)
    md = sec.markdown
    assert "Our worst map loses more than the paper's" in md
    assert "The weakest model is weak (native 90.00%" in md
    assert "Without weak the worst drop is 1.40 pt (small-b → big)" in md
    assert "go from a weaker source into a stronger target" in md


def test_comparison_without_equal_dims_says_no_unmapped_baseline() -> None:
    r = standin_results()
    for c in r["matrix"]:
        c["unmapped_accuracy"] = None
    md = paper_comparison(validate_results(r), CONTEXT).markdown
    assert "no two models share a dimension" in md


# ------------------------------------------------------------------------------ write_report


def test_write_report_files_and_self_contained_html(tmp_path: Path) -> None:
    paths = write_report(standin_results(), tmp_path / "rep", context=CONTEXT)
    for name in (
        "results.json",
        "report.md",
        "report.html",
        "matrix.png",
        "pairs_sweep.png",
        "rank_sweep.png",
        "roc.png",
    ):
        p = tmp_path / "rep" / name
        assert p.is_file(), name
        assert p.stat().st_size > 0, name
    assert set(paths.figures) == {"matrix.png", "pairs_sweep.png", "rank_sweep.png", "roc.png"}
    html = paths.html.read_text(encoding="utf-8")
    assert external_references(html) == []
    assert "<link" not in html.lower()
    assert "<script" not in html.lower()
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(uris) == 4
    assert all(base64.b64decode(u)[:8] == b"\x89PNG\r\n\x1a\n" for u in uris)
    payload = json.loads(paths.results_json.read_text())
    assert payload["run"]["protocol"] == "lfw-view2"
    assert payload["run"]["n_failures"] == {"small-a": 1, "weak": 2}
    md = paths.markdown.read_text()
    assert "![Cross-model verification accuracy %: mapped (unmapped)](matrix.png)" in md
    # every failed image with its reason, and the missing-pair policy
    assert "Bob/Bob\\_0003.jpg | weak | corrupt JPEG" in md  # ids shown as typed (escaped)
    assert "Ann/Ann\\_0001.jpg | small-a, weak | no face detected" in md
    assert "counted as a wrongly decided pair" in md
    assert "corrupt JPEG" in html


def test_write_report_without_roc_or_sweeps(tmp_path: Path) -> None:
    r = standin_results(with_roc=False)
    del r["pairs_sweep"], r["rank_sweep"]
    paths = write_report(r, tmp_path)
    assert set(paths.figures) == {"matrix.png"}
    assert "## Pairs needed" not in paths.markdown.read_text()


def test_quick_run_is_labelled(tmp_path: Path) -> None:
    r = standin_results(with_roc=False)
    del r["pairs_sweep"], r["rank_sweep"]
    paths = write_report(r, tmp_path, context=ReportContext(quick=True))
    assert "Quick run" in paths.markdown.read_text()
    assert "quick run" in paths.html.read_text().lower()


def _png() -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import io

    import matplotlib.pyplot as plt

    fig, _ax = plt.subplots(figsize=(1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def test_extra_section_is_embedded_and_written(tmp_path: Path) -> None:
    extra = Section(
        "Privacy audit",
        "text\n\n![leak](privacy.png)",
        '<p>text</p><img src="privacy.png" alt="leak">',
        {"privacy.png": _png()},
    )
    paths = write_report(standin_results(), tmp_path, sections_extra=[extra])
    assert (tmp_path / "privacy.png").is_file()
    html = paths.html.read_text()
    assert 'id="privacy-audit"' in html
    assert 'src="privacy.png"' not in html
    assert html.index("Privacy audit") < html.index("<h2>Models</h2>")


def test_extra_section_with_external_link_is_refused(tmp_path: Path) -> None:
    bad = Section("Bad", "x", '<img src="https://example.org/x.png">')
    with pytest.raises(InvalidInputError, match="outside the report"):
        write_report(standin_results(), tmp_path, sections_extra=[bad])
    assert not (tmp_path / "report.html").exists()


def test_duplicate_figure_name_is_refused(tmp_path: Path) -> None:
    dup = Section("Dup", "x", "<p>x</p>", {"matrix.png": _png()})
    with pytest.raises(InvalidInputError, match=r"both define figure 'matrix\.png'"):
        write_report(standin_results(), tmp_path, sections_extra=[dup])


def test_section_rejects_bad_figures() -> None:
    with pytest.raises(InvalidInputError, match="not PNG data"):
        Section("X", "x", "x", {"a.png": b"GIF89a.."})
    with pytest.raises(InvalidInputError, match="plain file name"):
        Section("X", "x", "x", {"../a.png": _png()})


@pytest.mark.parametrize(
    "html",
    [
        '<link rel="stylesheet" href="style.css">',
        '<script src="https://cdn.example.org/x.js"></script>',
        '<img src="http://example.org/a.png">',
        '<a href="https://example.org">x</a>',
        "<style>body{background:url(https://example.org/a.png)}</style>",
        "<style>@import 'x.css';</style>",
    ],
)
def test_external_references_are_found(html: str) -> None:
    assert external_references(html)


def test_data_uris_and_anchors_are_allowed() -> None:
    ok = '<a href="#matrix">m</a><img src="data:image/png;base64,AAAA"><p>http://x is text</p>'
    assert external_references(ok) == []


def test_comparison_names_the_least_linearly_compatible_space() -> None:
    nat = {"big": 0.99, "small-a": 0.988, "small-b": 0.987, "weak": 0.986}
    r = standin_results(native=nat, loss=0.002)
    for c in r["matrix"]:
        if c["source"] == "small-b" and c["target"] != "small-b":
            c["accuracy"] -= 0.05  # maps out of small-b lose 5 points more than its accuracy
    md = paper_comparison(validate_results(r), CONTEXT).markdown
    assert "The least linearly compatible space here is small-b" in md
    assert "maps out of it lose a median 5.20 pt" in md


def test_comparison_flags_maps_better_with_fewer_pairs() -> None:
    r = standin_results()
    sweep = r["pairs_sweep"]["weak->big"]
    sweep["accuracy"] = list(sweep["accuracy"])
    sweep["accuracy"][-3] = 0.999  # peak at p = 800, far above the full map
    md = paper_comparison(validate_results(r), CONTEXT).markdown
    assert "1 map(s) are more than 1 point better with fewer pairs" in md
    assert "weak → big peaks at 99.90% with 800 pairs" in md
