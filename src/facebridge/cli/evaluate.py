"""``facebridge evaluate``: the full cross-model analysis of an embedding store, as a report.

    facebridge evaluate --store DIR [--protocol lfw|lfw-dev|ytf|csv|auto] [--pairs FILE]
                        [--models a,b,c] [--out DIR] [--quick] [--correspondence MODE]
                        [--alpha A] [--draws N] [--points N] [--seed S] [--no-progress]

Prints the cross-model matrix in the paper's Table 3 layout and the path of ``report.html``.
See docs/CLI.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facebridge.errors import InvalidInputError

PROTOCOL_CHOICES = ("lfw", "lfw-dev", "ytf", "csv", "auto")
CORRESPONDENCE_CHOICES = ("matched-pairs", "same-image")
DEFAULT_OUT = "facebridge-report"


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``evaluate`` and ``reproduce``: output, sweep sizes, seed, progress."""
    p.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"report folder (default ./{DEFAULT_OUT})"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a first look in seconds: matrix, rank sweep and ROC, no pairs-needed sweep (labelled in the report)",
    )
    p.add_argument(
        "--correspondence",
        default=None,
        metavar="MODE",
        help="training correspondences for the maps: matched-pairs (the paper's Eq. 1, default) "
        "or same-image",
    )
    p.add_argument("--alpha", type=float, default=None, metavar="A", help="ridge alpha (default 1)")
    p.add_argument(
        "--draws",
        type=int,
        default=None,
        metavar="N",
        help="random subsets per fold in the pairs sweep (default 1, as the paper)",
    )
    p.add_argument(
        "--points",
        type=int,
        default=None,
        metavar="N",
        help="values of p in the pairs sweep (default 100; 12 with --quick)",
    )
    p.add_argument("--seed", type=int, default=None, metavar="S", help="random seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.add_argument(
        "--privacy",
        action="store_true",
        help="also run the template-privacy audit (re-identification through a fitted map) and "
        "add its section to the report",
    )

    p.add_argument(
        "--compare-maps",
        action="store_true",
        help="also compare map recipes (ridge, lstsq, Procrustes, shared spaces; correspondences; "
        "scores) on the same folds and add that section",
    )


#: The options of :func:`add_analysis_options` that :func:`command_line` repeats, in order.
ANALYSIS_KEYS = (
    "out",
    "quick",
    "correspondence",
    "alpha",
    "draws",
    "points",
    "seed",
    "privacy",
    "compare_maps",
)


def extra_sections(args: argparse.Namespace, store: Any) -> Any:
    """The optional report sections the options ask for, as a callable ``(data, results)``."""
    privacy = getattr(args, "privacy", False)
    compare = getattr(args, "compare_maps", False)
    if not (privacy or compare):
        return ()

    def build(data: Any, results: dict[str, Any]) -> list[Any]:
        sections = []
        if compare:
            from facebridge.experiments.compare import CompareSettings, compare_maps
            from facebridge.report.compare import compare_section

            seed = 0 if args.seed is None else int(args.seed)
            res = compare_maps(data, CompareSettings(sweep=False, seed=seed))
            sections.append(compare_section(res))
        if privacy:
            from facebridge.report.privacy import audit_section

            sections.append(audit_section(store, list(data.models)))
        return sections

    return build


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The analysis settings the options ask for (validated; one-line errors)."""
    from facebridge.report.pipeline import analysis_settings

    corr = args.correspondence
    if corr is not None and corr not in CORRESPONDENCE_CHOICES:
        raise InvalidInputError(
            f"--correspondence must be one of {', '.join(CORRESPONDENCE_CHOICES)}, got {corr!r}"
        )
    return analysis_settings(
        quick=args.quick,
        n_points=args.points,
        n_draws=args.draws,
        alpha=args.alpha,
        correspondence=corr,
        seed=args.seed,
    )


def parse_models(text: str | None) -> list[str] | None:
    """``"a,b,c"`` -> ``["a", "b", "c"]`` (None or empty -> None: every model)."""
    if not text:
        return None
    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models:
        raise InvalidInputError(f"--models needs comma-separated model keys, got {text!r}")
    return models


def load_pairs(kind: str | None, pairs: str | None) -> Any:
    """The pair protocol for ``--protocol`` / ``--pairs``.

    Without ``--pairs``: ``lfw`` is the packaged official View 2 ``pairs.txt``; ``ytf`` is
    ``$FACEBRIDGE_DATA/ytf/splits.txt``.  With ``--pairs`` and no ``--protocol`` the kind is
    guessed from the file name.
    """
    from facebridge import protocols

    if kind is not None and kind not in PROTOCOL_CHOICES:
        raise InvalidInputError(
            f"--protocol must be one of {', '.join(PROTOCOL_CHOICES)}, got {kind!r}"
        )
    if pairs is None:
        kind = kind or "lfw"
        if kind == "lfw":
            return protocols.default_lfw_pairs()
        if kind == "ytf":
            from facebridge.config import data_dir

            path = data_dir() / "ytf" / "splits.txt"
            if not path.is_file():
                raise InvalidInputError(f"YTF splits not found at {path}; pass --pairs splits.txt")
            return protocols.load_ytf_splits(path)
        raise InvalidInputError(f"--protocol {kind} needs --pairs FILE")
    path = Path(pairs)
    if not path.is_file():
        raise InvalidInputError(f"pairs file not found: {path}; pass an existing --pairs FILE")
    return protocols.load_protocol(kind or "auto", path)


def command_line(name: str, args: argparse.Namespace, keys: tuple[str, ...]) -> str:
    """The command as the user could retype it (the options that were given)."""
    parts = ["facebridge", name]
    for k in keys:
        v = getattr(args, k, None)
        if v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        parts.append(flag if v is True else f"{flag} {v}")
    return " ".join(parts)


def report_and_print(
    args: argparse.Namespace,
    store: Any,
    protocol: Any,
    models: list[str] | None,
    settings: dict[str, Any],
    command: str,
    *,
    progress: bool,
    images: str | None = None,
) -> int:
    """Run the analysis, write the report to ``--out``, print the matrix and the report's path."""
    from facebridge.report import format_matrix_terminal
    from facebridge.report.pipeline import evaluate

    ev = evaluate(
        store,
        protocol,
        args.out,
        models,
        settings=settings,
        quick=args.quick,
        progress=progress,
        command=command,
        images=images,
        sections_extra=extra_sections(args, store),
    )
    print(format_matrix_terminal(ev.results))
    print(f"\nreport: {ev.paths.html}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="cross-model matrix, pairs and rank sweeps, ROC of a store -> report",
        description="Run the full cross-model analysis on an embedding store and write a report "
        "(results.json, report.md, a self-contained report.html, PNG figures).",
    )
    p.add_argument("--store", required=True, metavar="DIR", help="embedding store directory")
    p.add_argument(
        "--protocol",
        default=None,
        metavar="KIND",
        help="lfw (default), lfw-dev, ytf, csv, or auto (guess from the --pairs file name)",
    )
    p.add_argument(
        "--pairs",
        default=None,
        metavar="FILE",
        help="pairs file (default: the packaged LFW View 2 pairs.txt)",
    )
    p.add_argument(
        "--models",
        default=None,
        metavar="A,B,C",
        help="models to compare (default: all in the store)",
    )
    add_analysis_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facebridge.store import EmbeddingStore

    settings = settings_from_args(args)
    models = parse_models(args.models)
    store_dir = Path(args.store)
    if not store_dir.is_dir():
        raise InvalidInputError(
            f"no embedding store at {store_dir}; pass --store DIR of a store written by "
            "`facebridge embed` (or run `facebridge reproduce`)"
        )
    protocol = load_pairs(args.protocol, args.pairs)
    cmd = command_line("evaluate", args, ("store", "protocol", "pairs", "models", *ANALYSIS_KEYS))
    store = EmbeddingStore(store_dir)
    return report_and_print(
        args, store, protocol, models, settings, cmd, progress=not args.no_progress
    )
