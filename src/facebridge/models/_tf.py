"""TensorFlow-run embedders: runtimes ``tf-graph`` (a frozen GraphDef), ``keras-h5`` (a Keras-2
.h5 executed from its own layer config), ``tfjs-graph`` (TFJS graph models) and ``tflite``.

Each reads its input/output tensor names and its preprocessing from the model's spec
(:func:`facebridge.models._base.prepare_pixels`).  TensorFlow is imported only when one of them
is built.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from facebridge.errors import WeightsError
from facebridge.models._base import Embedder, per_image_standardisation, prepare_pixels, require
from facebridge.models.registry import ModelSpec

__all__ = [
    "FrozenGraphEmbedder",
    "KerasH5Embedder",
    "TFJSGraphEmbedder",
    "TFLiteEmbedder",
    "import_tf",
    "patch_facenet_batch",
    "per_image_standardisation",
    "tfjs_graph_def",
]

_TF_THREADS_SET = False


def import_tf(threads: int) -> Any:
    """Import TensorFlow quietly and set its thread pools (once per process).

    Parameters
    ----------
    threads : int
        Intra-op threads (inter-op: at most 2).

    Returns
    -------
    module
        ``tensorflow``.

    Raises
    ------
    MissingDependencyError
        TensorFlow is not installed (names the ``tf`` extra).
    """
    global _TF_THREADS_SET
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = require("tensorflow")
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

    Parameters
    ----------
    graph_def : GraphDef
        Sandberg's frozen graph, patched in place.
    tf : module
        ``tensorflow``.
    dim : int
        The embedding dimension.

    Raises
    ------
    WeightsError
        The graph does not have the expected nodes.
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
    """A model run as one TF function of a float32 batch prepared as the spec says."""

    def __init__(self, spec: ModelSpec, fn: Any, tf: Any, batch_size: int | None) -> None:
        super().__init__(spec, batch_size)
        self._fn = fn
        self._tf = tf

    def _forward(self, faces: np.ndarray) -> np.ndarray:
        return self._fn(self._tf.constant(prepare_pixels(self.spec, faces))).numpy()


def _batch_one_placeholder(graph_def: Any, name: str) -> bool:
    """Whether placeholder ``name`` (a tensor name such as ``input:0``) has batch size 1."""
    op = name.split(":")[0]
    for node in graph_def.node:
        if node.op == "Placeholder" and node.name == op:
            dims = node.attr["shape"].shape.dim
            return len(dims) == 4 and dims[0].size == 1
    return False


class FrozenGraphEmbedder(_TFFunctionEmbedder):
    """Runtime ``tf-graph``: a frozen TF GraphDef from ``spec.input_name`` to
    ``spec.output_name``.  A placeholder with batch 1 baked in (Sandberg's facenet graph) is
    freed by :func:`patch_facenet_batch`."""

    @classmethod
    def build(
        cls, spec: ModelSpec, paths: dict[str, Path], threads: int, batch_size: int | None
    ) -> FrozenGraphEmbedder:
        """Load the graph from the verified ``paths`` (see :class:`Embedder`)."""
        tf = import_tf(threads)
        gd = tf.compat.v1.GraphDef()
        gd.ParseFromString(paths[spec.weight_files[0]].read_bytes())
        inp, out = spec.input_name or "input:0", spec.output_name or "embeddings:0"
        if _batch_one_placeholder(gd, inp):
            patch_facenet_batch(gd, tf, spec.dim)
        fn = _graph_function(tf, gd, inp, out)
        return cls(spec, fn, tf, batch_size)


# ------------------------------------------------------------------ facenet-ms1m (Keras-2 .h5)


def _keras_forward_fn(tf: Any, h5_path: Path) -> Any:
    """Build a tf.function executing the Keras-2 model stored in ``h5_path`` layer by layer.

    Only the layer kinds of an Inception-ResNet-v1 are supported (Conv2D, BatchNormalization,
    Activation, Concatenate, Lambda ``*_ScaleSum`` = ``a + scale * b``, MaxPooling2D,
    GlobalAveragePooling2D, Dropout, Dense); the Lambda bytecode in the file is never executed.
    Weights are taken by layer name.
    """
    h5py = require("h5py")
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
    """Runtime ``keras-h5`` (facenet-ms1m): an Inception-ResNet-v1 Keras port run from its own
    layer config."""

    @classmethod
    def build(
        cls, spec: ModelSpec, paths: dict[str, Path], threads: int, batch_size: int | None
    ) -> KerasH5Embedder:
        """Load the network from the verified ``paths`` (see :class:`Embedder`)."""
        tf = import_tf(threads)
        fn = _keras_forward_fn(tf, paths[spec.weight_files[0]])
        return cls(spec, fn, tf, batch_size)


# --------------------------------------------------------------- faceres / mobileface (TFJS graph)

_TFJS_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}


def tfjs_graph_def(tf: Any, json_path: Path, bin_dir: Path, bin_names: dict[str, Path]) -> Any:
    """Rebuild a TF GraphDef from a TFJS graph model (``model.json`` + weight shards).

    The JSON topology is a GraphDef in protobuf-JSON form; weight nodes are Consts whose values
    live in the shards (float16 / uint8 quantisation is undone to float32).

    Parameters
    ----------
    tf : module
        ``tensorflow``.
    json_path : Path
        The ``model.json``.
    bin_dir : Path
        Where shards not named in ``bin_names`` are looked for.
    bin_names : dict
        Shard name in the manifest -> its verified path.

    Returns
    -------
    GraphDef

    Raises
    ------
    WeightsError
        The shards do not match the JSON.
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
    """Runtime ``tfjs-graph`` (faceres, mobileface): a TFJS graph model (one ``.json``, one
    ``.bin`` shard) rebuilt as a TF GraphDef, run from ``spec.input_name`` to
    ``spec.output_name``."""

    @classmethod
    def build(
        cls, spec: ModelSpec, paths: dict[str, Path], threads: int, batch_size: int | None
    ) -> TFJSGraphEmbedder:
        """Load the graph from the verified ``paths`` (see :class:`Embedder`)."""
        tf = import_tf(threads)
        json_name = next(n for n in spec.weight_files if n.endswith(".json"))
        bin_name = next(n for n in spec.weight_files if n.endswith(".bin"))
        # the manifest names the shard by its original file name
        shard = json.loads(paths[json_name].read_text())["weightsManifest"][0]["paths"][0]
        gd = tfjs_graph_def(tf, paths[json_name], paths[bin_name].parent, {shard: paths[bin_name]})
        fn = _graph_function(tf, gd, spec.input_name, spec.output_name)
        return cls(spec, fn, tf, batch_size)


# ------------------------------------------------------------------------ mobilefacenet (TFLite)


class TFLiteEmbedder(Embedder):
    """Runtime ``tflite`` (mobilefacenet): a TFLite model.  A file that fixes the batch
    (mobilefacenet's is 2, and XNNPACK cannot resize it) is fed in chunks of that size, the
    last one zero-padded."""

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
        """Load the interpreter from the verified ``paths`` (see :class:`Embedder`)."""
        tf = import_tf(threads)
        with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
            warnings.simplefilter("ignore")
            interpreter = getattr(getattr(tf, "lite", None), "Interpreter", None)
            if interpreter is None:  # TensorFlow without tf.lite: the LiteRT package
                interpreter = require("ai_edge_litert.interpreter").Interpreter
            it = interpreter(model_path=str(paths[spec.weight_files[0]]), num_threads=threads)
        it.allocate_tensors()
        return cls(spec, it, batch_size)

    def _forward(self, faces: np.ndarray) -> np.ndarray:
        x = prepare_pixels(self.spec, faces)
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
