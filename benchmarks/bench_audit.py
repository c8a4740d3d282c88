"""Time the privacy audit over every directed pair (``facebridge audit --all``).

Runs on the shipped LFW store when it is present (``--store`` to point elsewhere), otherwise on
synthetic embeddings of the same size: LFW's identity structure (``lfw-names.txt`` when the shared
data is found, else a Zipf-like stand-in with 13,233 images of 5,749 people) and the six shipped
models' dimensions (512, 128, 128, 128, 192, 1024).  Prints the wall time and the summary lines.

    python benchmarks/bench_audit.py [--store DIR] [--synthetic] [--draws 5] [--items 13233]

Measured (2026-11-28, the shared 2-core dev box under a load average of 8-11 from other jobs, so
wall times there are not meaningful; single-threaded CPU time is):

* shipped LFW store (7,701 images x 6 models; 780 enrolled identities, 1,721 probes), 30
  directed pairs, 5 draws x 8 p values (+ linkability), one BLAS thread: 32.5 s user + 1.3 s
  sys CPU in all (about 1.1 s per pair), i.e. about 17 s of wall time on two idle cores with
  ``--jobs 2``.  With two BLAS threads per process instead, the same run on the busy box took
  over 16 minutes (thread contention on mid-sized products): hence ``blas_threads=1``.
  ``facebridge audit --all --out DIR`` (2 jobs, figures included) on the busy box: 78 s for the
  audit, 124 s wall with the 63 figures.
* synthetic, 13,233 images, dims of the six models: 48.8 s user + 2.4 s sys CPU (about 1.7 s
  per pair; 3,281 probes x 840 identities).  Most of it is the float32 matrix products of
  mapping the probes and searching them against the gallery.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np

DIMS = {
    "facenet-casia": 512,
    "facenet-ms1m": 128,
    "dlib-resnet": 128,
    "sface": 128,
    "mobilefacenet": 192,
    "faceres": 1024,
}


class _MemoryStore:
    """The two store methods the audit uses, over in-memory embeddings."""

    def __init__(self, emb: dict[str, tuple[tuple[str, ...], np.ndarray]]) -> None:
        self._emb = emb

    def models(self) -> list[str]:
        return sorted(self._emb)

    def load(self, model: str) -> tuple[tuple[str, ...], np.ndarray]:
        return self._emb[model]


def _lfw_counts(n_items: int) -> list[tuple[str, int]]:
    from facebridge.config import find_data_dir

    d = find_data_dir()
    names = d / "lfw" / "lfw-names.txt" if d else None
    if names is not None and names.is_file():
        out = []
        for line in names.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                out.append((parts[0], int(parts[1])))
        return out
    rng = np.random.default_rng(0)
    counts = np.maximum(1, (rng.zipf(2.2, size=5749))).tolist()
    return [(f"Person_{i:04d}", int(c)) for i, c in enumerate(counts)][: max(1, n_items)]


def synthetic_store(n_items: int = 13233, latent: int = 96, seed: int = 0) -> _MemoryStore:
    """LFW-sized planted embeddings for the six models' dimensions."""
    rng = np.random.default_rng(seed)
    ids: list[str] = []
    who: list[int] = []
    for k, (name, count) in enumerate(_lfw_counts(n_items)):
        for j in range(count):
            ids.append(f"{name}/{name}_{j + 1:04d}.jpg")
            who.append(k)
    ids, who_arr = ids[:n_items], np.array(who[:n_items])
    z = rng.standard_normal((who_arr.max() + 1, latent))
    x = z[who_arr] + 0.6 * rng.standard_normal((len(ids), latent))
    emb = {}
    for m, d in DIMS.items():
        a = rng.standard_normal((latent, d)) / math.sqrt(latent)
        e = np.tanh(x @ a) + 0.1 * rng.standard_normal((len(ids), d))
        emb[m] = (tuple(ids), (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32))
    return _MemoryStore(emb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--synthetic", action="store_true", help="ignore the shipped store")
    ap.add_argument("--items", type=int, default=13233, help="synthetic: number of images")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--jobs", type=int, default=2, help="pairs in parallel threads (2)")
    ap.add_argument("--blas-threads", type=int, default=1, help="BLAS threads per job (1)")
    args = ap.parse_args()

    from facebridge.errors import FacebridgeError
    from facebridge.experiments.privacy import audit_all
    from facebridge.store import EmbeddingStore, default_store

    store = None
    what = ""
    if not args.synthetic:
        try:
            store = EmbeddingStore(args.store) if args.store else default_store()
            what = f"store {store.root}"
        except FacebridgeError as exc:  # no shipped store: synthetic data of the same size
            print(f"(no store: {exc}; using synthetic embeddings)")
    if store is None or len(store.models()) < 2:
        t = time.perf_counter()
        store = synthetic_store(args.items)
        what = f"synthetic, {args.items} images, dims {list(DIMS.values())}"
        print(f"built synthetic embeddings in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    c = time.process_time()
    results = audit_all(
        store,
        pairs=args.pairs,
        n_draws=args.draws,
        n_jobs=args.jobs,
        blas_threads=args.blas_threads,
    )
    dt = time.perf_counter() - t
    cpu = time.process_time() - c
    for r in results:
        print(r.summary)
    print(
        f"audit --all: {len(store.models())} models, {len(results)} directed pairs, "
        f"{args.draws} draws x {len(results[0].attack.p)} p values: {dt:.1f} s wall, "
        f"{cpu:.1f} s CPU ({args.jobs} jobs x {args.blas_threads} BLAS threads; "
        f"load average {os.getloadavg()[0]:.1f}; {what})"
    )


if __name__ == "__main__":
    main()
