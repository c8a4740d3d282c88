"""The few-pairs experiment: fold safety, pool settings, the section, the command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facebridge.cli import main
from facebridge.errors import InvalidInputError
from facebridge.experiments.core import native_accuracy, pair_data
from facebridge.experiments.fewpairs import (
    few_pairs,
    fold_map,
    reid_attack,
    seed_rows,
    semi_supervised_recipe,
    unpaired_pools,
)
from facebridge.experiments.privacy import lfw_identity
from facebridge.report.fewpairs import fewpairs_section, summarise
from facebridge.testing import make_synthetic_embeddings, make_synthetic_protocol
from facebridge.vocabulary import DirectedPair


@pytest.fixture(scope="module")
def synth():
    proto = make_synthetic_protocol(n_genuine=20, n_impostor=20, identities_per_fold=12)
    emb = make_synthetic_embeddings(proto, dims={"alpha": 24, "beta": 16})
    return pair_data(emb, proto), emb


def _fold_items(data, f):
    rows = np.flatnonzero(data.folds == f)
    lefts = {data.left_ids[i] for i in rows}
    rights = {data.right_ids[i] for i in rows}
    return lefts, rights


@pytest.mark.parametrize("fold", [0, 3, 9])
def test_pools_never_hold_a_scored_template_or_test_people(synth, fold):
    data, _ = synth
    lefts, rights = _fold_items(data, fold)
    test_people = {lfw_identity(x) for x in lefts | rights}
    a_a, b_a = unpaired_pools(data, fold, "a")
    assert a_a
    assert b_a
    assert not set(a_a) & lefts  # A templates of left items are scored: never in the A pool
    assert not set(b_a) & rights  # B templates of right items are scored: never in the B pool
    a_b, b_b = unpaired_pools(data, fold, "b")
    assert a_b
    assert b_b
    assert not set(a_b) & set(b_b)
    assert not {lfw_identity(x) for x in a_b + b_b} & test_people
    # setting a: b's pools plus other templates of the test fold's own people
    assert set(a_a) - set(a_b) <= lefts | rights
    assert set(b_a) - set(b_b) <= lefts | rights
    assert set(a_b) < set(a_a)
    assert set(b_b) < set(b_a)
    assert {lfw_identity(x) for x in a_a} & test_people
    assert unpaired_pools(data, fold, "c") == ([], [])


def test_seeds_are_genuine_training_pairs(synth):
    data, _ = synth
    for f in range(data.n_folds):
        rows = seed_rows(data, f, 25)
        assert rows.size == 25
        assert (data.folds[rows] != f).all()
        assert data.genuine[rows].all()
    with pytest.raises(InvalidInputError, match="k <= "):
        seed_rows(data, 0, 10_000)


def _perturbed(data, emb, fold, which):
    """Copies of the PairData and the embeddings with fold ``fold``'s templates replaced."""
    lefts, rights = _fold_items(data, fold)
    rng = np.random.default_rng(99)
    src, _tgt = data.models
    new_emb = {}
    for m, (ids, vec) in emb.items():
        vec = np.array(vec, copy=True)
        hit = {"all": lefts | rights, "scored": lefts if m == src else rights}[which]
        for i, x in enumerate(ids):
            if x in hit:
                vec[i] = rng.normal(size=vec.shape[1])
        new_emb[m] = (ids, vec)
    return new_emb


@pytest.mark.parametrize(("setting", "which"), [("a", "scored"), ("b", "all"), ("c", "all")])
def test_fold_safe_map_ignores_the_test_fold(synth, setting, which):
    """Nothing fitted for test fold f sees a pair of fold f (b, c) or a template that fold f
    scores (a): replacing those embeddings leaves the fitted map unchanged."""
    data, emb = synth
    src, tgt = data.models
    fold = 4
    proto = make_synthetic_protocol(n_genuine=20, n_impostor=20, identities_per_fold=12)
    emb2 = _perturbed(data, emb, fold, which)
    data2 = pair_data(emb2, proto)
    assert not np.array_equal(data.left[src], data2.left[src])
    for k in (0, 5):
        if setting == "c" and k == 0:
            assert fold_map(data, emb, src, tgt, fold, k, setting) is None
            continue
        m1 = fold_map(data, emb, src, tgt, fold, k, setting)
        m2 = fold_map(data2, emb2, src, tgt, fold, k, setting)
        np.testing.assert_allclose(m1.weight, m2.weight, atol=1e-6)
        np.testing.assert_allclose(m1.bias, m2.bias, atol=1e-6)


def test_experiment_shapes_and_map_quality(synth):
    data, emb = synth
    pair = DirectedPair("alpha", "beta")
    r = few_pairs(data, emb, pairs=[pair], ks=[0, 5, 100], settings=["a", "c"], reid_ks=[0, 10])
    acc = r.accuracy
    assert set(acc) == {"a", "c"}
    assert len(acc["c"][pair.key]) == 3
    assert np.isnan(acc["c"][pair.key][0])  # no pairs, no pool: no map
    assert acc["c"][pair.key][2] > max(0.8, acc["c"][pair.key][1])  # 100 pairs beat 5
    assert 0.0 <= r.reid_rank1["a"][pair.key][0] <= 1.0  # k = 0: the unsupervised start
    assert 0.0 <= r.reid_rank1["a"][pair.key][1] <= 1.0
    assert np.isnan(r.reid_rank1["c"][pair.key][0])  # k = 0, no pool: no map
    assert np.isnan(r.reid_d_sys["c"][pair.key][0])
    assert 0.0 <= r.reid_d_sys["a"][pair.key][1] <= 1.0
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["accuracy"]["c"][pair.key][0] is None


def test_reid_attack_with_many_pairs_beats_chance(synth):
    _, emb = synth
    strong = reid_attack(emb["alpha"], emb["beta"], 60, "c")
    weak = reid_attack(emb["alpha"], emb["beta"], 2, "c")
    assert strong.rank1 > 0.2  # about 60 enrolled identities: chance is under 0.02
    assert strong.rank1 > weak.rank1
    assert 0.3 < strong.d_sys <= 1.0  # mated and non-mated scores are well apart
    assert strong.d_sys > weak.d_sys
    none = reid_attack(emb["alpha"], emb["beta"], 0, "c")  # no pairs, no pool: no map
    assert np.isnan(none.rank1)
    assert np.isnan(none.d_sys)
    with pytest.raises(InvalidInputError, match="unpaired-pool setting"):
        reid_attack(emb["alpha"], emb["beta"], 5, "z")


def test_bad_experiment_options(synth):
    data, emb = synth
    with pytest.raises(InvalidInputError, match="unpaired-pool setting"):
        few_pairs(data, emb, settings=["d"])
    with pytest.raises(InvalidInputError, match="integers >= 0"):
        few_pairs(data, emb, ks=[-1])
    with pytest.raises(InvalidInputError, match="unsupervised start"):
        few_pairs(data, emb, k0_init="seeds")


def _result():
    return {
        "models": ["a", "b", "w"],
        "native": {"a": 0.99, "b": 0.995, "w": 0.96},
        "k": [0, 50, 400],
        "settings": {"a": "same people", "c": "no pool"},
        "accuracy": {
            "a": {"a->b": [0.6, 0.985, 0.99], "b->a": [0.5, 0.975, 0.99], "a->w": [0.5, 0.5, 0.5]},
            "c": {"a->b": [None, 0.8, 0.99], "b->a": [None, 0.82, 0.98], "a->w": [None, 0.5, 0.9]},
        },
        "reid_k": [0, 50],
        "reid_rank1": {"a": {"a->b": [0.01, 0.8], "b->a": [0.02, 0.6]}},
    }


def test_summary_is_over_strong_pairs_only():
    s = summarise(_result())
    a = s["accuracy"]["a"]
    assert a[1] == {"k": 50, "median": 0.98, "worst": 0.975, "highest": 0.985, "n": 2}
    assert s["accuracy"]["c"][0]["n"] == 0
    assert s["reid_rank1"]["a"][1]["worst"] == 0.6


def test_section_renders_table_and_goals():
    md = fewpairs_section(_result())
    # table cells are Markdown-escaped (brackets included)
    assert r"| a: same people \[2 pairs\] | 55.0 / 50.0 | 98.0 / 97.5 | 99.0 / 99.0 |" in md
    assert "best 98.0 vs 98.5 -> met" in md
    assert "median above 90 %): best 55.0 -> missed" in md
    with pytest.raises(InvalidInputError, match="missing"):
        fewpairs_section({"k": []})


def test_section_lists_every_directed_pair_weak_ones_last():
    md = fewpairs_section(_result())
    table = md[md.index("Mapped accuracy (%) of every directed pair") :]
    assert r"| a-\>b | 60.0 / — | 98.5 / 80.0 | 99.0 / 99.0 |" in table
    assert r"| a-\>w (weak model) | 50.0 / — | 50.0 / 50.0 | 50.0 / 90.0 |" in table
    assert table.index("b-\\>a") < table.index("a-\\>w")


def test_command_is_registered_and_rejects_bad_k(capsys):
    assert main(["few-pairs", "--k", "x"]) == 2
    assert "comma-separated integers" in capsys.readouterr().err


@pytest.mark.realdata
def test_command_on_the_shipped_store(tmp_path, capsys):
    rc = main(
        [
            "few-pairs",
            "--models",
            "facenet-ms1m,sface",
            "--k",
            "400",
            "--settings",
            "c",
            "--reid-k",
            "",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 0
    out = json.loads((tmp_path / "fewpairs.json").read_text())
    acc = out["accuracy"]["c"]["facenet-ms1m->sface"][0]
    assert 0.95 < acc < 1.0  # the paper recipe (ridge on 400 matched pairs)
    assert "## Maps from few pairs" in (tmp_path / "fewpairs.md").read_text()
    cells = (tmp_path / "fewpairs-cells.jsonl").read_text().splitlines()
    assert len(cells) == 2  # one computed cell per directed pair, kept for a rerun
    assert main(["few-pairs", "--models", "facenet-ms1m,sface", "--k", "400", "--settings", "c",
                 "--reid-k", "", "--out", str(tmp_path)]) == 0  # fmt: skip
    assert (tmp_path / "fewpairs-cells.jsonl").read_text().splitlines() == cells  # reused
    assert json.loads((tmp_path / "fewpairs.json").read_text())["accuracy"] == out["accuracy"]


@pytest.mark.realdata
def test_audit_few_pairs_subsection(tmp_path, capsys):
    """The audit's few-pairs subsection on the shipped store: rank-1 and D_sys grow with k and
    the unpaired photos (setting a) help at k = 50."""
    rc = main(
        [
            "audit", "--source", "facenet-ms1m", "--target", "sface", "--draws", "1",
            "--p-values", "50", "--few-pairs", "0,50", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert rc == 0
    few = json.loads((tmp_path / "audit.json").read_text())["few_pairs"]
    a = few["pairs"]["facenet-ms1m->sface"]["a"]
    c = few["pairs"]["facenet-ms1m->sface"]["c"]
    assert few["k"] == [0, 50]
    assert c["rank1"][0] is None
    assert c["d_sys"][0] is None
    assert a["rank1"][1] > c["rank1"][1] + 0.2  # the unpaired photos add re-identifications
    assert a["d_sys"][1] > c["d_sys"][1]
    assert "### Few pairs" in (tmp_path / "privacy.md").read_text()
    assert "### Few pairs" in capsys.readouterr().out


def test_semi_supervised_recipe_drops(synth):
    data, emb = synth
    r = semi_supervised_recipe(data, emb, k=30, high_native=0.0)
    for key, acc in r["accuracy"].items():
        target = DirectedPair.parse(key).target
        assert r["drop"][key] == pytest.approx(100 * (native_accuracy(data, target).mean - acc))
    assert r["worst_drop"] == max(r["drop"].values())
    assert r["worst_map"] == max(r["drop"], key=r["drop"].get)
    assert r["worst_drop_high"] == r["worst_drop"]  # high_native 0: every pair is high
    assert semi_supervised_recipe(data, emb, k=30, high_native=1.1)["worst_drop_high"] is None


@pytest.mark.realdata
def test_compare_maps_gains_the_semi_supervised_recipe(tmp_path, capsys):
    assert main(["compare-maps", "--semi-supervised", "0", "--out", str(tmp_path)]) == 2
    assert "--semi-supervised needs K >= 1" in capsys.readouterr().err
    args = ["compare-maps", "--models", "facenet-ms1m,sface", "--maps", "ridge", "--scores",
            "cosine", "--correspondences", "matched-pairs", "--no-sweep", "--no-progress",
            "--semi-supervised", "50", "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    assert "self-learning (50 pairs + unpaired, b)" in capsys.readouterr().out
    semi = json.loads((tmp_path / "compare.json").read_text())["semi_supervised"]
    assert sorted(semi["drop"]) == ["facenet-ms1m->sface", "sface->facenet-ms1m"]
    assert 0.0 < semi["median_drop"] < 6.0  # 50 pairs + unpaired photos: a few points at most
    assert "self-learning (50 pairs + unpaired, b)" in (tmp_path / "compare.md").read_text()


def test_cached_only_computes_nothing_and_says_so(tmp_path, capsys):
    out = tmp_path / "new"  # not created yet: --cached-only still writes the (empty) tables
    argv = ["few-pairs", "--models", "facenet-ms1m,sface", "--k", "50", "--settings", "b",
            "--reid-k", "", "--cached-only", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "2 cells not computed yet" in captured.err
    assert "**2 cells are not computed yet**" in (out / "fewpairs.md").read_text()
    assert not (out / "fewpairs-cells.jsonl").exists()
    assert main([*argv[:-3], "--cached-only"]) == 2  # nothing to read the cells from


def test_audit_rejects_bad_few_pairs_before_any_work(capsys):
    assert main(["audit", "--source", "sface", "--target", "faceres", "--few-pairs", "-3"]) == 2
    assert "--few-pairs takes numbers of pairs >= 0" in capsys.readouterr().err
