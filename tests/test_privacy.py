from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from facebridge.cli import main
from facebridge.errors import InvalidInputError, StoreError, UnknownModelError
from facebridge.experiments.privacy import (
    AuditResult,
    audit,
    audit_all,
    lfw_identity,
    linkability,
    reidentification_attack,
    split_identities,
)
from facebridge.maps import fit_ridge
from facebridge.report.base import Section
from facebridge.report.privacy import privacy_section
from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol

P_VALUES = (10, 50, 400)


@pytest.fixture(scope="module")
def protocol():
    # ~400 identities with up to 8 images each (LFW-like item ids)
    return make_synthetic_protocol(
        n_folds=10, n_genuine=80, n_impostor=40, images_per_identity=8, identities_per_fold=40
    )


@pytest.fixture(scope="module")
def emb(protocol):
    return make_synthetic_embeddings(
        protocol, dims={"alpha": 64, "beta": 32, "gamma": 48}, unrelated=["gamma"]
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory, protocol):
    from facebridge.testing import make_synthetic_store

    root = tmp_path_factory.mktemp("privacy") / "store"
    return make_synthetic_store(
        root, protocol, dims={"alpha": 64, "beta": 32, "gamma": 48}, unrelated=["gamma"]
    )


@pytest.fixture(scope="module")
def related(emb):
    return reidentification_attack(emb["alpha"], emb["beta"], P_VALUES, n_draws=2)


# ------------------------------------------------------------------------------------ split


def _check_split(split, items: list[str]) -> None:
    assert split.is_disjoint()
    corr = {lfw_identity(x) for x in split.correspondence_items}
    gal = {lfw_identity(x) for x in split.gallery_items}
    probe = {lfw_identity(x) for x in split.probe_items}
    unenrolled = {lfw_identity(x) for x in split.unenrolled_items}
    assert corr == split.correspondence_identities
    assert gal == split.gallery_identities
    assert unenrolled == split.unenrolled_identities
    assert not corr & gal
    assert not corr & unenrolled
    assert not gal & unenrolled
    assert probe == gal  # every enrolled identity has at least one probe, and only they do
    # one enrolled image per gallery identity, never also a probe
    assert max(Counter(lfw_identity(x) for x in split.gallery_items).values()) == 1
    assert not set(split.gallery_items) & set(split.probe_items)
    # every item is used exactly once
    used = [
        *split.correspondence_items,
        *split.gallery_items,
        *split.probe_items,
        *split.unenrolled_items,
    ]
    assert sorted(used) == sorted(set(items))


def test_split_is_identity_disjoint_and_covers_everything(emb):
    items = list(emb["alpha"][0])
    split = split_identities(items, seed=3)
    _check_split(split, items)
    assert split.to_dict()["disjoint"] is True
    # deterministic and independent of the input order
    again = split_identities(list(reversed(items)), seed=3)
    assert again == split
    assert split_identities(items, seed=4) != split


def test_attack_split_is_exposed_and_disjoint(related, emb):
    _check_split(related.split, list(emb["alpha"][0]))
    assert related.n_gallery == len(related.split.gallery_items)
    assert related.n_probes == len(related.split.probe_items)


# ------------------------------------------------------------------------------------ attack


def test_related_spaces_reidentify_near_native(related):
    r = related
    assert r.p.tolist() == list(P_VALUES)
    assert r.rank1.shape == (3, 2)
    at400 = r.at(400)
    assert r.native_rank1 > 0.9
    assert at400 >= r.native_rank1 - 0.05
    assert r.at(400, "rank5") >= at400
    # more pairs help: 10 pairs (fewer than the 64 dims) are far worse than 400
    assert r.at(10) < at400 - 0.3
    # without a map (different dims: random projection) the attack is at chance
    assert r.unmapped_kind == "random-projection"
    assert r.unmapped_rank1 < 5 * r.chance_rank1
    assert r.chance_rank1 == pytest.approx(1 / r.n_gallery)
    # open set: DIR at FPIR 1% can only be below the closed-set rate of the same draw
    assert np.all(r.dir <= r.rank1 + 1e-12)
    assert r.at(400, "dir") > 0.5


def test_unrelated_space_stays_at_chance(emb):
    r = reidentification_attack(emb["alpha"], emb["gamma"], (50, 400), n_draws=2)
    assert r.native_rank1 > 0.9  # gamma recognises its own faces well ...
    assert r.at(400) < 5 * r.chance_rank1  # ... but nothing maps alpha onto it
    assert r.at(400) < 0.05


def test_same_dimension_unmapped_uses_identity(emb):
    ids, va = emb["alpha"]
    q = np.linalg.qr(np.random.default_rng(1).normal(size=(64, 64)))[0]
    rotated = (ids, (va @ q).astype(np.float32))
    r = reidentification_attack(emb["alpha"], rotated, (100,), n_draws=1, map="procrustes")
    assert r.unmapped_kind == "identity"
    assert r.at(100) == pytest.approx(r.native_rank1, abs=0.02)
    assert r.unmapped_rank1 < 0.2


def test_p_above_available_pairs_is_skipped(emb):
    r = reidentification_attack(emb["alpha"], emb["beta"], (50, 10**6), n_draws=1)
    assert r.p.tolist() == [50]
    assert r.p_skipped == (10**6,)
    with pytest.raises(InvalidInputError, match="exceeds"):
        reidentification_attack(emb["alpha"], emb["beta"], (10**6,), n_draws=1)


def test_attack_is_seeded(emb):
    a = reidentification_attack(emb["alpha"], emb["beta"], (20,), n_draws=2, seed=5)
    b = reidentification_attack(emb["alpha"], emb["beta"], (20,), n_draws=2, seed=5)
    np.testing.assert_array_equal(a.rank1, b.rank1)


def test_callable_map_and_json(emb):
    from facebridge.maps import fit_lstsq

    r = reidentification_attack(emb["alpha"], emb["beta"], (200,), n_draws=1, map=fit_lstsq)
    assert r.map == "fit_lstsq"
    d = json.loads(json.dumps(r.to_dict()))
    assert d["rank1"]["mean"][0] == pytest.approx(r.at(200))
    assert d["split"]["disjoint"] is True


@pytest.mark.parametrize("name", ["ridge", "lstsq", "procrustes"])
def test_named_maps_are_the_map_kinds_fits(rng, name):
    from facebridge.experiments.privacy import _fitter
    from facebridge.maps.moments import MAP_KINDS

    x = rng.normal(size=(200, 64)).astype(np.float32)
    y = x @ rng.normal(size=(64, 32)) + 0.1 * rng.normal(size=(200, 32))
    ours = _fitter(name, 0.7)[1](x, y)
    ref = MAP_KINDS[name].fit_rows(x, y, 0.7)
    np.testing.assert_array_equal(ours.weight, ref.weight)
    np.testing.assert_array_equal(ours.bias, ref.bias)


def test_folded_search_equals_mapping_the_probes(emb):
    from facebridge.experiments import privacy as pv

    for src, dst in (("beta", "alpha"), ("alpha", "beta")):  # d_a < d_b folds, d_a > d_b maps
        prep = pv._prepare(
            emb[src],
            emb[dst],
            seed=0,
            split=None,
            identity_fn=lfw_identity,
            gallery_fraction=0.5,
            unenrolled_fraction=0.25,
        )
        m = fit_ridge(prep.a_corr[:100], prep.b_corr[:100], alpha=1.0)
        folded = pv._search_mapped(prep, m)
        direct = pv._search(prep, m.apply(prep.a_probe))
        assert folded.ranks.tolist() == direct.ranks.tolist()
        np.testing.assert_allclose(folded.best_scores, direct.best_scores, atol=1e-5)


def test_attack_errors_name_the_fix(emb):
    a, b = emb["alpha"], emb["beta"]
    with pytest.raises(InvalidInputError, match="did you mean 'ridge'"):
        reidentification_attack(a, b, (10,), map="ridgee")
    with pytest.raises(InvalidInputError, match="n_draws"):
        reidentification_attack(a, b, (10,), n_draws=0)
    with pytest.raises(InvalidInputError, match=">= 2"):
        reidentification_attack(a, b, (1,))
    with pytest.raises(InvalidInputError, match="fpir"):
        reidentification_attack(a, b, (10,), fpir=0)
    with pytest.raises(InvalidInputError, match="share no embedded item"):
        reidentification_attack(a, (("x/x_1.jpg",), np.ones((1, 32))), (10,))
    with pytest.raises(InvalidInputError, match="gallery identities"):
        split_identities(["a/1", "a/2", "b/1"])
    other = split_identities([f"P{i}/{j}" for i in range(10) for j in range(3)])
    with pytest.raises(InvalidInputError, match="not embedded by both models"):
        reidentification_attack(a, b, (10,), split=other)


# ------------------------------------------------------------------------------------ linkability


def test_linkability_related_vs_unrelated(emb):
    rel = linkability(emb["alpha"], emb["beta"], pairs=400)
    unrel = linkability(emb["alpha"], emb["gamma"], pairs=400)
    assert rel.d_sys > 0.9
    assert rel.maximal_linkability > 0.9
    assert rel.native.d_sys > 0.9
    assert rel.unmapped.d_sys < 0.15  # random projection: only estimation noise
    assert unrel.d_sys < 0.15
    assert unrel.native.d_sys > 0.9
    assert rel.mated_scores.mean() > rel.nonmated_scores.mean() + 0.3
    assert rel.pairs == 400


# ------------------------------------------------------------------------------------ audit + store


def test_audit_on_store_and_summary(store):
    res = audit(store, "alpha", "beta", pairs=300, p_values=(20, 100), n_draws=1)
    assert isinstance(res, AuditResult)
    assert res.attack.p.tolist() == [20, 100, 300]
    # open-set DIR only at the headline number of pairs (the other points skip the false alarms)
    assert np.isnan(res.attack.dir[:2]).all()
    assert np.isfinite(res.attack.dir[2]).all()
    assert res.attack.at(300, "dir") <= res.attack.at(300, "rank1")
    line = res.summary
    assert line.startswith("alpha -> beta: with 300 paired images, ")
    assert f"among {res.attack.n_gallery} enrolled identities" in line
    assert "D_sys = " in line
    d = json.loads(json.dumps(res.to_dict()))
    assert d["rank1_at_pairs"] == pytest.approx(res.rank1_at_pairs)


def test_audit_all_covers_every_directed_pair(store):
    out = audit_all(store, pairs=100, p_values=(100,), n_draws=1)
    assert sorted((r.source, r.target) for r in out) == sorted(
        (a, b) for a in ("alpha", "beta", "gamma") for b in ("alpha", "beta", "gamma") if a != b
    )
    by = {(r.source, r.target): r for r in out}
    assert by["alpha", "beta"].rank1_at_pairs > 0.8
    assert by["beta", "gamma"].rank1_at_pairs < 0.05
    sec = privacy_section(out)
    assert isinstance(sec, Section)
    assert set(sec.figures) == {
        "privacy_rank1_all.png",
        "privacy_rank1.png",
        "privacy_linkability.png",
    }
    assert "alpha -> beta: with 100 paired images" in sec.markdown
    assert "<table" in sec.html
    # the JSON form gives the same section text
    plain = privacy_section([r.to_dict() for r in out], figures=False)
    assert plain.figures == {}
    assert sec.markdown.startswith(plain.markdown)


def test_audit_all_threads_give_the_same_results(store):
    kw = {"pairs": 50, "p_values": (20,), "n_draws": 1}
    serial = audit_all(store, ["alpha", "beta", "gamma"], n_jobs=1, **kw)
    threaded = audit_all(store, ["alpha", "beta", "gamma"], n_jobs=3, blas_threads=None, **kw)
    assert [(r.source, r.target) for r in serial] == [(r.source, r.target) for r in threaded]
    for x, y in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(x.attack.rank1, y.attack.rank1)
        assert x.linkage.d_sys == y.linkage.d_sys
    with pytest.raises(InvalidInputError, match="n_jobs"):
        audit_all(store, n_jobs=0)


def test_audit_section_runs_the_audit(store):
    from facebridge.app.audit import audit_section

    sec = audit_section(
        store, ["alpha", "beta"], pairs=100, p_values=(100,), n_draws=1, figures=False
    )
    assert "beta -> alpha: with 100 paired images" in sec.markdown
    assert sec.figures == {}


def test_audit_errors(store):
    with pytest.raises(UnknownModelError, match="did you mean 'alpha'"):
        audit(store, "alpa", "beta")
    with pytest.raises(InvalidInputError, match="two different models"):
        audit(store, "alpha", "alpha")
    with pytest.raises(InvalidInputError, match="unknown audit option"):
        audit_all(store, n_drawz=1)
    with pytest.raises(InvalidInputError, match="at least two models"):
        audit_all(store, ["alpha"])


# ------------------------------------------------------------------------------------ CLI


def test_cli_single_pair_writes_outputs(store, tmp_path, capsys):
    out = tmp_path / "audit"
    rc = main(
        [
            "audit",
            "--store",
            str(store.root),
            "--source",
            "alpha",
            "--target",
            "beta",
            "--pairs",
            "200",
            "--draws",
            "1",
            "--p-values",
            "20,100",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert printed.startswith("alpha -> beta: with 200 paired images, ")
    payload = json.loads((out / "audit.json").read_text())
    assert payload["results"][0]["attack"]["p"] == [20, 100, 200]
    assert payload["results"][0]["attack"]["split"]["disjoint"] is True
    for name in ("rank1_vs_p_alpha__beta.png", "linkability_alpha__beta.png"):
        assert (out / "figures" / name).read_bytes()[:4] == b"\x89PNG"
    assert (out / "privacy.md").read_text().startswith("## Privacy")


def test_cli_all_json(store, capsys):
    rc = main(
        [
            *("audit", "--store", str(store.root), "--all", "--models", "alpha,beta"),
            *("--pairs", "100", "--draws", "1", "--p-values", "100", "--json", "--method", "kde"),
        ]
    )
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert [(r["source"], r["target"]) for r in payload["results"]] == [
        ("alpha", "beta"),
        ("beta", "alpha"),
    ]
    link = payload["results"][0]["linkability"]
    assert link["mapped"]["method"] == "kde"
    assert link["d_sys"] > 0.9


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "alpha"], "give --source A and --target B"),
        (["--all", "--source", "alpha"], "drop --source"),
        (["--source", "alpha", "--target", "zeta"], "unknown model 'zeta'"),
        (["--source", "alpha", "--target", "beta", "--pairs", "1"], "--pairs must be"),
        (["--source", "alpha", "--target", "beta", "--p-values", "1o"], "comma-separated"),
    ],
)
def test_cli_error_paths(store, capsys, argv, message):
    rc = main(["audit", "--store", str(store.root), *argv])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("facebridge: error: ")
    assert message in err
    assert err.count("\n") == 1


def test_cli_missing_store(tmp_path, capsys):
    rc = main(["audit", "--store", str(tmp_path / "nope"), "--all"])
    assert rc == 2
    assert "no embedding store at" in capsys.readouterr().err


def test_empty_store_is_a_store_error(tmp_path):
    from facebridge.store import EmbeddingStore

    with pytest.raises(StoreError, match="holds no model"):
        audit(EmbeddingStore.create(tmp_path / "empty"), "a", "b")


# ------------------------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def shipped_store():
    from facebridge.store import default_store

    try:
        store = default_store()
    except StoreError as exc:
        pytest.skip(f"shipped LFW store absent ({exc})")
    if len(store.models()) < 2:
        pytest.skip("shipped LFW store holds fewer than two models")
    return store


@pytest.mark.realdata
def test_shipped_lfw_split_is_disjoint(shipped_store):
    a, b = shipped_store.models()[:2]
    ea, eb = shipped_store.load(a), shipped_store.load(b)
    common = sorted(set(ea.ids) & set(eb.ids))
    split = split_identities(common, seed=0)
    _check_split(split, common)
    assert len(split.gallery_identities) > 100
    assert len(split.correspondence_items) >= 400
    # the attack uses exactly that split
    r = reidentification_attack(ea, eb, (400,), n_draws=1)
    assert r.split == split
    assert r.split.is_disjoint()
