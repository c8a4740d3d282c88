"""Gallery migration as an operation: fit a map artifact, stream a gallery through it, measure it.

* :func:`fit_migration_map` fits the old -> new map on images embedded by both models (one
  store holding both, or two stores with shared ids), estimates the held-out accuracy drop with
  identity-disjoint folds of the fitting sample, and returns a
  :class:`~facebridge.maps.artifact.MapArtifact` (write it with
  :func:`~facebridge.maps.artifact.save_map`).
* :func:`apply_migration` streams a gallery (a store model, or an npz with ``ids``, ``vectors``
  and ``weights_sha256``) through the map chunk by chunk and writes the migrated templates into
  an embedding store through its writer: every flushed chunk is atomic, an interrupted run
  loses at most the unflushed rows, and re-running the same command resumes (ids already
  written are skipped).  The output manifest records the provenance (which map, from which
  gallery, when); a resume with another map is refused by the store (its detector field names
  the map).
* :func:`fit_map` and :func:`evaluate_migration_to` are what ``facebridge migrate fit`` and
  ``facebridge migrate evaluate`` run: from the stores to the written artifact or report files.
"""

from __future__ import annotations

import datetime as _dt
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facebridge.errors import InvalidInputError, StoreError
from facebridge.maps.artifact import (
    DEFAULT_RECIPE,
    MapArtifact,
    MapCard,
    fit_recipe,
    ids_sha256,
)
from facebridge.store import EmbeddingStore
from facebridge.store import _chunks as ch
from facebridge.vocabulary import Progress

__all__ = [
    "ApplyReport",
    "MigrationOutputs",
    "apply_migration",
    "evaluate_migration_to",
    "fit_map",
    "fit_migration_map",
    "read_ids_file",
    "read_npz_gallery",
]


def _shared(
    old: Any, new: Any, ids: Sequence[str] | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    if ids is None:
        common = sorted(set(old.ids) & set(new.ids))
    else:
        common = list(dict.fromkeys(ids))
        have = set(old.ids) & set(new.ids)
        missing = [i for i in common if i not in have]
        if missing:
            raise InvalidInputError(
                f"{len(missing)} fitting ids are not embedded by both models (first: "
                f"{missing[0]!r}); embed them with both models or leave them out"
            )
    if not common:
        raise InvalidInputError(
            f"{old.model!r} and {new.model!r} share no embedded image; fit on images embedded "
            "by both models"
        )
    xa, _ = old.take(common)
    xb, _ = new.take(common)
    return common, xa, xb


def fit_migration_map(
    old: Any,
    new: Any,
    *,
    recipe: str = DEFAULT_RECIPE,
    ids: Sequence[str] | None = None,
    n_fit: int | None = None,
    seed: int = 0,
    n_folds: int = 5,
    estimate: bool = True,
) -> MapArtifact:
    """Fit the migration map ``old.model -> new.model`` and describe it on a card.

    Parameters
    ----------
    old, new : facebridge.store.Embeddings
        The two models' embeddings (from one store or two); the fit uses the ids both hold.
    recipe : str
        A recipe of :data:`facebridge.maps.artifact.RECIPES`.
    ids : sequence of str, optional
        Fit on exactly these ids (each must be embedded by both models).
    n_fit : int, optional
        Fit on a seeded random sample of this many shared ids (after ``ids``).
    seed : int
    n_folds : int
        Identity-disjoint folds of the fitting sample for the held-out drop estimate.
    estimate : bool
        Estimate the drop (needs LFW-style ids ``Identity/file`` with repeated identities).

    Returns
    -------
    MapArtifact
        ``card.drop`` holds ``tar@0.001`` and ``rank1`` drops in points with standard errors.

    Raises
    ------
    InvalidInputError
        No shared ids, unknown ids, ``n_fit`` larger than the shared ids, unknown recipe.
    """
    common, X, Y = _shared(old, new, ids)
    if n_fit is not None:
        if not 1 <= n_fit <= len(common):
            raise InvalidInputError(
                f"n_fit must be in [1, {len(common)}] (the images both models embedded), got {n_fit}"
            )
        pick = np.sort(np.random.default_rng(seed).choice(len(common), size=n_fit, replace=False))
        common = [common[i] for i in pick]
        X, Y = X[pick], Y[pick]
    lmap = fit_recipe(X, Y, recipe)
    drop: dict[str, dict[str, float]] = {}
    if estimate:
        from facebridge.experiments.migration import evaluate_migration, summarize

        res = evaluate_migration(
            common,
            X,
            Y,
            source=old.model,
            target=new.model,
            recipe=recipe,
            n_fit=None,
            n_folds=n_folds,
            seed=seed,
            backfill_x=(),
        )
        sm = summarize(res)["drop"]
        drop = {k: {"estimate": sm[k]["mean"], "se": sm[k]["se"]} for k in ("tar@0.001", "rank1")}
    card = MapCard(
        source=old.model,
        target=new.model,
        source_sha256=str(old.manifest.get("weights_sha256", "")),
        target_sha256=str(new.manifest.get("weights_sha256", "")),
        d_source=int(X.shape[1]),
        d_target=int(Y.shape[1]),
        recipe=recipe,
        n_fit=len(common),
        fit_ids_sha256=ids_sha256(common),
        drop=drop,
    )
    return MapArtifact(lmap, card)


@dataclass(frozen=True)
class ApplyReport:
    """What :func:`apply_migration` did.

    Attributes
    ----------
    out_model : str
        The model key the migrated gallery was written under.
    n_migrated, n_skipped, n_failed : int
        Templates written in this run, already present (resume), recorded as failures.
    """

    out_model: str
    n_migrated: int
    n_skipped: int
    n_failed: int


def read_npz_gallery(path: str | Path) -> tuple[list[str], np.ndarray, str, str]:
    """Read an npz gallery: ``ids`` (str), ``vectors`` (n, d), ``weights_sha256`` and ``model``.

    Raises
    ------
    StoreError
        Unreadable file, a missing array or rows that do not match.
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise StoreError(f"cannot read npz gallery {p} ({exc}); give an .npz file") from None
    need = ("ids", "vectors", "weights_sha256", "model")
    missing = [k for k in need if k not in arrays]
    if missing:
        raise StoreError(
            f"npz gallery {p} lacks {missing}; it needs arrays {list(need)} (weights_sha256 and "
            "model as 0-d strings)"
        )
    ids = [str(i) for i in arrays["ids"].tolist()]
    v = np.asarray(arrays["vectors"])
    if v.ndim != 2 or v.shape[0] != len(ids):
        raise StoreError(
            f"npz gallery {p}: vectors {v.shape} do not give one row per id ({len(ids)})"
        )
    return ids, v, str(arrays["weights_sha256"]), str(arrays["model"])


def _store_batches(store: EmbeddingStore, model: str) -> Any:
    """Yield ``(ids, vectors, failures)`` per chunk, each id only in its last (winning) chunk."""
    d = store.root / model
    dim = int(store.manifest(model)["dim"])
    files = ch.chunk_files(d)
    last: dict[str, int] = {}
    for k, (_, path) in enumerate(files):
        a = ch.read_chunk(path, [])
        for i in a["ids"].tolist() + a["failed_ids"].tolist():
            last[i] = k
    field = [ch.Field("vectors", (dim,), "float32")]
    for k, (_, path) in enumerate(files):
        a = ch.read_chunk(path, field)
        ids = a["ids"].tolist()
        keep = np.array([last[i] == k for i in ids], dtype=bool)
        fails = {
            i: r
            for i, r in zip(a["failed_ids"].tolist(), a["failed_reasons"].tolist(), strict=True)
            if last[i] == k
        }
        yield [i for i, kk in zip(ids, keep, strict=True) if kk], a["vectors"][keep], fails


def apply_migration(
    artifact: MapArtifact,
    out: EmbeddingStore,
    *,
    store: EmbeddingStore | None = None,
    model: str | None = None,
    npz: str | Path | None = None,
    out_model: str | None = None,
    batch_rows: int = 8192,
    artifact_path: str | None = None,
    progress: Progress | None = None,
) -> ApplyReport:
    """Migrate a gallery through ``artifact`` into ``out``, in bounded-memory batches.

    Parameters
    ----------
    artifact : MapArtifact
    out : EmbeddingStore
        Where the migrated gallery is written (created if needed).
    store, model : EmbeddingStore and str, optional
        The gallery as a store model (read one chunk at a time).
    npz : path, optional
        The gallery as an npz (see :func:`read_npz_gallery`); give either ``store`` or ``npz``.
    out_model : str, optional
        Model key in ``out``; default the map's target key (the migrated gallery is searched
        with that model's probes).
    batch_rows : int
        Rows mapped and flushed at a time (one atomic chunk each).
    artifact_path : str, optional
        Recorded in the provenance.
    progress : Progress, optional
        Called as ``progress("migrate", done, total)`` after each flushed batch.

    Returns
    -------
    ApplyReport

    Raises
    ------
    StoreError
        Gallery from another model (weights sha256), an output already holding another map's
        migration, a corrupt chunk.
    DimensionError
        Gallery dimension other than the map's source dimension.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from facebridge.maps.artifact import LinearMap
    >>> card = MapCard("a", "b", "0" * 64, "1" * 64, 2, 2, "lstsq", 2, ids_sha256(["x", "y"]))
    >>> art = MapArtifact(LinearMap(np.eye(2), np.zeros(2)), card)
    >>> src = EmbeddingStore.create(tempfile.mkdtemp())
    >>> with src.writer("a", dim=2, weights_sha256="0" * 64, detector="d") as w:
    ...     w.add(["x", "y"], np.eye(2))
    >>> dst = EmbeddingStore.create(tempfile.mkdtemp())
    >>> apply_migration(art, dst, store=src, model="a").n_migrated
    2
    """
    card = artifact.card
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InvalidInputError(f"batch_rows must be a positive integer, got {batch_rows!r}")
    if (store is None) == (npz is None):
        raise InvalidInputError("give the gallery either as a store and model or as an npz")
    if store is not None:
        if model is None:
            raise InvalidInputError("give the gallery's model key with the store (--model)")
        man = store.manifest(model)
        artifact.check_source(model, str(man.get("weights_sha256", "")), int(man["dim"]))
        total = int(man["n_items"]) + len(man["failures"])
        batches: Any = _store_batches(store, model)
        gallery_from = f"{store.root}:{model}"
    else:
        ids, vecs, sha, npz_model = read_npz_gallery(npz)  # type: ignore[arg-type]
        artifact.check_source(npz_model, sha, int(vecs.shape[1]))
        total = len(ids)
        batches = iter([(ids, vecs, {})])
        gallery_from = str(npz)
    key = out_model or card.target
    provenance = {
        "migration": {
            "map": card.to_dict(),
            "map_path": artifact_path,
            "gallery": gallery_from,
            "migrated_at": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        }
    }
    done = out.done_ids(key)
    n_new = n_skip = n_fail = 0
    writer = out.writer(
        key,
        dim=card.d_target,
        weights_sha256=card.target_sha256,
        detector=f"migrated:{card.source}:{card.weights_file_sha256[:16]}",
        extra=provenance,
        flush_every=batch_rows,
    )
    with writer:
        for ids, vecs, fails in batches:
            for i, reason in fails.items():
                if i in done:
                    n_skip += 1
                    continue
                writer.add_failure(i, f"not embedded by {card.source}: {reason}")
                n_fail += 1
            todo = np.array([i not in done for i in ids], dtype=bool)
            n_skip += int((~todo).sum())
            sel = np.flatnonzero(todo)
            for s in range(0, sel.size, batch_rows):
                rows = sel[s : s + batch_rows]
                writer.add([ids[r] for r in rows], artifact.apply(vecs[rows]))
                n_new += rows.size
                if progress is not None:
                    progress("migrate", n_new + n_skip + n_fail, total)
    return ApplyReport(key, n_new, n_skip, n_fail)


def read_ids_file(path: str | Path, option: str = "--ids") -> list[str]:
    """The ids of a text file, one a line (blank lines ignored).

    Raises
    ------
    InvalidInputError
        The file cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "ids.txt"
    >>> _ = p.write_text("A/A_0001.jpg\\n\\nB/B_0001.jpg\\n")
    >>> read_ids_file(p)
    ['A/A_0001.jpg', 'B/B_0001.jpg']
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read {option} {path} ({exc.strerror}); give a text file with one id a line"
        ) from None
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def fit_map(
    old_store: EmbeddingStore,
    source: str,
    target: str,
    out: str | Path,
    *,
    new_store: EmbeddingStore | None = None,
    recipe: str = DEFAULT_RECIPE,
    ids: Sequence[str] | None = None,
    n_fit: int | None = None,
    seed: int = 0,
    estimate: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Fit ``source -> target`` on the stores and write the artifact to ``out``.

    Parameters
    ----------
    old_store : EmbeddingStore
        Holds ``source`` (and ``target``, without ``new_store``).
    source, target : str
        The gallery's (old) model and the new model.
    out : str or Path
        The artifact directory (``map.npz`` + ``card.json``).
    new_store : EmbeddingStore, optional
        Holds ``target`` (default ``old_store``).
    recipe, ids, n_fit, seed, estimate
        As for :func:`fit_migration_map`.
    overwrite : bool
        Replace an existing artifact at ``out``.

    Returns
    -------
    dict
        The card as written (``card.json``), with ``"path"``: the artifact directory.

    Raises
    ------
    InvalidInputError
        ``out`` exists and ``overwrite`` is false, or an error of :func:`fit_migration_map`.

    Examples
    --------
    >>> from facebridge.store import default_store
    >>> card = fit_map(default_store(), "sface", "facenet-ms1m", "sface-to-ms1m")  # doctest: +SKIP
    >>> card["d_source"], card["d_target"]  # doctest: +SKIP
    (128, 512)
    """
    from facebridge.maps.artifact import save_map

    if Path(out).exists() and not overwrite:
        raise InvalidInputError(f"{out} exists; choose another --out or pass --force")
    art = fit_migration_map(
        old_store.load(source),
        (new_store or old_store).load(target),
        recipe=recipe,
        ids=ids,
        n_fit=n_fit,
        seed=seed,
        estimate=estimate,
    )
    path = save_map(out, art.map, art.card, overwrite=overwrite)
    card = json.loads((path / "card.json").read_text())
    return {**card, "path": str(path)}


@dataclass(frozen=True)
class MigrationOutputs:
    """What :func:`evaluate_migration_to` measured and wrote.

    Attributes
    ----------
    payload : list of dict
        ``MigrationResult.to_dict()`` per directed pair and setting (``migration.json``).
    markdown : str
        The report section (``migration.md``).
    json_path, md_path : Path
    figure : Path or None
        ``migration-backfill.png`` (``None`` without backfill curves).
    """

    payload: list[dict[str, Any]]
    markdown: str
    json_path: Path
    md_path: Path
    figure: Path | None


def evaluate_migration_to(
    store: EmbeddingStore,
    pairs: Sequence[Any],
    out_dir: str | Path,
    *,
    n_fits: Sequence[int | None] = (400, 1000),
    recipes: Sequence[str] = ("ridge", "lstsq"),
    n_folds: int = 5,
    seed: int = 0,
    backfill: bool = True,
    progress: Progress | None = None,
) -> MigrationOutputs:
    """Measure the migration of each directed pair and write ``migration.json``,
    ``migration.md`` and ``migration-backfill.png`` into ``out_dir``.

    Parameters
    ----------
    store : EmbeddingStore
        Embeddings with identities (``Identity/file`` ids), e.g. the shipped LFW store.
    pairs : sequence of DirectedPair
    out_dir : str or Path
    n_fits : sequence of int or None
        Fitting images per fold (``None``: every training-fold image).
    recipes : sequence of str
    n_folds : int
        Identity-disjoint folds.
    seed : int
    backfill : bool
        Measure the partial-backfill curves.
    progress : Progress, optional

    Returns
    -------
    MigrationOutputs

    Examples
    --------
    >>> from facebridge.store import default_store
    >>> from facebridge.vocabulary import DirectedPair
    >>> pairs = [DirectedPair.parse("sface->facenet-ms1m")]
    >>> out = evaluate_migration_to(default_store(), pairs, "mig", n_fits=[400])  # doctest: +SKIP
    >>> out.md_path.name  # doctest: +SKIP
    'migration.md'
    """
    from facebridge.experiments.migration import BACKFILL_X, evaluate_pairs
    from facebridge.report.migration import backfill_figure, migration_section
    from facebridge.report.write import atomic_write

    names = sorted({m for p in pairs for m in p})
    emb = {}
    for m in names:
        e = store.load(m)
        emb[m] = (e.ids, e.vectors)
    results = evaluate_pairs(
        emb,
        pairs,
        n_fits=list(n_fits),
        recipes=list(recipes),
        n_folds=n_folds,
        seed=seed,
        backfill_x=BACKFILL_X if backfill else (),
        progress=progress,
    )
    payload = [r.to_dict() for r in results]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "migration.json", json.dumps(payload, indent=1, sort_keys=True))
    png = backfill_figure(payload)
    figure = None
    if png is not None:
        figure = out / "migration-backfill.png"
        atomic_write(figure, png)
    md = migration_section(payload, figure.name if figure else None)
    atomic_write(out / "migration.md", md)
    return MigrationOutputs(payload, md, out / "migration.json", out / "migration.md", figure)
