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
