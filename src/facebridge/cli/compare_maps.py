"""``facebridge compare-maps``: every (map, correspondence, score) recipe on the same folds.

    facebridge compare-maps [--store DIR] [--pairs FILE] [--protocol KIND] [--models a,b,c]
                            [--out DIR] [--maps m1,m2] [--correspondences c1,c2]
                            [--scores s1,s2] [--high-native 98.5] [--no-sweep] [--threads N]

Writes ``compare.json``, ``compare.md`` and ``compare_drops.png`` to ``--out`` and prints one line
per recipe (worst / median drop) plus the best recipe next to the paper's.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from facebridge.errors import InvalidInputError


def _csv(text: str | None, option: str) -> tuple[str, ...] | None:
    if text is None:
        return None
    vals = tuple(v.strip() for v in text.split(",") if v.strip())
    if not vals:
        raise InvalidInputError(f"{option} needs comma-separated values, got {text!r}")
    return vals


def add_store_option(p: argparse.ArgumentParser) -> None:
    """``--store`` (default: the shipped LFW store); shared with ``equivalence``."""
    p.add_argument(
        "--store",
        default=None,
        metavar="DIR",
        help="embedding store directory (default: the shipped LFW store)",
    )


def add_pairs_options(p: argparse.ArgumentParser) -> None:
    """``--pairs`` and ``--protocol`` (default: packaged LFW View 2); shared with ``equivalence``."""
    p.add_argument(
        "--pairs", default=None, metavar="FILE", help="pairs file (default: packaged LFW View 2)"
    )
    p.add_argument(
        "--protocol",
        default=None,
        metavar="KIND",
        help="kind of --pairs: lfw (default), lfw-dev, ytf, csv or auto",
    )


def add_output_options(p: argparse.ArgumentParser) -> None:
    """``--seed``, ``--json`` and ``--no-progress``; shared with ``equivalence``."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the JSON payload to stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")


def check_threads(threads: int | None) -> None:
    """``--threads`` must be a positive number of BLAS threads."""
    if threads is not None and threads < 1:
        raise InvalidInputError(f"--threads must be >= 1, got {threads}")


def stderr_progress(command: str, quiet: bool) -> Callable[[str], None]:
    """A progress callback printing ``command: msg`` lines on stderr (nothing when ``quiet``)."""

    def say(msg: str) -> None:
        if not quiet:
            print(f"{command}: {msg}", file=sys.stderr, flush=True)

    return say


def write_payload(out_dir: str, stem: str, payload: Any, markdown: str) -> Path:
    """Write ``stem.json`` (the payload) and ``stem.md`` into ``out_dir`` (created); return it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(payload, indent=1) + "\n")
    (out / f"{stem}.md").write_text(markdown)
    return out


def print_payload(payload: Any) -> None:
    """``--json``: the payload on stdout."""
    json.dump(payload, sys.stdout, indent=1)
    print()


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
    p.add_argument("--models", default=None, help="comma-separated model keys (default: all)")
    p.add_argument("--out", default="facebridge-compare", metavar="DIR", help="output folder")
    p.add_argument(
        "--maps", default=None, help="subset of ridge,ridge-gcv,lstsq,procrustes,shared,hub"
    )
    p.add_argument("--correspondences", default=None, help="subset of matched-pairs,same-image")
    p.add_argument("--scores", default=None, help="subset of cosine,symmetric")
    p.add_argument(
        "--high-native",
        type=float,
        default=98.5,
        metavar="PCT",
        help="native accuracy (%%) from which a model counts as high (default 98.5)",
    )
    p.add_argument("--no-sweep", action="store_true", help="skip the pairs-needed sweep")
    p.add_argument(
        "--sweep-scope",
        default="high",
        choices=["high", "all"],
        help="directed maps swept for pairs needed (default: between high-native models)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="BLAS threads (default 1: fastest on a busy machine; raise it on an idle one)",
    )
    add_output_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facebridge.cli.evaluate import load_pairs, parse_models
    from facebridge.experiments.compare import PAPER_RECIPE, CompareSettings, compare_maps
    from facebridge.experiments.core import pair_data
    from facebridge.report.compare import FIGURE_NAME, compare_figure, compare_markdown
    from facebridge.report.pipeline import resolve_models
    from facebridge.store import EmbeddingStore, default_store

    check_threads(args.threads)
    if not 0.0 <= args.high_native <= 100.0:
        raise InvalidInputError(
            f"--high-native is a percentage in [0, 100], got {args.high_native}; e.g. 98.5"
        )
    kw: dict[str, Any] = {}
    for opt in ("maps", "correspondences", "scores"):
        v = _csv(getattr(args, opt), f"--{opt}")
        if v is not None:
            kw[opt] = v
    settings = CompareSettings(
        high_native=args.high_native / 100.0,
        sweep=not args.no_sweep,
        sweep_scope=args.sweep_scope,
        seed=args.seed,
        **kw,
    )
    store = default_store() if args.store is None else EmbeddingStore(args.store)
    models = resolve_models(store, parse_models(args.models))
    protocol = load_pairs(args.protocol, args.pairs)
    data = pair_data(store, protocol, models)
    say = stderr_progress("compare-maps", args.no_progress)
    res = compare_maps(data, settings, progress=say, blas_threads=args.threads)
    payload = res.to_dict()
    out = write_payload(
        args.out,
        "compare",
        payload,
        "# Map / correspondence / score comparison\n\n" + compare_markdown(payload),
    )
    (out / FIGURE_NAME).write_bytes(compare_figure(payload))
    if args.json:
        print_payload(payload)
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
    if res.pairs_needed:
        got = sorted(v for v in res.pairs_needed.values() if v is not None)
        if got:
            print(
                f"best recipe: correspondences for <= 1 pt below its full-data accuracy: "
                f"median {got[len(got) // 2]}, max {got[-1]} over {len(res.pairs_needed)} maps"
            )
    print(f"wrote {out / 'compare.json'}, {out / 'compare.md'}, {out / FIGURE_NAME}")
    return 0
