"""``facebridge evaluate`` on a synthetic store (planted linearly related spaces), and its
one-line error paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from facebridge.cli import main
from facebridge.protocols import PairProtocol
from facebridge.testing import make_synthetic_protocol, make_synthetic_store
from report_checks import check_html_self_contained, check_results


def _write_csv(protocol: PairProtocol, path: Path) -> Path:
    lines = ["left,right,genuine,fold"]
    lines += [f"{p.left},{p.right},{int(p.genuine)},{p.fold}" for p in protocol.pairs]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A store of three planted, linearly related models (64/32/48-D) and its CSV protocol."""
    root = tmp_path_factory.mktemp("syn")
    protocol = make_synthetic_protocol(n_folds=10, n_genuine=30, n_impostor=30, seed=1)
    make_synthetic_store(root / "store", protocol, seed=1)
    return root / "store", _write_csv(protocol, root / "pairs.csv")


def test_evaluate_quick_on_synthetic_store(
    synthetic: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, pairs = synthetic
    out = tmp_path / "rep"
    rc = main(
        ["evaluate", "--store", str(store), "--pairs", str(pairs), "--out", str(out), "--quick"]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    r = check_results(out, expect_sweeps=False)
    assert r["pairs_sweep"] is None  # --quick: no pairs-needed sweep
    assert r["models"] == ["alpha", "beta", "gamma"]
    assert r["settings"]["quick"] is True
    # planted linear relations: every map within a few points of its target's native accuracy
    for c in r["matrix"]:
        assert c["accuracy"] > r["native"][c["target"]]["accuracy"] - 0.05, c
    check_html_self_contained(out / "report.html")
    assert "Quick run" in (out / "report.md").read_text()
    # terminal: the Table 3 layout and the report path
    assert "From \\ To" in captured.out
    assert f"report: {out / 'report.html'}" in captured.out
    assert "[" in captured.out.splitlines()[2]  # native on the diagonal


def test_evaluate_models_subset_and_settings(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    store, pairs = synthetic
    out = tmp_path / "rep"
    argv = ["evaluate", "--store", str(store), "--pairs", str(pairs), "--out", str(out)]
    argv += ["--models", "gamma,alpha", "--points", "5", "--draws", "1", "--seed", "3"]
    argv += ["--alpha", "0.5", "--no-progress"]
    assert main(argv) == 0
    r = json.loads((out / "results.json").read_text())
    assert r["models"] == ["gamma", "alpha"]
    assert set(r["pairs_sweep"]) == {"gamma->alpha", "alpha->gamma"}
    assert len(r["pairs_sweep"]["gamma->alpha"]["p"]) <= 5
    assert r["settings"]["seed"] == 3
    assert r["run"]["protocol"].startswith("csv")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--store", "{tmp}/nope"], "no embedding store at"),
        (
            ["--store", "{store}", "--pairs", "{pairs}", "--models", "alpha,betta"],
            "did you mean 'beta'",
        ),
        (["--store", "{store}", "--pairs", "{pairs}", "--models", "alpha"], "at least two models"),
        (["--store", "{store}", "--protocol", "xyz"], "--protocol must be one of"),
        (["--store", "{store}", "--protocol", "csv"], "--protocol csv needs --pairs"),
        (["--store", "{store}", "--pairs", "{tmp}/missing.txt"], "pairs file not found"),
        (["--store", "{store}"], "none of the 6000 pairs"),  # LFW pairs on a synthetic store
        (["--store", "{store}", "--correspondence", "foo"], "--correspondence must be one of"),
        (["--store", "{store}", "--points", "1"], "--points must be at least 2"),
        (["--store", "{store}", "--draws", "0"], "--draws must be at least 1"),
        (["--store", "{store}", "--alpha", "-1"], "--alpha must be positive"),
    ],
)
def test_evaluate_errors_are_one_line_exit_2(
    synthetic: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    store, pairs = synthetic
    fill = {"tmp": str(tmp_path), "store": str(store), "pairs": str(pairs)}
    args = ["evaluate", *(a.format(**fill) for a in argv), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("facebridge: error: ")
    assert message in err[0]
    assert not (tmp_path / "o" / "report.html").exists()


def test_empty_store_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", "--store", str(tmp_path / "empty")]) == 2
    assert "holds no model" in capsys.readouterr().err


def test_progress_bar_draws_one_bar_per_stage(capsys: pytest.CaptureFixture[str]) -> None:
    from facebridge.app import TqdmProgress

    bar = TqdmProgress("analysis")
    bar("matrix", 1, 4)  # the Progress call: (stage, done, total)
    bar("matrix", 4, 4)
    bar("pairs sweep", 2, 10)  # a new stage resets the bar
    bar("pairs sweep", 6, 10)
    bar.close()
    err = capsys.readouterr().err
    assert "analysis: matrix" in err
    assert "analysis: pairs sweep" in err
    assert "6/10" in err
    quiet = TqdmProgress(enabled=False)
    quiet("matrix", 1, 2)
    quiet.close()
    assert capsys.readouterr().err == ""


def test_privacy_option_adds_the_audit_section(
    synthetic: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--privacy`` puts app.audit.audit_section (stubbed here) into the report."""
    import facebridge.app.audit as audit
    from facebridge.report import Section

    calls: list[list[str]] = []

    def fake_audit_section(store: object, models: list[str]) -> Section:
        calls.append(models)
        return Section("Privacy audit", "leak: **yes**", "<p>leak: <strong>yes</strong></p>")

    monkeypatch.setattr(audit, "audit_section", fake_audit_section)
    store, pairs = synthetic
    out = tmp_path / "rep"
    argv = ["evaluate", "--store", str(store), "--pairs", str(pairs), "--out", str(out)]
    assert main([*argv, "--quick", "--points", "4", "--no-progress", "--privacy"]) == 0
    assert calls == [["alpha", "beta", "gamma"]]
    md = (out / "report.md").read_text()
    assert md.index("## Privacy audit") < md.index("## Models")
    assert "--privacy" in json.loads((out / "results.json").read_text())["run"]["command"]


def test_compare_maps_option_adds_its_section(
    synthetic: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--compare-maps`` runs experiments.compare (stubbed here) and adds report.compare's section."""
    import facebridge.experiments.compare as compare
    import facebridge.report.compare as report_compare
    from facebridge.report import Section

    seen: dict[str, Any] = {}

    def fake_compare_maps(data: object, settings: object) -> str:
        seen["settings"] = settings
        return "result"

    monkeypatch.setattr(compare, "compare_maps", fake_compare_maps)
    monkeypatch.setattr(
        report_compare, "compare_section", lambda res: Section("Recipes", f"got {res}", "<p>x</p>")
    )
    store, pairs = synthetic
    out = tmp_path / "rep"
    argv = ["evaluate", "--store", str(store), "--pairs", str(pairs), "--out", str(out)]
    assert main([*argv, "--quick", "--points", "4", "--no-progress", "--compare-maps"]) == 0
    assert seen["settings"].sweep is False
    assert "## Recipes\n\ngot result" in (out / "report.md").read_text()
