"""Pack an embedding store into the default store shipped with facebridge.

Usage::

    python scripts/pack_default_store.py SRC_STORE [--pairs PAIRS] [--out src/facebridge/data/lfw]

Copies every model of ``SRC_STORE`` (embeddings and recorded failures, manifests kept) into a
fresh store at ``--out`` and compacts each model to one chunk (``--dtype``, default float32:
float16 moves some reported accuracies by more than 0.05 point, see benchmarks/check_float16.py).  With ``--pairs`` only the
images that pair list uses are kept (LFW View 2 ``pairs.txt``: 7,701 images).  The result is what
``facebridge.store.default_store()`` opens and ``facebridge reproduce`` analyses.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from facebridge.protocols import load_protocol
from facebridge.store import EmbeddingStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("--pairs", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("src/facebridge/data/lfw"))
    ap.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    args = ap.parse_args()

    src = EmbeddingStore(args.src)
    keep: set[str] | None = None
    if args.pairs is not None:
        keep = set(load_protocol("auto", args.pairs).items())
    tmp = args.out.with_name(args.out.name + ".packing")
    if tmp.exists():
        shutil.rmtree(tmp)
    dst = EmbeddingStore.create(tmp)
    for model in src.models():
        emb = src.load(model)
        man = emb.manifest
        ids = np.asarray(emb.ids)
        mask = np.ones(len(ids), bool) if keep is None else np.isin(ids, list(keep))
        with dst.writer(
            model,
            dim=int(man["dim"]),
            weights_sha256=man["weights_sha256"],
            detector=man["detector"],
            extra={**man.get("extra", {}), "source_created": man.get("created")},
            unit_norm=man.get("unit_norm", True),
        ) as w:
            kept = [str(i) for i in ids[mask]]
            w.add(kept, emb.vectors[mask], sources=[emb.sources.get(i, "") for i in kept])
            for item, reason in sorted(emb.failures.items()):
                if keep is None or item in keep:
                    w.add_failure(item, reason, source=emb.sources.get(item, ""))
        dst.compact(model, dtype=args.dtype)
        print(f"{model}: {int(mask.sum())} embeddings, {len(emb.failures)} failures")
    for detector in src.detectors():
        det = src.load_detections(detector)
        ids = np.asarray(det.ids)
        mask = np.ones(len(ids), bool) if keep is None else np.isin(ids, list(keep))
        with dst.detections_writer(detector) as w:
            w.add(
                [str(i) for i in ids[mask]],
                det.boxes[mask],
                det.landmarks[mask],
                det.scores[mask],
                det.fallback[mask],
            )
            for item, reason in sorted(det.failures.items()):
                if keep is None or item in keep:
                    w.add_failure(item, reason)
        print(
            f"detections {detector}: {int(mask.sum())} ({int(det.fallback[mask].sum())} fallback)"
        )
    for lock in tmp.rglob("writer.lock"):
        lock.unlink()
    if args.out.exists():
        shutil.rmtree(args.out)
    tmp.rename(args.out)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"packed into {args.out}: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
