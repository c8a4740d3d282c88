"""Embeddings in and out of a store: Parquet, ``.npy``/``.npz`` and CSV files.

:func:`read_embeddings` reads and validates a file into ``(ids, vectors)``;
:func:`import_embeddings` writes them into a store under a model key with their provenance
(source file, its sha256, format, declared model description) in the manifest's ``extra``;
:func:`export_embeddings` writes one model of a store to Parquet or ``.npz``, with its manifest
inside the file, so that an export imported again gives the same vectors bit for bit.

Everything is checked before the store is touched, and the vectors go in as one atomic chunk:
a refused file leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facebridge.errors import (
    DimensionError,
    InvalidInputError,
    StoreError,
)
from facebridge.optional import require
from facebridge.store._store import EmbeddingStore

__all__ = [
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "ImportSummary",
    "export_embeddings",
    "import_embeddings",
    "read_embeddings",
]

#: Formats :func:`read_embeddings` reads, and the file suffixes that select them with ``"auto"``.
IMPORT_FORMATS = {
    "parquet": (".parquet", ".pq"),
    "npz": (".npz",),
    "npy": (".npy",),
    "csv": (".csv",),
}
#: Formats :func:`export_embeddings` writes.
EXPORT_FORMATS = ("parquet", "npz")
#: Key of the store manifest inside an exported file (Parquet schema metadata / npz array).
MANIFEST_KEY = "facebridge.manifest"
#: ``detector`` recorded for imported embeddings when none is declared.
IMPORTED_DETECTOR = "external"


class ImportFileError(InvalidInputError):
    """A file of embeddings that cannot be imported (the message names the file and the fix)."""


def _arrow() -> Any:
    pa = require("pyarrow")
    require("pyarrow.compute")  # makes pa.compute available
    return pa, require("pyarrow.parquet")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _format_of(path: Path, fmt: str) -> str:
    f = fmt.strip().lower()
    if f == "auto":
        suffix = path.suffix.lower()
        for name, suffixes in IMPORT_FORMATS.items():
            if suffix in suffixes:
                return name
        raise ImportFileError(
            f"cannot tell the format of {path.name!r} from its suffix; pass --format "
            f"{'|'.join(IMPORT_FORMATS)}"
        )
    if f not in IMPORT_FORMATS:
        raise ImportFileError(f"unknown format {fmt!r}; use one of {', '.join(IMPORT_FORMATS)}")
    return f


# ------------------------------------------------------------------------------------ readers


def _read_id_list(path: Path) -> list[str]:
    if not path.is_file():
        raise ImportFileError(f"id list {path} not found; give a text file with one id per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ImportFileError(f"id list {path} is not UTF-8 text; one id per line") from None
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.strip() for line in lines]


def _read_parquet(
    path: Path, id_column: str | None, vector_column: str | None
) -> tuple[list[str], np.ndarray, dict[str, Any] | None]:
    pa, pq = _arrow()
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise ImportFileError(
            f"{path}: not a readable Parquet file ({e}); check the file"
        ) from None
    names = list(table.column_names)
    idc = id_column or "id"
    if idc not in names:
        raise ImportFileError(
            f"{path}: no id column {idc!r}; columns are {names[:8]}{'...' if len(names) > 8 else ''}; "
            "name it with --id-column"
        )
    id_col = table.column(idc)
    if not (pa.types.is_string(id_col.type) or pa.types.is_large_string(id_col.type)):
        raise ImportFileError(
            f"{path}: id column {idc!r} must hold strings, got {id_col.type}; cast it to string"
        )
    if id_col.null_count:
        raise ImportFileError(f"{path}: id column {idc!r} has {id_col.null_count} empty value(s)")
    ids = [str(i) for i in id_col.to_pylist()]
    rest = [n for n in names if n != idc]
    list_cols = [
        n
        for n in rest
        if pa.types.is_list(table.schema.field(n).type)
        or pa.types.is_fixed_size_list(table.schema.field(n).type)
        or pa.types.is_large_list(table.schema.field(n).type)
    ]
    if vector_column is not None:
        if vector_column not in rest:
            raise ImportFileError(
                f"{path}: no vector column {vector_column!r}; columns are {names[:8]}"
                f"{'...' if len(names) > 8 else ''}; name it with --vector-column"
            )
        list_cols = [vector_column]
    if len(list_cols) > 1:
        raise ImportFileError(
            f"{path}: several list columns {list_cols}; choose one with --vector-column"
        )
    if list_cols:
        col = table.column(list_cols[0])
        vtype = col.type
        if not (
            pa.types.is_list(vtype)
            or pa.types.is_fixed_size_list(vtype)
            or pa.types.is_large_list(vtype)
        ):
            raise ImportFileError(
                f"{path}: vector column {list_cols[0]!r} must be a list of floats, got {vtype}"
            )
        if not (pa.types.is_floating(vtype.value_type) or pa.types.is_integer(vtype.value_type)):
            raise ImportFileError(
                f"{path}: vector column {list_cols[0]!r} holds {vtype.value_type}, expected floats"
            )
        if col.null_count:
            raise ImportFileError(f"{path}: vector column {list_cols[0]!r} has an empty row")
        col = col.combine_chunks() if hasattr(col, "combine_chunks") else col
        lengths = np.asarray(pa.compute.list_value_length(col).to_numpy(zero_copy_only=False))
        if lengths.size and (lengths != lengths[0]).any():
            bad = int(np.flatnonzero(lengths != lengths[0])[0])
            raise ImportFileError(
                f"{path}: row {bad} ({ids[bad]!r}) has {lengths[bad]} values, row 0 has "
                f"{lengths[0]}; every vector needs the same dimension"
            )
        flat = col.flatten()
        if flat.null_count:
            raise ImportFileError(f"{path}: vector column {list_cols[0]!r} holds a null value")
        dim = int(lengths[0]) if lengths.size else 0
        values = np.asarray(flat.to_numpy(zero_copy_only=False))
        vectors = values.reshape(len(ids), dim) if len(ids) else np.zeros((0, 0))
    else:
        if not rest:
            raise ImportFileError(
                f"{path}: only the id column {idc!r}; add a list column of vectors or one "
                "numeric column per dimension"
            )
        bad_cols = [
            n
            for n in rest
            if not (
                pa.types.is_floating(table.schema.field(n).type)
                or pa.types.is_integer(table.schema.field(n).type)
            )
        ]
        if bad_cols:
            raise ImportFileError(
                f"{path}: column {bad_cols[0]!r} is {table.schema.field(bad_cols[0]).type}, "
                "expected one numeric column per dimension (or a list column: --vector-column)"
            )
        cols = [table.column(n) for n in rest]
        if any(c.null_count for c in cols):
            raise ImportFileError(f"{path}: a dimension column has an empty value")
        vectors = np.stack([np.asarray(c.to_numpy()) for c in cols], axis=1)
    meta = table.schema.metadata or {}
    manifest = None
    if MANIFEST_KEY.encode() in meta:
        with contextlib.suppress(ValueError):
            manifest = json.loads(meta[MANIFEST_KEY.encode()].decode("utf-8"))
    return ids, vectors, manifest


def _read_npz(
    path: Path, ids_file: Path | None, id_column: str | None, vector_column: str | None
) -> tuple[list[str], np.ndarray, dict[str, Any] | None]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise ImportFileError(
                f"{path}: holds object arrays, which are not read (no pickles); save ids as a "
                "unicode array (np.array(ids, dtype=str))"
            ) from None
        raise ImportFileError(f"{path}: not a readable .npz file ({e})") from None
    except (OSError, EOFError) as e:
        raise ImportFileError(f"{path}: not a readable .npz file ({e})") from None
    vkey = vector_column or ("vectors" if "vectors" in arrays else "embeddings")
    if vkey not in arrays:
        raise ImportFileError(
            f"{path}: no array {vkey!r}; arrays are {sorted(arrays)}; name it with --vector-column"
        )
    manifest = None
    if MANIFEST_KEY in arrays:
        with contextlib.suppress(ValueError):
            manifest = json.loads(str(arrays[MANIFEST_KEY]))
    if ids_file is not None:
        return _read_id_list(ids_file), arrays[vkey], manifest
    ikey = id_column or "ids"
    if ikey not in arrays:
        raise ImportFileError(
            f"{path}: no array {ikey!r} of ids; arrays are {sorted(arrays)}; name it with "
            "--id-column or give --ids FILE"
        )
    raw = arrays[ikey]
    if raw.ndim != 1 or (raw.size and raw.dtype.kind not in "US"):
        raise ImportFileError(
            f"{path}: ids {ikey!r} must be a 1-d string array, got {raw.dtype} {raw.shape}"
        )
    ids = [i.decode("utf-8") if isinstance(i, bytes) else str(i) for i in raw.tolist()]
    return ids, arrays[vkey], manifest


def _read_npy(path: Path, ids_file: Path | None) -> tuple[list[str], np.ndarray, None]:
    if ids_file is None:
        raise ImportFileError(
            f"{path}: a .npy file holds vectors only; give their ids with --ids FILE (one per line)"
        )
    try:
        vectors = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ImportFileError(f"{path}: not a readable numeric .npy file ({e})") from None
    except (OSError, EOFError) as e:
        raise ImportFileError(f"{path}: not a readable .npy file ({e})") from None
    return _read_id_list(ids_file), vectors, None


def _read_csv(path: Path, id_column: str | None) -> tuple[list[str], np.ndarray, None]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if not rows:
        raise ImportFileError(
            f"{path}: no rows; expected a header 'id,d0,d1,...' and one row per id"
        )
    header = [c.strip() for c in rows[0]]
    idc = id_column or "id"
    if idc not in header:
        raise ImportFileError(
            f"{path}:1: no id column {idc!r} in the header {header[:8]}"
            f"{'...' if len(header) > 8 else ''}; name it with --id-column"
        )
    if len(header) < 2:
        raise ImportFileError(f"{path}:1: only an id column; add one column per dimension")
    k = header.index(idc)
    ids: list[str] = []
    vectors = np.empty((len(rows) - 1, len(header) - 1), dtype=np.float64)
    for r, row in enumerate(rows[1:]):
        lineno = r + 2
        if len(row) != len(header):
            raise ImportFileError(
                f"{path}:{lineno}: expected {len(header)} fields like the header, got {len(row)}"
            )
        ids.append(row[k].strip())
        vals = row[:k] + row[k + 1 :]
        try:
            vectors[r] = [float(v) for v in vals]
        except ValueError:
            bad = next(v for v in vals if not _is_float(v))
            raise ImportFileError(
                f"{path}:{lineno}: expected a number, got {bad.strip()!r}"
            ) from None
    return ids, vectors, None


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def read_embeddings(
    path: str | Path,
    *,
    format: str = "auto",
    ids: str | Path | None = None,
    id_column: str | None = None,
    vector_column: str | None = None,
) -> tuple[list[str], np.ndarray]:
    """Read and validate a file of embeddings.

    Parameters
    ----------
    path : str or Path
        ``.parquet`` (a string id column and a list column of floats, or one numeric column per
        dimension), ``.npz`` (arrays ``ids`` and ``vectors``), ``.npy`` (vectors; ids from
        ``ids``) or ``.csv`` (a header ``id,<one column per dimension>``).
    format : {"auto", "parquet", "npz", "npy", "csv"}
        ``"auto"`` picks it from the suffix.
    ids : str or Path, optional
        A text file with one id per line, in the order of the rows (``.npy``; also ``.npz``).
    id_column, vector_column : str, optional
        Column (Parquet/CSV) or array (npz) names; default ``id`` / the one list column
        (Parquet), ``ids`` / ``vectors`` (npz), ``id`` (CSV).

    Returns
    -------
    ids : list of str
    vectors : ndarray
        float32 ``(n, dim)``, finite, no all-zero row.

    Raises
    ------
    ImportFileError
        A missing or empty file, a wrong column name, NaN/inf or all-zero rows, duplicate or
        empty ids, ids and rows that disagree in number, values beyond float32.
    MissingDependencyError
        Parquet without pyarrow (``pip install 'facebridge[arrow]'``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "e.npz"
    >>> np.savez(p, ids=np.array(["a/1.jpg", "b/1.jpg"]), vectors=np.eye(2, 3))
    >>> ids, v = read_embeddings(p)
    >>> ids, v.dtype.name, v.shape
    (['a/1.jpg', 'b/1.jpg'], 'float32', (2, 3))
    """
    ids_, vectors, _ = _read(Path(path), format, ids, id_column, vector_column)
    return ids_, vectors


def _read(
    path: Path,
    format: str,
    ids: str | Path | None,
    id_column: str | None,
    vector_column: str | None,
) -> tuple[list[str], np.ndarray, dict[str, Any] | None]:
    if not path.is_file():
        raise ImportFileError(f"embeddings file {path} not found; give an existing file")
    if path.stat().st_size == 0:
        raise ImportFileError(f"{path} is empty (0 bytes); export the embeddings again")
    fmt = _format_of(path, format)
    ids_file = Path(ids) if ids is not None else None
    if ids_file is not None and fmt not in ("npy", "npz"):
        raise ImportFileError(f"--ids is for .npy/.npz files; a {fmt} file carries its own ids")
    if fmt == "parquet":
        got_ids, raw, manifest = _read_parquet(path, id_column, vector_column)
    elif fmt == "npz":
        got_ids, raw, manifest = _read_npz(path, ids_file, id_column, vector_column)
    elif fmt == "npy":
        got_ids, raw, manifest = _read_npy(path, ids_file)
    else:
        got_ids, raw, manifest = _read_csv(path, id_column)
    return (*_validate(path, got_ids, raw), manifest)


def _validate(path: Path, ids: list[str], raw: Any) -> tuple[list[str], np.ndarray]:
    a = np.asarray(raw)
    if a.ndim != 2:
        raise ImportFileError(
            f"{path}: vectors must be a 2-d array (rows x dimension), got shape {a.shape}"
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImportFileError(f"{path}: no embeddings (shape {a.shape}); export them again")
    if a.dtype.kind not in "fiu":
        raise ImportFileError(f"{path}: vectors must be numbers, got dtype {a.dtype}")
    if len(ids) != a.shape[0]:
        raise ImportFileError(
            f"{path}: {len(ids)} ids for {a.shape[0]} vectors; give exactly one id per row"
        )
    for r, i in enumerate(ids):
        if not i or i != i.strip() or "\x00" in i:
            raise ImportFileError(f"{path}: row {r} has an empty or space-padded id {i!r}")
    first: dict[str, int] = {}
    for r, i in enumerate(ids):
        if i in first:
            raise ImportFileError(
                f"{path}: id {i!r} appears twice (rows {first[i]} and {r}); keep one row per id"
            )
        first[i] = r
    with np.errstate(over="ignore", invalid="ignore"):
        v = a.astype(np.float32)
    finite = np.isfinite(v).all(axis=1)
    if not finite.all():
        r = int(np.flatnonzero(~finite)[0])
        what = "NaN or inf" if not np.isfinite(a[r]).all() else "a value beyond float32"
        raise ImportFileError(
            f"{path}: row {r} ({ids[r]!r}) holds {what} ({int((~finite).sum())} such row(s)); "
            "drop or recompute those rows"
        )
    zero = ~v.any(axis=1)
    if zero.any():
        r = int(np.flatnonzero(zero)[0])
        raise ImportFileError(
            f"{path}: row {r} ({ids[r]!r}) is all zeros (no direction, cosine undefined); "
            "drop or recompute it"
        )
    return ids, v


# ------------------------------------------------------------------------------------ import


@dataclass(frozen=True)
class ImportSummary:
    """What :func:`import_embeddings` wrote.

    Attributes
    ----------
    model : str
    n_items : int
        Rows written.
    dim : int
    source : dict
        The provenance recorded in the manifest (file, sha256, format, description).
    """

    model: str
    n_items: int
    dim: int
    source: dict[str, Any]


def import_embeddings(
    store: EmbeddingStore | str | Path,
    model: str,
    path: str | Path,
    *,
    format: str = "auto",
    ids: str | Path | None = None,
    id_column: str | None = None,
    vector_column: str | None = None,
    description: str | None = None,
    weights_sha256: str | None = None,
    detector: str | None = None,
) -> ImportSummary:
    """Import a file of embeddings into ``store`` as model ``model``.

    The file is read and checked completely (see :func:`read_embeddings`) before the store is
    touched; the vectors are then written as one atomic chunk.  The manifest's ``extra`` holds
    ``source`` = ``{"file", "sha256", "format", "description"}``.  A file exported by
    :func:`export_embeddings` carries its manifest, whose ``weights_sha256``, ``detector`` and
    description are used unless given here.

    Parameters
    ----------
    store : EmbeddingStore or path
        Created if needed.
    model : str
        Key to store the embeddings under (letters, digits, ``._+-``).
    path, format, ids, id_column, vector_column
        See :func:`read_embeddings`.
    description : str, optional
        What model made the embeddings (name, version, preprocessing), kept as provenance.
    weights_sha256 : str, optional
        sha256 of the model's weights when known; default ``"unknown"``.
    detector : str, optional
        Detection / alignment used; default ``"external"``.

    Returns
    -------
    ImportSummary

    Raises
    ------
    ImportFileError
        A file :func:`read_embeddings` refuses.
    DimensionError
        ``model`` is in the store with another dimension.
    StoreError
        ``model`` is in the store from another source (a re-run of the same import is allowed).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> np.savez(tmp / "e.npz", ids=np.array(["a/1.jpg", "b/1.jpg"]), vectors=np.eye(2, 3))
    >>> import_embeddings(tmp / "store", "mine", tmp / "e.npz", description="demo").n_items
    2
    """
    st = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
    src = Path(path)
    got_ids, vectors, read_manifest = _read(src, format, ids, id_column, vector_column)
    fmt = _format_of(src, format)
    carried: dict[str, Any] = read_manifest if isinstance(read_manifest, dict) else {}
    carried_extra = carried.get("extra")
    carried_extra = carried_extra if isinstance(carried_extra, dict) else {}
    carried_source = carried_extra.get("source")
    carried_source = carried_source if isinstance(carried_source, dict) else {}
    desc = description
    if desc is None:
        desc = carried_source.get("description") or (
            f"exported facebridge model {carried['model']!r}" if carried.get("model") else ""
        )
    sha = weights_sha256 or carried.get("weights_sha256") or "unknown"
    det = detector or carried.get("detector") or IMPORTED_DETECTOR
    source = {
        "file": str(src.resolve()),
        "sha256": _sha256(src),
        "format": fmt,
        "description": str(desc),
    }
    dim = int(vectors.shape[1])
    if model in st.models():
        man = st.manifest(model)
        if man.get("dim") != dim:
            raise DimensionError(
                f"store {st.root} already holds {model!r} with dimension {man.get('dim')}, "
                f"{src.name} has {dim}; import under another model key or into a new store"
            )
        prior = (man.get("extra") or {}).get("source") or {}
        if prior.get("sha256") != source["sha256"]:
            raise StoreError(
                f"store {st.root} already holds {model!r} ({man.get('n_items')} items"
                f"{' from ' + prior['file'] if prior.get('file') else ''}); import {src.name} "
                "under another model key or into a new store"
            )
    extra = {"source": source}
    if carried:
        extra["exported_manifest"] = {
            k: carried[k]
            for k in ("model", "created", "facebridge_version", "extra")
            if k in carried
        }
    st = EmbeddingStore.create(st.root)
    fresh = model not in st.models()
    try:
        with st.writer(model, dim=dim, weights_sha256=sha, detector=det, extra=extra) as w:
            w.add(got_ids, vectors)
    except BaseException:
        if fresh and not st.done_ids(model):  # a manifest without vectors: take it away
            shutil.rmtree(st.root / model, ignore_errors=True)
        raise
    return ImportSummary(model=model, n_items=len(got_ids), dim=dim, source=source)


# ------------------------------------------------------------------------------------ export


def _atomic(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def export_embeddings(
    store: EmbeddingStore | str | Path,
    model: str,
    path: str | Path,
    format: str | None = None,
) -> Path:
    """Write the embeddings of ``model`` to a Parquet or ``.npz`` file (atomic).

    Parquet: columns ``id`` (string) and ``vector`` (fixed-size list of float32), the manifest
    as JSON in the schema metadata under ``facebridge.manifest``.  npz: arrays ``ids``
    (unicode), ``vectors`` (float32) and ``facebridge.manifest`` (a JSON string).  Failed items
    are not exported (they have no vector).

    Parameters
    ----------
    store : EmbeddingStore or path
    model : str
    path : str or Path
        The file to write; its folder must exist.
    format : {"parquet", "npz"}, optional
        Default: from the suffix of ``path``.

    Returns
    -------
    Path

    Raises
    ------
    StoreError
        No such store or model.
    InvalidInputError
        An unknown format, or a folder that does not exist.
    MissingDependencyError
        Parquet without pyarrow.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> np.savez(tmp / "e.npz", ids=np.array(["a/1.jpg"]), vectors=np.ones((1, 4)))
    >>> _ = import_embeddings(tmp / "s", "mine", tmp / "e.npz")
    >>> export_embeddings(tmp / "s", "mine", tmp / "out.npz").name
    'out.npz'
    """
    st = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
    if not st.root.is_dir():
        raise StoreError(f"no store at {st.root}; give an existing store directory")
    out = Path(path)
    fmt = format
    if fmt is None:
        suffix = out.suffix.lower()
        fmt = "parquet" if suffix in IMPORT_FORMATS["parquet"] else suffix.lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(
            f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}; "
            "pass --format parquet or npz (or name the file .parquet / .npz)"
        )
    if not out.parent.is_dir():
        raise InvalidInputError(f"folder {out.parent} does not exist; create it first")
    emb = st.load(model)
    manifest = {k: v for k, v in emb.manifest.items() if k != "failures"}
    manifest["n_failures"] = len(emb.failures)
    meta = json.dumps(manifest, sort_keys=True)
    if fmt == "parquet":
        pa, pq = _arrow()
        flat = pa.array(emb.vectors.reshape(-1), type=pa.float32())
        table = pa.table(
            {
                "id": pa.array(list(emb.ids), type=pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(flat, emb.dim),
            }
        ).replace_schema_metadata({MANIFEST_KEY: meta})
        _atomic(out, lambda p: pq.write_table(table, p))
    else:
        arrays = {
            "ids": np.array(list(emb.ids), dtype=str),
            "vectors": emb.vectors.astype(np.float32, copy=False),
            MANIFEST_KEY: np.array(meta),
        }

        def _write(p: Path) -> None:
            with open(p, "wb") as f:
                np.savez(f, allow_pickle=False, **arrays)  # type: ignore[arg-type]

        _atomic(out, _write)
    return out
