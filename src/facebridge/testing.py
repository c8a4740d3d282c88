"""Synthetic data and fakes for tests, examples and benchmarks (no weights, no images needed).

* :func:`make_synthetic_protocol` builds an LFW-like pair protocol with identity-disjoint folds.
* :func:`make_synthetic_embeddings` plants embeddings whose model spaces are linear transforms of
  one shared identity latent (plus noise), so linear maps between them work -- except for models
  listed in ``unrelated``, which no linear map reaches.
* :func:`make_synthetic_store` writes those embeddings through the real
  :class:`facebridge.store.EmbeddingStore` API.
* :class:`FakeEmbedder` gives a deterministic embedding of image pixels, for pipeline tests.
* :func:`make_image_tree` writes small synthetic face-like images for the items of a protocol.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facebridge.errors import DimensionError, InvalidInputError
from facebridge.protocols import Pair, PairProtocol

if TYPE_CHECKING:
    from facebridge.experiments.core import PairData
    from facebridge.store import EmbeddingStore

__all__ = [
    "DEFAULT_DIMS",
    "FakeEmbedder",
    "FakeSpec",
    "identity_of_items",
    "make_image_tree",
    "make_synthetic_embeddings",
    "make_synthetic_pair_data",
    "make_synthetic_protocol",
    "make_synthetic_store",
    "synthetic_weights_sha256",
]

DEFAULT_DIMS: dict[str, int] = {"alpha": 64, "beta": 32, "gamma": 48}


def _stable_int(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


# ------------------------------------------------------------------------------------ protocol


def make_synthetic_protocol(
    n_folds: int = 10,
    n_genuine: int = 30,
    n_impostor: int = 30,
    images_per_identity: int = 4,
    identities_per_fold: int = 20,
    seed: int = 0,
    name: str = "synthetic",
) -> PairProtocol:
    """An LFW-like protocol: identity-disjoint folds, genuine pairs first in each fold.

    Item ids look like LFW's: ``Person_0007/Person_0007_0003.jpg`` (identity ``Person_0007``).

    Parameters
    ----------
    n_folds : int
    n_genuine, n_impostor : int
        Pairs per fold.
    images_per_identity : int
        Images available per identity (>= 2).
    identities_per_fold : int
        Distinct identities drawn per fold (>= 2).
    seed : int

    Returns
    -------
    PairProtocol
        ``n_folds * (n_genuine + n_impostor)`` pairs.
    """
    if min(n_folds, identities_per_fold - 1, images_per_identity - 1) < 1:
        raise InvalidInputError(
            f"need n_folds >= 1, identities_per_fold >= 2 and images_per_identity >= 2, got "
            f"{n_folds}, {identities_per_fold}, {images_per_identity}; raise them"
        )
    if n_genuine < 0 or n_impostor < 0 or n_genuine + n_impostor == 0:
        raise InvalidInputError(
            f"need n_genuine, n_impostor >= 0 and at least one pair, got {n_genuine}, {n_impostor}"
        )
    rng = np.random.default_rng(seed)
    pairs: list[Pair] = []
    for fold in range(n_folds):
        people = [
            f"Person_{fold * identities_per_fold + i:04d}" for i in range(identities_per_fold)
        ]
        for _ in range(n_genuine):
            who = people[int(rng.integers(identities_per_fold))]
            a, b = rng.choice(images_per_identity, size=2, replace=False) + 1
            pairs.append(Pair(f"{who}/{who}_{a:04d}.jpg", f"{who}/{who}_{b:04d}.jpg", True, fold))
        for _ in range(n_impostor):
            i, j = rng.choice(identities_per_fold, size=2, replace=False)
            a, b = rng.integers(images_per_identity, size=2) + 1
            p, q = people[int(i)], people[int(j)]
            pairs.append(Pair(f"{p}/{p}_{a:04d}.jpg", f"{q}/{q}_{b:04d}.jpg", False, fold))
    return PairProtocol(name, tuple(pairs), n_folds)


def identity_of_items(protocol: PairProtocol) -> dict[str, str]:
    """Identity label of every item of ``protocol``.

    Items under the same directory (``Name/...``, LFW and YTF ids) share an identity, and so do
    both items of every genuine pair (union-find); an item with no directory and no genuine
    partner is its own identity. Labels are the smallest item id (or directory) of each group.

    Returns
    -------
    dict
        item id -> identity label.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra

    for item in protocol.items():
        head = item.split("/", 1)[0] if "/" in item else None
        find(item)
        if head is not None:
            union("\0" + head, item)
    for p in protocol.pairs:
        if p.genuine:
            union(p.left, p.right)
    out: dict[str, str] = {}
    for item in protocol.items():
        root = find(item)
        out[item] = root[1:] if root.startswith("\0") else root
    return out


# ------------------------------------------------------------------------------------ embeddings


def _check_settings(
    dims: Mapping[str, int],
    latent_dim: int,
    within_noise: float,
    model_noise: float,
    unrelated: Iterable[str],
) -> tuple[dict[str, int], set[str]]:
    if not dims:
        raise InvalidInputError("dims is empty; give at least one model, e.g. {'alpha': 64}")
    out: dict[str, int] = {}
    for m, d in dims.items():
        if (
            not isinstance(m, str)
            or not m
            or isinstance(d, bool)
            or not isinstance(d, int | np.integer)
            or d < 1
        ):
            raise InvalidInputError(
                f"dims must map model names to positive integer dimensions, got {m!r}: {d!r}"
            )
        out[m] = int(d)
    if (
        isinstance(latent_dim, bool)
        or not isinstance(latent_dim, int | np.integer)
        or latent_dim < 1
    ):
        raise InvalidInputError(f"latent_dim must be a positive integer, got {latent_dim!r}")
    for label, v in (("within_noise", within_noise), ("model_noise", model_noise)):
        if not math.isfinite(float(v)) or float(v) < 0:
            raise InvalidInputError(f"{label} must be a finite number >= 0, got {v!r}")
    unrel = set(unrelated)
    extra = sorted(unrel - set(out))
    if extra:
        raise InvalidInputError(
            f"unrelated names models not in dims: {extra}; pick from {sorted(out)}"
        )
    return out, unrel


def make_synthetic_embeddings(
    protocol: PairProtocol,
    dims: Mapping[str, int] | None = None,
    latent_dim: int = 24,
    within_noise: float = 0.35,
    model_noise: float = 0.05,
    unrelated: Iterable[str] = (),
    seed: int = 0,
) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Planted embeddings for every item of ``protocol``, one space per model.

    Generative model (all draws seeded by ``seed``):

    * identity latent ``z_id ~ N(0, I_latent_dim)`` for every identity (see
      :func:`identity_of_items`);
    * image latent ``x_img = z_id + within_noise * N(0, I)`` -- one per image, shared by every
      related model (the same image has the same latent everywhere);
    * model ``m``: ``e_m = normalise(x_img @ A_m + model_noise * N(0, I_{d_m}))`` with
      ``A_m ~ N(0, 1/latent_dim)`` of shape ``(latent_dim, d_m)``.

    So related spaces are (up to the noise and the normalisation) linear images of one another,
    and native verification is good but not perfect (defaults on LFW View 2: ~99.9% best-threshold
    accuracy; ``within_noise=0.7`` gives ~96%, ``1.0`` ~87%). A model in ``unrelated`` draws its
    own independent identity and image latents: no linear map from another model reaches it,
    so cross-model accuracy with it stays at chance, while its native accuracy is as good.
    Adding or removing a model does not change the others (per-model seeds derive from the name).

    Parameters
    ----------
    protocol : PairProtocol
    dims : dict, optional
        Model name -> embedding dimension; default ``{"alpha": 64, "beta": 32, "gamma": 48}``.
    latent_dim : int
    within_noise, model_noise : float
        Standard deviations (per coordinate) of the image and model noise, relative to the
        unit per-coordinate standard deviation of the identity latent.
    unrelated : iterable of str
        Models (keys of ``dims``) whose space is unrelated to all others.
    seed : int

    Returns
    -------
    dict
        model -> ``(ids, vectors)`` with ``ids == tuple(protocol.items())`` and ``vectors``
        float32 ``(n_items, d_m)``, rows of unit norm.

    Raises
    ------
    InvalidInputError
        Empty ``dims``, non-positive dimensions, negative noise, unknown ``unrelated`` names,
        or a protocol with no pairs.
    """
    dims_, unrel = _check_settings(
        DEFAULT_DIMS if dims is None else dims, latent_dim, within_noise, model_noise, unrelated
    )
    ids = tuple(protocol.items())
    if not ids:
        raise InvalidInputError(
            f"protocol {protocol.name!r} has no pairs; give a non-empty protocol"
        )
    ident = identity_of_items(protocol)
    labels = sorted(set(ident.values()))
    pos = {lab: j for j, lab in enumerate(labels)}
    lab_idx = np.array([pos[ident[i]] for i in ids])
    n, k = len(ids), int(latent_dim)

    def latents(stream: int) -> np.ndarray:
        rng = np.random.default_rng([seed, stream])
        z = rng.standard_normal((len(labels), k))
        return z[lab_idx] + within_noise * rng.standard_normal((n, k))

    shared = latents(0)
    out: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    for m, d in dims_.items():
        h = _stable_int(m)
        x = latents(1 + h) if m in unrel else shared
        rng = np.random.default_rng([seed, 2, h])
        a = rng.standard_normal((k, d)) / math.sqrt(k)
        e = x @ a + model_noise * rng.standard_normal((n, d))
        norm = np.linalg.norm(e, axis=1, keepdims=True)
        e = e / np.maximum(norm, 1e-12)
        out[m] = (ids, e.astype(np.float32))
    return out


def synthetic_weights_sha256(model: str, seed: int = 0) -> str:
    """A stable stand-in weights sha256 for a synthetic model (what the store records)."""
    return hashlib.sha256(f"facebridge-synthetic:{model}:{seed}".encode()).hexdigest()


def make_synthetic_pair_data(
    dims: Mapping[str, int] | None = None, n_folds: int = 3, n_pairs: int = 20, seed: int = 0
) -> PairData:
    """A small :class:`~facebridge.experiments.PairData` of planted, related models.

    :func:`make_synthetic_protocol` (``n_pairs`` genuine and ``n_pairs`` impostor pairs per
    fold) resolved against :func:`make_synthetic_embeddings`; for examples and quick tests.

    Examples
    --------
    >>> data = make_synthetic_pair_data({"a": 8, "b": 6})
    >>> data.models, data.n_pairs, data.n_folds
    (('a', 'b'), 120, 3)
    """
    from facebridge.experiments.core import pair_data

    proto = make_synthetic_protocol(
        n_folds=n_folds, n_genuine=n_pairs, n_impostor=n_pairs, seed=seed
    )
    return pair_data(make_synthetic_embeddings(proto, dims=dims, seed=seed), proto)


def make_synthetic_store(
    root: str | Path,
    protocol: PairProtocol,
    dims: Mapping[str, int] | None = None,
    latent_dim: int = 24,
    within_noise: float = 0.35,
    model_noise: float = 0.05,
    unrelated: Iterable[str] = (),
    seed: int = 0,
    chunk_size: int = 1000,
) -> EmbeddingStore:
    """Write :func:`make_synthetic_embeddings` to a new store at ``root`` via the real API.

    Each model is written with ``detector="synthetic"`` and the weights sha256 of
    :func:`synthetic_weights_sha256`, in chunks of ``chunk_size`` items.

    Returns
    -------
    EmbeddingStore
        The opened store (``store.models()`` lists every model of ``dims``).
    """
    from facebridge.store import EmbeddingStore

    emb = make_synthetic_embeddings(
        protocol,
        dims=dims,
        latent_dim=latent_dim,
        within_noise=within_noise,
        model_noise=model_noise,
        unrelated=unrelated,
        seed=seed,
    )
    store = EmbeddingStore.create(root)
    if chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be >= 1, got {chunk_size}")
    for m, (ids, vecs) in emb.items():
        with store.writer(
            m,
            dim=vecs.shape[1],
            weights_sha256=synthetic_weights_sha256(m, seed),
            detector="synthetic",
            extra={"synthetic": {"seed": seed, "unrelated": m in set(unrelated)}},
        ) as w:
            for s in range(0, len(ids), chunk_size):
                w.add(ids[s : s + chunk_size], vecs[s : s + chunk_size])
                w.flush()
    return store


# ------------------------------------------------------------------------------------ embedder


@dataclass(frozen=True)
class FakeSpec:
    """Spec-like description of a :class:`FakeEmbedder` (mirrors ``models.registry.ModelSpec``)."""

    key: str
    dim: int
    input_size: tuple[int, int]
    alignment: str
    colour: str
    weights_sha256: str

    @property
    def detector(self) -> str:
        """Alias of :attr:`alignment` (what the store's manifest calls ``detector``)."""
        return self.alignment


class FakeEmbedder:
    """Deterministic embedder of image pixels, for pipeline tests without weights.

    ``embed(images)`` converts each image to grey, resamples it to ``grid x grid`` by area
    averaging, centres it (``pixel / 255 - 0.5``), appends a constant 1, projects with a fixed
    seeded Gaussian matrix and L2-normalises. Similar images give similar embeddings; the same
    image always gives the same one.

    Parameters
    ----------
    key : str
    dim : int
    seed : int
        Seeds the projection: two fakes with different seeds are different "models".
    grid : int
        Side of the resampled grey image.
    input_size, alignment
        Reported like a real model's spec (the fake itself accepts images of any size).
    """

    def __init__(
        self,
        key: str = "fake",
        dim: int = 32,
        seed: int = 0,
        grid: int = 16,
        input_size: tuple[int, int] = (112, 112),
        alignment: str = "arcface-112",
    ) -> None:
        if dim < 1 or grid < 1:
            raise InvalidInputError(f"dim and grid must be >= 1, got dim={dim}, grid={grid}")
        self.key = key
        self.dim = int(dim)
        self.seed = int(seed)
        self.grid = int(grid)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.alignment = alignment
        self.weights_sha256 = hashlib.sha256(
            f"facebridge-fake:{key}:{dim}:{seed}:{grid}".encode()
        ).hexdigest()
        rng = np.random.default_rng([self.seed, _stable_int(key)])
        self._proj = rng.standard_normal((grid * grid + 1, self.dim)) / math.sqrt(grid * grid)
        self.calls = 0  # number of images embedded so far (lets tests check resume skips work)

    @property
    def spec(self) -> FakeSpec:
        return FakeSpec(
            self.key, self.dim, self.input_size, self.alignment, "RGB", self.weights_sha256
        )

    def __repr__(self) -> str:
        return f"FakeEmbedder(key={self.key!r}, dim={self.dim}, seed={self.seed})"

    def _grey(self, img: np.ndarray) -> np.ndarray:
        a = np.asarray(img)
        if a.ndim == 3 and a.shape[2] in (3, 4):
            a = a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        elif a.ndim == 3 and a.shape[2] == 1:
            a = a[..., 0].astype(np.float64)
        elif a.ndim == 2:
            a = a.astype(np.float64)
        else:
            raise DimensionError(
                f"expected an image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {a.shape}"
            )
        if a.shape[0] < 1 or a.shape[1] < 1:
            raise InvalidInputError(f"empty image of shape {a.shape}; give a non-empty image")
        if not np.isfinite(a).all():
            raise InvalidInputError("image contains NaN or inf; give finite pixel values")
        g = self.grid
        rows = np.minimum((np.arange(a.shape[0]) * g) // a.shape[0], g - 1)
        cols = np.minimum((np.arange(a.shape[1]) * g) // a.shape[1], g - 1)
        s = np.zeros((g, g))
        c = np.zeros((g, g))
        np.add.at(s, (rows[:, None], cols[None, :]), a)
        np.add.at(c, (rows[:, None], cols[None, :]), 1.0)
        c[c == 0] = 1.0  # an image smaller than the grid leaves some cells empty
        return s / c

    def embed(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Embed a batch.

        Parameters
        ----------
        images : array (n, H, W, 3) / (n, H, W) or a sequence of (H, W[, C]) arrays
            Pixel values in 0..255 (uint8 or float).

        Returns
        -------
        ndarray
            float32 ``(n, dim)``, rows of unit norm.
        """
        seq = list(images)
        if not seq:
            return np.zeros((0, self.dim), dtype=np.float32)
        feats = np.stack([self._grey(im).ravel() / 255.0 - 0.5 for im in seq])
        feats = np.hstack([feats, np.ones((len(seq), 1))])
        e = feats @ self._proj
        e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        self.calls += len(seq)
        return e.astype(np.float32)

    __call__ = embed

    def embed_paths(self, paths: Sequence[str | Path]) -> np.ndarray:
        """Read image files (with Pillow, imported lazily) and embed them.

        Raises
        ------
        facebridge.errors.ImageError
            A file that cannot be read as an image (the message names it).
        """
        from facebridge.errors import ImageError, MissingDependencyError

        try:
            from PIL import Image
        except ImportError as e:  # pragma: no cover - Pillow ships with matplotlib
            raise MissingDependencyError(
                "FakeEmbedder.embed_paths needs Pillow; pip install pillow"
            ) from e
        imgs = []
        for p in paths:
            try:
                with Image.open(p) as im:
                    imgs.append(np.asarray(im.convert("RGB")))
            except (OSError, ValueError) as e:
                raise ImageError(
                    f"cannot read image {p}: {e}; replace or remove the file"
                ) from None
        return self.embed(imgs)


# ------------------------------------------------------------------------------------ images


def make_image_tree(
    root: str | Path,
    protocol: PairProtocol,
    size: int = 64,
    noise: float = 20.0,
    seed: int = 0,
    fmt: str | None = None,
) -> dict[str, Path]:
    """Write a small synthetic image for every item of ``protocol`` under ``root``.

    Each identity gets a smooth random grey-level pattern; each image adds its own pixel noise
    (``noise`` grey levels), so a :class:`FakeEmbedder` separates identities well. The file is
    written at ``root / item_id`` in the format of the item's suffix (``.jpg`` -> JPEG,
    ``.png`` -> PNG) unless ``fmt`` forces one; Pillow is imported lazily.

    Returns
    -------
    dict
        item id -> written path.
    """
    from PIL import Image

    root = Path(root)
    ident = identity_of_items(protocol)
    out: dict[str, Path] = {}
    base_cache: dict[str, np.ndarray] = {}
    for item in protocol.items():
        who = ident[item]
        if who not in base_cache:
            r = np.random.default_rng([seed, _stable_int(who)])
            coarse = r.uniform(30, 225, size=(8, 8))
            base_cache[who] = np.kron(coarse, np.ones((size // 8 + 1, size // 8 + 1)))[:size, :size]
        r = np.random.default_rng([seed, 1, _stable_int(item)])
        img = np.clip(base_cache[who] + noise * r.standard_normal((size, size)), 0, 255)
        rgb = np.repeat(img.astype(np.uint8)[..., None], 3, axis=2)
        path = root / item
        path.parent.mkdir(parents=True, exist_ok=True)
        known = path.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp")
        Image.fromarray(rgb).save(path, format=fmt or (None if known else "PNG"))
        out[item] = path
    return out
