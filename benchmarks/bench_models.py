"""Network-only speed of each embedder: faces/s at batch 32 on aligned-size inputs.

Run by hand (weights must be pulled: ``facebridge models pull --all``)::

    python benchmarks/bench_models.py                       # the six default models
    python benchmarks/bench_models.py --models sface faceres --batches 5 --threads 2

Inputs are random uint8 faces of each model's input size (speed does not depend on content).
One warm-up batch (graph optimisation, allocations) is excluded.  The last column projects the
network time for the 13,233 LFW images.  Detection and alignment are not included (see the
extraction run's benchmark for end-to-end figures).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

LFW_IMAGES = 13_233


def main(argv: list[str] | None = None) -> int:
    from facebridge.models import DEFAULT_MODELS, get_embedder, get_spec

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=3, help="timed batches per model")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
        f"load {os.getloadavg()[0]:.1f}, batch {args.batch_size}, {args.batches} timed batches"
    )
    print(
        f"{'model':15s} {'dim':>5s} {'input':>8s} {'build s':>8s} {'faces/s':>9s} {'LFW min':>8s}"
    )
    rng = np.random.default_rng(0)
    total = 0.0
    for key in args.models:
        spec = get_spec(key)
        h, w = spec.input_size
        faces = rng.integers(0, 256, (args.batch_size, h, w, 3), dtype=np.uint8)
        t0 = time.perf_counter()
        emb = get_embedder(key, threads=args.threads, batch_size=args.batch_size)
        emb.embed(faces)  # warm-up
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(args.batches):
            emb.embed(faces)
        dt = time.perf_counter() - t0
        rate = args.batches * args.batch_size / dt
        total += LFW_IMAGES / rate
        print(
            f"{key:15s} {spec.dim:5d} {h:>4d}x{w:<3d} {build:8.1f} {rate:9.1f} "
            f"{LFW_IMAGES / rate / 60:8.1f}",
            flush=True,
        )
    print(
        f"# network time for {LFW_IMAGES} images x {len(args.models)} models: {total / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
