"""Where facebridge finds the shared data and keeps its cache.

* ``FACEBRIDGE_DATA``: the data directory holding ``lfw/``, ``ytf/`` and ``fixtures/``
  (default: the first ``../shared/data`` found above the current directory or this package).
* ``FACEBRIDGE_CACHE``: where pulled weights are kept (default: ``$XDG_CACHE_HOME/facebridge``,
  i.e. ``~/.cache/facebridge``).
"""

from __future__ import annotations

import os
from pathlib import Path

from facebridge.errors import FacebridgeError

DATA_ENV = "FACEBRIDGE_DATA"
CACHE_ENV = "FACEBRIDGE_CACHE"


def _candidates() -> list[Path]:
    out: list[Path] = []
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for parent in (start, *start.parents):
            out.append(parent / "shared" / "data")
            out.append(parent.parent / "shared" / "data")
    return out


def find_data_dir() -> Path | None:
    """Return the shared data directory, or ``None`` when none is found."""
    env = os.environ.get(DATA_ENV)
    if env:
        p = Path(env).expanduser()
        return p if p.is_dir() else None
    for c in _candidates():
        if (c / "lfw").is_dir() or (c / "fixtures").is_dir():
            return c.resolve()
    return None


def data_dir() -> Path:
    """Return the shared data directory or raise with the fix."""
    p = find_data_dir()
    if p is None:
        raise FacebridgeError(
            f"shared data directory not found: set {DATA_ENV} to the folder that holds lfw/ and ytf/ "
            "(e.g. export FACEBRIDGE_DATA=../shared/data)"
        )
    return p


def cache_dir() -> Path:
    """Return (without creating) the cache directory for pulled weights."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "facebridge"
