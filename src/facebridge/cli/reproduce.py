"""``facebridge reproduce``: the paper's findings, end to end, as a report.

    facebridge reproduce [--out DIR] [--quick]
        on the LFW embeddings shipped with facebridge (six real models, official View 2 pairs);
    facebridge reproduce --images DIR [--pairs FILE] [--store DIR] [--models a,b] [--detector D]
        detect + embed the photos (resuming), then the analysis;
    facebridge reproduce --protocol ytf --frames DIR [--splits FILE] --store DIR
                         [--frames-per-video 100]
        YouTube Faces: each video is the mean embedding of its first 100 frames.

See docs/CLI.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facebridge.cli.evaluate import (
    ANALYSIS_KEYS,
    add_analysis_options,
    command_line,
    load_pairs,
    parse_models,
    report_and_print,
    settings_from_args,
)
from facebridge.errors import InvalidInputError

DEFAULT_IMAGES_STORE = "facebridge-store"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="reproduce the paper on the shipped LFW embeddings (or your images / YTF frames)",
        description="Reproduce the paper's findings (Table 3, Figures 3-4) and write a report. "
        "With no arguments: the LFW embeddings shipped with facebridge, all six models.",
    )
    add_analysis_options(p)
    p.add_argument(
        "--images",
        default=None,
        metavar="DIR",
        help="run the whole chain from photos: detect, embed with every model, then analyse",
    )
    p.add_argument(
        "--pairs",
        default=None,
        metavar="FILE",
        help="pairs file for --images (default: the packaged LFW View 2 pairs.txt)",
    )
    p.add_argument(
        "--store",
        default=None,
        metavar="DIR",
        help=f"embedding store written by --images / --protocol ytf (default ./{DEFAULT_IMAGES_STORE}); "
        "re-running resumes",
    )
    p.add_argument(
        "--models",
        default=None,
        metavar="A,B,C",
        help="models (default: the six of the shipped store)",
    )
    p.add_argument(
        "--detector",
        default="mtcnn",
        metavar="D",
        help="face detector for --images / ytf: mtcnn or yunet",
    )
    p.add_argument(
        "--protocol", default=None, metavar="KIND", help="ytf for the YouTube Faces variant"
    )
    p.add_argument(
        "--frames",
        default=None,
        metavar="DIR",
        help="YTF aligned_images_DB folder (with --protocol ytf)",
    )
    p.add_argument(
        "--splits",
        default=None,
        metavar="FILE",
        help="YTF splits.txt (default $FACEBRIDGE_DATA/ytf/splits.txt)",
    )
    p.add_argument(
        "--frames-per-video",
        type=int,
        default=100,
        metavar="N",
        help="frames averaged per YTF video, in frame-number order (default 100, as the paper)",
    )
    p.set_defaults(func=run)


_CMD_KEYS = (
    "images",
    "protocol",
    "frames",
    "splits",
    "pairs",
    "store",
    "models",
    *ANALYSIS_KEYS,
)


def _default_models() -> list[str]:
    from facebridge.models import DEFAULT_MODELS

    return list(DEFAULT_MODELS)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    models = parse_models(args.models)
    progress = not args.no_progress
    cmd = command_line("reproduce", args, _CMD_KEYS)
    kind = args.protocol
    images: str | None
    if kind is not None and kind not in ("ytf", "lfw"):
        raise InvalidInputError(
            f"reproduce --protocol must be lfw or ytf, got {kind!r}; use `facebridge evaluate` "
            "for other protocols"
        )
    if kind == "ytf":
        store, protocol, images = _ytf(args, models, progress)
        models = None  # every model of the per-video store
    elif args.images:
        store, protocol, images = _images(args, models, progress)
        models = None
    else:
        if args.frames:
            raise InvalidInputError("--frames needs --protocol ytf")
        store, protocol, images, models = _shipped(args, models)
    return report_and_print(
        args, store, protocol, models, settings, cmd, progress=progress, images=images
    )


def _shipped(
    args: argparse.Namespace, models: list[str] | None
) -> tuple[Any, Any, str | None, list[str] | None]:
    """The shipped LFW store (or ``--store``) with the packaged View 2 pairs, and the models:
    the registry's six default models in its order (every model of the store if it has fewer
    than two of them)."""
    from facebridge.protocols import default_lfw_pairs
    from facebridge.store import EmbeddingStore, default_store

    if args.pairs:
        raise InvalidInputError(
            "--pairs applies to --images; to evaluate a store on your own pairs use "
            "`facebridge evaluate --store DIR --pairs FILE`"
        )
    if args.store:
        if not Path(args.store).is_dir():
            raise InvalidInputError(
                f"no embedding store at {args.store}; pass an existing --store DIR"
            )
        store = EmbeddingStore(args.store)
    else:
        store = default_store()
    if models is None:
        present = store.models()
        wanted = [m for m in _default_models() if m in present]
        models = wanted if len(wanted) >= 2 else None
    return store, default_lfw_pairs(), None, models


def _images(
    args: argparse.Namespace, models: list[str] | None, progress: bool
) -> tuple[Any, Any, str]:
    """Detect + embed the protocol's images (resumable), then hand the store to the analysis."""
    from facebridge.extract import embed_images
    from facebridge.store import EmbeddingStore

    images = Path(args.images)
    if not images.is_dir():
        raise InvalidInputError(f"images folder not found: {images}; pass --images DIR")
    protocol = load_pairs("lfw" if args.pairs is None else "auto", args.pairs)
    store_dir = Path(args.store or DEFAULT_IMAGES_STORE)
    embed_images(
        images,
        store_dir,
        models=models or _default_models(),
        detector=args.detector,
        items=protocol.items(),
        progress=progress,
    )
    return EmbeddingStore(store_dir), protocol, str(images)


def _ytf(
    args: argparse.Namespace, models: list[str] | None, progress: bool
) -> tuple[Any, Any, str]:
    """Embed the YTF videos (mean of the first N frames) into a per-video store."""
    from facebridge.report.pipeline import embed_ytf_videos

    if not args.frames:
        raise InvalidInputError(
            "--protocol ytf needs --frames DIR (the aligned_images_DB folder of YouTube Faces)"
        )
    if args.images:
        raise InvalidInputError(
            "--images and --protocol ytf exclude each other; use --frames for YTF"
        )
    protocol = load_pairs("ytf", args.splits or args.pairs)
    store_dir = Path(args.store or "facebridge-ytf-store")
    store = embed_ytf_videos(
        args.frames,
        protocol,
        store_dir,
        models=models or _default_models(),
        frames_per_video=args.frames_per_video,
        detector=args.detector,
        progress=progress,
    )
    return store, protocol, str(args.frames)
