"""Tests for the Ray engine (facebridge.extract_ray): the store it writes equals the local engine's.

One local Ray runtime with 2 CPUs serves the module.  The fakes of tests/test_extract.py stand in
for MTCNN and the networks in most tests (they read real fixture photos: ``realdata``); one test
runs the real MTCNN and two real models (``weights``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ray
import ray.cloudpickle

import test_extract
from facebridge.errors import InvalidInputError, MissingDependencyError
from facebridge.extract import embed_images, list_images
from facebridge.extract_ray import embed_images_ray
from facebridge.store import EmbeddingStore
from facebridge.testing import FakeEmbedder
from test_extract import ALIGN, EMPTY, FakeDetector, _chunk_ids, _fakes, image_tree

__all__ = ["image_tree"]  # a fixture, used by name

# the fakes live in test modules that Ray's workers cannot import: ship them by value
ray.cloudpickle.register_pickle_by_value(test_extract)
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[str]:
    """A local Ray runtime with 2 CPUs for the module; yields its address."""
    env = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH", "")) if p)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": env}},
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _assert_same_store(a: Path, b: Path, models: list[str], detector: str, atol: float) -> None:
    sa, sb = EmbeddingStore(a), EmbeddingStore(b)
    da, db = sa.load_detections(detector), sb.load_detections(detector)
    assert da.ids == db.ids
    assert da.failures == db.failures
    np.testing.assert_array_equal(da.fallback, db.fallback)
    for name in ("boxes", "landmarks", "scores"):
        np.testing.assert_allclose(getattr(da, name), getattr(db, name), atol=1e-4, err_msg=name)
    for m in models:
        ea, eb = sa.load(m), sb.load(m)
        assert ea.ids == eb.ids, m
        assert ea.failures == eb.failures, m
        np.testing.assert_allclose(ea.vectors, eb.vectors, atol=atol, rtol=0, err_msg=m)
        assert {k: v for k, v in ea.manifest.items() if k != "created"} == {
            k: v for k, v in eb.manifest.items() if k != "created"
        }


def _no_duplicates(store_root: Path, subs: list[str], ids: list[str]) -> None:
    for sub in subs:
        got = _chunk_ids(store_root, sub)
        assert sorted(got) == sorted(ids), sub


class KillOnce(FakeEmbedder):
    """A fake that kill -9s its own worker process on its first batch (once: a marker file)."""

    def __init__(self, *args, marker: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.marker = marker

    def embed(self, images):
        if not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), 9)
        return super().embed(images)


@pytest.mark.realdata
def test_ray_store_equals_local_store(ray_runtime: str, image_tree: Path, tmp_path: Path) -> None:
    local, dist = tmp_path / "local", tmp_path / "ray"
    kw = {"detector": FakeDetector(), "alignments": ALIGN, "batch_size": 3, "progress": False}
    a = embed_images(image_tree, local, embedders=_fakes(), **kw)
    b = embed_images_ray(image_tree, dist, embedders=_fakes(), workers=2, **kw)
    assert b.store_totals == a.store_totals
    assert b.detection.failures == a.detection.failures
    assert "0 bytes" in b.detection.failures[EMPTY + ".jpg"]
    for key in ("fake-a", "fake-b"):
        assert (b.models[key].ok, b.models[key].fallback, b.models[key].failed) == (7, 1, 2)
        assert b.models[key].failures == a.models[key].failures
        assert sum(b.placement[key].values()) == 10
    _assert_same_store(local, dist, ["fake-a", "fake-b"], "fakedet", atol=1e-6)
    ids = list_images(image_tree)
    _no_duplicates(dist, ["fake-a", "fake-b", "_detections/fakedet"], ids)
    # a second run does nothing
    c = embed_images_ray(image_tree, dist, embedders=_fakes(), workers=2, **kw)
    assert c.detection.done == 0
    assert c.detection.skipped == 10
    assert all(m.done == 0 and m.skipped == 10 for m in c.models.values())
    _no_duplicates(dist, ["fake-a", "fake-b", "_detections/fakedet"], ids)


@pytest.mark.realdata
def test_partial_run_then_rest(ray_runtime: str, image_tree: Path, tmp_path: Path) -> None:
    ids = list_images(image_tree)
    store_root = tmp_path / "ray"
    kw = {"detector": FakeDetector(), "alignments": ALIGN, "batch_size": 2, "progress": False}
    embed_images_ray(image_tree, store_root, embedders=_fakes(), items=ids[:4], **kw)
    s = embed_images_ray(image_tree, store_root, embedders=_fakes(), **kw)
    assert s.detection.skipped == 4
    assert s.detection.done == 6
    assert s.models["fake-a"].skipped == 4
    _no_duplicates(store_root, ["fake-a", "fake-b", "_detections/fakedet"], ids)
    embed_images(image_tree, tmp_path / "local", embedders=_fakes(), **kw)
    _assert_same_store(tmp_path / "local", store_root, ["fake-a"], "fakedet", atol=1e-6)


@pytest.mark.realdata
def test_retry_failed_and_max_pixels_as_the_local_engine(
    ray_runtime: str, image_tree: Path, tmp_path: Path
) -> None:
    """A pixel limit records every image as a failure; a plain rerun keeps the failures, a rerun
    with ``retry_failed`` redoes them; each step leaves the store the local engine leaves."""
    kw = {"detector": FakeDetector(), "alignments": ALIGN, "batch_size": 3, "progress": False}
    stores = {"local": tmp_path / "local", "ray": tmp_path / "ray"}

    def run(engine: str, **more):
        if engine == "local":
            return embed_images(image_tree, stores[engine], embedders=_fakes(), **kw, **more)
        return embed_images_ray(
            image_tree, stores[engine], embedders=_fakes(), workers=2, **kw, **more
        )

    for engine in stores:
        first = run(engine, max_pixels=1)
        assert first.detection.ok + first.detection.fallback == 0
        assert "--max-pixels" in next(iter(first.detection.failures.values()))
        kept = run(engine)
        assert kept.detection.done == 0
        assert kept.detection.skipped == 10
        assert all(m.done == 0 for m in kept.models.values())
        again = run(engine, retry_failed=True)
        assert again.detection.redone == 10
        assert (again.models["fake-a"].ok, again.models["fake-a"].failed) == (7, 2)
    _assert_same_store(stores["local"], stores["ray"], ["fake-a", "fake-b"], "fakedet", 1e-6)
    clean = tmp_path / "clean"
    embed_images(image_tree, clean, embedders=_fakes(), **kw)
    _assert_same_store(clean, stores["ray"], ["fake-a", "fake-b"], "fakedet", atol=1e-6)


@pytest.mark.realdata
def test_killed_worker_is_retried(ray_runtime: str, image_tree: Path, tmp_path: Path) -> None:
    marker = tmp_path / "killed"
    kw = {"detector": FakeDetector(), "alignments": ALIGN, "batch_size": 2, "progress": False}
    emb = {"fake-a": KillOnce("fake-a", 16, seed=1, marker=str(marker))}
    s = embed_images_ray(image_tree, tmp_path / "ray", embedders=emb, workers=2, **kw)
    assert marker.exists()  # a worker was killed mid-run
    assert s.store_totals["fake-a"] == {"embedded": 7, "fallback": 1, "failed": 2}
    embed_images(image_tree, tmp_path / "local", embedders=_fakes(), **kw)
    _assert_same_store(tmp_path / "local", tmp_path / "ray", ["fake-a"], "fakedet", atol=1e-6)
    _no_duplicates(tmp_path / "ray", ["fake-a"], list_images(image_tree))


_DRIVER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    import ray.cloudpickle
    import test_extract as te
    from facebridge.extract_ray import embed_images_ray
    from facebridge.testing import FakeEmbedder
    ray.cloudpickle.register_pickle_by_value(te)

    class Slow(FakeEmbedder):
        def embed(self, images):
            time.sleep(0.3)
            return super().embed(images)

    embed_images_ray(
        {images!r}, {store!r}, detector=te.FakeDetector(), alignments=te.ALIGN, batch_size=1,
        embedders={{"fake-a": Slow("fake-a", 16, seed=1)}}, progress=False, address={address!r},
    )
    """
)


@pytest.mark.realdata
@pytest.mark.slow
def test_kill_9_of_the_driver_then_rerun(
    ray_runtime: str, image_tree: Path, tmp_path: Path
) -> None:
    store_root = tmp_path / "ray"
    script = _DRIVER.format(
        tests=str(Path(__file__).parent), images=str(image_tree), store=str(store_root),
        address=ray_runtime,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
    model_dir = store_root / "fake-a"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(model_dir.glob("chunk-*.npz"))) >= 2:
            proc.kill()
            break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -9, err.decode()[-2000:]
    ids = list_images(image_tree)
    done = EmbeddingStore(store_root).done_ids("fake-a")
    assert 0 < len(done) < len(ids)
    kw = {"detector": FakeDetector(), "alignments": ALIGN, "batch_size": 1, "progress": False}
    s = embed_images_ray(image_tree, store_root, embedders={"fake-a": _fakes()["fake-a"]}, **kw)
    assert s.models["fake-a"].skipped == len(done)
    assert s.store_totals["fake-a"] == {"embedded": 7, "fallback": 1, "failed": 2}
    _no_duplicates(store_root, ["fake-a"], ids)
    embed_images(image_tree, tmp_path / "local", embedders=_fakes(), **kw)
    _assert_same_store(tmp_path / "local", store_root, ["fake-a"], "fakedet", atol=1e-6)


@pytest.mark.realdata
def test_altered_weights_are_refused_in_the_worker(
    ray_runtime: str, image_tree: Path, tmp_path: Path
) -> None:
    """Each actor verifies its weights' sha256 where it runs; a mismatch is the one-line error."""
    from facebridge.errors import WeightsError

    wdir = tmp_path / "weights"
    wdir.mkdir()
    (wdir / "sface.onnx").write_bytes(b"not the sface weights")
    with pytest.raises(WeightsError, match="sface"):
        embed_images_ray(
            image_tree, tmp_path / "s", models=["sface"], detector=FakeDetector(),
            weights_dir=wdir, progress=False,
        )  # fmt: skip


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="workers must be an integer >= 1"):
        embed_images_ray(tmp_path, tmp_path / "s", workers=0)
    with pytest.raises(InvalidInputError, match="does not exist"):
        embed_images_ray(tmp_path / "nope", tmp_path / "s")
    (tmp_path / "a.jpg").write_bytes(b"x")
    with pytest.raises(InvalidInputError, match="unknown detector"):
        embed_images_ray(tmp_path, tmp_path / "s", models=(), detector="retina")


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"facebridge\[ray\]"):
        embed_images_ray(tmp_path, tmp_path / "s", models=())


def _have_weights(*names: str) -> bool:
    from facebridge.models.weights import find_weights

    return all(find_weights(n) is not None for n in names)


REAL_MODELS = ["sface", "mobilefacenet"]


@pytest.mark.realdata
@pytest.mark.weights
@pytest.mark.slow
@pytest.mark.skipif(
    not _have_weights("mtcnn-pnet.pt", "sface.onnx", "mobilefacenet.tflite"),
    reason="MTCNN / sface / mobilefacenet weights absent: facebridge models pull",
)
def test_real_models_on_the_fixture_equal_the_local_engine(
    ray_runtime: str, tiny_lfw_dir: Path, tmp_path: Path
) -> None:
    images = tiny_lfw_dir / "images"
    local, dist = tmp_path / "local", tmp_path / "ray"
    a = embed_images(images, local, models=REAL_MODELS, progress=False, threads=1)
    b = embed_images_ray(images, dist, models=REAL_MODELS, progress=False, workers=2)
    assert a.n_items == b.n_items == 33
    assert b.store_totals == a.store_totals
    _assert_same_store(local, dist, REAL_MODELS, "mtcnn", atol=1e-6)
    _no_duplicates(dist, [*REAL_MODELS, "_detections/mtcnn"], list_images(images))


def test_cli_ray_options_need_the_ray_engine(tmp_path: Path, capsys) -> None:
    from facebridge.cli import main

    rc = main(
        ["embed", "--images", str(tmp_path), "--store", str(tmp_path / "s"), "--workers", "2"]
    )
    assert rc == 2
    assert "--workers need --engine ray" in capsys.readouterr().err


@pytest.mark.realdata
@pytest.mark.weights
def test_cli_engine_ray_detect_only(ray_runtime: str, image_tree: Path, tmp_path: Path) -> None:
    """``embed --engine ray`` (YuNet detection) fills the store with one record per image."""
    from facebridge.cli import main

    store_root = tmp_path / "s"
    rc = main(
        ["embed", "--images", str(image_tree), "--store", str(store_root), "--detect-only",
         "--detector", "yunet", "--engine", "ray", "--address", ray_runtime, "--no-progress"]
    )  # fmt: skip
    assert rc == 0
    dets = EmbeddingStore(store_root).load_detections("yunet")
    assert len(dets) + len(dets.failures) == len(list_images(image_tree))
