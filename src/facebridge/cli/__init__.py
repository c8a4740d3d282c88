"""The ``facebridge`` command line.

Thin: each sub-command lives in its own module ``facebridge/cli/<name>.py`` exposing
``register(subparsers) -> None``, which adds an ``argparse`` parser and sets ``func=run`` where
``run(args) -> int``.  Modules are discovered automatically (names starting with ``_`` are
helpers, not commands).  A :class:`~facebridge.errors.FacebridgeError` is printed as one line
``facebridge: error: ...`` with exit status 2; any other exception keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from facebridge import __version__
from facebridge.errors import FacebridgeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facebridge",
        description="Map between face-recognition embedding spaces and measure what it costs.",
    )
    parser.add_argument("--version", action="version", version=f"facebridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except FacebridgeError as exc:
        print(f"facebridge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facebridge: interrupted (re-run the same command to resume)", file=sys.stderr)
        return 130


def app() -> None:  # console-script friendly
    sys.exit(main())


if __name__ == "__main__":
    app()
