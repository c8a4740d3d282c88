"""dlib-resnet on LFW: which face-chip preprocessing variant reaches which verification accuracy.

Run by hand (not a test; one dlib process, ~13 faces/s on one core):

    FACEBRIDGE_DATA=../shared/data OMP_NUM_THREADS=1 \\
        python benchmarks/dlib_preprocessing.py [--folds 1,2,3] [--variants base,map,...] \\
        [--cache DIR]   (default: <FACEBRIDGE_CACHE>/bench-dlib-preprocessing)

Every variant starts from the MTCNN detections of the shipped store (no re-detection) and differs
only in the box handed to dlib's 5-point shape predictor and in the chip padding:

* ``base``: the rounded MTCNN box (what the shipped store used; its cosine accuracy must equal the
  store's on the same pairs).
* ``map``: the MTCNN box mapped to dlib's HOG-detector box convention (the predictor's training
  convention): square, side ``0.98 sqrt(w h)``, centre shifted by ``(-0.031 w, +0.049 h)``
  (:data:`MTCNN_TO_HOG`).
* ``refine``: ``base`` box -> 5 points -> box re-derived from dlib's chip rectangle of those points
  in the HOG convention (:data:`CHIP_TO_HOG`) -> points again.
* ``map_refine``: ``map`` then that refinement.
* ``lib``: ``facebridge.detect.align.dlib_chip`` as shipped (``base`` box -> points -> box from the
  points by :func:`~facebridge.detect.align.dlib_box_from_points` -> points again).
* ``hog``: dlib's own HOG box where HOG finds a face near the MTCNN one, else ``map``.
* ``map_pad20`` / ``map_pad30``: ``map`` with chip padding 0.20 / 0.30 instead of 0.25.
* ``base_bgr``: ``base`` with the channels swapped (checks that the colour order matters at all).

The constants were fitted on HOG detections (upsample 1, the box nearest the MTCNN centre) of
1,500 sampled images outside folds 1-3; ``--fit`` refits and prints them (with the 5-point template
of ``dlib_box_from_points``) without changing what the variants use.  Accuracy: the project's :func:`~facebridge.metrics.verification.kfold_accuracy`
(threshold on the other folds) over the chosen folds only, cosine of L2-normalised descriptors;
raw Euclidean distance is printed beside it for reference.  Descriptors are cached per variant
under ``--cache``, so an interrupted run resumes.

Measured (folds 1-3: 1,800 pairs, 2,320 images; cosine / raw Euclidean, %):
base 98.06 / 98.67, lib 98.61 / 98.72, map 98.56 / 98.72, map_refine 98.67 / 98.61,
refine 98.67 / 98.67, hog 98.67 / 98.67 (HOG box on 2,303 of 2,320), map_pad20 98.72 / 98.50,
map_pad30 98.61 / 99.06.  One pair is 0.056 points here: the box-convention variants agree
within noise; padding is not a real effect.  ``lib`` on all 6,000 pairs, through
``facebridge.extract.embed_detected`` into a scratch store: 98.87 (shipped store: 98.57).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

VARIANTS = (
    "base",
    "lib",
    "map",
    "refine",
    "map_refine",
    "hog",
    "map_pad20",
    "map_pad30",
    "base_bgr",
)


#: MTCNN box -> HOG box: side factor on sqrt(w h), centre shift in units of (w, h)
MTCNN_TO_HOG = {"k": 0.98, "dx": -0.031, "dy": 0.049}
#: dlib chip rectangle (padding 0) of 5 points -> HOG box: centre shift and side in chip sides
CHIP_TO_HOG = {"cdx": -0.0605, "cdy": -0.0279, "cs": 1.3556}


def _setup(folds: list[int] | None):
    from facebridge.config import data_dir
    from facebridge.protocols import default_lfw_pairs
    from facebridge.store import default_store

    proto = default_lfw_pairs()
    f = proto.fold_array()
    keep = np.ones(len(f), bool) if folds is None else np.isin(f, [k - 1 for k in folds])
    left = [i for i, k in zip(proto.left_ids(), keep, strict=True) if k]
    right = [i for i, k in zip(proto.right_ids(), keep, strict=True) if k]
    items = sorted(set(left) | set(right))
    others = sorted(set(proto.items()) - set(items))
    dets = default_store().load_detections("mtcnn")
    return (
        data_dir() / "lfw" / "lfw-deepfunneled",
        proto.genuine_array()[keep],
        f[keep],
        left,
        right,
        items,
        others,
        dets,
    )


def _dlib_models():
    import dlib

    from facebridge.detect._weights import weight_path

    sp = dlib.shape_predictor(str(weight_path("dlib-shape-predictor-5.dat")))
    net = dlib.face_recognition_model_v1(str(weight_path("dlib-resnet.dat")))
    return dlib, sp, net


def _hog_box(dlib, hog, img, box):
    """dlib's HOG box (upsample 1) nearest the MTCNN box centre, if it overlaps it; else None."""
    found = hog(img, 1)
    if not len(found):
        return None
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    r = min(
        found,
        key=lambda r: (
            ((r.left() + r.right()) / 2 - cx) ** 2 + ((r.top() + r.bottom()) / 2 - cy) ** 2
        ),
    )
    if not (r.left() < cx < r.right() and r.top() < cy < r.bottom()):
        return None
    return np.array([r.left(), r.top(), r.right(), r.bottom()], np.float64)


def _rect(dlib, b):
    x1, y1, x2, y2 = (int(v) for v in np.rint(b))
    return dlib.rectangle(x1, y1, x2, y2)


def _chip_box(dlib, shape):
    """Centre and side of dlib's 0-padding face-chip rectangle of a 5-point shape."""
    cd = dlib.get_face_chip_details(shape, 150, 0.0)
    r = cd.rect
    return (r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2, r.width()


def fit(root, ids, dets, n: int = 1500, seed: int = 0) -> dict[str, float]:
    """Refit MTCNN_TO_HOG, CHIP_TO_HOG and the 5-point HOG-box template on ``n`` images of ``ids``."""
    from facebridge.detect import read_image

    dlib, sp, _ = _dlib_models()
    hog = dlib.get_frontal_face_detector()
    idx = dets.index()
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(ids), min(n, len(ids)), replace=False)
    M, H, C, T = [], [], [], []
    for k in pick:
        item = ids[k]
        row = idx[item]
        if dets.fallback[row]:
            continue
        img = read_image(root / item)
        b = dets.boxes[row].astype(np.float64)
        h = _hog_box(dlib, hog, img, b)
        if h is None:
            continue
        shape = sp(img, _rect(dlib, h))
        pts = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
        M.append(b)
        H.append(h)
        C.append(_chip_box(dlib, shape))
        T.append((pts - h[:2]) / ((h[2] - h[0] + h[3] - h[1]) / 2))
    M, H, C, T = map(np.array, (M, H, C, T))
    mw, mh = M[:, 2] - M[:, 0], M[:, 3] - M[:, 1]
    hcx, hcy = (H[:, 0] + H[:, 2]) / 2, (H[:, 1] + H[:, 3]) / 2
    side = (H[:, 2] - H[:, 0] + H[:, 3] - H[:, 1]) / 2
    m = {
        "k": np.median(side / np.sqrt(mw * mh)),
        "dx": np.median((hcx - (M[:, 0] + M[:, 2]) / 2) / mw),
        "dy": np.median((hcy - (M[:, 1] + M[:, 3]) / 2) / mh),
        "cdx": np.median((hcx - C[:, 0]) / C[:, 2]),
        "cdy": np.median((hcy - C[:, 1]) / C[:, 2]),
        "cs": np.median(side / C[:, 2]),
    }
    print(f"refit on {len(M)} HOG-detected images: {_fmt(m)}")
    print(f"5-point template in the HOG box: {np.round(np.median(T, 0), 4).tolist()}")
    return m


def _fmt(m):
    return ", ".join(f"{k}={float(v):.4f}" for k, v in m.items())


def _map_box(b, m=MTCNN_TO_HOG):
    b = np.asarray(b, np.float64)
    w, h = b[2] - b[0], b[3] - b[1]
    cx = (b[0] + b[2]) / 2 + m["dx"] * w
    cy = (b[1] + b[3]) / 2 + m["dy"] * h
    s = m["k"] * np.sqrt(w * h)
    return np.array([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2])


def _refine_box(dlib, shape, m=CHIP_TO_HOG):
    cx, cy, s = _chip_box(dlib, shape)
    cx, cy, side = cx + m["cdx"] * s, cy + m["cdy"] * s, m["cs"] * s
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def chips_for(variant, root, items, dets):
    """uint8 (n, 150, 150, 3) chips of ``items`` under ``variant``."""
    from facebridge.detect import Detection, read_image
    from facebridge.detect.align import dlib_chip

    dlib, sp, _ = _dlib_models()
    hog = dlib.get_frontal_face_detector() if variant == "hog" else None
    idx = dets.index()
    pad = {"map_pad20": 0.20, "map_pad30": 0.30}.get(variant, 0.25)
    out = np.empty((len(items), 150, 150, 3), np.uint8)
    n_hog = 0
    for k, item in enumerate(items):
        img = read_image(root / item)
        b = dets.boxes[idx[item]].astype(np.float64)
        if variant == "lib":
            row = idx[item]
            det = Detection(dets.boxes[row], dets.landmarks[row], dets.scores[row])
            out[k] = dlib_chip(img, det)
            continue
        if variant in ("base", "refine", "base_bgr"):
            box = b
        else:
            box = _map_box(b)
        if variant == "hog":
            h = _hog_box(dlib, hog, img, b)
            if h is not None:
                box, n_hog = h, n_hog + 1
        shape = sp(img, _rect(dlib, box))
        if variant in ("refine", "map_refine"):
            shape = sp(img, _rect(dlib, _refine_box(dlib, shape)))
        if variant == "base_bgr":
            img = np.ascontiguousarray(img[:, :, ::-1])
        out[k] = np.asarray(dlib.get_face_chip(img, shape, size=150, padding=pad))
    if variant == "hog":
        print(f"  hog: dlib HOG box used for {n_hog}/{len(items)} images")
    return out


def embed(chips, batch=32, progress=True):
    _, _, net = _dlib_models()
    out = np.empty((len(chips), 128), np.float32)
    t0 = time.perf_counter()
    for s in range(0, len(chips), batch):
        c = [np.ascontiguousarray(x) for x in chips[s : s + batch]]
        out[s : s + len(c)] = np.array([list(d) for d in net.compute_face_descriptor(c)])
        if progress and (s // batch) % 10 == 0:
            done = s + len(c)
            print(
                f"  {done}/{len(chips)} {done / (time.perf_counter() - t0):.1f} faces/s", flush=True
            )
    return out


def evaluate(vec, items, left, right, genuine, folds):
    from facebridge.metrics.verification import kfold_accuracy

    ix = {i: k for k, i in enumerate(items)}
    A, B = vec[[ix[i] for i in left]], vec[[ix[i] for i in right]]
    fl = np.unique(folds, return_inverse=True)[1]
    an = A / np.linalg.norm(A, axis=1, keepdims=True)
    bn = B / np.linalg.norm(B, axis=1, keepdims=True)
    cos = kfold_accuracy((an * bn).sum(1), genuine, fl)
    euc = kfold_accuracy(-np.linalg.norm(A - B, axis=1), genuine, fl)
    return cos, euc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", default="1,2,3", help="1-based LFW folds, or 'all'")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument(
        "--cache",
        default=None,
        help="per-variant descriptor cache (default: <FACEBRIDGE_CACHE>/bench-dlib-preprocessing)",
    )
    ap.add_argument("--fit", action="store_true", help="refit and print the box constants")
    ap.add_argument("--fit-n", type=int, default=1500)
    a = ap.parse_args()
    folds = None if a.folds == "all" else [int(x) for x in a.folds.split(",")]
    root, genuine, fold_ids, left, right, items, others, dets = _setup(folds)
    print(f"{len(genuine)} pairs, {len(items)} images, folds {a.folds}")
    if a.cache is None:
        from facebridge.config import cache_dir

        cache = cache_dir() / "bench-dlib-preprocessing"
    else:
        cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    if a.fit:
        fit(root, others if others else items, dets, a.fit_n)
    tag = "all" if folds is None else "f" + "".join(map(str, folds))
    rows = []
    for v in a.variants.split(","):
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
        f = cache / f"{v}_{tag}.npy"
        if f.exists():
            vec = np.load(f)
        else:
            t0 = time.perf_counter()
            print(f"variant {v}: chips", flush=True)
            chips = chips_for(v, root, items, dets)
            t1 = time.perf_counter()
            vec = embed(chips)
            np.save(f, vec)
            print(f"  chips {t1 - t0:.0f} s, embed {time.perf_counter() - t1:.0f} s")
        cos, euc = evaluate(vec, items, left, right, genuine, fold_ids)
        rows.append((v, cos, euc))
        print(f"{v:<12} cosine {100 * cos.mean:6.2f}  euclid {100 * euc.mean:6.2f}", flush=True)
    print(f"\nvariant       cosine  (per fold)                     raw-euclid   [{a.folds}]")
    for v, cos, euc in rows:
        pf = " ".join(f"{100 * x:5.2f}" for x in cos.per_fold[:10])
        print(f"{v:<12} {100 * cos.mean:6.2f}  ({pf})  {100 * euc.mean:6.2f}")


if __name__ == "__main__":
    main()
