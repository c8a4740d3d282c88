"""MTCNN (Zhang et al. 2016) face detector with 5 landmarks, implemented here in torch.

The three cascaded networks (P-Net, R-Net, O-Net) use the original weights of Sandberg's
``facenet`` as re-saved by ``facenet-pytorch`` (plain state dicts; loaded with
``torch.load(weights_only=True)`` after their sha256 is verified).  The staging follows the
original ``detect_face``: an image pyramid (smallest face ``min_face_size`` px, factor 0.709),
P-Net proposals with NMS per scale (0.5) and across scales (0.7), bounding-box regression and
squaring, zero-padded crops resized to 24x24 for R-Net (threshold 0.7, NMS 0.7) and 48x48 for
O-Net (threshold 0.7, landmarks, NMS 0.7 with the "Min" overlap).  R-Net and O-Net run batched
over all candidates of all images of a batch.  NMS is written here (numpy), no torchvision.

Coordinates follow the original code: a box ``x1, y1, x2, y2`` covers pixels ``x1-1 .. x2-1``
(0-based, inclusive); align functions use it as a plain ``x1, y1, x2, y2`` box, as Sandberg's
``align_dataset_mtcnn`` does.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facebridge.detect._types import Detection
from facebridge.detect._weights import weight_path
from facebridge.detect.base import FaceDetector
from facebridge.detect.image import MAX_DETECT_SIDE
from facebridge.errors import InvalidInputError, WeightsError
from facebridge.optional import require, torch_device

WEIGHT_FILES = ("mtcnn-pnet.pt", "mtcnn-rnet.pt", "mtcnn-onet.pt")


def _torch():
    return require("torch")


@functools.cache
def _net_classes() -> tuple[Any, Any, Any]:
    """Define the three networks (inside a function so that torch is imported lazily)."""
    torch = _torch()
    nn = torch.nn

    class PNet(nn.Module):  # type: ignore[name-defined]
        """Fully convolutional proposal net: (N,3,H,W) -> reg (N,4,h,w), prob (N,2,h,w)."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 10, 3)
            self.prelu1 = nn.PReLU(10)
            self.conv2 = nn.Conv2d(10, 16, 3)
            self.prelu2 = nn.PReLU(16)
            self.conv3 = nn.Conv2d(16, 32, 3)
            self.prelu3 = nn.PReLU(32)
            self.conv4_1 = nn.Conv2d(32, 2, 1)
            self.conv4_2 = nn.Conv2d(32, 4, 1)

        def forward(self, x):
            x = self.prelu1(self.conv1(x))
            x = nn.functional.max_pool2d(x, 2, 2, ceil_mode=True)
            x = self.prelu2(self.conv2(x))
            x = self.prelu3(self.conv3(x))
            return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)

    class RNet(nn.Module):  # type: ignore[name-defined]
        """Refinement net: (N,3,24,24) -> reg (N,4), prob (N,2)."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 28, 3)
            self.prelu1 = nn.PReLU(28)
            self.conv2 = nn.Conv2d(28, 48, 3)
            self.prelu2 = nn.PReLU(48)
            self.conv3 = nn.Conv2d(48, 64, 2)
            self.prelu3 = nn.PReLU(64)
            self.dense4 = nn.Linear(576, 128)
            self.prelu4 = nn.PReLU(128)
            self.dense5_1 = nn.Linear(128, 2)
            self.dense5_2 = nn.Linear(128, 4)

        def forward(self, x):
            mp = nn.functional.max_pool2d
            x = mp(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
            x = mp(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
            x = self.prelu3(self.conv3(x))
            # the dense weights were trained on a (W, H, C) flattening (Caffe/TF heritage)
            x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
            x = self.prelu4(self.dense4(x))
            return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)

    class ONet(nn.Module):  # type: ignore[name-defined]
        """Output net: (N,3,48,48) -> reg (N,4), landmarks (N,10) [x1..x5, y1..y5], prob (N,2)."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 32, 3)
            self.prelu1 = nn.PReLU(32)
            self.conv2 = nn.Conv2d(32, 64, 3)
            self.prelu2 = nn.PReLU(64)
            self.conv3 = nn.Conv2d(64, 64, 3)
            self.prelu3 = nn.PReLU(64)
            self.conv4 = nn.Conv2d(64, 128, 2)
            self.prelu4 = nn.PReLU(128)
            self.dense5 = nn.Linear(1152, 256)
            self.prelu5 = nn.PReLU(256)
            self.dense6_1 = nn.Linear(256, 2)
            self.dense6_2 = nn.Linear(256, 4)
            self.dense6_3 = nn.Linear(256, 10)

        def forward(self, x):
            mp = nn.functional.max_pool2d
            x = mp(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
            x = mp(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
            x = mp(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
            x = self.prelu4(self.conv4(x))
            x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
            x = self.prelu5(self.dense5(x))
            return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)

    return PNet, RNet, ONet


# ---------------------------------------------------------------------------------------------
# numpy helpers (boxes are float64 (n, >=4) arrays x1, y1, x2, y2[, score, ...])


def nms(
    boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union"
) -> np.ndarray:
    """Greedy non-maximum suppression.

    Args:
        boxes: ``(n, 4)`` ``x1, y1, x2, y2`` (inclusive pixel boxes: area uses ``+1``).
        scores: ``(n,)``.
        threshold: boxes overlapping a kept one by more than this are dropped.
        method: ``"union"`` (IoU) or ``"min"`` (intersection over the smaller area).

    Returns:
        int64 ``(k,)`` indices of the kept boxes, highest score first.
    """
    if method not in ("union", "min"):
        raise InvalidInputError(f"nms method must be 'union' or 'min', got {method!r}")
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(np.asarray(scores), kind="stable")[::-1]
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        if method == "min":
            overlap = inter / np.minimum(area[i], area[rest])
        else:
            overlap = inter / (area[i] + area[rest] - inter)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Make boxes square around their centre (side = the longer side)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply bounding-box regression offsets ``reg`` ``(n, 4)`` (relative to width/height + 1)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] = boxes[:, 0] + reg[:, 0] * w
    out[:, 1] = boxes[:, 1] + reg[:, 1] * h
    out[:, 2] = boxes[:, 2] + reg[:, 2] * w
    out[:, 3] = boxes[:, 3] + reg[:, 3] * h
    return out


def _crop_patches(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Zero-padded crops of integer boxes, resized to ``size`` (area interpolation).

    Returns float32 ``(n, size, size, 3)``.
    """
    import cv2

    h, w = image.shape[:2]
    out = np.empty((boxes.shape[0], size, size, 3), dtype=np.float32)
    for k, (bx1, by1, bx2, by2) in enumerate(boxes[:, :4].astype(np.int64)):
        # the box covers 0-based pixels bx1-1 .. bx2-1 inclusive
        x0, y0, x1, y1 = bx1 - 1, by1 - 1, bx2, by2
        bw, bh = max(1, x1 - x0), max(1, y1 - y0)
        patch = np.zeros((bh, bw, 3), dtype=np.uint8)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


class MTCNN(FaceDetector):
    """MTCNN detector: boxes, scores and 5 landmarks.

    Args:
        min_face_size: smallest face searched for, in pixels (20 as in the paper's pipeline).
        thresholds: P-Net, R-Net, O-Net face-probability thresholds.
        factor: image-pyramid scale step.
        weights_dir: a folder holding ``mtcnn-{pnet,rnet,onet}.pt``; by default the files come
            from :func:`facebridge.models.weights.ensure_weights` (the registry pull).
        num_threads: ``torch.set_num_threads`` value applied when the detector is built
            (``None`` leaves torch's setting alone).
        max_side: images with a longer side are downscaled for detection.
        batch_size: candidates per R-Net / O-Net forward pass.
        device: torch device the three networks run on: ``"cpu"`` (default), ``"cuda"`` or
            ``"cuda:N"``; images and candidates are moved there per batch and the outputs back.

    Example:
        >>> det = MTCNN()                                     # doctest: +SKIP
        >>> d = det.detect(read_image("face.jpg"))            # doctest: +SKIP
        >>> d.box.shape, d.landmarks.shape                    # doctest: +SKIP
        ((4,), (5, 2))
    """

    name = "mtcnn"

    def __init__(
        self,
        min_face_size: float = 20.0,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        weights_dir: str | Path | None = None,
        num_threads: int | None = None,
        max_side: int = MAX_DETECT_SIDE,
        batch_size: int = 256,
        device: str = "cpu",
    ) -> None:
        super().__init__(max_side=max_side)
        if min_face_size < 12:
            raise InvalidInputError(f"min_face_size must be >= 12 px, got {min_face_size}")
        if not 0 < factor < 1:
            raise InvalidInputError(f"factor must be in (0, 1), got {factor}")
        if len(thresholds) != 3:
            raise InvalidInputError(f"thresholds must be 3 numbers, got {thresholds!r}")
        self.min_face_size = float(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.factor = float(factor)
        self.batch_size = int(batch_size)
        torch = _torch()
        self.device = torch_device(device, "MTCNN")
        if num_threads is not None:
            torch.set_num_threads(int(num_threads))
        classes = _net_classes()
        nets = []
        for cls, fname in zip(classes, WEIGHT_FILES, strict=True):
            path = weight_path(fname, weights_dir)
            net = cls()
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                net.load_state_dict(state)
            except Exception as exc:  # wrong keys/shapes or unreadable file
                raise WeightsError(
                    f"cannot load MTCNN weights {path}: {exc}; delete the file and pull again"
                ) from exc
            net.eval()
            net.to(self.device, memory_format=torch.channels_last)
            for p in net.parameters():
                p.requires_grad_(False)
            nets.append(net)
        self.pnet, self.rnet, self.onet = nets

    # ------------------------------------------------------------------------------------------
    def _scales(self, h: int, w: int) -> list[float]:
        m = 12.0 / self.min_face_size
        minl = min(h, w) * m
        scales = []
        s = m
        while minl >= 12:
            scales.append(s)
            s *= self.factor
            minl *= self.factor
        return scales

    def _run(self, net, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        """Run R-Net/O-Net on float32 NHWC patches in chunks; returns numpy outputs."""
        torch = _torch()
        outs: list[list[np.ndarray]] = []
        for i in range(0, batch.shape[0], self.batch_size):
            # NHWC numpy viewed as NCHW is channels-last already; keeping that memory format makes
            # max-pooling several times faster on CPU than a plain NCHW copy
            x = torch.from_numpy(batch[i : i + self.batch_size]).permute(0, 3, 1, 2)
            x = ((x.to(self.device) - 127.5) * 0.0078125).contiguous(
                memory_format=torch.channels_last
            )
            with torch.inference_mode():
                res = net(x)
            outs.append([r.cpu().numpy() for r in res])
        return tuple(np.concatenate(parts, axis=0) for parts in zip(*outs, strict=True))

    def _stage1(self, stack: np.ndarray) -> list[np.ndarray]:
        """P-Net over the pyramid of equal-size images ``stack`` (N,H,W,3) -> per-image boxes."""
        import cv2

        torch = _torch()
        n, h, w = stack.shape[:3]
        per_image: list[list[np.ndarray]] = [[] for _ in range(n)]
        t1 = self.thresholds[0]
        for scale in self._scales(h, w):
            hs, ws = int(np.ceil(h * scale)), int(np.ceil(w * scale))
            # area interpolation as in the original (cv2.INTER_AREA), NHWC -> channels-last NCHW
            scaled = np.stack(
                [cv2.resize(im, (ws, hs), interpolation=cv2.INTER_AREA) for im in stack]
            ).astype(np.float32)
            x = torch.from_numpy((scaled - 127.5) * 0.0078125).permute(0, 3, 1, 2)
            x = x.to(self.device).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                reg, prob = self.pnet(x)
            reg_np, prob_np = reg.cpu().numpy(), prob[:, 1].cpu().numpy()
            for i in range(n):
                ys, xs = np.nonzero(prob_np[i] >= t1)
                if ys.size == 0:
                    continue
                score = prob_np[i, ys, xs]
                r = reg_np[i][:, ys, xs].T  # (k, 4)
                q1x = np.fix((2 * xs + 1) / scale)
                q1y = np.fix((2 * ys + 1) / scale)
                q2x = np.fix((2 * xs + 12) / scale)
                q2y = np.fix((2 * ys + 12) / scale)
                b = np.column_stack([q1x, q1y, q2x, q2y, score, r])
                keep = nms(b[:, :4], b[:, 4], 0.5, "union")
                per_image[i].append(b[keep])
        out = []
        for parts in per_image:
            if not parts:
                out.append(np.zeros((0, 5)))
                continue
            b = np.concatenate(parts, axis=0)
            b = b[nms(b[:, :4], b[:, 4], 0.7, "union")]
            bw = b[:, 2] - b[:, 0]
            bh = b[:, 3] - b[:, 1]
            reg = b[:, 5:9]
            boxes = np.column_stack(
                [
                    b[:, 0] + reg[:, 0] * bw,
                    b[:, 1] + reg[:, 1] * bh,
                    b[:, 2] + reg[:, 2] * bw,
                    b[:, 3] + reg[:, 3] * bh,
                    b[:, 4],
                ]
            )
            boxes = _square(boxes)
            boxes[:, :4] = np.fix(boxes[:, :4])
            out.append(boxes)
        return out

    def _refine(
        self, views: Sequence[np.ndarray], boxes: list[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """R-Net then O-Net over all candidates of all images (batched)."""
        # R-Net
        counts = [b.shape[0] for b in boxes]
        if sum(counts):
            patches = np.concatenate(
                [_crop_patches(v, b, 24) for v, b in zip(views, boxes, strict=True) if b.shape[0]]
            )
            reg, prob = self._run(self.rnet, patches)
            start = 0
            new = []
            for b, c in zip(boxes, counts, strict=True):
                s, r = prob[start : start + c, 1], reg[start : start + c]
                start += c
                ok = s > self.thresholds[1]
                b2 = np.column_stack([b[ok, :4], s[ok]])
                r2 = r[ok]
                keep = nms(b2[:, :4], b2[:, 4], 0.7, "union")
                b2 = _square(np.column_stack([_regress(b2[keep], r2[keep])[:, :4], b2[keep, 4]]))
                b2[:, :4] = np.fix(b2[:, :4])
                new.append(b2)
            boxes = new
        # O-Net
        counts = [b.shape[0] for b in boxes]
        points: list[np.ndarray] = [np.zeros((0, 5, 2)) for _ in boxes]
        if not sum(counts):
            return boxes, points
        patches = np.concatenate(
            [_crop_patches(v, b, 48) for v, b in zip(views, boxes, strict=True) if b.shape[0]]
        )
        reg, lm, prob = self._run(self.onet, patches)
        start = 0
        out_b, out_p = [], []
        for b, c in zip(boxes, counts, strict=True):
            s, r, p = prob[start : start + c, 1], reg[start : start + c], lm[start : start + c]
            start += c
            ok = s > self.thresholds[2]
            b2, r2, p2 = b[ok, :4], r[ok], p[ok]
            bw = (b2[:, 2] - b2[:, 0] + 1)[:, None]
            bh = (b2[:, 3] - b2[:, 1] + 1)[:, None]
            px = bw * p2[:, :5] + b2[:, 0:1] - 1
            py = bh * p2[:, 5:] + b2[:, 1:2] - 1
            pts = np.stack([px, py], axis=2)  # (k, 5, 2)
            b3 = np.column_stack([_regress(b2, r2)[:, :4], s[ok]])
            keep = nms(b3[:, :4], b3[:, 4], 0.7, "min")
            out_b.append(b3[keep])
            out_p.append(pts[keep])
        return out_b, out_p

    def _detect_views(self, views: Sequence[np.ndarray]) -> list[list[Detection]]:
        # Stage 1 batches images of equal size together (LFW: all 250x250).
        stage1: list[np.ndarray | None] = [None] * len(views)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, v in enumerate(views):
            groups.setdefault(tuple(v.shape), []).append(i)
        for idx in groups.values():
            res = self._stage1(np.stack([views[i] for i in idx]))
            for i, b in zip(idx, res, strict=True):
                stage1[i] = b
        boxes, points = self._refine(views, [b for b in stage1 if b is not None])
        return [
            [Detection(b[k, :4], p[k], b[k, 4]) for k in range(b.shape[0])]
            for b, p in zip(boxes, points, strict=True)
        ]
