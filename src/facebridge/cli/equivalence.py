"""``facebridge equivalence``: the paper's proposed linear-equivalence test for a new model.

    facebridge equivalence [--store DIR] --model NEW [--pairs FILE] [--protocol KIND]
                           [--others a,b] [--recipe MAP/CORRESPONDENCE/SCORE] [--out DIR]
                           [--no-sweep] [--threads N] [--json]

NEW must already be embedded in the store.  Prints one summary line per model pair and writes
``equivalence-NEW.json`` and ``equivalence-NEW.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
from typing import Any

from facebridge.cli._common import (
    add_json_option,
    add_out_option,
    add_pairs_options,
    add_progress_option,
    add_seed_option,
    add_store_option,
    add_threads_option,
    check_out,
    check_threads,
    parse_models,
    print_json,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "equivalence",
        help="test a new model for linear equivalence with every other model of a store",
        description=(
            "NEW against every other model in both directions: mapped accuracy and drop, "
            "correspondences and rank needed for a map within 1 point of the full one, and "
            "linear CKA / SVCCA / Procrustes distance on the same-image embeddings."
        ),
    )
    add_store_option(p)
    p.add_argument("--model", required=True, metavar="NEW", help="the model to test (in the store)")
    add_pairs_options(p)
    p.add_argument(
        "--others", default=None, help="comma-separated models to compare with (default: all)"
    )
    p.add_argument(
        "--recipe",
        default="ridge/matched-pairs/cosine",
        help="map/correspondence/score (default: the paper's ridge/matched-pairs/cosine; "
        "see `facebridge compare-maps` for the others)",
    )
    add_out_option(p, "facebridge-equivalence", "output folder")
    p.add_argument("--no-sweep", action="store_true", help="skip the pairs and rank sweeps")
    add_threads_option(p, default=1)
    add_seed_option(p)
    add_json_option(p)
    add_progress_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_out(args.out)
    from facebridge.app import LineProgress, load_protocol, open_store
    from facebridge.app.recipes import run_equivalence
    from facebridge.experiments.compare import Recipe

    check_threads(args.threads)
    Recipe.parse(args.recipe)  # a bad recipe fails before any work
    store = open_store(args.store)
    others = parse_models(args.others, "--others")
    protocol = load_protocol(args.protocol, args.pairs)
    run_ = run_equivalence(
        store,
        protocol,
        args.model,
        others,
        args.out,
        recipe=args.recipe,
        sweep=not args.no_sweep,
        seed=args.seed,
        threads=args.threads,
        progress=LineProgress("equivalence", enabled=not args.no_progress),
    )
    res = run_.result
    if args.json:
        print_json(run_.payload)
        return 0
    print(
        f"recipe {res.recipe}; native: "
        + ", ".join(f"{m} {100 * a:.2f}%" for m, a in res.native.items())
    )
    for line in res.lines():
        print(line)
    print("wrote " + ", ".join(str(f) for f in run_.files))
    return 0
