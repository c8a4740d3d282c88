"""Bad output folders, operating-system errors, missing pairs and hostile ids: each is one line
and exit status 2 before any analysis, or is shown as typed in the Markdown report."""

from __future__ import annotations

import errno
import inspect
import re
from pathlib import Path

import pytest

from facebridge.cli import main
from facebridge.contracts import AnalysisSettings
from facebridge.protocols import PairProtocol
from facebridge.testing import make_synthetic_protocol, make_synthetic_store


def _write_csv(protocol: PairProtocol, path: Path, unknown_every: int = 0) -> Path:
    lines = ["left,right,genuine,fold"]
    for i, p in enumerate(protocol.pairs):
        right = (
            f"Nobody/Nobody_{i:04d}.jpg" if unknown_every and i % unknown_every == 0 else p.right
        )
        lines.append(f"{p.left},{right},{int(p.genuine)},{p.fold}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PairProtocol]:
    root = tmp_path_factory.mktemp("syn")
    protocol = make_synthetic_protocol(n_folds=4, n_genuine=10, n_impostor=10, seed=3)
    make_synthetic_store(root / "store", protocol, dims={"alpha": 16, "beta": 8}, seed=3)
    return root / "store", protocol


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def _never_analyse(monkeypatch: pytest.MonkeyPatch) -> None:
    import facebridge.experiments as ex

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("the analysis ran before the bad input was refused")

    monkeypatch.setattr(ex, "run_analysis", boom)


def test_out_that_is_a_file_fails_before_the_analysis(
    synthetic: tuple[Path, PairProtocol],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, protocol = synthetic
    pairs = _write_csv(protocol, tmp_path / "pairs.csv")
    _never_analyse(monkeypatch)
    afile = tmp_path / "report.txt"
    afile.write_text("x")
    argv = ["evaluate", "--store", str(store), "--pairs", str(pairs), "--quick"]
    assert main([*argv, "--out", str(afile)]) == 2
    assert "is a file, not a folder" in _one_line(capsys)
    assert main([*argv, "--out", str(afile / "sub")]) == 2
    assert f"lies under {afile}, which is a file" in _one_line(capsys)
    assert main(["reproduce", "--out", str(afile), "--no-progress"]) == 2
    assert "is a file, not a folder" in _one_line(capsys)


@pytest.mark.parametrize(
    "argv",
    [
        ["compare-maps", "--no-progress"],
        ["equivalence", "--model", "sface", "--no-progress"],
        ["audit", "--all"],
        ["few-pairs"],
    ],
)
def test_every_command_checks_out_before_its_analysis(
    argv: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import facebridge.store as st

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("the store was opened before --out was refused")

    monkeypatch.setattr(st, "default_store", boom)
    monkeypatch.setattr(st, "EmbeddingStore", boom)
    afile = tmp_path / "report.txt"
    afile.write_text("x")
    assert main([*argv, "--out", str(afile / "sub")]) == 2
    assert f"lies under {afile}, which is a file" in _one_line(capsys)


def test_unwritable_out_is_one_line_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only file system (simulated: the write check gets EROFS) is refused up front."""
    import tempfile

    _never_analyse(monkeypatch)

    def read_only(*a: object, **k: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert main(["reproduce", "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    line = _one_line(capsys)
    assert "cannot be written (Read-only file system)" in line
    assert "writable disk" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (errno.ENOSPC, "free some disk space"),
        (errno.EROFS, "read-only"),
        (errno.ENOTDIR, "not a folder"),
        (errno.EACCES, "choose a folder you own"),
    ],
)
def test_os_errors_are_one_line_with_the_traceback_behind_debug(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    fix: str,
) -> None:
    import facebridge.app.reproduce as reproduce

    path = str(tmp_path / "o" / "results.json")

    def fail(*a: object, **k: object) -> None:
        raise OSError(code, "simulated", path)

    monkeypatch.setattr(reproduce, "reproduce", fail)
    argv = ["reproduce", "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(argv) == 2
    line = _one_line(capsys)
    assert path in line
    assert fix in line
    assert "--debug" in line
    with pytest.raises(OSError, match="simulated"):
        main(["--debug", *argv])


def test_missing_pairs_above_the_threshold_stop_the_run(
    synthetic: tuple[Path, PairProtocol],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pairs file whose ids are partly unknown to the store: refused with the cause, unless
    --allow-missing accepts it; then the terminal still says how many and why."""
    store, protocol = synthetic
    pairs = _write_csv(protocol, tmp_path / "pairs.csv", unknown_every=4)
    argv = ["evaluate", "--store", str(store), "--pairs", str(pairs), "--quick", "--points", "4"]
    argv += ["--out", str(tmp_path / "rep"), "--no-progress"]
    assert main(argv) == 2
    line = _one_line(capsys)
    assert "20 of 80 pairs (25.0%) lack an embedding: 20 name an id the store does not hold" in line
    assert "--allow-missing" in line
    assert not (tmp_path / "rep").exists()
    assert main([*argv, "--allow-missing", "0.3"]) == 0
    err = capsys.readouterr().err
    assert "warning: 20 of 80 pairs (25.0%) lack an embedding" in err
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "20 name an id the store does not hold; they count as errors" in report
    assert "failed to embed" not in report
    assert main([*argv, "--allow-missing", "2"]) == 2
    assert "--allow-missing is a fraction" in _one_line(capsys)


def test_missing_pairs_counted_by_cause(
    synthetic: tuple[Path, PairProtocol], tmp_path: Path
) -> None:
    """An id that failed in one model is 'failed'; one no model saw is 'unknown'."""
    from facebridge.app.missing import missing_pairs
    from facebridge.experiments import pair_data
    from facebridge.protocols import load_protocol
    from facebridge.store import EmbeddingStore

    store_dir, protocol = synthetic
    store = EmbeddingStore(store_dir)
    pairs = load_protocol("csv", _write_csv(protocol, tmp_path / "p.csv", unknown_every=10))
    data = pair_data(store, pairs, ["alpha", "beta"])
    got = missing_pairs(store, data)
    assert (got.unknown, got.failed, got.never_embedded) == (8, 0, 0)
    assert got.examples["unknown"][0].startswith("Nobody/")


def test_missing_pairs_agree_with_the_store_classifier(tmp_path: Path) -> None:
    """Each cause once: a failure, an id only another model embedded, an id nothing holds; the
    pair-level counts are the store's per-item causes (facebridge.store.missing_pairs)."""
    from types import SimpleNamespace

    import numpy as np

    from facebridge.app.missing import missing_pairs
    from facebridge.store import EmbeddingStore
    from facebridge.store import missing_pairs as store_missing

    store = EmbeddingStore.create(tmp_path / "s")
    eye = np.eye(4)
    with store.writer("m1", dim=4, weights_sha256="0" * 64, detector="d") as w:
        w.add(["a", "b", "d"], eye[:3])
        w.add_failure("c", "no face")
    with store.writer("m2", dim=4, weights_sha256="1" * 64, detector="d") as w:
        w.add(["a", "b", "c"], eye[:3])
    pairs = [("a", "b"), ("a", "c"), ("b", "d"), ("a", "x"), ("c", "x")]
    data = SimpleNamespace(
        models=("m1", "m2"),
        n_pairs=len(pairs),
        valid=np.array([True, False, False, False, False]),
        left_ids=[p[0] for p in pairs],
        right_ids=[p[1] for p in pairs],
    )
    got = missing_pairs(store, data)
    assert (got.unknown, got.failed, got.never_embedded) == (2, 1, 1)
    assert got.examples == {"unknown": ["x"], "failed": ["c"], "never_embedded": ["d"]}
    per_model = store_missing(store, pairs, ["m1", "m2"])
    assert per_model["m1"].counts == {"unknown_id": 2, "failed": 1, "never_embedded": 0}
    assert per_model["m2"].counts == {"unknown_id": 2, "failed": 0, "never_embedded": 1}
    line = got.line()
    assert line.startswith("4 of 5 pairs (80.0%) lack an embedding: 2 name an id the store")
    assert "1 name an image that failed to embed" in line
    assert "1 name an image some compared model never embedded" in line


def test_non_unit_vectors_are_one_warning_line(
    synthetic: tuple[Path, PairProtocol], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A chunk scaled by 1000 is rescaled on load; the terminal says so in one line."""
    import shutil

    import numpy as np

    from facebridge.store import EmbeddingStore

    src, protocol = synthetic
    shutil.copytree(src, tmp_path / "store")
    store = EmbeddingStore(tmp_path / "store")
    emb = store.load("alpha")
    man = store.manifest("alpha")
    with store.writer(
        "alpha", dim=int(man["dim"]), weights_sha256=man["weights_sha256"], detector=man["detector"]
    ) as w:
        w.add(list(emb.ids[:3]), 1000 * np.asarray(emb.vectors[:3], dtype=np.float64))
    pairs = _write_csv(protocol, tmp_path / "pairs.csv")
    argv = ["evaluate", "--store", str(tmp_path / "store"), "--pairs", str(pairs), "--quick"]
    assert main([*argv, "--points", "4", "--out", str(tmp_path / "rep"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if "norms" in x]
    assert lines
    assert all(x.startswith("facebridge: warning: 3 rows of 'alpha' have norms") for x in lines)
    assert "NonUnitVectorsWarning" not in err
    assert "warnings.warn" not in err


@pytest.mark.parametrize("option", ["--models", "--others"])
def test_empty_model_list_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    command = ["equivalence", "--model", "sface"] if option == "--others" else ["evaluate"]
    argv = [*command, "--store", str(tmp_path), option, "", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert f"{option} needs comma-separated values, got ''" in _one_line(capsys)


def test_report_markdown_shows_hostile_ids_as_typed(tmp_path: Path) -> None:
    """Ids, reasons, paths and the command go into report.md escaped: no raw HTML, no link."""
    from facebridge.report import ReportContext, paper_table3, write_report

    hostile = "<img src=x onerror=alert(1)>"
    link = "[click](javascript:alert(1))"
    ctx = ReportContext(
        store=f"/data/{hostile}",
        detector=f"mtcnn {link}",
        command=f"facebridge evaluate --pairs {hostile}",
        failures={"sface": {f"Evil/{hostile}.jpg": f"decode error {link} `x`"}},
        notes=(f"No face found in {hostile}",),
    )
    paths = write_report(paper_table3(), tmp_path / "rep", context=ctx)
    md = paths.markdown.read_text()
    assert hostile not in md
    assert not re.search(r"(?<!\\)<img", md)  # no unescaped HTML
    assert not re.search(r"(?<!\\)\[click(?<!\\)\]\(", md)  # no link
    assert "\\<img src=x onerror=alert(1)\\>" in md
    html = paths.html.read_text()
    assert hostile not in html


def test_cli_and_library_agree_on_every_analysis_default() -> None:
    from facebridge.cli import build_parser
    from facebridge.experiments import run_analysis

    defaults = AnalysisSettings()
    params = inspect.signature(run_analysis).parameters
    for name in ("n_points", "n_draws", "alpha", "correspondence", "seed", "pairs", "roc_curves"):
        assert params[name].default == getattr(defaults, name), name
    assert defaults.n_draws == 1  # one random subset per fold, as the paper
    args = build_parser().parse_args(["evaluate", "--store", "x"])
    from facebridge.cli._common import settings_from_args

    assert settings_from_args(args) == defaults
    assert AnalysisSettings.from_options(quick=True).pairs is False


def test_smallest_within_one_point_uses_the_vocabulary_rule() -> None:
    from facebridge.report._results import smallest_within_one_point

    assert smallest_within_one_point([1, 2, 3], [0.5, 0.98, 0.99], 0.99) == 2.0
    assert smallest_within_one_point([1, 2], [None, 0.97], 0.99) is None


@pytest.mark.parametrize(
    "command", [["evaluate"], ["compare-maps"], ["equivalence", "--model", "alpha"]]
)
def test_pairs_that_is_a_directory_names_the_files_it_holds(
    synthetic: tuple[Path, PairProtocol],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    """``--pairs DIR``: the protocol loader's line (what the folder holds), not "not found"."""
    store, protocol = synthetic
    folder = tmp_path / "protocols"
    folder.mkdir()
    _write_csv(protocol, folder / "pairs.csv")
    _never_analyse(monkeypatch)
    argv = [*command, "--store", str(store), "--pairs", str(folder)]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    line = _one_line(capsys)
    assert f"{folder} is a directory, not a protocol file; it holds pairs.csv" in line
    assert "not found" not in line


def test_csv_with_one_fold_says_how_folds_are_made(
    synthetic: tuple[Path, PairProtocol],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fold column with a single fold cannot be evaluated: the line gives both fixes, and the
    same pairs without the fold column are dealt into folds and evaluated."""
    store, protocol = synthetic
    one = tmp_path / "one.csv"
    rows = [f"{p.left},{p.right},{int(p.genuine)}" for p in protocol.pairs]
    one.write_text("left,right,genuine,fold\n" + "".join(f"{r},0\n" for r in rows))
    argv = ["evaluate", "--store", str(store), "--quick", "--points", "4", "--no-progress"]
    argv += ["--out", str(tmp_path / "rep")]
    assert main([*argv, "--pairs", str(one)]) == 2
    line = _one_line(capsys)
    assert "csv:one.csv has 1 fold" in line
    assert "dealt into up to 10 folds in file order" in line
    no_fold = tmp_path / "nofold.csv"
    no_fold.write_text("\n".join(rows) + "\n")
    assert main([*argv, "--pairs", str(no_fold)]) == 0


def test_protocol_help_says_how_a_csv_without_folds_is_split(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "without the fold column the pairs are dealt into up to 10 folds in file order" in text
