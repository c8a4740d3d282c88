"""``facebridge equivalence``: the paper's proposed linear-equivalence test for a new model.

    facebridge equivalence [--store DIR] --model NEW [--pairs FILE] [--protocol KIND]
                           [--others a,b] [--recipe MAP/CORRESPONDENCE/SCORE] [--out DIR]
                           [--no-sweep] [--threads N] [--json]

NEW must already be embedded in the store.  Prints one summary line per model pair and writes
``equivalence-NEW.json`` and ``equivalence-NEW.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from facebridge.cli.compare_maps import (
    add_output_options,
    add_pairs_options,
    add_store_option,
    check_threads,
    print_payload,
    stderr_progress,
    write_payload,
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
    p.add_argument("--out", default="facebridge-equivalence", metavar="DIR", help="output folder")
    p.add_argument("--no-sweep", action="store_true", help="skip the pairs and rank sweeps")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="BLAS threads (default 1)")
    add_output_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facebridge.cli.evaluate import load_pairs, parse_models
    from facebridge.experiments.compare import CompareSettings, Recipe
    from facebridge.experiments.core import pair_data
    from facebridge.experiments.equivalence import equivalence
    from facebridge.report.pipeline import resolve_models
    from facebridge.store import EmbeddingStore, default_store

    check_threads(args.threads)
    recipe = Recipe.parse(args.recipe)
    store = default_store() if args.store is None else EmbeddingStore(args.store)
    others = parse_models(args.others)
    models = resolve_models(store, [args.model, *(others or [])] if others else None)
    if args.model not in models:
        models = resolve_models(store, [args.model, *models])
    protocol = load_pairs(args.protocol, args.pairs)
    data = pair_data(store, protocol, models)
    say = stderr_progress("equivalence", args.no_progress)
    res = equivalence(
        data,
        args.model,
        recipe=recipe,
        others=others,
        sweep=not args.no_sweep,
        settings=CompareSettings(sweep=not args.no_sweep, seed=args.seed),
        blas_threads=args.threads,
        progress=say,
    )
    stem = "equivalence-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", args.model)
    payload = res.to_dict()
    out = write_payload(args.out, stem, payload, res.to_markdown())
    if args.json:
        print_payload(payload)
        return 0
    print(
        f"recipe {res.recipe}; native: "
        + ", ".join(f"{m} {100 * a:.2f}%" for m, a in res.native.items())
    )
    for line in res.lines():
        print(line)
    print(f"wrote {out / (stem + '.json')}, {out / (stem + '.md')}")
    return 0
