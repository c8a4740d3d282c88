"""``facebridge migrate``: move a face gallery from one model to another without the photos.

    facebridge migrate fit      --source OLD --target NEW --out MAP [--store DIR] [--new-store DIR]
                                [--recipe lstsq|ridge] [--n-fit N] [--ids FILE] [--seed S]
                                [--no-estimate] [--force] [--json]
    facebridge migrate apply    --map MAP (--store DIR --model OLD | --npz FILE) --out DIR
                                [--as KEY] [--batch-rows N] [--json]
    facebridge migrate evaluate [--store DIR] [--models a,b,...] [--pair OLD->NEW ...]
                                [--n-fit 400,1000] [--recipes ridge,lstsq] [--folds K] [--seed S]
                                [--no-backfill] [--out DIR] [--json]

``fit`` writes a map artifact (``map.npz`` + ``card.json``); ``apply`` streams a gallery through
it into a store (re-run the same command to resume); ``evaluate`` measures self-test, cross-test,
negative flips and the backfill curves and writes ``migration.json``, ``migration.md`` and
``migration-backfill.png``.  Without ``--store`` the shipped LFW store is used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from facebridge.errors import InvalidInputError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "migrate",
        help="migrate a face gallery between models through a linear map",
        description="Fit a map artifact, apply it to a gallery, or measure what a migration costs.",
    )
    sub = p.add_subparsers(dest="migrate_command", metavar="STEP")

    f = sub.add_parser("fit", help="fit an old -> new map artifact on images both models embedded")
    f.add_argument("--store", default=None, metavar="DIR", help="store with both models")
    f.add_argument(
        "--new-store", default=None, metavar="DIR", help="store of the new model (default --store)"
    )
    f.add_argument("--source", required=True, metavar="OLD", help="the gallery's (old) model")
    f.add_argument("--target", required=True, metavar="NEW", help="the new model")
    f.add_argument("--out", required=True, metavar="MAP", help="artifact directory to write")
    f.add_argument("--recipe", default="lstsq", help="lstsq (default, best measured) or ridge")
    f.add_argument("--n-fit", type=int, default=None, metavar="N", help="random sample size")
    f.add_argument("--ids", default=None, metavar="FILE", help="fit on these ids (one a line)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--no-estimate", action="store_true", help="skip the held-out drop estimate")
    f.add_argument("--force", action="store_true", help="replace an existing artifact")
    f.add_argument("--json", action="store_true", help="print the card as JSON")
    f.set_defaults(func=run_fit)

    a = sub.add_parser("apply", help="stream a gallery through a map artifact into a store")
    a.add_argument("--map", required=True, metavar="MAP", help="artifact from `migrate fit`")
    a.add_argument("--store", default=None, metavar="DIR", help="the gallery's store")
    a.add_argument("--model", default=None, metavar="OLD", help="the gallery's model key")
    a.add_argument("--npz", default=None, metavar="FILE", help="gallery as npz instead of a store")
    a.add_argument(
        "--out", required=True, metavar="DIR", help="store to write the migrated gallery"
    )
    a.add_argument("--as", dest="out_model", default=None, metavar="KEY", help="model key in --out")
    a.add_argument("--batch-rows", type=int, default=8192, metavar="N")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_apply)

    e = sub.add_parser("evaluate", help="self-test, cross-test, negative flips, backfill curves")
    e.add_argument("--store", default=None, metavar="DIR")
    e.add_argument("--models", default=None, help="comma-separated models: every directed pair")
    e.add_argument(
        "--pair", action="append", default=None, metavar="OLD->NEW", help="one pair (repeatable)"
    )
    e.add_argument(
        "--n-fit",
        default="400,1000",
        help="fitting images per fold, comma-separated; 'all' = every training-fold image",
    )
    e.add_argument("--recipes", default="ridge,lstsq", help="comma-separated recipes")
    e.add_argument("--folds", type=int, default=5, help="identity-disjoint folds (default 5)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--no-backfill", action="store_true", help="skip the backfill curves")
    e.add_argument("--out", default="facebridge-migration", metavar="DIR")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=run_evaluate)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _store(path: str | None) -> Any:
    from facebridge.store import EmbeddingStore, default_store

    return default_store() if path is None else EmbeddingStore(path)


def _fit_sizes(text: str) -> list[int | None]:
    """``--n-fit``: comma-separated positive integers, ``all`` for every training-fold image."""
    out: list[int | None] = []
    for tok in (t.strip() for t in text.split(",")):
        if not tok:
            continue
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
    if not out:
        raise InvalidInputError(f"--n-fit must name at least one size, got {text!r}")
    return out


def _progress(stage: str, done: int, total: int) -> None:
    print(f"\r{stage}: {done}/{total}", end="\n" if done >= total else "", file=sys.stderr)


def run_fit(args: argparse.Namespace) -> int:
    from facebridge.maps.artifact import save_map
    from facebridge.migrate import fit_migration_map

    old_store = _store(args.store)
    new_store = old_store if args.new_store is None else _store(args.new_store)
    ids = None
    if args.ids is not None:
        try:
            ids = [ln.strip() for ln in Path(args.ids).read_text().splitlines() if ln.strip()]
        except OSError as exc:
            raise InvalidInputError(f"cannot read --ids {args.ids} ({exc.strerror})") from None
    if Path(args.out).exists() and not args.force:
        raise InvalidInputError(f"{args.out} exists; choose another --out or pass --force")
    art = fit_migration_map(
        old_store.load(args.source),
        new_store.load(args.target),
        recipe=args.recipe,
        ids=ids,
        n_fit=args.n_fit,
        seed=args.seed,
        estimate=not args.no_estimate,
    )
    path = save_map(args.out, art.map, art.card, overwrite=args.force)
    card = json.loads((path / "card.json").read_text())
    if args.json:
        print(json.dumps(card, indent=2, sort_keys=True))
        return 0
    print(
        f"fitted {card['source']} -> {card['target']} ({card['d_source']} -> {card['d_target']}, "
        f"{card['recipe']}) on {card['n_fit']} images; wrote {path}"
    )
    for k, v in card["drop"].items():
        print(f"held-out drop {k}: {v['estimate']:.2f} ± {v['se']:.2f} points")
    return 0


def run_apply(args: argparse.Namespace) -> int:
    from facebridge.maps.artifact import load_map
    from facebridge.migrate import apply_migration
    from facebridge.store import EmbeddingStore

    art = load_map(args.map)
    gallery = None if args.npz is not None else _store(args.store)
    rep = apply_migration(
        art,
        EmbeddingStore(args.out),
        store=gallery,
        model=args.model,
        npz=args.npz,
        out_model=args.out_model,
        batch_rows=args.batch_rows,
        artifact_path=str(Path(args.map).resolve()),
        progress=None if args.json else _progress,
    )
    payload = {
        "out": args.out,
        "model": rep.out_model,
        "migrated": rep.n_migrated,
        "skipped": rep.n_skipped,
        "failed": rep.n_failed,
    }
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        print(
            f"migrated {rep.n_migrated} templates into {args.out} as {rep.out_model!r} "
            f"({rep.n_skipped} already there, {rep.n_failed} failures recorded)"
        )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from facebridge.experiments.migration import BACKFILL_X, evaluate_pairs
    from facebridge.report.migration import backfill_figure, migration_section
    from facebridge.store._chunks import atomic_write_bytes
    from facebridge.vocabulary import DirectedPair, directed_pairs

    store = _store(args.store)
    if args.pair:
        pairs = [DirectedPair.parse(p) for p in args.pair]
    else:
        models = (
            [m.strip() for m in args.models.split(",") if m.strip()]
            if args.models
            else store.models()
        )
        pairs = directed_pairs(models)
    names = sorted({m for p in pairs for m in p})
    emb = {}
    for m in names:
        e = store.load(m)
        emb[m] = (e.ids, e.vectors)
    results = evaluate_pairs(
        emb,
        pairs,
        n_fits=_fit_sizes(args.n_fit),
        recipes=[r.strip() for r in args.recipes.split(",") if r.strip()],
        n_folds=args.folds,
        seed=args.seed,
        backfill_x=() if args.no_backfill else BACKFILL_X,
        progress=None if args.json else _progress,
    )
    payload = [r.to_dict() for r in results]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=1, sort_keys=True, allow_nan=True).encode()
    atomic_write_bytes(out / "migration.json", lambda f: f.write(text))
    png = backfill_figure(payload)
    if png is not None:
        atomic_write_bytes(out / "migration-backfill.png", lambda f: f.write(png))
    md = migration_section(payload, "migration-backfill.png" if png else None).encode()
    atomic_write_bytes(out / "migration.md", lambda f: f.write(md))
    if args.json:
        print(json.dumps(payload, indent=1, sort_keys=True))
        return 0
    print(md.decode())
    print(f"wrote {out / 'migration.json'}, {out / 'migration.md'}")
    return 0
