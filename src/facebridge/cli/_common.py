"""The options and helpers every command shares, each written once.

``--store``, ``--pairs`` / ``--protocol``, ``--models``, ``--out``, ``--threads``, ``--seed``,
``--json`` and ``--no-progress`` mean the same in every command that has them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from facebridge.errors import InvalidInputError

#: The one meaning of ``--threads``, in every command's help.
THREADS_HELP = (
    "threads of the numerical libraries (BLAS for the analysis, the model runtimes for embed)"
)


def add_store_option(
    p: argparse.ArgumentParser, *, required: bool = False, help: str | None = None
) -> None:
    """``--store DIR`` (default: the shipped LFW store, unless ``required``)."""
    p.add_argument(
        "--store",
        default=None,
        required=required,
        metavar="DIR",
        help=help or "embedding store directory (default: the shipped LFW store)",
    )


def add_pairs_options(p: argparse.ArgumentParser) -> None:
    """``--pairs FILE`` and ``--protocol KIND`` (default: the packaged LFW View 2 pairs)."""
    p.add_argument(
        "--pairs",
        default=None,
        metavar="FILE",
        help="pairs file (default: the packaged LFW View 2 pairs.txt)",
    )
    p.add_argument(
        "--protocol",
        default=None,
        metavar="KIND",
        help="kind of --pairs: lfw (default), lfw-dev, ytf, csv, or auto (guess from the file "
        "name); csv rows are left,right,genuine[,fold]: without the fold column the pairs are "
        "dealt into up to 10 folds in file order (genuine and impostor pairs separately)",
    )


def add_models_option(p: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--models A,B,C`` (default: every model of the store)."""
    p.add_argument(
        "--models",
        default=None,
        metavar="A,B,C",
        help=help or "comma-separated models to compare (default: every model of the store)",
    )


def add_out_option(p: argparse.ArgumentParser, default: str | None, what: str) -> None:
    """``--out DIR``: the output folder (``default`` ``None``: nothing is written)."""
    shown = f" (default ./{default})" if default else ""
    p.add_argument("--out", default=default, metavar="DIR", help=f"{what}{shown}")


def add_threads_option(p: argparse.ArgumentParser, default: int | None) -> None:
    """``--threads N`` (:data:`THREADS_HELP`)."""
    shown = "their own default" if default is None else str(default)
    p.add_argument(
        "--threads",
        type=int,
        default=default,
        metavar="N",
        help=f"{THREADS_HELP}; default {shown}",
    )


def add_seed_option(p: argparse.ArgumentParser, default: int | None = 0) -> None:
    """``--seed S``: the random seed (default 0)."""
    p.add_argument("--seed", type=int, default=default, metavar="S", help="random seed (default 0)")


def add_json_option(p: argparse.ArgumentParser) -> None:
    """``--json``: the result as JSON on stdout."""
    p.add_argument("--json", action="store_true", help="print the JSON result to stdout")


def add_progress_option(p: argparse.ArgumentParser) -> None:
    """``--no-progress``: nothing on stderr while the work runs."""
    p.add_argument("--no-progress", action="store_true", help="no progress output on stderr")


def check_threads(threads: int | None) -> None:
    """``--threads`` must be a positive number."""
    if threads is not None and threads < 1:
        raise InvalidInputError(f"--threads must be >= 1, got {threads}")


def check_out(out: str | None) -> None:
    """``--out``, when given, must be a folder that can be written; checked before the work, so
    that a bad one costs none."""
    if out is not None:
        from facebridge.app.outputs import check_out_dir

        check_out_dir(out)


def parse_list(text: str | None, option: str) -> tuple[str, ...] | None:
    """``"a,b"`` -> ``("a", "b")``; ``None`` (option not given) -> ``None``.

    Raises
    ------
    InvalidInputError
        The option was given but names nothing (``--models ''``).
    """
    if text is None:
        return None
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:
        raise InvalidInputError(
            f"{option} needs comma-separated values, got {text!r}; leave {option} out for the default"
        )
    return values


def parse_models(text: str | None, option: str = "--models") -> list[str] | None:
    """``--models a,b,c`` -> ``["a", "b", "c"]``; not given -> ``None`` (every model)."""
    values = parse_list(text, option)
    return None if values is None else list(values)


def parse_ints(text: str, option: str) -> list[int]:
    """``"10,100"`` -> ``[10, 100]``."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InvalidInputError(
            f"{option} must be comma-separated integers, e.g. 10,100,400; got {text!r}"
        ) from None


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


def print_json(payload: Any) -> None:
    """``--json``: the payload on stdout."""
    json.dump(payload, sys.stdout, indent=1)
    print()


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """The options of the cross-model analysis (``evaluate``, ``reproduce``)."""
    from facebridge.contracts import CORRESPONDENCE_CHOICES, FULL_POINTS, QUICK_POINTS

    add_out_option(p, DEFAULT_REPORT, "report folder")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a first look in seconds: matrix, rank sweep and ROC, no pairs-needed sweep "
        "(labelled in the report)",
    )
    p.add_argument(
        "--correspondence",
        default=None,
        metavar="MODE",
        help=f"training correspondences for the maps: {' or '.join(CORRESPONDENCE_CHOICES)} "
        "(default matched-pairs, the paper's Eq. 1)",
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
        help=f"values of p in the pairs sweep (default {FULL_POINTS}; {QUICK_POINTS} with --quick)",
    )
    add_seed_option(p, default=None)
    add_threads_option(p, default=None)
    add_device_option(p, "the matrix, rank sweep and pairs sweep")
    p.add_argument(
        "--allow-missing",
        type=float,
        default=None,
        metavar="FRACTION",
        help="largest fraction of pairs that may lack an embedding (they count as errors); "
        "default 0.01: a run with more stops before the analysis",
    )
    add_progress_option(p)
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


def add_device_option(p: argparse.ArgumentParser, what: str) -> None:
    """``--device``: ``what`` in torch (float64) on a CPU or CUDA device."""
    p.add_argument(
        "--device",
        default=None,
        metavar="DEVICE",
        help=f"cpu, cuda or cuda:N: {what} in torch (float64) on that device, numbers equal to "
        "the default numpy path's to rounding (needs torch; default: numpy)",
    )


#: The report folder of ``evaluate`` and ``reproduce``.
DEFAULT_REPORT = "facebridge-report"

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
    "threads",
    "device",
    "allow_missing",
)


def settings_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~facebridge.contracts.AnalysisSettings` the options ask for."""
    from facebridge.contracts import AnalysisSettings

    check_threads(args.threads)
    return AnalysisSettings.from_options(
        quick=args.quick,
        n_points=args.points,
        n_draws=args.draws,
        alpha=args.alpha,
        correspondence=args.correspondence,
        seed=args.seed,
        device=args.device,
    )


def analysis_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`facebridge.app.evaluate` the options ask for; checks
    ``--out`` first, so that a folder that cannot be written costs no analysis."""
    from facebridge.app.missing import DEFAULT_ALLOW_MISSING
    from facebridge.app.outputs import check_out_dir

    allow = DEFAULT_ALLOW_MISSING if args.allow_missing is None else args.allow_missing
    if not 0.0 <= allow <= 1.0:
        raise InvalidInputError(f"--allow-missing is a fraction in [0, 1], got {allow}; e.g. 0.05")
    check_out_dir(args.out)
    settings = settings_from_args(args)
    if settings.device is not None:  # a CUDA device torch does not see fails before the data
        from facebridge.optional import torch_device

        torch_device(settings.device, "the analysis")
    return {
        "settings": settings,
        "progress": not args.no_progress,
        "privacy": args.privacy,
        "compare_maps": args.compare_maps,
        "threads": args.threads,
        "allow_missing": allow,
    }


def print_evaluation(ev: Any) -> int:
    """The missing pairs (on stderr), the matrix in the paper's layout and the report's path."""
    from facebridge.report import format_matrix_terminal

    if ev.missing.n_missing:
        print(f"facebridge: warning: {ev.missing.line()}", file=sys.stderr)
    print(format_matrix_terminal(ev.result))
    print(f"\nreport: {ev.paths.html}")
    return 0
