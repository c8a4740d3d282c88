"""``facebridge embed``'s options reach the extraction run, and its summary counts a bad image once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import facebridge.extract as extract
from facebridge.cli import main
from facebridge.detect.image import MAX_PIXELS
from facebridge.extract import ExtractionSummary, StageSummary


def _summary() -> ExtractionSummary:
    """One unreadable image (it fails detection, then both models) and one that fails a model."""
    bad, odd = "A/A_0001.jpg", "B/B_0001.jpg"
    det = StageSummary("mtcnn", ok=2, failed=1, failures={bad: "unreadable image: 0 bytes"})
    models = {
        k: StageSummary(k, ok=1, failed=2, failures={bad: "detection failed", odd: "nan"})
        for k in ("sface", "arcface")
    }
    s = ExtractionSummary(3, "mtcnn", det, models)
    s.store_totals = {"detections": {"embedded": 2, "fallback": 0, "failed": 1}}
    return s


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []

    def fake(images: Any, store: Any, **kw: Any) -> ExtractionSummary:
        got.append(kw)
        return _summary()

    monkeypatch.setattr(extract, "embed_images", fake)
    return got


def _argv(tmp_path: Path, *more: str) -> list[str]:
    return ["embed", "--images", str(tmp_path), "--store", str(tmp_path / "s"), *more]


def test_defaults_keep_failures_and_the_pixel_limit(
    calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    assert main(_argv(tmp_path, "--no-progress")) == 0
    assert calls[0]["retry_failed"] is False
    assert calls[0]["max_pixels"] == MAX_PIXELS


def test_retry_failed_and_max_pixels_reach_the_run(
    calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    assert main(_argv(tmp_path, "--retry-failed", "--max-pixels", "1000")) == 0
    assert calls[0]["retry_failed"] is True
    assert calls[0]["max_pixels"] == 1000
    assert main(_argv(tmp_path, "--max-pixels", "0")) == 0
    assert calls[1]["max_pixels"] is None  # 0: no limit


def test_negative_max_pixels_is_one_line(
    calls: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_argv(tmp_path, "--max-pixels", "-5")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--max-pixels must be a positive number" in err[0]
    assert not calls


def test_summary_counts_a_bad_image_once(
    calls: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The unreadable image fails three stages but is one image; the other failed one model."""
    assert main(_argv(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "2 images failed in this run" in out
    assert "--retry-failed" in out
    assert "manifest" not in out
    assert main(_argv(tmp_path, "--json")) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["failed_items"] == {
        "A/A_0001.jpg": "unreadable image: 0 bytes",
        "B/B_0001.jpg": "sface: nan",
    }


def test_ray_engine_takes_the_same_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import facebridge.extract_ray as extract_ray

    got: list[dict[str, Any]] = []

    def fake(images: Any, store: Any, **kw: Any) -> ExtractionSummary:
        got.append(kw)
        return _summary()

    monkeypatch.setattr(extract_ray, "embed_images_ray", fake)
    argv = _argv(tmp_path, "--engine", "ray", "--retry-failed", "--max-pixels", "77")
    assert main(argv) == 0
    assert (got[0]["retry_failed"], got[0]["max_pixels"]) == (True, 77)


def test_empty_models_is_an_error_not_every_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["embed", "--images", str(tmp_path), "--store", str(tmp_path / "st"), "--models", ""]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["facebridge: error: --models got no model key in ''"]
    assert not (tmp_path / "st").exists()


def test_device_reaches_the_run(calls: list[dict[str, Any]], tmp_path: Path) -> None:
    assert main(_argv(tmp_path, "--no-progress")) == 0
    assert calls[0]["device"] == "cpu"
    assert main(_argv(tmp_path, "--no-progress", "--device", "cuda")) == 0
    assert calls[1]["device"] == "cuda"


def test_detector_device(capsys: pytest.CaptureFixture[str]) -> None:
    assert extract.detector_device("mtcnn", "cpu") == {"device": "cpu"}
    assert extract.detector_device("mtcnn", "cuda:1", check=False) == {"device": "cuda:1"}
    assert extract.detector_device("yunet", "cuda", check=False) == {}
    assert "yunet runs on the CPU" in capsys.readouterr().err


@pytest.mark.realdata
def test_cuda_without_a_gpu_is_one_line_and_writes_nothing(
    tiny_lfw_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch  # MTCNN's runtime, installed in CI

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    store = tmp_path / "s"
    argv = ["embed", "--images", str(tiny_lfw_dir), "--store", str(store), "--device", "cuda"]
    assert main([*argv, "--detect-only", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "cuda" in err[0].lower()
    assert not store.exists()
