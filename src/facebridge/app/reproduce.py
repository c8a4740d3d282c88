"""``reproduce``'s front ends: the shipped LFW store, LFW-style photos, or YouTube Faces frames,
each ending in :func:`facebridge.app.analysis.evaluate`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facebridge.app import analysis
from facebridge.app.inputs import default_models, load_protocol, open_store, shipped_models
from facebridge.errors import InvalidInputError

__all__ = ["DEFAULT_IMAGES_STORE", "DEFAULT_YTF_STORE", "ReproduceInputs", "reproduce"]

#: The store ``reproduce --images`` writes when no ``--store`` is given.
DEFAULT_IMAGES_STORE = "facebridge-store"
#: The store ``reproduce --protocol ytf`` writes when no ``--store`` is given.
DEFAULT_YTF_STORE = "facebridge-ytf-store"


@dataclass(frozen=True)
class ReproduceInputs:
    """Where ``reproduce`` takes its data from (every field optional: the shipped LFW store)."""

    images: str | None = None
    pairs: str | None = None
    store: str | None = None
    models: Sequence[str] | None = None
    detector: str = "mtcnn"
    protocol: str | None = None
    frames: str | None = None
    splits: str | None = None
    frames_per_video: int = 100


def reproduce(
    inputs: ReproduceInputs, out_dir: str | Path, *, progress: bool = True, **options: Any
) -> analysis.Evaluation:
    """Embed what ``inputs`` ask for (resuming), then run :func:`analysis.evaluate`.

    Parameters
    ----------
    inputs : ReproduceInputs
        The shipped store (default), ``images`` (+ ``pairs``) to detect and embed, or
        ``protocol="ytf"`` with ``frames``.
    out_dir : str or Path
        The report folder.
    progress : bool
        Progress bars on stderr.
    **options
        Passed on to :func:`analysis.evaluate` (``settings``, ``command``, ``privacy``, ...).

    Returns
    -------
    Evaluation

    Raises
    ------
    InvalidInputError
        Options that do not fit together (``--frames`` without ``--protocol ytf``, ...).

    Examples
    --------
    >>> ev = reproduce(ReproduceInputs(), "facebridge-report")  # doctest: +SKIP
    """
    kind = inputs.protocol
    if kind is not None and kind not in ("ytf", "lfw"):
        raise InvalidInputError(
            f"reproduce --protocol must be lfw or ytf, got {kind!r}; use `facebridge evaluate` "
            "for other protocols"
        )
    models: list[str] | None = list(inputs.models) if inputs.models else None
    if kind == "ytf":
        store, protocol, images = _ytf(inputs, models, progress)
        models = None  # every model of the per-video store
    elif inputs.images:
        store, protocol, images = _images(inputs, models, progress)
        models = None
    else:
        if inputs.frames:
            raise InvalidInputError("--frames needs --protocol ytf")
        store, protocol, models = _shipped(inputs, models)
        images = None
    return analysis.evaluate(
        store, protocol, out_dir, models, progress=progress, images=images, **options
    )


def _shipped(inputs: ReproduceInputs, models: list[str] | None) -> tuple[Any, Any, Any]:
    """The shipped LFW store (or ``--store``) with the packaged View 2 pairs, and the models:
    the registry's default models in its order (every model of the store if it has fewer
    than two of them)."""
    from facebridge.protocols import default_lfw_pairs

    if inputs.pairs:
        raise InvalidInputError(
            "--pairs applies to --images; to evaluate a store on your own pairs use "
            "`facebridge evaluate --store DIR --pairs FILE`"
        )
    store = open_store(inputs.store, hint="pass an existing --store DIR")
    if models is None:
        models = shipped_models(store)
    return store, default_lfw_pairs(), models


def _images(
    inputs: ReproduceInputs, models: list[str] | None, progress: bool
) -> tuple[Any, Any, str]:
    """Detect + embed the protocol's images (resumable), then hand the store to the analysis."""
    from facebridge.extract import embed_images
    from facebridge.store import EmbeddingStore

    images = Path(str(inputs.images))
    if not images.is_dir():
        raise InvalidInputError(f"images folder not found: {images}; pass --images DIR")
    protocol = load_protocol("lfw" if inputs.pairs is None else "auto", inputs.pairs)
    store_dir = Path(inputs.store or DEFAULT_IMAGES_STORE)
    embed_images(
        images,
        store_dir,
        models=models or default_models(),
        detector=inputs.detector,
        items=protocol.items(),
        progress=progress,
    )
    return EmbeddingStore(store_dir), protocol, str(images)


def _ytf(inputs: ReproduceInputs, models: list[str] | None, progress: bool) -> tuple[Any, Any, str]:
    """Embed the YTF videos (mean of the first N frames) into a per-video store."""
    from facebridge.extract_ytf import embed_ytf_videos

    if not inputs.frames:
        raise InvalidInputError(
            "--protocol ytf needs --frames DIR (the aligned_images_DB folder of YouTube Faces)"
        )
    if inputs.images:
        raise InvalidInputError(
            "--images and --protocol ytf exclude each other; use --frames for YTF"
        )
    protocol = load_protocol("ytf", inputs.splits or inputs.pairs)
    store = embed_ytf_videos(
        inputs.frames,
        protocol,
        Path(inputs.store or DEFAULT_YTF_STORE),
        models=models or default_models(),
        frames_per_video=inputs.frames_per_video,
        detector=inputs.detector,
        progress=progress,
    )
    return store, protocol, str(inputs.frames)
