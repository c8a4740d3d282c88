"""Two Ray nodes on one machine: placement over both, kill -9 of a worker and of the driver, resume.

Run by hand (not a test):

    python benchmarks/ray_cluster.py [--n 200] [--batch-size 8] [--models sface,mobilefacenet] [--ref STORE]

Starts ``ray start --head --num-cpus 1 --port P`` and ``ray start --address 127.0.0.1:P
--num-cpus 1`` (two raylets: two Ray nodes of one CPU each), then

1. runs a driver (a subprocess) calling ``embed_images_ray`` on the cluster with 2 workers; once
   the first model's directory holds ``--kill-after`` chunks, kills one embedding actor's process
   with ``kill -9`` (Ray restarts it and retries its batch), then, a few chunks later, kills the
   driver with ``kill -9`` (``--kill-in detect``: a detection task's worker and the driver, during
   detection);
2. runs the same call again, to the end, and prints its summary: ``skipped`` is what the killed
   run had stored, and ``placement`` the items each node processed per stage;
3. counts every chunk's ids: each item once per directory (nothing duplicated, nothing missing);
   with ``--ref`` (a local-engine store of the same images, e.g. bench_ray.py's ``local-1t``),
   compares the vectors and failures.

Both nodes are stopped (``ray stop``) at the end, also after an error.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SRC = str(Path(__file__).resolve().parents[1] / "src")

DRIVER = """
import json, sys
from facebridge.extract_ray import embed_images_ray
root, store, address, models, ids, batch = sys.argv[1:7]
s = embed_images_ray(root, store, models=models.split(","), items=json.load(open(ids)),
                     address=address, workers=2, progress=False, batch_size=int(batch),
                     detect_batch_size=int(batch))
print(json.dumps(s.as_dict()))
"""


def _chunks(d: Path) -> int:
    return len(list(d.glob("chunk-*.npz")))


def _chunk_ids(d: Path) -> list[str]:
    out: list[str] = []
    for p in sorted(d.glob("chunk-*.npz")):
        with np.load(p, allow_pickle=False) as z:
            out += z["ids"].tolist() + z["failed_ids"].tolist()
    return out


def _worker_pids(stage: str) -> list[int]:
    pattern = "^ray::_detect_batch_task" if stage == "detect" else "^ray::_EmbedWorker"
    r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=8, help="images per batch (and chunk)")
    ap.add_argument("--models", default="sface,mobilefacenet")
    ap.add_argument("--port", type=int, default=6391)
    ap.add_argument("--kill-after", type=int, default=2, help="chunks before the worker kill")
    ap.add_argument(
        "--kill-in",
        choices=["detect", "embed"],
        default="embed",
        help="kill a detection task's worker and the driver during detection, or an embedding "
        "actor and the driver during the first model",
    )
    ap.add_argument("--ref", help="a local-engine store of the same images to compare with")
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_ray import _images

    from facebridge.store import EmbeddingStore

    root, ids = _images(500)
    ids = ids[: args.n]
    models = args.models.split(",")
    work = Path(tempfile.mkdtemp(prefix="ray-cluster-"))
    (work / "ids.json").write_text(json.dumps(ids))
    store = work / "store"
    ray_cli = str(Path(sys.executable).parent / "ray")
    # the nodes and the drivers share the token of ~/.ray/auth_token (Ray's token authentication)
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    address = f"127.0.0.1:{args.port}"
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    try:
        subprocess.run(
            [ray_cli, "start", "--head", "--port", str(args.port), "--node-ip-address",
             "127.0.0.1", "--include-dashboard=false", *common],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [ray_cli, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        driver = [sys.executable, "-c", DRIVER, str(root), str(store), address]
        driver += [",".join(models), str(work / "ids.json"), str(args.batch_size)]
        print(f"cluster at {address}: 2 nodes x 1 CPU; {len(ids)} images; store {store}")

        # 1. a driver, a worker killed, the driver killed
        t0 = time.perf_counter()
        first = store / ("_detections/mtcnn" if args.kill_in == "detect" else models[0])
        proc = subprocess.Popen(driver, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        killed_worker = None
        while proc.poll() is None:
            n = _chunks(first)
            if killed_worker is None and n >= args.kill_after:
                pids = _worker_pids(args.kill_in)
                if pids:
                    killed_worker = pids[0]
                    os.kill(killed_worker, signal.SIGKILL)
                    print(f"t={time.perf_counter() - t0:.1f}s: kill -9 worker {killed_worker}")
            if killed_worker is not None and n >= args.kill_after + 3:
                proc.kill()
                print(f"t={time.perf_counter() - t0:.1f}s: kill -9 driver {proc.pid}")
                break
            time.sleep(0.1)
        proc.communicate()
        print(f"driver exit status {proc.returncode}")
        st = EmbeddingStore(store)
        before = {m: len(st.done_ids(m)) for m in models if (store / m).is_dir()}
        before["detections"] = len(st.done_detection_ids("mtcnn"))
        print(f"stored when the driver died: {before}")

        # 2. the same call, to the end
        t1 = time.perf_counter()
        done = subprocess.run(driver, env=env, capture_output=True, text=True, check=True)
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"rerun: {time.perf_counter() - t1:.1f}s")
        for stage in ("detection", *models):
            s = summary["detection"] if stage == "detection" else summary["models"][stage]
            print(f"  {stage:<14} done {s['ok'] + s['fallback'] + s['failed']:>4}  "
                  f"skipped {s['skipped']:>4}  failed {s['failed']}")  # fmt: skip
        print(f"  placement (node id -> items): {json.dumps(summary['placement'])}")
        import ray

        ray.init(address=address, log_to_driver=False)
        for node in ray.nodes():
            role = "head" if "node:__internal_head__" in node["Resources"] else "worker"
            print(f"  node {node['NodeID']}: {role}, alive {node['Alive']}")
        ray.shutdown()
        print(f"  store totals: {json.dumps(summary['store_totals'])}")

        # 3. nothing duplicated, nothing missing; equal to the reference
        for sub in [*models, "_detections/mtcnn"]:
            got = _chunk_ids(store / sub)
            print(f"  {sub:<18} {len(got)} records in {_chunks(store / sub)} chunks, "
                  f"{len(set(got))} distinct, complete: {sorted(got) == sorted(ids)}")  # fmt: skip
        if args.ref:
            ref = EmbeddingStore(args.ref)
            for m in models:
                a, b = ref.load(m), st.load(m)
                ra, rb = a.index(), b.index()
                common_ids = [i for i in ids if i in ra]
                same = all(i in rb for i in common_ids) and set(b.ids) <= set(ra)
                diff = max(
                    float(np.abs(a.vectors[ra[i]] - b.vectors[rb[i]]).max()) for i in common_ids
                )
                fa = {i: r for i, r in a.failures.items() if i in set(ids)}
                print(f"  vs local {m}: same ids {same}, max |diff| {diff:.2e}, "
                      f"same failures {fa == b.failures}")  # fmt: skip
    finally:
        subprocess.run([ray_cli, "stop"], env=env, capture_output=True)
        print("ray stop: done")


if __name__ == "__main__":
    main()
