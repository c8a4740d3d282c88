"""Reading images robustly: ``read_image(path) -> RGB uint8 (H, W, 3)``."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from facebridge.errors import ImageError
from facebridge.optional import require

#: Images whose longer side exceeds this are downscaled before detection (see :func:`detection_view`).
MAX_DETECT_SIDE = 1600

#: Images whose header declares more pixels than this are refused before decoding (40 megapixels:
#: a 20000 x 20000 PNG of a few hundred kilobytes would otherwise take gigabytes to decode).
MAX_PIXELS = 40_000_000


def _cv2():
    return require("cv2")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > n:
                return None
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` declared by an image file's header, without decoding its pixels.

    Reads PNG, JPEG, BMP, GIF and WebP headers directly; other formats through Pillow when it is
    installed.  ``None`` when the size cannot be told.

    Examples
    --------
    >>> import struct, zlib
    >>> ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    >>> png = bytes.fromhex("89504e470d0a1a0a") + struct.pack(">I", 13) + b"IHDR" + ihdr
    >>> image_size(png)
    (20000, 20000)
    """
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:3] == b"\xff\xd8\xff":
            return _jpeg_size(data)
        if data[:2] == b"BM" and len(data) >= 26:
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            kind = data[12:16]
            if kind == b"VP8X":
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return w, h
            if kind == b"VP8L":
                b = int.from_bytes(data[21:25], "little")
                return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
            if kind == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
    except struct.error:
        return None
    try:
        import io
        import warnings

        from PIL import Image
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                with Image.open(io.BytesIO(data)) as im:  # reads the header only
                    return tuple(im.size)  # type: ignore[return-value]
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except Exception:
        return None


def read_image(path: str | Path, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Read an image file as RGB ``uint8`` of shape ``(H, W, 3)``.

    Grayscale becomes 3 identical channels, an alpha channel is dropped, 16-bit (and other
    high-bit-depth) images are rescaled to 8 bits, and a JPEG's EXIF orientation is applied
    (OpenCV's ``IMREAD_COLOR`` does this).

    Args:
        path: the image file.
        max_pixels: refuse an image whose header (read before decoding, see :func:`image_size`)
            declares more pixels than this; ``None`` for no limit.  Default :data:`MAX_PIXELS`.

    Raises:
        ImageError: the file is missing, empty, not an image, corrupt, or larger than
            ``max_pixels`` (the message names the path).
    """
    cv2 = _cv2()
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read image {p}: {exc.strerror or exc}; check the path") from exc
    if not data:
        raise ImageError(f"cannot read image {p}: the file is empty (0 bytes); re-copy it")
    if max_pixels is not None:
        size = image_size(data)
        if size is not None and size[0] * size[1] > max_pixels:
            w, h = size
            raise ImageError(
                f"refusing image {p}: {w}x{h} = {w * h / 1e6:.1f} megapixels exceeds the limit of "
                f"{max_pixels / 1e6:g} megapixels (decoding would take about "
                f"{w * h * 3 / 2**30:.1f} GiB); downscale it, or raise the limit with --max-pixels"
            )
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
    if max_pixels is not None and img is not None and img.shape[0] * img.shape[1] > max_pixels:
        h, w = img.shape[:2]
        raise ImageError(
            f"refusing image {p}: {w}x{h} exceeds the limit of {max_pixels / 1e6:g} megapixels; "
            "downscale it, or raise the limit with --max-pixels"
        )
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
