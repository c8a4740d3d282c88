"""experiments.equivalence and the equivalence / compare-maps commands on synthetic stores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facebridge.cli import main
from facebridge.errors import InvalidInputError, UnknownModelError
from facebridge.experiments.compare import PAPER_RECIPE, CompareSettings
from facebridge.experiments.core import mapped_accuracy, pair_data, training_correspondences
from facebridge.experiments.equivalence import equivalence
from facebridge.maps import fit_ridge
from facebridge.metrics.similarity import linear_cka
from facebridge.protocols import PairProtocol
from facebridge.report.equivalence import equivalence_markdown
from facebridge.testing import (
    make_synthetic_embeddings,
    make_synthetic_protocol,
    make_synthetic_store,
)

DIMS = {"alpha": 12, "beta": 8, "gamma": 10}


@pytest.fixture(scope="module")
def proto() -> PairProtocol:
    return make_synthetic_protocol(
        n_folds=4, n_genuine=30, n_impostor=30, identities_per_fold=15, seed=1
    )


@pytest.fixture(scope="module")
def data(proto):
    emb = make_synthetic_embeddings(
        proto, dims=DIMS, latent_dim=6, within_noise=0.4, unrelated=("gamma",), seed=3
    )
    return pair_data(emb, proto)


@pytest.fixture(scope="module")
def result(data):
    st = CompareSettings(sweep_points=(5, 10, 20, 40, 80))
    return equivalence(data, "alpha", settings=st, ranks=(1, 2, 4, 6, 8))


def test_both_directions_against_every_other_model(data, result) -> None:
    assert [p.other for p in result.pairs] == ["beta", "gamma"]
    for p in result.pairs:
        assert (p.forward.source, p.forward.target) == ("alpha", p.other)
        assert (p.backward.source, p.backward.target) == (p.other, "alpha")
        for d in (p.forward, p.backward):
            ref = mapped_accuracy(data, d.source, d.target)  # the paper's recipe, generic path
            assert d.accuracy == pytest.approx(ref.mean, abs=1e-12)
            assert d.drop == pytest.approx(100 * (result.native[d.target] - d.accuracy))
        assert p.line().startswith(f"alpha <-> {p.other}: alpha->{p.other} ")


def test_related_and_unrelated_models_are_told_apart(result) -> None:
    beta, gamma = result.pairs
    assert beta.forward.accuracy > 0.85
    assert gamma.forward.accuracy < 0.65
    assert beta.cka > gamma.cka + 0.3
    assert beta.svcca > gamma.svcca + 0.3
    assert beta.procrustes < gamma.procrustes
    # The related pair's sweeps end within 1 point of the full map.
    assert beta.forward.pairs_needed is not None
    assert beta.forward.pairs_needed <= 90  # 3 training folds x 30 genuine pairs
    assert beta.forward.rank_needed is not None
    assert beta.forward.rank_needed <= beta.forward.full_rank == 8


def test_similarity_uses_same_image_embeddings(data, result) -> None:
    X, Y = training_correspondences(
        data, "alpha", "beta", np.ones(data.n_pairs, dtype=bool), "same-image"
    )
    assert result.pairs[0].n_items == X.shape[0]
    assert result.pairs[0].cka == pytest.approx(linear_cka(X, Y), rel=1e-9)


def test_rank_needed_matches_a_truncated_map(data, result) -> None:
    """The curve's accuracy at a rank equals the generic path with truncated ridge maps."""
    d = result.pairs[0].forward
    r, acc = d.rank_curve["rank"][0], d.rank_curve["accuracy"][0]

    def fitter(X, Y):
        return fit_ridge(X, Y, alpha=1.0).truncate(r)

    ref = mapped_accuracy(data, "alpha", "beta", fitter=fitter)
    assert acc == pytest.approx(ref.mean, abs=1e-12)


def test_outputs_and_recipe(data, result) -> None:
    d = json.loads(json.dumps(result.to_dict()))
    assert d["recipe"] == str(PAPER_RECIPE)
    assert len(d["pairs"]) == 2
    md = equivalence_markdown(result)
    assert "| alpha / beta |" in md
    other = equivalence(data, "beta", recipe="hub/same-image/cosine", sweep=False)
    assert other.recipe.map == "hub"
    assert other.pairs[0].forward.pairs_needed is None


def test_errors(data) -> None:
    with pytest.raises(UnknownModelError, match="did you mean"):
        equivalence(data, "alpah")
    with pytest.raises(InvalidInputError, match="no other model"):
        equivalence(data.select(["alpha"]), "alpha")
    with pytest.raises(InvalidInputError, match="ranks must be"):
        equivalence(data, "alpha", ranks=(4, 2))
    with pytest.raises(InvalidInputError, match="map/correspondence/score"):
        equivalence(data, "alpha", recipe="ridge")


def _store_and_pairs(tmp_path, proto):
    """A synthetic store under ``tmp_path / "store"`` and the protocol as a pairs CSV."""
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "left,right,genuine,fold\n"
        + "".join(f"{p.left},{p.right},{int(p.genuine)},{p.fold}\n" for p in proto.pairs)
    )
    make_synthetic_store(tmp_path / "store", proto, dims=DIMS, within_noise=0.4, latent_dim=6)
    return pairs


def test_cli_equivalence_and_compare_maps(tmp_path, proto, capsys) -> None:
    pairs = _store_and_pairs(tmp_path, proto)
    rc = main(
        [
            "equivalence", "--store", str(tmp_path / "store"), "--model", "beta",
            "--pairs", str(pairs), "--out", str(tmp_path / "eq"), "--no-sweep", "--no-progress",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "beta <-> alpha:" in out
    assert "beta <-> gamma:" in out
    assert json.loads((tmp_path / "eq" / "equivalence-beta.json").read_text())["model"] == "beta"
    rc = main(
        [
            "compare-maps", "--store", str(tmp_path / "store"), "--pairs", str(pairs),
            "--out", str(tmp_path / "cmp"), "--maps", "ridge,hub", "--no-progress",
            "--high-native", "50",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "ridge / matched-pairs / cosine (paper)" in out
    d = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert len(d["recipes"]) == 2 * 2 * 2
    assert (tmp_path / "cmp" / "compare_drops.png").read_bytes()[:4] == b"\x89PNG"
    assert (
        "# Map / correspondence / score comparison" in (tmp_path / "cmp" / "compare.md").read_text()
    )


def test_cli_errors(tmp_path, proto, capsys) -> None:
    make_synthetic_store(tmp_path / "s", proto, dims=DIMS, latent_dim=6)
    rc = main(["equivalence", "--store", str(tmp_path / "s"), "--model", "delta"])
    assert rc == 2
    assert "delta" in capsys.readouterr().err
    rc = main(["compare-maps", "--store", str(tmp_path / "s"), "--maps", "ridge,mlp"])
    assert rc == 2
    assert "maps must be" in capsys.readouterr().err


def test_cli_compare_maps_notes_a_float32_lstsq_pick(tmp_path, proto, capsys) -> None:
    """An lstsq best recipe scored in float32 is flagged on the terminal; in float64 it is not."""
    pairs = _store_and_pairs(tmp_path, proto)
    argv = ["compare-maps", "--store", str(tmp_path / "store"), "--pairs", str(pairs)]
    argv += ["--maps", "lstsq", "--no-sweep", "--no-progress", "--out", str(tmp_path / "cmp")]
    outs = {}
    for precision in ("float32", "float64"):
        assert main([*argv, "--precision", precision]) == 0
        outs[precision] = capsys.readouterr().out
    assert "--precision float64 checks the pick" in outs["float32"]
    assert "checks the pick" not in outs["float64"]
    with pytest.raises(SystemExit):
        main([*argv, "--precision", "float16"])
    assert "invalid choice: 'float16'" in capsys.readouterr().err
