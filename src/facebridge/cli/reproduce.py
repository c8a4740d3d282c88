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
from typing import Any

from facebridge.cli._common import (
    ANALYSIS_KEYS,
    add_analysis_options,
    add_models_option,
    analysis_options,
    command_line,
    parse_models,
    print_evaluation,
)


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
        help="embedding store: the one to analyse, or the one --images / --protocol ytf write "
        "(default ./facebridge-store, ./facebridge-ytf-store); re-running resumes",
    )
    add_models_option(p, help="comma-separated models (default: the six of the shipped store)")
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


def run(args: argparse.Namespace) -> int:
    from facebridge.app.reproduce import ReproduceInputs, reproduce

    options = analysis_options(args)
    inputs = ReproduceInputs(
        images=args.images,
        pairs=args.pairs,
        store=args.store,
        models=parse_models(args.models),
        detector=args.detector,
        protocol=args.protocol,
        frames=args.frames,
        splits=args.splits,
        frames_per_video=args.frames_per_video,
    )
    ev = reproduce(inputs, args.out, command=command_line("reproduce", args, _CMD_KEYS), **options)
    return print_evaluation(ev)
