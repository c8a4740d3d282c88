"""Alignment: turn an image plus a :class:`Detection` into the crop a model expects.

Methods (``spec.alignment`` of a model names one of them):

* ``"facenet-160"``: Sandberg's ``align_dataset_mtcnn``: the detection box widened by a margin of
  32 px in total (16 px each side) in the original image, clipped to the image, cropped and resized
  to 160x160 (bilinear).
* ``"faceres-224"``: the same with a 24 px margin, resized to 224x224.
* ``"arcface-112"``: a similarity transform (rotation, uniform scale, translation; least squares,
  Umeyama 1991) from the 5 landmarks to the standard ArcFace 112x112 template
  (:data:`ARCFACE_112_TEMPLATE`, insightface's ``arcface_dst``), applied with ``cv2.warpAffine``.
* ``"dlib-chip-150"``: dlib's 5-point shape predictor run inside the detection box, then
  ``dlib.get_face_chip(img, shape, size=150, padding=0.25)``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facebridge.detect._types import Detection
from facebridge.detect._weights import weight_path
from facebridge.detect.base import check_image
from facebridge.detect.image import _cv2
from facebridge.errors import InvalidInputError, MissingDependencyError

#: insightface's ``arcface_dst``: 5 landmarks (image-left eye first) in a 112x112 crop.
ARCFACE_112_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)

#: method -> (output side, margin in px) for the box-crop methods
_BOX_METHODS = {"facenet-160": (160, 32), "faceres-224": (224, 24)}
ALIGN_METHODS = ("facenet-160", "faceres-224", "arcface-112", "dlib-chip-150")


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama) mapping points ``src`` onto ``dst``.

    Args:
        src, dst: ``(k, 2)`` corresponding points, ``k >= 2``.

    Returns:
        float64 ``(2, 3)`` matrix ``M`` with ``dst ~= src @ M[:, :2].T + M[:, 2]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise InvalidInputError(f"expected two (k, 2) point sets, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / src.shape[0]
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rot = u @ np.diag(sign) @ vt
    var_s = (s**2).sum() / src.shape[0]
    scale = (sig * sign).sum() / var_s if var_s > 0 else 1.0
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def margin_box(
    box: np.ndarray, margin: float, image_shape: Sequence[int]
) -> tuple[int, int, int, int]:
    """Sandberg's crop box: ``box`` widened by ``margin/2`` each side, clipped, truncated to int."""
    h, w = int(image_shape[0]), int(image_shape[1])
    x1 = int(max(box[0] - margin / 2, 0))
    y1 = int(max(box[1] - margin / 2, 0))
    x2 = int(min(box[2] + margin / 2, w))
    y2 = int(min(box[3] + margin / 2, h))
    return x1, y1, x2, y2


@functools.cache
def _shape_predictor(path: str):
    try:
        import dlib
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError(
            "dlib face chips need dlib: pip install 'facebridge[dlib]' (dlib-bin)"
        ) from exc
    return dlib.shape_predictor(path)


def dlib_chip(
    image: np.ndarray,
    detection: Detection,
    size: int = 150,
    padding: float = 0.25,
    weights_dir: str | Path | None = None,
) -> np.ndarray:
    """dlib face chip: 5-point shape predictor in the detection box, then ``get_face_chip``."""
    import dlib

    sp = _shape_predictor(str(weight_path("dlib-shape-predictor-5.dat", weights_dir)))
    b = detection.box
    x1, y1, x2, y2 = (int(v) for v in np.rint(b))
    rect = dlib.rectangle(x1, y1, x2, y2)
    shape = sp(image, rect)
    return np.asarray(dlib.get_face_chip(image, shape, size=size, padding=padding), dtype=np.uint8)


def align(
    image: np.ndarray,
    detection: Detection,
    method: str,
    *,
    weights_dir: str | Path | None = None,
) -> np.ndarray:
    """Aligned face crop for ``method`` (see the module docstring).

    Args:
        image: RGB ``uint8`` ``(H, W, 3)``.
        detection: the face (box in pixels of ``image``; landmarks used by ``arcface-112``).
        method: one of :data:`ALIGN_METHODS`.
        weights_dir: folder with ``dlib-shape-predictor-5.dat`` (``dlib-chip-150`` only;
            default: the registry pull).

    Returns:
        RGB ``uint8`` ``(S, S, 3)``: 160, 224, 112 or 150.

    Raises:
        InvalidInputError: an unknown method or a box that lies outside the image.
    """
    check_image(image)
    cv2 = _cv2()
    if method in _BOX_METHODS:
        size, margin = _BOX_METHODS[method]
        x1, y1, x2, y2 = margin_box(detection.box, margin, image.shape)
        if x2 <= x1 or y2 <= y1:
            raise InvalidInputError(
                f"detection box {detection.box.tolist()} lies outside the {image.shape[1]}x"
                f"{image.shape[0]} image; re-run detection"
            )
        crop = image[y1:y2, x1:x2]
        return cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    if method == "arcface-112":
        m = similarity_transform(detection.landmarks, ARCFACE_112_TEMPLATE)
        return cv2.warpAffine(image, m, (112, 112), flags=cv2.INTER_LINEAR, borderValue=0.0)
    if method == "dlib-chip-150":
        return dlib_chip(image, detection, weights_dir=weights_dir)
    raise InvalidInputError(
        f"unknown alignment method {method!r}; choose one of {', '.join(ALIGN_METHODS)}"
    )


def align_batch(
    images: Sequence[np.ndarray],
    detections: Sequence[Detection],
    method: str,
    *,
    weights_dir: str | Path | None = None,
) -> np.ndarray:
    """:func:`align` over pairs of images and detections -> ``uint8`` ``(n, S, S, 3)``."""
    if len(images) != len(detections):
        raise InvalidInputError(
            f"got {len(images)} images but {len(detections)} detections; pass one detection per image"
        )
    crops = [
        align(i, d, method, weights_dir=weights_dir)
        for i, d in zip(images, detections, strict=True)
    ]
    if not crops:
        side = {"facenet-160": 160, "faceres-224": 224, "arcface-112": 112}.get(method, 150)
        return np.zeros((0, side, side, 3), dtype=np.uint8)
    return np.stack(crops)
