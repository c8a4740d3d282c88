"""Tests for facebridge.detect: image reading, NMS, face choice, alignment, MTCNN and YuNet."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facebridge.detect import (
    ALIGN_METHODS,
    ARCFACE_112_TEMPLATE,
    Detection,
    align,
    align_batch,
    choose_face,
    detection_view,
    fallback_detection,
    get_detector,
    nms,
    read_image,
)
from facebridge.detect.align import (
    DLIB_HOG_BOX_TEMPLATE,
    dlib_box_from_points,
    margin_box,
    similarity_transform,
)
from facebridge.errors import ImageError, InvalidInputError, NoFaceError, WeightsError


def _weights_present(*names: str) -> bool:
    from facebridge.models.weights import find_weights

    return all(find_weights(n) is not None for n in names)


MTCNN_FILES = ("mtcnn-pnet.pt", "mtcnn-rnet.pt", "mtcnn-onet.pt")
needs_mtcnn = pytest.mark.skipif(
    not _weights_present(*MTCNN_FILES), reason="MTCNN weights absent: facebridge models pull"
)
needs_yunet = pytest.mark.skipif(
    not _weights_present("yunet.onnx"), reason="YuNet weights absent: facebridge models pull"
)
needs_dlib_sp = pytest.mark.skipif(
    not _weights_present("dlib-shape-predictor-5.dat"),
    reason="dlib shape predictor absent: facebridge models pull",
)


# ------------------------------------------------------------------------------ read_image


def _write(path: Path, img: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), img)
    return path


def test_read_image_colour_is_rgb(tmp_path: Path) -> None:
    bgr = np.zeros((10, 12, 3), np.uint8)
    bgr[..., 2] = 200  # red in BGR
    img = read_image(_write(tmp_path / "a.png", bgr))
    assert img.shape == (10, 12, 3)
    assert img.dtype == np.uint8
    assert (img[..., 0] == 200).all()
    assert (img[..., 2] == 0).all()


def test_read_image_grayscale_rgba_16bit(tmp_path: Path) -> None:
    g = read_image(_write(tmp_path / "g.png", np.full((8, 9), 77, np.uint8)))
    assert g.shape == (8, 9, 3)
    assert (g == 77).all()
    rgba = np.zeros((8, 9, 4), np.uint8)
    rgba[..., 0] = 10  # B
    rgba[..., 3] = 0  # fully transparent alpha is dropped, not applied
    a = read_image(_write(tmp_path / "a.png", rgba))
    assert a.shape == (8, 9, 3)
    assert (a[..., 2] == 10).all()
    deep = np.full((8, 9, 3), 65535, np.uint16)
    d = read_image(_write(tmp_path / "d.png", deep))
    assert d.dtype == np.uint8
    assert (d == 255).all()


def test_read_image_errors_name_the_path(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.jpg.*0 bytes"):
        read_image(empty)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ImageError, match=r"junk\.jpg.*not a decodable image"):
        read_image(junk)
    with pytest.raises(ImageError, match=r"missing\.jpg"):
        read_image(tmp_path / "missing.jpg")


def test_read_image_truncated_jpeg(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", noise)
    assert ok
    p = tmp_path / "trunc.jpg"
    for cut in (20, len(buf) // 2):
        p.write_bytes(buf.tobytes()[:cut])
        with pytest.raises(ImageError, match=r"trunc\.jpg"):
            read_image(p)


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert an EXIF APP1 segment holding only the orientation tag after the SOI marker."""
    ifd = (
        b"MM\x00*\x00\x00\x00\x08"  # big-endian TIFF header, IFD at offset 8
        + b"\x00\x01"  # one entry
        + b"\x01\x12\x00\x03\x00\x00\x00\x01"  # tag 0x0112 Orientation, SHORT, count 1
        + orientation.to_bytes(2, "big")
        + b"\x00\x00"
        + b"\x00\x00\x00\x00"  # no next IFD
    )
    body = b"Exif\x00\x00" + ifd
    app1 = b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body
    return jpeg[:2] + app1 + jpeg[2:]


def test_read_image_applies_exif_orientation(tmp_path: Path) -> None:
    img = np.zeros((40, 80, 3), np.uint8)  # wide image, bright left half
    img[:, :40] = 255
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    p = tmp_path / "rot.jpg"
    p.write_bytes(_with_exif_orientation(buf.tobytes(), 6))  # 6: rotate 90 degrees clockwise
    out = read_image(p)
    assert out.shape == (80, 40, 3)  # now tall
    assert out[:35].mean() > 200  # the bright half is on top
    assert out[45:].mean() < 50


def test_detection_view_downscales_huge_images() -> None:
    img = np.zeros((3000, 2000, 3), np.uint8)
    view, scale = detection_view(img, max_side=1000)
    assert max(view.shape[:2]) == 1000
    assert scale == pytest.approx(3.0)
    small = np.zeros((100, 80, 3), np.uint8)
    v2, s2 = detection_view(small, max_side=1000)
    assert v2 is small
    assert s2 == 1.0


# ------------------------------------------------------------------------------ geometry


def test_nms_union_and_min() -> None:
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [20, 20, 29, 29], [2, 2, 5, 5]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    keep = nms(boxes, scores, 0.5, "union")
    assert keep.tolist() == [3, 0, 2]  # box 1 overlaps box 0 with IoU 0.67
    keep_min = nms(boxes, scores, 0.5, "min")
    assert keep_min.tolist() == [3, 2]  # box 3 lies inside 0 and 1: min-overlap 1
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)
    with pytest.raises(InvalidInputError, match="union"):
        nms(boxes, scores, 0.5, "iou")


def test_choose_face_prefers_large_and_central() -> None:
    shape = (250, 250, 3)
    central = [100, 100, 150, 150]
    big_corner = [0, 0, 70, 70]
    assert choose_face(np.array([big_corner, central]), shape) == 1
    bigger_central = [80, 80, 170, 170]
    assert choose_face(np.array([central, bigger_central]), shape) == 1


def test_fallback_detection_scales_with_the_image() -> None:
    d = fallback_detection((250, 250, 3))
    assert d.fallback
    assert d.score == 0.0
    cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
    assert abs(cx - 125) < 10
    assert abs(cy - 125) < 10
    d2 = fallback_detection((500, 1000, 3))
    np.testing.assert_allclose(d2.box, d.box * [4, 2, 4, 2], rtol=1e-6)
    np.testing.assert_allclose(d2.landmarks, d.landmarks * [4, 2], rtol=1e-6)


def test_similarity_transform_recovers_a_planted_one(rng: np.random.Generator) -> None:
    src = rng.uniform(0, 100, (5, 2))
    th, s, t = 0.3, 1.7, np.array([5.0, -3.0])
    r = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    dst = s * src @ r.T + t
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], s * r, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)
    with pytest.raises(InvalidInputError, match="point sets"):
        similarity_transform(src, dst[:3])


def test_dlib_box_from_points_inverts_the_hog_box_template(rng: np.random.Generator) -> None:
    # the template placed in a box [x, y, x + s, y + s] gives that box back
    for x, y, s in [(0.0, 0.0, 1.0), (37.0, -12.5, 108.0), (400.0, 310.0, 62.0)]:
        pts = DLIB_HOG_BOX_TEMPLATE * s + [x, y]
        np.testing.assert_allclose(dlib_box_from_points(pts), [x, y, x + s, y + s], atol=1e-9)
    # a rotated face keeps an axis-aligned square box of the same centre and side
    th = 0.4
    r = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    pts = (DLIB_HOG_BOX_TEMPLATE - 0.5) @ r.T * 90 + [120, 130]
    np.testing.assert_allclose(dlib_box_from_points(pts), [75, 85, 165, 175], atol=1e-9)
    # a few pixels of landmark noise move the box by about as much, not more
    pts = DLIB_HOG_BOX_TEMPLATE * 100 + [50, 60]
    box = dlib_box_from_points(pts + rng.normal(0, 1.0, pts.shape))
    assert np.abs(box - [50, 60, 150, 160]).max() < 4
    with pytest.raises(InvalidInputError, match="5 points"):
        dlib_box_from_points(np.zeros((68, 2)))


def test_dlib_hog_box_template_is_a_face_in_dlib_point_order() -> None:
    t = DLIB_HOG_BOX_TEMPLATE
    assert t.shape == (5, 2)
    assert ((t > 0) & (t < 1)).all()
    # points 0-1: eye on the image's right (outer, inner); 2-3: eye on the left; 4: nose, below
    assert t[0, 0] > t[1, 0] > t[3, 0] > t[2, 0]
    assert t[4, 1] > t[:4, 1].max()
    assert abs(t[4, 0] - 0.5) < 0.1


def test_margin_box_clips_like_sandberg() -> None:
    assert margin_box(np.array([10.7, 20.2, 100.9, 120.5]), 32, (250, 250)) == (0, 4, 116, 136)
    assert margin_box(np.array([200, 200, 249, 249]), 32, (250, 250)) == (184, 184, 250, 250)


def test_align_shapes_and_arcface_landmarks_land_on_the_template() -> None:
    img = np.random.default_rng(1).integers(0, 255, (250, 250, 3), dtype=np.uint8)
    det = fallback_detection(img.shape)
    assert align(img, det, "facenet-160").shape == (160, 160, 3)
    assert align(img, det, "faceres-224").shape == (224, 224, 3)
    out = align(img, det, "arcface-112")
    assert out.shape == (112, 112, 3)
    assert out.dtype == np.uint8
    # a synthetic image with a bright dot on each landmark: the warp puts the dots on the template
    dots = np.zeros((250, 250, 3), np.uint8)
    for x, y in det.landmarks:
        cv2.circle(dots, (round(float(x)), round(float(y))), 4, (255, 255, 255), -1)
    warped = align(dots, det, "arcface-112")[..., 0]
    for tx, ty in ARCFACE_112_TEMPLATE:
        assert warped[round(ty), round(tx)] > 100
    batch = align_batch([img, img], [det, det], "facenet-160")
    assert batch.shape == (2, 160, 160, 3)
    with pytest.raises(InvalidInputError, match="unknown alignment method"):
        align(img, det, "arcface-96")
    with pytest.raises(InvalidInputError, match="outside"):
        align(img, Detection([400, 400, 500, 500], det.landmarks, 1.0), "facenet-160")
    with pytest.raises(InvalidInputError, match="one detection per image"):
        align_batch([img], [det, det], "facenet-160")
    with pytest.raises(InvalidInputError, match=r"\(H, W, 3\)"):
        align(img[..., 0], det, "facenet-160")


def test_unknown_detector() -> None:
    with pytest.raises(InvalidInputError, match="mtcnn, yunet"):
        get_detector("retinaface")


def test_bad_weights_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mtcnn-pnet.pt").write_bytes(b"not a state dict")
    with pytest.raises(WeightsError):
        get_detector("mtcnn", weights_dir=tmp_path)


# ------------------------------------------------------------------------------ real detectors


@pytest.fixture(scope="module")
def fixture_images(tiny_lfw_dir: Path) -> list[tuple[str, np.ndarray]]:
    paths = sorted((tiny_lfw_dir / "images").rglob("*.jpg"))
    assert len(paths) == 33
    return [(p.relative_to(tiny_lfw_dir).as_posix(), read_image(p)) for p in paths]


@pytest.fixture(scope="module")
def mtcnn():
    return get_detector("mtcnn")


@pytest.mark.realdata
@pytest.mark.weights
@needs_mtcnn
@needs_yunet
def test_mtcnn_finds_every_fixture_face_and_agrees_with_yunet(fixture_images, mtcnn) -> None:
    yunet = get_detector("yunet")
    images = [img for _, img in fixture_images]
    found = mtcnn.detect_batch(images)
    single = [mtcnn.detect_all(img) for img in images[:5]]
    errors = []
    for (name, _img), dets, yd in zip(
        fixture_images, found, yunet.detect_batch(images), strict=True
    ):
        assert dets, f"MTCNN found no face in {name}"
        assert yd, f"YuNet found no face in {name}"
        d = dets[0]
        assert d.score > 0.9
        assert not d.fallback
        # the chosen face is the centred subject of the deep-funneled frame
        cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
        assert abs(cx - 125) < 30
        assert abs(cy - 125) < 30
        assert 60 < d.width < 180
        le, re, nose = d.landmarks[0], d.landmarks[1], d.landmarks[2]
        assert le[0] < nose[0] < re[0]
        assert d.landmarks[2, 1] > le[1]
        errors.append(np.abs(d.landmarks[:2] - yd[0].landmarks[:2]).max() / d.width)
    # batched and one-by-one detection agree
    for a, b in zip(found[:5], single, strict=True):
        np.testing.assert_allclose(a[0].box, b[0].box, atol=1e-3)
    assert np.median(errors) < 0.05, f"eyes disagree with YuNet: median {np.median(errors):.3f}"
    assert np.max(errors) < 0.12


@pytest.mark.realdata
@pytest.mark.weights
@needs_mtcnn
def test_mtcnn_no_face_in_flat_grey(mtcnn) -> None:
    grey = np.full((250, 250, 3), 128, np.uint8)
    assert mtcnn.detect_all(grey) == []
    with pytest.raises(NoFaceError, match="no face"):
        mtcnn.detect(grey)


@pytest.mark.realdata
@pytest.mark.weights
@needs_mtcnn
def test_mtcnn_device(fixture_images, mtcnn) -> None:
    """An unknown device is refused; CUDA finds the CPU's faces where a GPU exists, and is
    refused with the GPU count where none does."""
    import torch

    with pytest.raises(InvalidInputError, match="device must be 'cpu', 'cuda'"):
        get_detector("mtcnn", device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="torch sees 0 CUDA GPU"):
            get_detector("mtcnn", device="cuda")
        return
    images = [img for _, img in fixture_images]
    on_cpu = mtcnn.detect_batch(images)
    on_gpu = get_detector("mtcnn", device="cuda").detect_batch(images)
    for a, b in zip(on_cpu, on_gpu, strict=True):
        np.testing.assert_allclose(a[0].box, b[0].box, atol=0.5)
        np.testing.assert_allclose(a[0].landmarks, b[0].landmarks, atol=0.5)


@pytest.mark.realdata
@pytest.mark.weights
@needs_mtcnn
def test_mtcnn_on_a_huge_image_maps_back(fixture_images, mtcnn) -> None:
    img = fixture_images[0][1]
    big = cv2.resize(img, (2500, 2500), interpolation=cv2.INTER_CUBIC)
    d_small = mtcnn.detect(img)
    d_big = mtcnn.detect(big)
    np.testing.assert_allclose(d_big.box / 10, d_small.box, atol=4)
    np.testing.assert_allclose(d_big.landmarks / 10, d_small.landmarks, atol=4)


@pytest.mark.realdata
@pytest.mark.weights
@needs_mtcnn
@needs_dlib_sp
def test_dlib_box_from_points_matches_dlibs_hog_detector(fixture_images, mtcnn) -> None:
    """The box re-derived from the 5 points lies where dlib's own HOG detector puts its box."""
    dlib = pytest.importorskip("dlib")
    from facebridge.detect._weights import weight_path

    sp = dlib.shape_predictor(str(weight_path("dlib-shape-predictor-5.dat")))
    hog = dlib.get_frontal_face_detector()
    ious = []
    for _, img in fixture_images[::3]:
        found = hog(img, 1)
        if not len(found):
            continue
        r = max(found, key=lambda r: r.area())
        h = np.array([r.left(), r.top(), r.right(), r.bottom()], dtype=np.float64)
        x1, y1, x2, y2 = (int(v) for v in np.rint(mtcnn.detect(img).box))
        shape = sp(img, dlib.rectangle(x1, y1, x2, y2))
        b = dlib_box_from_points(np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64))
        iw = max(0.0, min(b[2], h[2]) - max(b[0], h[0]))
        ih = max(0.0, min(b[3], h[3]) - max(b[1], h[1]))
        inter = iw * ih
        ious.append(inter / ((b[2] - b[0]) * (b[3] - b[1]) + (h[2] - h[0]) * (h[3] - h[1]) - inter))
    assert len(ious) >= 8
    assert np.median(ious) > 0.8


@pytest.mark.realdata
@pytest.mark.weights
@needs_mtcnn
@needs_dlib_sp
def test_all_alignments_on_a_real_face(fixture_images, mtcnn) -> None:
    img = fixture_images[0][1]
    d = mtcnn.detect(img)
    sizes = {m: align(img, d, m).shape for m in ALIGN_METHODS}
    assert sizes == {
        "facenet-160": (160, 160, 3),
        "faceres-224": (224, 224, 3),
        "arcface-112": (112, 112, 3),
        "dlib-chip-150": (150, 150, 3),
    }


def test_alignment_tag_records_revisions() -> None:
    """A changed alignment gets a new tag, so a store refuses to mix crops of two revisions."""
    from facebridge.detect.align import ALIGN_METHODS, ALIGNMENT_REVISIONS, alignment_tag

    assert alignment_tag("dlib-chip-150") == "dlib-chip-150@2"
    assert alignment_tag("arcface-112") == "arcface-112"
    assert set(ALIGNMENT_REVISIONS) <= set(ALIGN_METHODS)


def test_store_refuses_an_older_alignment_revision(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from facebridge.errors import StoreError
    from facebridge.store import EmbeddingStore

    store = EmbeddingStore.create(tmp_path / "s")
    with store.writer(
        "dlib-resnet", dim=2, weights_sha256="0" * 64, detector="mtcnn:dlib-chip-150"
    ) as w:
        w.add(["a/a_0001.jpg"], np.ones((1, 2), np.float32))
    with pytest.raises(StoreError, match="dlib-chip-150@2"):
        store.writer(
            "dlib-resnet", dim=2, weights_sha256="0" * 64, detector="mtcnn:dlib-chip-150@2"
        )
