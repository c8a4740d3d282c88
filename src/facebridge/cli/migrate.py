"""``facebridge migrate``: move a face gallery from one model to another without the photos.

    facebridge migrate fit      --source OLD --target NEW --out MAP [--store DIR] [--new-store DIR]
                                [--recipe lstsq|ridge] [--n-fit N] [--ids FILE] [--seed S]
                                [--no-estimate] [--force] [--json]
    facebridge migrate apply    --map MAP (--store DIR --model OLD | --npz FILE) --out DIR
                                [--as KEY] [--batch-rows N] [--json] [--no-progress]
    facebridge migrate evaluate [--store DIR] [--models a,b,...] [--pair OLD->NEW ...]
                                [--n-fit 400,1000] [--recipes ridge,lstsq] [--folds K] [--seed S]
                                [--no-backfill] [--out DIR] [--json] [--no-progress]

``fit`` writes a map artifact (``map.npz`` + ``card.json``); ``apply`` streams a gallery through
it into a store (re-run the same command to resume); ``evaluate`` measures self-test, cross-test,
negative flips and the backfill curves and writes ``migration.json``, ``migration.md`` and
``migration-backfill.png``.  Without ``--store`` the shipped LFW store is used.  The work is
done in :mod:`facebridge.app.migrate`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facebridge.cli._common import (
    add_json_option,
    add_models_option,
    add_out_option,
    add_progress_option,
    add_seed_option,
    add_store_option,
    parse_list,
    parse_models,
    print_json,
)
from facebridge.errors import InvalidInputError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "migrate",
        help="migrate a face gallery between models through a linear map",
        description="Fit a map artifact, apply it to a gallery, or measure what a migration costs.",
    )
    sub = p.add_subparsers(dest="migrate_command", metavar="STEP")

    f = sub.add_parser("fit", help="fit an old -> new map artifact on images both models embedded")
    add_store_option(f, help="store with both models (default: the shipped LFW store)")
    f.add_argument(
        "--new-store", default=None, metavar="DIR", help="store of the new model (default --store)"
    )
    f.add_argument("--source", required=True, metavar="OLD", help="the gallery's (old) model")
    f.add_argument("--target", required=True, metavar="NEW", help="the new model")
    f.add_argument("--out", required=True, metavar="MAP", help="artifact directory to write")
    f.add_argument("--recipe", default="lstsq", help="lstsq (default, best measured) or ridge")
    f.add_argument(
        "--n-fit",
        type=int,
        default=None,
        metavar="N",
        help="fit on a random sample of N shared ids (default: every shared id)",
    )
    f.add_argument("--ids", default=None, metavar="FILE", help="fit on these ids (one a line)")
    add_seed_option(f)
    f.add_argument("--no-estimate", action="store_true", help="skip the held-out drop estimate")
    f.add_argument("--force", action="store_true", help="replace an existing artifact")
    add_json_option(f)
    f.set_defaults(func=run_fit)

    a = sub.add_parser("apply", help="stream a gallery through a map artifact into a store")
    a.add_argument("--map", required=True, metavar="MAP", help="artifact from `migrate fit`")
    add_store_option(a, help="the gallery's store (default: the shipped LFW store)")
    a.add_argument("--model", default=None, metavar="OLD", help="the gallery's model key")
    a.add_argument("--npz", default=None, metavar="FILE", help="gallery as npz instead of a store")
    a.add_argument(
        "--out", required=True, metavar="DIR", help="store to write the migrated gallery"
    )
    a.add_argument("--as", dest="out_model", default=None, metavar="KEY", help="model key in --out")
    a.add_argument(
        "--batch-rows",
        type=int,
        default=8192,
        metavar="N",
        help="rows mapped and flushed at a time (default 8192)",
    )
    add_json_option(a)
    add_progress_option(a)
    a.set_defaults(func=run_apply)

    e = sub.add_parser("evaluate", help="self-test, cross-test, negative flips, backfill curves")
    add_store_option(e)
    add_models_option(e, help="comma-separated models: every directed pair (default: the store's)")
    e.add_argument(
        "--pair", action="append", default=None, metavar="OLD->NEW", help="one pair (repeatable)"
    )
    e.add_argument(
        "--n-fit",
        default="400,1000",
        help="fitting images per fold, comma-separated; 'all' = every training-fold image "
        "(default 400,1000)",
    )
    e.add_argument(
        "--recipes", default="ridge,lstsq", help="comma-separated recipes (default ridge,lstsq)"
    )
    e.add_argument("--folds", type=int, default=5, help="identity-disjoint folds (default 5)")
    add_seed_option(e)
    e.add_argument("--no-backfill", action="store_true", help="skip the backfill curves")
    add_out_option(e, "facebridge-migration", "output folder")
    add_json_option(e)
    add_progress_option(e)
    e.set_defaults(func=run_evaluate)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _fit_sizes(text: str) -> list[int | None]:
    """``--n-fit``: comma-separated positive integers, ``all`` for every training-fold image."""
    out: list[int | None] = []
    for tok in parse_list(text, "--n-fit") or ():
        if tok == "all":
            out.append(None)
            continue
        try:
            n = int(tok)
        except ValueError:
            n = 0
        if n < 1:
            raise InvalidInputError(
                f"--n-fit must be positive integers or 'all', comma-separated; got {text!r}"
            )
        out.append(n)
    return out


def _bar(args: argparse.Namespace, stage: str) -> Any:
    from facebridge.app import TqdmProgress

    return TqdmProgress(stage, enabled=not (args.json or args.no_progress))


def run_fit(args: argparse.Namespace) -> int:
    from facebridge.app import open_store
    from facebridge.app.migrate import fit_map, read_ids_file

    old_store = open_store(args.store)
    new_store = None if args.new_store is None else open_store(args.new_store)
    card = fit_map(
        old_store,
        args.source,
        args.target,
        args.out,
        new_store=new_store,
        recipe=args.recipe,
        ids=None if args.ids is None else read_ids_file(args.ids),
        n_fit=args.n_fit,
        seed=args.seed,
        estimate=not args.no_estimate,
        overwrite=args.force,
    )
    path = card.pop("path")
    if args.json:
        print_json(dict(sorted(card.items())))
        return 0
    print(
        f"fitted {card['source']} -> {card['target']} ({card['d_source']} -> {card['d_target']}, "
        f"{card['recipe']}) on {card['n_fit']} images; wrote {path}"
    )
    for k, v in card["drop"].items():
        print(f"held-out drop {k}: {v['estimate']:.2f} ± {v['se']:.2f} points")
    return 0


def run_apply(args: argparse.Namespace) -> int:
    from facebridge.app import open_store
    from facebridge.app.migrate import apply_migration
    from facebridge.app.outputs import check_out_dir
    from facebridge.maps.artifact import load_map
    from facebridge.store import EmbeddingStore

    art = load_map(args.map)
    gallery = None if args.npz is not None else open_store(args.store)
    check_out_dir(args.out)
    bar = _bar(args, "migrate")
    try:
        rep = apply_migration(
            art,
            EmbeddingStore(args.out),
            store=gallery,
            model=args.model,
            npz=args.npz,
            out_model=args.out_model,
            batch_rows=args.batch_rows,
            artifact_path=str(Path(args.map).resolve()),
            progress=bar,
        )
    finally:
        bar.close()
    payload = {
        "out": args.out,
        "model": rep.out_model,
        "migrated": rep.n_migrated,
        "skipped": rep.n_skipped,
        "failed": rep.n_failed,
    }
    if args.json:
        print_json(payload)
    else:
        print(
            f"migrated {rep.n_migrated} templates into {args.out} as {rep.out_model!r} "
            f"({rep.n_skipped} already there, {rep.n_failed} failures recorded)"
        )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from facebridge.app import open_store
    from facebridge.app.migrate import evaluate_migration_to
    from facebridge.app.outputs import check_out_dir
    from facebridge.vocabulary import DirectedPair, directed_pairs

    n_fits = _fit_sizes(args.n_fit)
    recipes = parse_list(args.recipes, "--recipes") or ()
    check_out_dir(args.out)
    store = open_store(args.store)
    if args.pair:
        pairs = [DirectedPair.parse(p) for p in args.pair]
    else:
        pairs = directed_pairs(parse_models(args.models) or store.models())
    bar = _bar(args, "migration")
    try:
        res = evaluate_migration_to(
            store,
            pairs,
            args.out,
            n_fits=n_fits,
            recipes=recipes,
            n_folds=args.folds,
            seed=args.seed,
            backfill=not args.no_backfill,
            progress=bar,
        )
    finally:
        bar.close()
    if args.json:
        print_json(res.payload)
        return 0
    print(res.markdown)
    print(f"wrote {res.json_path}, {res.md_path}")
    return 0
