"""The :class:`Detection` record, the face-choice rule and the no-face fallback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Landmark order used everywhere in facebridge (image coordinates, x then y): the eye on the
#: image's left, the eye on the image's right, the nose tip, the mouth corner on the image's left,
#: the mouth corner on the image's right.  This is MTCNN's order and the ArcFace template's order.
LANDMARK_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True, eq=False)
class Detection:
    """One face in one image.

    Attributes:
        box: float32 ``(4,)`` ``x1, y1, x2, y2`` in pixels of the full image.
        landmarks: float32 ``(5, 2)`` ``(x, y)`` in :data:`LANDMARK_NAMES` order.
        score: detector confidence in ``[0, 1]`` (0 for a fallback).
        fallback: ``True`` when no face was found and :func:`fallback_detection` was used.
    """

    box: np.ndarray
    landmarks: np.ndarray
    score: float
    fallback: bool = False

    def __post_init__(self) -> None:
        box = np.asarray(self.box, dtype=np.float32).reshape(4)
        lm = np.asarray(self.landmarks, dtype=np.float32).reshape(5, 2)
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "landmarks", lm)
        object.__setattr__(self, "score", float(self.score))
        object.__setattr__(self, "fallback", bool(self.fallback))

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    def scaled(self, factor: float) -> Detection:
        """Return the detection with coordinates multiplied by ``factor`` (map back after a resize)."""
        return Detection(self.box * factor, self.landmarks * factor, self.score, self.fallback)


def choose_face(boxes: np.ndarray, image_shape: Sequence[int]) -> int:
    """Index of the face to keep when a detector finds several.

    The rule is the one of Sandberg's ``align_dataset_mtcnn`` (the paper's pipeline): the largest
    box area minus twice the squared distance of the box centre from the image centre, i.e.
    ``argmax(w * h - 2 * ((cx - W/2)^2 + (cy - H/2)^2))``.  On LFW this picks the centred
    subject over larger-but-offset bystanders.

    Args:
        boxes: ``(n, 4)`` ``x1, y1, x2, y2`` with ``n >= 1``.
        image_shape: ``(H, W, ...)``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    h, w = float(image_shape[0]), float(image_shape[1])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 - w / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 - h / 2
    return int(np.argmax(area - 2.0 * (cx * cx + cy * cy)))


# Fallback geometry, measured on LFW deep-funneled (250x250): the median MTCNN box over the
# lfw-tiny fixture images is about 94 x 125 px with its centre at (127, 128); the median
# landmarks are given below in the same frame.  Everything is stored relative to a 250x250 frame and scaled
# to the actual image size.
_FALLBACK_FRAME = 250.0
_FALLBACK_BOX = np.array([80.0, 65.0, 174.0, 190.0], dtype=np.float32)
_FALLBACK_LANDMARKS = np.array(
    [[104.5, 112.8], [146.6, 112.7], [125.0, 138.5], [107.8, 158.2], [144.3, 157.6]],
    dtype=np.float32,
)


def fallback_detection(image_shape: Sequence[int]) -> Detection:
    """The documented no-face fallback: a fixed centre box with canonical landmarks.

    The box (about 94 x 125 px, centred, in a 250x250 frame) and the landmarks are the typical MTCNN
    output on LFW deep-funneled images, scaled anisotropically to ``image_shape`` ``(H, W, ...)``.
    The result has ``score == 0`` and ``fallback == True`` so that reports can count it apart.
    """
    h, w = float(image_shape[0]), float(image_shape[1])
    sx, sy = w / _FALLBACK_FRAME, h / _FALLBACK_FRAME
    scale = np.array([sx, sy, sx, sy], dtype=np.float32)
    return Detection(
        _FALLBACK_BOX * scale,
        _FALLBACK_LANDMARKS * np.array([sx, sy], dtype=np.float32),
        0.0,
        fallback=True,
    )
