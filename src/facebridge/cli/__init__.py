"""The ``facebridge`` command line.

Thin: each sub-command lives in its own module ``facebridge/cli/<name>.py`` exposing
``register(subparsers) -> None``, which adds an ``argparse`` parser and sets ``func=run`` where
``run(args) -> int``.  Modules are discovered automatically (names starting with ``_`` are
helpers, not commands).  A :class:`~facebridge.errors.FacebridgeError` and an operating-system
error a user can cause (disk full, read-only file system, a file where a folder is expected, no
permission) are printed as one line ``facebridge: error: ...`` naming the path and the fix, with
exit status 2; ``facebridge --debug COMMAND`` shows their traceback instead.  Any other exception
keeps its traceback.
"""

from __future__ import annotations

import argparse
import errno
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
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error instead of its one-line message",
    )
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
        if args.debug:
            raise
        print(f"facebridge: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if args.debug or exc.errno not in _USER_OS_ERRORS:
            raise
        print(f"facebridge: error: {_os_error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facebridge: interrupted (re-run the same command to resume)", file=sys.stderr)
        return 130


#: Operating-system errors a user causes (and fixes) by the paths and disks they choose.
_USER_OS_ERRORS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EACCES,
        errno.EPERM,
        errno.ENOENT,
    }
)


def _os_error_line(exc: OSError) -> str:
    from facebridge.app.outputs import os_error_fix

    where = exc.filename if exc.filename is not None else "a file"
    also = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    what = exc.strerror or str(exc)
    return f"{what}: {where}{also}; {os_error_fix(exc)} (--debug shows the traceback)"


def app() -> None:  # console-script friendly
    sys.exit(main())


if __name__ == "__main__":
    app()
