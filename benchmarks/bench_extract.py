"""Throughput of the extraction pipeline: detection (MTCNN, YuNet) and end to end per model.

Run by hand (not a test):

    python benchmarks/bench_extract.py [--n 64] [--models sface,dlib-resnet] [--threads 2]
    python benchmarks/bench_extract.py --device cuda --images DIR --n 2000   # MTCNN on a GPU

Prints images/s for: reading (decode only); detection per detector (batched as the run does);
and per model "align + embed" and "end to end" (read + detect with MTCNN + align + embed),
the last one being what one model costs on its own in ``facebridge embed``.  Detection is shared
by all models in a real run, so the time for M models is roughly
``n / det_rate + sum_m n / align_embed_rate_m``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _images(n: int, folder: str | None) -> tuple[Path, list[str]]:
    from facebridge.config import data_dir
    from facebridge.extract import list_images

    base = data_dir()
    roots = [Path(folder)] if folder else [base / "lfw" / "lfw-deepfunneled"]
    for root in (*roots, base / "fixtures" / "lfw-tiny" / "images"):
        if root.is_dir():
            ids = list_images(root)
            step = max(1, len(ids) // n)
            return root, ids[::step][:n]
    raise SystemExit("no LFW images found: set FACEBRIDGE_DATA")


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:8.1f} img/s  ({1000 * seconds / n:6.1f} ms/img)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="images to time (spread over LFW)")
    ap.add_argument("--models", default="", help="comma-separated model keys (default: none)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--images", help="image folder (default: LFW under FACEBRIDGE_DATA)")
    ap.add_argument(
        "--device", default="cpu", help="torch device of MTCNN: cpu (default), cuda, cuda:N"
    )
    args = ap.parse_args()

    from facebridge.detect import align, get_detector, read_image

    root, ids = _images(args.n, args.images)
    n = len(ids)
    print(f"{n} images from {root}, {args.threads} threads, MTCNN on {args.device}")
    t = time.perf_counter()
    images = [read_image(root / i) for i in ids]
    print(f"{'read (decode)':<28}{_rate(n, time.perf_counter() - t)}")

    dets = {}
    det_seconds: dict[str, float] = {}
    per_model: dict[str, float] = {}
    for name in ("mtcnn", "yunet"):
        kw = {"num_threads": args.threads, "device": args.device} if name == "mtcnn" else {}
        det = get_detector(name, **kw)
        det.detect_batch(images[:2])  # warm-up
        t = time.perf_counter()
        found = []
        for s in range(0, n, 16):
            found += det.detect_batch(images[s : s + 16])
        dt = time.perf_counter() - t
        n_face = sum(1 for f in found if f)
        print(f"{'detect ' + name:<28}{_rate(n, dt)}  faces found {n_face}/{n}")
        dets[name] = [f[0] if f else None for f in found]
        det_seconds[name] = dt / n

    from facebridge.detect import fallback_detection

    mt = [d or fallback_detection(im.shape) for d, im in zip(dets["mtcnn"], images, strict=True)]
    keys = [k for k in args.models.split(",") if k.strip()]
    if keys:
        from facebridge.models import get_spec
        from facebridge.models.embedders import get_embedder

        for key in keys:
            spec = get_spec(key)
            emb = get_embedder(key, threads=args.threads, batch_size=args.batch_size)
            crops0 = np.stack([align(images[0], mt[0], spec.alignment)] * 2)
            emb.embed(crops0)  # warm-up
            t = time.perf_counter()
            crops = np.stack(
                [align(im, d, spec.alignment) for im, d in zip(images, mt, strict=True)]
            )
            t_align = time.perf_counter() - t
            t = time.perf_counter()
            emb.embed(crops)
            t_net = time.perf_counter() - t
            print(f"{'align ' + key:<28}{_rate(n, t_align)}")
            print(f"{'network ' + key:<28}{_rate(n, t_net)}")
            print(f"{'align + embed ' + key:<28}{_rate(n, t_align + t_net)}")
            per_model[key] = (t_align + t_net) / n
    if keys:
        total = 13233 * (det_seconds["mtcnn"] + sum(per_model.values()))
        print(f"estimated LFW (13,233 images) x {len(keys)} model(s), MTCNN: {total / 60:.1f} min")


if __name__ == "__main__":
    main()
