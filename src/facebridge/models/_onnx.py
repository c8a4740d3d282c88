"""onnxruntime-run embedders (sface)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facebridge.models.embedders import Embedder, require
from facebridge.models.registry import ModelSpec


def free_batch_dim(path: Path) -> bytes | None:
    """The model at ``path`` with input/output dim 0 made symbolic (``N``), serialised; ``None``
    when the ``onnx`` package is absent (the model then runs one face at a time).

    Only the graph's declared shapes change (sface's only shape-bearing op is a Flatten, which
    is batch-agnostic), so outputs are identical to the batch-1 model.
    """
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(path))
    g = model.graph
    inits = {t.name for t in g.initializer}
    for value in [*(i for i in g.input if i.name not in inits), *g.output]:
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
