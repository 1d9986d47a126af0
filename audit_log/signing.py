"""Signing tree heads: Ed25519 with the domain key; SM2 only through an explicit opt-in.

`cryptography` has no SM2, so `Sm2Signer` is an adapter: it refuses unless the
domain opts in by name and supplies an SM2 backend, and says how to do both.
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

HEAD_TYPE = "sluice.tree_head/v1"
_SESSION_KEY = "sluice.audit.signer"


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


class Sm2Backend(Protocol):
    """What an SM2 implementation must offer to be plugged in (GB/T 32918 with SM3)."""

    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...

    def verify(self, signature: bytes, message: bytes) -> bool: ...


class Sm2Signer:
    """SM2 signatures (国密 SM2), refused unless explicitly opted in with a backend."""

    algorithm = "sm2"

    def __init__(self, opt_in: bool, backend: Sm2Backend | None = None) -> None:
        if not opt_in:
            raise InvalidInput(
                "SM2 signatures are opt-in: set SLUICE_AUDIT_SM2_OPT_IN=true to accept them, "
                "or keep SLUICE_AUDIT_SIGNATURE=ed25519 (the default)"
            )
        if backend is None:
            raise InvalidInput(
                "SM2 is opted in but no SM2 implementation is plugged in (cryptography has "
                "none); pass an Sm2Backend to Sm2Signer, or use SLUICE_AUDIT_SIGNATURE=ed25519"
            )
        self.backend = backend

    def key_id(self) -> str:
        return self.backend.key_id()

    def sign(self, message: bytes) -> bytes:
        return self.backend.sign(message)

    def verify(self, signature: bytes, message: bytes) -> bool:
        return self.backend.verify(signature, message)


def make_signer(
    algorithm: str,
    load_ed25519: Callable[[], Ed25519PrivateKey],
    sm2_opt_in: bool = False,
    sm2_backend: Sm2Backend | None = None,
) -> Signer:
    """The domain's signer for its configured algorithm; refuses unknown names."""
    if algorithm == "ed25519":
        return Ed25519Signer(load_ed25519)
    if algorithm == "sm2":
        return Sm2Signer(sm2_opt_in, sm2_backend)
    raise InvalidInput(f"unknown signature algorithm {algorithm!r}; use ed25519 (or opt in to sm2)")


def with_signer(sessions: Callable[[], Session], signer: Signer) -> Callable[[], Session]:
    """A session factory whose sessions can sign tree heads as the log grows."""

    def make() -> Session:
        session = sessions()
        session.info[_SESSION_KEY] = signer
        return session

    return make


def session_signer(session: Session) -> Signer | None:
    signer: Signer | None = session.info.get(_SESSION_KEY)
    return signer


def session_verifier(session: Session) -> Verifier | None:
    """The verifier for the key this session signs with, if it signs at all."""
    signer = session_signer(session)
    if isinstance(signer, Ed25519Signer):
        return signer.verifier()
    if isinstance(signer, Sm2Signer):
        return signer
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
    try:
        signature = base64.b64decode(str(head.get("signature", "")), validate=True)
    except ValueError:
        return False
    return verifier.verify(signature, head_message(head))


def load_verifier(pem: bytes) -> Ed25519Verifier:
    """A verifier from a PEM public key, as `sluice audit pubkey` writes it."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise InvalidInput("the public key file is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(
            "the public key is not an Ed25519 key",
            suggestion="export the domain's public key again",
            step=Step.EXPORT_PUBLIC_KEY,
        )
    return Ed25519Verifier(key)
