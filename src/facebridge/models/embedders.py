"""Embedders: aligned face crops in, L2-normalised embeddings out.

:func:`get_embedder` returns an :class:`Embedder` for a registry key.  Its :meth:`Embedder.embed`
takes ``faces``, a ``uint8`` array of shape ``(n, H, W, 3)`` in **RGB** order, already aligned as
``spec.alignment`` says (``(H, W) == spec.input_size``; :mod:`facebridge.detect` makes them), and
returns a ``float32`` array ``(n, spec.dim)`` whose rows have unit L2 norm.  Batches are split
into chunks of ``batch_size``; results do not depend on the chunking beyond float rounding
(~1e-6) and are the same on every call.

The runtime a model needs (TensorFlow, onnxruntime, dlib) is imported when the embedder is built;
a missing one raises :class:`~facebridge.errors.MissingDependencyError` naming the extra.

Example::

    >>> from facebridge.models import get_embedder
    >>> emb = get_embedder("sface")                      # doctest: +SKIP
    >>> emb.embed(faces_112x112_rgb_uint8).shape         # doctest: +SKIP
    (n, 128)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from facebridge.errors import DimensionError, InvalidInputError, MissingDependencyError
from facebridge.models.registry import ModelSpec, get_spec
from facebridge.models.weights import ensure_weights

__all__ = ["Embedder", "default_threads", "get_embedder", "l2_normalise", "require"]

_EXTRA_OF = {
    "tensorflow": "tf",
    "onnxruntime": "onnx",
    "dlib": "dlib",
    "torch": "torch",
    "h5py": "torch",
    "cv2": "onnx",
}


def require(module: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = extra or _EXTRA_OF.get(module.split(".")[0], "extract")
        raise MissingDependencyError(
            f"{module} is needed for this model but not importable ({exc}); install it with "
            f"`pip install 'facebridge[{extra}]'` (or 'facebridge[extract]' for all models)"
        ) from None


def default_threads() -> int:
    """Threads for a runtime: ``FACEBRIDGE_THREADS`` or the CPUs this process may use."""
    env = os.environ.get("FACEBRIDGE_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise InvalidInputError(
                f"FACEBRIDGE_THREADS must be a positive integer, got {env!r}"
            ) from None
        if n < 1:
            raise InvalidInputError(f"FACEBRIDGE_THREADS must be a positive integer, got {env!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` divided by their L2 norm (float32; an all-zero row stays zero)."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(n, eps)).astype(np.float32, copy=False)


class Embedder:
    """Base class: validation, chunking and normalisation around a model's forward pass.

    Subclasses implement :meth:`_forward` (``uint8 (b, H, W, 3) RGB -> float (b, dim)``, not yet
    normalised).  Attributes ``key``, ``dim``, ``input_size`` and ``weights_sha256`` mirror the
    spec so that stores and the extraction run can treat every embedder alike.
    """

    default_batch_size = 32

    def __init__(self, spec: ModelSpec, batch_size: int | None = None) -> None:
        self.spec = spec
        self.batch_size = int(batch_size or self.default_batch_size)
        if self.batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")

    key = property(lambda self: self.spec.key)
    dim = property(lambda self: self.spec.dim)
    input_size = property(lambda self: self.spec.input_size)
    weights_sha256 = property(lambda self: self.spec.weights_sha256)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.key!r}, dim={self.dim})"

    def _check(self, faces: np.ndarray) -> np.ndarray:
        faces = np.asarray(faces)
        h, w = self.spec.input_size
        if faces.ndim == 3:
            raise DimensionError(
                f"{self.key} expects a batch (n, {h}, {w}, 3), got one image of shape "
                f"{faces.shape}; wrap it as faces[None]"
            )
        if faces.ndim != 4 or faces.shape[1:] != (h, w, 3):
            raise DimensionError(
                f"{self.key} expects aligned faces of shape (n, {h}, {w}, 3), got {faces.shape}; "
                f"align them with facebridge.detect ({self.spec.alignment!r})"
            )
        if faces.dtype != np.uint8:
            raise InvalidInputError(
                f"{self.key} expects uint8 RGB pixels 0..255, got dtype {faces.dtype}; convert "
                "with np.clip(x, 0, 255).astype(np.uint8)"
            )
        return np.ascontiguousarray(faces)

    def embed(self, faces: np.ndarray, *, normalise: bool = True) -> np.ndarray:
        """Embed aligned RGB uint8 faces ``(n, H, W, 3)`` -> ``float32 (n, dim)``, unit rows.

        ``normalise=False`` returns the network's raw output instead (for models whose native
        comparison is not the cosine, see ``spec.native_metric``: dlib's descriptors are compared
        by Euclidean distance of the unnormalised vectors).

        Raises:
            DimensionError: wrong shape (not a batch, wrong size, not 3 channels).
            InvalidInputError: not uint8.
        """
        faces = self._check(faces)
        n = faces.shape[0]
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, self.batch_size):
            chunk = faces[start : start + self.batch_size]
            vec = np.asarray(self._forward(chunk), dtype=np.float32).reshape(len(chunk), -1)
            if vec.shape[1] != self.dim:  # pragma: no cover - a wrong weight file
                raise DimensionError(
                    f"{self.key} produced {vec.shape[1]}-D vectors, expected {self.dim}"
                )
            out[start : start + len(chunk)] = l2_normalise(vec) if normalise else vec
        return out

    __call__ = embed

    def close(self) -> None:
        """Release what the embedder holds beyond its model (worker processes); idempotent.

        A no-op here; the embedder stays usable (``DlibEmbedder`` restarts its pool on demand).
        Also called by ``with embedder: ...``.
        """

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _forward(self, faces: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


_Builder = Callable[[ModelSpec, dict[str, Path], int, int | None], Embedder]


def _builders() -> dict[str, _Builder]:
    from facebridge.models import _dlib, _onnx, _tf

    return {
        "facenet-casia": _tf.FrozenGraphEmbedder.build,
        "facenet-ms1m": _tf.KerasH5Embedder.build,
        "dlib-resnet": _dlib.DlibEmbedder.build,
        "sface": _onnx.OnnxEmbedder.build,
        "mobilefacenet": _tf.TFLiteEmbedder.build,
        "faceres": _tf.TFJSGraphEmbedder.build,
        "mobileface": _tf.TFJSGraphEmbedder.build,
    }


def get_embedder(
    key: str,
    cache_dir: Path | str | None = None,
    weights_dir: Path | str | None = None,
    *,
    threads: int | None = None,
    batch_size: int | None = None,
) -> Embedder:
    """Build the embedder of model ``key`` (weights verified, pulled into the cache if missing).

    Args:
        key: a registry key (``facebridge models list``).
        cache_dir: weights cache root (default ``FACEBRIDGE_CACHE`` / ``~/.cache/facebridge``).
        weights_dir: a directory of weight files to use instead of the cache (verified).
        threads: runtime threads (default :func:`default_threads`).
        batch_size: faces per forward pass (default 32).

    Raises:
        UnknownModelError: unknown key (close matches listed).
        WeightsError: weights missing / altered and not pullable.
        MissingDependencyError: the model's runtime is not installed.
    """
    spec = get_spec(key)
    builder = _builders()[spec.key]
    paths = {
        name: ensure_weights(name, cache_dir=cache_dir, weights_dir=weights_dir)
        for name in spec.weight_files
    }
    return builder(spec, paths, threads or default_threads(), batch_size)
