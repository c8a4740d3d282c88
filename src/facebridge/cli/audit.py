"""``facebridge audit``: how far leaked templates of one model can be re-identified and linked.

    facebridge audit --source facenet-casia --target sface [--pairs 400] [--out DIR]
    facebridge audit --all [--store DIR] [--out DIR]

Prints one plain-language line per directed pair; with ``--out`` also writes ``audit.json``,
``privacy.md`` and the figures (rank-1 vs paired images, score distributions with ``D<->(s)``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from facebridge.cli._common import (
    add_json_option,
    add_models_option,
    add_seed_option,
    add_store_option,
    add_threads_option,
    check_out,
    check_threads,
    parse_ints,
    parse_models,
    print_json,
)
from facebridge.errors import InvalidInputError

HELP = "privacy audit: re-identify and link leaked templates of a model through a linear map"


def register(subparsers: argparse._SubParsersAction) -> None:
    from facebridge.experiments.privacy import DEFAULT_P_VALUES, MAP_NAMES

    p = subparsers.add_parser("audit", help=HELP, description=HELP + ". See docs/PRIVACY.md.")
    add_store_option(p)
    p.add_argument("--source", help="model A whose templates leaked (the 'unknown' system)")
    p.add_argument("--target", help="model B the attacker runs, with a labelled gallery")
    p.add_argument(
        "--all", dest="all_pairs", action="store_true", help="audit every directed pair of models"
    )
    add_models_option(
        p, help="comma-separated models for --all (default: every model of the store)"
    )
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
        "--few-pairs",
        metavar="K,...",
        default="",
        help="add the few-pairs subsection: rank-1 and D_sys with only K paired images, with "
        "and without unpaired photos (e.g. 0,10,50; about 10 s per pair and K)",
    )
    p.add_argument(
        "--method", default="hist", choices=("hist", "kde"), help="score density estimate (hist)"
    )
    add_seed_option(p)
    p.add_argument(
        "--jobs",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="pairs audited in parallel with --all, each with --threads (default: min(4, CPUs))",
    )
    add_threads_option(p, default=1)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="write audit.json, privacy.md, figures",
    )
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_out(args.out)
    from facebridge.app import open_store
    from facebridge.app.audit import run_audit, write_audit

    if args.all_pairs and (args.source or args.target):
        raise InvalidInputError("--all audits every pair: drop --source/--target (or drop --all)")
    if not args.all_pairs and not (args.source and args.target):
        raise InvalidInputError("give --source A and --target B, or --all for every pair")
    if args.pairs < 2:
        raise InvalidInputError(f"--pairs must be >= 2, got {args.pairs}")
    if args.draws < 1:
        raise InvalidInputError(f"--draws must be >= 1, got {args.draws}")
    if args.jobs < 1:
        raise InvalidInputError(f"--jobs must be >= 1, got {args.jobs}")
    check_threads(args.threads)
    few = parse_ints(args.few_pairs, "--few-pairs") if args.few_pairs else []
    if any(k < 0 for k in few):  # checked before the audit: a bad value costs no work
        raise InvalidInputError(f"--few-pairs takes numbers of pairs >= 0, got {args.few_pairs!r}")
    models = parse_models(args.models)
    store = open_store(args.store, hint="give an existing --store directory")
    options = {
        "p_values": parse_ints(args.p_values, "--p-values"),
        "n_draws": args.draws,
        "map": args.map,
        "alpha": args.alpha,
        "seed": args.seed,
        "fpir": args.fpir,
        "method": args.method,
    }
    run_ = run_audit(
        store,
        None if args.all_pairs else [(args.source, args.target)],
        models,
        pairs=args.pairs,
        jobs=args.jobs,
        threads=args.threads,
        few_pairs=few,
        **options,
    )
    if args.out is not None:
        write_audit(args.out, run_)
    if args.json:
        print_json(run_.payload)
    else:
        for r in run_.results:
            print(r.summary)
        if "few_pairs" in run_.payload:
            from facebridge.report.fewpairs import audit_fewpairs_section

            print(audit_fewpairs_section(run_.payload["few_pairs"]))
        where = f"; wrote {args.out}" if args.out is not None else ""
        elapsed = run_.payload["elapsed_s"]
        print(f"{len(run_.results)} pair(s) audited in {elapsed:.1f} s{where}", file=sys.stderr)
    return 0
