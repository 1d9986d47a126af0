"""The 国密 suite for releases: SM2-signed packages sealed with SM4-GCM, the key wrapped by SM2.

Verified offline with only the domain's SM2 public key; every changed byte fails;
only the operator's SM2 key opens the files.
"""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.errors import InvalidInput
from core.sm2 import Sm2PrivateKey
from products.crypto import (
    generate_operator_key,
    load_private_key,
    load_recipient,
    open_package,
    seal,
)
from products.package import build_package, verify_package

FILES = {"result.csv": "district,n\n海曙区,120\n北仑区,95\n".encode()}


@pytest.fixture(scope="module")
def gm_package(tmp_path_factory: pytest.TempPathFactory):
    domain = Sm2PrivateKey.generate()
    private_pem, public_pem = generate_operator_key("sm2")
    members, envelope = seal(FILES, load_recipient(public_pem), "SM4-GCM")
    path = tmp_path_factory.mktemp("gm") / "job-1.zip"
    build_package(path, members, {"job": 1, "encryption": envelope}, domain)
    return path, domain, load_private_key(private_pem)


def test_an_sm2_signed_sm4_package_verifies_and_opens_for_its_operator(gm_package) -> None:
    path, domain, operator = gm_package
    checked = verify_package(path, domain.public)
    assert checked.ok, checked.problems
    manifest = checked.manifest or {}
    assert manifest["signature_alg"] == "SM2-SM3"
    assert manifest["encryption"]["cipher"] == "SM4-GCM"
    assert manifest["encryption"]["key_wrap"] == "SM2"
    with zipfile.ZipFile(path) as archive:  # nothing readable travels in the clear
        assert all(FILES["result.csv"] not in archive.read(n) for n in archive.namelist())
    _manifest, files = open_package(path, domain.public, operator)
    assert files == FILES


def test_another_sm2_key_cannot_open_or_verify(gm_package) -> None:
    path, domain, _operator = gm_package
    stranger = Sm2PrivateKey.generate()
    with pytest.raises(InvalidInput, match="another key"):
        open_package(path, domain.public, stranger)
    assert not verify_package(path, stranger.public).ok
    ed25519 = Ed25519PrivateKey.generate().public_key()
    assert not verify_package(path, ed25519).ok


def test_flipping_any_byte_of_an_sm2_package_fails(gm_package, tmp_path: Path) -> None:
    path, domain, _operator = gm_package
    raw = path.read_bytes()
    target = tmp_path / "flipped.zip"
    for index in range(len(raw)):
        changed = bytearray(raw)
        changed[index] ^= 0x01
        target.write_bytes(bytes(changed))
        assert not verify_package(target, domain.public).ok, f"byte {index} flipped unnoticed"


def test_a_changed_wrapped_key_does_not_open(gm_package, tmp_path: Path) -> None:
    path, domain, operator = gm_package
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        members = {n: archive.read(n) for n in manifest["files"]}
    envelope = dict(manifest["encryption"])
    wrapped = bytearray(base64.b64decode(envelope["wrapped_key"]))
    wrapped[-1] ^= 1
    envelope["wrapped_key"] = base64.b64encode(bytes(wrapped)).decode()
    resigned = tmp_path / "resigned.zip"
    body = {k: v for k, v in manifest.items() if k not in ("files", "format", "signature_alg")}
    build_package(resigned, members, {**body, "encryption": envelope}, domain)
    with pytest.raises(InvalidInput):
        open_package(resigned, domain.public, operator)
