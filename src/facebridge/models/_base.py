"""The embedder contract and the helpers every runtime module shares.

:class:`Embedder` is the base class of every runtime's embedder (``_onnx``, ``_tf``, ``_dlib`` and
plugins); :func:`require` imports an optional runtime or raises
:class:`~facebridge.errors.MissingDependencyError` naming the extra from
:data:`OPTIONAL_DEPENDENCIES`, the one table of optional modules (checked against
``pyproject.toml`` by ``tests/test_models.py``).  This module imports no heavy runtime and nothing
from the runtime modules, so they all import it without forming a cycle.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.optional import OPTIONAL_DEPENDENCIES, require

if TYPE_CHECKING:
    from pathlib import Path

    from facebridge.models.registry import ModelSpec

__all__ = [
    "OPTIONAL_DEPENDENCIES",
    "Embedder",
    "default_threads",
    "l2_normalise",
    "prepare_pixels",
    "require",
]


def default_threads() -> int:
    """Threads for a runtime: ``FACEBRIDGE_THREADS`` or the CPUs this process may use.

    Returns
    -------
    int
        A positive thread count.

    Raises
    ------
    InvalidInputError
        ``FACEBRIDGE_THREADS`` is set but is not a positive integer.

    Examples
    --------
    >>> default_threads() >= 1
    True
    """
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
    """Rows of ``x`` divided by their L2 norm.

    Parameters
    ----------
    x : array_like of shape (n, d)
        Vectors.
    eps : float, default 1e-12
        Norms below ``eps`` are replaced by ``eps`` (an all-zero row stays zero).

    Returns
    -------
    ndarray of shape (n, d), float32

    Examples
    --------
    >>> l2_normalise(np.array([[3.0, 4.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(n, eps)).astype(np.float32, copy=False)


def per_image_standardisation(faces: np.ndarray) -> np.ndarray:
    """``tf.image.per_image_standardization``: ``(x - mean) / max(std, 1/sqrt(N))`` per image.

    Parameters
    ----------
    faces : ndarray of shape (n, H, W, 3)
        Pixels.

    Returns
    -------
    ndarray of shape (n, H, W, 3), float32

    Examples
    --------
    >>> float(per_image_standardisation(np.full((1, 2, 2, 3), 7, np.uint8)).max())
    0.0
    """
    x = faces.astype(np.float32)
    n = x[0].size
    mean = x.reshape(len(x), -1).mean(axis=1)
    std = x.reshape(len(x), -1).std(axis=1)
    std = np.maximum(std, np.float32(1.0 / np.sqrt(n)))
    return ((x - mean[:, None, None, None]) / std[:, None, None, None]).astype(np.float32)


def prepare_pixels(spec: ModelSpec, faces: np.ndarray) -> np.ndarray:
    """The network input for ``faces`` as ``spec`` declares it (colour, scaling, layout).

    Parameters
    ----------
    spec : ModelSpec
        Its ``colour`` (``"RGB"``/``"BGR"``), ``normalisation`` (``"per-image"`` or
        ``"mean-std"`` with ``mean``/``std``) and ``layout`` (``"NHWC"``/``"NCHW"``) are used.
    faces : ndarray of shape (n, H, W, 3), uint8
        Aligned RGB faces.

    Returns
    -------
    ndarray, float32, contiguous
        ``(n, H, W, 3)`` or ``(n, 3, H, W)``.

    Examples
    --------
    >>> from facebridge.models import get_spec
    >>> prepare_pixels(get_spec("sface"), np.zeros((1, 112, 112, 3), np.uint8)).shape
    (1, 3, 112, 112)
    """
    if spec.colour == "BGR":
        faces = faces[..., ::-1]
    if spec.normalisation == "per-image":
        x = per_image_standardisation(faces)
    else:
        x = (faces.astype(np.float32) - spec.mean) / spec.std
    if spec.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=np.float32)


class Embedder:
    """Base class: validation, chunking and normalisation around a model's forward pass.

    Subclasses implement :meth:`_forward` (``uint8 (b, H, W, 3) RGB -> float (b, dim)``, not yet
    normalised) and a ``build(spec, paths, threads, batch_size)`` classmethod, the builder the
    registry's runtime table names.  Attributes ``key``, ``dim``, ``input_size`` and
    ``weights_sha256`` mirror the spec so that stores and the extraction run treat every embedder
    alike.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    batch_size : int, optional
        Faces per forward pass (default :attr:`default_batch_size`).

    Raises
    ------
    InvalidInputError
        ``batch_size < 1``.
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

    @classmethod
    def build(
        cls, spec: ModelSpec, paths: dict[str, Path], threads: int, batch_size: int | None
    ) -> Embedder:  # pragma: no cover - every runtime overrides it
        """Load the network from the verified weight ``paths`` (file name -> path)."""
        raise NotImplementedError

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
        """Embed aligned RGB uint8 faces.

        Parameters
        ----------
        faces : ndarray of shape (n, H, W, 3), uint8
            Aligned as ``spec.alignment`` says, ``(H, W) == spec.input_size``.
        normalise : bool, default True
            ``False`` returns the network's raw output (for models whose native comparison is
            not the cosine, see ``spec.native_metric``).

        Returns
        -------
        ndarray of shape (n, dim), float32
            Unit rows when ``normalise``.

        Raises
        ------
        DimensionError
            Wrong shape (not a batch, wrong size, not 3 channels), or the network gives vectors
            of another dimension than ``spec.dim``.
        InvalidInputError
            Not uint8.
        """
        faces = self._check(faces)
        n = faces.shape[0]
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, self.batch_size):
            chunk = faces[start : start + self.batch_size]
            vec = np.asarray(self._forward(chunk), dtype=np.float32).reshape(len(chunk), -1)
            if vec.shape[1] != self.dim:
                raise DimensionError(
                    f"{self.key} produced {vec.shape[1]}-D vectors, expected {self.dim}; the "
                    "weights or the declared output do not match the spec"
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
