"""``facebridge few-pairs``: maps from almost no pairs, with and without unpaired photos.

    facebridge few-pairs [--store DIR] [--models a,b,...] [--k 0,1,5,10,25,50,100,400]
                         [--settings a,b,c] [--reid-k 0,10,50] [--out DIR] [--json]

For every directed pair of the models: the mapped LFW View 2 accuracy and the re-identification
rank-1 against the number of seed pairs ``k``, in three settings of the unpaired pools (see
:mod:`facebridge.experiments.fewpairs`).  Prints the k-table (median / worst over the strong
pairs); ``--out`` writes ``fewpairs.json`` and ``fewpairs.md``; ``--json`` prints the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from facebridge.cli._common import check_out, parse_ints
from facebridge.errors import InvalidInputError

HELP = "maps from few pairs: accuracy and re-identification against k, with unpaired photos"


def register(subparsers: argparse._SubParsersAction) -> None:
    from facebridge.experiments.fewpairs import K_VALUES, REID_K, SETTINGS

    p = subparsers.add_parser("few-pairs", help=HELP, description=HELP + ". See docs/FEWPAIRS.md.")
    p.add_argument("--store", type=Path, default=None, help="embedding store (default: shipped)")
    p.add_argument("--models", help="comma-separated models (default: all in the store)")
    p.add_argument(
        "--strong-only",
        action="store_true",
        help="only the directed pairs of strong models (native >= 98.5 %%)",
    )
    p.add_argument("--k", default=",".join(map(str, K_VALUES)), help="numbers of seed pairs")
    p.add_argument("--settings", default=",".join(SETTINGS), help="pool settings (a,b,c)")
    p.add_argument(
        "--reid-k", default=",".join(map(str, REID_K)), help="k for re-identification ('' skips)"
    )
    p.add_argument(
        "--k0-inits", default="", help="unsupervised starts to compare at k = 0 (e.g. gw,moments)"
    )
    p.add_argument("--n-iter", type=int, default=10, help="self-learning iterations (10)")
    p.add_argument("--max-pool", type=int, default=4000, help="pool subsample size (4000)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the seed-pair draws and pools (default 0)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write fewpairs.json and fewpairs.md; cells computed are kept in "
        "fewpairs-cells.jsonl there, and a rerun with the same --out reuses them",
    )
    p.add_argument(
        "--cached-only",
        action="store_true",
        help="compute nothing: the tables from the cells already in --out (the rest shown as —)",
    )
    p.add_argument("--json", action="store_true", help="print the JSON result")
    p.set_defaults(func=run)


class _Cells(dict):
    """Computed cells, one JSON line each in ``path``: read at start, appended as they come.

    A line cut short by a killed run is ignored (that cell is computed again).
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    key, value = json.loads(line)
                except (ValueError, TypeError):
                    continue
                super().__setitem__(key, float("nan") if value is None else float(value))

    def __setitem__(self, key: str, value: float) -> None:
        super().__setitem__(key, value)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps([key, None if value != value else value]) + "\n")


def run(args: argparse.Namespace) -> int:
    check_out(args.out)
    if args.cached_only and args.out is None:
        raise InvalidInputError("--cached-only reads the cells of --out DIR; give --out")
    from facebridge.experiments.core import native_accuracy, pair_data
    from facebridge.experiments.fewpairs import few_pairs
    from facebridge.protocols import default_lfw_pairs
    from facebridge.report.fewpairs import fewpairs_section
    from facebridge.store import EmbeddingStore, default_store
    from facebridge.vocabulary import STRONG_NATIVE, directed_pairs

    store = default_store() if args.store is None else EmbeddingStore(args.store)
    models = [m for m in (args.models or "").split(",") if m] or list(store.models())
    data = pair_data(store, default_lfw_pairs(), models)
    if args.strong_only:
        models = [m for m in models if native_accuracy(data, m).mean >= STRONG_NATIVE]
    vectors = {m: store.load(m) for m in models}

    def progress(stage: str, done: int, total: int) -> None:
        print(f"\r{stage}: {done}/{total}", end="", file=sys.stderr, flush=True)

    result = few_pairs(
        data,
        vectors,
        pairs=directed_pairs(models),
        ks=parse_ints(args.k, "--k"),
        settings=[s for s in args.settings.split(",") if s],
        reid_ks=parse_ints(args.reid_k, "--reid-k"),
        k0_inits=[s for s in args.k0_inits.split(",") if s],
        seed=args.seed,
        n_iter=args.n_iter,
        max_pool=args.max_pool,
        progress=progress,
        cache=None if args.out is None else _Cells(args.out / "fewpairs-cells.jsonl"),
        cached_only=args.cached_only,
    )
    print(file=sys.stderr)
    out = result.to_dict()
    text = fewpairs_section(out)
    if args.out is not None:
        from facebridge.report.write import atomic_write

        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write(args.out / "fewpairs.json", json.dumps(out, indent=1) + "\n")
        atomic_write(args.out / "fewpairs.md", text)
    print(json.dumps(out, indent=1) if args.json else text)
    if result.n_missing:
        print(
            f"{result.n_missing} cells not computed yet, shown as —; rerun without --cached-only "
            "(same --out) to compute them",
            file=sys.stderr,
        )
    return 0
