"""Extraction throughput, local engine vs the Ray engine, and the stores they write compared.

Run by hand (not a test):

    python benchmarks/bench_ray.py [--n 500] [--models sface,mobilefacenet] [--workers 1,2]
    python benchmarks/bench_ray.py --address HOST:PORT --runs ray   # an existing cluster

On ``--n`` LFW images (every k-th of the sorted list, so many people) it runs into fresh stores,
one after the other: the local engine (``embed_images``, ``--local-threads`` runtime threads), then the Ray engine with each worker
count (a local Ray runtime with that many CPUs, started and stopped by the run; or the cluster at
``--address``).  It prints, per run, images/s per stage (detection; each model's align + embed)
and end to end (wall time of the call, Ray start-up included), the Ray nodes each stage ran on,
and for every Ray store the largest |difference| of its vectors from the local store's and
whether the failures are the same.  ``--json PATH`` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def _images(n: int) -> tuple[Path, list[str]]:
    from facebridge.config import data_dir
    from facebridge.extract import list_images

    base = data_dir()
    for root in (base / "lfw" / "lfw-deepfunneled", base / "fixtures" / "lfw-tiny" / "images"):
        if root.is_dir():
            ids = list_images(root)
            step = max(1, len(ids) // n)
            return root, ids[::step][:n]
    raise SystemExit("no LFW images found: set FACEBRIDGE_DATA")


def _compare(local: Path, other: Path, models: list[str], detector: str) -> dict:
    from facebridge.store import EmbeddingStore

    a, b = EmbeddingStore(local), EmbeddingStore(other)
    da, db = a.load_detections(detector), b.load_detections(detector)
    out = {
        "detections_same_ids": da.ids == db.ids,
        "detections_same_failures": da.failures == db.failures,
        "landmarks_max_diff": float(np.abs(da.landmarks - db.landmarks).max())
        if da.ids == db.ids and len(da)
        else None,
    }
    for m in models:
        ea, eb = a.load(m), b.load(m)
        same = ea.ids == eb.ids
        out[m] = {
            "same_ids": same,
            "same_failures": ea.failures == eb.failures,
            "n_failures": len(eb.failures),
            "max_abs_diff": float(np.abs(ea.vectors - eb.vectors).max()) if same else None,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--models", default="sface,mobilefacenet")
    ap.add_argument("--workers", default="1,2", help="Ray worker counts to run")
    ap.add_argument("--runs", default="local,ray", help="local, ray or both")
    ap.add_argument("--address", help="an existing Ray cluster (default: a local runtime per run)")
    ap.add_argument(
        "--local-threads",
        type=int,
        default=1,
        help="runtime threads of the local run (default 1, as in each Ray worker: the MTCNN "
        "and model numerics then match bit for bit)",
    )
    ap.add_argument("--detector", default="mtcnn")
    ap.add_argument("--keep", help="keep the stores under this folder")
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args()

    from facebridge.extract import embed_images
    from facebridge.extract_ray import embed_images_ray

    root, ids = _images(args.n)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    runs = args.runs.split(",")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-ray-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"{len(ids)} images from {root}; models {', '.join(models)}; stores in {work}")
    results: list[dict] = []

    def record(name: str, store: Path, fn) -> None:
        shutil.rmtree(store, ignore_errors=True)
        t0 = time.perf_counter()
        s = fn(store)
        wall = time.perf_counter() - t0
        row = {
            "run": name,
            "wall_s": round(wall, 2),
            "end_to_end_img_s": round(len(ids) / wall, 2),
            "detect_img_s": round(s.detection.rate, 2),
            **{f"{m}_img_s": round(s.models[m].rate, 2) for m in models},
            "placement": getattr(s, "placement", None),
        }
        results.append(row)
        print(json.dumps(row))

    local = work / "local"
    if "local" in runs:
        record(
            f"local-{args.local_threads}t",
            local,
            lambda st: embed_images(
                root,
                st,
                models=models,
                detector=args.detector,
                items=ids,
                progress=False,
                threads=args.local_threads,
            ),
        )
    if "ray" in runs:
        for w in (int(x) for x in args.workers.split(",")):
            cpus = None if args.address else w
            record(
                f"ray-{w}",
                work / f"ray-{w}",
                lambda st, w=w, cpus=cpus: embed_images_ray(
                    root, st, models=models, detector=args.detector, items=ids, progress=False,
                    address=args.address, workers=w, num_cpus=cpus,
                ),
            )  # fmt: skip
            if local.is_dir():
                cmp = _compare(local, work / f"ray-{w}", models, args.detector)
                results[-1]["vs_local"] = cmp
                print(json.dumps({"vs_local": cmp}))

    print()
    head = ["run", "wall s", "end to end img/s", "detect img/s", *[f"{m} img/s" for m in models]]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in results:
        cells = [r["run"], r["wall_s"], r["end_to_end_img_s"], r["detect_img_s"]]
        cells += [r[f"{m}_img_s"] for m in models]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
