"""The extraction run on Ray: the passes of :mod:`facebridge.extract`, spread over a cluster.

``embed_images_ray`` writes the same store as :func:`facebridge.extract.embed_images`, with the
same guarantees, and runs the work on Ray (the ``facebridge[ray]`` extra):

1. **Listing** happens on the driver (one directory walk; the store's records decide what is
   left to do, as in the local engine: an item without a record, an image whose content
   changed, and with ``retry_failed`` a recorded failure).
2. **Detection**: the images left are cut into batches of ``detect_batch_size``; each batch is one
   Ray task that reads and detects its images with :func:`facebridge.extract.detect_images`.  A
   worker process builds its detector once (weights verified by sha256 on that node) and keeps it
   for the next tasks.
3. **Embedding**: each model runs in a pool of ``workers`` Ray actors; an actor builds its embedder
   once (:func:`facebridge.models.embedders.get_embedder`, which verifies the weights' sha256 on
   its node), then aligns and embeds batches with :func:`facebridge.extract.embed_detected`.
   Models run one after the other, so a run holds at most ``workers`` CPUs per stage.
4. **Writing**: tasks and actors never touch the store.  They run the local engine's code against
   a stand-in store that records the writer calls, and return the records; the driver replays them
   on the real writer and flushes one chunk per returned batch.  So the store has one writer per
   directory (the driver, holding its lock), atomic chunks, and resume after a kill of the driver
   or of any worker: a rerun redoes only the batches that were not flushed, and duplicates nothing.

A killed worker is restarted by Ray and its batch retried (``max_retries`` / ``max_restarts``);
a killed driver ends the run, and the same call resumes it.  Every node needs facebridge and
the model runtimes installed, and must see the images at the same path as the driver.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facebridge.detect import read_image
from facebridge.detect.image import MAX_PIXELS
from facebridge.errors import FacebridgeError, InvalidInputError
from facebridge.extract import (
    ExtractionSummary,
    StageSummary,
    _check_items,
    _default_models,
    _detection_todo,
    _model_todo,
    _progress,
    _store_totals,
    detect_images,
    detector_device,
    embed_detected,
    list_images,
)
from facebridge.optional import require
from facebridge.store import source_signature

__all__ = ["RayExtractionSummary", "embed_images_ray"]

#: How often a batch is retried after its worker died (Ray's task retries / actor restarts).
MAX_RETRIES = 3


def _ray():
    return require("ray")


# ---------------------------------------------------------------------------------- stand-ins


class _Recorder:
    """A store writer inside a task: records ``add`` / ``add_failure`` calls for the driver."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("add", args, kwargs))

    def add_failure(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("add_failure", args, kwargs))

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class _TaskStore:
    """The store as a task sees it: its batch is all left to do; writes are recorded.

    ``detection_records`` are the driver's detection records of the batch (their image
    signatures go into the model records); no item has a record of its own.

    ``opened`` maps each directory a pass opened (``("detections", name)`` or ``("model", key)``)
    to the keyword arguments of that open (the manifest settings) and its recorder.
    """

    def __init__(
        self, detections: Any = None, det_records: Mapping[str, Any] | None = None
    ) -> None:
        self._detections = detections
        self._det_records = dict(det_records or {})
        self.opened: dict[tuple[str, str], tuple[dict[str, Any], _Recorder]] = {}

    def done_detection_ids(self, name: str) -> set[str]:
        return set()

    def done_ids(self, key: str) -> set[str]:
        return set()

    def detection_records(self, name: str) -> dict[str, Any]:
        return dict(self._det_records)

    def records(self, key: str) -> dict[str, Any]:
        return {}

    def load_detections(self, name: str) -> Any:
        return self._detections

    def detections_writer(self, name: str, **kwargs: Any) -> _Recorder:
        return self._open(("detections", name), kwargs)

    def writer(self, key: str, **kwargs: Any) -> _Recorder:
        return self._open(("model", key), kwargs)

    def _open(self, where: tuple[str, str], kwargs: dict[str, Any]) -> _Recorder:
        rec = _Recorder()
        self.opened[where] = (kwargs, rec)
        return rec

    def recorded(self) -> list[tuple[tuple[str, str], dict[str, Any], list]]:
        return [(where, kw, rec.calls) for where, (kw, rec) in self.opened.items()]


class _Writers:
    """The driver's real writers, opened on the first record for each directory."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._open: dict[tuple[str, str], Any] = {}

    def replay(self, records: Iterable[tuple[tuple[str, str], dict[str, Any], list]]) -> None:
        for where, kwargs, calls in records:
            w = self._open.get(where)
            if w is None:
                kind, name = where
                opener = (
                    self._store.detections_writer if kind == "detections" else self._store.writer
                )
                w = self._open[where] = opener(name, **kwargs)
            for method, args, kw in calls:
                getattr(w, method)(*args, **kw)
            w.flush()  # one atomic chunk per returned batch

    def close(self) -> None:
        for w in self._open.values():
            w.close()
        self._open.clear()


# ---------------------------------------------------------------------------------- workers

_DETECTORS: dict[str, Any] = {}


def _node(ray: Any) -> str:
    return ray.get_runtime_context().get_node_id()


def _detect_batch_task(
    root: str,
    batch: list[str],
    detector: Any,
    settings: dict[str, Any],
    batch_size: int,
    max_pixels: int | None = MAX_PIXELS,
) -> tuple[StageSummary, list, str]:
    """One detection batch (a Ray task); the detector is built once per worker process."""
    import ray

    if isinstance(detector, str):
        key = repr((detector, sorted(settings.items())))
        if key not in _DETECTORS:
            from facebridge.detect import get_detector

            _DETECTORS[key] = get_detector(detector, **settings)
        detector = _DETECTORS[key]
    ts = _TaskStore()
    s = detect_images(
        root, ts, batch, detector, batch_size=batch_size, progress=False,
        read_image=functools.partial(read_image, max_pixels=max_pixels),
    )  # fmt: skip
    return s, ts.recorded(), _node(ray)


class _EmbedWorker:
    """One model in one worker process (a Ray actor): built once, embeds batch after batch."""

    def __init__(
        self,
        key: str,
        embedder: Any,
        weights_dir: str | None,
        threads: int | None,
        alignments: Mapping[str, str] | None,
        max_pixels: int | None = MAX_PIXELS,
    ) -> None:
        self.error: FacebridgeError | None = None
        if embedder is None:
            from facebridge.models.embedders import get_embedder

            try:  # weights verified by sha256 here, on this node
                embedder = get_embedder(key, weights_dir=weights_dir, threads=threads)
            except FacebridgeError as exc:  # reported by ready(), not by a restart loop
                self.error = exc
        self.key = key
        self.embedder = embedder
        self.weights_dir = weights_dir
        self.alignments = alignments
        self.max_pixels = max_pixels

    def ready(self) -> bool:
        """True once the model is loaded; raises the error that prevented loading it."""
        if self.error is not None:
            raise self.error
        return True

    def embed(
        self,
        root: str,
        batch: list[str],
        detections: Any,
        detector_name: str,
        det_records: Mapping[str, Any] | None = None,
    ) -> tuple[StageSummary, list, str]:
        import ray

        ts = _TaskStore(detections, det_records)
        s = embed_detected(
            root,
            ts,
            batch,
            detector_name,
            {self.key: self.embedder},
            alignments=self.alignments,
            batch_size=len(batch),
            progress=False,
            weights_dir=self.weights_dir,
            read_image=functools.partial(read_image, max_pixels=self.max_pixels),
        )
        return s[self.key], ts.recorded(), _node(ray)


# ---------------------------------------------------------------------------------- the run


@dataclass
class RayExtractionSummary(ExtractionSummary):
    """:class:`~facebridge.extract.ExtractionSummary` plus where the batches ran.

    Attributes:
        placement: per stage (``"detect"`` or a model key): Ray node id -> items processed there.
        workers: worker processes per stage.
    """

    placement: dict[str, dict[str, int]] = field(default_factory=dict)
    workers: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out["placement"] = {k: dict(v) for k, v in self.placement.items()}
        out["workers"] = self.workers
        return out


def _merge(total: StageSummary, part: StageSummary) -> None:
    total.ok += part.ok
    total.fallback += part.fallback
    total.failed += part.failed
    total.failures.update(part.failures)


def _stream(
    ray: Any, submit: Callable[[Any], Any], work: Iterable[Any], in_flight: int
) -> Iterator[Any]:
    """Submit ``work`` with at most ``in_flight`` pending; yield results as they finish."""
    pending: list[Any] = []
    it = iter(work)
    while True:
        while len(pending) < in_flight:
            w = next(it, None)
            if w is None:
                break
            pending.append(submit(w))
        if not pending:
            return
        ready, pending = ray.wait(pending, num_returns=1)
        yield _get(ray, ready[0])


def _get(ray: Any, ref: Any) -> Any:
    """``ray.get``; a facebridge error raised in a worker is raised as itself (one line)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        cause: Any = exc
        for _ in range(8):
            cause = getattr(cause, "cause", None)
            if isinstance(cause, FacebridgeError):
                raise cause from None
            if cause is None:
                break
        raise


def _batches(seq: Sequence[str], size: int) -> list[list[str]]:
    return [list(seq[s : s + size]) for s in range(0, len(seq), size)]


def _subset(dets: Any, batch: Sequence[str]) -> Any:
    """The detections (and detection failures) of ``batch`` only, to ship with it."""
    from facebridge.store import Detections

    index = dets.index()
    rows = np.array([index[i] for i in batch if i in index], dtype=np.int64)
    return Detections(
        dets.detector,
        tuple(dets.ids[k] for k in rows),
        dets.boxes[rows],
        dets.landmarks[rows],
        dets.scores[rows],
        dets.fallback[rows],
        {i: dets.failures[i] for i in batch if i in dets.failures},
        {},
    )


def _start(ray: Any, address: str | None, num_cpus: int | None) -> bool:
    """Connect to ``address`` or start a local runtime; True when this call started it."""
    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        kw["num_cpus"] = num_cpus
        # workers import facebridge from where the driver does
        src = str(Path(__file__).resolve().parents[1])
        path = os.environ.get("PYTHONPATH", "")
        if src not in path.split(os.pathsep):
            path = os.pathsep.join(p for p in (src, path) if p)
        kw["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
    elif num_cpus is not None:
        raise InvalidInputError(
            f"num_cpus={num_cpus} applies to a local Ray runtime only; with --address the "
            "cluster's nodes set their CPUs (ray start --num-cpus N)"
        )
    ray.init(address=address, **kw)
    return True


def embed_images_ray(
    images_root: str | Path,
    store_root: str | Path,
    models: Sequence[str] | None = None,
    detector: str | Any = "mtcnn",
    items: Sequence[str] | None = None,
    batch_size: int = 32,
    progress: bool = True,
    *,
    address: str | None = None,
    workers: int | None = None,
    num_cpus: int | None = None,
    embedders: Mapping[str, Any] | None = None,
    alignments: Mapping[str, str] | None = None,
    weights_dir: str | Path | None = None,
    threads: int | None = None,
    detect_batch_size: int = 16,
    retry_failed: bool = False,
    max_pixels: int | None = MAX_PIXELS,
    device: str = "cpu",
) -> RayExtractionSummary:
    """Detect once, then embed with every model, into the store at ``store_root``, on Ray.

    Same store, same counts and same resume as :func:`facebridge.extract.embed_images`; the
    detection batches run as Ray tasks and each model in a pool of Ray actors.

    Parameters
    ----------
    images_root, store_root, models, detector, items, batch_size, progress, alignments, \
weights_dir, detect_batch_size, retry_failed, max_pixels
        As in :func:`facebridge.extract.embed_images`.  ``images_root`` must be readable at the
        same path on every node; ``store_root`` is written by the driver only.
    address : str, optional
        A running Ray cluster (``"HOST:PORT"`` of ``ray start --head``, or ``"auto"``).  Default:
        start a local Ray runtime for this call and stop it afterwards.  A runtime already
        initialised in this process is used as it is.
    workers : int, optional
        Worker processes per stage (detection tasks in flight; actors per model).  Default: the
        CPUs of the cluster.
    num_cpus : int, optional
        CPUs of the local runtime (default: all of this machine's); only without ``address``.
    embedders : mapping, optional
        ``{key: embedder}`` objects to ship to the actors instead of building ``models`` there
        (they must pickle; tests use fakes).
    threads : int, optional
        Runtime threads per worker (default 1: one worker per CPU).
    device : str
        ``"cuda"``: each detection task asks Ray for one GPU and runs MTCNN there (the nodes
        must have CUDA torch); the face models run on the CPU.

    Returns
    -------
    RayExtractionSummary
        The counts of :class:`~facebridge.extract.ExtractionSummary`, plus the Ray node each
        stage's items ran on.

    Raises
    ------
    MissingDependencyError
        ray is not installed (``pip install 'facebridge[ray]'``).
    InvalidInputError
        No images, bad ids, batch sizes or worker counts below 1.

    Example
    -------
    >>> s = embed_images_ray("lfw/images", "store", models=["sface"], num_cpus=2)  # doctest: +SKIP
    >>> s.store_totals["sface"]                                                    # doctest: +SKIP
    {'embedded': 13185, 'fallback': 48, 'failed': 0}
    """
    from facebridge.store import EmbeddingStore

    for name, v in (
        ("batch_size", batch_size),
        ("detect_batch_size", detect_batch_size),
        ("workers", workers),
        ("num_cpus", num_cpus),
        ("threads", threads),
    ):
        if v is not None and (not isinstance(v, int) or v < 1):
            raise InvalidInputError(f"{name} must be an integer >= 1, got {v!r}")
    if max_pixels is not None and (isinstance(max_pixels, bool) or int(max_pixels) < 1):
        raise InvalidInputError(
            f"max_pixels must be a positive integer or None, got {max_pixels!r}"
        )
    root = Path(images_root).resolve()
    if not root.is_dir():
        raise InvalidInputError(f"image folder {root} does not exist; pass --images DIR")
    ids = _check_items(items) if items is not None else list_images(root)
    if not ids:
        raise InvalidInputError("no items to process; check --images / --pairs")
    keys = (
        tuple(embedders)
        if embedders is not None
        else (_default_models() if models is None else tuple(models))
    )
    if embedders is None and keys:
        from facebridge.models import get_spec

        for k in keys:
            get_spec(k)  # an unknown key fails before the cluster is touched
    det_name = detector if isinstance(detector, str) else detector.name
    if isinstance(detector, str):
        from facebridge.detect import DETECTORS

        if detector not in DETECTORS:
            raise InvalidInputError(
                f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}"
            )
    ray = _ray()
    store = EmbeddingStore.create(store_root)
    started = _start(ray, address, num_cpus)
    try:
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        wdir = None if weights_dir is None else str(weights_dir)
        placement: dict[str, dict[str, int]] = {}
        det_summary = _run_detection(
            ray, root, store, ids, detector, det_name, n, wdir, threads, detect_batch_size,
            progress, placement, retry_failed, max_pixels, device,
        )  # fmt: skip
        model_summaries: dict[str, StageSummary] = {}
        for key in keys:
            emb = None if embedders is None else embedders[key]
            model_summaries[key] = _run_model(
                ray, root, store, ids, key, emb, det_name, n, wdir, threads, alignments,
                batch_size, progress, placement, retry_failed, max_pixels,
            )  # fmt: skip
    finally:
        if started:
            ray.shutdown()
    summary = RayExtractionSummary(
        len(ids), det_name, det_summary, model_summaries, placement=placement, workers=n
    )
    summary.store_totals = _store_totals(store, det_name, list(model_summaries), ids)
    return summary


def _collect(
    results: Iterable[tuple[StageSummary, Any, str]],
    writers: _Writers,
    summary: StageSummary,
    where: dict[str, int],
    bar: Any,
) -> None:
    """Each finished batch of a stage: its records written, its counts added to ``summary``
    and to its node's count in ``where``, the progress bar moved on."""
    for part, records, node in results:
        writers.replay(records)
        _merge(summary, part)
        where[node] = where.get(node, 0) + part.done
        bar.update(part.done)


def _run_detection(
    ray, root, store, ids, detector, det_name, n, wdir, threads, batch_size, progress, placement,
    retry_failed=False, max_pixels=MAX_PIXELS, device="cpu",
) -> StageSummary:  # fmt: skip
    recs = store.detection_records(det_name)
    todo, redone = _detection_todo(
        recs, ids, retry_failed, lambda i: source_signature(root / i, recs[i].source)
    )
    summary = StageSummary(det_name, skipped=len(ids) - len(todo), redone=redone)
    if not todo:  # do not take the detections lock: other runs may embed from the same store
        return summary
    settings: dict[str, Any] = {}
    if isinstance(detector, str):
        settings = {"weights_dir": wdir, **detector_device(detector, device, check=False)}
        if detector == "mtcnn":
            settings["num_threads"] = threads or 1
    gpus = 1 if settings.get("device", "cpu") != "cpu" else 0  # a detection task per GPU
    task = ray.remote(
        num_cpus=1, num_gpus=gpus, max_retries=MAX_RETRIES, scheduling_strategy="SPREAD"
    )(_detect_batch_task)
    det_ref = ray.put(detector)
    writers = _Writers(store)
    where = placement.setdefault("detect", {})
    t0 = time.perf_counter()
    try:
        with _progress(len(todo), f"detect {det_name} (ray)", progress) as bar:
            results = _stream(
                ray,
                lambda b: task.remote(str(root), b, det_ref, settings, batch_size, max_pixels),
                _batches(todo, batch_size),
                n,
            )
            _collect(results, writers, summary, where, bar)
    finally:
        writers.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def _run_model(
    ray, root, store, ids, key, embedder, det_name, n, wdir, threads, alignments, batch_size,
    progress, placement, retry_failed=False, max_pixels=MAX_PIXELS,
) -> StageSummary:  # fmt: skip
    det_recs = store.detection_records(det_name)
    det_src = {i: r.source for i, r in det_recs.items()}
    todo, redone = _model_todo(store.records(key), det_src, ids, retry_failed)
    summary = StageSummary(key, skipped=len(ids) - len(todo), redone=redone)
    if not todo:
        return summary
    dets = store.load_detections(det_name)
    actor_cls = ray.remote(
        num_cpus=1,
        max_restarts=MAX_RETRIES,
        max_task_retries=MAX_RETRIES,
        scheduling_strategy="SPREAD",
    )(_EmbedWorker)
    # constructor arguments travel inline (not through the object store): a restarted actor
    # is rebuilt from them
    actors = [
        actor_cls.remote(key, embedder, wdir, threads or 1, alignments, max_pixels)
        for _ in range(n)
    ]
    turn = iter(range(10**18))
    writers = _Writers(store)
    where = placement.setdefault(key, {})
    try:
        # the stage's time starts once every actor holds its model, as the local engine's
        # starts once the models are built
        for a in actors:
            _get(ray, a.ready.remote())
        t0 = time.perf_counter()
        with _progress(len(todo), f"embed {key} (ray)", progress) as bar:
            results = _stream(
                ray,
                lambda b: actors[next(turn) % n].embed.remote(
                    str(root),
                    b,
                    _subset(dets, b),
                    det_name,
                    {i: det_recs[i] for i in b if i in det_recs},
                ),
                _batches(todo, batch_size),
                2 * n,  # one batch running and one queued per actor
            )
            _collect(results, writers, summary, where, bar)
    finally:
        writers.close()
        for a in actors:
            ray.kill(a)
    summary.seconds = time.perf_counter() - t0
    return summary
