"""``facebridge store``: embeddings computed elsewhere in, a store's embeddings out.

    facebridge store import FILE --store DIR --model KEY [--format auto|parquet|npz|npy|csv]
                            [--ids IDS.txt] [--id-column NAME] [--vector-column NAME]
                            [--description TEXT] [--weights-sha256 HEX] [--detector TEXT]
    facebridge store export --store DIR --model KEY --out FILE [--format parquet|npz]

Parquet needs the ``arrow`` extra (``pip install 'facebridge[arrow]'``).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    from facebridge.store.interchange import EXPORT_FORMATS, IMPORT_FORMATS

    p = subparsers.add_parser(
        "store",
        help="import embeddings from Parquet/npz/npy/CSV into a store, export a model's embeddings",
        description="Move embeddings between a store and Parquet / NumPy / CSV files.",
    )
    sub = p.add_subparsers(dest="store_command", metavar="ACTION")
    p.set_defaults(func=run, store_command=None, parser=p)

    imp = sub.add_parser(
        "import",
        help="add a file of embeddings to a store under a model key",
        description="Read a file of embeddings (Parquet: a string id column and a list column "
        "or one column per dimension; .npz: ids + vectors arrays; .npy plus --ids; CSV: a header "
        "'id,d0,d1,...'), check it whole (NaN/inf, duplicate ids, dimension) and write it to the "
        "store with its provenance (file, sha256, description) in the manifest.",
    )
    imp.add_argument("file", type=Path, metavar="FILE", help="the embeddings file")
    imp.add_argument(
        "--store", required=True, type=Path, help="store directory (created if needed)"
    )
    imp.add_argument("--model", required=True, help="model key to store them under, e.g. mine")
    imp.add_argument(
        "--format",
        default="auto",
        choices=("auto", *IMPORT_FORMATS),
        help="file format (default: from the suffix)",
    )
    imp.add_argument("--ids", type=Path, default=None, help="text file of ids, one per row (.npy)")
    imp.add_argument(
        "--id-column", default=None, help="id column / array (default id; ids for npz)"
    )
    imp.add_argument(
        "--vector-column",
        default=None,
        help="vector list column / array (default: the one list column; vectors for npz)",
    )
    imp.add_argument(
        "--description", default=None, help="what model made them (kept as provenance)"
    )
    imp.add_argument("--weights-sha256", default=None, help="sha256 of the model's weights")
    imp.add_argument(
        "--detector", default=None, help="detection / alignment used (default: external)"
    )

    exp = sub.add_parser(
        "export",
        help="write one model's embeddings to Parquet or .npz (manifest inside)",
        description="Write one model of a store as a Parquet file (id, vector) or an .npz "
        "(ids, vectors), with the store manifest inside; `store import` reads it back exactly.",
    )
    exp.add_argument("--store", required=True, type=Path, help="store directory")
    exp.add_argument("--model", required=True, help="model key in the store")
    exp.add_argument("--out", required=True, type=Path, help="file to write")
    exp.add_argument(
        "--format", default=None, choices=EXPORT_FORMATS, help="default: from the --out suffix"
    )


def run(args: argparse.Namespace) -> int:
    from facebridge.store.interchange import export_embeddings, import_embeddings

    if args.store_command == "import":
        s = import_embeddings(
            args.store,
            args.model,
            args.file,
            format=args.format,
            ids=args.ids,
            id_column=args.id_column,
            vector_column=args.vector_column,
            description=args.description,
            weights_sha256=args.weights_sha256,
            detector=args.detector,
        )
        print(
            f"imported {s.n_items} embeddings of dimension {s.dim} as {s.model!r} into "
            f"{args.store} (from {args.file.name}, sha256 {s.source['sha256'][:12]}...)"
        )
        return 0
    if args.store_command == "export":
        out = export_embeddings(args.store, args.model, args.out, args.format)
        print(f"exported the embeddings of {args.model!r} to {out}")
        return 0
    args.parser.print_help()
    return 0
