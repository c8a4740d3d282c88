"""The ``facebridge`` command line.

Thin: each sub-command lives in its own module ``facebridge/cli/<name>.py`` exposing
``register(subparsers) -> None``, which adds an ``argparse`` parser and sets ``func=run`` where
``run(args) -> int``.  Modules are discovered automatically (names starting with ``_`` are
helpers, not commands).  A :class:`~facebridge.errors.FacebridgeError` and an operating-system
error a user can cause (disk full, read-only file system, a file where a folder is expected, no
permission) are printed as one line ``facebridge: error: ...`` naming the path and the fix, with
exit status 2; ``facebridge --debug COMMAND`` shows their traceback instead.  Any other exception
keeps its traceback.  A facebridge warning (e.g. :class:`~facebridge.store.NonUnitVectorsWarning`:
stored vectors rescaled to unit length) is one line ``facebridge: warning: ...`` on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import pkgutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import TextIO

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
        with _warnings_as_lines(args.debug):
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


@contextlib.contextmanager
def _warnings_as_lines(debug: bool) -> Iterator[None]:
    """Show facebridge's own warnings as one ``facebridge: warning: ...`` line each (``--debug``:
    as Python shows them); other warnings are left as they are."""
    if debug:
        yield
        return
    with warnings.catch_warnings():
        original = warnings.showwarning

        def show(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if category.__module__.split(".")[0] == "facebridge":
                text = " ".join(str(message).splitlines())
                print(f"facebridge: warning: {text}", file=sys.stderr)
            else:
                original(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


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
