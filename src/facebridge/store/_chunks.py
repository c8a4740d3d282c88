"""Chunked, kill-safe array storage shared by embeddings and detections.

One directory holds ``manifest.json`` and chunk files ``chunk-<seq>.npz``. Each chunk holds
``ids`` (fixed-width unicode), one array per field with ``n`` rows, ``failed_ids`` and
``failed_reasons``. Chunks and the manifest are written atomically (temporary file in the same
directory, fsync, ``os.replace``, fsync of the directory), so a kill at any moment leaves either
the old or the new file, never a torn one; a stray ``*.tmp`` is ignored by readers and removed by
the next writer.

Duplicate ids: chunks are replayed in sequence order and the **later record wins** (a
re-embedded item replaces its old vector; a later success clears an earlier failure and vice
versa).  An item is replaced by appending a new record, never by editing an old chunk: the old
row stays on disk, superseded, until :meth:`~facebridge.store.EmbeddingStore.compact` drops it,
so a kill during a replacement leaves either the old or the new record in force.

Optional per-record arrays ``sources`` (one per row) and ``failed_sources`` (one per failure)
hold the signature of the image the record was made from (see :func:`source_signature`):
``"<size>:<mtime_ns>:<sha256>"``, ``"missing"`` for an absent file, ``""`` when unknown.  Chunks
without them read as unknown signatures.

Operating-system errors while writing (no space left, read-only file system, a path component
that is a file) are raised as one-line :class:`~facebridge.errors.StoreError` messages naming
the path and the fix (the ``OSError`` is chained); the temporary file is removed, so nothing is
half-written. A writer holds an exclusive ``fcntl`` lock on ``writer.lock`` (released by the kernel if
the process dies), so two writers never interleave in one directory.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
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
_RESERVED = {"ids", "failed_ids", "failed_reasons", "sources", "failed_sources"}
#: Signature of an item whose image file does not exist.
MISSING = "missing"


def os_error(exc: OSError, path: Path, doing: str, option: str = "--store") -> StoreError:
    """A one-line :class:`StoreError` for an ``OSError`` met while ``doing`` something to ``path``.

    The message names the path, the operating system's reason and the fix for the common
    causes (no space left, read-only or forbidden location, a path component that is a file).
    Raise it ``from exc`` so the ``OSError`` stays chained.
    """
    code = exc.errno
    reason = exc.strerror or type(exc).__name__
    if code in (errno.ENOSPC, errno.EDQUOT):
        fix = f"free space on that disk (or pass another {option}) and re-run; the run resumes"
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = f"the location is not writable: choose a writable {option} or fix its permissions"
    elif code == errno.ENOTDIR:
        fix = f"a component of the path is a file, not a directory: pass another {option}"
    elif code == errno.EISDIR:
        fix = f"the path is a directory where a file is expected: pass another {option}"
    elif code == errno.ENOENT:
        fix = f"a parent directory does not exist: create it or pass another {option}"
    else:
        fix = f"check the path and the disk, or pass another {option}"
    return StoreError(f"cannot {doing} {path}: {reason}; {fix}")


def source_signature(path: Path, previous: str = "") -> str:
    """``"<size>:<mtime_ns>:<sha256>"`` of the file at ``path`` (``"missing"`` when absent).

    When ``previous`` has the same size and modification time the file is not read again and
    ``previous`` is returned (a changed file has a new size or mtime; a touched but equal file
    is hashed and keeps its content hash).
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return MISSING
    except OSError:
        return ""
    stamp = f"{st.st_size}:{st.st_mtime_ns}:"
    if previous.startswith(stamp) and len(previous) > len(stamp):
        return previous
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return ""
    return stamp + h.hexdigest()


def same_content(a: str, b: str) -> bool:
    """Whether two signatures describe the same content; unknown (``""``) matches anything."""
    if not a or not b:
        return True
    return a.rsplit(":", 1)[-1] == b.rsplit(":", 1)[-1]


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
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise os_error(exc, path, "write") from exc
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


class ShapeMismatch(StoreError):
    """A chunk's field has another trailing shape than the manifest promises."""

    def __init__(self, message: str, field: str, shape: tuple[int, ...]) -> None:
        super().__init__(message)
        self.field = field
        self.shape = shape


def read_chunk(path: Path, fields: list[Field], sources: bool = False) -> dict[str, np.ndarray]:
    """Load and validate one chunk (``allow_pickle=False``).

    With ``sources=True`` the optional ``sources`` / ``failed_sources`` arrays are read too
    (filled with ``""`` when the chunk has none).
    """
    fix = f"delete {path.name} (its items will be redone on resume) and re-run"
    need = {"ids", "failed_ids", "failed_reasons"} | {f.name for f in fields}
    optional = {"sources", "failed_sources"} if sources else set()
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k in need | optional}
    except PermissionError as e:
        raise StoreError(
            f"cannot read {path}: permission denied; fix its permissions (the chunk is not "
            "corrupt, do not delete it)"
        ) from e
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
            raise ShapeMismatch(
                f"corrupt chunk {path}: {f.name} has shape {a.shape}, expected {(n, *f.shape)}; {fix}",
                f.name,
                tuple(a.shape[1:]),
            )
    fi, fr = arrays["failed_ids"], arrays["failed_reasons"]
    if fi.ndim != 1 or fr.shape != fi.shape:
        raise StoreError(f"corrupt chunk {path}: failed_ids/failed_reasons disagree; {fix}")
    if sources:
        for key, like in (("sources", ids), ("failed_sources", fi)):
            src = arrays.get(key)
            if src is None or src.shape != like.shape or (src.size and src.dtype.kind != "U"):
                arrays[key] = np.full(like.shape, "", dtype="<U1")
    return arrays


def write_chunk(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    payload = dict(arrays)
    atomic_write_bytes(path, lambda f: np.savez_compressed(f, allow_pickle=False, **payload))  # type: ignore[arg-type]


@dataclass
class Merged:
    ids: list[str]
    fields: dict[str, np.ndarray]
    failures: dict[str, str]
    sources: dict[str, str]
    #: per row of ``ids``: the chunk file its record comes from
    origins: list[Path]


def merge_chunks(directory: Path, fields: list[Field]) -> Merged:
    """Replay every chunk in order (later wins) into arrays sorted by id."""
    where: dict[str, int] = {}  # id -> row in the concatenation of all chunks
    failures: dict[str, str] = {}
    sources: dict[str, str] = {}
    parts: dict[str, list[np.ndarray]] = {f.name: [] for f in fields}
    starts: list[tuple[int, Path]] = []
    offset = 0
    for _, path in chunk_files(directory):
        arrays = read_chunk(path, fields, sources=True)
        starts.append((offset, path))
        for row, (i, src) in enumerate(
            zip(arrays["ids"].tolist(), arrays["sources"].tolist(), strict=True)
        ):
            where[i] = offset + row
            sources[i] = src
            failures.pop(i, None)
        for i, reason, src in zip(
            arrays["failed_ids"].tolist(),
            arrays["failed_reasons"].tolist(),
            arrays["failed_sources"].tolist(),
            strict=True,
        ):
            failures[i] = reason
            sources[i] = src
            where.pop(i, None)
        for f in fields:
            parts[f.name].append(arrays[f.name])
        offset += len(arrays["ids"])
    ids = sorted(where)
    rows = np.fromiter((where[i] for i in ids), dtype=np.int64, count=len(ids))
    first = np.array([o for o, _ in starts], dtype=np.int64)
    which = np.searchsorted(first, rows, side="right") - 1 if len(first) else rows
    origins = [starts[int(k)][1] for k in which]
    out: dict[str, np.ndarray] = {}
    for f in fields:
        dt = np.float32 if np.dtype(f.dtype).kind == "f" else np.dtype(f.dtype)
        if parts[f.name]:
            out[f.name] = np.concatenate(parts[f.name])[rows].astype(dt, copy=False)
        else:
            out[f.name] = np.empty((0, *f.shape), dtype=dt)
    return Merged(ids, out, dict(sorted(failures.items())), sources, origins)


@dataclass(frozen=True)
class Record:
    """The newest record of one item: whether it failed, and the signature of its source."""

    failed: bool
    source: str


def records(directory: Path) -> dict[str, Record]:
    """The newest record of every item (later chunks win), reading only ids and signatures."""
    out: dict[str, Record] = {}
    for _, path in chunk_files(directory):
        try:
            with np.load(path, allow_pickle=False) as z:
                ids, fids = z["ids"].tolist(), z["failed_ids"].tolist()
                src = z["sources"].tolist() if "sources" in z.files else [""] * len(ids)
                fsrc = (
                    z["failed_sources"].tolist()
                    if "failed_sources" in z.files
                    else [""] * len(fids)
                )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
            raise StoreError(
                f"corrupt chunk {path} ({e}); delete {path.name} (its items will be redone) and re-run"
            ) from None
        if len(src) != len(ids) or len(fsrc) != len(fids):
            src, fsrc = [""] * len(ids), [""] * len(fids)
        for i, s in zip(ids, src, strict=True):
            out[i] = Record(False, str(s))
        for i, s in zip(fids, fsrc, strict=True):
            out[i] = Record(True, str(s))
    return out


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


def orphan_chunks(directory: Path) -> list[Path]:
    """Chunk files of ``directory`` when it has no manifest (``[]`` when it has one)."""
    if (directory / MANIFEST).is_file():
        return []
    return [p for _, p in chunk_files(directory)]


class DirLock:
    """Exclusive advisory lock on ``directory/writer.lock`` (no-op where fcntl is absent)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise os_error(exc, self.path, "create the writer lock") from exc
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
