"""The torch backend (matrix, rank sweep, pairs sweep, compare-maps) equals the numpy path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facebridge.errors import InvalidInputError
from facebridge.experiments.core import pair_data
from facebridge.experiments.matrix import cross_model_matrix, matrix_and_ranks
from facebridge.testing import (
    make_synthetic_pair_data,
    make_synthetic_protocol,
    make_synthetic_store,
)

TOL = 1e-9


def _assert_equal_runs(data, device: str, **kw) -> None:
    m0, r0 = matrix_and_ranks(data, **kw)
    m1, r1 = matrix_and_ranks(data, device=device, **kw)
    assert m0.mapped.keys() == m1.mapped.keys()
    for key, a in m0.mapped.items():
        b = m1.mapped[key]
        np.testing.assert_allclose(b.per_fold, a.per_fold, rtol=0, atol=TOL)
        np.testing.assert_allclose(b.thresholds, a.thresholds, rtol=0, atol=TOL)
        np.testing.assert_allclose(m1.oof_scores[key], m0.oof_scores[key], rtol=0, atol=TOL)
        # the decisions: every out-of-fold score on the same side of its fold's threshold
        thr = a.thresholds[data.folds]
        v = data.valid
        np.testing.assert_array_equal(
            (m1.oof_scores[key] >= b.thresholds[data.folds])[v], (m0.oof_scores[key] >= thr)[v]
        )
    assert r0.keys() == r1.keys()
    for key, a in r0.items():
        b = r1[key]
        assert b.ranks == a.ranks
        np.testing.assert_allclose(b.per_fold, a.per_fold, rtol=0, atol=TOL)
        # singular values come from the eigenvalues of W^T W (or W W^T), exact to about
        # sqrt(eps) * s_max in absolute terms in either backend: the smallest ones are that noise
        sv_atol = np.sqrt(np.finfo(float).eps) * float(a.singular_values.max())
        np.testing.assert_allclose(b.singular_values, a.singular_values, rtol=TOL, atol=sv_atol)
    np.testing.assert_array_equal(m1.table(), m0.table())


@pytest.mark.parametrize("correspondence", ["matched-pairs", "same-image"])
def test_synthetic_torch_cpu_equals_numpy(correspondence: str) -> None:
    data = make_synthetic_pair_data({"a": 8, "b": 6, "c": 12})
    _assert_equal_runs(data, "cpu", correspondence=correspondence)


@pytest.mark.parametrize("kind", ["lstsq", "procrustes", "ridge-gcv"])
def test_synthetic_other_map_kinds_equal_numpy(kind: str) -> None:
    data = make_synthetic_pair_data({"a": 8, "b": 6})
    x = cross_model_matrix(data, map=kind)
    y = cross_model_matrix(data, map=kind, device="cpu")
    for key, a in x.mapped.items():
        np.testing.assert_allclose(y.mapped[key].per_fold, a.per_fold, rtol=0, atol=TOL)
        np.testing.assert_allclose(y.oof_scores[key], x.oof_scores[key], rtol=0, atol=TOL)


@pytest.mark.parametrize("device", ["cuda:99", "tpu", "not a device"])
def test_bad_device_is_one_line_error(device: str) -> None:
    data = make_synthetic_pair_data({"a": 8, "b": 6})
    with pytest.raises(InvalidInputError) as exc:
        matrix_and_ranks(data, device=device)
    assert "\n" not in str(exc.value)
    assert "device" in str(exc.value)


def _synthetic_store_and_pairs(tmp_path: Path) -> list[str]:
    """``--store DIR --pairs CSV`` of a synthetic 10-fold store written under ``tmp_path``."""
    protocol = make_synthetic_protocol(n_folds=10, n_genuine=30, n_impostor=30, seed=1)
    make_synthetic_store(tmp_path / "store", protocol, seed=1)
    csv = tmp_path / "pairs.csv"
    rows = [f"{p.left},{p.right},{int(p.genuine)},{p.fold}" for p in protocol.pairs]
    csv.write_text("\n".join(["left,right,genuine,fold", *rows]) + "\n")
    return ["--store", str(tmp_path / "store"), "--pairs", str(csv)]


def test_cli_device_cpu_gives_the_numpy_results(tmp_path: Path) -> None:
    from facebridge.cli import main

    argv = ["evaluate", *_synthetic_store_and_pairs(tmp_path), "--quick"]
    got = {}
    for name, extra in (("numpy", []), ("cpu", ["--device", "cpu"])):
        out = tmp_path / name
        assert main([*argv, "--no-progress", "--out", str(out), *extra]) == 0
        got[name] = json.loads((out / "results.json").read_text())
    assert got["cpu"]["settings"]["device"] == "cpu"
    assert got["numpy"]["settings"]["device"] == "numpy"
    for a, b in zip(got["numpy"]["matrix"], got["cpu"]["matrix"], strict=True):
        np.testing.assert_allclose(b["per_fold"], a["per_fold"], rtol=0, atol=TOL)
    for key, a in got["numpy"]["rank_sweep"].items():
        np.testing.assert_allclose(
            got["cpu"]["rank_sweep"][key]["accuracy"], a["accuracy"], rtol=0, atol=TOL
        )


@pytest.mark.parametrize("device", ["cuda:99", "tpu"])
def test_cli_bad_device_is_one_line_error_before_the_analysis(
    tmp_path: Path, device: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from facebridge.cli import main

    out = tmp_path / "rep"
    assert main(["reproduce", "--quick", "--device", device, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "device" in err
    assert not out.exists()


@pytest.fixture(scope="module")
def real_store():
    from facebridge.errors import StoreError
    from facebridge.store import default_store

    try:
        store = default_store()
    except StoreError as exc:
        pytest.skip(f"shipped LFW store absent: {exc}")
    if len(store.models()) < 3:
        pytest.skip("the shipped LFW store holds fewer than three models")
    return store


@pytest.mark.realdata
def test_real_lfw_torch_cpu_equals_numpy(real_store) -> None:
    """Three models, faceres the widest (1024-d)."""
    from facebridge.protocols import default_lfw_pairs

    chosen = ["faceres", "facenet-ms1m", "sface"]
    if not set(chosen) <= set(real_store.models()):
        pytest.skip(f"the shipped LFW store lacks one of {chosen}")
    data = pair_data(real_store, default_lfw_pairs(), chosen)
    _assert_equal_runs(data, "cpu")


@pytest.mark.realdata
def test_real_lfw_all_six_models_torch_cpu_equals_numpy(real_store) -> None:
    """Every model: accuracies, thresholds and scores to 1e-9, decisions equal."""
    from facebridge.protocols import default_lfw_pairs

    if len(real_store.models()) < 6:
        pytest.skip("the shipped LFW store holds fewer than six models")
    data = pair_data(real_store, default_lfw_pairs(), real_store.models())
    _assert_equal_runs(data, "cpu")


def _assert_equal_sweeps(data, **kw) -> None:
    from facebridge.experiments.sweeps import pairs_sweep

    s0, s1 = {}, {}
    a = pairs_sweep(data, stats=s0, **kw)
    b = pairs_sweep(data, device="cpu", stats=s1, **kw)
    assert a.keys() == b.keys()
    for key, x in a.items():
        y = b[key]
        np.testing.assert_array_equal(y.p, x.p)
        np.testing.assert_allclose(y.per_fold, x.per_fold, rtol=0, atol=TOL)
        assert y.full_accuracy == pytest.approx(x.full_accuracy, abs=TOL)
        assert y.p_within_1pt == x.p_within_1pt
    assert s1["exact_reruns"] == s0["exact_reruns"]


@pytest.mark.parametrize("correspondence", ["matched-pairs", "same-image"])
def test_synthetic_pairs_sweep_torch_cpu_equals_numpy(correspondence: str) -> None:
    data = make_synthetic_pair_data({"a": 8, "b": 6, "c": 12})
    _assert_equal_sweeps(data, n_points=7, n_draws=2, correspondence=correspondence)


def test_synthetic_pairs_sweep_wide_steps_torch_cpu_equals_numpy() -> None:
    """Steps wider than the system (solved afresh) and ``alpha = 0``."""
    data = make_synthetic_pair_data({"a": 4, "b": 3})
    _assert_equal_sweeps(data, n_points=3, n_draws=1, alpha=0.0)


def _assert_equal_comparisons(data, settings) -> None:
    from facebridge.experiments.compare import compare_maps

    a = compare_maps(data, settings).to_dict()
    b = compare_maps(data, settings, device="cpu").to_dict()
    assert [r["name"] for r in b["recipes"]] == [r["name"] for r in a["recipes"]]
    for ra, rb in zip(a["recipes"], b["recipes"], strict=True):
        for x, y in zip(ra["maps"], rb["maps"], strict=True):
            np.testing.assert_allclose(y["per_fold"], x["per_fold"], rtol=0, atol=TOL)
        assert rb.get("alphas") == ra.get("alphas")
    assert b["best"] == a["best"]
    assert b["pairs_needed"] == a["pairs_needed"]
    for key, c in a["sweep"].items():
        np.testing.assert_allclose(b["sweep"][key]["accuracy"], c["accuracy"], rtol=0, atol=TOL)


def test_synthetic_compare_maps_torch_cpu_equals_numpy() -> None:
    from facebridge.experiments.compare import CompareSettings

    data = make_synthetic_pair_data({"a": 8, "b": 6, "c": 12})
    st = CompareSettings(high_native=0.0, sweep_points=(5, 10, 20), precision="float64")
    _assert_equal_comparisons(data, st)


def test_cli_compare_maps_device_cpu_gives_the_numpy_results(tmp_path: Path) -> None:
    from facebridge.cli import main

    argv = ["compare-maps", *_synthetic_store_and_pairs(tmp_path), "--precision", "float64"]
    got = {}
    for name, extra in (("numpy", []), ("cpu", ["--device", "cpu"])):
        out = tmp_path / name
        assert (
            main([*argv, "--maps", "ridge,shared", "--no-progress", "--out", str(out), *extra]) == 0
        )
        got[name] = json.loads((out / "compare.json").read_text())
    for ra, rb in zip(got["numpy"]["recipes"], got["cpu"]["recipes"], strict=True):
        for x, y in zip(ra["maps"], rb["maps"], strict=True):
            np.testing.assert_allclose(y["per_fold"], x["per_fold"], rtol=0, atol=TOL)


@pytest.mark.realdata
def test_real_lfw_pairs_sweep_torch_cpu_equals_numpy(real_store) -> None:
    from facebridge.protocols import default_lfw_pairs

    chosen = ["facenet-ms1m", "sface"]
    if not set(chosen) <= set(real_store.models()):
        pytest.skip(f"the shipped LFW store lacks one of {chosen}")
    data = pair_data(real_store, default_lfw_pairs(), chosen)
    _assert_equal_sweeps(data, n_points=5, n_draws=1)


@pytest.mark.realdata
def test_real_lfw_compare_maps_torch_cpu_equals_numpy(real_store) -> None:
    """Every map kind of the default grid, both correspondences and scores, and the sweep."""
    from facebridge.experiments.compare import CompareSettings
    from facebridge.protocols import default_lfw_pairs

    chosen = ["facenet-ms1m", "sface"]
    if not set(chosen) <= set(real_store.models()):
        pytest.skip(f"the shipped LFW store lacks one of {chosen}")
    data = pair_data(real_store, default_lfw_pairs(), chosen)
    st = CompareSettings(high_native=0.0, sweep_points=(25, 100), precision="float64")
    _assert_equal_comparisons(data, st)


@pytest.mark.realdata
def test_real_lfw_compare_maps_near_singular_lstsq_torch_cpu_equals_numpy(real_store) -> None:
    """dlib-resnet's embeddings are near-singular on LFW: its unregularised least-squares maps
    cancel large terms, which float64 scores keep exact on both engines."""
    from facebridge.experiments.compare import CompareSettings
    from facebridge.protocols import default_lfw_pairs

    chosen = ["dlib-resnet", "sface"]
    if not set(chosen) <= set(real_store.models()):
        pytest.skip(f"the shipped LFW store lacks one of {chosen}")
    data = pair_data(real_store, default_lfw_pairs(), chosen)
    st = CompareSettings(maps=("lstsq", "ridge"), high_native=0.0, sweep=False, precision="float64")
    _assert_equal_comparisons(data, st)
