"""Chunked, kill-safe array storage shared by embeddings and detections.

One directory holds ``manifest.json`` and chunk files ``chunk-<seq>.npz``. Each chunk holds
``ids`` (fixed-width unicode), one array per field with ``n`` rows, ``failed_ids`` and
``failed_reasons``. Chunks and the manifest are written atomically (temporary file in the same
directory, fsync, ``os.replace``, fsync of the directory), so a kill at any moment leaves either
the old or the new file, never a torn one; a stray ``*.tmp`` is ignored by readers and removed by
the next writer.

Duplicate ids: chunks are replayed in sequence order and the **later record wins** (a
re-embedded item replaces its old vector; a later success clears an earlier failure and vice
versa). A writer holds an exclusive ``fcntl`` lock on ``writer.lock`` (released by the kernel if
the process dies), so two writers never interleave in one directory.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facebridge.errors import StoreError

MANIFEST = "manifest.json"
LOCK = "writer.lock"
FORMAT = "facebridge-store/1"
_CHUNK = re.compile(r"^chunk-(\d{6,})\.npz$")
_RESERVED = {"ids", "failed_ids", "failed_reasons"}


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Write ``path`` atomically: ``write(fileobj)`` into ``path.<pid>.tmp``, fsync, rename."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_json(path: Path, obj: Mapping[str, Any]) -> None:
    data = json.dumps(obj, indent=2, sort_keys=True).encode("utf-8") + b"\n"
    atomic_write_bytes(path, lambda f: f.write(data))


def read_json(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"manifest missing: {path}; the directory is not a store entry") from None
    except (OSError, ValueError) as e:
        raise StoreError(
            f"corrupt manifest {path} ({e}); delete {path.parent} and re-create it"
        ) from None
    if not isinstance(obj, dict):
        raise StoreError(f"corrupt manifest {path}: expected a JSON object; delete {path.parent}")
    return obj


def str_array(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=str) if values else np.zeros(0, dtype="<U1")


@dataclass(frozen=True)
class Field:
    """One per-row array in a chunk: trailing shape and on-disk dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str


def chunk_files(directory: Path) -> list[tuple[int, Path]]:
    """Chunk files of ``directory`` in sequence order (``*.tmp`` and others ignored)."""
    out = []
    if directory.is_dir():
        for p in directory.iterdir():
            m = _CHUNK.match(p.name)
            if m:
                out.append((int(m.group(1)), p))
    out.sort()
    return out


def chunk_name(seq: int) -> str:
    return f"chunk-{seq:06d}.npz"


def read_chunk(path: Path, fields: list[Field]) -> dict[str, np.ndarray]:
    """Load and validate one chunk (``allow_pickle=False``)."""
    fix = f"delete {path.name} (its items will be redone on resume) and re-run"
    need = {"ids", "failed_ids", "failed_reasons"} | {f.name for f in fields}
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k in need}  # read only what is asked for
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise StoreError(f"corrupt chunk {path} ({e}); {fix}") from None
    missing = sorted(need - set(arrays))
    if missing:
        raise StoreError(f"corrupt chunk {path}: missing arrays {missing}; {fix}")
    ids = arrays["ids"]
    n = ids.shape[0] if ids.ndim == 1 else -1
    if ids.ndim != 1 or (n and ids.dtype.kind != "U"):
        raise StoreError(f"corrupt chunk {path}: ids must be a 1-d unicode array; {fix}")
    for f in fields:
        a = arrays[f.name]
        if a.shape != (n, *f.shape):
            raise StoreError(
                f"corrupt chunk {path}: {f.name} has shape {a.shape}, expected {(n, *f.shape)}; {fix}"
            )
    fi, fr = arrays["failed_ids"], arrays["failed_reasons"]
    if fi.ndim != 1 or fr.shape != fi.shape:
        raise StoreError(f"corrupt chunk {path}: failed_ids/failed_reasons disagree; {fix}")
    return arrays


def write_chunk(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    payload = dict(arrays)
    atomic_write_bytes(path, lambda f: np.savez_compressed(f, allow_pickle=False, **payload))  # type: ignore[arg-type]


@dataclass
class Merged:
    ids: list[str]
    fields: dict[str, np.ndarray]
    failures: dict[str, str]


def merge_chunks(directory: Path, fields: list[Field]) -> Merged:
    """Replay every chunk in order (later wins) into arrays sorted by id."""
    where: dict[str, int] = {}  # id -> row in the concatenation of all chunks
    failures: dict[str, str] = {}
    parts: dict[str, list[np.ndarray]] = {f.name: [] for f in fields}
    offset = 0
    for _, path in chunk_files(directory):
        arrays = read_chunk(path, fields)
        for row, i in enumerate(arrays["ids"].tolist()):
            where[i] = offset + row
            failures.pop(i, None)
        for i, reason in zip(
            arrays["failed_ids"].tolist(), arrays["failed_reasons"].tolist(), strict=True
        ):
            failures[i] = reason
            where.pop(i, None)
        for f in fields:
            parts[f.name].append(arrays[f.name])
        offset += len(arrays["ids"])
    ids = sorted(where)
    rows = np.fromiter((where[i] for i in ids), dtype=np.int64, count=len(ids))
    out: dict[str, np.ndarray] = {}
    for f in fields:
        dt = np.float32 if np.dtype(f.dtype).kind == "f" else np.dtype(f.dtype)
        if parts[f.name]:
            out[f.name] = np.concatenate(parts[f.name])[rows].astype(dt, copy=False)
        else:
            out[f.name] = np.empty((0, *f.shape), dtype=dt)
    return Merged(ids, out, dict(sorted(failures.items())))


def done_ids(directory: Path) -> set[str]:
    """Ids recorded in any chunk (embedded or failed), reading only the id arrays."""
    out: set[str] = set()
    for _, path in chunk_files(directory):
        try:
            with np.load(path, allow_pickle=False) as z:
                out.update(z["ids"].tolist())
                out.update(z["failed_ids"].tolist())
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
            raise StoreError(
                f"corrupt chunk {path} ({e}); delete {path.name} (its items will be redone) and re-run"
            ) from None
    return out


class DirLock:
    """Exclusive advisory lock on ``directory/writer.lock`` (no-op where fcntl is absent)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            self._fd = fd
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError(
                f"another writer is using {self.path.parent}; wait for it to finish "
                "(or stop it) before writing here"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing drops the flock
            self._fd = None


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    lock = DirLock(directory)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def remove_stray_tmp(directory: Path) -> list[Path]:
    """Delete leftovers of interrupted atomic writes (call only while holding the lock)."""
    removed = []
    for p in directory.glob("*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


def next_seq(directory: Path) -> int:
    files = chunk_files(directory)
    return files[-1][0] + 1 if files else 0
