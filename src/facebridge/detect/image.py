"""Reading images robustly: ``read_image(path) -> RGB uint8 (H, W, 3)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facebridge.errors import ImageError, MissingDependencyError

#: Images whose longer side exceeds this are downscaled before detection (see :func:`detection_view`).
MAX_DETECT_SIDE = 1600


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError(
            "opencv is not installed: pip install 'facebridge[extract]' (opencv-python-headless)"
        ) from exc
    return cv2


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB ``uint8`` of shape ``(H, W, 3)``.

    Grayscale becomes 3 identical channels, an alpha channel is dropped, 16-bit (and other
    high-bit-depth) images are rescaled to 8 bits, and a JPEG's EXIF orientation is applied
    (OpenCV's ``IMREAD_COLOR`` does this).

    Raises:
        ImageError: the file is missing, empty, not an image, or corrupt (the message names the path).
    """
    cv2 = _cv2()
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read image {p}: {exc.strerror or exc}; check the path") from exc
    if not data:
        raise ImageError(f"cannot read image {p}: the file is empty (0 bytes); re-copy it")
    buf = np.frombuffer(data, dtype=np.uint8)
    if data[:3] == b"\xff\xd8\xff":
        # libjpeg decodes a truncated file into a grey-filled image: refuse it instead
        if data.rfind(b"\xff\xd9") == -1:
            raise ImageError(
                f"cannot read image {p}: truncated JPEG (no end-of-image marker); re-copy it"
            )
        # JPEG: 8-bit gray or colour, never alpha; IMREAD_COLOR applies the EXIF orientation
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    else:
        # PNG / TIFF / ...: keep 16-bit samples and alpha as stored, handled below
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageError(
            f"cannot read image {p}: not a decodable image (corrupt or unsupported format); "
            "re-copy or convert it"
        )
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3, 4))):
        raise ImageError(f"cannot read image {p}: unsupported shape {img.shape}; convert it to RGB")
    img = _to_uint8(img, p)
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    if img.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(img, 3, axis=2))
    if img.shape[2] == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img[:, :, ::-1])  # BGR -> RGB


def _to_uint8(img: np.ndarray, path: Path) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if np.issubdtype(img.dtype, np.floating):
        f = np.nan_to_num(img.astype(np.float64))
        hi = 1.0 if f.max() <= 1.0 else 255.0
        return np.clip(f / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        f = (img.astype(np.float64) - info.min) / (info.max - info.min)
        return np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)
    raise ImageError(f"cannot read image {path}: unsupported sample type {img.dtype}; convert it")


def detection_view(image: np.ndarray, max_side: int = MAX_DETECT_SIDE) -> tuple[np.ndarray, float]:
    """Downscale a huge image for detection.

    Returns ``(view, scale)`` where coordinates found on ``view`` are multiplied by ``scale`` to map
    them back to ``image`` (``scale == 1`` and ``view is image`` when no resize is needed).
    """
    h, w = image.shape[:2]
    side = max(h, w)
    if side <= max_side:
        return image, 1.0
    cv2 = _cv2()
    f = max_side / side
    nw, nh = max(1, round(w * f)), max(1, round(h * f))
    view = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return view, side / max_side
