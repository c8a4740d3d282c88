"""The YouTube Faces path end to end on a small synthetic frame folder in the real
``aligned_images_DB`` layout (``Name/video_no/aligned_detect_<video_no>.<frame>.jpg``).

No real YTF frames exist on the development machines; a fake detector and
:class:`facebridge.testing.FakeEmbedder` stand in for MTCNN and the networks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facebridge.detect import Detection, FaceDetector, fallback_detection
from facebridge.errors import InvalidInputError
from facebridge.protocols import load_ytf_splits
from facebridge.store import EmbeddingStore
from facebridge.testing import FakeEmbedder
from report_checks import check_html_self_contained, check_results

N_SPLITS = 4
PEOPLE_PER_SPLIT = 3
VIDEOS = (1, 2, 4)  # YTF video numbers need not be contiguous
FRAMES = (9, 10, 11, 100, 2)  # numeric order 2, 9, 10, 11, 100 (lexicographic would differ)
MISSING_VIDEO = "Person_11/7"  # in splits.txt, no folder: recorded as a failure
ALIGN = {"fake-a": "arcface-112", "fake-b": "facenet-160"}


class FakeDetector(FaceDetector):
    """One face (the fallback geometry) in every image."""

    name = "fakedet"

    def _detect_views(self, views: Any) -> list[list[Detection]]:
        out = []
        for v in views:
            d = fallback_detection(v.shape)
            out.append([Detection(d.box, d.landmarks, 0.99)])
        return out


def _fakes() -> dict[str, FakeEmbedder]:
    return {
        "fake-a": FakeEmbedder("fake-a", 16, seed=1),
        "fake-b": FakeEmbedder("fake-b", 12, seed=2),
    }


def _write_frames(root: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    n = N_SPLITS * PEOPLE_PER_SPLIT
    for i in range(n):
        name = f"Person_{i:02d}"
        base = np.kron(rng.uniform(30, 225, size=(6, 6)), np.ones((8, 8)))
        for v in VIDEOS:
            d = root / name / str(v)
            d.mkdir(parents=True)
            shift = rng.normal(0, 8, size=base.shape)
            for f in FRAMES:
                img = np.clip(base + shift + rng.normal(0, 6, size=base.shape), 0, 255)
                rgb = np.repeat(img.astype(np.uint8)[..., None], 3, axis=2)
                Image.fromarray(rgb).save(d / f"aligned_detect_{v}.{f}.jpg")
            (d / "notes.txt").write_text("not a frame")  # ignored: not aligned_detect_*
    # an unreadable frame: recorded as a frame failure, the video still averaged
    (root / "Person_00" / "1" / "aligned_detect_1.9.jpg").write_bytes(b"not a jpeg")


def _write_splits(path: Path) -> Path:
    rows = ["split number, pair number in split, first name, second name, is same"]
    for s in range(N_SPLITS):
        people = [f"Person_{s * PEOPLE_PER_SPLIT + j:02d}" for j in range(PEOPLE_PER_SPLIT)]
        k = 0
        for p in people:
            for a, b in ((1, 2), (1, 4), (2, 4)):
                k += 1
                rows.append(f"{s + 1}, {k}, {p}/{a}, {p}/{b}, 1")
        for j, p in enumerate(people):
            q = people[(j + 1) % len(people)]
            for a, b in ((1, 1), (2, 4), (4, 2)):
                k += 1
                rows.append(f"{s + 1}, {k}, {p}/{a}, {q}/{b}, 0")
    rows.append(f"{N_SPLITS}, 99, Person_11/1, {MISSING_VIDEO}, 1")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def ytf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ytf")
    _write_frames(root / "aligned_images_DB")
    return root / "aligned_images_DB", _write_splits(root / "splits.txt")


@pytest.fixture(scope="module")
def video_store(ytf: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from facebridge.extract_ytf import embed_ytf_videos

    frames, splits = ytf
    store = tmp_path_factory.mktemp("st") / "ytf-store"
    embed_ytf_videos(
        frames,
        load_ytf_splits(splits),
        store,
        frames_per_video=3,
        detector=FakeDetector(),
        progress=False,
        embedders=_fakes(),
        alignments=ALIGN,
    )
    return store


def test_video_embedding_is_mean_of_first_frames_in_frame_order(video_store: Path) -> None:
    videos = EmbeddingStore(video_store)
    frames = EmbeddingStore(video_store / "_frames")
    assert videos.models() == ["fake-a", "fake-b"]
    for model in ("fake-a", "fake-b"):
        fe = frames.load(model)
        # only the first 3 frames by number (2, 9, 10) were embedded, never 11 or 100
        assert all(i.rsplit(".", 2)[-2] in ("2", "9", "10") for i in (*fe.ids, *fe.failures))
        ve = videos.load(model)
        idx, fidx = ve.index(), fe.index()
        vid = "Person_03/2"
        want = np.mean([fe.vectors[fidx[f"{vid}/aligned_detect_2.{n}.jpg"]] for n in (2, 9, 10)], 0)
        np.testing.assert_allclose(ve.vectors[idx[vid]], want, rtol=1e-5, atol=1e-6)
        # the corrupt frame is a frame failure; its video is the mean of the two others
        assert "Person_00/1/aligned_detect_1.9.jpg" in fe.failures
        want = np.mean(
            [fe.vectors[fidx[f"Person_00/1/aligned_detect_1.{n}.jpg"]] for n in (2, 10)], 0
        )
        np.testing.assert_allclose(ve.vectors[idx["Person_00/1"]], want, rtol=1e-5, atol=1e-6)
        # the video without a folder is a failure with its reason
        assert "no frames" in ve.failures[MISSING_VIDEO]
        man = videos.manifest(model)
        assert man["extra"]["ytf"]["frames_per_video"] == 3
        assert man["dim"] == {"fake-a": 16, "fake-b": 12}[model]


def test_ytf_rerun_resumes_without_duplicates(ytf: tuple[Path, Path], video_store: Path) -> None:
    from facebridge.extract_ytf import embed_ytf_videos

    frames, splits = ytf
    before = {m: EmbeddingStore(video_store).load(m).vectors.copy() for m in ("fake-a", "fake-b")}
    embed_ytf_videos(
        frames,
        load_ytf_splits(splits),
        video_store,
        frames_per_video=3,
        detector=FakeDetector(),
        progress=False,
        embedders=_fakes(),
        alignments=ALIGN,
    )
    for m, vec in before.items():
        after = EmbeddingStore(video_store).load(m)
        assert after.vectors.shape == vec.shape
        np.testing.assert_array_equal(after.vectors, vec)


def test_ytf_report_end_to_end(ytf: tuple[Path, Path], video_store: Path, tmp_path: Path) -> None:
    from facebridge.app import evaluate
    from facebridge.contracts import AnalysisSettings

    _, splits = ytf
    protocol = load_ytf_splits(splits)
    ev = evaluate(
        EmbeddingStore(video_store),
        protocol,
        tmp_path / "rep",
        settings=AnalysisSettings.from_options(quick=True),
        progress=False,
        allow_missing=0.05,  # the one pair with the missing video
    )
    r = check_results(tmp_path / "rep", expect_sweeps=False)
    assert r["run"]["protocol"] == "ytf"
    assert r["run"]["n_invalid_pairs"] == 1  # the pair with the missing video
    assert (ev.missing.n_missing, ev.missing.failed) == (1, 1)
    assert ev.context.is_ytf
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Table 4 (YouTube Faces)" in md  # compared with the paper's YTF table
    assert MISSING_VIDEO.replace("_", "\\_") in md  # every failure listed with its reason
    check_html_self_contained(tmp_path / "rep" / "report.html")


def test_reproduce_cli_ytf(
    ytf: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI path (`reproduce --protocol ytf --frames --splits --store`), with the real models
    swapped for fakes inside the extraction run."""
    import facebridge.experiments as ex
    import facebridge.extract as extract

    if not hasattr(ex, "run_analysis"):
        pytest.skip("facebridge.experiments.run_analysis is not available yet")
    real = extract.embed_images

    def fake_embed_images(*args: Any, **kwargs: Any) -> Any:
        kwargs.update(embedders=_fakes(), alignments=ALIGN, detector=FakeDetector())
        return real(*args, **kwargs)

    monkeypatch.setattr(extract, "embed_images", fake_embed_images)
    from facebridge.cli import main

    frames, splits = ytf
    out = tmp_path / "rep"
    argv = ["reproduce", "--protocol", "ytf", "--frames", str(frames), "--splits", str(splits)]
    argv += ["--store", str(tmp_path / "st"), "--frames-per-video", "2", "--out", str(out)]
    assert main([*argv, "--quick", "--no-progress", "--allow-missing", "0.05"]) == 0
    r = json.loads((out / "results.json").read_text())
    assert r["models"] == ["fake-a", "fake-b"]
    assert (
        EmbeddingStore(tmp_path / "st").manifest("fake-a")["extra"]["ytf"]["frames_per_video"] == 2
    )


def test_ytf_errors(ytf: tuple[Path, Path], tmp_path: Path) -> None:
    from facebridge.extract_ytf import embed_ytf_videos, ytf_frame_items

    frames, splits = ytf
    protocol = load_ytf_splits(splits)
    with pytest.raises(InvalidInputError, match="frames-per-video must be a positive integer"):
        embed_ytf_videos(frames, protocol, tmp_path / "s", frames_per_video=0, embedders=_fakes())
    with pytest.raises(InvalidInputError, match="YTF frames folder not found"):
        ytf_frame_items(tmp_path / "nope", protocol.items())
    with pytest.raises(InvalidInputError, match="none of the 1 videos has frames"):
        ytf_frame_items(frames, ["Nobody/1"])


def test_reproduce_ytf_needs_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from facebridge.cli import main

    assert main(["reproduce", "--protocol", "ytf", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--protocol ytf needs --frames DIR" in err[0]


def test_default_is_the_mean_of_the_first_100_frames_by_number(tmp_path: Path) -> None:
    """Without --frames-per-video the first 100 frames by frame number are chosen (the paper);
    ordering is numeric, and frames from 101 on are never embedded."""
    import inspect

    from facebridge.extract_ytf import embed_ytf_videos, ytf_frame_items

    d = tmp_path / "Some_One" / "3"
    d.mkdir(parents=True)
    for f in np.random.default_rng(0).permutation(np.arange(1, 131)):
        (d / f"aligned_detect_3.{f}.jpg").write_bytes(b"")
    got = ytf_frame_items(tmp_path, ["Some_One/3"]).frames["Some_One/3"]
    assert got == [f"Some_One/3/aligned_detect_3.{f}.jpg" for f in range(1, 101)]
    assert inspect.signature(embed_ytf_videos).parameters["frames_per_video"].default == 100
    assert inspect.signature(ytf_frame_items).parameters["frames_per_video"].default == 100
