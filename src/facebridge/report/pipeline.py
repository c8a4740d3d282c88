"""End-to-end runs that end in a report: store + protocol -> analysis -> report, and the
extraction front ends used by ``facebridge reproduce`` (LFW images, YouTube Faces frames).

* :func:`evaluate` resolves a protocol against a store, runs
  :func:`facebridge.experiments.run_analysis` and writes the report;
* :func:`context_from_store` gathers what the report says about the data (models and their
  provenance from the registry, detector, image count, every failure from the store manifests);
* :func:`embed_ytf_videos` builds a per-video store for YouTube Faces: every video's first
  ``frames_per_video`` frames (ordered by frame number) are embedded through the ordinary
  extraction run into a frame store, and each video's embedding is the mean of its frames'
  embeddings, as in the paper (Section 3.1.3).

No YouTube Faces frames exist on the development machines; the YTF path is tested on small
synthetic frame folders in the real ``aligned_images_DB`` layout.
"""

from __future__ import annotations

import difflib
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facebridge.errors import InvalidInputError, ProtocolError, StoreError, UnknownModelError
from facebridge.report.base import ModelInfo, ReportContext, ReportPaths, Section

#: Sweep settings of a full run and of ``--quick``.  Full: the paper's 100 values of p with one
#: random subset per fold, as in the paper (Section 3.4); ``--draws 3`` gives smoother curves at
#: three times the cost of the sweep, which dominates the run.
FULL_SETTINGS: dict[str, Any] = {"n_points": 100, "n_draws": 1}
QUICK_SETTINGS: dict[str, Any] = {
    "n_points": 12,
    "n_draws": 1,
    "pairs": False,
}  # labelled "quick run"

#: Where the per-frame store of a YTF run lives inside the per-video store.
YTF_FRAMES_SUBDIR = "_frames"


# ------------------------------------------------------------------------------------ models


def resolve_models(store: Any, models: Sequence[str] | None) -> list[str]:
    """The models to compare: ``models`` checked against the store, or every model it holds.

    Raises
    ------
    StoreError
        The store does not exist or holds no model.
    UnknownModelError
        A requested model is not in the store (the message lists close names and those present).
    InvalidInputError
        Fewer than two distinct models.
    """
    root = Path(getattr(store, "root", "."))
    present = list(store.models())
    if not present:
        if not root.is_dir():
            raise StoreError(
                f"no embedding store at {root}; pass --store DIR of a store written by "
                "`facebridge embed` or run `facebridge reproduce --images DIR`"
            )
        raise StoreError(
            f"the store at {root} holds no model; embed images into it first with `facebridge embed`"
        )
    if not models:
        chosen = present
    else:
        chosen = []
        for m in models:
            if m not in present:
                close = difflib.get_close_matches(m, present, n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise UnknownModelError(
                    f"model {m!r} is not in the store at {root}{hint}; models present: "
                    f"{', '.join(present)}"
                )
            if m not in chosen:
                chosen.append(m)
    if len(chosen) < 2:
        raise InvalidInputError(
            f"need at least two models to compare, got {chosen}; list two or more with --models a,b"
        )
    return chosen


def model_info(keys: Iterable[str], dims: Mapping[str, int] | None = None) -> dict[str, ModelInfo]:
    """What the registry knows about each model key (architecture, data, licence, accuracy).

    Keys the registry does not know (synthetic or user models) get only their dimension.
    """
    dims = dims or {}
    out: dict[str, ModelInfo] = {}
    try:
        from facebridge.models import get_spec
    except ImportError:  # pragma: no cover - the registry is part of the package
        get_spec = None  # type: ignore[assignment]
    for k in keys:
        spec = None
        if get_spec is not None:
            try:
                spec = get_spec(k)
            except (UnknownModelError, KeyError):
                spec = None
        if spec is None:
            out[k] = ModelInfo(k, dim=dims.get(k))
            continue
        arch = spec.architecture
        if getattr(spec, "loss", None):
            arch = f"{arch}; {spec.loss}"
        out[k] = ModelInfo(
            key=k,
            architecture=arch,
            training_data=spec.training_data,
            loss=getattr(spec, "loss", None),
            dim=dims.get(k, spec.dim),
            provenance=f"{spec.provenance}; weights from {spec.carrier}",
            licence=spec.licence,
            published_accuracy=spec.lfw_accuracy,
            published_source="LFW, as published" if spec.lfw_accuracy is not None else None,
        )
    return out


def _describe_images(protocol_name: str, store_root: Path | None, images: str | None) -> str:
    where = f" from {images}" if images else ""
    if protocol_name.startswith("lfw"):
        if images is None and store_root is not None and _is_default_store(store_root):
            return "LFW, deep-funneled images (the embeddings shipped with facebridge)"
        if images and "deepfunneled" in images.replace("-", "").replace("_", "").lower():
            return f"LFW, deep-funneled images{where}"
        return f"LFW{where}"
    if protocol_name.startswith("ytf"):
        return f"YouTube Faces videos{where}"
    return f"{protocol_name}{where}"


def _is_default_store(root: Path) -> bool:
    try:
        from facebridge.store import default_store_path

        return Path(root).resolve() == Path(default_store_path()).resolve()
    except Exception:  # pragma: no cover - the store module always has it
        return False


def context_from_store(
    store: Any,
    protocol: Any,
    models: Sequence[str],
    data: Any | None = None,
    *,
    quick: bool = False,
    command: str | None = None,
    images: str | None = None,
    dataset: str | None = None,
    notes: Sequence[str] = (),
    title: str | None = None,
) -> ReportContext:
    """A :class:`ReportContext` for a run of ``models`` of ``store`` on ``protocol``.

    Reads every model's manifest (dimension, detector, items embedded, failures with reasons) and
    the model registry (architecture, training data, provenance, licence, published accuracy).
    """
    manifests = {m: store.manifest(m) for m in models}
    dims = {m: int(man["dim"]) for m, man in manifests.items() if man.get("dim")}
    detectors: list[str] = []
    for man in manifests.values():
        det = str(man.get("detector") or "")
        align = (man.get("extra") or {}).get("alignment")
        label = f"{det} (alignment {align})" if align and str(align) not in det else det
        if det and label not in detectors:
            detectors.append(label)
    failures = {m: dict(man.get("failures") or {}) for m, man in manifests.items()}
    embedded = {m: int(man.get("n_items") or 0) for m, man in manifests.items()}
    root = Path(getattr(store, "root", "")) if getattr(store, "root", None) else None
    name = str(getattr(protocol, "name", "pairs"))
    notes = [*notes, *_fallback_notes(store, set(protocol.items()))]
    kwargs: dict[str, Any] = {}
    if title:
        kwargs["title"] = title
    return ReportContext(
        protocol=name,
        dataset=dataset or _describe_images(name, root, images),
        store=str(root) if root else None,
        detector="; ".join(detectors) if detectors else None,
        n_items=len(protocol.items()),
        n_pairs=len(protocol.pairs),
        n_invalid_pairs=None if data is None else int(data.n_missing),
        embedded=embedded,
        failures={m: f for m, f in failures.items() if f},
        models=model_info(models, dims),
        quick=quick,
        command=command,
        notes=tuple(notes),
        **kwargs,
    )


def _fallback_notes(store: Any, items: set[str]) -> list[str]:
    """One note per detector of the store that fell back to a centre crop for some images."""
    out: list[str] = []
    detectors = getattr(store, "detectors", None)
    if not callable(detectors):
        return out
    try:
        names = list(detectors())
    except StoreError:
        return out
    if not names:
        return [
            "The store keeps no detection records, so images whose embedding came from the "
            "no-face fallback crop cannot be listed here."
        ]
    for det in names:
        try:
            d = store.load_detections(det)
        except StoreError:
            continue
        fb = sorted(i for i, f in zip(d.ids, d.fallback, strict=True) if f and i in items)
        if fb:
            shown = ", ".join(f"`{i}`" for i in fb[:50])
            more = f" and {len(fb) - 50} more" if len(fb) > 50 else ""
            out.append(
                f"No face found by {det} in {len(fb)} image(s); the documented fallback centre "
                f"crop was embedded: {shown}{more}"
            )
    return out


# ---------------------------------------------------------------------------------- analysis


class TqdmProgress:
    """A progress callback drawing a tqdm bar on stderr, one stage at a time.

    Accepts the analysis core's ``progress(stage, done, total)`` as well as
    ``progress(done, total[, stage])`` and ``progress()`` (advance by one).  A new stage name
    resets the bar.  Disabled instances do nothing; :meth:`close` ends the bar.
    """

    def __init__(self, desc: str = "analysis", enabled: bool = True) -> None:
        self.enabled = enabled
        self.desc = desc
        self._bar: Any = None
        self._stage: str | None = None

    def __call__(self, *args: Any) -> None:
        if not self.enabled:
            return
        stage = next((a for a in args if isinstance(a, str)), None)
        nums = [
            int(a) for a in args if isinstance(a, (int, np.integer)) and not isinstance(a, bool)
        ]
        done = nums[0] if nums else None
        total = nums[1] if len(nums) > 1 else None
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=self.desc, file=sys.stderr, unit="step", leave=True)
        bar = self._bar
        if stage is not None and stage != self._stage:
            self._stage = stage
            bar.reset(total=total)
            bar.set_description_str(f"{self.desc}: {stage}", refresh=False)
        elif total is not None and bar.total != total:
            bar.total = total
        if done is None:
            bar.update(1)
        else:
            bar.n = done
            bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def analysis_settings(
    *,
    quick: bool = False,
    n_points: int | None = None,
    n_draws: int | None = None,
    alpha: float | None = None,
    correspondence: str | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """The settings passed to ``run_analysis``: the full or quick defaults, overridden by the
    options given (``None`` keeps the default)."""
    out = dict(QUICK_SETTINGS if quick else FULL_SETTINGS)
    for k, v in (
        ("n_points", n_points),
        ("n_draws", n_draws),
        ("alpha", alpha),
        ("correspondence", correspondence),
        ("seed", seed),
    ):
        if v is not None:
            out[k] = v
    if "n_points" in out and int(out["n_points"]) < 2:
        raise InvalidInputError(f"--points must be at least 2, got {out['n_points']}")
    if "n_draws" in out and int(out["n_draws"]) < 1:
        raise InvalidInputError(f"--draws must be at least 1, got {out['n_draws']}")
    if "alpha" in out and not float(out["alpha"]) > 0:
        raise InvalidInputError(f"--alpha must be positive, got {out['alpha']}")
    return out


def run_analysis(data: Any, settings: Mapping[str, Any], progress: Any = None) -> dict[str, Any]:
    """Call :func:`facebridge.experiments.run_analysis` with the settings it accepts.

    Settings the analysis core does not take are dropped (so a newer CLI works against an older
    core); ``progress`` is passed when the core accepts it.
    """
    from facebridge.experiments import run_analysis as core_run_analysis

    params = inspect.signature(core_run_analysis).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "settings" in params:  # run_analysis(data, settings) form of the contract
        kwargs: dict[str, Any] = {"settings": dict(settings)}
    else:
        kwargs = {k: v for k, v in settings.items() if takes_kwargs or k in params}
    if progress is not None and ("progress" in params or takes_kwargs):
        kwargs["progress"] = progress
    results = dict(core_run_analysis(data, **kwargs))
    results.setdefault("dims", dict(data.dims))
    return results


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` produced."""

    results: dict[str, Any]
    paths: ReportPaths
    context: ReportContext


def evaluate(
    store: Any,
    protocol: Any,
    out_dir: str | Path,
    models: Sequence[str] | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    quick: bool = False,
    progress: bool = True,
    command: str | None = None,
    images: str | None = None,
    sections_extra: Iterable[Section] | Callable[[Any, dict[str, Any]], Iterable[Section]] = (),
    notes: Sequence[str] = (),
) -> Evaluation:
    """Resolve ``protocol`` against ``store``, run the full analysis and write the report.

    ``sections_extra`` may be a callable ``(pair_data, results) -> sections`` for sections that
    need the data (e.g. the privacy audit).
    """
    from facebridge.experiments import pair_data
    from facebridge.report.write import write_report

    chosen = resolve_models(store, models)
    data = pair_data(store, protocol, chosen)
    if not data.valid.any():
        raise InvalidInputError(
            f"none of the {data.n_pairs} pairs of {protocol.name!r} has both items embedded by "
            f"every model in {getattr(store, 'root', 'the store')}; pass the --pairs / --protocol "
            "the store was embedded for"
        )
    st = dict(settings) if settings is not None else analysis_settings(quick=quick)
    bar = TqdmProgress("analysis", enabled=progress)
    try:
        results = run_analysis(data, st, progress=bar if progress else None)
    finally:
        bar.close()
    results.setdefault("settings", {})
    results["settings"] = {**st, **results["settings"], "quick": quick}
    context = context_from_store(
        store, protocol, chosen, data, quick=quick, command=command, images=images, notes=notes
    )
    extras = sections_extra(data, results) if callable(sections_extra) else sections_extra
    paths = write_report(results, out_dir, sections_extra=list(extras), context=context)
    return Evaluation(results, paths, context)


# ------------------------------------------------------------------------------ YouTube Faces


@dataclass(frozen=True)
class YtfFrames:
    """The frames chosen for every video of a YTF protocol."""

    frames: dict[str, list[str]]  # video id -> frame item ids (relative to the frames root)
    missing: dict[str, str]  # video id -> reason (no folder, no frames)

    @property
    def items(self) -> list[str]:
        return [f for fr in self.frames.values() for f in fr]


def ytf_frame_items(
    frames_root: str | Path, videos: Iterable[str], frames_per_video: int = 100
) -> YtfFrames:
    """The first ``frames_per_video`` frames of each video, ordered by frame number.

    A video without a folder or without frames is recorded in ``missing`` with the reason (it is
    reported as a failure of every model, never silently dropped).
    """
    from facebridge.protocols import ytf_video_frames

    root = Path(frames_root)
    if not root.is_dir():
        raise InvalidInputError(
            f"YTF frames folder not found: {root}; pass --frames pointing at aligned_images_DB"
        )
    frames: dict[str, list[str]] = {}
    missing: dict[str, str] = {}
    for video in videos:
        try:
            paths = ytf_video_frames(root, video, max_frames=frames_per_video)
        except ProtocolError as e:
            missing[video] = str(e).split(";")[0]
            continue
        frames[video] = [p.relative_to(root).as_posix() for p in paths]
    if not frames:
        raise InvalidInputError(
            f"none of the {len(missing)} videos has frames under {root}; expected the "
            "aligned_images_DB layout Name/video_no/aligned_detect_<video_no>.<frame>.jpg"
        )
    return YtfFrames(frames, missing)


def average_video_embeddings(
    frame_store: Any,
    video_store: Any,
    chosen: YtfFrames,
    models: Sequence[str],
    frames_per_video: int,
) -> dict[str, int]:
    """Write each video's embedding = the mean of its frames' embeddings, per model.

    Frames that failed are left out of the mean; a video none of whose frames was embedded (or
    that has no frames) is recorded as a failure of that model with the reason.  Videos already
    in ``video_store`` are skipped (resume).

    Returns
    -------
    dict
        model -> number of videos written in this call.
    """
    written: dict[str, int] = {}
    for m in models:
        emb = frame_store.load(m)
        index = emb.index()
        man = emb.manifest
        done = video_store.done_ids(m) if m in video_store.models() else set()
        det = f"{man.get('detector', 'unknown')}; mean of the first {frames_per_video} frames"
        extra = {
            "ytf": {
                "frames_per_video": frames_per_video,
                "aggregation": "mean of frame embeddings",
                "frames_store": str(getattr(frame_store, "root", "")),
            },
            "alignment": (man.get("extra") or {}).get("alignment"),
        }
        n = 0
        with video_store.writer(
            m,
            dim=int(man["dim"]),
            weights_sha256=str(man["weights_sha256"]),
            detector=det,
            extra=extra,
        ) as w:
            ids: list[str] = []
            vecs: list[np.ndarray] = []
            for video, reason in chosen.missing.items():
                if video not in done:
                    w.add_failure(video, f"no frames: {reason}")
            for video, frame_ids in chosen.frames.items():
                if video in done:
                    continue
                rows = [index[f] for f in frame_ids if f in index]
                if not rows:
                    first = next((emb.failures[f] for f in frame_ids if f in emb.failures), None)
                    why = f"; first reason: {first}" if first else ""
                    w.add_failure(
                        video, f"none of its {len(frame_ids)} frames was embedded by {m}{why}"
                    )
                    continue
                ids.append(video)
                vecs.append(emb.vectors[rows].astype(np.float64).mean(axis=0).astype(np.float32))
                n += 1
            if ids:
                w.add(ids, np.stack(vecs))
            w.flush()
        written[m] = n
    return written


def embed_ytf_videos(
    frames_root: str | Path,
    protocol: Any,
    store_root: str | Path,
    models: Sequence[str] | None = None,
    *,
    frames_per_video: int = 100,
    detector: Any = "mtcnn",
    progress: bool = True,
    embedders: Mapping[str, Any] | None = None,
    alignments: Mapping[str, str] | None = None,
    batch_size: int = 32,
) -> Any:
    """Embed a YouTube Faces protocol's videos into a per-video store at ``store_root``.

    The frames go through :func:`facebridge.extract.embed_images` (detect, align, embed;
    resumable) into the frame store ``store_root/_frames``; then each video's embedding is the
    mean of its first ``frames_per_video`` frames' embeddings (frames ordered by frame number),
    written to ``store_root`` under the item id ``Name/video_no``.

    Returns
    -------
    EmbeddingStore
        The per-video store, ready for :func:`evaluate` with the same protocol.
    """
    from facebridge.extract import embed_images
    from facebridge.store import EmbeddingStore

    if isinstance(frames_per_video, bool) or int(frames_per_video) < 1:
        raise InvalidInputError(
            f"--frames-per-video must be a positive integer, got {frames_per_video!r}; the paper uses 100"
        )
    chosen = ytf_frame_items(frames_root, protocol.items(), int(frames_per_video))
    video_store = EmbeddingStore.create(store_root)
    frames_root_path = Path(store_root) / YTF_FRAMES_SUBDIR
    kwargs: dict[str, Any] = {}
    if embedders is not None:
        kwargs["embedders"] = embedders
    if alignments is not None:
        kwargs["alignments"] = alignments
    embed_images(
        frames_root,
        frames_root_path,
        models=models,
        detector=detector,
        items=chosen.items,
        batch_size=batch_size,
        progress=progress,
        **kwargs,
    )
    frame_store = EmbeddingStore(frames_root_path)
    present = frame_store.models()
    if embedders is not None:
        keys = list(embedders)
    else:
        keys = [m for m in (models or present) if m in present] or present
    average_video_embeddings(frame_store, video_store, chosen, keys, int(frames_per_video))
    return video_store
