"""TensorFlow-run embedders: a frozen GraphDef (facenet-casia), a Keras-2 .h5 executed from its
own layer config (facenet-ms1m), TFJS graph models (faceres, mobileface) and TFLite
(mobilefacenet).  TensorFlow is imported only when one of them is built.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from facebridge.errors import WeightsError
from facebridge.models.embedders import Embedder, require
from facebridge.models.registry import ModelSpec

_TF_THREADS_SET = False


def import_tf(threads: int) -> Any:
    """Import TensorFlow quietly and set its thread pools (once per process)."""
    global _TF_THREADS_SET
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = require("tensorflow", "tf")
    if not _TF_THREADS_SET:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
        except RuntimeError:  # already initialised by someone else: keep theirs
            pass
        _TF_THREADS_SET = True
    return tf


def _graph_function(tf: Any, graph_def: Any, inp: str, out: str) -> Any:
    """A concrete function running ``graph_def`` from tensor ``inp`` to tensor ``out``."""

    def _import() -> None:
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    g = wrapped.graph
    return wrapped.prune(g.as_graph_element(inp), g.as_graph_element(out))


# ---------------------------------------------------------------------- facenet-casia (frozen .pb)

FACENET_BOTTLENECK_IN = 1792


def patch_facenet_batch(graph_def: Any, tf: Any, dim: int) -> None:
    """Make Sandberg's frozen graph accept any batch size (it has batch 1 baked in).

    Sets the ``input`` placeholder's dim 0 to -1 and rewrites the two Reshape shape constants
    ``[1, -1] -> [-1, 1792]`` (flatten) and ``[1, dim] -> [-1, dim]`` (bottleneck batch norm).

    Raises:
        WeightsError: the graph does not have the expected nodes.
    """
    reshape_inputs = {n.input[1] for n in graph_def.node if n.op == "Reshape"}
    patched = {"input": False, "flatten": False, "bottleneck": False}
    for node in graph_def.node:
        if node.op == "Placeholder" and node.name == "input":
            dims = node.attr["shape"].shape.dim
            if len(dims) == 4:
                dims[0].size = -1
                patched["input"] = True
        elif node.op == "Const" and node.name in reshape_inputs:
            value = tf.make_ndarray(node.attr["value"].tensor)
            if value.tolist() == [1, -1]:
                new = np.array([-1, FACENET_BOTTLENECK_IN], dtype=value.dtype)
                patched["flatten"] = True
            elif value.tolist() == [1, dim]:
                new = np.array([-1, dim], dtype=value.dtype)
                patched["bottleneck"] = True
            else:
                continue
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(new))
    if not all(patched.values()):
        missing = [k for k, v in patched.items() if not v]
        raise WeightsError(
            f"facenet graph lacks the expected batch-1 nodes {missing}; the weight file is not "
            "Sandberg's frozen graph: re-fetch it with `facebridge models pull --force "
            "facenet-casia.pb`"
        )


class _TFFunctionEmbedder(Embedder):
    """A model run as one TF function of a float32 NHWC batch; subclasses preprocess."""

    def __init__(self, spec: ModelSpec, fn: Any, tf: Any, batch_size: int | None) -> None:
        super().__init__(spec, batch_size)
        self._fn = fn
        self._tf = tf

    def _prepare(self, faces: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _forward(self, faces: np.ndarray) -> np.ndarray:
        return self._fn(self._tf.constant(self._prepare(faces))).numpy()


class FrozenGraphEmbedder(_TFFunctionEmbedder):
    """facenet-casia: the frozen TF graph, batch-patched; input (x - 127.5) / 128."""

    @classmethod
    def build(
        cls, spec: ModelSpec, paths: dict[str, Path], threads: int, batch_size: int | None
    ) -> FrozenGraphEmbedder:
        tf = import_tf(threads)
        gd = tf.compat.v1.GraphDef()
        gd.ParseFromString(paths[spec.weight_files[0]].read_bytes())
        patch_facenet_batch(gd, tf, spec.dim)
        fn = _graph_function(tf, gd, "input:0", "embeddings:0")
        return cls(spec, fn, tf, batch_size)

    def _prepare(self, faces: np.ndarray) -> np.ndarray:
        return (faces.astype(np.float32) - 127.5) / 128.0


# ------------------------------------------------------------------ facenet-ms1m (Keras-2 .h5)


def per_image_standardisation(faces: np.ndarray) -> np.ndarray:
    """``tf.image.per_image_standardization``: (x - mean) / max(std, 1/sqrt(N)) per image."""
    x = faces.astype(np.float32)
    n = x[0].size
    mean = x.reshape(len(x), -1).mean(axis=1)
    std = x.reshape(len(x), -1).std(axis=1)
    std = np.maximum(std, np.float32(1.0 / np.sqrt(n)))
    return ((x - mean[:, None, None, None]) / std[:, None, None, None]).astype(np.float32)


def _keras_forward_fn(tf: Any, h5_path: Path) -> Any:
    """Build a tf.function executing the Keras-2 model stored in ``h5_path`` layer by layer.

    Only the layer kinds of an Inception-ResNet-v1 are supported (Conv2D, BatchNormalization,
    Activation, Concatenate, Lambda ``*_ScaleSum`` = ``a + scale * b``, MaxPooling2D,
    GlobalAveragePooling2D, Dropout, Dense); the Lambda bytecode in the file is never executed.
    Weights are taken by layer name.
    """
    h5py = require("h5py", "tf")
    with h5py.File(h5_path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        group = f["model_weights"] if "model_weights" in f else f
        weights: dict[str, dict[str, np.ndarray]] = {}
        for lname in group:
            arrays: dict[str, np.ndarray] = {}

            def visit(name: str, obj: Any, arrays: dict[str, np.ndarray] = arrays) -> None:
                if isinstance(obj, h5py.Dataset):
                    arrays[name.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(obj, np.float32)

            group[lname].visititems(visit)
            weights[lname] = arrays
    layers = config["config"]["layers"]
    outputs = [o[0] for o in config["config"]["output_layers"]]
    plan: list[tuple[str, str, list[str], dict[str, Any]]] = []
    params: dict[str, np.ndarray] = {}
    for layer in layers:
        kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
        inputs = [i[0] for i in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        w = weights.get(name, {})
        if kind in ("Conv2D", "Dense"):
            params[name + "/k"] = w["kernel"]
            if cfg.get("use_bias", True):
                params[name + "/b"] = w["bias"]
        elif kind == "BatchNormalization":
            mean, var = w["moving_mean"], w["moving_variance"]
            gamma = w.get("gamma", np.ones_like(mean))
            beta = w.get("beta", np.zeros_like(mean))
            scale = gamma / np.sqrt(var + float(cfg["epsilon"]))
            params[name + "/s"] = scale.astype(np.float32)
            params[name + "/t"] = (beta - mean * scale).astype(np.float32)
        elif kind == "Lambda":
            if not name.endswith("_ScaleSum") or "scale" not in cfg.get("arguments", {}):
                raise WeightsError(
                    f"unsupported Lambda layer {name} in {h5_path.name}; the file is not the "
                    "Inception-ResNet-v1 Keras port: `facebridge models pull --force facenet-ms1m.h5`"
                )
        elif kind == "Activation":
            if cfg["activation"] not in ("relu", "linear"):
                raise WeightsError(f"unsupported activation {cfg['activation']} in {name}")
        elif kind not in (
            "InputLayer",
            "Concatenate",
            "MaxPooling2D",
            "GlobalAveragePooling2D",
            "Dropout",
        ):
            raise WeightsError(f"unsupported Keras layer {kind} ({name}) in {h5_path.name}")
        plan.append((kind, name, inputs, cfg))
    # fold each batch norm into the convolution that alone feeds it (exact up to rounding)
    kinds = {name: kind for kind, name, _, _ in plan}
    n_users: dict[str, int] = {}
    for _, _, inputs, _ in plan:
        for i in inputs:
            n_users[i] = n_users.get(i, 0) + 1
    folded: list[tuple[str, str, list[str], dict[str, Any]]] = []
    for kind, name, inputs, cfg in plan:
        src = inputs[0] if inputs else ""
        if kind == "BatchNormalization" and kinds.get(src) == "Conv2D" and n_users[src] == 1:
            scale, shift = params.pop(name + "/s"), params.pop(name + "/t")
            params[src + "/k"] = params[src + "/k"] * scale
            params[src + "/b"] = params.get(src + "/b", np.zeros_like(shift)) * scale + shift
            folded.append(("Identity", name, inputs, cfg))
        else:
            folded.append((kind, name, inputs, cfg))
    plan = folded
    consts = {k: tf.constant(v.astype(np.float32)) for k, v in params.items()}

    def forward(x: Any) -> Any:
        t: dict[str, Any] = {}
        for kind, name, inputs, cfg in plan:
            a = [t[i] for i in inputs]
            if kind == "InputLayer":
                y = x
            elif kind == "Identity":
                y = a[0]
            elif kind == "Conv2D":
                y = tf.nn.conv2d(
                    a[0], consts[name + "/k"], [1, *cfg["strides"], 1], cfg["padding"].upper()
                )
                if name + "/b" in consts:
                    y = tf.nn.bias_add(y, consts[name + "/b"])
            elif kind == "BatchNormalization":
                y = a[0] * consts[name + "/s"] + consts[name + "/t"]
            elif kind == "Activation":
                y = tf.nn.relu(a[0]) if cfg["activation"] == "relu" else a[0]
            elif kind == "Concatenate":
                y = tf.concat(a, axis=cfg.get("axis", -1))
            elif kind == "Lambda":
                y = a[0] + a[1] * float(cfg["arguments"]["scale"])
            elif kind == "MaxPooling2D":
                y = tf.nn.max_pool2d(a[0], cfg["pool_size"], cfg["strides"], cfg["padding"].upper())
            elif kind == "GlobalAveragePooling2D":
                y = tf.reduce_mean(a[0], axis=[1, 2])
            elif kind == "Dropout":
                y = a[0]
            else:  # Dense
                y = tf.matmul(a[0], consts[name + "/k"])
                if name + "/b" in consts:
                    y = y + consts[name + "/b"]
            t[name] = y
        return t[outputs[0]]

    h, w_ = config["config"]["layers"][0]["config"]["batch_input_shape"][1:3]
    return tf.function(
        forward, input_signature=[tf.TensorSpec([None, h, w_, 3], tf.float32)]
    ).get_concrete_function()


class KerasH5Embedder(_TFFunctionEmbedder):
    """facenet-ms1m: Inception-ResNet-v1 Keras port run from its own config; per-image
    standardisation; 128-D bottleneck + batch norm, then L2."""

    @classmethod
    def build(
        cls, spec: ModelSpec, paths: dict[str, Path], threads: int, batch_size: int | None
    ) -> KerasH5Embedder:
        tf = import_tf(threads)
        fn = _keras_forward_fn(tf, paths[spec.weight_files[0]])
        return cls(spec, fn, tf, batch_size)

    def _prepare(self, faces: np.ndarray) -> np.ndarray:
        return per_image_standardisation(faces)


# --------------------------------------------------------------- faceres / mobileface (TFJS graph)

TFJS_IO = {
    "faceres": ("input_1:0", "global_pooling/Mean:0"),
    "mobileface": ("data:0", "batchnorm0/add_1:0"),
}

_TFJS_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}


def tfjs_graph_def(tf: Any, json_path: Path, bin_dir: Path, bin_names: dict[str, Path]) -> Any:
    """Rebuild a TF GraphDef from a TFJS graph model (``model.json`` + weight shards).

    The JSON topology is a GraphDef in protobuf-JSON form; weight nodes are Consts whose values
    live in the shards (float16 / uint8 quantisation is undone to float32).
    """
    from google.protobuf import json_format

    model = json.loads(json_path.read_text())
    gd = json_format.ParseDict(model["modelTopology"], tf.compat.v1.GraphDef())
    nodes = {n.name: n for n in gd.node}
    for group in model["weightsManifest"]:
        data = b"".join(bin_names.get(p, bin_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for entry in group["weights"]:
            shape = [int(s) for s in entry["shape"]]
            count = int(np.prod(shape)) if shape else 1
            q = entry.get("quantization")
            if q:
                qdtype = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}[q["dtype"]]
                raw = np.frombuffer(data, qdtype, count, offset)
                offset += raw.nbytes
                if q["dtype"] == "float16":
                    arr = raw.astype(np.float32)
                else:
                    arr = raw.astype(np.float32) * float(q["scale"]) + float(q["min"])
                arr = arr.astype(_TFJS_DTYPES[entry["dtype"]])
            else:
                dtype = _TFJS_DTYPES[entry["dtype"]]
                arr = np.frombuffer(data, dtype, count, offset).copy()
                offset += arr.nbytes
            node = nodes.get(entry["name"])
            if node is None:
                raise WeightsError(
                    f"{json_path.name}: weight {entry['name']} has no node; the model files do "
                    "not match: `facebridge models pull --force` them"
                )
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(arr.reshape(shape)))
            node.attr["dtype"].type = tf.as_dtype(arr.dtype).as_datatype_enum
        if offset != len(data):
            raise WeightsError(
                f"{json_path.name}: weights use {offset} of {len(data)} bytes; the .bin does not "
                "match the .json: `facebridge models pull --force` them"
            )
    return gd


class TFJSGraphEmbedder(_TFFunctionEmbedder):
    """faceres / mobileface: TFJS graph models rebuilt as a TF GraphDef; raw 0..255 RGB."""

    @classmethod
    def build(
        cls, spec: ModelSpec, paths: dict[str, Path], threads: int, batch_size: int | None
    ) -> TFJSGraphEmbedder:
        tf = import_tf(threads)
        json_name = next(n for n in spec.weight_files if n.endswith(".json"))
        bin_name = next(n for n in spec.weight_files if n.endswith(".bin"))
        # the manifest names the shard by its original file name
        shard = json.loads(paths[json_name].read_text())["weightsManifest"][0]["paths"][0]
        gd = tfjs_graph_def(tf, paths[json_name], paths[bin_name].parent, {shard: paths[bin_name]})
        inp, out = TFJS_IO[spec.key]
        return cls(spec, _graph_function(tf, gd, inp, out), tf, batch_size)

    def _prepare(self, faces: np.ndarray) -> np.ndarray:
        return faces.astype(np.float32)


# ------------------------------------------------------------------------ mobilefacenet (TFLite)


class TFLiteEmbedder(Embedder):
    """mobilefacenet: the TFLite model; (x - 127.5) / 128.  The file fixes the batch at 2 (and
    XNNPACK cannot resize it), so faces are fed in pairs and an odd count is zero-padded."""

    def __init__(self, spec: ModelSpec, interpreter: Any, batch_size: int | None) -> None:
        super().__init__(spec, batch_size)
        self._it = interpreter
        self._in = interpreter.get_input_details()[0]["index"]
        self._out = interpreter.get_output_details()[0]["index"]
        self._fixed = int(interpreter.get_input_details()[0]["shape"][0])

    @classmethod
    def build(
        cls, spec: ModelSpec, paths: dict[str, Path], threads: int, batch_size: int | None
    ) -> TFLiteEmbedder:
        tf = import_tf(threads)
        with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
            warnings.simplefilter("ignore")
            interpreter = getattr(getattr(tf, "lite", None), "Interpreter", None)
            if interpreter is None:  # TensorFlow without tf.lite: the LiteRT package
                interpreter = require("ai_edge_litert.interpreter", "tf").Interpreter
            it = interpreter(model_path=str(paths[spec.weight_files[0]]), num_threads=threads)
        it.allocate_tensors()
        return cls(spec, it, batch_size)

    def _forward(self, faces: np.ndarray) -> np.ndarray:
        x = (faces.astype(np.float32) - 127.5) / 128.0
        n = len(x)
        pad = (-n) % self._fixed
        if pad:
            x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), np.float32)])
        outs = []
        for i in range(0, len(x), self._fixed):
            self._it.set_tensor(self._in, np.ascontiguousarray(x[i : i + self._fixed]))
            self._it.invoke()
            outs.append(self._it.get_tensor(self._out).copy())
        return np.concatenate(outs)[:n]
