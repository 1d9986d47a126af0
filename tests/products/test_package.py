"""Release packages verify offline, and any change to them is reported, never raised."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.errors import Conflict, InvalidInput
from products import package
from products.package import build_package, verify_package
from service.web.i18n import translator
from service.web.wording import reason_words

FILES = {
    "result.csv": "district,avg_water_fee\n镇海区,1234.5\n北仑区,987.0\n".encode(),
    "notes/README.txt": b"Released after review.\n",
}
MANIFEST = {"release_id": "rel-0001", "job_id": "job-42", "reviewers": ["alice", "bob"]}


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def built(tmp_path: Path, key: Ed25519PrivateKey) -> tuple[Path, dict]:
    path = tmp_path / "rel-0001.zip"
    return path, build_package(path, FILES, MANIFEST, key)


def rewrite(source: Path, target: Path, change) -> None:
    """Copy a package member by member, letting `change` edit or drop members."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = change(info.filename, old.read(info))
            if data is not None:
                new.writestr(info, data)


def test_round_trip(built, key) -> None:
    path, digests = built
    result = verify_package(path, key.public_key())
    assert result.ok, result.problems
    assert result.manifest is not None
    assert result.manifest["release_id"] == "rel-0001"
    assert result.manifest["format"] == "sluice-release/1"
    assert result.manifest["signature_alg"] == "Ed25519"
    assert result.manifest["files"]["result.csv"] == {
        "sha256": hashlib.sha256(FILES["result.csv"]).hexdigest(),
        "bytes": len(FILES["result.csv"]),
    }
    assert digests["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    with zipfile.ZipFile(path) as archive:
        manifest_bytes = archive.read("manifest.json")
    assert digests["manifest_sha256"] == hashlib.sha256(manifest_bytes).hexdigest()
    assert json.loads(manifest_bytes) == result.manifest


def test_same_contents_give_the_same_bytes(tmp_path: Path, key) -> None:
    first = build_package(tmp_path / "a.zip", FILES, MANIFEST, key)
    second = build_package(tmp_path / "b.zip", dict(reversed(FILES.items())), MANIFEST, key)
    assert first == second


def _offsets(size: int) -> dict[str, int]:
    return {
        "first byte": 0,
        "local header time": 10,
        "first file name": 30,
        "early data": 60,
        "middle": size // 2,
        "central directory": size - 150,
        "end record": size - 20,
        "last byte": size - 1,
    }


@pytest.mark.parametrize("where", list(_offsets(1000)))
def test_flipped_byte_fails(built, key, where: str) -> None:
    path, _ = built
    raw = bytearray(path.read_bytes())
    raw[_offsets(len(raw))[where]] ^= 0x01
    path.write_bytes(bytes(raw))
    result = verify_package(path, key.public_key())
    assert not result.ok and result.problems and result.manifest is None


def test_every_single_byte_flip_fails(built, key) -> None:
    path, _ = built
    original = path.read_bytes()
    public = key.public_key()
    accepted = []
    for offset in range(len(original)):
        raw = bytearray(original)
        raw[offset] ^= 0x80
        path.write_bytes(bytes(raw))
        if verify_package(path, public).ok:
            accepted.append(offset)
    assert accepted == []


def test_wrong_key_fails(built) -> None:
    path, _ = built
    result = verify_package(path, Ed25519PrivateKey.generate().public_key())
    assert not result.ok
    assert any("signature" in p for p in result.problems)


def test_extra_file_fails(built, key) -> None:
    path, _ = built
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("extra.csv", b"a,b\n1,2\n")
    result = verify_package(path, key.public_key())
    assert not result.ok
    assert any("'extra.csv'" in p and "not in the manifest" in p for p in result.problems)


def test_what_fails_verification_is_worded_in_chinese(built, key, tmp_path: Path) -> None:
    """Each problem is a registered reason with its figures, so the console can say it."""
    path, _ = built
    target = tmp_path / "changed.zip"
    rewrite(path, target, lambda name, data: None if name == "result.csv" else data)
    with zipfile.ZipFile(target, "a") as archive:
        archive.writestr("extra.csv", b"a,b\n1,2\n")
    result = verify_package(target, key.public_key())
    zh = translator("zh-CN")
    assert [reason_words(r, zh).message for r in result.reasons] == [
        "文件 'result.csv' 列在清单中，但数据包中没有",
        "文件 'extra.csv' 在数据包中，但未列入清单",
    ]
    assert result.problems == [r.message for r in result.reasons]


def test_missing_file_fails(built, key, tmp_path: Path) -> None:
    path, _ = built
    target = tmp_path / "missing.zip"
    rewrite(path, target, lambda name, data: None if name == "result.csv" else data)
    result = verify_package(target, key.public_key())
    assert any("'result.csv'" in p and "missing" in p for p in result.problems)


def test_edited_manifest_fails(built, key, tmp_path: Path) -> None:
    path, _ = built

    def edit(name: str, data: bytes) -> bytes:
        return data.replace(b"rel-0001", b"rel-0002") if name == "manifest.json" else data

    target = tmp_path / "edited.zip"
    rewrite(path, target, edit)
    result = verify_package(target, key.public_key())
    assert not result.ok and result.manifest is None
    assert any("signature" in p for p in result.problems)


def test_replaced_file_with_matching_manifest_but_old_signature_fails(
    built, key, tmp_path: Path
) -> None:
    path, _ = built
    forged = b"district,avg_water_fee\n"

    def swap(name: str, data: bytes) -> bytes:
        if name == "result.csv":
            return forged
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["files"]["result.csv"] = {
                "sha256": hashlib.sha256(forged).hexdigest(),
                "bytes": len(forged),
            }
            return package.rfc8785.dumps(manifest)
        return data

    target = tmp_path / "forged.zip"
    rewrite(path, target, swap)
    assert not verify_package(target, key.public_key()).ok


@pytest.mark.parametrize("name", ["../evil.csv", "/etc/passwd", "a/../../b", "c:/x", "a\\b"])
def test_unsafe_names_are_reported(tmp_path: Path, key, name: str) -> None:
    path = tmp_path / "unsafe.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name), b"x")
    result = verify_package(path, key.public_key())
    assert not result.ok
    assert any("unsafe file name" in p for p in result.problems), result.problems
    with pytest.raises(InvalidInput):
        build_package(tmp_path / "refused.zip", {name: b"x"}, {}, key)


@pytest.mark.parametrize(
    ("files", "manifest"),
    [
        ({"manifest.json": b"{}"}, {}),
        ({"a.csv": b"1"}, {"files": {}}),
        ({"a.csv": b"1"}, {"format": "other"}),
        ({"a.csv": b"1"}, {"bad": float("nan")}),
    ],
)
def test_build_refuses_reserved_names_and_non_json(tmp_path: Path, key, files, manifest) -> None:
    with pytest.raises(InvalidInput):
        build_package(tmp_path / "p.zip", files, manifest, key)
    assert not (tmp_path / "p.zip").exists()


def test_build_never_overwrites(built, key) -> None:
    path, _ = built
    before = path.read_bytes()
    with pytest.raises(Conflict):
        build_package(path, {"other.csv": b"1"}, {}, key)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x05\x06" + b"\x00" * 18])
def test_garbage_is_reported_not_raised(tmp_path: Path, key, content: bytes) -> None:
    path = tmp_path / "garbage.zip"
    path.write_bytes(content)
    result = verify_package(path, key.public_key())
    assert not result.ok and result.problems


def test_absent_file_is_reported(tmp_path: Path, key) -> None:
    result = verify_package(tmp_path / "nowhere.zip", key.public_key())
    assert not result.ok and "cannot read" in result.problems[0]


def test_truncated_package_fails(built, key) -> None:
    path, _ = built
    raw = path.read_bytes()
    for cut in (len(raw) - 1, len(raw) // 2, 10):
        path.write_bytes(raw[:cut])
        assert not verify_package(path, key.public_key()).ok
    path.write_bytes(raw + b"\x00")
    assert not verify_package(path, key.public_key()).ok


def test_unsigned_contents_are_not_trusted(built, key) -> None:
    path, _ = built
    with zipfile.ZipFile(path) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    members["manifest.sig"] = b"!!!not base64!!!"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    result = verify_package(path, key.public_key())
    assert not result.ok and result.manifest is None


def test_compressed_members_are_refused_before_reading(built, key, tmp_path: Path) -> None:
    path, _ = built
    target = tmp_path / "deflated.zip"
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            new.writestr(info.filename, old.read(info))
    result = verify_package(target, key.public_key())
    assert not result.ok and any("compressed" in p for p in result.problems)
