"""1:N search at 1,000,000 templates and the throughput of ``migrate apply``.

The gallery: the enrolled LFW templates of one model (the first image of every identity in the
shipped store) plus SYNTHETIC distractors up to ``--n`` templates, drawn from a Gaussian with the
mean and covariance of that model's LFW embeddings and normalised to unit length (there is no
million-face data set here; the distractors are labelled synthetic in the output).  Probes: the
other LFW images of the enrolled identities.  Reported: build time, queries/s, index memory
(serialised size) for the exact flat index and the approximate IVF (and HNSW with ``--hnsw``),
recall@1 of the approximate index against exact, and rank-1 of the LFW probes.

Migration throughput: ``migrate apply`` (read a store chunk, map, write an atomic chunk) on a
synthetic store of ``--n-apply`` templates, 512 -> 512 and 1024 -> 128.

    PYTHONPATH=src python benchmarks/bench_migrate.py [--n 1000000] [--model facenet-casia]
        [--queries 1000] [--nlist 1024] [--nprobe 16] [--hnsw] [--n-apply 100000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import tempfile
import time

import numpy as np


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        name = next(ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln)
    except (OSError, StopIteration):
        name = platform.processor()
    return f"{name}, {os.cpu_count()} cores"


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _gallery(model: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    from facebridge.experiments.migration import lfw_identity
    from facebridge.metrics.identification import normalize_rows
    from facebridge.store import default_store

    emb = default_store().load(model)
    V = normalize_rows(emb.vectors)
    labels = np.array([lfw_identity(i) for i in emb.ids])
    _, first = np.unique(labels, return_index=True)
    is_gallery = np.zeros(len(labels), bool)
    is_gallery[first] = True
    probes = np.flatnonzero(~is_gallery)
    enrolled = V[first]
    mu = V.mean(axis=0)
    L = np.linalg.cholesky(np.cov(V, rowvar=False) + 1e-8 * np.eye(V.shape[1]))
    G = np.empty((n, V.shape[1]), dtype=np.float32)
    G[: len(first)] = enrolled
    rng = np.random.default_rng(seed)
    step = 100_000
    for s in range(len(first), n, step):
        e = min(n, s + step)
        z = rng.standard_normal((e - s, V.shape[1]), dtype=np.float32) @ L.T.astype(np.float32)
        z += mu.astype(np.float32)
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        G[s:e] = z
    # the probe's true gallery row: its identity's enrolled template
    row_of = {labels[j]: k for k, j in enumerate(first)}
    truth = np.array([row_of[labels[p]] for p in probes])
    return G, V[probes], truth, len(first)


def _index_bytes(index: object) -> int:
    import faiss

    return int(faiss.serialize_index(index._index).nbytes)  # type: ignore[attr-defined]


def bench_search(args: argparse.Namespace) -> dict:
    from facebridge.index import TemplateIndex, recall_at_1

    t = time.perf_counter()
    G, P, truth, n_enrolled = _gallery(args.model, args.n, args.seed)
    gen_s = time.perf_counter() - t
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(P), size=min(args.queries, len(P)), replace=False)
    Q, truth = P[pick], truth[pick]
    out: dict = {
        "gallery": {
            "n": int(G.shape[0]),
            "dim": int(G.shape[1]),
            "model": args.model,
            "lfw_enrolled": n_enrolled,
            "synthetic_distractors": int(G.shape[0] - n_enrolled),
            "generate_s": gen_s,
        },
        "queries": len(Q),
        "indexes": {},
    }
    nprobes = [int(x) for x in str(args.nprobe).split(",")]
    kinds = [("flat", {}), ("ivf", {"nlist": args.nlist, "nprobe": nprobes[0]})]
    if args.hnsw:
        kinds.append(("hnsw", {}))
    t = time.perf_counter()
    np_idx = TemplateIndex(backend="numpy").fit(G)
    np_build = time.perf_counter() - t
    t = time.perf_counter()
    _, np_rows = np_idx.search(Q, k=1)
    out["indexes"]["flat-numpy"] = {
        "build_s": np_build,
        "queries_per_s": len(Q) / (time.perf_counter() - t),
        "index_bytes": int(G.nbytes),
        "lfw_rank1": float(np.mean(np_rows[:, 0] == truth)),
    }
    print("flat-numpy", json.dumps(out["indexes"]["flat-numpy"]), flush=True)
    del np_idx
    exact = None
    for kind, opts in kinds:
        t = time.perf_counter()
        idx = TemplateIndex(kind=kind, backend="faiss", **opts).fit(G)
        build = time.perf_counter() - t
        t = time.perf_counter()
        _, rows = idx.search(Q, k=1)
        q_s = len(Q) / (time.perf_counter() - t)
        if exact is None:
            exact = rows
        entry = {
            "build_s": build,
            "queries_per_s": q_s,
            "index_bytes": _index_bytes(idx),
            "recall_at_1_vs_exact": recall_at_1(rows, exact),
            "lfw_rank1": float(np.mean(rows[:, 0] == truth)),
            **opts,
        }
        out["indexes"][kind] = entry
        print(kind, json.dumps(entry), flush=True)
        if kind == "ivf":
            for nprobe in nprobes[1:]:
                idx._index.nprobe = nprobe
                t = time.perf_counter()
                _, rows = idx.search(Q, k=1)
                q_s = len(Q) / (time.perf_counter() - t)
                e = {
                    "queries_per_s": q_s,
                    "recall_at_1_vs_exact": recall_at_1(rows, exact),
                    "lfw_rank1": float(np.mean(rows[:, 0] == truth)),
                    "nlist": args.nlist,
                    "nprobe": nprobe,
                }
                out["indexes"][f"ivf-nprobe{nprobe}"] = e
                print(f"ivf nprobe={nprobe}", json.dumps(e), flush=True)
        del idx
    out["peak_rss_gb"] = _peak_rss_gb()
    return out


def bench_apply(n: int, d_in: int, d_out: int, seed: int) -> dict:
    from facebridge.app.migrate import apply_migration
    from facebridge.maps.artifact import MapArtifact, MapCard, ids_sha256
    from facebridge.maps.linear import LinearMap
    from facebridge.store import EmbeddingStore

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        src = EmbeddingStore.create(os.path.join(tmp, "src"))
        ids = [f"id{i:08d}" for i in range(n)]
        with src.writer(
            "old", dim=d_in, weights_sha256="a" * 64, detector="d", flush_every=50_000
        ) as w:
            for s in range(0, n, 50_000):
                w.add(
                    ids[s : s + 50_000],
                    rng.standard_normal((min(50_000, n - s), d_in), dtype=np.float32),
                )
        card = MapCard("old", "new", "a" * 64, "b" * 64, d_in, d_out, "lstsq", 1, ids_sha256(["x"]))
        card = MapCard(**{**card.to_dict(), "weights_file_sha256": "0" * 64})
        art = MapArtifact(LinearMap(rng.standard_normal((d_in, d_out)), np.zeros(d_out)), card)
        t = time.perf_counter()
        rep = apply_migration(art, EmbeddingStore(os.path.join(tmp, "dst")), store=src, model="old")
        dt = time.perf_counter() - t
        X = rng.standard_normal((n, d_in), dtype=np.float32)
        t = time.perf_counter()
        for s in range(0, n, 8192):
            art.apply(X[s : s + 8192])
        map_dt = time.perf_counter() - t
    entry = {
        "n": n,
        "d_in": d_in,
        "d_out": d_out,
        "seconds": dt,
        "templates_per_s": rep.n_migrated / dt,
        "map_only_templates_per_s": n / map_dt,
    }
    print("apply", json.dumps(entry), flush=True)
    return entry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--model", default="facenet-casia")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", default="16", help="IVF cells visited; comma-separated to sweep")
    ap.add_argument("--hnsw", action="store_true")
    ap.add_argument("--n-apply", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import faiss

    res = {
        "machine": _cpu(),
        "faiss": faiss.__version__,
        "faiss_threads": faiss.omp_get_max_threads(),
        "search": bench_search(args),
        "apply": [
            bench_apply(args.n_apply, 512, 512, args.seed),
            bench_apply(args.n_apply, 1024, 128, args.seed),
        ],
    }
    text = json.dumps(res, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
