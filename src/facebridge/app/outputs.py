"""Output folders checked before any work, so that a bad ``--out`` costs no analysis."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from facebridge.errors import InvalidInputError

__all__ = ["check_out_dir", "os_error_fix"]


def os_error_fix(exc: OSError) -> str:
    """What to do about an operating-system error a user can cause (one phrase).

    Parameters
    ----------
    exc : OSError

    Returns
    -------
    str

    Examples
    --------
    >>> import errno
    >>> os_error_fix(OSError(errno.ENOSPC, "No space left on device"))
    'free some disk space or write to another disk'
    """
    return {
        errno.ENOSPC: "free some disk space or write to another disk",
        errno.EDQUOT: "free some space within your disk quota or write to another disk",
        errno.EROFS: "the file system is read-only: write to a folder on a writable disk",
        errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
        errno.EISDIR: "the path is a folder where a file is expected: choose another path",
        errno.EACCES: "you may not write there: choose a folder you own or fix its permissions",
        errno.EPERM: "you may not write there: choose a folder you own or fix its permissions",
        errno.ENOENT: "the path does not exist: check it, or create its folder first",
    }.get(exc.errno or -1, "check the path")


def check_out_dir(path: str | Path, option: str = "--out") -> Path:
    """Check that the output folder ``path`` can be created and written, without creating it.

    A file is written and removed in ``path`` or, when it does not exist yet, in its nearest
    existing parent folder.

    Parameters
    ----------
    path : str or Path
        The folder a command will write to.
    option : str
        The option that named it (for the message).

    Returns
    -------
    Path

    Raises
    ------
    InvalidInputError
        ``path`` is a file, lies under a file, or cannot be written (read-only, no permission,
        full disk), in one line naming the path and the fix.

    Examples
    --------
    >>> import tempfile
    >>> check_out_dir(Path(tempfile.mkdtemp()) / "report").name
    'report'
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(
            f"{option} {out} is a file, not a folder; pass a folder (it is created if needed)"
        )
    parent = next((p for p in (out, *out.parents) if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise InvalidInputError(
            f"{option} {out} lies under {parent}, which is a file; pass a path made of folders"
        )
    where = parent if parent is not None else Path.cwd()
    try:
        fd, probe = tempfile.mkstemp(prefix=".facebridge-write-check-", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InvalidInputError(
            f"{option} {out} cannot be written ({exc.strerror or exc}); {os_error_fix(exc)}"
        ) from None
    return out
