"""onnxruntime-run embedders (sface)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facebridge.models.embedders import Embedder, require
from facebridge.models.registry import ModelSpec


def free_batch_dim(path: Path) -> bytes | None:
    """The model at ``path`` with input/output dim 0 made symbolic (``N``) and its weights
    removed from the graph inputs, serialised; ``None`` when the ``onnx`` package is absent (the
    model then runs as shipped, one face at a time).

    Only declared shapes and the input list change (sface's only shape-bearing op is a Flatten,
    which is batch-agnostic), so outputs equal the original's up to float rounding (onnxruntime
    may now fuse conv + batch norm).
    """
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(path))
    g = model.graph
    inits = {t.name for t in g.initializer}
    # old exporters list every weight as a graph input too; onnxruntime then treats weights as
    # overridable and skips constant folding / conv+BN fusion (~5x slower on CPU)
    real_inputs = [i for i in g.input if i.name not in inits]
    del g.input[:]
    g.input.extend(real_inputs)
    for value in [*g.input, *g.output]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "N"
    return model.SerializeToString()


class OnnxEmbedder(Embedder):
    """sface: the OpenCV-zoo ONNX model; NCHW RGB float 0..255, no mean/std (the graph itself
    subtracts 127.5 and scales).  The file fixes the batch at 1; its batch dimension is freed in
    memory when the ``onnx`` package is importable, else faces are run one at a time."""

    def __init__(self, spec: ModelSpec, session: Any, batch_size: int | None) -> None:
        super().__init__(spec, batch_size)
        self._sess = session
        self._in = session.get_inputs()[0].name
        self._out = session.get_outputs()[0].name
        dim0 = session.get_inputs()[0].shape[0]
        self._fixed = dim0 if isinstance(dim0, int) and dim0 > 0 else None

    @classmethod
    def build(
        cls, spec: ModelSpec, paths: dict[str, Path], threads: int, batch_size: int | None
    ) -> OnnxEmbedder:
        ort = require("onnxruntime", "onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # no busy-waiting between ops: on a shared CPU spinning threads only steal time
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = paths[spec.weight_files[0]]
        model = free_batch_dim(path)
        sess = ort.InferenceSession(
            model if model is not None else str(path), opts, providers=["CPUExecutionProvider"]
        )
        return cls(spec, sess, batch_size)

    def _forward(self, faces: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(faces.transpose(0, 3, 1, 2), dtype=np.float32)
        if self._fixed is None:
            return self._sess.run([self._out], {self._in: x})[0]
        step = self._fixed
        return np.concatenate(
            [
                self._sess.run([self._out], {self._in: x[i : i + step]})[0]
                for i in range(0, len(x), step)
            ]
        )
