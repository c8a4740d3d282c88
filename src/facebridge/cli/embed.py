"""``facebridge embed``: detect, align and embed an image tree into an embedding store (resumable)."""

from __future__ import annotations

import argparse
import json
import sys

from facebridge.cli._common import add_threads_option
from facebridge.detect.image import MAX_PIXELS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "embed",
        help="detect faces once, then embed them with each model into a store (resumable)",
        description=(
            "Walk an image tree (identity sub-folders, e.g. LFW), detect each face once "
            "(stored, reused by every model), align it per model and write the embeddings to "
            "the store. Re-run the same command after an interruption to resume."
        ),
    )
    p.add_argument("--images", required=True, help="image root (identity sub-folders)")
    p.add_argument("--store", required=True, help="embedding store directory (created if needed)")
    p.add_argument(
        "--pairs",
        help="restrict to the images a pairs / protocol file uses (LFW pairs.txt, CSV, ...)",
    )
    p.add_argument(
        "--pairs-kind",
        default="auto",
        help="kind of the --pairs file: lfw, lfw-dev, ytf, csv or auto (default: from its name)",
    )
    p.add_argument(
        "--models",
        help="comma-separated model keys (default: the six default models; see `facebridge models list`)",
    )
    p.add_argument(
        "--detect-only", action="store_true", help="run the detection pass only (no models)"
    )
    p.add_argument("--detector", default="mtcnn", choices=["mtcnn", "yunet"])
    p.add_argument(
        "--device",
        default="cpu",
        help="cpu (default), cuda or cuda:N: the torch device of MTCNN detection (the face "
        "models' runtimes run on the CPU)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="faces per embedding batch")
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="redo the images whose record is a failure (detection and every model), e.g. "
        "after re-copying unreadable files; by default failures are kept and skipped (an image "
        "whose content changed is redone either way)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=MAX_PIXELS,
        metavar="N",
        help="refuse (record as a failure) an image whose header declares more pixels than N, "
        f"before decoding it (default {MAX_PIXELS:,}; 0 for no limit)",
    )
    add_threads_option(p, None)
    p.add_argument("--weights-dir", help="folder of weight files to use instead of the cache")
    p.add_argument(
        "--engine",
        default="local",
        choices=["local", "ray"],
        help="local: this process (default); ray: Ray tasks and actor pools (facebridge[ray])",
    )
    p.add_argument(
        "--address",
        help="with --engine ray: a running Ray cluster (HOST:PORT of `ray start --head`, or "
        "auto); default: start a local Ray runtime for this run",
    )
    p.add_argument(
        "--workers", type=int, help="with --engine ray: worker processes per stage (default: CPUs)"
    )
    p.add_argument(
        "--num-cpus", type=int, help="with --engine ray and no --address: CPUs of the local runtime"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facebridge.errors import InvalidInputError
    from facebridge.extract import ExtractionSummary, embed_images, protocol_items

    if args.detect_only and args.models is not None:
        raise InvalidInputError("--detect-only and --models exclude each other; drop one")
    models = None
    if args.detect_only:
        models = ()
    elif args.models is not None:
        models = tuple(m.strip() for m in args.models.split(",") if m.strip())
        if not models:
            raise InvalidInputError(f"--models got no model key in {args.models!r}")
    if args.threads is not None and args.threads < 1:
        raise InvalidInputError(f"--threads must be >= 1, got {args.threads}")
    ray_only = {"--address": args.address, "--workers": args.workers, "--num-cpus": args.num_cpus}
    if args.engine != "ray" and any(v is not None for v in ray_only.values()):
        given = ", ".join(k for k, v in ray_only.items() if v is not None)
        raise InvalidInputError(f"{given} need --engine ray; add it or drop them")
    if args.max_pixels < 0:
        raise InvalidInputError(
            f"--max-pixels must be a positive number of pixels (0 for no limit), "
            f"got {args.max_pixels}"
        )
    items = protocol_items(args.pairs, args.pairs_kind) if args.pairs else None
    summary: ExtractionSummary
    kwargs = {
        "models": models,
        "detector": args.detector,
        "items": items,
        "batch_size": args.batch_size,
        "progress": not args.no_progress,
        "weights_dir": args.weights_dir,
        "threads": args.threads,
        "retry_failed": args.retry_failed,
        "max_pixels": args.max_pixels or None,
        "device": args.device,
    }
    if args.engine == "ray":
        from facebridge.extract_ray import embed_images_ray

        summary = embed_images_ray(
            args.images,
            args.store,
            address=args.address,
            workers=args.workers,
            num_cpus=args.num_cpus,
            **kwargs,
        )
    else:
        summary = embed_images(args.images, args.store, **kwargs)
    if args.json:
        json.dump(summary.as_dict(), sys.stdout, indent=2)
        print()
    else:
        print(f"{summary.n_items} images, detector {summary.detector}, store {args.store}")
        print(summary.table())
        failed = summary.failed_items()
        if failed:
            print(
                f"{len(failed)} images failed in this run (each counted once; reasons with "
                "--json, under failed_items); fix or re-copy them, then re-run with --retry-failed"
            )
    return 0
