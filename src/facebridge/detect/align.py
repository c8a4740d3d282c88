"""Alignment: turn an image plus a :class:`Detection` into the crop a model expects.

Methods (``spec.alignment`` of a model names one of them):

* ``"facenet-160"``: Sandberg's ``align_dataset_mtcnn``: the detection box widened by a margin of
  32 px in total (16 px each side) in the original image, clipped to the image, cropped and resized
  to 160x160 (bilinear).
* ``"faceres-224"``: the same with a 24 px margin, resized to 224x224.
* ``"arcface-112"``: a similarity transform (rotation, uniform scale, translation; least squares,
  Umeyama 1991) from the 5 landmarks to the standard ArcFace 112x112 template
  (:data:`ARCFACE_112_TEMPLATE`, insightface's ``arcface_dst``), applied with ``cv2.warpAffine``.
* ``"dlib-chip-150"``: dlib's 5-point shape predictor run inside the detection box, run again in
  the box re-derived from its points in dlib's HOG-detector box convention (the predictor's
  training convention; :func:`dlib_box_from_points`), then
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
from facebridge.errors import InvalidInputError
from facebridge.optional import require

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


#: Revisions of alignment methods whose crops changed under the same name.  Extraction records
#: ``<detector>:<alignment>@<revision>`` (see :func:`alignment_tag`) as a model's ``detector`` in
#: the store manifest, and the store refuses to add to a model recorded with another value, so a
#: resumed run never mixes crops of two revisions in one model.  ``dlib-chip-150`` revision 2:
#: the 5-point predictor runs a second time in dlib's box convention (:func:`dlib_chip`).
ALIGNMENT_REVISIONS: dict[str, int] = {"dlib-chip-150": 2}


def alignment_tag(method: str) -> str:
    """``method``, or ``method@N`` for revision ``N >= 2`` (:data:`ALIGNMENT_REVISIONS`)."""
    rev = ALIGNMENT_REVISIONS.get(method, 1)
    return method if rev == 1 else f"{method}@{rev}"


#: dlib's 5 points (``shape_predictor_5_face_landmarks``: outer and inner corner of the eye on the
#: image's right, outer and inner corner of the eye on the image's left, base of the nose) in the
#: unit square of the box dlib's HOG face detector returns for that face (median over 1,489 LFW
#: deep-funneled images outside View 2 folds 1-3 whose HOG box contains the MTCNN box's centre;
#: ``benchmarks/dlib_preprocessing.py``).  :func:`dlib_box_from_points` inverts it.
DLIB_HOG_BOX_TEMPLATE = np.array(
    [
        [0.8054, 0.3070],
        [0.6512, 0.3128],
        [0.2605, 0.3163],
        [0.4134, 0.3163],
        [0.5395, 0.6124],
    ],
    dtype=np.float64,
)


def dlib_box_from_points(points: np.ndarray) -> np.ndarray:
    """The square box dlib's HOG face detector would give for a face with these 5 dlib points.

    The least-squares similarity (:func:`similarity_transform`) from
    :data:`DLIB_HOG_BOX_TEMPLATE` to ``points`` maps the template's unit square to the box: its
    centre is the image of ``(0.5, 0.5)``, its side the transform's scale (axis-aligned: the
    detector's boxes never rotate).  On LFW it recovers the HOG box's centre to a median 2% of
    its side and its side to 5% (the detector's own pyramid quantisation is about +-9%).

    Args:
        points: ``(5, 2)`` ``(x, y)`` in dlib's 5-point order (see the template).

    Returns:
        float64 ``(4,)`` ``x1, y1, x2, y2`` (not rounded, may extend past the image).
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (5, 2):
        raise InvalidInputError(f"expected dlib's 5 points as a (5, 2) array, got {pts.shape}")
    m = similarity_transform(DLIB_HOG_BOX_TEMPLATE, pts)
    centre = m[:, :2] @ np.array([0.5, 0.5]) + m[:, 2]
    side = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    return np.concatenate([centre - side / 2, centre + side / 2])


@functools.cache
def _shape_predictor(path: str):
    return require("dlib").shape_predictor(path)


def dlib_chip(
    image: np.ndarray,
    detection: Detection,
    size: int = 150,
    padding: float = 0.25,
    weights_dir: str | Path | None = None,
) -> np.ndarray:
    """dlib face chip: 5-point shape predictor in dlib's box convention, then ``get_face_chip``.

    dlib's 5-point predictor was trained on the boxes of dlib's own face detectors (square, about
    1.14x the width and 0.85x the height of an MTCNN box, centred lower); started from another
    detector's box it lands its points a median 2.5% of the eye distance away.  So the predictor
    runs twice: once in ``detection.box`` (any detector's, or the fallback box), then in the box
    re-derived from those points in the HOG convention (:func:`dlib_box_from_points`), and the
    chip is cut from the second points.  LFW View 2, MTCNN detections, cosine, 10-fold: 98.57%
    -> 98.87% (98.06% -> 98.61% on folds 1-3; ``benchmarks/dlib_preprocessing.py``).
    """
    import dlib

    sp = _shape_predictor(str(weight_path("dlib-shape-predictor-5.dat", weights_dir)))
    shape = sp(image, _dlib_rect(dlib, detection.box))
    pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    box = dlib_box_from_points(pts)
    if np.isfinite(box).all() and box[2] - box[0] >= 1.0:
        shape = sp(image, _dlib_rect(dlib, box))
    return np.asarray(dlib.get_face_chip(image, shape, size=size, padding=padding), dtype=np.uint8)


def _dlib_rect(dlib, box: np.ndarray):
    x1, y1, x2, y2 = (int(v) for v in np.rint(np.asarray(box, dtype=np.float64)))
    return dlib.rectangle(x1, y1, x2, y2)


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
