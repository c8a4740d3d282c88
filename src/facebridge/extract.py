"""The extraction run: images -> detections (once) -> aligned faces -> embeddings, into a store.

``embed_images(images_root, store_root, models, detector)`` walks an identity-subfolder tree (the
LFW layout) in sorted order; item ids are POSIX paths relative to ``images_root``.

1. **Detection pass.**  Every image is read and detected once; the chosen face (see
   :func:`facebridge.detect.choose_face`) goes into the store's detections table for that
   detector.  No face: the documented fallback (:func:`facebridge.detect.fallback_detection`) is
   stored with ``fallback=True``.  An unreadable image is recorded as a detection failure with
   its reason.
2. **Embedding pass.**  Each model aligns every detected image as its spec says
   (``spec.alignment``), embeds in batches and writes through the store writer.  A fallback item
   is embedded (from the fallback crop) and counted as *fallback*; an item whose detection failed,
   or whose embedding raised, is recorded as a failure of that model with its reason.

Both passes flush the store after every batch and skip what the store already holds
(:meth:`~facebridge.store.EmbeddingStore.detection_records`, ``records``): after a kill (even
``kill -9``) re-running the same call resumes, losing at most one batch of work and duplicating
nothing.

**Changed and failed images.**  Every record keeps the signature of the image it was made from
(size, modification time and sha256, see :func:`facebridge.store.source_signature`).  On a
re-run an item is redone when its file's content differs from the recorded one (a photo
replaced under the same name, a re-copied file that was unreadable or missing): the detection
pass re-detects it, and every model whose record was made from other content re-embeds it.  The
new record is appended and wins over the old one (the store's later-wins replay), so a kill
between the two leaves the old record in force and the next run redoes the item.  A file whose
size and modification time are unchanged is not read again.  Recorded failures are kept unless
``retry_failed=True``, which redoes them (detection and embedding) once more.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from facebridge.detect import Detection, FaceDetector, align, fallback_detection, get_detector
from facebridge.detect import read_image as _read_image
from facebridge.detect.align import alignment_tag
from facebridge.detect.image import MAX_PIXELS
from facebridge.errors import FacebridgeError, InvalidInputError
from facebridge.store import source_signature
from facebridge.store._chunks import same_content

#: File suffixes treated as images when walking a folder (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


class Embedder(Protocol):
    """What the run needs from an embedder (``facebridge.models.get_embedder`` or a fake)."""

    key: str
    dim: int

    def embed(self, faces: np.ndarray) -> np.ndarray: ...


def _default_models() -> tuple[str, ...]:
    from facebridge.models import DEFAULT_MODELS

    return tuple(DEFAULT_MODELS)


# ---------------------------------------------------------------------------------- summaries


@dataclass
class StageSummary:
    """Counts of one stage (the detection pass, or one model).

    ``done`` counts items processed in this call (``ok + fallback + failed``); ``skipped`` those
    already in the store.  ``fallback`` items were embedded from the no-face fallback crop.
    ``redone`` counts the items of ``done`` that had a record already (an image whose content
    changed, or a failure retried with ``retry_failed``): their new record replaces the old one.
    """

    name: str
    ok: int = 0
    fallback: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)
    redone: int = 0

    @property
    def done(self) -> int:
        return self.ok + self.fallback + self.failed

    @property
    def rate(self) -> float:
        """Items per second in this call (0 when nothing was done)."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "fallback": self.fallback,
            "failed": self.failed,
            "skipped": self.skipped,
            "redone": self.redone,
            "seconds": round(self.seconds, 3),
            "rate": round(self.rate, 3),
            "failures": dict(self.failures),
        }


@dataclass
class ExtractionSummary:
    """What :func:`embed_images` did.

    Attributes:
        n_items: items in the run.
        detector: detector key.
        detection: the detection pass (``ok`` = face found, ``fallback`` = none found,
            ``failed`` = unreadable).
        models: per model key: ``ok`` = embedded from a detected face, ``fallback`` = embedded
            from the fallback crop, ``failed`` = not embedded (reason in ``failures``).
        store_totals: per model (and ``"detections"``) the store's totals after the run:
            ``{"embedded", "fallback", "failed"}``.
    """

    n_items: int
    detector: str
    detection: StageSummary
    models: dict[str, StageSummary]
    store_totals: dict[str, dict[str, int]] = field(default_factory=dict)

    def failed_items(self) -> dict[str, str]:
        """Each item that failed in this call, once, with the reason of its first failing stage.

        An unreadable image fails the detection pass and then every model; it is one bad image,
        counted once here (its reason is the detection failure).
        """
        out: dict[str, str] = dict(self.detection.failures)
        for st in self.models.values():
            for item, reason in st.failures.items():
                out.setdefault(item, f"{st.name}: {reason}")
        return dict(sorted(out.items()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_items": self.n_items,
            "detector": self.detector,
            "detection": self.detection.as_dict(),
            "models": {k: v.as_dict() for k, v in self.models.items()},
            "store_totals": self.store_totals,
            "failed_items": self.failed_items(),
        }

    def table(self) -> str:
        """A plain-text table of the store totals (what a user wants to see after a run)."""
        lines = [f"{'stage':<16} {'ok':>9} {'fallback':>9} {'failed':>7}   this run"]
        for name, t in self.store_totals.items():
            st = self.detection if name == "detections" else self.models.get(name)
            run = f"{st.done} done, {st.skipped} skipped, {st.rate:.1f}/s" if st is not None else ""
            lines.append(
                f"{name:<16} {t['embedded']:>9} {t['fallback']:>9} {t['failed']:>7}   {run}"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------- items


def list_images(images_root: str | Path) -> list[str]:
    """Image files under ``images_root`` (recursively), as sorted POSIX relative paths.

    Raises:
        InvalidInputError: the folder does not exist or holds no image.
    """
    root = _check_image_folder(images_root)
    try:
        ids = sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
    except OSError as exc:
        where = exc.filename or root
        raise InvalidInputError(
            f"cannot list images under {where}: {exc.strerror or exc}; fix its permissions or "
            "pass another --images"
        ) from exc
    if not ids:
        raise InvalidInputError(
            f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {root}; check --images"
        )
    return ids


def _check_image_folder(images_root: str | Path) -> Path:
    root = Path(images_root)
    if root.is_dir():
        return root
    if root.exists():
        raise InvalidInputError(
            f"--images {root} is a file, not a folder; pass the folder that holds the images"
        )
    raise InvalidInputError(f"image folder {root} does not exist; pass --images DIR")


def protocol_items(path: str | Path, kind: str = "auto") -> list[str]:
    """The distinct item ids a pairs / protocol file uses, sorted."""
    from facebridge.protocols import load_protocol

    return list(load_protocol(kind, path).items())


def _check_items(items: Iterable[str]) -> list[str]:
    out = []
    for i in items:
        if not isinstance(i, str) or not i or i.startswith("/") or ".." in Path(i).parts:
            raise InvalidInputError(
                f"item ids must be relative POSIX paths under the image folder, got {i!r}"
            )
        out.append(i)
    return sorted(dict.fromkeys(out))


def _batches(seq: Sequence[str], size: int) -> Iterable[list[str]]:
    for s in range(0, len(seq), size):
        yield list(seq[s : s + size])


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="img",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        smoothing=0.1,
    )


def _reason(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


# ---------------------------------------------------------------------------------- passes


def detect_images(
    images_root: str | Path,
    store: Any,
    items: Sequence[str],
    detector: FaceDetector,
    *,
    batch_size: int = 16,
    progress: bool = True,
    read_image=_read_image,
    retry_failed: bool = False,
) -> StageSummary:
    """The detection pass: detect every item not yet in ``store``'s detections for ``detector``.

    Writes one row per readable image (the chosen face, or the fallback with ``fallback=True``)
    and a failure with its reason per unreadable one, each with the image's signature; flushes
    after every batch.  An item whose image content changed since its record is detected again;
    with ``retry_failed`` so is an item whose record is a failure.
    """
    root = Path(images_root)
    name = detector.name
    summary = StageSummary(name)
    recs = store.detection_records(name)
    sig = {i: source_signature(root / i, recs[i].source if i in recs else "") for i in items}
    todo, summary.redone = _detection_todo(recs, items, retry_failed, sig.__getitem__)
    summary.skipped = len(items) - len(todo)
    if not todo:  # do not take the detections lock: other runs may embed from the same store
        return summary
    t0 = time.perf_counter()
    extra = {"detector": name, "settings": _detector_settings(detector)}
    with (
        store.detections_writer(name, extra=extra) as writer,
        _progress(len(todo), f"detect {name}", progress) as bar,
    ):
        for batch in _batches(todo, batch_size):
            ids, images = [], []
            for item in batch:
                try:
                    images.append(read_image(root / item))
                    ids.append(item)
                except FacebridgeError as exc:
                    writer.add_failure(item, f"unreadable image: {exc}", source=sig[item])
                    summary.failed += 1
                    summary.failures[item] = f"unreadable image: {exc}"
            found = _detect_batch(detector, images, ids, summary, writer, sig)
            dets: list[Detection] = []
            kept: list[str] = []
            for item, img, faces in zip(ids, images, found, strict=True):
                if faces is None:
                    continue  # detector error, recorded
                if faces:
                    dets.append(faces[0])
                    summary.ok += 1
                else:
                    dets.append(fallback_detection(img.shape))
                    summary.fallback += 1
                kept.append(item)
            if kept:
                writer.add(
                    kept,
                    np.stack([d.box for d in dets]),
                    np.stack([d.landmarks for d in dets]),
                    np.array([d.score for d in dets], dtype=np.float32),
                    np.array([d.fallback for d in dets], dtype=bool),
                    sources=[sig[i] for i in kept],
                )
            writer.flush()
            bar.update(len(batch))
    summary.seconds = time.perf_counter() - t0
    return summary


def _todo(
    recs: Mapping[str, Any], items: Sequence[str], redo: Callable[[str, Any], bool]
) -> tuple[list[str], int]:
    """The items a pass does: those without a record and those whose record ``redo(item,
    record)``; and how many of them had a record."""
    todo: list[str] = []
    redone = 0
    for i in items:
        rec = recs.get(i)
        if rec is None:
            todo.append(i)
        elif redo(i, rec):
            todo.append(i)
            redone += 1
    return todo, redone


def _detection_todo(
    recs: Mapping[str, Any],
    items: Sequence[str],
    retry_failed: bool,
    signature: Callable[[str], str],
) -> tuple[list[str], int]:
    """The items the detection pass does, and how many of them had a record.

    An item is redone when its image content changed (``signature(item)``, asked only for an
    item with a record that is not a retried failure), or with ``retry_failed`` when its record
    is a failure.
    """

    def redo(i: str, rec: Any) -> bool:
        return (retry_failed and rec.failed) or not same_content(rec.source, signature(i))

    return _todo(recs, items, redo)


def _model_todo(
    recs: Mapping[str, Any],
    detection_sources: Mapping[str, str],
    items: Sequence[str],
    retry_failed: bool,
) -> tuple[list[str], int]:
    """The items a model's embedding pass does, and how many of them had a record.

    An item is redone when its record was made from other image content than the current
    detection's (``detection_sources``: item -> signature; the image changed and was detected
    again), or with ``retry_failed`` when its record is a failure.
    """

    def redo(i: str, rec: Any) -> bool:
        ds = detection_sources.get(i, "")
        stale = bool(ds) and not (rec.source and same_content(rec.source, ds))
        return (retry_failed and rec.failed) or stale

    return _todo(recs, items, redo)


def _detector_settings(detector: FaceDetector) -> dict[str, Any]:
    out: dict[str, Any] = {"max_side": detector.max_side}
    for k in ("min_face_size", "thresholds", "factor"):
        if hasattr(detector, k):
            v = getattr(detector, k)
            out[k] = list(v) if isinstance(v, tuple) else v
    return out


def _detect_batch(detector, images, ids, summary: StageSummary, writer, sig) -> list:
    """detect_batch, isolating a failing image by retrying one by one; None marks a failure."""
    if not images:
        return []
    try:
        return list(detector.detect_batch(images))
    except Exception:
        pass
    out: list = []
    for item, img in zip(ids, images, strict=True):
        try:
            out.append(detector.detect_all(img))
        except Exception as exc:  # a detector crash on one image must not end the run
            reason = f"detector error: {_reason(exc)}"
            writer.add_failure(item, reason, source=sig[item])
            summary.failed += 1
            summary.failures[item] = reason
            out.append(None)
    return out


def _alignment_of(key: str, embedder: Any, alignments: Mapping[str, str] | None) -> str:
    if alignments and key in alignments:
        return alignments[key]
    for obj in (embedder, getattr(embedder, "spec", None)):
        a = getattr(obj, "alignment", None)
        if isinstance(a, str):
            return a
    raise InvalidInputError(
        f"no alignment known for model {key!r}: give its spec an alignment or pass "
        f"alignments={{{key!r}: 'arcface-112'}}"
    )


def _sha_of(embedder: Any) -> str:
    for obj in (embedder, getattr(embedder, "spec", None)):
        s = getattr(obj, "weights_sha256", None)
        if isinstance(s, str) and s:
            return s
    raise InvalidInputError(f"embedder {embedder!r} has no weights_sha256; cannot record it")


@dataclass
class _ModelRun:
    key: str
    embedder: Any
    alignment: str
    writer: Any
    done: set[str]  # items this model skips in this call
    summary: StageSummary
    sources: dict[str, str] = field(default_factory=dict)  # item -> its detection's signature


def embed_detected(
    images_root: str | Path,
    store: Any,
    items: Sequence[str],
    detector_name: str,
    embedders: Mapping[str, Any],
    *,
    alignments: Mapping[str, str] | None = None,
    batch_size: int = 32,
    progress: bool = True,
    read_image=_read_image,
    weights_dir: str | Path | None = None,
    retry_failed: bool = False,
) -> dict[str, StageSummary]:
    """The embedding pass: every model embeds every stored detection it does not have yet.

    One pass over the images: each image is read once per batch and aligned per model.  A
    model also redoes an item whose record was made from other image content than the current
    detection (the image changed and was detected again) and, with ``retry_failed``, an item
    whose record is a failure; the new record replaces the old one.
    """
    root = Path(images_root)
    dets = store.load_detections(detector_name)
    index = dets.index()
    det_src = {i: r.source for i, r in store.detection_records(detector_name).items()}
    runs: list[_ModelRun] = []
    try:
        for key, emb in embedders.items():
            alignment = _alignment_of(key, emb, alignments)
            w = store.writer(
                key,
                dim=int(emb.dim),
                weights_sha256=_sha_of(emb),
                detector=f"{detector_name}:{alignment_tag(alignment)}",
                extra={"detector": detector_name, "alignment": alignment},
                unit_norm=True,
            )
            recs = store.records(key)
            s = StageSummary(key)
            redo, s.redone = _model_todo(recs, det_src, items, retry_failed)
            done = set(items).difference(redo)
            s.skipped = len(done)
            runs.append(_ModelRun(key, emb, alignment, w, done, s, det_src))
        todo = [i for i in items if any(i not in r.done for r in runs)]
        with _progress(len(todo), "embed " + ",".join(embedders), progress) as bar:
            for batch in _batches(todo, batch_size):
                _embed_batch(root, batch, dets, index, runs, read_image, weights_dir)
                for r in runs:
                    r.writer.flush()
                bar.update(len(batch))
    finally:
        _close_all([r.writer for r in runs])
    return {r.key: r.summary for r in runs}


def _close_all(writers: list[Any]) -> None:
    """Close every writer (each releases its lock) even when one fails; raise the first error."""
    first: BaseException | None = None
    for w in writers:
        try:
            w.close()
        except BaseException as exc:  # re-raised below, once the others are closed
            first = first or exc
    if first is not None:
        raise first


def _embed_batch(root, batch, dets, index, runs, read_image, weights_dir) -> None:
    images: dict[str, np.ndarray] = {}
    read_fail: dict[str, str] = {}
    for item in batch:
        if item in dets.failures:
            read_fail[item] = f"detection failed: {dets.failures[item]}"
        elif item not in index:
            read_fail[item] = "no stored detection (run the detection pass)"
        else:
            try:
                images[item] = read_image(root / item)
            except FacebridgeError as exc:
                read_fail[item] = f"unreadable image: {exc}"
    for r in runs:
        t0 = time.perf_counter()
        _embed_model_batch(r, batch, dets, index, images, read_fail, weights_dir)
        # per model: its own align + embed + buffering time (reading is shared, not counted)
        r.summary.seconds += time.perf_counter() - t0


def _embed_model_batch(r, batch, dets, index, images, read_fail, weights_dir) -> None:
    """Align and embed one batch for one model; record failures and counts."""
    ids, crops, fallback = [], [], []
    for item in batch:
        if item in r.done:
            continue
        if item in read_fail:
            _fail(r, item, read_fail[item])
            continue
        k = index[item]
        det = Detection(dets.boxes[k], dets.landmarks[k], dets.scores[k], dets.fallback[k])
        try:
            crops.append(align(images[item], det, r.alignment, weights_dir=weights_dir))
        except Exception as exc:
            _fail(r, item, f"alignment {r.alignment} failed: {_reason(exc)}")
            continue
        ids.append(item)
        fallback.append(bool(det.fallback))
    if not ids:
        return
    vecs = _embed_isolated(r, ids, crops)
    ok_ids, ok_vecs = [], []
    for item, v, fb in zip(ids, vecs, fallback, strict=True):
        if v is None:
            continue
        ok_ids.append(item)
        ok_vecs.append(v)
        if fb:
            r.summary.fallback += 1
        else:
            r.summary.ok += 1
    if ok_ids:
        r.writer.add(ok_ids, np.stack(ok_vecs), sources=[r.sources.get(i, "") for i in ok_ids])


def _fail(r: _ModelRun, item: str, reason: str) -> None:
    r.writer.add_failure(item, reason, source=r.sources.get(item, ""))
    r.summary.failed += 1
    r.summary.failures[item] = reason


def _embed_isolated(r: _ModelRun, ids: list[str], crops: list[np.ndarray]) -> list:
    """Embed a batch; if it raises, embed one by one and record the failing items."""
    try:
        vecs = np.asarray(r.embedder.embed(np.stack(crops)), dtype=np.float32)
        if vecs.shape == (len(ids), r.embedder.dim) and np.isfinite(vecs).all():
            return list(vecs)
    except Exception:
        pass
    out: list = []
    for item, crop in zip(ids, crops, strict=True):
        try:
            v = np.asarray(r.embedder.embed(crop[None]), dtype=np.float32).reshape(-1)
            if v.shape != (r.embedder.dim,) or not np.isfinite(v).all():
                raise InvalidInputError(f"embedder returned shape {v.shape} or non-finite values")
            out.append(v)
        except Exception as exc:
            _fail(r, item, f"embedder error: {_reason(exc)}")
            out.append(None)
    return out


# ---------------------------------------------------------------------------------- the run


def _store_totals(store: Any, detector: str, models: Iterable[str], items: Sequence[str]) -> dict:
    wanted = set(items)
    out: dict[str, dict[str, int]] = {}
    d = store.load_detections(detector)
    fb = {i for i, f in zip(d.ids, d.fallback, strict=True) if f}
    ids = set(d.ids) & wanted
    out["detections"] = {
        "embedded": len(ids - fb),
        "fallback": len(ids & fb),
        "failed": len(set(d.failures) & wanted),
    }
    for m in models:
        e = store.load(m)
        got = set(e.ids) & wanted
        out[m] = {
            "embedded": len(got - fb),
            "fallback": len(got & fb),
            "failed": len(set(e.failures) & wanted),
        }
    return out


def _runtimes(embedders: Mapping[str, Any]) -> str:
    names = {getattr(getattr(e, "spec", None), "runtime", None) for e in embedders.values()}
    return ", ".join(sorted(str(n) for n in names if n)) or "their runtimes"


def detector_device(detector: str, device: str, check: bool = True) -> dict[str, Any]:
    """The detector's device keyword for ``device``.

    MTCNN (torch) runs on ``device``; YuNet (OpenCV's CPU build) runs on the CPU, which is said
    on stderr when ``device`` is not the CPU.  ``check``: a CUDA device must be one torch sees
    here (off for a Ray driver, whose GPUs are on the nodes).

    Examples
    --------
    >>> detector_device("yunet", "cpu")
    {}
    """
    if device == "cpu":
        return {"device": "cpu"} if detector == "mtcnn" else {}
    if check:
        from facebridge.optional import torch_device

        torch_device(device, "detection")  # a bad or absent device fails before any work
    if detector == "mtcnn":
        return {"device": device}
    print(
        f"note: {detector} runs on the CPU (OpenCV's CPU build); {device} is not used",
        file=sys.stderr,
    )
    return {}


def embed_images(
    images_root: str | Path,
    store_root: str | Path,
    models: Sequence[str] | None = None,
    detector: str | FaceDetector = "mtcnn",
    items: Sequence[str] | None = None,
    batch_size: int = 32,
    progress: bool = True,
    *,
    embedders: Mapping[str, Any] | None = None,
    alignments: Mapping[str, str] | None = None,
    weights_dir: str | Path | None = None,
    threads: int | None = None,
    detect_batch_size: int = 16,
    retry_failed: bool = False,
    max_pixels: int | None = MAX_PIXELS,
    device: str = "cpu",
) -> ExtractionSummary:
    """Detect once, then embed with every model, into the store at ``store_root`` (resumable).

    Args:
        images_root: folder of identity sub-folders (LFW layout) or any image tree.
        store_root: the embedding store (created if needed).
        models: model keys (default :data:`facebridge.models.DEFAULT_MODELS`); ``()`` runs the
            detection pass only.  Ignored when ``embedders`` is given.
        detector: ``"mtcnn"``, ``"yunet"`` or a :class:`~facebridge.detect.FaceDetector`.
        items: restrict to these ids (relative POSIX paths; e.g. :func:`protocol_items`); a
            missing file is recorded as a failure.  Default: every image under ``images_root``.
        batch_size: faces per embedding batch (one store flush per batch).
        progress: show tqdm progress bars (rate, ETA) on stderr.
        embedders: ``{key: embedder}`` to use instead of building ``models`` (tests: fakes).
        alignments: ``{key: method}`` overriding the embedder spec's alignment.
        weights_dir: a folder of weight files used instead of the cache.
        threads: torch threads for MTCNN (default: torch's own setting).
        device: the torch device MTCNN runs on (``"cpu"``, ``"cuda"``, ``"cuda:N"``); the
            face models' runtimes (TensorFlow, TFLite, ONNX Runtime, dlib) run on the CPU, which
            is said once on stderr when ``device`` is not the CPU.
        detect_batch_size: images per detection batch (one flush per batch).
        retry_failed: redo items whose record is a failure (detection and every model), e.g.
            after re-copying unreadable files; by default failures are kept and skipped.  Items
            whose image content changed are redone either way.
        max_pixels: refuse (record as a failure) an image whose header declares more pixels
            than this, before decoding it; ``None`` for no limit.

    Returns:
        :class:`ExtractionSummary` with per-stage counts, failures and the store totals.

    Raises:
        InvalidInputError: no images, bad ids, bad batch size.
        UnknownModelError / WeightsError / MissingDependencyError: from building the models.
    """
    from facebridge.store import EmbeddingStore

    if batch_size < 1 or detect_batch_size < 1:
        raise InvalidInputError(
            f"batch sizes must be >= 1, got batch_size={batch_size}, "
            f"detect_batch_size={detect_batch_size}"
        )
    root = _check_image_folder(images_root)
    ids = _check_items(items) if items is not None else list_images(root)
    if not ids:
        raise InvalidInputError("no items to process; check --images / --pairs")
    if embedders is None:
        keys = _default_models() if models is None else tuple(models)
        embedders = _build_embedders(keys, weights_dir, threads)
    if isinstance(detector, str):
        kw: dict[str, Any] = {"weights_dir": weights_dir, **detector_device(detector, device)}
        if detector == "mtcnn":
            kw["num_threads"] = threads
        det = get_detector(detector, **kw)
    else:
        det = detector
    if device != "cpu" and embedders:
        print(
            f"note: the face models run on the CPU ({_runtimes(embedders)}: no GPU build is "
            f"used here); {device} serves the detection",
            file=sys.stderr,
        )
    if max_pixels is not None and (isinstance(max_pixels, bool) or int(max_pixels) < 1):
        raise InvalidInputError(
            f"max_pixels must be a positive integer or None, got {max_pixels!r}"
        )
    reader = functools.partial(_read_image, max_pixels=max_pixels)
    store = EmbeddingStore.create(store_root)
    det_summary = detect_images(
        root,
        store,
        ids,
        det,
        batch_size=detect_batch_size,
        progress=progress,
        read_image=reader,
        retry_failed=retry_failed,
    )
    model_summaries: dict[str, StageSummary] = {}
    if embedders:
        model_summaries = embed_detected(
            root,
            store,
            ids,
            det.name,
            embedders,
            alignments=alignments,
            batch_size=batch_size,
            progress=progress,
            read_image=reader,
            weights_dir=weights_dir,
            retry_failed=retry_failed,
        )
    summary = ExtractionSummary(len(ids), det.name, det_summary, model_summaries)
    summary.store_totals = _store_totals(store, det.name, list(model_summaries), ids)
    return summary


def _build_embedders(
    keys: Sequence[str], weights_dir: str | Path | None, threads: int | None
) -> dict[str, Any]:
    from facebridge.models import get_spec

    for k in keys:
        get_spec(k)  # unknown keys fail before any weight is loaded
    from facebridge.models.embedders import get_embedder

    return {k: get_embedder(k, weights_dir=weights_dir, threads=threads) for k in keys}
