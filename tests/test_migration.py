"""Gallery migration: artifact round trip, streaming apply, bad input, fold safety, protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest

import facebridge.experiments.migration as mig
from facebridge.app.migrate import apply_migration, fit_migration_map
from facebridge.cli import main
from facebridge.errors import DimensionError, StoreError
from facebridge.experiments.migration import evaluate_migration, identity_folds, summarize
from facebridge.maps.artifact import load_map, save_map
from facebridge.store import EmbeddingStore

SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64


def _ids(n_people: int, per: int) -> list[str]:
    return [f"P{p:03d}/P{p:03d}_{k:04d}.jpg" for p in range(n_people) for k in range(per)]


@pytest.fixture
def planted(tmp_path, rng):
    """A store with old (6-d) and new (5-d) embeddings related by a planted affine map."""
    ids = _ids(60, 4)
    centres = rng.normal(size=(60, 6))
    X = centres[np.repeat(np.arange(60), 4)] + 0.2 * rng.normal(size=(240, 6))
    W, b = rng.normal(size=(6, 5)), rng.normal(size=5)
    Y = X @ W + b
    store = EmbeddingStore.create(tmp_path / "store")
    with store.writer("old", dim=6, weights_sha256=SHA_A, detector="d") as w:
        w.add(ids, X)
    with store.writer("new", dim=5, weights_sha256=SHA_B, detector="d") as w:
        w.add(ids, Y)
    with store.writer("other", dim=6, weights_sha256=SHA_C, detector="d") as w:
        w.add(ids, X)
    return store, ids, X, Y, W, b


@pytest.mark.parametrize("recipe", ["lstsq", "ridge"])
def test_planted_map_survives_the_artifact_round_trip(planted, tmp_path, recipe):
    store, _, _X, _Y, W, b = planted
    art = fit_migration_map(store.load("old"), store.load("new"), recipe=recipe, estimate=False)
    path = save_map(tmp_path / "m", art.map, art.card)
    back = load_map(path)
    tol = 1e-8 if recipe == "lstsq" else 0.05  # ridge (alpha = 1) shrinks slightly
    np.testing.assert_allclose(back.map.weight, W, atol=tol * np.abs(W).max())
    np.testing.assert_allclose(back.map.bias, b, atol=tol * 10)
    c = back.card
    assert (c.source, c.target, c.d_source, c.d_target, c.n_fit) == ("old", "new", 6, 5, 240)
    assert (c.source_sha256, c.target_sha256, c.recipe) == (SHA_A, SHA_B, recipe)
    assert np.array_equal(back.map.weight, art.map.weight)


def test_card_carries_a_held_out_drop_estimate(planted):
    store = planted[0]
    art = fit_migration_map(store.load("old"), store.load("new"), n_folds=3)
    drop = art.card.drop
    assert set(drop) == {"tar@0.001", "rank1"}
    assert abs(drop["rank1"]["estimate"]) < 1e-9  # an exact linear relation costs nothing


def test_apply_writes_the_mapped_gallery_with_provenance(planted, tmp_path):
    store, ids, _X, Y, _, _ = planted
    art = fit_migration_map(store.load("old"), store.load("new"), estimate=False)
    path = save_map(tmp_path / "m", art.map, art.card)
    out = EmbeddingStore(tmp_path / "out")
    rep = apply_migration(load_map(path), out, store=store, model="old", batch_rows=50)
    assert (rep.n_migrated, rep.n_skipped) == (240, 0)
    got = out.load("new")
    assert list(got.ids) == sorted(ids)
    want = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    np.testing.assert_allclose(got.vectors, want[np.argsort(ids)], atol=1e-5)
    prov = got.manifest["extra"]["migration"]
    assert prov["map"]["weights_file_sha256"] == art_sha(path)
    assert prov["gallery"].endswith(":old")
    assert prov["migrated_at"]


def art_sha(path):
    return json.loads((path / "card.json").read_text())["weights_file_sha256"]


def test_interrupted_apply_resumes_cleanly(planted, tmp_path):
    store = planted[0]
    art = fit_migration_map(store.load("old"), store.load("new"), estimate=False)

    def stop(stage, done, total):
        if done >= 100:
            raise KeyboardInterrupt

    out = EmbeddingStore(tmp_path / "out")
    with pytest.raises(KeyboardInterrupt):
        apply_migration(art, out, store=store, model="old", batch_rows=50, progress=stop)
    assert not list((tmp_path / "out" / "new").glob("*.tmp"))
    partial = out.load("new")
    assert 0 < len(partial) < 240  # whole chunks only
    rep = apply_migration(art, out, store=store, model="old", batch_rows=50)
    assert rep.n_skipped == len(partial)
    assert rep.n_migrated == 240 - len(partial)
    ref = EmbeddingStore(tmp_path / "ref")
    apply_migration(art, ref, store=store, model="old")
    a, b = out.load("new"), ref.load("new")
    assert a.ids == b.ids
    np.testing.assert_array_equal(a.vectors, b.vectors)


def test_resume_with_another_map_is_refused(planted, tmp_path):
    store = planted[0]
    old, new = store.load("old"), store.load("new")
    a1 = fit_migration_map(old, new, estimate=False)
    a2 = fit_migration_map(old, new, recipe="ridge", estimate=False)
    p1, p2 = save_map(tmp_path / "m1", a1.map, a1.card), save_map(tmp_path / "m2", a2.map, a2.card)
    out = EmbeddingStore(tmp_path / "out")
    apply_migration(load_map(p1), out, store=store, model="old")
    with pytest.raises(StoreError, match="refusing to add detector"):
        apply_migration(load_map(p2), out, store=store, model="old")


def test_wrong_model_gallery_is_refused(planted, tmp_path):
    store = planted[0]
    art = fit_migration_map(store.load("old"), store.load("new"), estimate=False)
    with pytest.raises(StoreError, match="but the gallery is 'other'"):
        apply_migration(art, EmbeddingStore(tmp_path / "o"), store=store, model="other")
    assert not (tmp_path / "o").exists()


def test_mismatched_dimension_is_refused(planted, tmp_path, rng):
    store = planted[0]
    art = fit_migration_map(store.load("old"), store.load("new"), estimate=False)
    g = EmbeddingStore.create(tmp_path / "g")
    with g.writer("old", dim=3, weights_sha256=SHA_A, detector="d") as w:
        w.add(["x/1"], rng.normal(size=(1, 3)))
    with pytest.raises(DimensionError, match="6-d 'old' embeddings, the gallery has dimension 3"):
        apply_migration(art, EmbeddingStore(tmp_path / "o"), store=g, model="old")


@pytest.mark.parametrize("damage", ["weights", "card-json", "card-field", "missing"])
def test_corrupt_artifact_is_refused_in_one_line(planted, tmp_path, damage, capsys):
    store = planted[0]
    art = fit_migration_map(store.load("old"), store.load("new"), estimate=False)
    p = save_map(tmp_path / "m", art.map, art.card)
    if damage == "weights":
        raw = bytearray((p / "map.npz").read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        (p / "map.npz").write_bytes(bytes(raw))
    elif damage == "card-json":
        (p / "card.json").write_text((p / "card.json").read_text()[:40])
    elif damage == "card-field":
        card = json.loads((p / "card.json").read_text())
        card["d_source"] = "six"
        (p / "card.json").write_text(json.dumps(card))
    else:
        (p / "map.npz").unlink()
    with pytest.raises(StoreError, match="map artifact"):
        load_map(p)
    rc = main(
        [
            "migrate",
            "apply",
            "--map",
            str(p),
            "--store",
            str(store.root),
            "--model",
            "old",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0
    assert "map artifact" in err
    assert not (tmp_path / "o").exists()


def test_cli_fit_apply_round_trip(planted, tmp_path, capsys):
    store = planted[0]
    m = tmp_path / "m"
    assert (
        main(
            [
                "migrate",
                "fit",
                "--store",
                str(store.root),
                "--source",
                "old",
                "--target",
                "new",
                "--out",
                str(m),
                "--no-estimate",
                "--json",
            ]
        )
        == 0
    )
    card = json.loads(capsys.readouterr().out)
    assert card["source"] == "old"
    assert card["n_fit"] == 240
    assert (
        main(
            [
                "migrate",
                "fit",
                "--store",
                str(store.root),
                "--source",
                "old",
                "--target",
                "new",
                "--out",
                str(m),
            ]
        )
        == 2
    )
    assert "exists" in capsys.readouterr().err
    assert (
        main(
            [
                "migrate",
                "apply",
                "--map",
                str(m),
                "--store",
                str(store.root),
                "--model",
                "old",
                "--out",
                str(tmp_path / "o"),
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["migrated"] == 240


# ------------------------------------------------------------------------------ the protocol


def test_identity_folds_are_identity_disjoint():
    labels = [i.split("/")[0] for i in _ids(30, 3)]
    f = identity_folds(labels, 4, seed=1)
    for name in set(labels):
        assert len({f[k] for k, x in enumerate(labels) if x == name}) == 1
    assert set(f.tolist()) == {0, 1, 2, 3}


def test_nothing_fitted_sees_a_test_identity(planted, monkeypatch):
    _store, ids, X, Y, _, _ = planted
    tagged = np.c_[X, np.arange(len(ids), dtype=float)]  # the last column names the image
    seen: list[np.ndarray] = []
    real = mig.fit_recipe

    def spy(A, B, recipe):
        seen.append(np.asarray(A)[:, -1].round().astype(int))
        return real(A, B, recipe)

    monkeypatch.setattr(mig, "fit_recipe", spy)
    labels = [i.split("/")[0] for i in ids]
    res = evaluate_migration(ids, tagged, Y, n_fit=100, n_folds=3, backfill_x=(0, 100))
    folds = identity_folds(labels, 3)
    assert len(seen) == 3
    for f, rows in enumerate(seen):
        assert rows.size == 100
        test_ids = {labels[k] for k in np.flatnonzero(folds == f)}
        assert not test_ids & {labels[k] for k in rows}
    assert [fm.n_fit for fm in res.folds] == [100, 100, 100]


def test_planted_migration_costs_nothing_and_backfill_ends_at_new_new(planted):
    _store, ids, X, Y, _, _ = planted
    res = evaluate_migration(ids, X, Y, n_fit=120, n_folds=3, backfill_x=(0, 50, 100), n_random=2)
    s = summarize(res)
    assert s["drop"]["rank1"]["mean"] == pytest.approx(0.0, abs=1e-9)
    assert s["drop"]["tar@0.001"]["mean"] == pytest.approx(0.0, abs=1e-9)
    # a negative flip is a probe wrong in cross-test: the rate cannot exceed the cross error
    assert s["negative_flip_rate"]["mean"] <= 100 - s["rank1"]["cross"]["mean"] + 1e-9
    assert s["backfill"]["random"][0] == pytest.approx(s["rank1"]["cross"]["mean"])


@pytest.mark.realdata
def test_shipped_store_backfill_runs_from_cross_test_to_new_new():
    from facebridge.store import default_store

    st = default_store()
    a, b = st.load("facenet-ms1m"), st.load("sface")
    res = evaluate_migration(
        a.ids, a.vectors, b.vectors, n_fit=400, n_folds=5, backfill_x=(0, 10, 100), n_random=1
    )
    s = summarize(res)
    for o, curve in s["backfill"].items():
        assert curve[0] == pytest.approx(s["rank1"]["cross"]["mean"]), o
        assert curve[-1] == pytest.approx(s["rank1"]["new/new"]["mean"]), o
    assert s["rank1"]["cross"]["mean"] > 80  # a real map, far above chance (~0.2 %)
    # a negative flip is a probe wrong in cross-test: the rate cannot exceed the cross error
    assert 0 <= s["negative_flip_rate"]["mean"] <= 100 - s["rank1"]["cross"]["mean"] + 1e-9


def test_fit_on_unknown_ids_is_refused(planted):
    from facebridge.errors import InvalidInputError

    store = planted[0]
    with pytest.raises(InvalidInputError, match="not embedded by both models"):
        fit_migration_map(store.load("old"), store.load("new"), ids=["nobody/x.jpg"])


def test_cli_evaluate_writes_json_markdown_and_figure(planted, tmp_path, capsys):
    store = planted[0]
    out = tmp_path / "ev"
    rc = main(
        [
            "migrate",
            "evaluate",
            "--store",
            str(store.root),
            "--pair",
            "old->new",
            "--n-fit",
            "100",
            "--recipes",
            "lstsq",
            "--folds",
            "3",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload[0]["source"] == "old"
    assert payload[0]["summary"]["drop"]["rank1"]["mean"] == pytest.approx(0.0, abs=1e-9)
    assert (out / "migration-backfill.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Migration" in (out / "migration.md").read_text()


@pytest.mark.parametrize("step", ["apply", "evaluate"])
def test_cli_out_that_is_a_file_fails_before_the_work(planted, tmp_path, capsys, monkeypatch, step):
    """``--out`` is checked before any migration runs: one line, exit 2."""
    import facebridge.app.migrate as app_migrate

    store = planted[0]
    art = fit_migration_map(store.load("old"), store.load("new"), estimate=False)
    m = save_map(tmp_path / "m", art.map, art.card)
    blocker = tmp_path / "file"
    blocker.write_text("x")

    def boom(*a, **k):
        raise AssertionError("the migration ran before --out was checked")

    monkeypatch.setattr(app_migrate, "apply_migration", boom)
    monkeypatch.setattr(app_migrate, "evaluate_migration_to", boom)
    argv = ["migrate", step, "--store", str(store.root), "--out", str(blocker)]
    argv += ["--map", str(m), "--model", "old"] if step == "apply" else ["--pair", "old->new"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(blocker) in err[0]
    assert err[0].startswith("facebridge: error:")
