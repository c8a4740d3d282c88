from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import facebridge.store._store as store_mod
from facebridge.errors import DimensionError, InvalidInputError, StoreError
from facebridge.store import EmbeddingStore, default_store

SHA = "a" * 64


def _ids(n: int, start: int = 0) -> list[str]:
    return [f"P{i:03d}/P{i:03d}_0001.jpg" for i in range(start, start + n)]


def _vecs(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def _chunks(d: Path) -> list[str]:
    return sorted(p.name for p in d.glob("chunk-*.npz"))


@pytest.fixture
def store(tmp_path: Path) -> EmbeddingStore:
    return EmbeddingStore.create(tmp_path / "lfw")


# ------------------------------------------------------------------------------ basics


def test_roundtrip_manifest_and_layout(store: EmbeddingStore) -> None:
    ids, v = _ids(10), _vecs(10)
    with store.writer(
        "alpha", dim=8, weights_sha256=SHA.upper(), detector="mtcnn", extra={"k": 1}
    ) as w:
        w.add(ids[5:], v[5:])
        w.flush()
        w.add(ids[:5], v[:5])
        w.add_failure("bad/bad_0001.jpg", "no face detected")
    assert store.models() == ["alpha"]
    assert _chunks(store.root / "alpha") == ["chunk-000000.npz", "chunk-000001.npz"]
    emb = store.load("alpha")
    assert emb.ids == tuple(sorted(ids))
    assert emb.vectors.dtype == np.float32
    assert emb.dim == 8
    np.testing.assert_array_equal(emb.take(ids)[0], v)
    assert emb.failures == {"bad/bad_0001.jpg": "no face detected"}
    man = store.manifest("alpha")
    assert man["model"] == "alpha"
    assert man["dim"] == 8
    assert man["weights_sha256"] == SHA  # normalised to lower case
    assert man["detector"] == "mtcnn"
    assert man["dtype"] == "float32"
    assert man["n_items"] == 10
    assert man["failures"] == emb.failures
    assert man["extra"] == {"k": 1}
    assert man["facebridge_version"]
    assert man["created"].endswith("+00:00")
    # the manifest on disk is plain JSON, chunks are plain npz (no pickle)
    json.loads((store.root / "alpha" / "manifest.json").read_text())
    with np.load(store.root / "alpha" / "chunk-000001.npz", allow_pickle=False) as z:
        assert z["ids"].dtype.kind == "U"
        assert z["failed_ids"].tolist() == ["bad/bad_0001.jpg"]


def test_take_order_and_missing(store: EmbeddingStore) -> None:
    ids, v = _ids(4), _vecs(4)
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(ids, v)
    emb = store.load("m")
    got, present = emb.take([ids[2], "nope", ids[0]])
    assert present.tolist() == [True, False, True]
    np.testing.assert_array_equal(got[0], v[2])
    np.testing.assert_array_equal(got[1], 0.0)
    np.testing.assert_array_equal(got[2], v[0])
    assert emb.index()[ids[3]] == 3
    assert len(emb) == 4


def test_done_ids_and_resume(store: EmbeddingStore) -> None:
    ids, v = _ids(20), _vecs(20)
    assert store.done_ids("alpha") == set()  # nothing yet: resume from scratch
    with store.writer("alpha", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(ids[:8], v[:8])
        w.add_failure(ids[8], "corrupt JPEG")
    done = store.done_ids("alpha")
    assert done == set(ids[:9])
    todo = [i for i in ids if i not in done]
    with store.writer("alpha", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(todo, v[[ids.index(i) for i in todo]])
    emb = store.load("alpha")
    assert len(emb) == 19
    assert emb.failures == {ids[8]: "corrupt JPEG"}
    assert store.done_ids("alpha") == set(ids)


def test_flush_every_and_exit_on_exception(store: EmbeddingStore) -> None:
    ids, v = _ids(10), _vecs(10)
    d = store.root / "m"
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d", flush_every=3) as w:
        for k in range(7):
            w.add(ids[k : k + 1], v[k : k + 1])
        assert len(_chunks(d)) == 2  # 6 records flushed, 1 pending
        assert w.pending == 1
    assert len(store.load("m")) == 7

    def crash_mid_run() -> None:
        with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
            w.add(ids[7:], v[7:])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        crash_mid_run()
    w = store.writer("m", dim=8, weights_sha256=SHA, detector="d")
    w.close()
    assert len(store.load("m")) == 10  # what was added before the error is kept
    with pytest.raises(StoreError, match="is closed; open a new one"):
        w.add(ids[:1], v[:1])


# ------------------------------------------------------------------------------ duplicates


def test_duplicate_ids_later_wins(store: EmbeddingStore) -> None:
    ids = _ids(3)
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(ids, _vecs(3, seed=1))
        w.add_failure("x/x_0001.jpg", "no face")
        w.flush()
        w.add(ids[1:2], _vecs(1, seed=2))  # re-embedded: replaces the old vector
        w.add(["x/x_0001.jpg"], _vecs(1, seed=3))  # a later success clears the failure
        w.flush()
        w.add_failure(ids[2], "now unreadable")  # a later failure removes the vector
    emb = store.load("m")
    assert emb.ids == (*sorted(ids[:2]), "x/x_0001.jpg")
    np.testing.assert_array_equal(emb.take([ids[1]])[0], _vecs(1, seed=2))
    np.testing.assert_array_equal(emb.take([ids[0]])[0][0], _vecs(3, seed=1)[0])
    assert emb.failures == {ids[2]: "now unreadable"}
    assert store.manifest("m")["n_items"] == 3


def test_duplicate_within_one_buffer_later_wins(store: EmbeddingStore) -> None:
    ids = _ids(2)
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(ids, _vecs(2, seed=1))
        w.add(ids[:1], _vecs(1, seed=5))
        w.add_failure(ids[1], "bad")
    emb = store.load("m")
    assert emb.ids == (ids[0],)
    np.testing.assert_array_equal(emb.vectors, _vecs(1, seed=5))
    assert emb.failures == {ids[1]: "bad"}


# ------------------------------------------------------------------------------ refusal


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"dim": 16},
            r"already holds 'm' with dim=8, refusing to add dim=16; write to a new store",
        ),
        (
            {"weights_sha256": "b" * 64},
            r"with weights_sha256='a{64}', refusing to add weights_sha256='b{64}'; write to a new store",
        ),
        ({"detector": "dlib"}, r"with detector='mtcnn', refusing to add detector='dlib'"),
    ],
)
def test_refuses_to_mix(store: EmbeddingStore, kwargs: dict, match: str) -> None:
    with store.writer("m", dim=8, weights_sha256=SHA, detector="mtcnn") as w:
        w.add(_ids(2), _vecs(2))
    args = {"dim": 8, "weights_sha256": SHA, "detector": "mtcnn", **kwargs}
    with pytest.raises(StoreError, match=match):
        store.writer("m", **args)
    assert len(store.load("m")) == 2  # untouched


def test_rejects_bad_vectors_and_ids(store: EmbeddingStore) -> None:
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        bad = _vecs(3)
        bad[1, 4] = np.nan
        with pytest.raises(
            InvalidInputError, match=r"vectors of id 'P001/P001_0001.jpg' contains NaN or inf"
        ):
            w.add(_ids(3), bad)
        bad[1, 4] = np.inf
        with pytest.raises(InvalidInputError, match="NaN or inf"):
            w.add(_ids(3), bad)
        with pytest.raises(
            DimensionError, match=r"vectors must have shape \(3, 8\) for 3 ids, got \(3, 7\)"
        ):
            w.add(_ids(3), _vecs(3, dim=7))
        with pytest.raises(DimensionError, match=r"shape \(2, 8\) for 2 ids, got \(3, 8\)"):
            w.add(_ids(2), _vecs(3))
        with pytest.raises(InvalidInputError, match="appears twice in one call"):
            w.add([*_ids(1), *_ids(1)], _vecs(2))
        with pytest.raises(InvalidInputError, match="got one string"):
            w.add("P000/P000_0001.jpg", _vecs(1))
        with pytest.raises(InvalidInputError, match="non-empty string, got ''"):
            w.add([""], _vecs(1))
        with pytest.raises(InvalidInputError, match="reason must be a non-empty string"):
            w.add_failure("a", "  ")
        with pytest.raises(InvalidInputError, match="must be numeric"):
            w.add(_ids(1), np.array([["x"] * 8]))
        assert w.pending == 0  # nothing half-added
    assert store.done_ids("m") == set()


def test_rejects_bad_writer_settings(store: EmbeddingStore) -> None:
    with pytest.raises(InvalidInputError, match="model key must start with a letter or digit"):
        store.writer("../evil", dim=8, weights_sha256=SHA, detector="d")
    with pytest.raises(InvalidInputError, match="model key"):
        store.writer("_detections", dim=8, weights_sha256=SHA, detector="d")
    with pytest.raises(InvalidInputError, match="dim must be a positive integer, got 0"):
        store.writer("m", dim=0, weights_sha256=SHA, detector="d")
    with pytest.raises(InvalidInputError, match="weights_sha256 must be a non-empty string"):
        store.writer("m", dim=8, weights_sha256="", detector="d")
    with pytest.raises(InvalidInputError, match="detector must be a non-empty string"):
        store.writer("m", dim=8, weights_sha256=SHA, detector="")
    with pytest.raises(InvalidInputError, match="extra must be JSON-serialisable"):
        store.writer("m2", dim=8, weights_sha256=SHA, detector="d", extra={"x": object()})
    with pytest.raises(InvalidInputError, match="flush_every must be >= 1"):
        store.writer("m3", dim=8, weights_sha256=SHA, detector="d", flush_every=0)


def test_second_writer_is_refused_while_first_is_open(store: EmbeddingStore) -> None:
    w = store.writer("m", dim=8, weights_sha256=SHA, detector="d")
    try:
        with pytest.raises(StoreError, match=r"another writer is using .*m; wait for it"):
            store.writer("m", dim=8, weights_sha256=SHA, detector="d")
    finally:
        w.close()
    store.writer("m", dim=8, weights_sha256=SHA, detector="d").close()  # free again


# ------------------------------------------------------------------------------ unknown / empty


def test_unknown_model_lists_present(tmp_path: Path, store: EmbeddingStore) -> None:
    with pytest.raises(StoreError, match=r"model 'alpha' not in store .*: the store is empty"):
        store.load("alpha")
    for m in ("arcface-r50", "facenet-vgg"):
        with store.writer(m, dim=8, weights_sha256=SHA, detector="d") as w:
            w.add(_ids(1), _vecs(1))
    with pytest.raises(
        StoreError,
        match=r"'arcface-r5' not in store .*did you mean 'arcface-r50'.*models present: arcface-r50, facenet-vgg",
    ):
        store.load("arcface-r5")
    with pytest.raises(StoreError, match="models present"):
        store.manifest("nope")
    with pytest.raises(StoreError, match=r"no store at .*absent; create it"):
        EmbeddingStore(tmp_path / "absent").load("alpha")
    assert EmbeddingStore(tmp_path / "absent").models() == []
    assert not (tmp_path / "absent").exists()  # the constructor does not create
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="exists and is not a directory"):
        EmbeddingStore.create(tmp_path / "file")


def test_empty_model_loads_empty(store: EmbeddingStore) -> None:
    store.writer("m", dim=8, weights_sha256=SHA, detector="d").close()
    emb = store.load("m")
    assert emb.vectors.shape == (0, 8)
    assert emb.ids == ()


# ------------------------------------------------------------------------------ kill safety


def test_stray_tmp_is_ignored_then_cleaned(store: EmbeddingStore) -> None:
    ids, v = _ids(4), _vecs(4)
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(ids[:2], v[:2])
    d = store.root / "m"
    # a crash during the next flush leaves a half-written temporary chunk
    stray = d / "chunk-000001.npz.4242.tmp"
    stray.write_bytes(b"PK\x03\x04 half a zip")
    assert len(store.load("m")) == 2
    assert store.done_ids("m") == set(ids[:2])
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        assert not stray.exists()  # the next writer removes leftovers
        w.add(ids[2:], v[2:])
    np.testing.assert_array_equal(store.load("m").take(ids)[0], v)


def test_corrupt_chunk_is_named(store: EmbeddingStore) -> None:
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(_ids(2), _vecs(2))
    chunk = store.root / "m" / "chunk-000000.npz"
    chunk.write_bytes(chunk.read_bytes()[:40])  # torn by a non-atomic copy
    with pytest.raises(
        StoreError, match=r"corrupt chunk .*chunk-000000\.npz .*delete chunk-000000\.npz"
    ):
        store.load("m")
    with pytest.raises(StoreError, match="corrupt chunk"):
        store.done_ids("m")


def test_corrupt_manifest_is_named(store: EmbeddingStore) -> None:
    store.writer("m", dim=8, weights_sha256=SHA, detector="d").close()
    (store.root / "m" / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match=r"corrupt manifest .*manifest\.json"):
        store.load("m")


def test_wrong_shape_chunk_is_named(store: EmbeddingStore) -> None:
    store.writer("m", dim=8, weights_sha256=SHA, detector="d").close()
    np.savez(
        store.root / "m" / "chunk-000003.npz",
        ids=np.array(["a"]),
        vectors=np.zeros((1, 5), np.float32),
        failed_ids=np.zeros(0, "<U1"),
        failed_reasons=np.zeros(0, "<U1"),
    )
    with pytest.raises(StoreError, match=r"vectors has shape \(1, 5\), expected \(1, 8\)"):
        store.load("m")


_KILL_SCRIPT = """
import sys, numpy as np
from facebridge.store import EmbeddingStore
s = EmbeddingStore.create(sys.argv[1])
ids = [f"P{i:05d}/x.jpg" for i in range(100000)]
done = s.done_ids("m")
with s.writer("m", dim=16, weights_sha256="c" * 64, detector="d") as w:
    print("ready", flush=True)
    for k in range(0, len(ids), 7):
        batch = [i for i in ids[k:k + 7] if i not in done]
        if batch:
            rows = np.array([int(i[1:6]) for i in batch], dtype=np.float32)
            w.add(batch, np.repeat(rows[:, None], 16, axis=1))
            w.flush()
"""


def test_kill_9_loses_only_the_unflushed_batch(tmp_path: Path) -> None:
    root = tmp_path / "s"
    script = tmp_path / "writer.py"
    script.write_text(_KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for _ in range(2):  # kill twice: the second run resumes from the first
        proc = subprocess.Popen(
            [sys.executable, str(script), str(root)], stdout=subprocess.PIPE, env=env
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        start = len(_chunks(root / "m"))
        deadline = time.monotonic() + 20
        while len(_chunks(root / "m")) < start + 15 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    store = EmbeddingStore(root)
    emb = store.load("m")  # no torn chunk, whatever the moment of the kill
    assert len(emb) >= 7  # at least one flushed batch survived
    assert len(set(emb.ids)) == len(emb.ids)
    # every stored vector is the one written for its id (no mix-up across chunks)
    expect = np.array([int(i[1:6]) for i in emb.ids], dtype=np.float32)
    np.testing.assert_array_equal(emb.vectors, np.repeat(expect[:, None], 16, axis=1))
    # resume wrote no id twice: chunk sizes add up to the number of distinct ids
    total = 0
    for name in _chunks(root / "m"):
        with np.load(root / "m" / name, allow_pickle=False) as z:
            total += len(z["ids"])
    assert total == len(emb)
    # ids form a prefix of the work list (batches are written in order)
    assert emb.ids == tuple(f"P{i:05d}/x.jpg" for i in range(len(emb)))


# ------------------------------------------------------------------------------ compact


def test_compact_float16(store: EmbeddingStore) -> None:
    ids, v = _ids(30), _vecs(30)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d", flush_every=4) as w:
        w.add(ids, v)
        w.add_failure("f/f_0001.jpg", "no face")
    d = store.root / "m"
    assert len(_chunks(d)) == 8
    new = store.compact("m")
    assert _chunks(d) == [new.name]
    emb = store.load("m")
    assert emb.vectors.dtype == np.float32  # always float32 in memory
    np.testing.assert_allclose(emb.take(ids)[0], v, atol=1e-3)
    assert emb.failures == {"f/f_0001.jpg": "no face"}
    assert store.manifest("m")["dtype"] == "float16"
    with np.load(new, allow_pickle=False) as z:
        assert z["vectors"].dtype == np.float16
    # resume after compaction keeps writing float16 and still loads
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(_ids(1, start=99), v[:1])
    assert len(store.load("m")) == 31
    store.compact("m", dtype="float32")
    assert store.manifest("m")["dtype"] == "float32"
    assert len(_chunks(d)) == 1


def test_compact_crash_before_cleanup_is_consistent(store: EmbeddingStore) -> None:
    ids, v = _ids(6), _vecs(6)
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d", flush_every=2) as w:
        w.add(ids, v)
    d = store.root / "m"
    before = {n: (d / n).read_bytes() for n in _chunks(d)}
    new = store.compact("m", dtype="float32")
    for n, data in before.items():  # pretend the old chunks were never deleted
        (d / n).write_bytes(data)
    emb = store.load("m")
    assert len(emb) == 6
    np.testing.assert_array_equal(emb.take(ids)[0], v)
    assert new.name == _chunks(d)[-1]


def test_compact_errors(store: EmbeddingStore) -> None:
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(_ids(1), np.full((1, 8), 1e6, np.float32))
    with pytest.raises(
        InvalidInputError, match="exceed the float16 range; compact with dtype='float32'"
    ):
        store.compact("m")
    with pytest.raises(InvalidInputError, match=r"dtype must be one of \('float32', 'float16'\)"):
        store.compact("m", dtype="int8")
    with pytest.raises(StoreError, match="not in store"):
        store.compact("zzz")


# ------------------------------------------------------------------------------ detections


def _dets(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = np.random.default_rng(seed)
    return (
        r.uniform(0, 250, (n, 4)).astype(np.float32),
        r.uniform(0, 250, (n, 5, 2)).astype(np.float32),
        r.uniform(0, 1, n).astype(np.float32),
    )


def test_detections_roundtrip_and_resume(store: EmbeddingStore) -> None:
    ids = _ids(5)
    boxes, lms, scores = _dets(5)
    assert store.done_detection_ids("mtcnn") == set()
    with store.detections_writer("mtcnn", extra={"min_size": 20}) as w:
        w.add(ids[:3], boxes[:3], lms[:3], scores[:3], fallback=[False, True, False])
        w.add_failure("z/z_0001.jpg", "no face")
    assert store.done_detection_ids("mtcnn") == {*ids[:3], "z/z_0001.jpg"}
    with store.detections_writer("mtcnn") as w:
        w.add(ids[3:], boxes[3:], lms[3:], scores[3:])
    det = store.load_detections("mtcnn")
    assert det.ids == tuple(ids)
    np.testing.assert_array_equal(det.boxes, boxes)
    np.testing.assert_array_equal(det.landmarks, lms)
    np.testing.assert_array_equal(det.scores, scores)
    assert det.fallback.tolist() == [False, True, False, False, False]
    assert det.fallback.dtype == bool
    assert det.failures == {"z/z_0001.jpg": "no face"}
    assert det.manifest["extra"] == {"min_size": 20}
    assert det.manifest["n_items"] == 5
    assert det.index()[ids[4]] == 4
    assert store.detectors() == ["mtcnn"]
    assert store.models() == []  # detections are not a model
    assert (store.root / "_detections" / "mtcnn" / "manifest.json").is_file()


def test_detections_errors(store: EmbeddingStore) -> None:
    boxes, lms, scores = _dets(2)
    with store.detections_writer("mtcnn") as w:
        with pytest.raises(DimensionError, match=r"landmarks must have shape \(2, 5, 2\)"):
            w.add(_ids(2), boxes, lms[:, :4], scores)
        with pytest.raises(DimensionError, match=r"boxes must have shape \(2, 4\)"):
            w.add(_ids(2), boxes[:, :3], lms, scores)
        with pytest.raises(DimensionError, match=r"fallback must be a bool array of shape \(2,\)"):
            w.add(_ids(2), boxes, lms, scores, fallback=[True])
        bad = boxes.copy()
        bad[0, 0] = np.nan
        with pytest.raises(InvalidInputError, match=r"boxes of id .* NaN or inf"):
            w.add(_ids(2), bad, lms, scores)
    with pytest.raises(StoreError, match=r"no detections for 'dlib' .*detectors present: mtcnn"):
        store.load_detections("dlib")


# ------------------------------------------------------------------------------ default store


def test_default_store_absent_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_mod, "default_store_path", lambda: tmp_path / "nothing")
    with pytest.raises(
        StoreError, match=r"packaged LFW store not found or empty at .*facebridge embed"
    ):
        default_store()


def test_default_store_opens_packaged_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = EmbeddingStore.create(tmp_path / "lfw")
    with s.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(_ids(2), _vecs(2))
    monkeypatch.setattr(store_mod, "default_store_path", lambda: tmp_path / "lfw")
    assert default_store().models() == ["m"]


def test_default_store_path_is_inside_the_package() -> None:
    p = store_mod.default_store_path()
    assert p.parts[-3:] == ("facebridge", "data", "lfw")


# ------------------------------------------------------------------------------ property


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(st.integers(0, 9), min_size=1, max_size=4, unique=True)),
        st.tuples(st.just("fail"), st.integers(0, 9)),
        st.tuples(st.just("flush"), st.none()),
        st.tuples(st.just("reopen"), st.none()),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(ops=_OPS)
def test_store_equals_a_later_wins_dict(
    tmp_path_factory: pytest.TempPathFactory, ops: list
) -> None:
    """Any sequence of adds, failures, flushes and writer restarts loads as a dict replay."""
    store = EmbeddingStore.create(tmp_path_factory.mktemp("prop"))
    expect_vec: dict[str, float] = {}
    expect_fail: dict[str, str] = {}
    w = store.writer("m", dim=3, weights_sha256=SHA, detector="d")
    for step, (op, arg) in enumerate(ops):
        if op == "add":
            ids = [f"i{k}" for k in arg]
            w.add(ids, np.full((len(ids), 3), step, np.float32))
            for i in ids:
                expect_vec[i] = step
                expect_fail.pop(i, None)
        elif op == "fail":
            w.add_failure(f"i{arg}", f"reason {step}")
            expect_fail[f"i{arg}"] = f"reason {step}"
            expect_vec.pop(f"i{arg}", None)
        elif op == "flush":
            w.flush()
        else:
            w.close()
            w = store.writer("m", dim=3, weights_sha256=SHA, detector="d")
    w.close()
    emb = store.load("m")
    assert emb.ids == tuple(sorted(expect_vec))
    np.testing.assert_array_equal(emb.vectors[:, 0], [expect_vec[i] for i in emb.ids])
    assert emb.failures == expect_fail
    assert store.done_ids("m") == set(expect_vec) | set(expect_fail)


def _npz(path: Path, **arrays: np.ndarray) -> None:
    base = {
        "ids": np.array(["a"]),
        "vectors": np.zeros((1, 8), np.float32),
        "failed_ids": np.zeros(0, "<U1"),
        "failed_reasons": np.zeros(0, "<U1"),
    }
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"vectors": None}, r"missing arrays \['vectors'\]"),
        ({"ids": np.array([1.0])}, "ids must be a 1-d unicode array"),
        ({"ids": np.array([["a"]])}, "ids must be a 1-d unicode array"),
        ({"failed_ids": np.array(["x"])}, "failed_ids/failed_reasons disagree"),
    ],
)
def test_malformed_chunks_are_named(store: EmbeddingStore, arrays: dict, match: str) -> None:
    store.writer("m", dim=8, weights_sha256=SHA, detector="d").close()
    _npz(store.root / "m" / "chunk-000000.npz", **arrays)
    with pytest.raises(StoreError, match=r"corrupt chunk .*chunk-000000\.npz: " + match):
        store.load("m")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"dim": "eight"}', r"dim='eight'; delete"),
    ],
)
def test_malformed_manifests_are_named(store: EmbeddingStore, text: str, match: str) -> None:
    store.writer("m", dim=8, weights_sha256=SHA, detector="d").close()
    (store.root / "m" / "manifest.json").write_text(text)
    with pytest.raises(StoreError, match=r"corrupt manifest .*manifest\.json.*" + match):
        store.load("m")


def test_float16_store_rejects_out_of_range(store: EmbeddingStore) -> None:
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(_ids(1), _vecs(1))
    store.compact("m")
    with (
        store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w,
        pytest.raises(InvalidInputError, match="exceed the float16 range of this store"),
    ):
        w.add(_ids(1, start=5), np.full((1, 8), 1e5, np.float32))


def test_detections_writer_rejects_bad_extra_and_key(store: EmbeddingStore) -> None:
    with pytest.raises(InvalidInputError, match="extra must be JSON-serialisable"):
        store.detections_writer("mtcnn", extra={"x": {1, 2}})
    with pytest.raises(InvalidInputError, match="detector key must start with a letter"):
        store.detections_writer("a/b")


# ------------------------------------------------------------------------------ trust


def test_finite_float64_that_overflows_float32_is_refused(store: EmbeddingStore) -> None:
    v = np.zeros((2, 8))
    v[1, 3] = 1e39  # finite as float64, inf once saved as float32
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        with pytest.raises(
            InvalidInputError,
            match=r"vectors of id 'P001/P001_0001.jpg' exceed the float32 range .* stored as inf",
        ):
            w.add(_ids(2), v)
        assert w.pending == 0
    with store.detections_writer("det") as dw, pytest.raises(InvalidInputError, match="float32"):
        dw.add(_ids(1), np.full((1, 4), 1e40), np.zeros((1, 5, 2)), np.ones(1))
    assert store.done_ids("m") == set()


def test_edited_manifest_dim_blames_the_manifest(store: EmbeddingStore) -> None:
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(_ids(2), _vecs(2))
        w.flush()
        w.add(_ids(2, start=2), _vecs(2))
    man = store.root / "m" / "manifest.json"
    obj = json.loads(man.read_text())
    obj["dim"] = 16
    man.write_text(json.dumps(obj))
    with pytest.raises(StoreError) as e:
        store.load("m")
    msg = str(e.value)
    assert msg.startswith(f"manifest {man} says dim=16 but all 2 chunk(s) hold 8-dimensional")
    assert 'set "dim": 8' in msg
    assert "delete" not in msg
    assert "\n" not in msg


def test_deleted_manifest_is_named_not_hidden(store: EmbeddingStore) -> None:
    for m in ("a", "b"):
        with store.writer(m, dim=8, weights_sha256=SHA, detector="d") as w:
            w.add(_ids(3), _vecs(3))
    (store.root / "b" / "manifest.json").unlink()
    assert list(store.orphans()) == [store.root / "b"]
    fix = r"holds 1 chunk file\(s\) but no manifest\.json; restore .*facebridge embed --models b"
    with pytest.raises(StoreError, match=fix):
        store.models()
    with pytest.raises(StoreError, match=fix):
        store.load("b")
    with pytest.raises(StoreError, match="refusing to write a new manifest over data"):
        store.writer("b", dim=4, weights_sha256=SHA, detector="d")
    assert store.load("a").ids == tuple(_ids(3))  # the healthy model still loads


def _unit(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    v = _vecs(n, dim, seed)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_scaled_chunk_is_flagged_and_normalised(store: EmbeddingStore) -> None:
    from facebridge.store import NonUnitVectorsWarning

    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(_ids(6), _unit(6))
        w.flush()
        w.add(_ids(2, start=6), 1000 * _unit(2, seed=1))
    with pytest.warns(
        NonUnitVectorsWarning, match=r"2 rows of 'm' have norms 1000\.\.1000.*chunk-000001\.npz"
    ):
        emb = store.load("m")
    np.testing.assert_allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, atol=1e-6)
    assert emb.manifest["non_unit_rows"] == 2
    with pytest.raises(StoreError, match=r"2 rows of 'm' have norms .* delete chunk-000001\.npz"):
        store.load("m", on_non_unit="raise")
    raw = store.load("m", on_non_unit="ignore")
    assert raw.manifest["non_unit_rows"] == 0
    assert np.linalg.norm(raw.vectors[-1]) > 999


def test_whole_model_scaled_is_flagged_when_declared_unit(store: EmbeddingStore) -> None:
    from facebridge.store import NonUnitVectorsWarning

    with store.writer("m", dim=8, weights_sha256=SHA, detector="d", unit_norm=True) as w:
        w.add(_ids(4), 1000 * _unit(4))
    assert json.loads((store.root / "m" / "manifest.json").read_text())["unit_norm"] is True
    with pytest.warns(NonUnitVectorsWarning, match="4 rows"):
        store.load("m")


def test_replaced_item_newest_record_wins_and_keeps_its_source(store: EmbeddingStore) -> None:
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(_ids(2), _vecs(2), sources=["1:1:aa", "1:1:bb"])
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(_ids(1), _vecs(1, seed=5), sources=["2:2:cc"])
        w.add_failure(_ids(2)[1], "unreadable image: truncated", source="3:3:dd")
    emb = store.load("m")
    assert emb.ids == (_ids(1)[0],)
    np.testing.assert_array_equal(emb.vectors[0], _vecs(1, seed=5)[0])
    assert emb.sources == {_ids(1)[0]: "2:2:cc", _ids(2)[1]: "3:3:dd"}
    rec = store.records("m")
    assert rec[_ids(1)[0]].source == "2:2:cc"
    assert not rec[_ids(1)[0]].failed
    assert rec[_ids(2)[1]].failed
    assert rec[_ids(2)[1]].source == "3:3:dd"
    store.compact("m", dtype="float32")  # the superseded rows go, the sources stay
    assert store.load("m").sources == emb.sources
    assert store.records("m")[_ids(2)[1]].source == "3:3:dd"


def test_os_errors_are_one_line_store_errors(
    store: EmbeddingStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    (tmp_path / "file").write_text("x")
    with pytest.raises(
        StoreError, match=r"cannot create directory .*file/st: .*is a file, not a directory"
    ) as e:
        EmbeddingStore.create(tmp_path / "file" / "st")
    assert isinstance(e.value.__cause__, OSError)
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(_ids(1), _vecs(1))
    real = os.replace

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    w = store.writer("m", dim=8, weights_sha256=SHA, detector="d")
    w.add(_ids(1, start=1), _vecs(1))
    with pytest.raises(
        StoreError, match=r"cannot write .*chunk-000001\.npz: No space left on device; free space"
    ):
        w.flush()
    monkeypatch.setattr(os, "replace", real)
    w.close()  # the buffered row is written once space is back
    assert not list((store.root / "m").glob("*.tmp"))  # nothing half-written
    assert len(store.load("m")) == 2


def test_missing_pairs_are_classified_by_cause(store: EmbeddingStore) -> None:
    from facebridge.store import missing_pairs

    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(["a.jpg", "b.jpg"], _unit(2))
        w.add_failure("c.jpg", "no face")
    pairs = [("a.jpg", "b.jpg"), ("a.jpg", "c.jpg"), ("b.jpg", "d.jpg"), ("a.jpg", "zz.jpg")]
    r = missing_pairs(store, pairs, ["m"], images=["a.jpg", "b.jpg", "c.jpg", "d.jpg"])["m"]
    assert (r.n_pairs, r.n_missing) == (4, 3)
    assert r.counts == {"failed": 1, "never_embedded": 1, "unknown_id": 1}
    assert r.examples["failed"] == ["c.jpg"]
    assert r.reasons == {"no face": 1}
    assert r.examples["unknown_id"] == ["zz.jpg"]
    assert r.examples["never_embedded"] == ["d.jpg"]
    assert "3 of 4 pairs" in r.summary()


def test_unreadable_chunk_is_not_called_corrupt(
    store: EmbeddingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.writer("m", dim=8, weights_sha256=SHA, detector="d") as w:
        w.add(_ids(1), _vecs(1))

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(np, "load", denied)
    with pytest.raises(
        StoreError, match=r"cannot read .*chunk-000000\.npz: permission denied"
    ) as e:
        store.load("m")
    assert "corrupt" not in str(e.value).split(";")[0]


def test_read_only_store_is_one_line(
    store: EmbeddingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    real = os.open

    def ro(path, flags, *a):
        if str(path).endswith("writer.lock"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(path, flags, *a)

    monkeypatch.setattr(os, "open", ro)
    with pytest.raises(
        StoreError,
        match=r"cannot create the writer lock .*writer\.lock: Read-only file system; the location is not writable",
    ) as e:
        store.writer("m", dim=8, weights_sha256=SHA, detector="d")
    assert isinstance(e.value.__cause__, OSError)


def test_embeddings_of_reads_each_input_kind_and_names_a_bad_one() -> None:
    from facebridge.store import Embeddings

    ids, vec = ["a/1.jpg", "b/1.jpg"], np.eye(2)
    kinds = [(ids, vec), {"ids": ids, "vectors": vec, "model": "m"}]
    for e in (Embeddings.of(k, "m") for k in kinds):
        assert (e.model, e.ids, e.vectors.dtype) == ("m", tuple(ids), np.float32)
    e = Embeddings.of(kinds[0], "m")
    assert Embeddings.of(e) is e
    with pytest.raises(InvalidInputError, match="an \\(ids, vectors\\) tuple"):
        Embeddings.of([ids, vec], "source")
    with pytest.raises(DimensionError, match="one row per id"):
        Embeddings.of((ids, np.eye(3)), "source")
