"""The embedding store: one directory per dataset, one sub-directory per model, plus detections.

Layout::

    <root>/
      <model>/manifest.json          model, dim, weights_sha256, detector, facebridge_version,
                                     created, dtype (on disk), extra, format
      <model>/chunk-000000.npz ...   ids, vectors, failed_ids, failed_reasons
      _detections/<detector>/...     same machinery: ids, boxes, landmarks, scores, fallback

See :mod:`facebridge.store._chunks` for the kill-safety guarantees (atomic chunk writes,
later-wins replay of duplicate ids, one writer per directory).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from facebridge.errors import DimensionError, InvalidInputError, StoreError
from facebridge.store import _chunks as ch

__all__ = [
    "DETECTIONS_DIR",
    "DetectionWriter",
    "Detections",
    "EmbeddingStore",
    "Embeddings",
    "StoreWriter",
    "default_store",
    "default_store_path",
]

DETECTIONS_DIR = "_detections"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_DTYPES = ("float32", "float16")
N_LANDMARKS = 5


def _check_key(key: Any, what: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise InvalidInputError(
            f"{what} key must start with a letter or digit and use only letters, digits and "
            f"'._+-', got {key!r}; rename it"
        )
    return key


def _version() -> str:
    from facebridge import __version__

    return __version__


def _check_ids(ids: Sequence[str], what: str) -> list[str]:
    if isinstance(ids, str):
        raise InvalidInputError(
            f"{what}: ids must be a sequence of strings, got one string {ids!r}"
        )
    out = list(ids)
    for i in out:
        if not isinstance(i, str) or not i or i != i.strip("\x00"):
            raise InvalidInputError(f"{what}: every id must be a non-empty string, got {i!r}")
    if len(set(out)) != len(out):
        dup = next(i for i in out if out.count(i) > 1)
        raise InvalidInputError(f"{what}: id {dup!r} appears twice in one call; give each id once")
    return out


def _check_rows(
    name: str,
    arr: Any,
    n: int,
    shape: tuple[int, ...],
    ids: list[str],
    finite: bool = True,
    dtype: str | None = None,
) -> np.ndarray:
    """Validate rows; with ``dtype`` return them cast to it, finite *after* the cast."""
    a = np.asarray(arr)
    if a.shape != (n, *shape):
        raise DimensionError(
            f"{name} must have shape {(n, *shape)} for {n} ids, got {a.shape}; "
            "give one row per id with the store's dimension"
        )
    if a.size and a.dtype.kind not in "fiub":
        raise InvalidInputError(f"{name} must be numeric, got dtype {a.dtype}")
    if finite and a.size and a.dtype.kind in "fc" and not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a.reshape(n, -1)).all(axis=1))[0])
        raise InvalidInputError(
            f"{name} of id {ids[bad]!r} contains NaN or inf; record it with add_failure instead"
        )
    if dtype is not None:
        if a.dtype.kind == "c":
            raise InvalidInputError(f"{name} must be real, got dtype {a.dtype}")
        with np.errstate(over="ignore", invalid="ignore"):
            cast = a.astype(dtype)
        if finite and cast.size and cast.dtype.kind == "f" and not np.isfinite(cast).all():
            bad = int(np.flatnonzero(~np.isfinite(cast.reshape(n, -1)).all(axis=1))[0])
            top = float(np.finfo(cast.dtype).max)
            raise InvalidInputError(
                f"{name} of id {ids[bad]!r} exceed the {cast.dtype} range (|x| <= {top:.4g}) and "
                f"would be stored as inf; rescale them (embeddings are unit vectors) or record "
                "the item with add_failure"
            )
        a = cast
    return a


def _check_sources(sources: Sequence[str] | None, n: int) -> list[str]:
    if sources is None:
        return [""] * n
    out = list(sources)
    if len(out) != n or not all(isinstance(x, str) for x in out):
        raise InvalidInputError(
            f"sources must be {n} strings (one signature per id), got {sources!r}"
        )
    return out


# ------------------------------------------------------------------------------------ results


@dataclass(frozen=True, eq=False)  # arrays inside: compare fields explicitly
class Embeddings:
    """All embeddings of one model in a store.

    Attributes
    ----------
    model : str
    ids : tuple of str
        Sorted item ids.
    vectors : ndarray
        float32 ``(n, dim)``, row ``i`` belongs to ``ids[i]``.
    failures : dict
        item id -> reason, for items that could not be embedded.
    manifest : dict
        The manifest, plus ``n_items``, ``failures`` and ``non_unit_rows`` (rows found with a
        norm other than 1, see :meth:`EmbeddingStore.load`).
    sources : dict
        item id -> signature ``"<size>:<mtime_ns>:<sha256>"`` of the image each newest record
        (embedded or failed) was made from (``""`` where unknown).
    """

    model: str
    ids: tuple[str, ...]
    vectors: np.ndarray
    failures: dict[str, str]
    manifest: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict, repr=False)
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, obj: Any, model: str = "embeddings") -> Embeddings:
        """``obj`` as Embeddings: Embeddings, anything with ``ids`` and ``vectors``, an
        ``(ids, vectors)`` tuple or a mapping with ``"ids"`` and ``"vectors"``; ``model``
        names it when ``obj`` does not.

        Raises
        ------
        InvalidInputError
            Another kind of object.
        DimensionError
            ``vectors`` not of shape ``(len(ids), dim)``.

        Examples
        --------
        >>> Embeddings.of((["x", "y"], [[1.0, 0.0], [0.0, 1.0]]), "m").dim
        2
        """
        if isinstance(obj, Embeddings):
            return obj
        if isinstance(obj, tuple) and len(obj) == 2:
            ids, vectors = obj
        elif isinstance(obj, Mapping):
            ids, vectors, model = obj["ids"], obj["vectors"], obj.get("model", model)
        elif hasattr(obj, "ids") and hasattr(obj, "vectors"):
            ids, vectors, model = obj.ids, obj.vectors, getattr(obj, "model", model)
        else:
            raise InvalidInputError(
                f"{model} embeddings must be Embeddings (store.load), an (ids, vectors) tuple "
                f"or a mapping with 'ids' and 'vectors'; got {type(obj).__name__}"
            )
        ids_t = tuple(str(i) for i in ids)
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[0] != len(ids_t):
            raise DimensionError(
                f"{model}: vectors must be (n_ids, dim) = ({len(ids_t)}, dim), got {v.shape}; "
                "pass one row per id"
            )
        return cls(str(model), ids_t, v, {}, {})

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def index(self) -> dict[str, int]:
        """item id -> row of :attr:`vectors`."""
        if not self._index:
            self._index.update({i: k for k, i in enumerate(self.ids)})
        return dict(self._index)

    def take(self, ids: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``ids`` in the given order.

        Returns
        -------
        vectors : ndarray
            float32 ``(k, dim)``; rows of absent (failed or never embedded) ids are zero.
        present : ndarray
            bool ``(k,)``: ``True`` where the id has a vector.
        """
        if not self._index:
            self.index()
        rows = np.array([self._index.get(i, -1) for i in ids], dtype=np.int64)
        present = rows >= 0
        out = np.zeros((len(rows), self.vectors.shape[1]), dtype=np.float32)
        out[present] = self.vectors[rows[present]]
        return out, present


@dataclass(frozen=True, eq=False)
class Detections:
    """Face detections of one detector.

    Attributes
    ----------
    detector : str
    ids : tuple of str
        Sorted item ids.
    boxes : ndarray
        float32 ``(n, 4)``: ``x1, y1, x2, y2`` in pixels.
    landmarks : ndarray
        float32 ``(n, 5, 2)``: (x, y) of left eye, right eye, nose, mouth left, mouth right.
    scores : ndarray
        float32 ``(n,)``: detector confidence.
    fallback : ndarray
        bool ``(n,)``: ``True`` where no face was found and a fallback box was used.
    failures : dict
        item id -> reason.
    manifest : dict
    """

    detector: str
    ids: tuple[str, ...]
    boxes: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray
    fallback: np.ndarray
    failures: dict[str, str]
    manifest: dict[str, Any]

    def __len__(self) -> int:
        return len(self.ids)

    def index(self) -> dict[str, int]:
        """item id -> row."""
        return {i: k for k, i in enumerate(self.ids)}


# ------------------------------------------------------------------------------------ writers


class _ChunkWriter:
    """Buffers rows and failures; each flush writes one chunk atomically."""

    def __init__(self, directory: Path, fields: list[ch.Field], flush_every: int | None) -> None:
        if flush_every is not None and flush_every < 1:
            raise InvalidInputError(f"flush_every must be >= 1 or None, got {flush_every}")
        self.directory = directory
        self._fields = fields
        self._flush_every = flush_every
        self._rows: dict[str, tuple[np.ndarray, ...]] = {}
        self._failed: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self._lock = ch.DirLock(directory)
        self._lock.acquire()
        ch.remove_stray_tmp(directory)
        self._seq = ch.next_seq(directory)
        self._closed = False
        self.n_written = 0
        self.n_failed = 0

    # context manager -------------------------------------------------------------------------
    def __enter__(self) -> _ChunkWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Flush what is buffered and release the directory lock."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._lock.release()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"writer for {self.directory} is closed; open a new one")

    @property
    def pending(self) -> int:
        """Number of buffered (not yet flushed) records."""
        return len(self._rows) + len(self._failed)

    def _add_rows(
        self, ids: list[str], columns: list[np.ndarray], sources: Sequence[str] | None = None
    ) -> None:
        self._check_open()
        src = _check_sources(sources, len(ids))
        for k, i in enumerate(ids):
            self._failed.pop(i, None)
            self._rows.pop(i, None)  # a re-added id moves to the end, like a new record
            self._rows[i] = tuple(c[k] for c in columns)
            self._sources[i] = src[k]
            self._maybe_flush()  # a large add is split into chunks of flush_every

    def add_failure(self, item_id: str, reason: str, source: str = "") -> None:
        """Record that ``item_id`` could not be processed, and why (skipped on resume).

        ``source`` is the signature of the image the attempt read (see
        :func:`facebridge.store.source_signature`); ``""`` when unknown.
        """
        self._check_open()
        (item_id,) = _check_ids([item_id], "add_failure")
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInputError(
                f"add_failure({item_id!r}): reason must be a non-empty string, got {reason!r}"
            )
        (src,) = _check_sources([source], 1)
        self._rows.pop(item_id, None)
        self._failed.pop(item_id, None)
        self._failed[item_id] = reason.strip()
        self._sources[item_id] = src
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self._flush_every is not None and self.pending >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records as one new chunk (atomic); no-op when nothing is buffered."""
        self._check_open()
        if not self.pending:
            return
        ids = list(self._rows)
        arrays: dict[str, np.ndarray] = {"ids": ch.str_array(ids)}
        for j, f in enumerate(self._fields):
            arr = np.empty((len(ids), *f.shape), dtype=f.dtype)
            for k, i in enumerate(ids):
                arr[k] = self._rows[i][j]
            arrays[f.name] = arr
        arrays["failed_ids"] = ch.str_array(list(self._failed))
        arrays["failed_reasons"] = ch.str_array(list(self._failed.values()))
        arrays["sources"] = ch.str_array([self._sources.get(i, "") for i in ids])
        arrays["failed_sources"] = ch.str_array([self._sources.get(i, "") for i in self._failed])
        ch.write_chunk(self.directory / ch.chunk_name(self._seq), arrays)
        self._seq += 1
        self.n_written += len(ids)
        self.n_failed += len(self._failed)
        self._rows.clear()
        self._failed.clear()
        self._sources.clear()


class StoreWriter(_ChunkWriter):
    """Writes embeddings of one model; use as a context manager (flushes and unlocks on exit).

    Each :meth:`flush` writes one chunk atomically; with ``flush_every`` set, a flush happens
    automatically once that many records are buffered. A kill loses at most the unflushed
    records; re-running and skipping :meth:`EmbeddingStore.done_ids` resumes.
    """

    def __init__(
        self, directory: Path, model: str, dim: int, dtype: str, flush_every: int | None
    ) -> None:
        super().__init__(directory, [ch.Field("vectors", (dim,), dtype)], flush_every)
        self.model = model
        self.dim = dim

    def __enter__(self) -> StoreWriter:
        return self

    def add(
        self, ids: Sequence[str], vectors: np.ndarray, sources: Sequence[str] | None = None
    ) -> None:
        """Buffer embeddings.

        Parameters
        ----------
        ids : sequence of str, length n
        vectors : array (n, dim)
            Finite values, finite also once cast to the store's dtype; returned as float32.
        sources : sequence of str, optional
            Signature of the image each row was made from (see
            :func:`facebridge.store.source_signature`); default unknown (``""``).

        Raises
        ------
        DimensionError
            ``vectors`` is not ``(n, dim)``.
        InvalidInputError
            NaN/inf values (also values such as ``1e39`` that overflow the store's dtype),
            empty or repeated ids.
        """
        self._check_open()
        ids_ = _check_ids(ids, f"add to {self.model!r}")
        dtype = self._fields[0].dtype
        if dtype == "float16":
            a = np.asarray(vectors)
            if (
                a.size
                and a.dtype.kind in "fiu"
                and np.all(np.isfinite(a))
                and np.abs(a).max() > 65504
            ):
                raise InvalidInputError(
                    f"vectors of {self.model!r} exceed the float16 range of this store; "
                    "store them in a float32 store"
                )
        v = _check_rows("vectors", vectors, len(ids_), (self.dim,), ids_, dtype=dtype)
        self._add_rows(ids_, [v], sources)


class DetectionWriter(_ChunkWriter):
    """Writes detections of one detector (same chunk/atomic/resume machinery as StoreWriter)."""

    def __init__(self, directory: Path, detector: str, flush_every: int | None) -> None:
        super().__init__(
            directory,
            [
                ch.Field("boxes", (4,), "float32"),
                ch.Field("landmarks", (N_LANDMARKS, 2), "float32"),
                ch.Field("scores", (), "float32"),
                ch.Field("fallback", (), "bool"),
            ],
            flush_every,
        )
        self.detector = detector

    def __enter__(self) -> DetectionWriter:
        return self

    def add(
        self,
        ids: Sequence[str],
        boxes: np.ndarray,
        landmarks: np.ndarray,
        scores: np.ndarray,
        fallback: np.ndarray | Sequence[bool] | None = None,
        sources: Sequence[str] | None = None,
    ) -> None:
        """Buffer detections.

        Parameters
        ----------
        ids : sequence of str, length n
        boxes : array (n, 4)
            ``x1, y1, x2, y2``.
        landmarks : array (n, 5, 2)
            Left eye, right eye, nose, mouth left, mouth right.
        scores : array (n,)
        fallback : array (n,) of bool, optional
            Default all ``False``.
        sources : sequence of str, optional
            Signature of each image (see :func:`facebridge.store.source_signature`).
        """
        self._check_open()
        ids_ = _check_ids(ids, f"add to detections {self.detector!r}")
        n = len(ids_)
        b = _check_rows("boxes", boxes, n, (4,), ids_, dtype="float32")
        lm = _check_rows("landmarks", landmarks, n, (N_LANDMARKS, 2), ids_, dtype="float32")
        s = _check_rows("scores", scores, n, (), ids_, dtype="float32")
        fb = np.zeros(n, dtype=bool) if fallback is None else np.asarray(fallback)
        if fb.shape != (n,) or (fb.size and fb.dtype != bool):
            raise DimensionError(
                f"fallback must be a bool array of shape ({n},), got {fb.dtype} {fb.shape}"
            )
        self._add_rows(ids_, [b, lm, s, fb], sources)


# ------------------------------------------------------------------------------------ the store


class EmbeddingStore:
    """Embeddings of many models for one dataset, kept on disk.

    Parameters
    ----------
    root : str or Path
        The store directory; the constructor does not create it (see :meth:`create`).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"EmbeddingStore({str(self.root)!r})"

    @classmethod
    def create(cls, root: str | Path) -> EmbeddingStore:
        """Open ``root``, creating the directory (and parents) if needed."""
        p = Path(root)
        if p.exists() and not p.is_dir():
            raise StoreError(f"store path {p} exists and is not a directory; pass another --store")
        _mkdir(p)
        return cls(p)

    # ---------------------------------------------------------------------------------- models
    def models(self) -> list[str]:
        """Model keys with a manifest, sorted (``[]`` for an empty or absent store).

        Raises
        ------
        StoreError
            A model directory holds chunk files but no ``manifest.json`` (see :meth:`orphans`):
            its data would otherwise be silently left out of every analysis.
        """
        if not self.root.is_dir():
            return []
        orphans = self.orphans()
        if orphans:
            d, chunks = next(iter(orphans.items()))
            more = f" (and {len(orphans) - 1} more directories)" if len(orphans) > 1 else ""
            raise StoreError(
                f"{d} holds {len(chunks)} chunk file(s) but no {ch.MANIFEST}{more}; restore "
                f"{d / ch.MANIFEST} from a backup, or move {d} out of the store and re-embed "
                f"that model with `facebridge embed --models {d.name}`"
            )
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and _KEY.match(p.name) and (p / ch.MANIFEST).is_file()
        )

    def orphans(self) -> dict[Path, list[Path]]:
        """Model or detector directories with chunk files but no manifest: directory -> chunks.

        Examples
        --------
        >>> import tempfile
        >>> EmbeddingStore(tempfile.mkdtemp()).orphans()
        {}
        """
        out: dict[Path, list[Path]] = {}
        if not self.root.is_dir():
            return out
        dirs = [p for p in self.root.iterdir() if p.is_dir() and p.name != DETECTIONS_DIR]
        det = self.root / DETECTIONS_DIR
        if det.is_dir():
            dirs += [p for p in det.iterdir() if p.is_dir()]
        for d in sorted(dirs):
            chunks = ch.orphan_chunks(d)
            if chunks:
                out[d] = chunks
        return out

    def _model_dir(self, model: str) -> Path:
        return self.root / _check_key(model, "model")

    def _unknown(self, model: str) -> StoreError:
        d = self.root / model
        orphan = ch.orphan_chunks(d) if d.is_dir() else []
        if orphan:
            return StoreError(
                f"{d} holds {len(orphan)} chunk file(s) but no {ch.MANIFEST}; restore "
                f"{d / ch.MANIFEST} from a backup, or move {d} out of the store and re-embed "
                f"with `facebridge embed --models {model}`"
            )
        present = self.models()
        if not self.root.is_dir():
            return StoreError(
                f"no store at {self.root}; create it with `facebridge embed` or give the right path"
            )
        if not present:
            return StoreError(
                f"model {model!r} not in store {self.root}: the store is empty; "
                "embed it first with `facebridge embed`"
            )
        close = difflib.get_close_matches(model, present, n=3)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        return StoreError(
            f"model {model!r} not in store {self.root}{hint}; models present: {', '.join(present)}"
        )

    def manifest(self, model: str) -> dict[str, Any]:
        """Manifest of ``model`` plus ``n_items`` and ``failures`` computed from the chunks.

        Raises
        ------
        StoreError
            Unknown model (the message lists the models present) or a corrupt manifest.
        """
        d = self._model_dir(model)
        if not (d / ch.MANIFEST).is_file():
            raise self._unknown(model)
        man = ch.read_json(d / ch.MANIFEST)
        merged = ch.merge_chunks(d, [])
        man["n_items"] = len(merged.ids)
        man["failures"] = merged.failures
        return man

    def done_ids(self, model: str) -> set[str]:
        """Items already embedded or failed for ``model`` (skip them on resume); empty if none."""
        return ch.done_ids(self._model_dir(model))

    def records(self, model: str) -> dict[str, ch.Record]:
        """The newest record of each item of ``model``: ``Record(failed, source)``; empty if none.

        ``source`` is the signature of the image the record was made from (``""`` unknown), so
        a caller can tell a failure from a success and a changed image from an unchanged one.
        """
        return ch.records(self._model_dir(model))

    def writer(
        self,
        model: str,
        *,
        dim: int,
        weights_sha256: str,
        detector: str,
        extra: Mapping[str, Any] | None = None,
        flush_every: int | None = None,
        unit_norm: bool | None = None,
    ) -> StoreWriter:
        """Open a writer for ``model`` (creating the store and the model entry if needed).

        Parameters
        ----------
        model : str
            Model key (letters, digits, ``._+-``).
        dim : int
            Embedding dimension.
        weights_sha256 : str
            sha256 of the weights the embeddings come from.
        detector : str
            Detector / alignment used before embedding.
        extra : dict, optional
            JSON-serialisable metadata kept in the manifest (first writer's copy is kept).
        flush_every : int, optional
            Flush automatically once this many records are buffered.
        unit_norm : bool, optional
            Record in a new manifest whether the model's vectors are unit length (see
            :meth:`load`); ``None`` leaves it to :meth:`load` to infer.

        Raises
        ------
        StoreError
            The model exists with a different ``dim``, ``weights_sha256`` or ``detector``
            (mixing would corrupt comparisons), or another writer holds the model.
        """
        d = self._model_dir(model)
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
            raise InvalidInputError(f"dim must be a positive integer, got {dim!r}")
        dim = int(dim)
        if not isinstance(weights_sha256, str) or not weights_sha256.strip():
            raise InvalidInputError(
                f"weights_sha256 must be a non-empty string, got {weights_sha256!r}"
            )
        if not isinstance(detector, str) or not detector.strip():
            raise InvalidInputError(f"detector must be a non-empty string, got {detector!r}")
        sha = weights_sha256.strip().lower()
        _mkdir(d)
        man_path = d / ch.MANIFEST
        with ch.locked(d):
            orphan = ch.orphan_chunks(d)
            if orphan:
                raise StoreError(
                    f"{d} holds {len(orphan)} chunk file(s) but no {ch.MANIFEST}; refusing to "
                    f"write a new manifest over data of unknown dimension: restore "
                    f"{man_path} from a backup, or move {d} out of the store and re-run"
                )
            if man_path.is_file():
                man = ch.read_json(man_path)
                for key, new in (("dim", dim), ("weights_sha256", sha), ("detector", detector)):
                    if man.get(key) != new:
                        raise StoreError(
                            f"store {self.root} already holds {model!r} with {key}={man.get(key)!r}, "
                            f"refusing to add {key}={new!r}; write to a new store directory "
                            "(or a different model key)"
                        )
            else:
                man = {
                    "format": ch.FORMAT,
                    "model": model,
                    "dim": dim,
                    "weights_sha256": sha,
                    "detector": detector,
                    "facebridge_version": _version(),
                    "created": ch.now_iso(),
                    "dtype": "float32",
                    "extra": dict(extra or {}),
                }
                if unit_norm is not None:
                    man["unit_norm"] = bool(unit_norm)
                try:
                    ch.write_json(man_path, man)
                except TypeError as e:
                    raise InvalidInputError(f"extra must be JSON-serialisable: {e}") from None
        return StoreWriter(d, model, dim, str(man.get("dtype", "float32")), flush_every)

    def load(self, model: str, on_non_unit: str = "normalize") -> Embeddings:
        """All embeddings of ``model`` (later records win over earlier ones for the same id).

        Embeddings are unit vectors (every model L2-normalises its output, and the maps and
        scores assume it).  A model is held to that contract when its manifest says
        ``"unit_norm": true`` or, without that key, when the median row norm is within 1e-2 of
        1.  Rows of such a model whose norm differs from 1 by more than 1e-2 (a hand-scaled or
        corrupted chunk) are *non-unit*: with ``on_non_unit="normalize"`` (default) they are
        rescaled to unit length and a :class:`NonUnitVectorsWarning` names the model, the count,
        the norms and the chunk files; ``"raise"`` refuses with a :class:`StoreError`;
        ``"ignore"`` returns them as stored.  ``manifest["non_unit_rows"]`` holds the count.

        Parameters
        ----------
        model : str
        on_non_unit : {"normalize", "raise", "ignore"}

        Raises
        ------
        StoreError
            Unknown model (lists the models present), corrupt manifest or chunk, a manifest
            ``dim`` that disagrees with every chunk (the message names the manifest), or
            non-unit rows with ``on_non_unit="raise"``.
        """
        d = self._model_dir(model)
        if not (d / ch.MANIFEST).is_file():
            raise self._unknown(model)
        if on_non_unit not in _NON_UNIT:
            raise InvalidInputError(
                f"on_non_unit must be one of {', '.join(_NON_UNIT)}, got {on_non_unit!r}"
            )
        man = ch.read_json(d / ch.MANIFEST)
        dim = man.get("dim")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise StoreError(f"corrupt manifest {d / ch.MANIFEST}: dim={dim!r}; delete {d}")
        try:
            merged = ch.merge_chunks(d, [ch.Field("vectors", (dim,), "float32")])
        except ch.ShapeMismatch as e:
            raise _blame_dim(d, dim, e) from None
        vectors = merged.fields["vectors"]
        man["n_items"] = len(merged.ids)
        man["failures"] = dict(merged.failures)
        vectors, man["non_unit_rows"] = _check_unit(
            model, vectors, merged.origins, man, on_non_unit
        )
        return Embeddings(
            model=model,
            ids=tuple(merged.ids),
            vectors=vectors,
            failures=merged.failures,
            manifest=man,
            sources=dict(sorted(merged.sources.items())),
        )

    def compact(self, model: str, dtype: str = "float16") -> Path:
        """Rewrite all chunks of ``model`` into one chunk of ``dtype`` (for shipping).

        Atomic: the merged chunk is written first under the next sequence number (so it wins
        over the old chunks even if the process dies before they are deleted), then the
        manifest's ``dtype`` is updated, then the old chunks are removed.

        Returns
        -------
        Path
            The new chunk file.

        Raises
        ------
        InvalidInputError
            ``dtype`` not float32/float16, or values outside the float16 range.
        """
        if dtype not in _DTYPES:
            raise InvalidInputError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
        d = self._model_dir(model)
        if not (d / ch.MANIFEST).is_file():
            raise self._unknown(model)
        with ch.locked(d):
            emb = self.load(model, on_non_unit="ignore")
            vec = emb.vectors
            if dtype == "float16" and vec.size and np.abs(vec).max() > 65504:
                raise InvalidInputError(
                    f"vectors of {model!r} exceed the float16 range; compact with dtype='float32'"
                )
            ch.remove_stray_tmp(d)
            old = ch.chunk_files(d)
            seq = old[-1][0] + 1 if old else 0
            new = d / ch.chunk_name(seq)
            ch.write_chunk(
                new,
                {
                    "ids": ch.str_array(list(emb.ids)),
                    "vectors": vec.astype(dtype),
                    "failed_ids": ch.str_array(list(emb.failures)),
                    "failed_reasons": ch.str_array(list(emb.failures.values())),
                    "sources": ch.str_array([emb.sources.get(i, "") for i in emb.ids]),
                    "failed_sources": ch.str_array([emb.sources.get(i, "") for i in emb.failures]),
                },
            )
            man = ch.read_json(d / ch.MANIFEST)
            man["dtype"] = dtype
            ch.write_json(d / ch.MANIFEST, man)
            for _, p in old:
                p.unlink()
            ch.fsync_dir(d)
        return new

    # ---------------------------------------------------------------------------------- detections
    def _det_dir(self, detector: str) -> Path:
        return self.root / DETECTIONS_DIR / _check_key(detector, "detector")

    def detectors(self) -> list[str]:
        """Detector keys with stored detections, sorted."""
        base = self.root / DETECTIONS_DIR
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / ch.MANIFEST).is_file())

    def detections_writer(
        self,
        detector: str,
        extra: Mapping[str, Any] | None = None,
        flush_every: int | None = None,
    ) -> DetectionWriter:
        """Open a writer for the detections of ``detector`` under ``_detections/<detector>/``."""
        d = self._det_dir(detector)
        _mkdir(d)
        man_path = d / ch.MANIFEST
        with ch.locked(d):
            if not man_path.is_file():
                man = {
                    "format": ch.FORMAT,
                    "kind": "detections",
                    "detector": detector,
                    "facebridge_version": _version(),
                    "created": ch.now_iso(),
                    "landmarks": ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"],
                    "box": "x1y1x2y2",
                    "extra": dict(extra or {}),
                }
                try:
                    ch.write_json(man_path, man)
                except TypeError as e:
                    raise InvalidInputError(f"extra must be JSON-serialisable: {e}") from None
        return DetectionWriter(d, detector, flush_every)

    def done_detection_ids(self, detector: str) -> set[str]:
        """Items already detected or failed for ``detector``; empty if none."""
        return ch.done_ids(self._det_dir(detector))

    def detection_records(self, detector: str) -> dict[str, ch.Record]:
        """The newest detection record of each item: ``Record(failed, source)``; empty if none."""
        return ch.records(self._det_dir(detector))

    def load_detections(self, detector: str) -> Detections:
        """All detections of ``detector`` (later records win).

        Raises
        ------
        StoreError
            No detections for ``detector`` (lists the detectors present), or corrupt files.
        """
        d = self._det_dir(detector)
        if not (d / ch.MANIFEST).is_file():
            present = self.detectors()
            raise StoreError(
                f"no detections for {detector!r} in store {self.root}; detectors present: "
                f"{', '.join(present) if present else 'none'}; run detection first"
            )
        man = ch.read_json(d / ch.MANIFEST)
        fields = [
            ch.Field("boxes", (4,), "float32"),
            ch.Field("landmarks", (N_LANDMARKS, 2), "float32"),
            ch.Field("scores", (), "float32"),
            ch.Field("fallback", (), "bool"),
        ]
        m = ch.merge_chunks(d, fields)
        man["n_items"] = len(m.ids)
        man["failures"] = dict(m.failures)
        man["sources"] = dict(m.sources)
        return Detections(
            detector=detector,
            ids=tuple(m.ids),
            boxes=m.fields["boxes"],
            landmarks=m.fields["landmarks"],
            scores=m.fields["scores"],
            fallback=m.fields["fallback"].astype(bool),
            failures=m.failures,
            manifest=man,
        )


# ------------------------------------------------------------------------------------ helpers

_NON_UNIT = ("normalize", "raise", "ignore")
_UNIT_TOL = 1e-2


class NonUnitVectorsWarning(UserWarning):
    """Stored embeddings that should be unit vectors are not (they were rescaled on load)."""


def _mkdir(d: Path) -> None:
    try:
        d.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise StoreError(
            f"cannot create directory {d}: a file of that name is in the way; pass another --store"
        ) from exc
    except OSError as exc:
        raise ch.os_error(exc, d, "create directory") from exc


def _blame_dim(d: Path, dim: int, err: ch.ShapeMismatch) -> StoreError:
    """Whether the manifest or a chunk is wrong when a chunk's dimension disagrees with it."""
    shapes: dict[tuple[int, ...], list[str]] = {}
    for _, path in ch.chunk_files(d):
        try:
            with np.load(path, allow_pickle=False) as z:
                shape = tuple(z["vectors"].shape[1:])
        except Exception:  # unreadable chunks are reported by the normal path
            return err
        shapes.setdefault(shape, []).append(path.name)
    # the manifest is to blame when every chunk agrees on another dimension and either several
    # chunks say so or the manifest was written after them (a hand edit); otherwise the
    # disagreeing chunk is reported
    if len(shapes) == 1:
        (shape,) = shapes
        names = shapes[shape]
        try:
            edited = (d / ch.MANIFEST).stat().st_mtime_ns >= max(
                (d / n).stat().st_mtime_ns for n in names
            )
        except OSError:
            edited = False
        if len(shape) == 1 and shape[0] != dim and (len(names) > 1 or edited):
            return StoreError(
                f"manifest {d / ch.MANIFEST} says dim={dim} but all {len(shapes[shape])} chunk(s) "
                f"hold {shape[0]}-dimensional vectors: the manifest is wrong, not the chunks; "
                f'set "dim": {shape[0]} in it (keep the chunks)'
            )
    return err


def _check_unit(
    model: str, vectors: np.ndarray, origins: list[Path], man: dict[str, Any], mode: str
) -> tuple[np.ndarray, int]:
    if not len(vectors) or mode == "ignore":
        return vectors, 0
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))
    declared = man.get("unit_norm")
    if declared is False:
        return vectors, 0
    if declared is not True and abs(float(np.median(norms)) - 1.0) > _UNIT_TOL:
        return vectors, 0
    bad = np.flatnonzero(np.abs(norms - 1.0) > _UNIT_TOL)
    if not bad.size:
        return vectors, 0
    files = sorted({origins[int(k)].name for k in bad})
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    where = f"rows of {model!r} have norms {norms[bad].min():.4g}..{norms[bad].max():.4g}"
    fix = f"delete {shown} in {origins[int(bad[0])].parent} and re-run `facebridge embed`"
    if mode == "raise":
        raise StoreError(f"{bad.size} {where} instead of 1 (embeddings are unit vectors); {fix}")
    import warnings

    out = vectors.copy()
    nz = bad[norms[bad] > 0]
    out[nz] /= norms[nz, None].astype(out.dtype)
    warnings.warn(
        f"{bad.size} {where} instead of 1 (chunks {shown}); they were rescaled to unit length. "
        f"To store them correctly, {fix}",
        NonUnitVectorsWarning,
        stacklevel=3,
    )
    return out, int(bad.size)


# ------------------------------------------------------------------------------------ default


def default_store_path() -> Path:
    """Where the packaged LFW store lives: ``facebridge/data/lfw`` inside the package."""
    from importlib.resources import files

    return Path(str(files("facebridge").joinpath("data", "lfw")))


def default_store() -> EmbeddingStore:
    """Open the LFW embedding store shipped with the package.

    Raises
    ------
    StoreError
        The packaged store is absent or holds no model (the message names how to regenerate it).
    """
    p = default_store_path()
    store = EmbeddingStore(p)
    if not store.models():
        raise StoreError(
            f"packaged LFW store not found or empty at {p}; regenerate it with "
            f"`facebridge embed --store {p}` (see README, regenerating the packaged store)"
        )
    return store
