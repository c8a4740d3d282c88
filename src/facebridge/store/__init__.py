"""Embedding store: manifest + chunked arrays, atomic writes, resume, refuse to mix models.

See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from facebridge.store._chunks import MISSING, Record, source_signature
from facebridge.store._missing import MISSING_CAUSES, MissingPairs, item_causes, missing_pairs
from facebridge.store._store import (
    DETECTIONS_DIR,
    Detections,
    DetectionWriter,
    Embeddings,
    EmbeddingStore,
    NonUnitVectorsWarning,
    StoreWriter,
    default_store,
    default_store_path,
)
from facebridge.store.interchange import (
    ImportFileError,
    ImportSummary,
    export_embeddings,
    import_embeddings,
    read_embeddings,
)

__all__ = [
    "DETECTIONS_DIR",
    "MISSING",
    "MISSING_CAUSES",
    "DetectionWriter",
    "Detections",
    "EmbeddingStore",
    "Embeddings",
    "ImportFileError",
    "ImportSummary",
    "MissingPairs",
    "NonUnitVectorsWarning",
    "Record",
    "StoreWriter",
    "default_store",
    "default_store_path",
    "export_embeddings",
    "import_embeddings",
    "item_causes",
    "missing_pairs",
    "read_embeddings",
    "source_signature",
]
