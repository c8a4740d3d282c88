"""Tests for the extraction run (facebridge.extract and ``facebridge embed``).

Most tests need no weights: a tiny fake detector (finds a "face" in any non-flat image) and
facebridge.testing.FakeEmbedder stand in for MTCNN and the networks.  They still read real
fixture photos, so they are marked ``realdata``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from facebridge.detect import Detection, FaceDetector, align, fallback_detection, read_image
from facebridge.errors import InvalidInputError
from facebridge.extract import embed_images, list_images, protocol_items
from facebridge.store import EmbeddingStore
from facebridge.testing import FakeEmbedder

ALIGN = {"fake-a": "arcface-112", "fake-b": "facenet-160"}


class FakeDetector(FaceDetector):
    """Finds one face (the fallback geometry, score 0.99) in any image that is not flat."""

    name = "fakedet"

    def __init__(self, interrupt_after: int | None = None) -> None:
        super().__init__()
        self.calls = 0
        self.interrupt_after = interrupt_after

    def _detect_views(self, views):
        out = []
        for v in views:
            if self.interrupt_after is not None and self.calls >= self.interrupt_after:
                raise KeyboardInterrupt
            self.calls += 1
            if float(v.std()) < 1.0:
                out.append([])
            else:
                d = fallback_detection(v.shape)
                out.append([Detection(d.box, d.landmarks, 0.99)])
        return out


class InterruptingEmbedder(FakeEmbedder):
    """A FakeEmbedder that raises KeyboardInterrupt (a user's Ctrl-C) after ``limit`` images."""

    def __init__(self, *args, limit: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.limit = limit

    def embed(self, images):
        if self.calls + len(images) > self.limit:
            raise KeyboardInterrupt
        return super().embed(images)


def _fakes(**kw) -> dict[str, FakeEmbedder]:
    return {
        "fake-a": FakeEmbedder("fake-a", 16, seed=1),
        "fake-b": FakeEmbedder("fake-b", 8, seed=2),
    }


@pytest.fixture
def image_tree(tiny_lfw_dir: Path, tmp_path: Path) -> Path:
    """Five fixture photos plus one corrupt, one empty, a grayscale, an RGBA and a flat grey image."""
    src = sorted((tiny_lfw_dir / "images").rglob("*.jpg"))[:5]
    root = tmp_path / "images"
    for p in src:
        (root / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, root / p.parent.name / p.name)
    odd = root / "Odd_Person"
    odd.mkdir()
    (odd / "Odd_Person_0001.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 20)
    (odd / "Odd_Person_0002.jpg").write_bytes(b"")
    photo = cv2.imread(str(src[0]))
    cv2.imwrite(str(odd / "Odd_Person_0003.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(odd / "Odd_Person_0004.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(odd / "Odd_Person_0005.jpg"), np.full((250, 250, 3), 128, np.uint8))
    return root


CORRUPT, EMPTY, GREY, RGBA, FLAT = (f"Odd_Person/Odd_Person_000{k}" for k in range(1, 6))


def _chunk_ids(store_root: Path, sub: str) -> list[str]:
    """Every id written to any chunk (rows and failures), duplicates kept."""
    out: list[str] = []
    for p in sorted((store_root / sub).glob("chunk-*.npz")):
        with np.load(p, allow_pickle=False) as z:
            out += z["ids"].tolist() + z["failed_ids"].tolist()
    return out


@pytest.mark.realdata
def test_run_records_failures_fallbacks_and_embeddings(image_tree: Path, tmp_path: Path) -> None:
    fakes = _fakes()
    store_root = tmp_path / "store"
    s = embed_images(
        image_tree,
        store_root,
        detector=FakeDetector(),
        embedders=fakes,
        alignments=ALIGN,
        batch_size=3,
        progress=False,
    )
    ids = list_images(image_tree)
    assert s.n_items == len(ids) == 10
    assert (s.detection.ok, s.detection.fallback, s.detection.failed) == (7, 1, 2)
    assert "0 bytes" in s.detection.failures[EMPTY + ".jpg"]
    assert "truncated JPEG" in s.detection.failures[CORRUPT + ".jpg"]
    for key in fakes:
        m = s.models[key]
        assert (m.ok, m.fallback, m.failed) == (7, 1, 2), key
        assert m.failures[EMPTY + ".jpg"].startswith("detection failed: unreadable image")
        assert s.store_totals[key] == {"embedded": 7, "fallback": 1, "failed": 2}
    assert s.store_totals["detections"] == {"embedded": 7, "fallback": 1, "failed": 2}

    store = EmbeddingStore(store_root)
    dets = store.load_detections("fakedet")
    assert set(dets.ids) == set(ids) - {CORRUPT + ".jpg", EMPTY + ".jpg"}
    assert dets.fallback[dets.index()[FLAT + ".jpg"]]
    assert set(dets.failures) == {CORRUPT + ".jpg", EMPTY + ".jpg"}
    emb = store.load("fake-a")
    assert emb.vectors.shape == (8, 16)
    assert set(emb.failures) == {CORRUPT + ".jpg", EMPTY + ".jpg"}
    man = store.manifest("fake-a")
    assert man["detector"] == "fakedet:arcface-112"
    # the stored vector is the embedder applied to the aligned crop of the stored detection
    item = ids[0]
    k = dets.index()[item]
    det = Detection(dets.boxes[k], dets.landmarks[k], dets.scores[k])
    crop = align(read_image(image_tree / item), det, "arcface-112")
    ref = FakeEmbedder("fake-a", 16, seed=1).embed(crop[None])[0]
    np.testing.assert_allclose(emb.vectors[emb.index()[item]], ref, atol=1e-6)
    # grayscale and RGBA copies of a photo are embedded like the photo (within JPEG/gray noise)
    assert GREY + ".png" in emb.index()
    assert RGBA + ".png" in emb.index()
    a, b = emb.vectors[emb.index()[RGBA + ".png"]], emb.vectors[emb.index()[item]]
    assert float(a @ b) > 0.99

    # a second run does nothing and changes nothing
    s2 = embed_images(
        image_tree, store_root, detector=FakeDetector(), embedders=_fakes(), alignments=ALIGN,
        progress=False,
    )  # fmt: skip
    assert s2.detection.done == 0
    assert s2.detection.skipped == 10
    assert all(m.done == 0 and m.skipped == 10 for m in s2.models.values())
    assert sorted(_chunk_ids(store_root, "fake-a")) == sorted(ids)

    # once detection is complete, runs embedding other models do not touch the detections lock
    # (so several can share a store); here another process is holding it
    store = EmbeddingStore(store_root)
    with store.detections_writer("fakedet"):
        s3 = embed_images(
            image_tree, store_root, detector=FakeDetector(),
            embedders={"fake-d": FakeEmbedder("fake-d", 4, seed=4)}, progress=False,
        )  # fmt: skip
    assert s3.models["fake-d"].ok == 7


@pytest.mark.realdata
def test_interrupted_run_resumes_exactly_once(image_tree: Path, tmp_path: Path) -> None:
    store_root = tmp_path / "store"
    ids = list_images(image_tree)
    # 1) interrupted during detection after 4 images
    with pytest.raises(KeyboardInterrupt):
        embed_images(
            image_tree, store_root, detector=FakeDetector(interrupt_after=4), embedders=_fakes(),
            alignments=ALIGN, progress=False,
        )  # fmt: skip
    # 2) interrupted while embedding (fake-b stops after 4 images, batches of 2)
    fakes = {"fake-a": FakeEmbedder("fake-a", 16, seed=1)}
    fakes["fake-b"] = InterruptingEmbedder("fake-b", 8, seed=2, limit=4)
    with pytest.raises(KeyboardInterrupt):
        embed_images(
            image_tree, store_root, detector=FakeDetector(), embedders=fakes, alignments=ALIGN,
            batch_size=2, progress=False,
        )  # fmt: skip
    store = EmbeddingStore(store_root)
    assert 0 < len(store.done_ids("fake-b")) < len(ids)
    # 3) resume
    fakes3 = _fakes()
    det3 = FakeDetector()
    s = embed_images(
        image_tree, store_root, detector=det3, embedders=fakes3, alignments=ALIGN, batch_size=2,
        progress=False,
    )  # fmt: skip
    assert det3.calls == 0  # detection finished in step 2
    for key, emb in fakes3.items():
        m = s.models[key]
        assert m.skipped > 0, key  # the interrupted run had flushed some batches
        assert emb.calls == m.ok + m.fallback, key  # only the missing items were embedded
        assert m.skipped + m.done == len(ids), key
    for sub in ("_detections/fakedet", "fake-a", "fake-b"):
        written = _chunk_ids(store_root, sub)
        assert sorted(written) == sorted(ids), sub  # every item exactly once
    ref = tmp_path / "ref"
    embed_images(
        image_tree, ref, detector=FakeDetector(), embedders=_fakes(), alignments=ALIGN,
        progress=False,
    )  # fmt: skip
    for key in ("fake-a", "fake-b"):
        got, want = store.load(key), EmbeddingStore(ref).load(key)
        assert got.ids == want.ids
        np.testing.assert_allclose(got.vectors, want.vectors, atol=1e-6)
        assert got.failures == want.failures


_KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_extract import ALIGN, FakeDetector
    from facebridge.extract import embed_images
    from facebridge.testing import FakeEmbedder

    class Killer(FakeEmbedder):
        def embed(self, images):
            if self.calls >= 4:
                os.kill(os.getpid(), signal.SIGKILL)
            return super().embed(images)

    embed_images({images!r}, {store!r}, detector=FakeDetector(),
                 embedders={{"fake-a": Killer("fake-a", 16, seed=1)}},
                 alignments=ALIGN, batch_size=2, progress=False)
    """
)


@pytest.mark.realdata
def test_kill_9_then_resume(image_tree: Path, tmp_path: Path) -> None:
    store_root = tmp_path / "store"
    script = _KILL_SCRIPT.format(
        tests=str(Path(__file__).parent), images=str(image_tree), store=str(store_root)
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    store = EmbeddingStore(store_root)
    ids = list_images(image_tree)
    assert 0 < len(store.done_ids("fake-a")) < len(ids)
    s = embed_images(
        image_tree, store_root, detector=FakeDetector(), embedders={"fake-a": FakeEmbedder("fake-a", 16, seed=1)},
        alignments=ALIGN, batch_size=2, progress=False,
    )  # fmt: skip
    assert s.store_totals["fake-a"] == {"embedded": 7, "fallback": 1, "failed": 2}
    assert sorted(_chunk_ids(store_root, "fake-a")) == sorted(ids)


@pytest.mark.realdata
def test_items_restrict_the_run_and_missing_files_fail(image_tree: Path, tmp_path: Path) -> None:
    ids = [*list_images(image_tree)[:2], "Nobody/Nobody_0001.jpg"]
    s = embed_images(
        image_tree, tmp_path / "st", detector=FakeDetector(), items=ids, embedders=_fakes(),
        alignments=ALIGN, progress=False,
    )  # fmt: skip
    assert s.n_items == 3
    assert "Nobody_0001.jpg" in s.detection.failures["Nobody/Nobody_0001.jpg"]
    assert s.store_totals["fake-a"] == {"embedded": 2, "fallback": 0, "failed": 1}


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        embed_images(tmp_path / "nope", tmp_path / "st", embedders={}, detector=FakeDetector())
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no image files"):
        embed_images(tmp_path / "empty", tmp_path / "st", embedders={}, detector=FakeDetector())
    with pytest.raises(InvalidInputError, match="relative POSIX"):
        embed_images(
            tmp_path / "empty", tmp_path / "st", items=["../x.jpg"], embedders={},
            detector=FakeDetector(),
        )  # fmt: skip
    with pytest.raises(InvalidInputError, match="batch sizes"):
        embed_images(tmp_path, tmp_path / "st", batch_size=0, embedders={}, detector=FakeDetector())


@pytest.mark.realdata
def test_no_alignment_known_is_an_error(image_tree: Path, tmp_path: Path) -> None:
    class Bare:  # an embedder whose spec says nothing about alignment
        key, dim, weights_sha256 = "bare", 4, "0" * 64

        def embed(self, faces):
            return np.ones((len(faces), 4), np.float32) / 2

    with pytest.raises(InvalidInputError, match="no alignment known"):
        embed_images(
            image_tree, tmp_path / "st", detector=FakeDetector(), embedders={"bare": Bare()},
            progress=False,
        )  # fmt: skip


@pytest.mark.realdata
def test_protocol_items(tiny_lfw_dir: Path) -> None:
    items = protocol_items(tiny_lfw_dir / "pairs_tiny.txt")
    assert items == sorted(items)
    assert all((tiny_lfw_dir / "images" / i).is_file() for i in items)


def test_cli_rejects_conflicting_options(tmp_path: Path, capsys) -> None:
    from facebridge.cli import main

    rc = main(
        ["embed", "--images", str(tmp_path), "--store", str(tmp_path / "s"), "--detect-only",
         "--models", "sface"]
    )  # fmt: skip
    assert rc == 2
    assert "exclude each other" in capsys.readouterr().err


def _have(*names: str) -> bool:
    from facebridge.models.weights import find_weights

    return all(find_weights(n) is not None for n in names)


@pytest.mark.realdata
@pytest.mark.weights
@pytest.mark.slow
@pytest.mark.skipif(
    not _have("mtcnn-pnet.pt", "mtcnn-rnet.pt", "mtcnn-onet.pt", "sface.onnx"),
    reason="MTCNN / sface weights absent: facebridge models pull",
)
def test_cli_end_to_end_with_real_mtcnn_and_sface(tiny_lfw_dir: Path, tmp_path: Path) -> None:
    from facebridge.cli import main
    from facebridge.protocols import load_protocol

    pytest.importorskip("onnxruntime")
    store_root = tmp_path / "store"
    pairs = tiny_lfw_dir / "pairs_tiny.txt"
    argv = ["embed", "--images", str(tiny_lfw_dir / "images"), "--pairs", str(pairs),
            "--store", str(store_root), "--models", "sface", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    store = EmbeddingStore(store_root)
    dets = store.load_detections("mtcnn")
    proto = load_protocol("auto", pairs)
    assert len(dets.ids) == len(proto.items())
    assert not dets.fallback.any()  # a face in every fixture image
    emb = store.load("sface")
    left, ok_l = emb.take(proto.left_ids())
    right, ok_r = emb.take(proto.right_ids())
    assert (ok_l & ok_r).all()
    scores = (left * right).sum(1)
    genuine = proto.genuine_array()
    assert scores[genuine].mean() > scores[~genuine].mean() + 0.3
    assert main(argv) == 0  # resume: nothing to do
    assert len(_chunk_ids(store_root, "sface")) == len(proto.items())


# ---------------------------------------------------------------------------------- re-runs


def _replace_with_other_photo(image_tree: Path, item: str, other: str) -> None:
    """Put another photo's bytes under ``item``'s name (size and content change)."""
    (image_tree / item).write_bytes((image_tree / other).read_bytes())


def _assert_equal_stores(a: Path, b: Path, keys=("fake-a", "fake-b")) -> None:
    for key in keys:
        got, want = EmbeddingStore(a).load(key), EmbeddingStore(b).load(key)
        assert got.ids == want.ids, key
        np.testing.assert_allclose(got.vectors, want.vectors, atol=1e-6)
        assert got.failures == want.failures, key


@pytest.mark.realdata
def test_replaced_photo_is_redetected_and_reembedded(image_tree: Path, tmp_path: Path) -> None:
    store_root = tmp_path / "store"
    run = dict(detector=FakeDetector(), alignments=ALIGN, progress=False)
    embed_images(image_tree, store_root, embedders=_fakes(), **run)
    ids = list_images(image_tree)
    item, other = ids[0], ids[3]
    before = EmbeddingStore(store_root).load("fake-a")
    _replace_with_other_photo(image_tree, item, other)
    s = embed_images(image_tree, store_root, embedders=_fakes(), **run)
    assert (s.detection.redone, s.detection.done, s.detection.skipped) == (1, 1, len(ids) - 1)
    for key in ("fake-a", "fake-b"):
        assert (s.models[key].redone, s.models[key].done) == (1, 1), key
    after = EmbeddingStore(store_root).load("fake-a")
    k = after.index()[item]
    assert not np.allclose(after.vectors[k], before.vectors[before.index()[item]])
    np.testing.assert_allclose(after.vectors[k], after.vectors[after.index()[other]], atol=1e-6)
    ref = tmp_path / "ref"
    embed_images(image_tree, ref, embedders=_fakes(), **run)
    _assert_equal_stores(store_root, ref)
    # a third run finds nothing changed
    s3 = embed_images(image_tree, store_root, embedders=_fakes(), **run)
    assert s3.detection.done == 0
    assert all(m.done == 0 for m in s3.models.values())


@pytest.mark.realdata
def test_interrupted_replacement_resumes_to_a_clean_store(image_tree: Path, tmp_path: Path) -> None:
    store_root = tmp_path / "store"
    run = dict(detector=FakeDetector(), alignments=ALIGN, progress=False)
    embed_images(image_tree, store_root, embedders=_fakes(), **run)
    ids = list_images(image_tree)
    _replace_with_other_photo(image_tree, ids[1], ids[4])
    fakes = {"fake-a": InterruptingEmbedder("fake-a", 16, seed=1, limit=0)}
    fakes["fake-b"] = FakeEmbedder("fake-b", 8, seed=2)
    with pytest.raises(KeyboardInterrupt):  # killed after re-detecting, before re-embedding
        embed_images(image_tree, store_root, embedders=fakes, **run)
    s = embed_images(image_tree, store_root, embedders=_fakes(), **run)
    assert s.detection.done == 0  # the new detection was kept
    assert s.models["fake-a"].redone == 1
    ref = tmp_path / "ref"
    embed_images(image_tree, ref, embedders=_fakes(), **run)
    _assert_equal_stores(store_root, ref)


@pytest.mark.realdata
def test_failures_are_retried_when_recopied_or_asked(image_tree: Path, tmp_path: Path) -> None:
    store_root = tmp_path / "store"
    run = dict(detector=FakeDetector(), alignments=ALIGN, progress=False)
    s1 = embed_images(image_tree, store_root, embedders=_fakes(), **run)
    assert s1.detection.failed == 2
    # by default a failure is kept ...
    s2 = embed_images(image_tree, store_root, embedders=_fakes(), **run)
    assert s2.detection.done == 0
    # ... retry_failed redoes it (still unreadable: recorded again, once)
    s3 = embed_images(image_tree, store_root, embedders=_fakes(), retry_failed=True, **run)
    assert (s3.detection.redone, s3.detection.failed) == (2, 2)
    assert all((m.redone, m.failed) == (2, 2) for m in s3.models.values())
    assert s3.failed_items().keys() == {CORRUPT + ".jpg", EMPTY + ".jpg"}
    # "re-copy it": the fixed file is picked up without any option
    good = list_images(image_tree)[0]
    _replace_with_other_photo(image_tree, CORRUPT + ".jpg", good)
    s4 = embed_images(image_tree, store_root, embedders=_fakes(), **run)
    assert (s4.detection.redone, s4.detection.ok) == (1, 1)
    assert s4.store_totals["fake-a"] == {"embedded": 8, "fallback": 1, "failed": 1}
    emb = EmbeddingStore(store_root).load("fake-a")
    assert CORRUPT + ".jpg" in emb.index()
    assert CORRUPT + ".jpg" not in emb.failures


@pytest.mark.realdata
def test_summary_counts_a_bad_image_once(image_tree: Path, tmp_path: Path) -> None:
    s = embed_images(
        image_tree, tmp_path / "st", detector=FakeDetector(), embedders=_fakes(),
        alignments=ALIGN, progress=False,
    )  # fmt: skip
    failed = s.failed_items()
    assert sorted(failed) == [CORRUPT + ".jpg", EMPTY + ".jpg"]  # not 2 x (1 + 2 models)
    assert failed[EMPTY + ".jpg"].startswith("unreadable image")
    assert s.as_dict()["failed_items"] == failed


def _huge_png(path: Path, side: int = 20000) -> None:
    """A grey side x side PNG of a few hundred KB (zeros compress well), written row by row."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    z = zlib.compressobj(9)
    row = bytes(side + 1)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.mark.realdata
def test_decompression_bomb_is_refused_before_decoding(image_tree: Path, tmp_path: Path) -> None:
    from facebridge.detect.image import image_size
    from facebridge.errors import ImageError

    bomb = image_tree / "Odd_Person" / "Odd_Person_0006.png"
    _huge_png(bomb)
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(
        ImageError,
        match=r"refusing image .*20000x20000 = 400\.0 megapixels exceeds the limit of 40",
    ):
        read_image(bomb)
    s = embed_images(
        image_tree, tmp_path / "st", detector=FakeDetector(), embedders=_fakes(),
        alignments=ALIGN, progress=False,
    )  # fmt: skip
    assert "megapixels exceeds the limit" in s.detection.failures["Odd_Person/Odd_Person_0006.png"]
    with pytest.raises(ImageError, match=r"exceeds the limit of 0\.0001 megapixels"):
        read_image(image_tree / list_images(image_tree)[0], max_pixels=100)
    # header sizes agree with the decoded sizes
    decodable = [i for i in list_images(image_tree) if i not in s.detection.failures]
    assert len(decodable) == 8
    for item in decodable:
        w, h = image_size((image_tree / item).read_bytes())
        assert read_image(image_tree / item).shape[:2] == (h, w), item
    with pytest.raises(InvalidInputError, match="max_pixels must be a positive integer"):
        embed_images(image_tree, tmp_path / "x", embedders=_fakes(), max_pixels=0)


def test_store_on_a_file_is_one_line(tmp_path: Path, tiny_lfw_dir: Path) -> None:
    from facebridge.errors import StoreError

    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match=r"cannot create directory .*: .*pass another --store"):
        embed_images(
            tiny_lfw_dir / "images", tmp_path / "file" / "store", detector=FakeDetector(),
            embedders=_fakes(), alignments=ALIGN, progress=False,
        )  # fmt: skip


def test_images_path_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    with pytest.raises(InvalidInputError, match=r"--images .*a\.jpg is a file, not a folder"):
        list_images(tmp_path / "a.jpg")
    with pytest.raises(InvalidInputError, match="is a file, not a folder"):
        embed_images(tmp_path / "a.jpg", tmp_path / "st", embedders=_fakes(), items=["a.jpg"])


@pytest.mark.realdata
def test_disk_full_mid_run_is_one_line_and_resumes(
    image_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from facebridge.errors import StoreError

    store_root = tmp_path / "store"
    run = dict(detector=FakeDetector(), alignments=ALIGN, progress=False, batch_size=2)
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) > 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(StoreError, match=r"cannot write .*chunk-\d+\.npz: No space left on device"):
        embed_images(image_tree, store_root, embedders=_fakes(), **run)
    monkeypatch.setattr(os, "replace", real)
    assert not list(store_root.rglob("*.tmp"))  # nothing half-written
    embed_images(image_tree, store_root, embedders=_fakes(), **run)
    ref = tmp_path / "ref"
    embed_images(image_tree, ref, embedders=_fakes(), **run)
    _assert_equal_stores(store_root, ref)


_KILL_ON_FIRST = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_extract import ALIGN, FakeDetector
    from facebridge.extract import embed_images
    from facebridge.testing import FakeEmbedder

    class Killer(FakeEmbedder):
        def embed(self, images):
            os.kill(os.getpid(), signal.SIGKILL)

    embed_images({images!r}, {store!r}, detector=FakeDetector(),
                 embedders={{"fake-a": Killer("fake-a", 16, seed=1),
                             "fake-b": FakeEmbedder("fake-b", 8, seed=2)}},
                 alignments=ALIGN, batch_size=2, progress=False)
    """
)


@pytest.mark.realdata
def test_kill_9_during_a_replacement_then_resume(image_tree: Path, tmp_path: Path) -> None:
    store_root = tmp_path / "store"
    run = dict(detector=FakeDetector(), alignments=ALIGN, progress=False, batch_size=2)
    embed_images(image_tree, store_root, embedders=_fakes(), **run)
    ids = list_images(image_tree)
    _replace_with_other_photo(image_tree, ids[2], ids[0])
    script = _KILL_ON_FIRST.format(
        tests=str(Path(__file__).parent), images=str(image_tree), store=str(store_root)
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    s = embed_images(image_tree, store_root, embedders=_fakes(), **run)
    assert s.models["fake-a"].redone == 1
    ref = tmp_path / "ref"
    embed_images(image_tree, ref, embedders=_fakes(), **run)
    _assert_equal_stores(store_root, ref)
