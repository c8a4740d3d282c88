"""``facebridge compare-maps``: every (map, correspondence, score) recipe on the same folds.

    facebridge compare-maps [--store DIR] [--pairs FILE] [--protocol KIND] [--models a,b,c]
                            [--out DIR] [--maps m1,m2] [--correspondences c1,c2]
                            [--scores s1,s2] [--high-native 98.5] [--no-sweep] [--threads N]
                            [--device cpu|cuda]

Writes ``compare.json``, ``compare.md`` and ``compare_drops.png`` to ``--out`` and prints one line
per recipe (worst / median drop) plus the best recipe next to the paper's.
"""

from __future__ import annotations

import argparse
from typing import Any

from facebridge.cli._common import (
    add_device_option,
    add_json_option,
    add_models_option,
    add_out_option,
    add_pairs_options,
    add_progress_option,
    add_seed_option,
    add_store_option,
    add_threads_option,
    check_out,
    check_threads,
    parse_list,
    parse_models,
    print_json,
)
from facebridge.errors import InvalidInputError
from facebridge.vocabulary import PRECISIONS, STRONG_NATIVE


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compare-maps",
        help="compare map / correspondence / score recipes on every directed map (same folds)",
        description=(
            "Run the cross-model matrix for every (map, correspondence, score) recipe on the "
            "same folds: maps ridge (alpha=1, the paper), ridge-gcv, lstsq, procrustes, shared "
            "(CCA) and hub; correspondences matched-pairs (the paper) and same-image; scores "
            "cosine and symmetric. Reports the worst and median drop per recipe, the best recipe "
            "beside the paper's, and the correspondences the best one needs."
        ),
    )
    add_store_option(p)
    add_pairs_options(p)
    add_models_option(p)
    add_out_option(p, "facebridge-compare", "output folder")
    p.add_argument(
        "--maps", default=None, help="subset of ridge,ridge-gcv,lstsq,procrustes,shared,hub"
    )
    p.add_argument("--correspondences", default=None, help="subset of matched-pairs,same-image")
    p.add_argument("--scores", default=None, help="subset of cosine,symmetric")
    p.add_argument(
        "--high-native",
        type=float,
        default=100 * STRONG_NATIVE,
        metavar="PCT",
        help=f"native accuracy (%%) from which a model counts as high (default {100 * STRONG_NATIVE:g})",
    )
    p.add_argument("--no-sweep", action="store_true", help="skip the pairs-needed sweep")
    p.add_argument(
        "--semi-supervised",
        type=int,
        metavar="K",
        default=None,
        help="add the semi-supervised recipe: K matched pairs per fold + unpaired photos of the "
        "training folds, self-learning (docs/FEWPAIRS.md; about a minute per directed map)",
    )
    p.add_argument(
        "--sweep-scope",
        default="high",
        choices=["high", "all"],
        help="directed maps swept for pairs needed (default: between high-native models)",
    )
    p.add_argument(
        "--precision",
        default="float32",
        choices=PRECISIONS,
        help="of the projections and pair scores (default float32; float64 takes about twice "
        "the scoring time, is exact on near-singular lstsq maps and agrees with --device runs)",
    )
    add_threads_option(p, default=1)
    add_device_option(p, "the projections and pair scores")
    add_seed_option(p)
    add_json_option(p)
    add_progress_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_out(args.out)
    from facebridge.app import LineProgress, load_protocol, open_store
    from facebridge.app.recipes import run_compare_maps
    from facebridge.experiments.compare import PAPER_RECIPE, CompareSettings

    check_threads(args.threads)
    if args.device is not None:  # a CUDA device torch does not see fails before the data
        from facebridge.optional import torch_device

        torch_device(args.device, "compare-maps")
    if not 0.0 <= args.high_native <= 100.0:
        raise InvalidInputError(
            f"--high-native is a percentage in [0, 100], got {args.high_native}; e.g. 98.5"
        )
    kw: dict[str, Any] = {}
    for opt in ("maps", "correspondences", "scores"):
        v = parse_list(getattr(args, opt), f"--{opt}")
        if v is not None:
            kw[opt] = v
    if args.semi_supervised is not None and args.semi_supervised < 1:
        raise InvalidInputError(
            f"--semi-supervised needs K >= 1 matched pairs, got {args.semi_supervised}; e.g. 50"
        )
    settings = CompareSettings(
        high_native=args.high_native / 100.0,
        sweep=not args.no_sweep,
        sweep_scope=args.sweep_scope,
        seed=args.seed,
        precision=args.precision,
        **kw,
    )
    models = parse_models(args.models)
    store = open_store(args.store)
    protocol = load_protocol(args.protocol, args.pairs)
    run_ = run_compare_maps(
        store,
        protocol,
        models,
        settings,
        args.out,
        threads=args.threads,
        device=args.device,
        progress=LineProgress("compare-maps", enabled=not args.no_progress),
        semi_supervised=args.semi_supervised,
    )
    res, payload = run_.result, run_.payload
    if args.json:
        print_json(payload)
        return 0
    high = ", ".join(res.high_models) or "none"
    print(
        f"{len(res.models)} models, {res.n_pairs} pairs, {res.n_folds} folds; high-native: {high}"
    )
    print(f"{'recipe':44s} {'worst-hi':>8s} {'med-hi':>7s} {'worst':>7s} {'median':>7s}")

    def f(x: float | None) -> str:
        return "   n/a" if x is None else f"{x:7.2f}"

    for s in sorted(
        res.summaries,
        key=lambda s: (
            s.worst_drop_high if s.worst_drop_high is not None else s.worst_drop,
            s.median_drop,
        ),
    ):
        tag = " (paper)" if s.recipe == PAPER_RECIPE else ""
        tag += " (best)" if s.recipe == res.best else ""
        print(
            f"{str(s.recipe) + tag:44s} {f(s.worst_drop_high):>8s} {f(s.median_drop_high)} "
            f"{f(s.worst_drop)} {f(s.median_drop)}"
        )
    semi = payload.get("semi_supervised")
    if semi:
        print(
            f"{semi['recipe'].split(' / ')[0]:44s} {f(semi['worst_drop_high']):>8s} "
            f"{f(semi['median_drop_high'])} {f(semi['worst_drop'])} {f(semi['median_drop'])}"
        )
    if res.pairs_needed:
        got = sorted(v for v in res.pairs_needed.values() if v is not None)
        if got:
            print(
                f"best recipe: correspondences for <= 1 pt below its full-data accuracy: "
                f"median {got[len(got) // 2]}, max {got[-1]} over {len(res.pairs_needed)} maps"
            )
    if settings.precision == "float32" and res.best.map == "lstsq":
        print(
            "note: the best recipe is an unregularised lstsq map scored in float32, which loses "
            "digits on near-singular models; --precision float64 checks the pick"
        )
    print("wrote " + ", ".join(str(f) for f in run_.files))
    return 0
