"""`make_pairs` / `facebridge pairs make`: protocol invariants, determinism, CSV round trip."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facebridge.cli import main
from facebridge.errors import InvalidInputError
from facebridge.extract import list_images
from facebridge.protocols import (
    FewerPairsWarning,
    PairProtocol,
    folder_identity,
    load_csv_pairs,
    load_protocol,
    make_pairs,
    write_csv_pairs,
)


def _tree(sizes: dict[str, int]) -> list[str]:
    return [f"{who}/img-{k}.png" for who, n in sizes.items() for k in range(n)]


def _check_invariants(proto: PairProtocol) -> None:
    seen: set[frozenset[str]] = set()
    fold_of: dict[str, int] = {}
    for p in proto.pairs:
        assert p.left != p.right, "self-pair"
        assert p.left < p.right
        key = frozenset((p.left, p.right))
        assert key not in seen, f"duplicate pair {p}"
        seen.add(key)
        same = folder_identity(p.left) == folder_identity(p.right)
        assert same == p.genuine
        for item in (p.left, p.right):
            who = folder_identity(item)
            assert fold_of.setdefault(who, p.fold) == p.fold, f"{who} in two folds"


def test_full_counts_and_invariants() -> None:
    items = _tree({f"person-{i:02d}": 2 + i % 7 for i in range(60)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewerPairsWarning)
        proto = make_pairs(items, n_folds=4, n_genuine=20, n_impostor=30, seed=3)
    assert proto.n_folds == 4
    assert proto.fold_counts() == [(20, 30)] * 4
    _check_invariants(proto)


def test_genuine_pairs_are_spread_over_identities() -> None:
    # one identity with 200 images could give every genuine pair of its fold alone
    sizes = {"big": 200, **{f"p{i}": 3 for i in range(19)}}
    proto = make_pairs(_tree(sizes), n_folds=2, n_genuine=20, n_impostor=5, seed=0)
    for f in range(2):
        per = Counter(folder_identity(p.left) for p in proto.pairs if p.genuine and p.fold == f)
        assert max(per.values()) - min(per.values()) <= 1


def test_deterministic_and_independent_of_input_order() -> None:
    items = _tree({f"x{i}": 1 + i % 4 for i in range(40)})
    a = make_pairs(items, n_folds=5, n_genuine=5, n_impostor=8, seed=11)
    b = make_pairs(list(reversed(items)), n_folds=5, n_genuine=5, n_impostor=8, seed=11)
    c = make_pairs(items, n_folds=5, n_genuine=5, n_impostor=8, seed=12)
    assert a.pairs == b.pairs
    assert a.pairs != c.pairs


def test_singletons_give_impostors_only_and_shortfall_is_warned() -> None:
    sizes = {**{f"pair{i}": 2 for i in range(4)}, **{f"solo{i}": 1 for i in range(8)}}
    with pytest.warns(FewerPairsWarning, match=r"made 4 genuine \+ \d+ impostor pairs of the 600"):
        proto = make_pairs(_tree(sizes), n_folds=2, seed=0)
    _check_invariants(proto)
    assert sum(p.genuine for p in proto.pairs) == 4  # each 2-image folder gives exactly one
    for p in proto.pairs:
        if p.genuine:
            assert folder_identity(p.left).startswith("pair")
    # every impostor pair a fold can give is made (6 identities x 2 or 1 images per fold)
    for f, (_, n_imp) in enumerate(proto.fold_counts()):
        groups = Counter(folder_identity(i) for i in proto.items() if _fold(proto, i) == f)
        n = sum(groups.values())
        assert n_imp == (n * n - sum(v * v for v in groups.values())) // 2


def _fold(proto: PairProtocol, item: str) -> int:
    return next(p.fold for p in proto.pairs if item in (p.left, p.right))


def test_items_at_the_root_are_left_out_with_a_warning() -> None:
    items = [*_tree({f"p{i}": 3 for i in range(6)}), "stray.jpg"]
    with pytest.warns(FewerPairsWarning, match="1 image.* at the root"):
        proto = make_pairs(items, n_folds=2, n_genuine=2, n_impostor=2)
    assert "stray.jpg" not in proto.items()


def test_nested_folders_are_identities() -> None:
    items = _tree({f"2024/p{i}": 2 for i in range(4)}) + _tree({f"2025/p{i}": 2 for i in range(4)})
    proto = make_pairs(items, n_folds=2, n_genuine=2, n_impostor=3)
    _check_invariants(proto)
    assert all(folder_identity(p.left).count("/") == 1 for p in proto.pairs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_folds": 1}, "n_folds must be an integer >= 2"),
        ({"n_genuine": 0}, "n_genuine must be an integer >= 1"),
        ({"n_impostor": -3}, "n_impostor must be an integer >= 1"),
        ({"n_folds": True}, "n_folds must be an integer"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"n_folds": 10}, "10 folds need at least 20 identity folders .* found 6"),
    ],
)
def test_bad_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        make_pairs(_tree({f"p{i}": 2 for i in range(6)}), **kwargs)


def test_csv_round_trip(tmp_path: Path) -> None:
    proto = make_pairs(_tree({f"p{i}": 1 + i % 5 for i in range(30)}), 3, 7, 9, seed=1)
    out = write_csv_pairs(proto, tmp_path / "mine.csv")
    back = load_protocol("auto", out)
    assert back.pairs == proto.pairs
    assert back.n_folds == proto.n_folds
    assert [p.name for p in tmp_path.iterdir()] == ["mine.csv"]  # no temp file left


def test_ids_with_commas_and_quotes_round_trip(tmp_path: Path) -> None:
    proto = make_pairs(_tree({f'Doe, "J" {i}': 2 for i in range(4)}), 2, 1, 1)
    back = load_csv_pairs(write_csv_pairs(proto, tmp_path / "x.csv"))
    assert back.pairs == proto.pairs


def test_write_refuses_ids_a_csv_cannot_hold(tmp_path: Path) -> None:
    proto = make_pairs(_tree({f"p\n{i}": 2 for i in range(4)}), 2, 1, 1)
    with pytest.raises(InvalidInputError, match="line break or edge space"):
        write_csv_pairs(proto, tmp_path / "x.csv")
    assert not list(tmp_path.iterdir())


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=6, max_size=30),
    n_folds=st.integers(2, 3),
    n_gen=st.integers(1, 12),
    n_imp=st.integers(1, 12),
    seed=st.integers(0, 2**31),
)
def test_invariants_hold_for_any_tree(sizes, n_folds, n_gen, n_imp, seed) -> None:
    items = _tree({f"id{i}": n for i, n in enumerate(sizes)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewerPairsWarning)
        proto = make_pairs(items, n_folds, n_gen, n_imp, seed=seed)
    _check_invariants(proto)
    for g, i in proto.fold_counts():
        assert g <= n_gen
        assert i <= n_imp


def test_cli_pairs_make_ids_match_extraction(tmp_path: Path, capsys) -> None:
    root = tmp_path / "photos"
    for who, n in {**{f"Person {i}": 3 for i in range(8)}, "Solo": 1}.items():
        (root / who).mkdir(parents=True)
        for k in range(n):
            (root / who / f"IMG_{k}.JPG").write_bytes(b"")
    (root / "Person 0" / "notes.txt").write_text("not an image")
    out = tmp_path / "pairs.csv"
    rc = main(["pairs", "make", "--images", str(root), "--folds", "3", "--genuine", "3",
               "--impostor", "50", "--out", str(out)])  # fmt: skip
    assert rc == 0
    err = capsys.readouterr()
    assert "facebridge: warning: made 9 genuine" in err.err
    assert "wrote" in err.out
    proto = load_csv_pairs(out)
    assert set(proto.items()) <= set(list_images(root))
    assert proto.n_folds == 3
    _check_invariants(proto)


def test_cli_pairs_make_error_is_one_line(tmp_path: Path, capsys) -> None:
    rc = main(
        ["pairs", "make", "--images", str(tmp_path / "none"), "--out", str(tmp_path / "p.csv")]
    )
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "does not exist" in err


@pytest.mark.realdata
def test_lfw_names_give_full_lfw_sized_folds(lfw_dir: Path) -> None:
    items = []
    for line in (lfw_dir / "lfw-names.txt").read_text().splitlines():
        name, n = line.split()
        items += [f"{name}/{name}_{k:04d}.jpg" for k in range(1, int(n) + 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewerPairsWarning)
        proto = make_pairs(items, seed=0)
    assert len(items) == 13233
    assert proto.fold_counts() == [(300, 300)] * 10
    _check_invariants(proto)
    # spread: no person gives more than a few of a fold's 300 genuine pairs
    per = Counter((p.fold, folder_identity(p.left)) for p in proto.pairs if p.genuine)
    assert max(per.values()) <= 5
