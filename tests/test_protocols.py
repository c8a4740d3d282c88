from __future__ import annotations

import hashlib
import posixpath
from collections import Counter
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facebridge.errors import InvalidInputError, ProtocolError
from facebridge.protocols import (
    LFW_PAIRS_MD5,
    Pair,
    PairProtocol,
    default_lfw_pairs,
    load_csv_pairs,
    load_lfw_dev_pairs,
    load_lfw_pairs,
    load_protocol,
    load_ytf_splits,
    ytf_video_frames,
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _identities_per_fold(proto: PairProtocol) -> list[set[str]]:
    out: list[set[str]] = [set() for _ in range(proto.n_folds)]
    for p in proto:
        out[p.fold].update({p.left.split("/")[0], p.right.split("/")[0]})
    return out


# ------------------------------------------------------------------------------- packaged + real


def test_packaged_pairs_is_the_official_file() -> None:
    data = files("facebridge").joinpath("data", "protocols", "lfw_pairs.txt").read_bytes()
    assert hashlib.md5(data).hexdigest() == LFW_PAIRS_MD5


def test_default_lfw_pairs_counts() -> None:
    p = default_lfw_pairs()
    assert p.name == "lfw-view2"
    assert len(p) == 6000
    assert p.n_folds == 10
    assert p.fold_counts() == [(300, 300)] * 10
    assert len(p.items()) == 7701
    assert p.pairs[0] == Pair(
        "Abel_Pacheco/Abel_Pacheco_0001.jpg", "Abel_Pacheco/Abel_Pacheco_0004.jpg", True, 0
    )
    # genuine pairs come first in each fold, and fold ids are in file order
    g, f = p.genuine_array(), p.fold_array()
    assert g.dtype == bool
    assert np.all(np.diff(f) >= 0)
    assert g[:300].all()
    assert not g[300:600].any()


@pytest.mark.realdata
def test_real_pairs_txt_equals_packaged(lfw_dir: Path) -> None:
    real = load_lfw_pairs(lfw_dir / "pairs.txt")
    assert real == default_lfw_pairs()


@pytest.mark.realdata
def test_lfw_view2_folds_are_identity_disjoint(lfw_dir: Path) -> None:
    proto = load_lfw_pairs(lfw_dir / "pairs.txt")
    counts = Counter(n for s in _identities_per_fold(proto) for n in s)
    assert len(counts) == 4281
    assert max(counts.values()) == 1  # no person appears in two folds


@pytest.mark.realdata
def test_real_items_exist_on_disk(lfw_dir: Path) -> None:
    proto = load_lfw_pairs(lfw_dir / "pairs.txt")
    root = lfw_dir / "lfw-deepfunneled"
    if not root.is_dir():
        pytest.skip(f"LFW images absent under {root}")
    missing = [i for i in proto.items() if not (root / i).is_file()]
    assert missing == []


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("fname", "n", "name"),
    [("pairsDevTrain.txt", 1100, "lfw-devtrain"), ("pairsDevTest.txt", 500, "lfw-devtest")],
)
def test_real_dev_pairs(lfw_dir: Path, fname: str, n: int, name: str) -> None:
    p = load_lfw_dev_pairs(lfw_dir / fname)
    assert p.name == name
    assert p.n_folds == 1
    assert p.fold_counts() == [(n, n)]
    assert all(q.left.split("/")[0] == q.right.split("/")[0] for q in p if q.genuine)
    assert all(q.left.split("/")[0] != q.right.split("/")[0] for q in p if not q.genuine)


@pytest.mark.realdata
def test_real_ytf_splits(data_dir: Path) -> None:
    path = data_dir / "ytf" / "splits.txt"
    if not path.is_file():
        pytest.skip(f"YTF splits.txt absent at {path}")
    p = load_ytf_splits(path)
    assert len(p) == 5000
    assert p.n_folds == 10
    assert p.fold_counts() == [(250, 250)] * 10
    assert p.pairs[0] == Pair("Sadie_Frost/1", "Sadie_Frost/5", True, 0)
    assert p.pairs[-1] == Pair("Ben_Curtis/0", "Hank_Stram/4", False, 9)
    counts = Counter(n for s in _identities_per_fold(p) for n in s)
    assert max(counts.values()) == 1  # YTF splits are identity-disjoint too


@pytest.mark.realdata
def test_tiny_fixture_pairs(tiny_lfw_dir: Path) -> None:
    p = load_protocol("auto", tiny_lfw_dir / "pairs_tiny.txt")
    assert p.fold_counts() == [(10, 10)]
    missing = [i for i in p.items() if not (tiny_lfw_dir / "images" / i).is_file()]
    assert missing == []


# ------------------------------------------------------------------------------- synthetic files

GOOD_LFW = (
    "2\t2\nA\t1\t2\nB\t1\t3\nA\t1\tC\t2\nB\t2\tD\t1\nE\t1\t2\nF\t3\t4\nE\t1\tG\t1\nF\t2\tH\t10\n"
)


def test_lfw_pairs_small(tmp_path: Path) -> None:
    p = load_lfw_pairs(_write(tmp_path, "pairs.txt", GOOD_LFW))
    assert p.n_folds == 2
    assert p.fold_counts() == [(2, 2), (2, 2)]
    assert p.pairs[3] == Pair("B/B_0002.jpg", "D/D_0001.jpg", False, 0)
    assert p.pairs[7] == Pair("F/F_0002.jpg", "H/H_0010.jpg", False, 1)
    assert p.fold_array().tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


def test_lfw_pairs_tolerates_trailing_blank_lines_and_crlf(tmp_path: Path) -> None:
    text = GOOD_LFW.replace("\n", "\r\n") + "\r\n\r\n"
    assert load_lfw_pairs(_write(tmp_path, "p.txt", text)) == load_lfw_pairs(
        _write(tmp_path, "q.txt", GOOD_LFW)
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"p\.txt: file is empty"),
        ("10\n", r"p\.txt:1: expected header 'n_folds<TAB>n_per_fold'"),
        ("x\t2\n", r"p\.txt:1: expected header"),
        (
            "2\t2\nA\t1\t2\n",
            r"header promises 2 folds x \(2 matched \+ 2 mismatched\) = 8 pair lines, found 1",
        ),
        (
            GOOD_LFW.replace("B\t1\t3", "B\t1\tX\t3"),
            r"p\.txt:3: expected a matched pair .*matched pair 2 of 2 in fold 1",
        ),
        (
            GOOD_LFW.replace("E\t1\tG\t1", "E\t1\t1"),
            r"p\.txt:8: expected a mismatched pair .*fold 2",
        ),
        (
            GOOD_LFW.replace("A\t1\t2", "A\tone\t2"),
            r"p\.txt:2: expected image number i as a positive integer, got 'one'",
        ),
        (
            GOOD_LFW.replace("A\t1\t2", "A\t1\t0"),
            r"p\.txt:2: expected image number j as a positive integer, got '0'",
        ),
        (
            GOOD_LFW.replace("A\t1\t2", "A\t2\t2"),
            r"p\.txt:2: matched pair uses the same image twice",
        ),
        (
            GOOD_LFW.replace("A\t1\tC\t2", "A\t1\tA\t2"),
            r"p\.txt:4: mismatched pair names the same person",
        ),
    ],
)
def test_lfw_pairs_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        load_lfw_pairs(_write(tmp_path, "p.txt", text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match=r"protocol file not found: .*nope\.txt"):
        load_lfw_pairs(tmp_path / "nope.txt")


def test_binary_file(tmp_path: Path) -> None:
    p = tmp_path / "b.txt"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProtocolError, match=r"b\.txt: not UTF-8 text"):
        load_lfw_pairs(p)


def test_dev_pairs_small_and_errors(tmp_path: Path) -> None:
    p = load_lfw_dev_pairs(_write(tmp_path, "pairsDevTrain.txt", "1\nA\t1\t2\nA\t1\tB\t1\n"))
    assert p.name == "lfw-devtrain"
    assert p.pairs == (
        Pair("A/A_0001.jpg", "A/A_0002.jpg", True, 0),
        Pair("A/A_0001.jpg", "B/B_0001.jpg", False, 0),
    )
    with pytest.raises(ProtocolError, match=r"d\.txt:1: expected header 'N'"):
        load_lfw_dev_pairs(_write(tmp_path, "d.txt", "10\t300\n"))
    with pytest.raises(
        ProtocolError, match=r"promises 2 matched \+ 2 mismatched = 4 pair lines, found 2"
    ):
        load_lfw_dev_pairs(_write(tmp_path, "d.txt", "2\nA\t1\t2\nA\t1\tB\t1\n"))
    with pytest.raises(ProtocolError, match=r"d\.txt:3: expected a mismatched pair"):
        load_lfw_dev_pairs(_write(tmp_path, "d.txt", "1\nA\t1\t2\nA\t1\t3\n"))


YTF = "split number, pair number in split, first name, second name, is same:\n1, 1, A/0, A/1, 1\n1, 2, A/0, B/3, 0\n2, 1, C/0, C/2, 1\n2, 2, C/0, D/0, 0\n"


def test_ytf_small(tmp_path: Path) -> None:
    p = load_ytf_splits(_write(tmp_path, "splits.txt", YTF))
    assert p.n_folds == 2
    assert p.pairs[1] == Pair("A/0", "B/3", False, 0)
    assert p.fold_array().tolist() == [0, 0, 1, 1]
    # the header is optional
    headless = YTF.split("\n", 1)[1]
    assert load_ytf_splits(_write(tmp_path, "s2.txt", headless)).pairs == p.pairs


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("1, 3, A/0, A/1\n", r"s\.txt:6: expected 5 comma-separated fields"),
        ("1, 3, A, A/1, 1\n", r"s\.txt:6: expected a video id 'Name/video_no'.*got 'A'"),
        ("1, 3, A/0, A/1, yes\n", r"s\.txt:6: expected is_same 0 or 1, got 'yes'"),
        ("1, 2, A/0, A/1, 1\n", r"s\.txt:6: split 1 pair 2 already given on line 3"),
        ("x, 3, A/0, A/1, 1\n", r"s\.txt:6: expected split number as a positive integer"),
        ("4, 1, A/0, A/1, 1\n", r"split numbers must run 1\.\.K without gaps, missing \[3\]"),
    ],
)
def test_ytf_errors(tmp_path: Path, bad: str, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        load_ytf_splits(_write(tmp_path, "s.txt", YTF + bad))


def test_ytf_header_only(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match=r"no pair rows after the header"):
        load_ytf_splits(_write(tmp_path, "s.txt", YTF.split("\n")[0] + "\n"))


def test_csv_with_header_and_folds(tmp_path: Path) -> None:
    text = "left,right,genuine,fold\na.jpg,b.jpg,1,0\na.jpg,c.jpg,different,1\nb.jpg,d.jpg,TRUE,1\n"
    p = load_csv_pairs(_write(tmp_path, "mine.csv", text))
    assert p.name == "csv:mine.csv"
    assert p.n_folds == 2
    assert p.genuine_array().tolist() == [True, False, True]
    assert p.fold_array().tolist() == [0, 1, 1]
    assert p.items() == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]


def test_csv_without_header_or_folds(tmp_path: Path) -> None:
    text = "x/1.jpg, x/2.jpg, same\nx/1.jpg, y/1.jpg, false\nx/1.jpg,z/1.jpg,0\n"
    p = load_csv_pairs(_write(tmp_path, "p.csv", text))
    assert p.n_folds == 1
    assert p.pairs[0] == Pair("x/1.jpg", "x/2.jpg", True, 0)
    assert p.genuine_array().tolist() == [True, False, False]
    assert load_protocol("auto", tmp_path / "p.csv") == p


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("left,right,genuine\n", r"c\.csv: no pair rows"),
        ("a,b\n", r"c\.csv:1: expected 3 or 4 columns 'left,right,genuine\[,fold\]', got 2"),
        (
            "a,b,1\nc,d,maybe\n",
            r"c\.csv:2: expected genuine as 1/0, true/false, same/different or yes/no, got 'maybe'",
        ),
        ("a,b,1,0\nc,d,0\n", r"c\.csv:2: expected 4 columns like the rows above, got 3"),
        ("a,,1\n", r"c\.csv:1: empty item id"),
        ("a,b,1,x\n", r"c\.csv:1: expected fold as a non-negative integer \(0-based\), got 'x'"),
        ("a,b,1,1\nc,d,0,2\n", r"folds must be 0-based and cover 0\.\.K-1, got \[1, 2\]; renumber"),
    ],
)
def test_csv_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        load_csv_pairs(_write(tmp_path, "c.csv", text))


def test_load_protocol_dispatch(tmp_path: Path) -> None:
    lfw = _write(tmp_path, "pairs.txt", GOOD_LFW)
    assert load_protocol("lfw", lfw) == load_lfw_pairs(lfw)
    assert load_protocol("auto", lfw) == load_lfw_pairs(lfw)
    ytf = _write(tmp_path, "splits.txt", YTF)
    assert load_protocol("YTF", ytf) == load_ytf_splits(ytf)
    dev = _write(tmp_path, "pairsDevTest.txt", "1\nA\t1\t2\nA\t1\tB\t1\n")
    assert load_protocol("auto", dev).name == "lfw-devtest"
    with pytest.raises(InvalidInputError, match=r"unknown protocol kind 'lfw2'; use one of lfw, "):
        load_protocol("lfw2", lfw)
    with pytest.raises(InvalidInputError, match=r"cannot guess the protocol kind of 'foo\.dat'"):
        load_protocol("auto", tmp_path / "foo.dat")


def test_pair_protocol_validates_folds() -> None:
    with pytest.raises(InvalidInputError, match=r"folds must lie in 0\.\.1, got 2"):
        PairProtocol("x", (Pair("a", "b", True, 2),), 2)
    with pytest.raises(InvalidInputError, match=r"n_folds must be >= 1"):
        PairProtocol("x", (), 0)
    p = PairProtocol("x", [Pair("a", "b", True, 0)], 1)  # type: ignore[arg-type]
    assert isinstance(p.pairs, tuple)
    with pytest.raises(AttributeError):
        p.pairs[0].fold = 1  # type: ignore[misc]


# ------------------------------------------------------------------------------- YTF frames


def _make_video(root: Path, video_id: str, frames: list[int]) -> Path:
    d = root / video_id
    d.mkdir(parents=True)
    no = video_id.rsplit("/", 1)[1]
    for f in frames:
        (d / f"aligned_detect_{no}.{f}.jpg").write_bytes(b"x")
    return d


def test_ytf_frames_numeric_order_and_limit(tmp_path: Path) -> None:
    d = _make_video(tmp_path, "Sadie_Frost/1", [10, 9, 100, 2, 55, 1])
    (d / "notes.txt").write_text("ignored")
    (d / "aligned_detect_7.3.jpg").write_bytes(b"x")  # another video's name: ignored
    got = ytf_video_frames(tmp_path, "Sadie_Frost/1", max_frames=4)
    assert [p.name for p in got] == [f"aligned_detect_1.{f}.jpg" for f in (1, 2, 9, 10)]
    assert len(ytf_video_frames(tmp_path, "Sadie_Frost/1", max_frames=None)) == 6
    assert len(ytf_video_frames(tmp_path, "Sadie_Frost/1")) == 6
    assert len(ytf_video_frames(tmp_path, "Sadie_Frost/1", max_frames=np.int64(2))) == 2


def test_ytf_frames_default_takes_first_100(tmp_path: Path) -> None:
    _make_video(tmp_path, "A/0", list(range(500, 650)))
    got = ytf_video_frames(tmp_path, "A/0")
    assert len(got) == 100
    assert got[0].name == "aligned_detect_0.500.jpg"
    assert got[-1].name == "aligned_detect_0.599.jpg"


def test_ytf_frames_errors(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match=r"YTF video directory not found: .*B/3"):
        ytf_video_frames(tmp_path, "B/3")
    (tmp_path / "C" / "0").mkdir(parents=True)
    with pytest.raises(
        ProtocolError, match=r"no frames named aligned_detect_0\.<frame>\.jpg in .*C/0"
    ):
        ytf_video_frames(tmp_path, "C/0")
    with pytest.raises(ProtocolError, match=r"expected a video id 'Name/video_no'"):
        ytf_video_frames(tmp_path, "C")
    with pytest.raises(InvalidInputError, match=r"max_frames must be a positive integer"):
        ytf_video_frames(tmp_path, "C/0", max_frames=0)
    with pytest.raises(InvalidInputError, match=r"max_frames must be a positive integer"):
        ytf_video_frames(tmp_path, "C/0", max_frames=2.5)  # type: ignore[arg-type]


_NAME = st.text(alphabet="abcXYZ_/.0123456789-", min_size=1, max_size=12).filter(
    lambda s: s.strip() == s
)


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(
        st.tuples(_NAME, _NAME, st.booleans(), st.integers(0, 3)).filter(
            lambda r: posixpath.normpath(r[0]) != posixpath.normpath(r[1])
        ),
        min_size=1,
        max_size=20,
    ),
    header=st.booleans(),
    words=st.sampled_from([("1", "0"), ("true", "false"), ("same", "different"), ("TRUE", "No")]),
)
def test_csv_roundtrip(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[str, str, bool, int]],
    header: bool,
    words: tuple[str, str],
) -> None:
    """Whatever pairs we write as CSV load back identically (folds renumbered densely)."""
    used = sorted({f for *_, f in rows})
    dense = {f: k for k, f in enumerate(used)}
    lines = ["left,right,genuine,fold"] if header else []
    lines += [f"{a},{b},{words[0] if g else words[1]},{dense[f]}" for a, b, g, f in rows]
    path = tmp_path_factory.mktemp("csv") / "p.csv"
    path.write_text("\n".join(lines) + "\n")
    p = load_csv_pairs(path)
    assert p.n_folds == len(used)
    assert [(q.left, q.right, q.genuine, q.fold) for q in p] == [
        (a, b, g, dense[f]) for a, b, g, f in rows
    ]


# ------------------------------------------------------------------------------ degenerate input


def test_directory_given_as_protocol_names_the_files_inside(tmp_path: Path) -> None:
    _write(tmp_path, "pairs.txt", "1\t1\na\t1\t2\nb\t1\tc\t1\n")
    with pytest.raises(
        ProtocolError, match=r"is a directory, not a protocol file; it holds pairs\.txt: pass one"
    ):
        load_protocol("lfw", tmp_path)
    with pytest.raises(ProtocolError, match=r"is a directory, not a protocol file"):
        load_protocol("auto", tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ProtocolError, match=r"is a directory.*pass the pairs file itself"):
        load_csv_pairs(empty)


@pytest.mark.parametrize("row", ["a/1.jpg,a/1.jpg,1", "a/1.jpg,./a/1.jpg,0", "x.jpg , x.jpg, same"])
def test_csv_pair_of_an_image_with_itself_is_refused(tmp_path: Path, row: str) -> None:
    path = _write(tmp_path, "p.csv", f"left,right,genuine\na/1.jpg,a/2.jpg,1\n{row}\n")
    with pytest.raises(ProtocolError, match=r"p\.csv:3: pair compares .* with itself") as e:
        load_csv_pairs(path)
    assert "\n" not in str(e.value)


def test_ytf_pair_of_a_video_with_itself_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "splits.txt", "1, 1, A/1, A/2, 1\n1, 2, B/3, B/3, 1\n")
    with pytest.raises(
        ProtocolError, match=r"splits\.txt:2: pair compares video 'B/3' with itself"
    ):
        load_ytf_splits(path)


def test_csv_without_folds_is_dealt_into_balanced_folds(tmp_path: Path) -> None:
    from facebridge.metrics.verification import kfold_accuracy

    rows = [f"g{k}/1.jpg,g{k}/2.jpg,1" for k in range(25)]
    rows += [f"g{k}/1.jpg,g{k + 1}/1.jpg,0" for k in range(24)]
    path = _write(tmp_path, "p.csv", "\n".join(rows) + "\n")
    p = load_csv_pairs(path)
    assert p.n_folds == 10
    assert p == load_csv_pairs(path)  # deterministic
    counts = p.fold_counts()
    assert all(g >= 2 and i >= 2 for g, i in counts)
    assert sum(g for g, _ in counts) == 25
    assert p.fold_array()[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert load_csv_pairs(path, n_folds=3).n_folds == 3
    # such a protocol can be evaluated (k-fold accuracy needs >= 2 folds)
    scores = np.where(p.genuine_array(), 0.9, 0.1)
    assert kfold_accuracy(scores, p.genuine_array(), p.fold_array()).mean == 1.0
    with pytest.raises(InvalidInputError, match="n_folds must be a positive integer"):
        load_csv_pairs(path, n_folds=0)


def test_header_errors_name_the_option_not_a_function(tmp_path: Path) -> None:
    with pytest.raises(
        ProtocolError, match=r"use the kind 'lfw-dev' \(--pairs-kind lfw-dev\)"
    ) as e:
        load_lfw_pairs(_write(tmp_path, "pairs.txt", "300\na\t1\t2\n"))
    assert "load_" not in str(e.value)
    with pytest.raises(ProtocolError, match=r"use the kind 'lfw' \(--pairs-kind lfw\)") as e:
        load_lfw_dev_pairs(_write(tmp_path, "pairsDevTest.txt", "10\t300\n"))
    assert "load_" not in str(e.value)
