"""Embedders: the shared contract (no weights), the converters on tiny synthetic models, and every
real model on the 33-image LFW fixture (weights + real data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facebridge.errors import (
    DimensionError,
    InvalidInputError,
    MissingDependencyError,
    UnknownModelError,
    WeightsError,
)
from facebridge.models import DEFAULT_MODELS, Embedder, get_embedder, get_spec, l2_normalise
from facebridge.models.embedders import default_threads, require
from facebridge.models.weights import find_weights

# --------------------------------------------------------------------- contract, no weights


class _Mean(Embedder):
    """Toy embedder: per-channel means and a constant, so unit rows are easy to check."""

    def _forward(self, faces: np.ndarray) -> np.ndarray:
        x = faces.astype(np.float64).mean(axis=(1, 2))
        out = np.zeros((len(faces), self.dim))
        out[:, :3] = x
        out[:, 3] = 1.0
        return out


@pytest.fixture
def toy() -> _Mean:
    return _Mean(get_spec("sface"), batch_size=4)


def test_embed_shapes_norms_and_chunking(toy: _Mean, rng: np.random.Generator) -> None:
    faces = rng.integers(0, 256, (11, 112, 112, 3), dtype=np.uint8)
    out = toy.embed(faces)
    assert out.shape == (11, 128)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    one_by_one = np.concatenate([toy.embed(f[None]) for f in faces])
    np.testing.assert_allclose(out, one_by_one, atol=1e-7)
    assert toy.embed(faces[:0]).shape == (0, 128)
    assert toy.key == "sface"
    assert toy.dim == 128
    assert toy.weights_sha256 == get_spec("sface").weights_sha256


def test_embed_rejects_bad_input(toy: _Mean) -> None:
    with pytest.raises(DimensionError, match=r"wrap it as faces\[None\]"):
        toy.embed(np.zeros((112, 112, 3), np.uint8))
    with pytest.raises(DimensionError, match=r"\(n, 112, 112, 3\).*arcface-112"):
        toy.embed(np.zeros((2, 160, 160, 3), np.uint8))
    with pytest.raises(DimensionError, match="expects aligned faces"):
        toy.embed(np.zeros((2, 112, 112, 4), np.uint8))
    with pytest.raises(InvalidInputError, match="uint8"):
        toy.embed(np.zeros((2, 112, 112, 3), np.float32))
    with pytest.raises(InvalidInputError, match="batch_size"):
        _Mean(get_spec("sface"), batch_size=-1)


def test_l2_normalise_zero_row() -> None:
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_require_names_the_extra() -> None:
    with pytest.raises(MissingDependencyError, match=r"pip install 'facebridge\[tf\]'"):
        require("facebridge_no_such_runtime", "tf")


def test_threads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEBRIDGE_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("FACEBRIDGE_THREADS", "zero")
    with pytest.raises(InvalidInputError, match="FACEBRIDGE_THREADS"):
        default_threads()


def test_get_embedder_errors(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="did you mean 'sface'"):
        get_embedder("sfase")
    with pytest.raises(WeightsError, match=r"sface\.onnx not in"):
        get_embedder("sface", weights_dir=tmp_path)


def test_per_image_standardisation_matches_tf(rng: np.random.Generator) -> None:
    tf = pytest.importorskip("tensorflow")
    from facebridge.models._tf import per_image_standardisation

    faces = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    faces[2] = 7  # constant image: std floored at 1/sqrt(N)
    ref = tf.image.per_image_standardization(faces.astype(np.float32)).numpy()
    np.testing.assert_allclose(per_image_standardisation(faces), ref, atol=1e-5)


def test_tfjs_graph_rebuild(tmp_path: Path) -> None:
    """A 2-node TFJS graph model with a float16-quantised weight rebuilds into a working graph."""
    tf = pytest.importorskip("tensorflow")
    from facebridge.models._tf import _graph_function, tfjs_graph_def

    w = np.arange(6, dtype=np.float32).reshape(3, 2) / 4
    b = np.array([1.0, -1.0], np.float32)
    model = {
        "format": "graph-model",
        "modelTopology": {
            "node": [
                {
                    "name": "x",
                    "op": "Placeholder",
                    "attr": {
                        "dtype": {"type": "DT_FLOAT"},
                        "shape": {"shape": {"dim": [{"size": "-1"}, {"size": "3"}]}},
                    },
                },
                {"name": "w", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {}}},
                {"name": "b", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {}}},
                {
                    "name": "mm",
                    "op": "MatMul",
                    "input": ["x", "w"],
                    "attr": {"T": {"type": "DT_FLOAT"}},
                },
                {
                    "name": "y",
                    "op": "AddV2",
                    "input": ["mm", "b"],
                    "attr": {"T": {"type": "DT_FLOAT"}},
                },
            ]
        },
        "weightsManifest": [
            {
                "paths": ["m.bin"],
                "weights": [
                    {
                        "name": "w",
                        "shape": [3, 2],
                        "dtype": "float32",
                        "quantization": {"dtype": "float16", "original_dtype": "float32"},
                    },
                    {"name": "b", "shape": [2], "dtype": "float32"},
                ],
            }
        ],
    }
    (tmp_path / "m.json").write_text(json.dumps(model))
    (tmp_path / "m.bin").write_bytes(w.astype(np.float16).tobytes() + b.tobytes())
    gd = tfjs_graph_def(tf, tmp_path / "m.json", tmp_path, {})
    fn = _graph_function(tf, gd, "x:0", "y:0")
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]], np.float32)
    np.testing.assert_allclose(fn(tf.constant(x)).numpy(), x @ w + b, atol=1e-6)
    # a .bin that does not match the manifest is refused
    (tmp_path / "m.bin").write_bytes(w.astype(np.float16).tobytes() + b.tobytes() + b"xx")
    with pytest.raises(WeightsError, match="does not match"):
        tfjs_graph_def(tf, tmp_path / "m.json", tmp_path, {})


def test_facenet_patch_refuses_other_graphs() -> None:
    tf = pytest.importorskip("tensorflow")
    from facebridge.models._tf import patch_facenet_batch

    gd = tf.compat.v1.GraphDef()
    node = gd.node.add()
    node.name, node.op = "input", "Placeholder"
    with pytest.raises(WeightsError, match="not Sandberg's frozen graph"):
        patch_facenet_batch(gd, tf, 512)


# ------------------------------------------------------------------ real weights, real faces


def _weights_or_skip(keys) -> None:
    missing = [n for k in keys for n in get_spec(k).weight_files if find_weights(n) is None]
    if missing:
        pytest.skip(f"weights absent ({', '.join(missing)}): run `facebridge models pull --all`")


@pytest.fixture(scope="module")
def fixture_faces(tiny_lfw_dir: Path):
    """The 33 fixture images detected once with MTCNN and aligned with every method."""
    _weights_or_skip(DEFAULT_MODELS)
    if find_weights("mtcnn-onet.pt") is None:
        pytest.skip("MTCNN weights absent: run `facebridge models pull --all`")
    pytest.importorskip("torch")
    pytest.importorskip("cv2")
    from facebridge.detect import align_batch, get_detector, read_image
    from facebridge.protocols import load_lfw_pairs

    proto = load_lfw_pairs(tiny_lfw_dir / "pairs_tiny.txt")
    ids = proto.items()
    images = [read_image(tiny_lfw_dir / "images" / i) for i in ids]
    detector = get_detector("mtcnn")
    dets = [detector.detect(im) for im in images]
    crops = {}
    for key in DEFAULT_MODELS:
        method = get_spec(key).alignment
        if method not in crops:
            crops[method] = align_batch(images, dets, method)
    index = {i: n for n, i in enumerate(ids)}
    left = np.array([index[p.left] for p in proto.pairs])
    right = np.array([index[p.right] for p in proto.pairs])
    return crops, left, right, proto.genuine_array()


#: the fixture's 10 genuine / 10 impostor pairs: every model must separate them clearly.
#: dlib's cosines are not zero-centred (same ~0.96, different ~0.83), hence its smaller gap.
MIN_GAP = {"dlib-resnet": 0.08, "faceres": 0.2}


@pytest.mark.weights
@pytest.mark.realdata
@pytest.mark.parametrize("key", DEFAULT_MODELS)
def test_real_model_separates_fixture_pairs(fixture_faces, key: str) -> None:
    from sklearn.metrics import roc_auc_score

    crops, left, right, genuine = fixture_faces
    spec = get_spec(key)
    emb = get_embedder(key)
    faces = crops[spec.alignment]
    vectors = emb.embed(faces)
    assert vectors.shape == (len(faces), spec.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    scores = (vectors[left] * vectors[right]).sum(axis=1)
    auc = roc_auc_score(genuine, scores)
    gap = scores[genuine].mean() - scores[~genuine].mean()
    assert auc >= 0.95, f"{key}: AUC {auc:.3f} on the fixture; preprocessing broken?"
    assert gap >= MIN_GAP.get(key, 0.3), f"{key}: genuine-impostor gap {gap:.3f}"
    # deterministic and independent of chunking
    again = get_embedder(key, batch_size=5).embed(faces[:7])
    np.testing.assert_allclose(again, vectors[:7], atol=1e-5)


@pytest.mark.weights
def test_sface_free_batch_equals_batch_one(rng: np.random.Generator, monkeypatch) -> None:
    _weights_or_skip(["sface"])
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from facebridge.models import _onnx

    faces = rng.integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    batched = get_embedder("sface").embed(faces)
    monkeypatch.setattr(_onnx, "free_batch_dim", lambda path: None)
    single = get_embedder("sface").embed(faces)
    np.testing.assert_allclose(batched, single, atol=1e-5)


@pytest.mark.weights
@pytest.mark.realdata
def test_facenet_batch_patch_equals_original_graph(fixture_faces) -> None:
    """The batch-patched graph gives the original batch-1 graph's embeddings on real faces."""
    tf = pytest.importorskip("tensorflow")
    from facebridge.models._tf import _graph_function

    crops = fixture_faces[0]["facenet-160"][:3]
    patched = get_embedder("facenet-casia").embed(crops)
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(find_weights("facenet-casia.pb").read_bytes())
    original = _graph_function(tf, gd, "input:0", "embeddings:0")
    x = (crops.astype(np.float32) - 127.5) / 128.0
    ref = np.concatenate([original(tf.constant(x[i : i + 1])).numpy() for i in range(len(x))])
    np.testing.assert_allclose(patched, ref, atol=1e-5)


def test_embed_raw_output(toy: _Mean, rng: np.random.Generator) -> None:
    faces = rng.integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    raw = toy.embed(faces, normalise=False)
    np.testing.assert_allclose(raw[:, :3], faces.mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(l2_normalise(raw), toy.embed(faces), atol=1e-7)
    assert get_spec("dlib-resnet").native_metric.startswith("euclidean")
    assert get_spec("sface").native_metric == "cosine"


@pytest.mark.weights
@pytest.mark.realdata
def test_dlib_worker_processes_are_bit_identical(fixture_faces) -> None:
    """threads=2 splits each chunk over 2 spawned workers: same bytes, same order as in-process;
    a killed worker costs a warning and an in-process chunk, never a result."""
    import os
    import signal

    pytest.importorskip("dlib")
    faces = fixture_faces[0]["dlib-chip-150"]
    single = get_embedder("dlib-resnet", threads=1)
    assert single.workers == 1
    ref = single.embed(faces, normalise=False)
    with get_embedder("dlib-resnet", threads=2, batch_size=13) as pooled:
        got = pooled.embed(faces, normalise=False)  # chunks 13, 13, 7 -> parts of 7/6, 4/3
        assert pooled._pool is not None
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(pooled.embed(faces[:3], normalise=False), ref[:3])
        os.kill(next(iter(pooled._pool._processes)), signal.SIGKILL)
        with pytest.warns(RuntimeWarning, match="worker processes failed .*in-process"):
            again = pooled.embed(faces[:8], normalise=False)
        np.testing.assert_array_equal(again, ref[:8])
        np.testing.assert_array_equal(pooled.embed(faces[8:12], normalise=False), ref[8:12])
        assert pooled._pool is not None  # a fresh pool after the failure
    assert pooled._pool is None  # closed by the with block
