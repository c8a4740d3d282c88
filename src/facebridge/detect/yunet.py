"""YuNet (OpenCV zoo, 2023mar) via ``cv2.FaceDetectorYN``: a light detector needing no torch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facebridge.detect._types import Detection
from facebridge.detect._weights import weight_path
from facebridge.detect.base import FaceDetector
from facebridge.detect.image import MAX_DETECT_SIDE, _cv2
from facebridge.errors import InvalidInputError, WeightsError


class YuNet(FaceDetector):
    """YuNet detector (box, score and the same 5 landmarks as MTCNN, same order).

    Args:
        score_threshold: minimum face confidence.
        nms_threshold: IoU threshold of YuNet's NMS.
        weights_dir: a folder holding ``yunet.onnx``; by default
            :func:`facebridge.models.weights.ensure_weights` provides it.
        max_side: images with a longer side are downscaled for detection.
    """

    name = "yunet"

    def __init__(
        self,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
        weights_dir: str | Path | None = None,
        max_side: int = MAX_DETECT_SIDE,
    ) -> None:
        super().__init__(max_side=max_side)
        if not 0 <= score_threshold <= 1:
            raise InvalidInputError(f"score_threshold must be in [0, 1], got {score_threshold}")
        cv2 = _cv2()
        path = weight_path("yunet.onnx", weights_dir)
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(path), "", (320, 320), float(score_threshold), float(nms_threshold), 5000
            )
        except cv2.error as exc:
            raise WeightsError(f"cannot load YuNet from {path}: {exc}; pull it again") from exc
        self._size: tuple[int, int] | None = None

    def _detect_views(self, views: Sequence[np.ndarray]) -> list[list[Detection]]:
        cv2 = _cv2()
        out = []
        for v in views:
            h, w = v.shape[:2]
            if self._size != (w, h):
                self._net.setInputSize((w, h))
                self._size = (w, h)
            bgr = np.ascontiguousarray(v[:, :, ::-1])
            _, faces = self._net.detect(bgr)
            dets = []
            if faces is not None:
                for f in np.asarray(faces, dtype=np.float64):
                    x, y, bw, bh = f[:4]
                    # YuNet: right eye (subject's, image-left), left eye, nose, right & left mouth
                    # corners: i.e. image-left first, the same order as MTCNN.
                    lm = f[4:14].reshape(5, 2)
                    dets.append(Detection(np.array([x, y, x + bw, y + bh]), lm, float(f[14])))
            out.append(dets)
        del cv2
        return out
