"""The YouTube Faces front end of extraction: one embedding per video.

:func:`embed_ytf_videos` builds a per-video store for YouTube Faces: every video's first
``frames_per_video`` frames (ordered by frame number) are embedded through the ordinary
extraction run (:func:`facebridge.extract.embed_images`) into a frame store, and each video's
embedding is the mean of its frames' embeddings, as in the paper (Section 3.1.3).

No YouTube Faces frames exist on the development machines; this module is tested on small
synthetic frame folders in the real ``aligned_images_DB`` layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facebridge.errors import InvalidInputError, ProtocolError

__all__ = [
    "YTF_FRAMES_SUBDIR",
    "YtfFrames",
    "average_video_embeddings",
    "embed_ytf_videos",
    "ytf_frame_items",
]

#: Where the per-frame store of a YTF run lives inside the per-video store.
YTF_FRAMES_SUBDIR = "_frames"


@dataclass(frozen=True)
class YtfFrames:
    """The frames chosen for every video of a YTF protocol."""

    frames: dict[str, list[str]]  # video id -> frame item ids (relative to the frames root)
    missing: dict[str, str]  # video id -> reason (no folder, no frames)

    @property
    def items(self) -> list[str]:
        return [f for fr in self.frames.values() for f in fr]


def ytf_frame_items(
    frames_root: str | Path, videos: Iterable[str], frames_per_video: int = 100
) -> YtfFrames:
    """The first ``frames_per_video`` frames of each video, ordered by frame number.

    A video without a folder or without frames is recorded in ``missing`` with the reason (it is
    reported as a failure of every model, never silently dropped).
    """
    from facebridge.protocols import ytf_video_frames

    root = Path(frames_root)
    if not root.is_dir():
        raise InvalidInputError(
            f"YTF frames folder not found: {root}; pass --frames pointing at aligned_images_DB"
        )
    frames: dict[str, list[str]] = {}
    missing: dict[str, str] = {}
    for video in videos:
        try:
            paths = ytf_video_frames(root, video, max_frames=frames_per_video)
        except ProtocolError as e:
            missing[video] = str(e).split(";")[0]
            continue
        frames[video] = [p.relative_to(root).as_posix() for p in paths]
    if not frames:
        raise InvalidInputError(
            f"none of the {len(missing)} videos has frames under {root}; expected the "
            "aligned_images_DB layout Name/video_no/aligned_detect_<video_no>.<frame>.jpg"
        )
    return YtfFrames(frames, missing)


def average_video_embeddings(
    frame_store: Any,
    video_store: Any,
    chosen: YtfFrames,
    models: Sequence[str],
    frames_per_video: int,
) -> dict[str, int]:
    """Write each video's embedding = the mean of its frames' embeddings, per model.

    Frames that failed are left out of the mean; a video none of whose frames was embedded (or
    that has no frames) is recorded as a failure of that model with the reason.  Videos already
    in ``video_store`` are skipped (resume).

    Returns
    -------
    dict
        model -> number of videos written in this call.
    """
    written: dict[str, int] = {}
    for m in models:
        emb = frame_store.load(m)
        index = emb.index()
        man = emb.manifest
        done = video_store.done_ids(m) if m in video_store.models() else set()
        det = f"{man.get('detector', 'unknown')}; mean of the first {frames_per_video} frames"
        extra = {
            "ytf": {
                "frames_per_video": frames_per_video,
                "aggregation": "mean of frame embeddings",
                "frames_store": str(getattr(frame_store, "root", "")),
            },
            "alignment": (man.get("extra") or {}).get("alignment"),
        }
        n = 0
        with video_store.writer(
            m,
            dim=int(man["dim"]),
            weights_sha256=str(man["weights_sha256"]),
            detector=det,
            extra=extra,
        ) as w:
            ids: list[str] = []
            vecs: list[np.ndarray] = []
            for video, reason in chosen.missing.items():
                if video not in done:
                    w.add_failure(video, f"no frames: {reason}")
            for video, frame_ids in chosen.frames.items():
                if video in done:
                    continue
                rows = [index[f] for f in frame_ids if f in index]
                if not rows:
                    first = next((emb.failures[f] for f in frame_ids if f in emb.failures), None)
                    why = f"; first reason: {first}" if first else ""
                    w.add_failure(
                        video, f"none of its {len(frame_ids)} frames was embedded by {m}{why}"
                    )
                    continue
                ids.append(video)
                vecs.append(emb.vectors[rows].astype(np.float64).mean(axis=0).astype(np.float32))
                n += 1
            if ids:
                w.add(ids, np.stack(vecs))
            w.flush()
        written[m] = n
    return written


def embed_ytf_videos(
    frames_root: str | Path,
    protocol: Any,
    store_root: str | Path,
    models: Sequence[str] | None = None,
    *,
    frames_per_video: int = 100,
    detector: Any = "mtcnn",
    progress: bool = True,
    embedders: Mapping[str, Any] | None = None,
    alignments: Mapping[str, str] | None = None,
    batch_size: int = 32,
) -> Any:
    """Embed a YouTube Faces protocol's videos into a per-video store at ``store_root``.

    The frames go through :func:`facebridge.extract.embed_images` (detect, align, embed;
    resumable) into the frame store ``store_root/_frames``; then each video's embedding is the
    mean of its first ``frames_per_video`` frames' embeddings (frames ordered by frame number),
    written to ``store_root`` under the item id ``Name/video_no``.

    Returns
    -------
    EmbeddingStore
        The per-video store, ready for :func:`evaluate` with the same protocol.
    """
    from facebridge.extract import embed_images
    from facebridge.store import EmbeddingStore

    if isinstance(frames_per_video, bool) or int(frames_per_video) < 1:
        raise InvalidInputError(
            f"--frames-per-video must be a positive integer, got {frames_per_video!r}; the paper uses 100"
        )
    chosen = ytf_frame_items(frames_root, protocol.items(), int(frames_per_video))
    video_store = EmbeddingStore.create(store_root)
    frames_root_path = Path(store_root) / YTF_FRAMES_SUBDIR
    kwargs: dict[str, Any] = {}
    if embedders is not None:
        kwargs["embedders"] = embedders
    if alignments is not None:
        kwargs["alignments"] = alignments
    embed_images(
        frames_root,
        frames_root_path,
        models=models,
        detector=detector,
        items=chosen.items,
        batch_size=batch_size,
        progress=progress,
        **kwargs,
    )
    frame_store = EmbeddingStore(frames_root_path)
    present = frame_store.models()
    if embedders is not None:
        keys = list(embedders)
    else:
        keys = [m for m in (models or present) if m in present] or present
    average_video_embeddings(frame_store, video_store, chosen, keys, int(frames_per_video))
    return video_store
