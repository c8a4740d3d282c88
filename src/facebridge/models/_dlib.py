"""dlib-run embedder (dlib-resnet)."""

from __future__ import annotations

import multiprocessing
import signal
import warnings
import weakref
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from facebridge.models._base import Embedder, require
from facebridge.models.registry import ModelSpec

#: after this many consecutive batches on which the worker pool failed, the embedder stops
#: trying to start one and computes in-process for the rest of its life.
MAX_POOL_FAILURES = 2


def _descriptors(model: Any, faces: np.ndarray) -> np.ndarray:
    """dlib's descriptors of RGB uint8 chips ``(b, 150, 150, 3)`` -> float32 ``(b, 128)``."""
    chips = [np.ascontiguousarray(f) for f in faces]
    return np.array([list(d) for d in model.compute_face_descriptor(chips)], np.float32)


# ----------------------------------------------------------------------- worker-process side

_worker_model: Any = None


def _init_worker(weight_path: str) -> None:
    """Pool initializer: load the network once per worker; leave Ctrl-C to the parent."""
    global _worker_model
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import dlib

    _worker_model = dlib.face_recognition_model_v1(weight_path)


def _worker_descriptors(faces: np.ndarray) -> np.ndarray:
    return _descriptors(_worker_model, faces)


# ------------------------------------------------------------------------------ the embedder


class DlibEmbedder(Embedder):
    """dlib-resnet: ``face_recognition_model_v1.compute_face_descriptor`` on 150x150 RGB chips
    (made by :func:`facebridge.detect.align.dlib_chip`: ``dlib.get_face_chip(img, shape,
    size=150, padding=0.25)`` with the 5 points predicted in dlib's box convention), no jitter.

    dlib's ``compute_face_descriptor`` runs on one core and holds the GIL.  With ``threads >= 2``
    a chunk of at least 2 faces is therefore split into ``threads`` contiguous parts computed in
    worker processes (a :class:`~concurrent.futures.ProcessPoolExecutor`, *spawn* start method,
    each worker loading the network once), and the parts are put back in order.  Each face is
    computed by the same dlib code on the same bytes, so the output is bit-identical to the
    in-process path (``tests/test_embedders.py`` checks it on real faces).

    The pool is started on the first such chunk (about a second) and shut down by
    :meth:`close`, when the embedder is garbage-collected, or at interpreter exit.  Workers
    ignore SIGINT, so Ctrl-C interrupts the parent only; it waits for at most the parts in
    flight when it exits.  If the pool cannot start or a worker dies, that chunk is computed
    in-process with a one-line :class:`RuntimeWarning` (nothing lost or reordered) and the next
    chunk starts a fresh pool; after :data:`MAX_POOL_FAILURES` failures in a row the embedder
    stays in-process.  ``threads=1`` (and single faces) always compute in-process.

    As with any spawn-based multiprocessing, a *script* that embeds with ``threads >= 2`` must
    guard its entry point with ``if __name__ == "__main__":``: each worker re-imports the main
    module, and an unguarded one would re-run the script there (the worker then stops with an
    error at its first dlib batch and the parent falls back in-process, but whatever the script
    did before that ran again).  The ``facebridge`` CLI, notebooks and pytest are unaffected.
    """

    def __init__(
        self,
        spec: ModelSpec,
        model: Any,
        batch_size: int | None,
        *,
        weight_path: Path | str | None = None,
        workers: int = 1,
    ) -> None:
        super().__init__(spec, batch_size)
        self._model = model
        self._weight_path = None if weight_path is None else str(weight_path)
        self._workers = int(workers) if weight_path is not None else 1
        self._pool: ProcessPoolExecutor | None = None
        self._pool_finalizer: weakref.finalize | None = None
        self._pool_failures = 0

    @classmethod
    def build(
        cls, spec: ModelSpec, paths: dict[str, Path], threads: int, batch_size: int | None
    ) -> DlibEmbedder:
        """Load the network from the verified ``paths`` (see :class:`Embedder`)."""
        dlib = require("dlib")
        path = paths[spec.weight_files[0]]
        return cls(
            spec,
            dlib.face_recognition_model_v1(str(path)),
            batch_size,
            weight_path=path,
            workers=threads,
        )

    @property
    def workers(self) -> int:
        """Worker processes a chunk is split over (1: in-process)."""
        return self._workers

    def close(self) -> None:
        """Shut the worker pool down (if one was started); the embedder stays usable."""
        finalizer, self._pool_finalizer, self._pool = self._pool_finalizer, None, None
        if finalizer is not None:
            finalizer()

    def _start_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            if self._weight_path is None:  # pragma: no cover - workers == 1 without a path
                raise RuntimeError("no weight path to load in worker processes")
            pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._weight_path,),
            )
            self._pool = pool
            # holds the pool, not self: runs on close(), on garbage collection and at exit
            self._pool_finalizer = weakref.finalize(
                self, pool.shutdown, wait=True, cancel_futures=True
            )
        return self._pool

    def _forward_pool(self, faces: np.ndarray) -> np.ndarray:
        pool = self._start_pool()
        parts = np.array_split(faces, min(self._workers, len(faces)))
        futures = [pool.submit(_worker_descriptors, part) for part in parts]
        try:
            return np.concatenate([f.result() for f in futures])
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    def _forward(self, faces: np.ndarray) -> np.ndarray:
        if self._workers >= 2 and len(faces) >= 2 and self._pool_failures < MAX_POOL_FAILURES:
            if getattr(multiprocessing.current_process(), "_inheriting", False):
                # we are a spawned worker re-running an unguarded main script: stop it here
                raise RuntimeError(
                    f"{self.key}: worker processes use the spawn start method, which re-imports "
                    "the main script; guard its entry point with `if __name__ == '__main__':` "
                    "or build the embedder with threads=1"
                )
            try:
                out = self._forward_pool(faces)
            except Exception as exc:
                self._pool_failures += 1
                if isinstance(exc, BrokenExecutor) or self._pool_failures >= MAX_POOL_FAILURES:
                    self.close()
                stop = self._pool_failures >= MAX_POOL_FAILURES
                warnings.warn(
                    f"{self.key}: worker processes failed ({type(exc).__name__}: {exc}); "
                    f"computed these {len(faces)} faces in-process"
                    + ("; staying in-process from now on" if stop else ""),
                    RuntimeWarning,
                    stacklevel=3,
                )
            else:
                self._pool_failures = 0
                return out
        return _descriptors(self._model, faces)
