"""Runtime ``onnx``: any ONNX embedding network run by onnxruntime (sface, model cards)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facebridge.models._base import Embedder, prepare_pixels, require
from facebridge.models.registry import ModelSpec

__all__ = ["OnnxEmbedder", "free_batch_dim", "onnx_session"]


def free_batch_dim(path: Path) -> bytes | None:
    """The model at ``path`` with input/output dim 0 made symbolic and weights not inputs.

    Only declared shapes and the input list change (sface's only shape-bearing op is a Flatten,
    which is batch-agnostic), so outputs equal the original's up to float rounding (onnxruntime
    can then fuse conv + batch norm).

    Parameters
    ----------
    path : Path
        A verified ``.onnx`` file.

    Returns
    -------
    bytes or None
        The serialised model; ``None`` when the ``onnx`` package is absent (the model then runs
        as shipped, in chunks of its fixed batch).
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


def onnx_session(model: bytes | str, threads: int) -> Any:
    """An onnxruntime CPU session of ``model`` (bytes or a path) with ``threads`` threads.

    Parameters
    ----------
    model : bytes or str
        Serialised model or file path.
    threads : int
        Intra-op threads.

    Returns
    -------
    onnxruntime.InferenceSession

    Raises
    ------
    MissingDependencyError
        onnxruntime is not installed.
    """
    ort = require("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # no busy-waiting between ops: on a shared CPU spinning threads only steal time
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


class OnnxEmbedder(Embedder):
    """Runtime ``onnx``: pixels prepared as the spec says, from ``spec.input_name`` (default the
    first input) to ``spec.output_name`` (default the first output).  A file that fixes the
    batch (sface's is 1) has its batch dimension freed in memory when the ``onnx`` package is
    importable, else faces are run in chunks of the fixed size."""

    def __init__(self, spec: ModelSpec, session: Any, batch_size: int | None) -> None:
        super().__init__(spec, batch_size)
        self._sess = session
        inputs = {i.name: i for i in session.get_inputs()}
        self._in = spec.input_name or session.get_inputs()[0].name
        self._out = spec.output_name or session.get_outputs()[0].name
        dim0 = inputs[self._in].shape[0] if self._in in inputs else None
        self._fixed = dim0 if isinstance(dim0, int) and dim0 > 0 else None

    @classmethod
    def build(
        cls, spec: ModelSpec, paths: dict[str, Path], threads: int, batch_size: int | None
    ) -> OnnxEmbedder:
        """Load the network from the verified ``paths`` (see :class:`Embedder`)."""
        path = paths[spec.weight_files[0]]
        model = free_batch_dim(path)
        return cls(
            spec, onnx_session(model if model is not None else str(path), threads), batch_size
        )

    def _forward(self, faces: np.ndarray) -> np.ndarray:
        x = prepare_pixels(self.spec, faces)
        if self._fixed is None:
            return self._sess.run([self._out], {self._in: x})[0]
        step = self._fixed
        return np.concatenate(
            [
                self._sess.run([self._out], {self._in: x[i : i + step]})[0]
                for i in range(0, len(x), step)
            ]
        )
