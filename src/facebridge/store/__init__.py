"""Embedding store: manifest + chunked arrays, atomic writes, resume, refuse to mix models.

See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from facebridge.store._store import (
    DETECTIONS_DIR,
    Detections,
    DetectionWriter,
    Embeddings,
    EmbeddingStore,
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
    "DetectionWriter",
    "Detections",
    "EmbeddingStore",
    "Embeddings",
    "ImportFileError",
    "ImportSummary",
    "StoreWriter",
    "default_store",
    "default_store_path",
    "export_embeddings",
    "import_embeddings",
    "read_embeddings",
]
