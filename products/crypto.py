"""Encrypting a release to its operator, and opening it again outside the domain.

Each package gets a fresh content key. Files are sealed with it (AES-256-GCM, or
SM4-GCM where the deployment asks for 国密 ciphers), each under its own nonce with
its name as associated data. The content key is wrapped for the operator's
registered public key: for an X25519 key, an ephemeral agreement, HKDF (SHA-256, or
SM3 beside SM4) over the shared secret, then the same AEAD; for an SM2 key (the full
国密 suite), SM2 public-key encryption of the content key. Only the ciphertexts are
listed and signed in the manifest, so anyone can verify a package with the domain's
public key, and only the operator can read it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import InvalidInput, Step
from core.sm2 import Sm2KeyError, Sm2PrivateKey, Sm2PublicKey
from products.package import verify_package
from products.reasons import reason

__all__ = [
    "CIPHERS",
    "check_cipher",
    "fingerprint",
    "generate_operator_key",
    "load_private_key",
    "load_recipient",
    "open_package",
    "open_sealed",
    "seal",
]

# cipher name: (key bytes, KDF hash, its name)
CIPHERS: dict[str, tuple[int, type[hashes.HashAlgorithm], str]] = {
    "AES-256-GCM": (32, hashes.SHA256, "HKDF-SHA256"),
    "SM4-GCM": (16, hashes.SM3, "HKDF-SM3"),
}
SUFFIX = ".enc"
NONCE_BYTES = 12
TAG_BYTES = 16
WRAP_INFO = b"sluice-release/1 content key "
WRAP_AAD = b"sluice-release/1 wrapped key"
_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
Recipient = X25519PublicKey | Sm2PublicKey
RecipientPrivate = X25519PrivateKey | Sm2PrivateKey


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _algorithm(cipher: str, key: bytes) -> algorithms.AES | algorithms.SM4:
    return algorithms.SM4(key) if cipher == "SM4-GCM" else algorithms.AES(key)


def _encrypt(cipher: str, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """nonce || ciphertext || tag."""
    nonce = os.urandom(NONCE_BYTES)
    encryptor = Cipher(_algorithm(cipher, key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + body + encryptor.tag


def _decrypt(cipher: str, key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise InvalidInput.coded("product_package_short")
    nonce, body, tag = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:-TAG_BYTES], sealed[-TAG_BYTES:]
    decryptor = Cipher(_algorithm(cipher, key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(body) + decryptor.finalize()
    except InvalidTag:
        raise InvalidInput.coded("product_decrypt_failed") from None


def check_cipher(cipher: str) -> None:
    if cipher not in CIPHERS:
        unknown = InvalidInput.coded("product_cipher_unknown", cipher=cipher)
        raise replace(unknown, reasons=[reason("release_cipher", ciphers=", ".join(CIPHERS))])


def generate_operator_key(kind: str = "x25519") -> tuple[bytes, bytes]:
    """A new key pair for an operator (X25519, or SM2 for 国密), as (private PEM, public PEM)."""
    if kind == "sm2":
        sm2 = Sm2PrivateKey.generate()
        return sm2.to_pem(), sm2.public.to_pem()
    if kind != "x25519":
        raise InvalidInput.coded("product_key_type", kind=kind)
    private = X25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def load_recipient(pem: bytes) -> Recipient:
    try:
        return Sm2PublicKey.from_pem(pem)
    except Sm2KeyError:
        pass
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, X25519PublicKey):
        raise InvalidInput.coded(
            "product_public_key_form",
            suggestion="make a key pair for releases",
            step=Step.MAKE_KEY_PAIR,
        )
    return key


def load_private_key(pem: bytes) -> RecipientPrivate:
    try:
        return Sm2PrivateKey.from_pem(pem)
    except Sm2KeyError:
        pass
    try:
        key = serialization.load_pem_private_key(pem, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, X25519PrivateKey):
        raise InvalidInput.coded("product_private_key_form")
    return key


def _raw(key: Recipient) -> bytes:
    return key.point if isinstance(key, Sm2PublicKey) else key.public_bytes(*_RAW)


def fingerprint(key: Recipient) -> str:
    return hashlib.sha256(_raw(key)).hexdigest()


def _kek(cipher: str, shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    size, digest, _ = CIPHERS[cipher]
    hkdf = HKDF(digest(), size, salt=ephemeral + recipient, info=WRAP_INFO + cipher.encode())
    return hkdf.derive(shared)


def _seal_sm2(
    files: dict[str, bytes], recipient: Sm2PublicKey, cipher: str
) -> tuple[dict[str, bytes], dict[str, Any]]:
    content_key = os.urandom(CIPHERS[cipher][0])
    members = {
        name + SUFFIX: _encrypt(cipher, content_key, data, name.encode())
        for name, data in files.items()
    }
    envelope = {
        "cipher": cipher,
        "key_wrap": "SM2",
        "recipient": fingerprint(recipient),
        "wrapped_key": _b64(recipient.wrap(content_key)),
        "suffix": SUFFIX,
    }
    return members, envelope


def seal(
    files: dict[str, bytes], recipient: Recipient, cipher: str = "AES-256-GCM"
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Encrypted members (`name.enc`) and the envelope the manifest carries."""
    check_cipher(cipher)
    if isinstance(recipient, Sm2PublicKey):
        return _seal_sm2(files, recipient, cipher)
    size, _, kdf = CIPHERS[cipher]
    content_key = os.urandom(size)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes(*_RAW)
    recipient_raw = recipient.public_bytes(*_RAW)
    kek = _kek(cipher, ephemeral.exchange(recipient), ephemeral_raw, recipient_raw)
    members = {
        name + SUFFIX: _encrypt(cipher, content_key, data, name.encode())
        for name, data in files.items()
    }
    envelope = {
        "cipher": cipher,
        "key_agreement": "X25519",
        "kdf": kdf,
        "recipient": fingerprint(recipient),
        "ephemeral_public": _b64(ephemeral_raw),
        "wrapped_key": _b64(_encrypt(cipher, kek, content_key, WRAP_AAD)),
        "suffix": SUFFIX,
    }
    return members, envelope


def _content_key_sm2(envelope: dict[str, Any], private: Sm2PrivateKey) -> bytes:
    try:
        wrapped = base64.b64decode(str(envelope["wrapped_key"]), validate=True)
        return private.unwrap(wrapped)
    except (KeyError, ValueError) as error:
        raise InvalidInput.coded("product_wrapped_key", detail=str(error)) from None


def open_sealed(
    members: dict[str, bytes], envelope: dict[str, Any], private: RecipientPrivate
) -> dict[str, bytes]:
    """The plaintext files of sealed members, for the recipient's private key."""
    cipher = str(envelope.get("cipher"))
    check_cipher(cipher)
    public = private.public if isinstance(private, Sm2PrivateKey) else private.public_key()
    if fingerprint(public) != envelope.get("recipient"):
        raise InvalidInput.coded("product_package_other_key")
    if isinstance(private, Sm2PrivateKey):
        content_key = _content_key_sm2(envelope, private)
    else:
        content_key = _content_key_x25519(envelope, private, cipher)
    opened = {}
    for member, sealed in members.items():
        name = member.removesuffix(SUFFIX)
        opened[name] = _decrypt(cipher, content_key, sealed, name.encode())
    return opened


def _content_key_x25519(envelope: dict[str, Any], private: X25519PrivateKey, cipher: str) -> bytes:
    recipient_raw = private.public_key().public_bytes(*_RAW)
    try:
        ephemeral_raw = base64.b64decode(str(envelope["ephemeral_public"]), validate=True)
        wrapped = base64.b64decode(str(envelope["wrapped_key"]), validate=True)
        ephemeral = X25519PublicKey.from_public_bytes(ephemeral_raw)
    except (KeyError, ValueError) as error:
        raise InvalidInput.coded("product_envelope_damaged", detail=str(error)) from None
    kek = _kek(cipher, private.exchange(ephemeral), ephemeral_raw, recipient_raw)
    return _decrypt(cipher, kek, wrapped, WRAP_AAD)


def open_package(
    path: Path, domain_key: Any, private: RecipientPrivate | None = None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Verify a package with the domain's public key, then return its manifest and files.

    Encrypted packages need the recipient's private key. Nothing is returned from a
    package that does not verify.
    """
    verified = verify_package(path, domain_key)
    if not verified.ok or verified.manifest is None:
        unverified = InvalidInput.coded("product_package_unverified")
        raise replace(unverified, reasons=verified.reasons)
    manifest = verified.manifest
    with zipfile.ZipFile(io.BytesIO(Path(path).read_bytes())) as archive:
        members = {name: archive.read(name) for name in manifest["files"]}
    # the file was read again: its members must still be the ones just verified
    for name, data in members.items():
        if hashlib.sha256(data).hexdigest() != manifest["files"][name]["sha256"]:
            raise InvalidInput.coded("product_package_changed", name=name)
    envelope = manifest.get("encryption")
    if not envelope:
        return manifest, members
    if private is None:
        raise InvalidInput.coded(
            "product_package_encrypted",
            cipher=envelope.get("cipher"),
            suggestion="give the operator's private key",
            step=Step.GIVE_PRIVATE_KEY,
        )
    return manifest, open_sealed(members, envelope, private)
