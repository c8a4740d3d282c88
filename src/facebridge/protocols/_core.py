"""Pair protocols: LFW View 2 / View 1, YouTube Faces splits, user CSV pair lists.

Every loader keeps the fold of each pair (0-based), checks the counts the file promises, and
reports the file name and 1-based line number of the first malformed line it meets.
"""

from __future__ import annotations

import csv
import numbers
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facebridge.errors import InvalidInputError, ProtocolError

__all__ = [
    "PROTOCOL_KINDS",
    "Pair",
    "PairProtocol",
    "default_lfw_pairs",
    "lfw_item_id",
    "load_csv_pairs",
    "load_lfw_dev_pairs",
    "load_lfw_pairs",
    "load_protocol",
    "load_ytf_splits",
    "ytf_video_frames",
]

LFW_PAIRS_MD5 = "9f1ba174e4e1c508ff7cdf10ac338a7d"


@dataclass(frozen=True)
class Pair:
    """One verification pair.

    Attributes
    ----------
    left, right : str
        Item ids (POSIX paths relative to the image root, or ``Name/video_no`` for YTF).
    genuine : bool
        ``True`` when both items show the same person (a *genuine* pair), ``False`` for an
        *impostor* pair.
    fold : int
        0-based fold (LFW fold 1 is ``fold == 0``).
    """

    left: str
    right: str
    genuine: bool
    fold: int


@dataclass(frozen=True)
class PairProtocol:
    """A list of pairs split into folds.

    Anything fitted on pairs (thresholds, maps) must see only the training folds of the fold being
    evaluated; :meth:`fold_array` gives the fold of each pair for that purpose.

    Attributes
    ----------
    name : str
        ``"lfw-view2"``, ``"lfw-devtrain"``, ``"lfw-devtest"``, ``"ytf"`` or ``"csv:<file>"``.
    pairs : tuple of Pair
    n_folds : int
        Number of folds; every pair has ``0 <= fold < n_folds``.
    """

    name: str
    pairs: tuple[Pair, ...]
    n_folds: int

    def __post_init__(self) -> None:
        if not isinstance(self.pairs, tuple):
            object.__setattr__(self, "pairs", tuple(self.pairs))
        if self.n_folds < 1:
            raise InvalidInputError(
                f"protocol {self.name!r}: n_folds must be >= 1, got {self.n_folds}; "
                "give at least one fold"
            )
        bad = [p.fold for p in self.pairs if not 0 <= p.fold < self.n_folds]
        if bad:
            raise InvalidInputError(
                f"protocol {self.name!r}: folds must lie in 0..{self.n_folds - 1}, got {bad[0]}; "
                "use 0-based fold numbers"
            )

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.pairs)

    def items(self) -> list[str]:
        """Distinct item ids used by any pair, sorted."""
        return sorted({p.left for p in self.pairs} | {p.right for p in self.pairs})

    def genuine_array(self) -> np.ndarray:
        """Bool array ``(n_pairs,)``: ``True`` for genuine pairs."""
        return np.fromiter((p.genuine for p in self.pairs), dtype=bool, count=len(self.pairs))

    def fold_array(self) -> np.ndarray:
        """Int array ``(n_pairs,)``: the 0-based fold of each pair."""
        return np.fromiter((p.fold for p in self.pairs), dtype=np.int64, count=len(self.pairs))

    def left_ids(self) -> list[str]:
        """Left item id of each pair, in order."""
        return [p.left for p in self.pairs]

    def right_ids(self) -> list[str]:
        """Right item id of each pair, in order."""
        return [p.right for p in self.pairs]

    def fold_counts(self) -> list[tuple[int, int]]:
        """``(n_genuine, n_impostor)`` per fold, fold 0 first."""
        g = self.genuine_array()
        f = self.fold_array()
        return [
            (int(np.sum(g & (f == k))), int(np.sum(~g & (f == k)))) for k in range(self.n_folds)
        ]


# --------------------------------------------------------------------------------------- helpers


def lfw_item_id(name: str, number: int) -> str:
    """Item id of LFW image ``number`` (1-based) of ``name``: ``Name/Name_%04d.jpg``."""
    return f"{name}/{name}_{number:04d}.jpg"


def _looks_like_protocol(q: Path) -> bool:
    low = q.name.lower()
    return low.endswith(".csv") or (low.endswith(".txt") and low.startswith(("pairs", "splits")))


def _read_lines(path: Path) -> list[str]:
    path = Path(path)
    if path.is_dir():
        found = sorted(q.name for q in path.iterdir() if q.is_file() and _looks_like_protocol(q))[
            :4
        ]
        hint = (
            f"; it holds {', '.join(found)}: pass one of them, e.g. {path / found[0]}"
            if found
            else "; pass the pairs file itself (pairs.txt, pairsDevTest.txt, splits.txt or a CSV)"
        )
        raise ProtocolError(f"{path} is a directory, not a protocol file{hint}")
    if not path.is_file():
        raise ProtocolError(
            f"protocol file not found: {path}; give the path of an existing pairs/splits file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(
            f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); give a plain-text protocol file"
        ) from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # trailing blank lines are harmless
        lines.pop()
    if not lines:
        raise ProtocolError(f"{path}: file is empty; expected a header line and pairs")
    return lines


def _is_uint(tok: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts digits such as "²" that ``int`` rejects)."""
    return tok.isascii() and tok.isdigit()


def _positive_int(tok: str, path: Path, lineno: int, what: str) -> int:
    if not _is_uint(tok) or int(tok) < 1:
        raise ProtocolError(f"{path}:{lineno}: expected {what} as a positive integer, got {tok!r}")
    return int(tok)


def _parse_lfw_line(
    line: str, path: Path, lineno: int, genuine: bool, where: str
) -> tuple[str, str]:
    parts = line.split()
    if genuine:
        if len(parts) != 3:
            raise ProtocolError(
                f"{path}:{lineno}: expected a matched pair 'name<TAB>i<TAB>j' ({where}), "
                f"got {line!r}; fix the line or the header counts"
            )
        name, i, j = parts
        a = _positive_int(i, path, lineno, "image number i")
        b = _positive_int(j, path, lineno, "image number j")
        if a == b:
            raise ProtocolError(
                f"{path}:{lineno}: matched pair uses the same image twice ({name} {a}); "
                "a pair needs two different images"
            )
        return lfw_item_id(name, a), lfw_item_id(name, b)
    if len(parts) != 4:
        raise ProtocolError(
            f"{path}:{lineno}: expected a mismatched pair 'name1<TAB>i<TAB>name2<TAB>j' ({where}), "
            f"got {line!r}; fix the line or the header counts"
        )
    n1, i, n2, j = parts
    a = _positive_int(i, path, lineno, "image number i")
    b = _positive_int(j, path, lineno, "image number j")
    if n1 == n2:
        raise ProtocolError(
            f"{path}:{lineno}: mismatched pair names the same person twice ({n1}); "
            "write a same-person pair as 'name<TAB>i<TAB>j'"
        )
    return lfw_item_id(n1, a), lfw_item_id(n2, b)


# --------------------------------------------------------------------------------------- loaders


def load_lfw_pairs(path: str | Path, name: str = "lfw-view2") -> PairProtocol:
    """Load an LFW View 2 ``pairs.txt``.

    The header ``n_folds<TAB>n_per_fold`` is followed, for each fold in order, by ``n_per_fold``
    matched lines ``name i j`` and ``n_per_fold`` mismatched lines ``name1 i name2 j``. Image
    numbers are 1-based; item ids are ``Name/Name_%04d.jpg``.

    Parameters
    ----------
    path : str or Path
        The pairs file (official: 10 folds x (300 + 300), md5 9f1ba174e4e1c508ff7cdf10ac338a7d).
    name : str
        Protocol name to record.

    Returns
    -------
    PairProtocol
        ``n_folds * 2 * n_per_fold`` pairs, genuine pairs first within each fold.

    Raises
    ------
    ProtocolError
        Missing/empty file, bad header, a line of the wrong shape, or counts that do not match
        the header (the message names file and line).
    """
    path = Path(path)
    lines = _read_lines(path)
    head = lines[0].split()
    if len(head) != 2 or not all(_is_uint(t) and int(t) > 0 for t in head):
        raise ProtocolError(
            f"{path}:1: expected header 'n_folds<TAB>n_per_fold' (e.g. '10\\t300'), got {lines[0]!r}; "
            "for pairsDevTrain.txt / pairsDevTest.txt use the kind 'lfw-dev' (--pairs-kind lfw-dev)"
        )
    n_folds, n_per = int(head[0]), int(head[1])
    expected = n_folds * 2 * n_per
    body = lines[1:]
    if len(body) != expected:
        raise ProtocolError(
            f"{path}: header promises {n_folds} folds x ({n_per} matched + {n_per} mismatched) = "
            f"{expected} pair lines, found {len(body)}; fix the header or restore the missing lines"
        )
    pairs: list[Pair] = []
    for k, line in enumerate(body):
        fold, r = divmod(k, 2 * n_per)
        genuine = r < n_per
        where = (
            f"{'matched' if genuine else 'mismatched'} pair {r % n_per + 1} of {n_per} "
            f"in fold {fold + 1}"
        )
        left, right = _parse_lfw_line(line, path, k + 2, genuine, where)
        pairs.append(Pair(left, right, genuine, fold))
    return PairProtocol(name, tuple(pairs), n_folds)


def load_lfw_dev_pairs(path: str | Path, name: str | None = None) -> PairProtocol:
    """Load an LFW View 1 ``pairsDevTrain.txt`` / ``pairsDevTest.txt`` (one fold).

    The header ``N`` is followed by ``N`` matched then ``N`` mismatched lines.

    Parameters
    ----------
    path : str or Path
    name : str, optional
        Protocol name; default ``"lfw-devtrain"`` / ``"lfw-devtest"`` from the file name, else
        ``"lfw-dev"``.

    Returns
    -------
    PairProtocol
        ``2 N`` pairs, all in fold 0.

    Raises
    ------
    ProtocolError
        As :func:`load_lfw_pairs`.
    """
    path = Path(path)
    lines = _read_lines(path)
    head = lines[0].split()
    if len(head) != 1 or not _is_uint(head[0]) or int(head[0]) < 1:
        raise ProtocolError(
            f"{path}:1: expected header 'N' (number of matched pairs, e.g. '1100'), got {lines[0]!r}; "
            "for the 10-fold View 2 pairs.txt use the kind 'lfw' (--pairs-kind lfw)"
        )
    n = int(head[0])
    body = lines[1:]
    if len(body) != 2 * n:
        raise ProtocolError(
            f"{path}: header promises {n} matched + {n} mismatched = {2 * n} pair lines, found "
            f"{len(body)}; fix the header or restore the missing lines"
        )
    if name is None:
        low = path.name.lower()
        name = "lfw-devtrain" if "train" in low else "lfw-devtest" if "test" in low else "lfw-dev"
    pairs: list[Pair] = []
    for k, line in enumerate(body):
        genuine = k < n
        where = f"{'matched' if genuine else 'mismatched'} pair {k % n + 1} of {n}"
        left, right = _parse_lfw_line(line, path, k + 2, genuine, where)
        pairs.append(Pair(left, right, genuine, 0))
    return PairProtocol(name, tuple(pairs), 1)


_YTF_ITEM = re.compile(r"^[^/\s]+/\d+$")


def load_ytf_splits(path: str | Path, name: str = "ytf") -> PairProtocol:
    """Load the YouTube Faces ``splits.txt``.

    An optional header line is followed by rows ``split, pair, Name/video_no, Name/video_no,
    is_same`` with 1-based split numbers (split 1 becomes ``fold == 0``). Items are video ids
    ``Name/video_no``; see :func:`ytf_video_frames` for their frames.

    Returns
    -------
    PairProtocol
        Official file: 5000 pairs, 10 folds of 250 genuine + 250 impostor.

    Raises
    ------
    ProtocolError
        A row of the wrong shape, a bad video id, an ``is_same`` other than 0/1, a repeated
        (split, pair), or split numbers that are not 1..K without gaps.
    """
    path = Path(path)
    lines = _read_lines(path)
    rows: list[tuple[int, int, str, str, bool, int]] = []
    seen: dict[tuple[int, int], int] = {}
    for k, line in enumerate(lines):
        lineno = k + 1
        if not line.strip():
            continue
        parts = [t.strip() for t in line.split(",")]
        if k == 0 and not any(c.isdigit() for c in parts[0]):
            continue  # header ("split number, pair number, ..."); "1x, ..." is a bad row
        if len(parts) != 5:
            raise ProtocolError(
                f"{path}:{lineno}: expected 5 comma-separated fields 'split, pair, Name/video, "
                f"Name/video, is_same', got {line!r}"
            )
        split = _positive_int(parts[0], path, lineno, "split number")
        num = _positive_int(parts[1], path, lineno, "pair number")
        for item in (parts[2], parts[3]):
            if not _YTF_ITEM.match(item):
                raise ProtocolError(
                    f"{path}:{lineno}: expected a video id 'Name/video_no' (e.g. 'Sadie_Frost/1'), "
                    f"got {item!r}"
                )
        if parts[4] not in ("0", "1"):
            raise ProtocolError(f"{path}:{lineno}: expected is_same 0 or 1, got {parts[4]!r}")
        if parts[2] == parts[3]:
            raise ProtocolError(
                f"{path}:{lineno}: pair compares video {parts[2]!r} with itself; a pair needs two "
                "different videos"
            )
        if (split, num) in seen:
            raise ProtocolError(
                f"{path}:{lineno}: split {split} pair {num} already given on line "
                f"{seen[split, num]}; remove the duplicate"
            )
        seen[split, num] = lineno
        rows.append((split, num, parts[2], parts[3], parts[4] == "1", lineno))
    if not rows:
        raise ProtocolError(
            f"{path}: no pair rows after the header; expected 'split, pair, ...' rows"
        )
    splits = sorted({r[0] for r in rows})
    if splits != list(range(1, len(splits) + 1)):
        missing = sorted(set(range(1, splits[-1] + 1)) - set(splits))
        raise ProtocolError(
            f"{path}: split numbers must run 1..K without gaps, missing {missing}; "
            "renumber the splits"
        )
    pairs = tuple(Pair(a, b, g, s - 1) for s, _, a, b, g, _ in rows)
    return PairProtocol(name, pairs, len(splits))


_TRUE = {"1", "true", "same", "yes"}
_FALSE = {"0", "false", "different", "no"}


def _genuine_token(tok: str) -> bool | None:
    t = tok.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    return None


_PATH_LIKE = re.compile(r"[/\\]|\.(jpe?g|png|bmp|webp|tiff?|ppm|pgm)$", re.IGNORECASE)


def _is_csv_header(row: list[str]) -> bool:
    """A first row is a header when its third field is not a genuine value and none of its
    fields looks like an image path ("a.jpg,b.jpg,ture" is a bad data row, not a header)."""
    if len(row) < 3 or _genuine_token(row[2]) is not None:
        return False
    return not any(_PATH_LIKE.search(c.strip()) for c in row)


def _same_image(a: str, b: str) -> bool:
    return posixpath.normpath(a.replace("\\", "/")) == posixpath.normpath(b.replace("\\", "/"))


def load_csv_pairs(path: str | Path, name: str | None = None, n_folds: int = 10) -> PairProtocol:
    """Load a user pair list ``left,right,genuine[,fold]``.

    A header row is optional (detected when its third field is not a genuine value and no field
    looks like an image path, so a mistyped first data row is reported, not skipped). ``genuine``
    accepts ``1/0``, ``true/false``, ``same/different``, ``yes/no`` (case-insensitive). ``fold``
    is 0-based and must cover ``0..K-1``.

    **Without a fold column** the pairs are dealt into ``K = min(n_folds, n_genuine,
    n_impostor)`` folds (at least 1), in file order, genuine and impostor pairs separately: the
    k-th genuine pair goes to fold ``k % K``, and so does the k-th impostor pair.  Every fold
    then has both kinds of pair and the split is the same on every run.  These folds are not
    identity-disjoint (LFW's are): give a fold column to control them.

    Parameters
    ----------
    path : str or Path
    name : str, optional
    n_folds : int
        Folds to deal the pairs into when the file has no fold column (default 10, as LFW).

    Returns
    -------
    PairProtocol
        Named ``"csv:<file name>"`` unless ``name`` is given.

    Raises
    ------
    ProtocolError
        Wrong number of columns, an empty item, an unknown genuine value, a non-integer or
        non-0-based fold, a pair that compares an image with itself (the message names file and
        line).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "p.csv"
    >>> rows = ["a/1.jpg,a/2.jpg,1", "b/1.jpg,b/2.jpg,1", "a/1.jpg,b/1.jpg,0", "a/2.jpg,b/2.jpg,0"]
    >>> _ = f.write_text("\\n".join(rows))
    >>> load_csv_pairs(f).fold_array().tolist()
    [0, 1, 0, 1]
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, numbers.Integral) or n_folds < 1:
        raise InvalidInputError(f"n_folds must be a positive integer, got {n_folds!r}")
    path = Path(path)
    lines = _read_lines(path)
    rows = list(csv.reader(lines))
    start = 0
    if rows and _is_csv_header(rows[0]):
        start = 1  # header row
    width: int | None = None
    raw: list[tuple[str, str, bool, int | None]] = []
    for k in range(start, len(rows)):
        lineno = k + 1
        row = [c.strip() for c in rows[k]]
        if not row or all(not c for c in row):
            continue
        if len(row) not in (3, 4):
            raise ProtocolError(
                f"{path}:{lineno}: expected 3 or 4 columns 'left,right,genuine[,fold]', "
                f"got {len(row)}: {lines[k]!r}; without the fold column the pairs are dealt into "
                "up to 10 folds in file order"
            )
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise ProtocolError(
                f"{path}:{lineno}: expected {width} columns like the rows above, got {len(row)}; "
                "give a fold for every row or for none (then the pairs are dealt into up to 10 "
                "folds in file order)"
            )
        left, right = row[0], row[1]
        if not left or not right:
            raise ProtocolError(f"{path}:{lineno}: empty item id in {lines[k]!r}; give both items")
        if _same_image(left, right):
            raise ProtocolError(
                f"{path}:{lineno}: pair compares {left!r} with itself; a pair needs two different "
                "images (a protocol of such pairs measures nothing)"
            )
        g = _genuine_token(row[2])
        if g is None:
            raise ProtocolError(
                f"{path}:{lineno}: expected genuine as 1/0, true/false, same/different or yes/no, "
                f"got {row[2]!r}"
            )
        fold: int | None = None
        if len(row) == 4:
            if not _is_uint(row[3]):
                raise ProtocolError(
                    f"{path}:{lineno}: expected fold as a non-negative integer (0-based), got {row[3]!r}"
                )
            fold = int(row[3])
        raw.append((left, right, g, fold))
    if not raw:
        raise ProtocolError(f"{path}: no pair rows; expected rows 'left,right,genuine[,fold]'")
    folds = sorted({f for *_, f in raw if f is not None}) or [0]
    if folds != list(range(len(folds))):
        raise ProtocolError(
            f"{path}: folds must be 0-based and cover 0..K-1, got {folds[:12]}"
            f"{'...' if len(folds) > 12 else ''}; renumber them from 0 (subtract 1 from 1-based folds)"
        )
    if width == 4:
        pairs = tuple(Pair(a, b, g, f or 0) for a, b, g, f in raw)
        return PairProtocol(name or f"csv:{path.name}", pairs, len(folds))
    n_gen = sum(1 for _, _, g, _ in raw if g)
    k = max(1, min(int(n_folds), n_gen, len(raw) - n_gen))
    seen = {True: 0, False: 0}
    dealt = []
    for a, b, g, _ in raw:
        dealt.append(Pair(a, b, g, seen[g] % k))
        seen[g] += 1
    return PairProtocol(name or f"csv:{path.name}", tuple(dealt), k)


def ytf_video_frames(
    frames_root: str | Path, video_id: str, max_frames: int | None = 100
) -> list[Path]:
    """Frames of one YouTube Faces video in the ``aligned_images_DB`` layout.

    ``frames_root/Name/video_no/aligned_detect_<video_no>.<frame>.jpg``, ordered numerically by
    frame number (``.9`` before ``.10``); the paper averages the first 100.

    Parameters
    ----------
    frames_root : str or Path
        The ``aligned_images_DB`` directory.
    video_id : str
        ``"Name/video_no"`` as in :func:`load_ytf_splits`.
    max_frames : int or None
        Keep the first ``max_frames`` frames; ``None`` keeps all.

    Returns
    -------
    list of Path
        At least one frame.

    Raises
    ------
    ProtocolError
        A malformed ``video_id``, or a missing video directory or one without frames (the
        message names the path).
    InvalidInputError
        ``max_frames < 1``.
    """
    if max_frames is not None and (
        isinstance(max_frames, bool)
        or not isinstance(max_frames, numbers.Integral)
        or max_frames < 1
    ):
        raise InvalidInputError(
            f"max_frames must be a positive integer or None, got {max_frames!r}; the paper uses 100"
        )
    if not _YTF_ITEM.match(video_id):
        raise ProtocolError(
            f"expected a video id 'Name/video_no' (e.g. 'Sadie_Frost/1'), got {video_id!r}"
        )
    video_no = video_id.rsplit("/", 1)[1]
    d = Path(frames_root) / video_id
    if not d.is_dir():
        raise ProtocolError(
            f"YTF video directory not found: {d}; point frames_root at aligned_images_DB"
        )
    pat = re.compile(rf"^aligned_detect_{re.escape(video_no)}\.(\d+)\.jpg$")
    frames: list[tuple[int, Path]] = []
    for p in d.iterdir():
        m = pat.match(p.name)
        if m and p.is_file():
            frames.append((int(m.group(1)), p))
    if not frames:
        raise ProtocolError(
            f"no frames named aligned_detect_{video_no}.<frame>.jpg in {d}; "
            "expected the aligned_images_DB layout"
        )
    frames.sort(key=lambda t: t[0])
    out = [p for _, p in frames]
    return out if max_frames is None else out[: int(max_frames)]


# --------------------------------------------------------------------------------------- dispatch

PROTOCOL_KINDS: dict[str, str] = {
    "lfw": "LFW View 2 pairs.txt (10 folds)",
    "lfw-dev": "LFW View 1 pairsDevTrain.txt / pairsDevTest.txt (one fold)",
    "ytf": "YouTube Faces splits.txt",
    "csv": "CSV left,right,genuine[,fold] (no fold column: up to 10 folds dealt in file order)",
    "auto": "guess from the file name",
}


def _guess_kind(path: Path) -> str:
    low = path.name.lower()
    if low.endswith(".csv"):
        return "csv"
    if low.startswith("pairsdev"):
        return "lfw-dev"
    if low.startswith("splits"):
        return "ytf"
    if low.startswith("pairs"):
        return "lfw"
    raise InvalidInputError(
        f"cannot guess the protocol kind of {path.name!r}; pass one of "
        f"{', '.join(k for k in PROTOCOL_KINDS if k != 'auto')}"
    )


def load_protocol(kind: str, path: str | Path) -> PairProtocol:
    """Load a protocol file of the given kind.

    Parameters
    ----------
    kind : {"lfw", "lfw-view2", "lfw-dev", "ytf", "csv", "auto"}
    path : str or Path

    Raises
    ------
    InvalidInputError
        An unknown ``kind`` (the message lists the known ones).
    ProtocolError
        A malformed file.
    """
    path = Path(path)
    if path.is_dir():
        _read_lines(path)  # raises: a directory, with the protocol files inside it
    k = kind.strip().lower()
    if k == "auto":
        k = _guess_kind(path)
    if k in ("lfw", "lfw-view2"):
        return load_lfw_pairs(path)
    if k in ("lfw-dev", "lfw-devtrain", "lfw-devtest"):
        return load_lfw_dev_pairs(path)
    if k == "ytf":
        return load_ytf_splits(path)
    if k == "csv":
        return load_csv_pairs(path)
    raise InvalidInputError(
        f"unknown protocol kind {kind!r}; use one of {', '.join(PROTOCOL_KINDS)}"
    )


def default_lfw_pairs() -> PairProtocol:
    """The official LFW View 2 protocol, from the copy of ``pairs.txt`` shipped in the package.

    Returns
    -------
    PairProtocol
        6000 pairs, 10 folds of 300 genuine + 300 impostor.
    """
    from importlib.resources import as_file, files

    res = files("facebridge").joinpath("data", "protocols", "lfw_pairs.txt")
    with as_file(res) as p:
        return load_lfw_pairs(p)
