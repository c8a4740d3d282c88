"""dlib-run embedder (dlib-resnet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facebridge.models.embedders import Embedder, require
from facebridge.models.registry import ModelSpec


class DlibEmbedder(Embedder):
    """dlib-resnet: ``face_recognition_model_v1.compute_face_descriptor`` on 150x150 RGB chips
    (made by :func:`facebridge.detect.align.dlib_chip`: ``dlib.get_face_chip(img, shape,
    size=150, padding=0.25)`` with the 5 points predicted in dlib's box convention), no jitter."""

    def __init__(self, spec: ModelSpec, model: Any, batch_size: int | None) -> None:
        super().__init__(spec, batch_size)
        self._model = model

    @classmethod
    def build(
        cls, spec: ModelSpec, paths: dict[str, Path], threads: int, batch_size: int | None
    ) -> DlibEmbedder:
        dlib = require("dlib", "dlib")
        return cls(
            spec, dlib.face_recognition_model_v1(str(paths[spec.weight_files[0]])), batch_size
        )

    def _forward(self, faces: np.ndarray) -> np.ndarray:
        chips = [np.ascontiguousarray(f) for f in faces]
        return np.array([list(d) for d in self._model.compute_face_descriptor(chips)], np.float32)
