"""Encrypted release packages: verifiable by anyone, readable only by the operator."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.errors import InvalidInput, Step
from products.crypto import (
    generate_operator_key,
    load_private_key,
    load_recipient,
    open_package,
    open_sealed,
    seal,
)
from products.package import build_package, verify_package

FILES = {"result.csv": "district,n\n海曙区,120\n".encode(), "custom/note.txt": b"a note\n"}


@pytest.fixture(scope="module")
def domain_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def operator_keys():
    private_pem, public_pem = generate_operator_key()
    return load_private_key(private_pem), load_recipient(public_pem)


@pytest.mark.parametrize("cipher", ["AES-256-GCM", "SM4-GCM"])
def test_sealed_files_open_only_for_the_recipient(operator_keys, cipher: str) -> None:
    private, public = operator_keys
    members, envelope = seal(FILES, public, cipher)
    assert set(members) == {"result.csv.enc", "custom/note.txt.enc"}
    assert all(FILES[n.removesuffix(".enc")] not in m for n, m in members.items())
    assert envelope["cipher"] == cipher and envelope["key_agreement"] == "X25519"
    assert envelope["kdf"] == ("HKDF-SM3" if cipher == "SM4-GCM" else "HKDF-SHA256")
    assert open_sealed(members, envelope, private) == FILES
    stranger = load_private_key(generate_operator_key()[0])
    with pytest.raises(InvalidInput, match="another key"):
        open_sealed(members, envelope, stranger)


def test_a_changed_ciphertext_or_swapped_name_fails(operator_keys) -> None:
    private, public = operator_keys
    members, envelope = seal(FILES, public)
    flipped = dict(members)
    data = bytearray(flipped["result.csv.enc"])
    data[20] ^= 1
    flipped["result.csv.enc"] = bytes(data)
    with pytest.raises(InvalidInput, match="decryption failed"):
        open_sealed(flipped, envelope, private)
    swapped = {"result.csv.enc": members["custom/note.txt.enc"]}
    with pytest.raises(InvalidInput, match="decryption failed"):
        open_sealed(swapped, envelope, private)


@pytest.mark.parametrize("cipher", ["AES-256-GCM", "SM4-GCM"])
def test_encrypted_package_verifies_offline_and_opens_with_the_key(
    tmp_path: Path, domain_key, operator_keys, cipher: str
) -> None:
    private, public = operator_keys
    members, envelope = seal(FILES, public, cipher)
    path = tmp_path / "p.zip"
    build_package(path, members, {"job": 1, "encryption": envelope}, domain_key)
    checked = verify_package(path, domain_key.public_key())  # no private key needed
    assert checked.ok, checked.problems
    manifest, files = open_package(path, domain_key.public_key(), private)
    assert files == FILES and manifest["encryption"]["cipher"] == cipher
    with pytest.raises(InvalidInput, match="give the operator's private key") as locked:
        open_package(path, domain_key.public_key())
    assert locked.value.step == Step.GIVE_PRIVATE_KEY  # the CLI words it as --key


def test_every_byte_of_an_encrypted_package_is_covered(tmp_path: Path, domain_key, operator_keys):
    _, public = operator_keys
    members, envelope = seal({"result.csv": b"a,b\n1,2\n"}, public)
    path = tmp_path / "p.zip"
    build_package(path, members, {"job": 1, "encryption": envelope}, domain_key)
    original = path.read_bytes()
    accepted = []
    for offset in range(len(original)):
        raw = bytearray(original)
        raw[offset] ^= 0x01
        path.write_bytes(bytes(raw))
        if verify_package(path, domain_key.public_key()).ok:
            accepted.append(offset)
    assert accepted == []


def test_opening_refuses_a_package_that_does_not_verify(tmp_path: Path, domain_key) -> None:
    path = tmp_path / "p.zip"
    build_package(path, {"result.csv": b"x\n"}, {"job": 1}, domain_key)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("extra.csv", b"smuggled\n")
    with pytest.raises(InvalidInput, match="does not verify"):
        open_package(path, domain_key.public_key())


def test_keys_of_the_wrong_kind_are_refused() -> None:
    ed_pem = Ed25519PrivateKey.generate().public_key().public_bytes(*_pem_public())
    with pytest.raises(InvalidInput, match="X25519"):
        load_recipient(ed_pem)
    with pytest.raises(InvalidInput, match="X25519"):
        load_private_key(b"not a key")
    with pytest.raises(InvalidInput, match="unknown cipher"):
        seal(FILES, load_recipient(generate_operator_key()[1]), "DES-CBC")


def _pem_public():
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
