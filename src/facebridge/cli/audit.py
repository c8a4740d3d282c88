"""``facebridge audit``: how far leaked templates of one model can be re-identified and linked.

    facebridge audit --source facenet-casia --target sface [--pairs 400] [--out DIR]
    facebridge audit --all [--store DIR] [--out DIR]

Prints one plain-language line per directed pair; with ``--out`` also writes ``audit.json``,
``privacy.md`` and the figures (rank-1 vs paired images, score distributions with ``D<->(s)``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from facebridge.errors import InvalidInputError, StoreError

if TYPE_CHECKING:
    from facebridge.store import EmbeddingStore

HELP = "privacy audit: re-identify and link leaked templates of a model through a linear map"


def register(subparsers: argparse._SubParsersAction) -> None:
    from facebridge.experiments.privacy import DEFAULT_P_VALUES, MAP_NAMES

    p = subparsers.add_parser("audit", help=HELP, description=HELP + ". See docs/PRIVACY.md.")
    p.add_argument(
        "--store", type=Path, default=None, help="embedding store (default: the shipped LFW store)"
    )
    p.add_argument("--source", help="model A whose templates leaked (the 'unknown' system)")
    p.add_argument("--target", help="model B the attacker runs, with a labelled gallery")
    p.add_argument(
        "--all", dest="all_pairs", action="store_true", help="audit every directed pair of models"
    )
    p.add_argument("--models", help="comma-separated models for --all (default: all in the store)")
    p.add_argument("--pairs", type=int, default=400, help="headline number of paired images (400)")
    p.add_argument("--draws", type=int, default=5, help="random draws per point of the curve (5)")
    p.add_argument(
        "--p-values",
        default=",".join(map(str, DEFAULT_P_VALUES)),
        help="numbers of paired images for the curve (comma-separated)",
    )
    p.add_argument("--map", default="ridge", choices=MAP_NAMES, help="map family (ridge)")
    p.add_argument("--alpha", type=float, default=1.0, help="ridge regularisation (1.0)")
    p.add_argument("--fpir", type=float, default=0.01, help="open-set false alarm rate (0.01)")
    p.add_argument(
        "--method", default="hist", choices=("hist", "kde"), help="score density estimate (hist)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--jobs",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="pairs audited in parallel threads with --all (default: min(4, CPUs))",
    )
    p.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads per job (default 1: fastest on a busy machine)",
    )
    p.add_argument("--out", type=Path, default=None, help="write audit.json, privacy.md, figures")
    p.add_argument("--json", action="store_true", help="print the JSON result instead of lines")
    p.set_defaults(func=run)


def _ints(text: str, option: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InvalidInputError(
            f"{option} must be comma-separated integers, e.g. 10,100,400; got {text!r}"
        ) from None


def _open_store(path: Path | None) -> EmbeddingStore:
    from facebridge.store import EmbeddingStore, default_store

    if path is None:
        return default_store()
    if not path.is_dir():
        raise StoreError(f"no store at {path}; give an existing --store directory")
    return EmbeddingStore(path)


def run(args: argparse.Namespace) -> int:
    from facebridge.experiments.privacy import audit, audit_all

    if args.all_pairs and (args.source or args.target):
        raise InvalidInputError("--all audits every pair: drop --source/--target (or drop --all)")
    if not args.all_pairs and not (args.source and args.target):
        raise InvalidInputError("give --source A and --target B, or --all for every pair")
    if args.pairs < 2:
        raise InvalidInputError(f"--pairs must be >= 2, got {args.pairs}")
    if args.draws < 1:
        raise InvalidInputError(f"--draws must be >= 1, got {args.draws}")
    if args.jobs < 1 or args.blas_threads < 1:
        raise InvalidInputError("--jobs and --blas-threads must be >= 1")
    store = _open_store(args.store)
    opts = {
        "p_values": _ints(args.p_values, "--p-values"),
        "n_draws": args.draws,
        "map": args.map,
        "alpha": args.alpha,
        "seed": args.seed,
        "fpir": args.fpir,
        "method": args.method,
    }
    t0 = time.perf_counter()
    if args.all_pairs:
        models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
        results = audit_all(
            store,
            models,
            pairs=args.pairs,
            n_jobs=args.jobs,
            blas_threads=args.blas_threads,
            **opts,
        )
    else:
        results = [
            audit(
                store,
                args.source,
                args.target,
                pairs=args.pairs,
                blas_threads=args.blas_threads,
                **opts,
            )
        ]
    elapsed = time.perf_counter() - t0
    payload = {
        "store": str(getattr(store, "root", store)),
        "settings": {**opts, "pairs": args.pairs},
        "elapsed_s": elapsed,
        "summary": [r.summary for r in results],
        "results": [r.to_dict() for r in results],
    }
    if args.out is not None:
        _write(args.out, results, payload)
    if args.json:
        json.dump(payload, sys.stdout, indent=1, allow_nan=True)
        print()
    else:
        for r in results:
            print(r.summary)
        where = f"; wrote {args.out}" if args.out is not None else ""
        print(f"{len(results)} pair(s) audited in {elapsed:.1f} s{where}", file=sys.stderr)
    return 0


def _write(out: Path, results: list, payload: dict) -> None:
    from facebridge.report.privacy import linkability_figure, privacy_section, rank1_figure

    out.mkdir(parents=True, exist_ok=True)
    (out / "audit.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    figdir = out / "figures"
    figdir.mkdir(exist_ok=True)
    for r in results:
        stem = f"{r.source}__{r.target}"
        (figdir / f"rank1_vs_p_{stem}.png").write_bytes(rank1_figure(r))
        (figdir / f"linkability_{stem}.png").write_bytes(linkability_figure(r))
    section = privacy_section(results)
    for name, data in section.figures.items():
        (out / name).write_bytes(data)
    (out / "privacy.md").write_text(f"## {section.title}\n\n{section.markdown}\n", encoding="utf-8")
