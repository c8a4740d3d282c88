"""The application layer: each command's work, from the store to the written report.

``cli`` parses options and calls one function here; the functions here open the store, resolve
the protocol and the models, run the experiments, and hand typed results to ``report`` to
render.  See docs/ARCHITECTURE.md ("Layers").
"""

from __future__ import annotations

from facebridge.app.analysis import Evaluation, analyse, blas_threads, evaluate
from facebridge.app.context import context_from_store, model_info
from facebridge.app.inputs import (
    PROTOCOL_CHOICES,
    default_models,
    load_protocol,
    open_store,
    resolve_models,
    shipped_models,
)
from facebridge.app.progress import LineProgress, TqdmProgress

__all__ = [
    "PROTOCOL_CHOICES",
    "Evaluation",
    "LineProgress",
    "TqdmProgress",
    "analyse",
    "blas_threads",
    "context_from_store",
    "default_models",
    "evaluate",
    "load_protocol",
    "model_info",
    "open_store",
    "resolve_models",
    "shipped_models",
]
