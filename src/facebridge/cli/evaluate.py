"""``facebridge evaluate``: the full cross-model analysis of an embedding store, as a report.

    facebridge evaluate --store DIR [--protocol lfw|lfw-dev|ytf|csv|auto] [--pairs FILE]
                        [--models a,b,c] [--out DIR] [--quick] [--correspondence MODE]
                        [--alpha A] [--draws N] [--points N] [--seed S] [--threads N]
                        [--no-progress]

Prints the cross-model matrix in the paper's Table 3 layout and the path of ``report.html``.
See docs/CLI.md.
"""

from __future__ import annotations

import argparse
from typing import Any

from facebridge.cli._common import (
    ANALYSIS_KEYS,
    add_analysis_options,
    add_models_option,
    add_pairs_options,
    add_store_option,
    analysis_options,
    command_line,
    parse_models,
    print_evaluation,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="cross-model matrix, pairs and rank sweeps, ROC of a store -> report",
        description="Run the full cross-model analysis on an embedding store and write a report "
        "(results.json, report.md, a self-contained report.html, PNG figures).",
    )
    add_store_option(p, required=True, help="embedding store directory")
    add_pairs_options(p)
    add_models_option(p)
    add_analysis_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facebridge.app import evaluate, load_protocol, open_store

    options = analysis_options(args)
    models = parse_models(args.models)
    store = open_store(
        args.store,
        hint="pass --store DIR of a store written by `facebridge embed` "
        "(or run `facebridge reproduce`)",
    )
    protocol = load_protocol(args.protocol, args.pairs)
    cmd = command_line("evaluate", args, ("store", "protocol", "pairs", "models", *ANALYSIS_KEYS))
    ev = evaluate(
        store,
        protocol,
        args.out,
        models,
        command=cmd,
        **options,
    )
    return print_evaluation(ev)
