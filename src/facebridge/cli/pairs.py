"""``facebridge pairs make``: a verification protocol from an identity-per-folder image tree.

    facebridge pairs make --images DIR [--folds 10] [--genuine 300] [--impostor 300]
                          [--seed 0] --out FILE.csv

Writes a CSV protocol ``left,right,genuine,fold`` that ``facebridge evaluate --protocol csv
--pairs FILE.csv`` reads; its item ids are the ones ``facebridge embed --images DIR`` stores.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pairs",
        help="make a verification protocol (CSV) from a folder of people's photos",
        description="Verification pair protocols from your own data.",
    )
    sub = p.add_subparsers(dest="pairs_command", metavar="ACTION")
    p.set_defaults(func=run, pairs_command=None, parser=p)
    make = sub.add_parser(
        "make",
        help="K identity-disjoint folds of genuine and impostor pairs from DIR/<person>/<image>",
        description="Split the people (one folder each) into K folds and draw genuine and "
        "impostor pairs per fold, as LFW View 2 does. Folders with one image give impostor "
        "pairs only.",
    )
    make.add_argument(
        "--images", required=True, type=Path, help="image root, one folder per person"
    )
    make.add_argument("--folds", type=int, default=10, help="number of folds (10)")
    make.add_argument("--genuine", type=int, default=300, help="genuine pairs per fold (300)")
    make.add_argument("--impostor", type=int, default=300, help="impostor pairs per fold (300)")
    make.add_argument("--seed", type=int, default=0, help="random seed (0)")
    make.add_argument("--out", required=True, type=Path, help="CSV file to write")


def run(args: argparse.Namespace) -> int:
    if args.pairs_command != "make":
        args.parser.print_help()
        return 0
    from facebridge.extract import list_images
    from facebridge.protocols import FewerPairsWarning, make_pairs, write_csv_pairs

    items = list_images(args.images)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FewerPairsWarning)
        proto = make_pairs(
            items,
            n_folds=args.folds,
            n_genuine=args.genuine,
            n_impostor=args.impostor,
            seed=args.seed,
            name=f"csv:{args.out.name}",
        )
    for w in caught:
        if issubclass(w.category, FewerPairsWarning):
            print(f"facebridge: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    write_csv_pairs(proto, args.out)
    counts = proto.fold_counts()
    n_gen = sum(g for g, _ in counts)
    n_imp = sum(i for _, i in counts)
    n_ids = len({i.rpartition("/")[0] for i in proto.items()})
    print(
        f"{len(proto)} pairs ({n_gen} genuine + {n_imp} impostor) in {proto.n_folds} "
        f"identity-disjoint folds over {len(proto.items())} images of {n_ids} people "
        f"from {len(items)} images; wrote {args.out}"
    )
    print(
        f"next: facebridge evaluate --store STORE --protocol csv --pairs {args.out} "
        "(after `facebridge embed --images "
        f"{args.images} --store STORE`)"
    )
    return 0
