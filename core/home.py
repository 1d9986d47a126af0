"""The domain home (`SLUICE_HOME`): its folders, its keys, and their permissions.

Keys are created once, written with mode 0600, and never printed. The signing
key signs audit heads and release packages; the pseudonym key keys the hashes
that replace identifiers, so joins still work inside the domain but the raw
values cannot be recomputed outside it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.errors import NotFound, Step
from core.sm2 import Sm2PrivateKey, Sm2PublicKey, is_sm2_public_pem


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


DomainPrivateKey = Ed25519PrivateKey | Sm2PrivateKey
DomainPublicKey = Ed25519PublicKey | Sm2PublicKey


@dataclass(frozen=True)
class Home:
    """A domain's folders and keys; `crypto_suite` picks which key signs ("gm": SM2)."""

    root: Path
    crypto_suite: str = "default"

    @property
    def uses_sm2(self) -> bool:
        return self.crypto_suite == "gm"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def store(self) -> Path:
        """Desensitized Parquet, one folder per dataset: what sandboxes may read."""
        return self.root / "store"

    @property
    def filtered(self) -> Path:
        """Per-license copies of store files holding only the rows a row filter allows."""
        return self.root / "filtered"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def database(self) -> Path:
        return self.root / "sluice.db"

    @property
    def signing_key_path(self) -> Path:
        return self.keys / "domain-ed25519.pem"

    @property
    def ed25519_public_key_path(self) -> Path:
        return self.keys / "domain-ed25519.pub.pem"

    @property
    def public_key_path(self) -> Path:
        """The public key of the suite this domain signs with: what a verifier needs."""
        return self.sm2_public_key_path if self.uses_sm2 else self.ed25519_public_key_path

    @property
    def sm2_key_path(self) -> Path:
        """The domain's SM2 key (国密 suite), PKCS#8 as OpenSSL 3 writes it."""
        return self.keys / "domain-sm2.pem"

    @property
    def sm2_public_key_path(self) -> Path:
        return self.keys / "domain-sm2.pub.pem"

    @property
    def pseudonym_key_path(self) -> Path:
        return self.keys / "pseudonym.key"

    def create(self) -> None:
        """Make folders and keys that are missing; never overwrite a key."""
        for folder in (self.root, self.keys, self.store, self.jobs, self.releases):
            folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.keys, 0o700)
        if not self.signing_key_path.exists():
            key = Ed25519PrivateKey.generate()
            _write_private(
                self.signing_key_path,
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
            self.ed25519_public_key_path.write_bytes(
                key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
        if not self.sm2_key_path.exists():
            sm2 = Sm2PrivateKey.generate()
            _write_private(self.sm2_key_path, sm2.to_pem())
            self.sm2_public_key_path.write_bytes(sm2.public.to_pem())
        if not self.pseudonym_key_path.exists():
            _write_private(self.pseudonym_key_path, secrets.token_bytes(32))

    def signing_key(self) -> Ed25519PrivateKey:
        key = serialization.load_pem_private_key(self.signing_key_path.read_bytes(), None)
        assert isinstance(key, Ed25519PrivateKey)
        return key

    def public_key(self) -> DomainPublicKey:
        """The key that verifies this domain's heads and packages, for its crypto suite."""
        return load_public_key(self.public_key_path.read_bytes())

    def package_key(self) -> DomainPrivateKey:
        """The key that signs release packages: SM2 in the 国密 suite, else Ed25519."""
        return self.sm2_key() if self.uses_sm2 else self.signing_key()

    def sm2_key(self) -> Sm2PrivateKey:
        if not self.sm2_key_path.exists():
            raise NotFound.coded(
                "core_sm2_key_missing",
                path=str(self.sm2_key_path),
                suggestion="initialize the domain again (it only adds missing keys)",
                step=Step.INIT_DOMAIN,
            )
        return Sm2PrivateKey.from_pem(self.sm2_key_path.read_bytes())

    def sm2_public_key(self) -> Sm2PublicKey:
        return Sm2PublicKey.from_pem(self.sm2_public_key_path.read_bytes())

    def pseudonym_key(self) -> bytes:
        return self.pseudonym_key_path.read_bytes()


def load_public_key(pem: bytes) -> DomainPublicKey:
    """An Ed25519 or SM2 public key from PEM; ValueError for anything else."""
    if is_sm2_public_pem(pem):
        return Sm2PublicKey.from_pem(pem)
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 or SM2 public key")
    return key
