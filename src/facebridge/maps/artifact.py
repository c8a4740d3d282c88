"""The map artifact: a fitted old -> new map on disk, with a card that says what it may be applied to.

An artifact is a directory::

    <path>/map.npz     weight (d_source, d_target) float64, bias (d_target,) float64 (no pickle)
    <path>/card.json   format, source / target model keys, their weights sha256 and dimensions,
                       recipe, number and sha256 of the fitting ids, facebridge version, created,
                       sha256 of map.npz, and the held-out estimate of the accuracy drop (optional)

It is written into a temporary sibling directory and renamed into place, so a kill leaves either
no artifact or a whole one.  :func:`load_map` re-hashes ``map.npz`` against the card and refuses a
corrupt artifact; :meth:`MapArtifact.check_source` refuses a gallery from another model (other
weights sha256) or of another dimension, each with a one-line error.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facebridge.errors import DimensionError, InvalidInputError, StoreError
from facebridge.maps.linear import LinearMap, fit_lstsq, fit_ridge
from facebridge.vocabulary import unknown

__all__ = [
    "ARTIFACT_FORMAT",
    "DEFAULT_RECIPE",
    "RECIPES",
    "MapArtifact",
    "MapCard",
    "fit_recipe",
    "ids_sha256",
    "load_map",
    "save_map",
]

ARTIFACT_FORMAT = "facebridge-map/1"
CARD = "card.json"
WEIGHTS = "map.npz"

#: Recipes a migration map is fitted with; every one fits on same-image correspondences (each
#: fitting image embedded by both models).  ``ridge``: the paper's map (ridge, alpha = 1);
#: ``lstsq``: minimum-norm least squares, the best map of docs/RECIPES.md.
RECIPES: dict[str, str] = {
    "ridge": "ridge regression, alpha = 1 (the paper's map), on same-image correspondences",
    "lstsq": "minimum-norm least squares (best of docs/RECIPES.md), on same-image correspondences",
}
DEFAULT_RECIPE = "lstsq"


def fit_recipe(X: Any, Y: Any, recipe: str = DEFAULT_RECIPE) -> LinearMap:
    """Fit the migration map of ``recipe`` from source rows ``X`` to target rows ``Y``.

    Parameters
    ----------
    X : array-like of shape (n, d_source)
        Old-model embeddings of the fitting images.
    Y : array-like of shape (n, d_target)
        New-model embeddings of the same images, row for row.
    recipe : {"ridge", "lstsq"}

    Returns
    -------
    LinearMap

    Raises
    ------
    InvalidInputError
        Unknown recipe, or input the fit refuses (empty, NaN, mismatched rows).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> fit_recipe(X, X @ np.diag([1.0, 2.0, 3.0]), "lstsq").weight.diagonal().round(6)
    array([1., 2., 3.])
    """
    if recipe == "ridge":
        return fit_ridge(X, Y, alpha=1.0)
    if recipe == "lstsq":
        return fit_lstsq(X, Y)
    raise unknown(recipe, RECIPES, "migration recipe")


def ids_sha256(ids: Iterable[str]) -> str:
    """sha256 of the sorted ids, one per line (identifies the fitting sample, not its order).

    Examples
    --------
    >>> ids_sha256(["b", "a"]) == ids_sha256(["a", "b"])
    True
    """
    text = "\n".join(sorted(str(i) for i in ids))
    return hashlib.sha256(text.encode()).hexdigest()


def _version() -> str:
    from facebridge import __version__

    return __version__


@dataclass(frozen=True)
class MapCard:
    """What a map artifact is: which spaces it joins, how it was fitted, what it costs.

    Attributes
    ----------
    source, target : str
        Model keys of the old (gallery) and the new model.
    source_sha256, target_sha256 : str
        sha256 of their weights (what the embedding store records).
    d_source, d_target : int
        Embedding dimensions.
    recipe : str
        One of :data:`RECIPES`.
    n_fit : int
        Number of fitting images.
    fit_ids_sha256 : str
        :func:`ids_sha256` of the fitting ids.
    facebridge_version, created : str
    drop : dict
        Held-out estimate of the accuracy drop (cross-test versus self-test new/new), metric name
        -> ``{"estimate": points, "se": standard error in points}``; empty when not estimated.
    weights_file_sha256 : str
        sha256 of ``map.npz`` (filled in by :func:`save_map`).
    format : str
    """

    source: str
    target: str
    source_sha256: str
    target_sha256: str
    d_source: int
    d_target: int
    recipe: str
    n_fit: int
    fit_ids_sha256: str
    facebridge_version: str = field(default_factory=_version)
    created: str = ""
    drop: dict[str, dict[str, float]] = field(default_factory=dict)
    weights_file_sha256: str = ""
    format: str = ARTIFACT_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> MapCard:
        """Build a card from its JSON form; a missing or ill-typed field is a one-line error."""
        need = {
            "source": str,
            "target": str,
            "source_sha256": str,
            "target_sha256": str,
            "d_source": int,
            "d_target": int,
            "recipe": str,
            "n_fit": int,
            "fit_ids_sha256": str,
            "weights_file_sha256": str,
            "format": str,
        }
        for key, typ in need.items():
            if not isinstance(d.get(key), typ) or isinstance(d.get(key), bool):
                raise StoreError(
                    f"corrupt map artifact {where}: card field {key!r} is {d.get(key)!r}, "
                    f"expected a {typ.__name__}; refit it with `facebridge migrate fit`"
                )
        if d["format"] != ARTIFACT_FORMAT:
            raise StoreError(
                f"map artifact {where} has format {d['format']!r}, this facebridge reads "
                f"{ARTIFACT_FORMAT!r}; refit it with `facebridge migrate fit`"
            )
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class MapArtifact:
    """A fitted migration map with its card.

    Attributes
    ----------
    map : LinearMap
    card : MapCard
    """

    map: LinearMap
    card: MapCard

    def check_source(self, model: str, weights_sha256: str, dim: int) -> None:
        """Refuse a gallery that this map was not fitted for.

        Raises
        ------
        StoreError
            The gallery's weights sha256 differs from the card's source sha256.
        DimensionError
            The gallery's dimension differs from the card's source dimension.
        """
        if str(weights_sha256).lower() != self.card.source_sha256.lower():
            raise StoreError(
                f"this map migrates {self.card.source!r} (weights sha256 "
                f"{self.card.source_sha256[:12]}...), but the gallery is {model!r} (weights "
                f"sha256 {str(weights_sha256)[:12]}...); use a map fitted on the gallery's model"
            )
        if int(dim) != self.card.d_source:
            raise DimensionError(
                f"this map takes {self.card.d_source}-d {self.card.source!r} embeddings, the "
                f"gallery has dimension {dim}; use a map fitted on the gallery's model"
            )

    def apply(self, X: Any) -> np.ndarray:
        """Migrate rows of ``X`` ``(n, d_source)``: float32 ``(n, d_target)`` with unit-norm rows."""
        Y = self.map.apply(np.asarray(X, dtype=np.float64))
        norms = np.linalg.norm(Y, axis=1, keepdims=True)
        return (Y / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_map(
    path: str | Path, linear_map: LinearMap, card: MapCard, overwrite: bool = False
) -> Path:
    """Write a map artifact directory atomically.

    Parameters
    ----------
    path : str or Path
        The artifact directory to create.
    linear_map : LinearMap
        Its dimensions must equal the card's.
    card : MapCard
        ``created`` and ``weights_file_sha256`` are filled in here.
    overwrite : bool
        Replace an existing artifact at ``path``.

    Returns
    -------
    Path

    Raises
    ------
    DimensionError
        The map's dimensions differ from the card's.
    InvalidInputError
        ``path`` exists and ``overwrite`` is false.
    """
    from facebridge.store._chunks import fsync_dir, now_iso

    p = Path(path)
    if (linear_map.d_a, linear_map.d_b) != (card.d_source, card.d_target):
        raise DimensionError(
            f"the map is {linear_map.d_a} -> {linear_map.d_b} but the card says "
            f"{card.d_source} -> {card.d_target}; build the card from the same embeddings"
        )
    if p.exists() and not overwrite:
        raise InvalidInputError(f"{p} exists; choose another path or pass overwrite (--force)")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        with open(tmp / WEIGHTS, "wb") as f:
            np.savez(f, weight=linear_map.weight, bias=linear_map.bias)
            f.flush()
            os.fsync(f.fileno())
        d = card.to_dict()
        d["created"] = d["created"] or now_iso()
        d["weights_file_sha256"] = _file_sha256(tmp / WEIGHTS)
        with open(tmp / CARD, "w") as f:
            json.dump(d, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(tmp)
        if p.exists():
            old = p.with_name(f".{p.name}.{os.getpid()}.old")
            os.replace(p, old)
            os.replace(tmp, p)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, p)
        fsync_dir(p.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return p


def load_map(path: str | Path) -> MapArtifact:
    """Read a map artifact and check it against its card.

    Raises
    ------
    StoreError
        No artifact at ``path``, an unreadable card, a ``map.npz`` whose sha256 or shapes differ
        from the card (corrupt or altered), or an npz that would need pickle.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> card = MapCard("a", "b", "0" * 64, "1" * 64, 2, 2, "lstsq", 10, ids_sha256(["x"]))
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "a-to-b"
    >>> _ = save_map(d, LinearMap(np.eye(2), np.zeros(2)), card)
    >>> load_map(d).card.target
    'b'
    """
    p = Path(path)
    where = str(p)
    if not (p / CARD).is_file() or not (p / WEIGHTS).is_file():
        raise StoreError(
            f"no map artifact at {where} (expected {CARD} and {WEIGHTS}); "
            "fit one with `facebridge migrate fit`"
        )
    try:
        card_d = json.loads((p / CARD).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(
            f"corrupt map artifact {where}: {CARD} is not valid JSON ({exc}); refit it"
        ) from None
    if not isinstance(card_d, dict):
        raise StoreError(f"corrupt map artifact {where}: {CARD} is not a JSON object; refit it")
    card = MapCard.from_dict(card_d, where)
    if _file_sha256(p / WEIGHTS) != card.weights_file_sha256:
        raise StoreError(
            f"corrupt map artifact {where}: {WEIGHTS} does not match the sha256 on its card; "
            "refit it with `facebridge migrate fit`"
        )
    try:
        with np.load(p / WEIGHTS, allow_pickle=False) as z:
            weight, bias = np.asarray(z["weight"]), np.asarray(z["bias"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise StoreError(
            f"corrupt map artifact {where}: {WEIGHTS} unreadable ({exc}); refit it"
        ) from None
    if weight.shape != (card.d_source, card.d_target) or bias.shape != (card.d_target,):
        raise StoreError(
            f"corrupt map artifact {where}: weight {weight.shape} / bias {bias.shape} do not "
            f"fit the card's {card.d_source} -> {card.d_target}; refit it"
        )
    try:
        linear_map = LinearMap(weight, bias)
    except (InvalidInputError, DimensionError) as exc:
        raise StoreError(f"corrupt map artifact {where}: {exc}") from None
    return MapArtifact(linear_map, card)
