"""Face-recognition models: registry of specs, weights pull + sha256, embedders.

See docs/ARCHITECTURE.md (``facebridge.models``).  Importing this package imports no heavy
runtime; :func:`get_embedder` loads the one a model needs.
"""

from __future__ import annotations

from facebridge.models.embedders import Embedder, get_embedder, l2_normalise
from facebridge.models.registry import (
    ALIGNMENTS,
    DEFAULT_MODELS,
    MODEL_SPECS,
    ModelSpec,
    get_spec,
    list_specs,
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
    "WEIGHT_FILES",
    "Carrier",
    "Embedder",
    "ModelSpec",
    "WeightFile",
    "ensure_weights",
    "get_embedder",
    "get_spec",
    "l2_normalise",
    "list_specs",
    "pull",
    "verify",
]
