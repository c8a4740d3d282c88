"""Make a verification protocol from an identity-per-folder image tree.

An item id is a POSIX path relative to the image root (as :mod:`facebridge.extract` names it);
its identity is the folder that holds it (:func:`folder_identity`).  :func:`make_pairs` splits the
identities into ``K`` identity-disjoint folds and draws, per fold, genuine pairs (two images of one
identity) and impostor pairs (images of two identities of that fold), as LFW View 2 does.
:func:`write_csv_pairs` writes the result in the CSV form :func:`load_csv_pairs` reads.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import numbers
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from facebridge.errors import InvalidInputError
from facebridge.protocols._core import Pair, PairProtocol

__all__ = [
    "CSV_HEADER",
    "FewerPairsWarning",
    "folder_identity",
    "make_pairs",
    "write_csv_pairs",
]

#: Header row of the CSV protocols written by :func:`write_csv_pairs`.
CSV_HEADER = "left,right,genuine,fold"

#: Above this many candidate impostor pairs per asked one, impostors are drawn by rejection.
_ENUMERATE_RATIO = 2


class FewerPairsWarning(UserWarning):
    """The image tree cannot give as many pairs as were asked for (the message says how many)."""


def folder_identity(item_id: str) -> str:
    """Identity of an item id: the folder that holds it (``"a/b/x.jpg"`` -> ``"a/b"``).

    An item at the root of the tree (no folder) has no identity: ``""``.

    Examples
    --------
    >>> folder_identity("Ada_Lovelace/photo-1.jpg")
    'Ada_Lovelace'
    >>> folder_identity("x.jpg")
    ''
    """
    head, sep, _ = item_id.rpartition("/")
    return head if sep else ""


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _unrank_pair(k: int) -> tuple[int, int]:
    """The ``k``-th pair ``(i, j)``, ``i < j``, in colexicographic order (``k = j(j-1)/2 + i``)."""
    j = (1 + math.isqrt(1 + 8 * k)) // 2
    if j * (j - 1) // 2 > k:
        j -= 1
    return k - j * (j - 1) // 2, j


def _spread(quota: int, caps: Sequence[int]) -> list[int]:
    """Split ``quota`` over slots as evenly as possible without exceeding ``caps`` (in order)."""
    take = [0] * len(caps)
    left = quota
    open_ = [s for s, c in enumerate(caps) if c > 0]
    while left > 0 and open_:
        each = max(1, left // len(open_))
        nxt = []
        for s in open_:
            if left == 0:
                nxt.append(s)
                continue
            add = min(each, caps[s] - take[s], left)
            take[s] += add
            left -= add
            if take[s] < caps[s]:
                nxt.append(s)
        open_ = nxt
    return take


def _genuine(groups: list[list[str]], n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Up to ``n`` distinct within-identity pairs, spread evenly over the identities."""
    order = [groups[k] for k in rng.permutation(len(groups))]  # who gets the remainder
    caps = [len(g) * (len(g) - 1) // 2 for g in order]
    quota = _spread(n, caps)
    out: list[tuple[str, str]] = []
    for g, cap, q in zip(order, caps, quota, strict=True):
        if q == 0:
            continue
        for k in sorted(int(x) for x in rng.choice(cap, size=q, replace=False)):
            i, j = _unrank_pair(k)
            out.append((g[i], g[j]))
    return sorted(out)


def _impostor(groups: list[list[str]], n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Up to ``n`` distinct pairs of images of two different identities."""
    images = [i for g in groups for i in g]
    starts = np.cumsum([0, *map(len, groups)])
    owner = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    total = len(images)
    cap = (total * total - sum(len(g) ** 2 for g in groups)) // 2
    if cap <= _ENUMERATE_RATIO * n:
        every = [
            (a, b)
            for ga in range(len(groups))
            for gb in range(ga + 1, len(groups))
            for a in range(starts[ga], starts[ga + 1])
            for b in range(starts[gb], starts[gb + 1])
        ]
        if len(every) > n:
            keep = np.sort(rng.choice(len(every), size=n, replace=False))
            every = [every[k] for k in keep]
        return [(images[a], images[b]) for a, b in every]
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < n:
        a = int(rng.integers(total))
        g = owner[a]
        size = starts[g + 1] - starts[g]
        r = int(rng.integers(total - size))
        b = r if r < starts[g] else r + size  # skip a's own identity block
        chosen.add((min(a, b), max(a, b)))
    return [(images[a], images[b]) for a, b in sorted(chosen)]


def make_pairs(
    items: Iterable[str],
    n_folds: int = 10,
    n_genuine: int = 300,
    n_impostor: int = 300,
    *,
    seed: int = 0,
    identity_fn: Callable[[str], str] = folder_identity,
    name: str = "pairs",
) -> PairProtocol:
    """A ``K``-fold verification protocol with identity-disjoint folds, LFW View 2 style.

    Procedure (seeded; independent of the order of ``items``):

    1. items are grouped by identity; items without one (``identity_fn`` gives ``""``) are left
       out with a :class:`FewerPairsWarning`;
    2. identities with two or more images are shuffled and dealt to the folds in turn, then the
       single-image identities likewise, so no identity is in two folds;
    3. per fold, ``n_genuine`` distinct pairs of two images of one identity are drawn, spread as
       evenly as the identities allow, and ``n_impostor`` distinct pairs of images of two
       different identities (uniformly over such pairs). Single-image identities give impostor
       pairs only. No pair repeats (in either order) and no image is paired with itself.

    A fold that cannot give the asked counts gets what it can; one :class:`FewerPairsWarning`
    says how many pairs were made of how many asked.

    Parameters
    ----------
    items : iterable of str
        Item ids, POSIX paths relative to the image root (e.g.
        :func:`facebridge.extract.list_images`), so that they match a store embedded from the
        same folder.
    n_folds : int
        Number of folds ``K >= 2`` (default 10, as LFW).
    n_genuine, n_impostor : int
        Pairs asked for per fold (default 300 + 300, as LFW).
    seed : int
        Seed of every random choice; the same seed and items give the same protocol.
    identity_fn : callable
        Item id -> identity (default: the folder that holds the item).
    name : str
        Protocol name.

    Returns
    -------
    PairProtocol
        Per fold, genuine pairs first, then impostor pairs; within a pair ``left < right``.

    Raises
    ------
    InvalidInputError
        A count out of range, fewer than ``2 K`` identities, or a fold with no pair at all.

    Warns
    -----
    FewerPairsWarning
        Fewer pairs than asked could be made, or some items have no identity folder.

    Examples
    --------
    >>> items = [f"p{i}/{k}.jpg" for i in range(8) for k in range(3)]
    >>> proto = make_pairs(items, n_folds=2, n_genuine=5, n_impostor=5, seed=0)
    >>> proto.fold_counts()
    [(5, 5), (5, 5)]
    """
    k_folds = _check_count(n_folds, "n_folds", 2)
    n_gen = _check_count(n_genuine, "n_genuine", 1)
    n_imp = _check_count(n_impostor, "n_impostor", 1)
    _check_count(seed, "seed", 0)
    ids = sorted(set(items))
    for i in ids:
        if not isinstance(i, str) or not i:
            raise InvalidInputError(f"items must be non-empty strings, got {i!r}")
    by_identity: dict[str, list[str]] = {}
    rootless = 0
    for i in ids:
        who = identity_fn(i)
        if not who:
            rootless += 1
            continue
        by_identity.setdefault(who, []).append(i)
    if rootless:
        warnings.warn(
            f"{rootless} image(s) lie at the root of the tree, outside any identity folder, and "
            "are left out; put each person's images in a folder of their own",
            FewerPairsWarning,
            stacklevel=2,
        )
    if len(by_identity) < 2 * k_folds:
        raise InvalidInputError(
            f"{k_folds} folds need at least {2 * k_folds} identity folders (two per fold), "
            f"found {len(by_identity)}; lower n_folds or add people"
        )
    rng = np.random.default_rng(seed)
    names = sorted(by_identity)
    multi = [n for n in names if len(by_identity[n]) >= 2]
    single = [n for n in names if len(by_identity[n]) == 1]
    multi = [multi[k] for k in rng.permutation(len(multi))]
    single = [single[k] for k in rng.permutation(len(single))]
    folds: list[list[str]] = [[] for _ in range(k_folds)]
    for k, who in enumerate(multi + single):
        folds[k % k_folds].append(who)
    pairs: list[Pair] = []
    short: list[str] = []
    made_g = made_i = 0
    for f, members in enumerate(folds):
        groups = [by_identity[n] for n in sorted(members)]
        gen = _genuine(groups, n_gen, rng)
        imp = _impostor(groups, n_imp, rng)
        if not gen and not imp:
            raise InvalidInputError(
                f"fold {f} gets no pair from its {len(members)} identities; lower n_folds"
            )
        if len(gen) < n_gen or len(imp) < n_imp:
            short.append(f"fold {f}: {len(gen)}+{len(imp)}")
        made_g += len(gen)
        made_i += len(imp)
        pairs += [Pair(a, b, True, f) for a, b in gen]
        pairs += [Pair(a, b, False, f) for a, b in imp]
    if short:
        warnings.warn(
            f"made {made_g} genuine + {made_i} impostor pairs of the {k_folds * n_gen} + "
            f"{k_folds * n_imp} asked ({k_folds} folds x {n_gen} + {n_imp}); the images cannot "
            f"give more ({'; '.join(short)}); add images or ask for fewer pairs",
            FewerPairsWarning,
            stacklevel=2,
        )
    return PairProtocol(name, tuple(pairs), k_folds)


def write_csv_pairs(protocol: PairProtocol, path: str | Path) -> Path:
    """Write ``protocol`` as a CSV ``left,right,genuine,fold`` (atomic: temp file, then rename).

    :func:`facebridge.protocols.load_csv_pairs` reads it back to an equal protocol.

    Parameters
    ----------
    protocol : PairProtocol
    path : str or Path
        The CSV file; its folder must exist.

    Returns
    -------
    Path

    Raises
    ------
    InvalidInputError
        An item id with a line break or a leading/trailing space (the CSV loader reads one row
        per line and strips fields), or a folder that does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from facebridge.protocols import load_csv_pairs
    >>> proto = PairProtocol("p", (Pair("a/1.jpg", "a/2.jpg", True, 0),), 1)
    >>> out = write_csv_pairs(proto, pathlib.Path(tempfile.mkdtemp()) / "p.csv")
    >>> load_csv_pairs(out).pairs == proto.pairs
    True
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise InvalidInputError(
            f"folder {path.parent} does not exist; create it or write the pairs elsewhere"
        )
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_HEADER.split(","))
    for p in protocol.pairs:
        for item in (p.left, p.right):
            if "\n" in item or "\r" in item or item != item.strip():
                raise InvalidInputError(
                    f"item id {item!r} has a line break or edge space, which a CSV protocol "
                    "cannot hold; rename the file"
                )
        out.writerow([p.left, p.right, int(p.genuine), p.fold])
    data = buf.getvalue().encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path
