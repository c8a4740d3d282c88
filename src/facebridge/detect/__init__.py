"""Face detection (MTCNN, YuNet), 5-point landmarks, alignment and robust image reading.

See docs/ARCHITECTURE.md (section ``facebridge.detect``).  torch, OpenCV and dlib are imported
only when a detector or an alignment method is used.
"""

from __future__ import annotations

from facebridge.detect._types import LANDMARK_NAMES, Detection, choose_face, fallback_detection
from facebridge.detect.align import ALIGN_METHODS, ARCFACE_112_TEMPLATE, align, align_batch
from facebridge.detect.base import FaceDetector
from facebridge.detect.image import MAX_DETECT_SIDE, detection_view, read_image
from facebridge.detect.mtcnn import MTCNN, nms
from facebridge.detect.yunet import YuNet

DETECTORS = ("mtcnn", "yunet")


def get_detector(name: str, **kwargs) -> FaceDetector:
    """Build a detector by name (``"mtcnn"`` or ``"yunet"``); ``kwargs`` go to its constructor."""
    from facebridge.errors import InvalidInputError

    if name == "mtcnn":
        return MTCNN(**kwargs)
    if name == "yunet":
        return YuNet(**kwargs)
    raise InvalidInputError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")


__all__ = [
    "ALIGN_METHODS",
    "ARCFACE_112_TEMPLATE",
    "DETECTORS",
    "LANDMARK_NAMES",
    "MAX_DETECT_SIDE",
    "MTCNN",
    "Detection",
    "FaceDetector",
    "YuNet",
    "align",
    "align_batch",
    "choose_face",
    "detection_view",
    "fallback_detection",
    "get_detector",
    "nms",
    "read_image",
]
