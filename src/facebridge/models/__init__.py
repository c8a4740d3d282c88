"""Face-recognition models: the registry of specs, weights pull + sha256, embedders, cards.

A model is one :class:`ModelSpec` (:mod:`facebridge.models.registry`): preprocessing, weight
files with their carrier and sha256, and the runtime that runs it.  Importing this package
imports no heavy runtime; :func:`get_embedder` loads the one a model needs.  User models come
from model cards (:mod:`facebridge.models.cards`) and plugins (entry-point group
``facebridge.models``).  See docs/ARCHITECTURE.md (``facebridge.models``).
"""

from __future__ import annotations

# the user's model cards and the plugins' models join the registry on the first lookup
from facebridge.models import cards as _cards  # noqa: F401  (registers its loader)
from facebridge.models._base import OPTIONAL_DEPENDENCIES, Embedder, l2_normalise, require
from facebridge.models.embedders import get_embedder
from facebridge.models.registry import (
    ALIGNMENTS,
    DEFAULT_MODELS,
    MODEL_SPECS,
    RUNTIMES,
    ModelSpec,
    Runtime,
    get_spec,
    list_specs,
    register,
)
from facebridge.models.weights import (
    WEIGHT_FILES,
    Carrier,
    WeightFile,
    ensure_weights,
    pull,
    verify,
)

__all__ = [
    "ALIGNMENTS",
    "DEFAULT_MODELS",
    "MODEL_SPECS",
    "OPTIONAL_DEPENDENCIES",
    "RUNTIMES",
    "WEIGHT_FILES",
    "Carrier",
    "Embedder",
    "ModelSpec",
    "Runtime",
    "WeightFile",
    "ensure_weights",
    "get_embedder",
    "get_spec",
    "l2_normalise",
    "list_specs",
    "pull",
    "register",
    "require",
    "verify",
]
