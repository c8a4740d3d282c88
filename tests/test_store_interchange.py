"""`facebridge store import/export`: exact round trips, provenance, and refused files."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from facebridge.cli import main
from facebridge.errors import (
    DimensionError,
    InvalidInputError,
    MissingDependencyError,
    StoreError,
)
from facebridge.experiments import cross_model_matrix, pair_data
from facebridge.protocols import PairProtocol, default_lfw_pairs
from facebridge.store import (
    EmbeddingStore,
    ImportFileError,
    default_store,
    export_embeddings,
    import_embeddings,
    read_embeddings,
)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def planted(tmp_path: Path, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    ids = [f"person-{i // 3}/img-{i % 3}.png" for i in range(30)]
    return ids, rng.standard_normal((30, 16)).astype(np.float32)


def _store_with(root: Path, ids: list[str], v: np.ndarray, model: str = "mine") -> EmbeddingStore:
    st = EmbeddingStore.create(root)
    with st.writer(model, dim=v.shape[1], weights_sha256="ab" * 32, detector="mtcnn:x") as w:
        w.add(ids, v)
    return st


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("fmt", ["parquet", "npz"])
def test_export_import_round_trip_is_bitwise(tmp_path: Path, planted, fmt: str) -> None:
    ids, v = planted
    src = _store_with(tmp_path / "a", ids, v)
    out = export_embeddings(src, "mine", tmp_path / f"mine.{fmt}")
    s = import_embeddings(tmp_path / "b", "mine", out)
    back = EmbeddingStore(tmp_path / "b").load("mine")
    assert back.ids == tuple(sorted(ids))
    np.testing.assert_array_equal(_bits(back.vectors), _bits(src.load("mine").vectors))
    man = back.manifest
    assert man["weights_sha256"] == "ab" * 32  # carried by the exported manifest
    assert man["detector"] == "mtcnn:x"
    assert man["extra"]["source"] == {
        "file": str(out.resolve()),
        "sha256": _sha(out),
        "format": fmt,
        "description": "exported facebridge model 'mine'",
    }
    assert s.n_items == 30
    assert s.dim == 16


def test_parquet_layouts(tmp_path: Path, planted) -> None:
    ids, v = planted
    flat = pa.array(v.reshape(-1), type=pa.float32())
    fixed = pa.table({"id": ids, "emb": pa.FixedSizeListArray.from_arrays(flat, 16)})
    var = pa.table({"name": ids, "emb": pa.array(v.astype(np.float64).tolist())})
    cols = pa.table({"id": ids, **{f"d{k}": v[:, k] for k in range(16)}})
    pq.write_table(fixed, tmp_path / "fixed.parquet")
    pq.write_table(var, tmp_path / "var.parquet")
    pq.write_table(cols, tmp_path / "cols.parquet")
    for name, kw in [("fixed", {}), ("var", {"id_column": "name"}), ("cols", {})]:
        got_ids, got = read_embeddings(tmp_path / f"{name}.parquet", **kw)
        assert got_ids == ids
        np.testing.assert_array_equal(_bits(got), _bits(v))


def test_npy_with_id_list_and_csv(tmp_path: Path, planted) -> None:
    ids, v = planted
    np.save(tmp_path / "v.npy", v)
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    got_ids, got = read_embeddings(tmp_path / "v.npy", ids=tmp_path / "ids.txt")
    assert got_ids == ids
    np.testing.assert_array_equal(_bits(got), _bits(v))
    # CSV: repr of a float32 read back as float64 then cast to float32 is exact
    lines = ["id," + ",".join(f"d{k}" for k in range(16))]
    lines += [
        i + "," + ",".join(repr(float(x)) for x in row) for i, row in zip(ids, v, strict=True)
    ]
    (tmp_path / "e.csv").write_text("\n".join(lines) + "\n")
    s = import_embeddings(tmp_path / "st", "mine", tmp_path / "e.csv", description="my model v2")
    back = EmbeddingStore(tmp_path / "st").load("mine")
    np.testing.assert_array_equal(_bits(back.take(ids)[0]), _bits(v))
    assert back.manifest["extra"]["source"]["description"] == "my model v2"
    assert back.manifest["detector"] == "external"
    assert back.manifest["weights_sha256"] == "unknown"
    assert s.source["format"] == "csv"


def test_same_import_twice_is_allowed_another_source_is_refused(tmp_path: Path, planted) -> None:
    ids, v = planted
    np.savez(tmp_path / "e.npz", ids=np.array(ids), vectors=v)
    import_embeddings(tmp_path / "st", "mine", tmp_path / "e.npz")
    import_embeddings(tmp_path / "st", "mine", tmp_path / "e.npz")  # a re-run
    assert len(EmbeddingStore(tmp_path / "st").load("mine")) == 30
    np.savez(tmp_path / "f.npz", ids=np.array(ids), vectors=v + 1)
    with pytest.raises(StoreError, match=r"already holds 'mine' .*import f.npz under another"):
        import_embeddings(tmp_path / "st", "mine", tmp_path / "f.npz")
    np.savez(tmp_path / "g.npz", ids=np.array(ids), vectors=v[:, :8])
    with pytest.raises(DimensionError, match=r"'mine' with dimension 16, g.npz has 8"):
        import_embeddings(tmp_path / "st", "mine", tmp_path / "g.npz")
    np.testing.assert_array_equal(EmbeddingStore(tmp_path / "st").load("mine").take(ids)[0], v)


# ------------------------------------------------------------------------------ bad files


def _bad_files(d: Path, ids: list[str], v: np.ndarray) -> list[tuple[str, dict, str]]:
    """(file, extra read arguments, expected message) for each refused input."""
    nan = v.copy()
    nan[4, 2] = np.nan
    inf = v.astype(np.float64)
    inf[7, 0] = np.inf
    big = v.astype(np.float64)
    big[1, 1] = 1e300
    zero = v.copy()
    zero[3] = 0
    dup = [*ids[:-1], ids[0]]
    np.savez(d / "nan.npz", ids=np.array(ids), vectors=nan)
    np.savez(d / "dup.npz", ids=np.array(dup), vectors=v)
    np.savez(d / "zero.npz", ids=np.array(ids), vectors=zero)
    np.savez(d / "big.npz", ids=np.array(ids), vectors=big)
    np.savez(d / "noids.npz", vectors=v)
    np.savez(d / "objids.npz", ids=np.array(ids, dtype=object), vectors=v)
    np.savez(d / "empty_rows.npz", ids=np.array([], dtype=str), vectors=np.zeros((0, 16)))
    np.savez(d / "flat.npz", ids=np.array(ids), vectors=v.reshape(-1))
    np.savez(d / "text.npz", ids=np.array(ids), vectors=np.array([ids, ids]).T)
    np.save(d / "v.npy", v)
    (d / "ids-short.txt").write_text("\n".join(ids[:-2]))
    (d / "empty.parquet").write_bytes(b"")
    (d / "junk.parquet").write_bytes(b"PAR1 not really")
    pq.write_table(pa.table({"ident": ids, "v": pa.array(v.tolist())}), d / "wrongcol.parquet")
    pq.write_table(pa.table({"id": ids, "v": pa.array(inf.tolist())}), d / "inf.parquet")
    pq.write_table(
        pa.table({"id": ids, "v": pa.array([list(r) for r in v[:-1]] + [list(v[-1, :15])])}),
        d / "ragged.parquet",
    )
    pq.write_table(
        pa.table({"id": list(range(30)), "v": pa.array(v.tolist())}), d / "intid.parquet"
    )
    pq.write_table(pa.table({"id": ids, "a": v[:, 0], "b": ids}), d / "strdim.parquet")
    (d / "header-only.csv").write_text("id,d0,d1\n")
    (d / "words.csv").write_text("id,d0,d1\na/1.jpg,0.5,zero\n")
    (d / "short.csv").write_text("id,d0,d1\na/1.jpg,0.5\n")
    (d / "noid.csv").write_text("name,d0\na/1.jpg,0.5\n")
    (d / "e.txt").write_text("a,1\n")
    return [
        ("nan.npz", {}, r"row 4 \('person-1/img-1.png'\) holds NaN or inf"),
        ("inf.parquet", {}, r"row 7 .* holds NaN or inf"),
        ("big.npz", {}, r"row 1 .* holds a value beyond float32"),
        ("zero.npz", {}, r"row 3 .* is all zeros"),
        ("dup.npz", {}, r"id 'person-0/img-0.png' appears twice \(rows 0 and 29\)"),
        ("noids.npz", {}, r"no array 'ids' of ids; arrays are \['vectors'\]"),
        ("objids.npz", {}, "object arrays, which are not read"),
        ("empty_rows.npz", {}, r"no embeddings \(shape \(0, 16\)\)"),
        ("flat.npz", {}, "vectors must be a 2-d array"),
        ("text.npz", {}, "vectors must be numbers"),
        ("v.npy", {}, "holds vectors only; give their ids with --ids"),
        ("v.npy", {"ids": d / "ids-short.txt"}, "28 ids for 30 vectors"),
        ("empty.parquet", {}, r"is empty \(0 bytes\)"),
        ("junk.parquet", {}, "not a readable Parquet file"),
        ("wrongcol.parquet", {}, r"no id column 'id'; columns are \['ident', 'v'\]"),
        ("wrongcol.parquet", {"id_column": "ident", "vector_column": "w"}, "no vector column 'w'"),
        ("ragged.parquet", {}, r"row 29 .* has 15 values, row 0 has 16"),
        ("intid.parquet", {}, "id column 'id' must hold strings, got int64"),
        ("strdim.parquet", {}, "column 'b' is string, expected one numeric column per dimension"),
        ("header-only.csv", {}, r"no embeddings \(shape \(0, 2\)\)"),
        ("words.csv", {}, r"words.csv:2: expected a number, got 'zero'"),
        ("short.csv", {}, "short.csv:2: expected 3 fields like the header, got 2"),
        ("noid.csv", {}, "no id column 'id' in the header"),
        ("e.txt", {}, "cannot tell the format of 'e.txt'"),
        ("missing.npz", {}, "not found"),
    ]


def test_bad_files_are_refused_with_one_line_and_nothing_written(tmp_path: Path, planted) -> None:
    ids, v = planted
    d = tmp_path / "files"
    d.mkdir()
    cases = _bad_files(d, ids, v)
    assert len(cases) >= 8
    store = tmp_path / "store"
    for name, kw, match in cases:
        with pytest.raises(ImportFileError, match=match) as info:
            import_embeddings(store, "mine", d / name, **kw)
        assert "\n" not in str(info.value), name
        assert _files(store) == [], f"{name} left {_files(store)}"


def test_refused_file_leaves_an_existing_store_as_it_was(tmp_path: Path, planted) -> None:
    ids, v = planted
    st = _store_with(tmp_path / "st", ids, v, model="sface")
    before = {p: _sha(tmp_path / "st" / p) for p in _files(tmp_path / "st") if "." in p}
    bad = v.copy()
    bad[0, 0] = np.inf
    np.savez(tmp_path / "bad.npz", ids=np.array(ids), vectors=bad)
    with pytest.raises(ImportFileError):
        import_embeddings(st, "mine", tmp_path / "bad.npz")
    after = {p: _sha(tmp_path / "st" / p) for p in _files(tmp_path / "st") if "." in p}
    assert after == before
    assert st.models() == ["sface"]


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, planted, monkeypatch) -> None:
    ids, v = planted
    st = _store_with(tmp_path / "st", ids, v)
    for mod in ("pyarrow", "pyarrow.parquet", "pyarrow.compute"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'facebridge\[arrow\]'"):
        export_embeddings(st, "mine", tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_export_refuses_unknown_format_and_model(tmp_path: Path, planted) -> None:
    ids, v = planted
    st = _store_with(tmp_path / "st", ids, v)
    with pytest.raises(InvalidInputError, match="export format must be one of parquet, npz"):
        export_embeddings(st, "mine", tmp_path / "x.csv")
    with pytest.raises(StoreError, match=r"model 'mien' not in store .*did you mean 'mine'"):
        export_embeddings(st, "mien", tmp_path / "x.npz")


# ------------------------------------------------------------------------------ CLI


def test_cli_import_export(tmp_path: Path, planted, capsys) -> None:
    ids, v = planted
    np.save(tmp_path / "v.npy", v)
    (tmp_path / "ids.txt").write_text("\n".join(ids))
    rc = main(["store", "import", str(tmp_path / "v.npy"), "--ids", str(tmp_path / "ids.txt"),
               "--store", str(tmp_path / "st"), "--model", "mine",
               "--description", "MyFace v1, 112x112 ArcFace crop"])  # fmt: skip
    assert rc == 0
    assert "imported 30 embeddings of dimension 16 as 'mine'" in capsys.readouterr().out
    rc = main(["store", "export", "--store", str(tmp_path / "st"), "--model", "mine",
               "--out", str(tmp_path / "mine.parquet")])  # fmt: skip
    assert rc == 0
    table = pq.read_table(tmp_path / "mine.parquet")
    assert table.column_names == ["id", "vector"]
    assert table.schema.field("vector").type == pa.list_(pa.float32(), 16)
    assert b"MyFace v1" in table.schema.metadata[b"facebridge.manifest"]
    rc = main(["store", "import", str(tmp_path / "ids.txt"), "--store", str(tmp_path / "st"),
               "--model", "other"])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("facebridge: error: cannot tell the format of 'ids.txt'")
    assert "\n" not in err


# ------------------------------------------------------------------------------ real data


def _small_protocol(n_per_fold: int = 40) -> PairProtocol:
    full = default_lfw_pairs()
    keep = []
    for f in range(full.n_folds):
        fold = [p for p in full.pairs if p.fold == f]
        keep += [p for p in fold if p.genuine][:n_per_fold]
        keep += [p for p in fold if not p.genuine][:n_per_fold]
    return PairProtocol("lfw-small", tuple(keep), full.n_folds)


@pytest.mark.realdata
@pytest.mark.parametrize("fmt", ["parquet", "npz"])
def test_shipped_store_round_trip_gives_the_same_matrix(tmp_path: Path, fmt: str) -> None:
    shipped = default_store()
    models = ["sface", "facenet-ms1m"]
    for m in models:
        f = export_embeddings(shipped, m, tmp_path / f"{m}.{fmt}")
        import_embeddings(tmp_path / "imported", m, f)
    imported = EmbeddingStore(tmp_path / "imported")
    for m in models:
        a, b = shipped.load(m), imported.load(m)
        assert a.ids == b.ids
        assert len(a) == 7701
        np.testing.assert_array_equal(_bits(a.vectors), _bits(b.vectors))
    proto = _small_protocol()
    before = cross_model_matrix(pair_data(shipped, proto, models), n_jobs=1)
    after = cross_model_matrix(pair_data(imported, proto, models), n_jobs=1)
    np.testing.assert_array_equal(before.table(), after.table())
    for key, acc in before.mapped.items():
        np.testing.assert_array_equal(acc.per_fold, after.mapped[key].per_fold)
        np.testing.assert_array_equal(before.oof_scores[key], after.oof_scores[key])
    assert 0.9 < before.native["sface"].mean <= 1.0


def test_own_embeddings_path_end_to_end(tmp_path: Path, rng: np.random.Generator, capsys) -> None:
    """Embeddings made elsewhere: import two files, make pairs over their ids, evaluate."""
    people = [f"person-{k:03d}" for k in range(120)]
    ids = [f"{p}/photo-{j}.jpg" for p in people for j in range(4)]
    centres = rng.standard_normal((len(people), 24))
    ref = np.repeat(centres, 4, axis=0) + 0.35 * rng.standard_normal((len(ids), 24))
    w = rng.standard_normal((24, 40))
    mine = ref @ w + 0.01 * rng.standard_normal((len(ids), 40))  # a linear image of ref
    pq.write_table(pa.table({"id": ids, "emb": pa.array(mine.tolist())}), tmp_path / "mine.parquet")
    np.savez(tmp_path / "ref.npz", ids=np.array(ids), vectors=ref)
    store = tmp_path / "store"
    for key, f in (("mine", "mine.parquet"), ("ref", "ref.npz")):
        assert (
            main(["store", "import", str(tmp_path / f), "--store", str(store), "--model", key]) == 0
        )
    images = tmp_path / "photos"  # the photo tree the ids name (contents unused here)
    for i in ids:
        (images / i).parent.mkdir(parents=True, exist_ok=True)
        (images / i).write_bytes(b"")
    pairs = tmp_path / "pairs.csv"
    argv = ["pairs", "make", "--images", str(images), "--folds", "5", "--genuine", "60",
            "--impostor", "60", "--out", str(pairs)]  # fmt: skip
    assert main(argv) == 0
    out = tmp_path / "report"
    argv = ["evaluate", "--store", str(store), "--protocol", "csv", "--pairs", str(pairs),
            "--quick", "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["native"]) == {"mine", "ref"}
    assert len(res["native"]["mine"]["per_fold"]) == 5
    for row in res["matrix"]:
        assert row["accuracy"] > 0.9, row  # the planted linear relation is found both ways
    assert (out / "report.html").is_file()
