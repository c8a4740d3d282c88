"""Embedders: aligned face crops in, L2-normalised embeddings out.

:func:`get_embedder` returns an :class:`Embedder` for a model key.  Its :meth:`Embedder.embed`
takes ``faces``, a ``uint8`` array of shape ``(n, H, W, 3)`` in **RGB** order, already aligned as
``spec.alignment`` says (``(H, W) == spec.input_size``; :mod:`facebridge.detect` makes them), and
returns a ``float32`` array ``(n, spec.dim)`` whose rows have unit L2 norm.  Batches are split
into chunks of ``batch_size``; results do not depend on the chunking beyond float rounding
(~1e-6) and are the same on every call.

The embedder class comes from the spec's runtime (:data:`facebridge.models.registry.RUNTIMES`);
its runtime (TensorFlow, onnxruntime, dlib) is imported when the embedder is built, and a missing
one raises :class:`~facebridge.errors.MissingDependencyError` naming the extra.

Examples
--------
>>> from facebridge.models import get_embedder
>>> emb = get_embedder("sface")  # doctest: +SKIP
>>> emb.embed(faces_112x112_rgb_uint8).shape  # doctest: +SKIP
(n, 128)
"""

from __future__ import annotations

from pathlib import Path

from facebridge.models._base import (
    OPTIONAL_DEPENDENCIES,
    Embedder,
    default_threads,
    l2_normalise,
    require,
)
from facebridge.models.registry import get_spec
from facebridge.models.weights import ensure_weights

__all__ = [
    "OPTIONAL_DEPENDENCIES",
    "Embedder",
    "default_threads",
    "get_embedder",
    "l2_normalise",
    "require",
]


def get_embedder(
    key: str,
    cache_dir: Path | str | None = None,
    weights_dir: Path | str | None = None,
    *,
    threads: int | None = None,
    batch_size: int | None = None,
) -> Embedder:
    """Build the embedder of model ``key`` (weights verified, pulled into the cache if missing).

    Parameters
    ----------
    key : str
        A model key (``facebridge models list``): built-in, a registered card, or a plugin's.
    cache_dir : path, optional
        Weights cache root (default ``FACEBRIDGE_CACHE`` / ``~/.cache/facebridge``).
    weights_dir : path, optional
        A directory of weight files to use instead of the cache (verified).
    threads : int, optional
        Runtime threads (default :func:`default_threads`).
    batch_size : int, optional
        Faces per forward pass (default 32).

    Returns
    -------
    Embedder

    Raises
    ------
    UnknownModelError
        Unknown key (close matches listed).
    WeightsError
        Weights missing / altered and not pullable.
    MissingDependencyError
        The model's runtime is not installed.

    Examples
    --------
    >>> get_embedder("sface").dim  # doctest: +SKIP
    128
    """
    spec = get_spec(key)
    cls = spec.embedder_class()
    paths = {
        w.name: ensure_weights(w.name, cache_dir=cache_dir, weights_dir=weights_dir)
        for w in spec.weights
    }
    return cls.build(spec, paths, threads or default_threads(), batch_size)
