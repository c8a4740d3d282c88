"""What every command starts from: the store, the pair protocol and the models to compare."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from facebridge.errors import InvalidInputError, StoreError, UnknownModelError
from facebridge.vocabulary import unknown

__all__ = [
    "PROTOCOL_CHOICES",
    "default_models",
    "load_protocol",
    "open_store",
    "resolve_models",
    "shipped_models",
]

#: The kinds of pair protocol ``--protocol`` names.
PROTOCOL_CHOICES = ("lfw", "lfw-dev", "ytf", "csv", "auto")


def open_store(path: str | Path | None, *, hint: str = "") -> Any:
    """The embedding store at ``path``, or the shipped LFW store when ``path`` is ``None``.

    Parameters
    ----------
    path : str or Path or None
        A store directory.
    hint : str
        Appended to the error (how to get a store).

    Returns
    -------
    EmbeddingStore

    Raises
    ------
    StoreError
        ``path`` is not a directory.

    Examples
    --------
    >>> open_store(None).models()[:2]
    ['dlib-resnet', 'facenet-casia']
    """
    from facebridge.store import EmbeddingStore, default_store

    if path is None:
        return default_store()
    root = Path(path)
    if not root.is_dir():
        fix = hint or "pass --store DIR of a store written by `facebridge embed`"
        raise StoreError(f"no embedding store at {root}; {fix}")
    return EmbeddingStore(root)


def load_protocol(kind: str | None, pairs: str | Path | None) -> Any:
    """The pair protocol of ``--protocol`` / ``--pairs``.

    Without ``pairs``: ``lfw`` is the packaged official View 2 ``pairs.txt``; ``ytf`` is
    ``$FACEBRIDGE_DATA/ytf/splits.txt``.  With ``pairs`` and no ``kind`` the kind is guessed
    from the file name.

    Parameters
    ----------
    kind : str or None
        One of :data:`PROTOCOL_CHOICES`.
    pairs : str or Path or None
        The pairs file.

    Returns
    -------
    PairProtocol

    Raises
    ------
    InvalidInputError
        An unknown kind, a missing file, or a kind that needs a file.

    Examples
    --------
    >>> len(load_protocol(None, None).pairs)
    6000
    """
    from facebridge import protocols

    if kind is not None and kind not in PROTOCOL_CHOICES:
        raise InvalidInputError(
            f"--protocol must be one of {', '.join(PROTOCOL_CHOICES)}, got {kind!r}"
        )
    if pairs is None:
        kind = kind or "lfw"
        if kind == "lfw":
            return protocols.default_lfw_pairs()
        if kind == "ytf":
            from facebridge.config import data_dir

            path = data_dir() / "ytf" / "splits.txt"
            if not path.is_file():
                raise InvalidInputError(f"YTF splits not found at {path}; pass --pairs splits.txt")
            return protocols.load_ytf_splits(path)
        raise InvalidInputError(f"--protocol {kind} needs --pairs FILE")
    path = Path(pairs)
    if not path.exists():
        raise InvalidInputError(f"pairs file not found: {path}; pass an existing --pairs FILE")
    # a directory: the protocol loader's one line names the protocol files it holds
    return protocols.load_protocol(kind or "auto", path)


def resolve_models(store: Any, models: Sequence[str] | None) -> list[str]:
    """The models to compare: ``models`` checked against the store, or every model it holds.

    Parameters
    ----------
    store : EmbeddingStore
    models : sequence of str or None
        ``None`` or empty: every model of the store.

    Returns
    -------
    list of str
        Distinct model keys, in the order asked for.

    Raises
    ------
    StoreError
        The store does not exist or holds no model.
    UnknownModelError
        A requested model is not in the store (the message lists close names and those present).
    InvalidInputError
        Fewer than two distinct models.

    Examples
    --------
    >>> resolve_models(open_store(None), ["sface", "dlib-resnet"])
    ['sface', 'dlib-resnet']
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
                raise UnknownModelError(f"{unknown(m, present, 'model')} in the store at {root}")
            if m not in chosen:
                chosen.append(m)
    if len(chosen) < 2:
        raise InvalidInputError(
            f"need at least two models to compare, got {chosen}; list two or more with --models a,b"
        )
    return chosen


def default_models() -> list[str]:
    """The registry's default models, in its order.

    Returns
    -------
    list of str

    Examples
    --------
    >>> "sface" in default_models()
    True
    """
    from facebridge.models import DEFAULT_MODELS

    return list(DEFAULT_MODELS)


def shipped_models(store: Any) -> list[str] | None:
    """The registry's default models that ``store`` holds, in the registry's order.

    Parameters
    ----------
    store : EmbeddingStore

    Returns
    -------
    list of str or None
        ``None`` (every model of the store) when it holds fewer than two of them.

    Examples
    --------
    >>> shipped_models(open_store(None))[:2]
    ['facenet-casia', 'facenet-ms1m']
    """
    present = store.models()
    wanted = [m for m in default_models() if m in present]
    return wanted if len(wanted) >= 2 else None
