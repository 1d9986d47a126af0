"""Signing tree heads with the domain key: Ed25519 by default, SM2 in the 国密 suite.

The suite is chosen per domain (SLUICE_CRYPTO_SUITE=default|gm); SM2 signs with SM3
and the default signer id, through GmSSL (`core.sm2`), and OpenSSL 3 can check it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from audit_log.canonical import canonical
from core.errors import InvalidInput, Step
from core.sm2 import Sm2KeyError, Sm2PrivateKey, Sm2PublicKey

HEAD_TYPE = "sluice.tree_head/v1"
_SESSION_KEY = "sluice.audit.signer"
_INTERVAL_KEY = "sluice.audit.head_seconds"
DEFAULT_HEAD_SECONDS = 60


class Signer(Protocol):
    algorithm: str

    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


class Verifier(Protocol):
    algorithm: str

    def key_id(self) -> str: ...

    def verify(self, signature: bytes, message: bytes) -> bool: ...


def _ed25519_key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


class Ed25519Verifier:
    algorithm = "ed25519"

    def __init__(self, public: Ed25519PublicKey) -> None:
        self.public = public

    def key_id(self) -> str:
        return _ed25519_key_id(self.public)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self.public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __reduce__(self) -> tuple[Callable[[bytes], Ed25519Verifier], tuple[bytes]]:
        """Pickled as the raw public key, so verification can run in worker processes."""
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return _ed25519_verifier, (raw,)


def _ed25519_verifier(raw: bytes) -> Ed25519Verifier:
    return Ed25519Verifier(Ed25519PublicKey.from_public_bytes(raw))


class Ed25519Signer:
    """Signs with the domain key, loaded on first use (most sessions never sign)."""

    algorithm = "ed25519"

    def __init__(self, load: Callable[[], Ed25519PrivateKey]) -> None:
        self._load = load
        self._key: Ed25519PrivateKey | None = None

    def _private(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = self._load()
        return self._key

    def key_id(self) -> str:
        return _ed25519_key_id(self._private().public_key())

    def sign(self, message: bytes) -> bytes:
        return self._private().sign(message)

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self._private().public_key())


class Sm2Verifier:
    """SM2 with SM3 and the default signer id (GB/T 32918, GM/T 0009)."""

    algorithm = "sm2"

    def __init__(self, public: Sm2PublicKey) -> None:
        self.public = public

    def key_id(self) -> str:
        return self.public.key_id()

    def verify(self, signature: bytes, message: bytes) -> bool:
        return self.public.verify(signature, message)


class Sm2Signer:
    """Signs with the domain's SM2 key (国密 suite), loaded on first use."""

    algorithm = "sm2"

    def __init__(self, load: Callable[[], Sm2PrivateKey]) -> None:
        self._load = load
        self._key: Sm2PrivateKey | None = None

    def _private(self) -> Sm2PrivateKey:
        if self._key is None:
            self._key = self._load()
        return self._key

    def key_id(self) -> str:
        return self._private().public.key_id()

    def sign(self, message: bytes) -> bytes:
        return self._private().sign(message)

    def verifier(self) -> Sm2Verifier:
        return Sm2Verifier(self._private().public)


#: crypto suite: (signature algorithm, Merkle hash suite, release cipher)
CRYPTO_SUITES: dict[str, tuple[str, str, str]] = {
    "default": ("ed25519", "sha256", "AES-256-GCM"),
    "gm": ("sm2", "sm3", "SM4-GCM"),
}


def suite_parts(suite: str) -> tuple[str, str, str]:
    """(signature, hash, cipher) of a crypto suite; refuses unknown names."""
    parts = CRYPTO_SUITES.get(suite)
    if parts is None:
        raise InvalidInput.coded(
            "audit_crypto_suite_unknown", name=suite, known=", ".join(CRYPTO_SUITES)
        )
    return parts


def make_signer(
    algorithm: str,
    load_ed25519: Callable[[], Ed25519PrivateKey],
    load_sm2: Callable[[], Sm2PrivateKey] | None = None,
) -> Signer:
    """The domain's signer for its configured algorithm; refuses unknown names."""
    if algorithm == "ed25519":
        return Ed25519Signer(load_ed25519)
    if algorithm == "sm2" and load_sm2 is not None:
        return Sm2Signer(load_sm2)
    if algorithm == "sm2":
        raise InvalidInput.coded("audit_sm2_key_missing")
    raise InvalidInput.coded("audit_signature_unknown", name=algorithm)


def with_signer(
    sessions: Callable[[], Session], signer: Signer, head_seconds: float = DEFAULT_HEAD_SECONDS
) -> Callable[[], Session]:
    """A session factory whose sessions sign tree heads as the log grows.

    A head is signed every N entries and whenever an entry arrives `head_seconds`
    or more after the last head, so a signed head is never older than that while
    entries arrive.
    """

    def make() -> Session:
        session = sessions()
        session.info[_SESSION_KEY] = signer
        session.info[_INTERVAL_KEY] = head_seconds
        return session

    return make


def session_signer(session: Session) -> Signer | None:
    signer: Signer | None = session.info.get(_SESSION_KEY)
    return signer


def session_head_seconds(session: Session) -> float:
    seconds: float = session.info.get(_INTERVAL_KEY, DEFAULT_HEAD_SECONDS)
    return seconds


def session_verifier(session: Session) -> Verifier | None:
    """The verifier for the key this session signs with, if it signs at all."""
    signer = session_signer(session)
    if isinstance(signer, Ed25519Signer):
        return signer.verifier()
    if isinstance(signer, Sm2Signer):
        return signer.verifier()
    return None


def head_message(head: dict[str, Any]) -> bytes:
    """The bytes a tree head's signature covers: every field but the signature, canonical."""
    body = {k: v for k, v in head.items() if k not in ("signature", "type")}
    return canonical({"type": HEAD_TYPE, **body})


def sign_head(signer: Signer, fields: dict[str, Any]) -> dict[str, Any]:
    head = {**fields, "signature_algorithm": signer.algorithm, "key_id": signer.key_id()}
    signature = signer.sign(head_message(head))
    return {**head, "signature": base64.b64encode(signature).decode()}


def head_signature_ok(head: dict[str, Any], verifier: Verifier) -> bool:
    if head.get("signature_algorithm") != verifier.algorithm:
        return False
    text = str(head.get("signature", ""))
    try:
        signature = base64.b64decode(text, validate=True)
    except ValueError:
        return False
    # base64 can spell the same bytes more than one way (the last character's spare
    # bits); only the canonical spelling is accepted, so no character of a head is loose
    if base64.b64encode(signature).decode() != text:
        return False
    return verifier.verify(signature, head_message(head))


def load_verifier(pem: bytes) -> Ed25519Verifier | Sm2Verifier:
    """A verifier from a PEM public key (Ed25519 or SM2), as `sluice audit pubkey` writes it."""
    try:
        return Sm2Verifier(Sm2PublicKey.from_pem(pem))
    except Sm2KeyError:
        pass
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise InvalidInput.coded("audit_pubkey_not_pem") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput.coded(
            "audit_pubkey_kind",
            suggestion="export the domain's public key again",
            step=Step.EXPORT_PUBLIC_KEY,
        )
    return Ed25519Verifier(key)
