"""facebridge: the embedding spaces of face-recognition networks are (almost) linear transforms
of each other.  Extract embeddings, fit maps between spaces, evaluate cross-model verification,
and audit what that means for template privacy.
"""

from __future__ import annotations

__version__ = "0.1.0"

from facebridge.errors import (
    DimensionError,
    FacebridgeError,
    InvalidInputError,
    ProtocolError,
    StoreError,
    UnknownModelError,
    WeightsError,
)

__all__ = [
    "DimensionError",
    "FacebridgeError",
    "InvalidInputError",
    "ProtocolError",
    "StoreError",
    "UnknownModelError",
    "WeightsError",
    "__version__",
]
