"""The detector interface shared by :class:`~facebridge.detect.MTCNN` and :class:`~facebridge.detect.YuNet`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facebridge.detect._types import Detection, choose_face
from facebridge.detect.image import MAX_DETECT_SIDE, detection_view
from facebridge.errors import InvalidInputError, NoFaceError


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate an RGB ``uint8`` ``(H, W, 3)`` image (raises :class:`InvalidInputError`)."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise InvalidInputError(
            f"expected an RGB image of shape (H, W, 3), got {shape}; read it with facebridge.detect.read_image"
        )
    if image.dtype != np.uint8:
        raise InvalidInputError(
            f"expected a uint8 image, got {image.dtype}; read it with facebridge.detect.read_image"
        )
    if min(image.shape[:2]) < 1:
        raise InvalidInputError(f"expected a non-empty image, got shape {image.shape}")
    return image


class FaceDetector:
    """Base class: subclasses implement :meth:`_detect_views` on images no larger than ``max_side``.

    ``detect_all(image) -> list[Detection]`` (best first by :func:`choose_face`),
    ``detect(image) -> Detection`` (raises :class:`NoFaceError`), and the batched
    ``detect_batch(images) -> list[list[Detection]]``.
    """

    name: str = "detector"

    def __init__(self, max_side: int = MAX_DETECT_SIDE) -> None:
        self.max_side = int(max_side)

    # subclasses -----------------------------------------------------------------------------
    def _detect_views(self, views: Sequence[np.ndarray]) -> list[list[Detection]]:
        raise NotImplementedError

    # public ---------------------------------------------------------------------------------
    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """All faces of each image, the chosen one first (see :func:`choose_face`).

        Args:
            images: RGB ``uint8`` ``(H, W, 3)`` arrays (sizes may differ; huge ones are downscaled
                for detection and the coordinates mapped back).
        """
        views, scales = [], []
        for img in images:
            v, s = detection_view(check_image(img), self.max_side)
            views.append(v)
            scales.append(s)
        found = self._detect_views(views)
        out: list[list[Detection]] = []
        for img, dets, s in zip(images, found, scales, strict=True):
            if s != 1.0:
                dets = [d.scaled(s) for d in dets]
            if len(dets) > 1:
                best = choose_face(np.stack([d.box for d in dets]), img.shape)
                dets = [dets[best]] + [d for i, d in enumerate(dets) if i != best]
            out.append(dets)
        return out

    def detect_all(self, image: np.ndarray) -> list[Detection]:
        """All faces in ``image``, the chosen one first; ``[]`` when there is none."""
        return self.detect_batch([image])[0]

    def detect(self, image: np.ndarray) -> Detection:
        """The chosen face (largest and most central, see :func:`choose_face`).

        Raises:
            NoFaceError: no face was found (the extraction run then uses
                :func:`~facebridge.detect.fallback_detection` and records the reason).
        """
        dets = self.detect_all(image)
        if not dets:
            h, w = image.shape[:2]
            raise NoFaceError(
                f"{self.name} found no face in a {w}x{h} image; check the image or try another detector"
            )
        return dets[0]
