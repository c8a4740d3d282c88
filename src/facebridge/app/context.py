"""What the report says about the data of a run, read from the store and the model registry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from facebridge.errors import StoreError, UnknownModelError
from facebridge.report.base import ModelInfo, ReportContext

__all__ = ["context_from_store", "model_info"]


def model_info(keys: Iterable[str], dims: Mapping[str, int] | None = None) -> dict[str, ModelInfo]:
    """What the registry knows about each model key (architecture, data, licence, accuracy).

    Keys the registry does not know (synthetic or user models) get only their dimension.

    Parameters
    ----------
    keys : iterable of str
        Model keys.
    dims : mapping, optional
        Dimension per key (overrides the registry's).

    Returns
    -------
    dict of str to ModelInfo

    Examples
    --------
    >>> model_info(["sface", "mine"], {"mine": 8})["mine"].dim
    8
    """
    from facebridge.models import get_spec

    dims = dims or {}
    out: dict[str, ModelInfo] = {}
    for k in keys:
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
    from facebridge.store import default_store_path

    return Path(root).resolve() == Path(default_store_path()).resolve()


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

    Parameters
    ----------
    store : EmbeddingStore
    protocol : PairProtocol
    models : sequence of str
        The compared models.
    data : PairData, optional
        The resolved pairs (for the number of invalid pairs).
    quick, command, images, dataset, notes, title
        What the report states about the run.

    Returns
    -------
    ReportContext

    Examples
    --------
    >>> from facebridge.app.inputs import load_protocol, open_store
    >>> ctx = context_from_store(open_store(None), load_protocol(None, None), ["sface", "faceres"])
    >>> ctx.n_pairs
    6000
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
            shown = ", ".join(fb[:50])
            more = f" and {len(fb) - 50} more" if len(fb) > 50 else ""
            out.append(
                f"No face found by {det} in {len(fb)} image(s); the documented fallback centre "
                f"crop was embedded: {shown}{more}"
            )
    return out
