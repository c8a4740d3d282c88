"""``facebridge reproduce``: on the shipped LFW store (skipped until it is packaged), the same code
path on a synthetic store keyed by the real LFW item ids, ``--images`` from photos with fakes,
and the one-line error paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from facebridge.cli import main
from facebridge.protocols import default_lfw_pairs
from facebridge.store import EmbeddingStore, default_store_path
from facebridge.testing import (
    FakeEmbedder,
    make_image_tree,
    make_synthetic_protocol,
    make_synthetic_store,
)
from report_checks import check_html_self_contained, check_results


def _shipped_models() -> list[str]:
    return EmbeddingStore(default_store_path()).models()


SHIPPED_ABSENT = pytest.mark.skipif(
    len(_shipped_models()) < 2,
    reason="the shipped LFW store (src/facebridge/data/lfw) is absent; it is produced by "
    "`facebridge embed` on the real images",
)
#: The three 128-D models of the shipped store: every directed pair has an unmapped baseline.
THREE = ("facenet-ms1m", "dlib-resnet", "sface")


def _check_shipped_report(out: Path, printed: str, models: list[str]) -> dict[str, Any]:
    r = check_results(out)
    assert r["models"] == models
    assert r["run"]["n_pairs"] == 6000
    assert r["run"]["n_items"] == 7701
    for name in ("pairs_sweep.png", "rank_sweep.png", "roc.png"):
        assert (out / name).is_file()
    check_html_self_contained(out / "report.html")
    md = (out / "report.md").read_text()
    assert "Our numbers beside the paper's" in md
    assert "Table 3 (LFW)" in md
    assert "deep-funneled" in md
    # real models: every mapped accuracy well above chance, natives as the registry says (> 95%)
    for c in r["matrix"]:
        assert c["accuracy"] > 0.8, c
    for m in models:
        assert r["native"][m]["accuracy"] > 0.95, m
    assert "From \\ To" in printed
    assert f"report: {out / 'report.html'}" in printed
    return r


@SHIPPED_ABSENT
@pytest.mark.realdata
def test_reproduce_quick_skips_the_pairs_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--quick: matrix, rank sweep and ROC of the shipped store, no pairs sweep, labelled."""
    out = tmp_path / "q"
    argv = ["reproduce", "--out", str(out), "--quick", "--no-progress"]
    assert main([*argv, "--models", ",".join(THREE)]) == 0
    r = check_results(out, expect_sweeps=False)
    assert r["pairs_sweep"] is None
    assert set(r["rank_sweep"]) == {f"{a}->{b}" for a in THREE for b in THREE if a != b}
    assert "Quick run" in (out / "report.md").read_text()


@SHIPPED_ABSENT
@pytest.mark.realdata
def test_reproduce_on_shipped_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`facebridge reproduce --out tmp` on the shipped embeddings (three 128-D models and
    8 sweep points, to keep the test short; the six-model run is the slow test below)."""
    out = tmp_path / "tmp"
    argv = ["reproduce", "--out", str(out), "--points", "8", "--no-progress"]
    assert main([*argv, "--models", ",".join(THREE)]) == 0
    r = _check_shipped_report(out, capsys.readouterr().out, list(THREE))
    # equal dims: the identity map is defined, and it is near chance, as in the paper
    for c in r["matrix"]:
        if c["source"] != c["target"]:
            assert 0.4 < c["unmapped_accuracy"] < 0.6, c


@SHIPPED_ABSENT
@pytest.mark.realdata
@pytest.mark.slow
def test_reproduce_six_models_on_shipped_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """All six shipped models, exactly as a user runs it (about 55 s on 2 idle cores)."""
    out = tmp_path / "tmp"
    assert main(["reproduce", "--out", str(out), "--points", "8", "--no-progress"]) == 0
    from facebridge.models import DEFAULT_MODELS

    _check_shipped_report(out, capsys.readouterr().out, list(DEFAULT_MODELS))


@pytest.fixture(scope="module")
def lfw_like_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic store whose item ids are the real LFW View 2 images (packaged pairs.txt)."""
    root = tmp_path_factory.mktemp("lfwsyn") / "store"
    make_synthetic_store(root, default_lfw_pairs(), dims={"alpha": 32, "beta": 16, "gamma": 16})
    return root


def test_reproduce_code_path_on_synthetic_store(
    lfw_like_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tmp"
    argv = ["reproduce", "--store", str(lfw_like_store), "--out", str(out), "--points", "6"]
    assert main(argv) == 0
    cap = capsys.readouterr()
    r = check_results(out)
    assert r["models"] == ["alpha", "beta", "gamma"]
    assert r["run"]["protocol"] == "lfw-view2"
    assert r["run"]["n_pairs"] == 6000
    # beta and gamma are both 16-D: an unmapped baseline exists for them and only them
    cells = {(c["source"], c["target"]): c for c in r["matrix"]}
    assert cells["beta", "gamma"]["unmapped_accuracy"] is not None
    assert cells["alpha", "beta"]["unmapped_accuracy"] is None
    check_html_self_contained(out / "report.html")
    assert "analysis" in cap.err  # the progress bar is on stderr
    assert "From \\ To" in cap.out


def test_reproduce_uses_the_six_default_models_in_registry_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Models come in the registry's order; extra models of the store are left out."""
    import facebridge.app.analysis as analysis

    seen: dict[str, Any] = {}

    def fake_evaluate(store: Any, protocol: Any, out: Any, models: Any, **kw: Any) -> Any:
        seen["models"] = models
        raise SystemExit(0)

    monkeypatch.setattr(analysis, "evaluate", fake_evaluate)
    protocol = make_synthetic_protocol(n_folds=2, n_genuine=4, n_impostor=4)
    dims = {"sface": 8, "facenet-casia": 8, "zeta-extra": 8}
    make_synthetic_store(tmp_path / "st", protocol, dims=dims)
    with pytest.raises(SystemExit):
        main(["reproduce", "--store", str(tmp_path / "st"), "--out", str(tmp_path / "o")])
    assert seen["models"] == ["facenet-casia", "sface"]


class _FakeDetector:
    """Built lazily so that the module imports without OpenCV."""

    @staticmethod
    def make() -> Any:
        from facebridge.detect import Detection, FaceDetector, fallback_detection

        class FakeDetector(FaceDetector):
            name = "fakedet"

            def _detect_views(self, views: Any) -> list[list[Detection]]:
                return [
                    [
                        Detection(
                            fallback_detection(v.shape).box,
                            fallback_detection(v.shape).landmarks,
                            0.99,
                        )
                    ]
                    for v in views
                ]

        return FakeDetector()


def test_reproduce_images_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``reproduce --images DIR --pairs FILE --store DIR`` with fakes in the extraction run."""
    import facebridge.extract as extract

    protocol = make_synthetic_protocol(n_folds=4, n_genuine=12, n_impostor=12, seed=2)
    make_image_tree(tmp_path / "images", protocol, size=48)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "left,right,genuine,fold\n"
        + "".join(f"{p.left},{p.right},{int(p.genuine)},{p.fold}\n" for p in protocol.pairs)
    )
    calls: list[Any] = []
    real = extract.embed_images

    def fake_embed_images(*args: Any, **kwargs: Any) -> Any:
        kwargs.update(
            embedders={"fa": FakeEmbedder("fa", 16, seed=1), "fb": FakeEmbedder("fb", 8, seed=2)},
            alignments={"fa": "arcface-112", "fb": "facenet-160"},
            detector=_FakeDetector.make(),
        )
        summary = real(*args, **kwargs)
        calls.append(summary)
        return summary

    monkeypatch.setattr(extract, "embed_images", fake_embed_images)
    argv = ["reproduce", "--images", str(tmp_path / "images"), "--pairs", str(pairs)]
    argv += ["--store", str(tmp_path / "store"), "--out", str(tmp_path / "rep"), "--quick"]
    assert main([*argv, "--no-progress"]) == 0
    r = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert r["models"] == ["fa", "fb"]
    assert r["run"]["n_items"] == len(protocol.items())
    n = len(EmbeddingStore(tmp_path / "store").load("fa").ids)
    assert n == len(protocol.items())
    # a second run resumes: nothing is embedded twice
    assert main([*argv, "--no-progress"]) == 0
    assert len(EmbeddingStore(tmp_path / "store").load("fa").ids) == n
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--frames", "x"], "--frames needs --protocol ytf"),
        (["--protocol", "csv"], "reproduce --protocol must be lfw or ytf"),
        (["--pairs", "p.txt"], "--pairs applies to --images"),
        (["--images", "{tmp}/nope"], "images folder not found"),
        (["--store", "{tmp}/nope"], "no embedding store at"),
        (["--points", "0"], "--points must be at least 2"),
    ],
)
def test_reproduce_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    args = ["reproduce", *(a.format(tmp=tmp_path) for a in argv), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert message in err[0]
