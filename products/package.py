"""Signed release packages (出域数据包): a zip of released files, a manifest, and its signature.

The manifest lists every file's SHA-256 and size in canonical JSON (RFC 8785) and is
signed with the domain's key (Ed25519, or SM2 with SM3 in the 国密 suite), so anyone
holding the public key can check a package offline. The zip itself is written
canonically, so verification can demand that every byte is the one the signer
wrote, not only the bytes of each file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.errors import Conflict, InvalidInput, Reason
from core.sm2 import Sm2PrivateKey, Sm2PublicKey
from products.reasons import reason

__all__ = ["FORMAT", "PackageVerification", "build_package", "verify_package"]

FORMAT = "sluice-release/1"
SIGNATURE_ALG = "Ed25519"
SM2_SIGNATURE_ALG = "SM2-SM3"  # GB/T 32918 with SM3 and the default signer id
SigningKey = Ed25519PrivateKey | Sm2PrivateKey
PublicKey = Ed25519PublicKey | Sm2PublicKey
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
RESERVED_KEYS = ("files", "format", "signature_alg")
# Fixed member metadata: the same contents always give the same zip bytes.
_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16
_MAX_MANIFEST_BYTES = 16 * 1024 * 1024


@dataclass
class PackageVerification:
    """The outcome of checking a package: ok only when it has no `reasons` against it."""

    ok: bool
    reasons: list[Reason] = field(default_factory=list)
    manifest: dict[str, Any] | None = None

    @property
    def problems(self) -> list[str]:
        """The reasons in English, one sentence each."""
        return [r.message for r in self.reasons]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _name_reason(name: str) -> Reason | None:
    """Why a member name is unsafe to extract, or None if it is safe."""
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        return reason("release_name_absolute", name=name)
    if (len(name) > 1 and name[1] == ":") or any(p in ("", ".", "..") for p in parts):
        return reason("release_name_segment", name=name)
    return None


def _zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    """The canonical zip of `members`, in the given order: stored, fixed metadata."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_DATE_TIME)
            info.create_system = 3  # unix, whatever the platform, so bytes do not vary
            info.external_attr = _FILE_MODE
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, data)
    return buffer.getvalue()


def _members(files: dict[str, bytes], manifest_bytes: bytes, signature: bytes) -> list:
    return [*sorted(files.items()), (MANIFEST, manifest_bytes), (SIGNATURE, signature)]


def _algorithm(key: SigningKey | PublicKey) -> str:
    return SM2_SIGNATURE_ALG if isinstance(key, Sm2PrivateKey | Sm2PublicKey) else SIGNATURE_ALG


def build_package(
    path: Path, files: dict[str, bytes], manifest: dict[str, Any], key: SigningKey
) -> dict[str, str]:
    """Write a signed package at `path` (never over an existing one); return its digests."""
    problems = [p for p in map(_name_reason, files) if p]
    problems += [
        reason("release_name_reserved", name=name)
        for name in files
        if name in (MANIFEST, SIGNATURE)
    ]
    problems += [reason("release_key_reserved", key=k) for k in RESERVED_KEYS if k in manifest]
    if problems:
        raise InvalidInput(
            "cannot build release package: " + "; ".join(p.message for p in problems), problems
        )
    path = Path(path)
    if path.exists():
        exists = Conflict.coded("product_package_exists", path=str(path))
        raise replace(exists, reasons=[reason("release_package_exists")])
    body = {
        **manifest,
        "files": {
            name: {"sha256": _sha256(data), "bytes": len(data)} for name, data in files.items()
        },
        "signature_alg": _algorithm(key),
        "format": FORMAT,
    }
    try:
        manifest_bytes = rfc8785.dumps(body)
    except rfc8785.CanonicalizationError as error:
        raise InvalidInput(
            f"the release manifest cannot be written as canonical JSON: {error}",
            [reason("release_manifest_json", detail=str(error))],
        ) from error
    signature = base64.b64encode(key.sign(manifest_bytes))
    archive = _zip_bytes(_members(files, manifest_bytes, signature))
    # Write beside the target and link into place: a crash never leaves half a package.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(archive)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)  # fails rather than replace a package written meanwhile
    except FileExistsError as error:
        raise Conflict.coded("product_package_exists", path=str(path)) from error
    finally:
        os.unlink(temporary)
    return {"sha256": _sha256(archive), "manifest_sha256": _sha256(manifest_bytes)}


def _check_signature(manifest_bytes: bytes, signature: bytes, key: PublicKey) -> Reason | None:
    problem = reason("release_signature")
    try:
        raw = base64.b64decode(signature, validate=True)
        if base64.b64encode(raw) != signature:
            return problem  # a second spelling of the same bytes: refuse, not ignore
        if isinstance(key, Sm2PublicKey):
            return None if key.verify(raw, manifest_bytes) else problem
        key.verify(raw, manifest_bytes)
    except (binascii.Error, ValueError, InvalidSignature):
        return problem
    return None


def _check_manifest(
    manifest_bytes: bytes, algorithm: str
) -> tuple[dict[str, Any] | None, list[Reason]]:
    try:
        manifest = json.loads(manifest_bytes)
    except (UnicodeDecodeError, ValueError):
        return None, [reason("release_manifest_not_json")]
    if not isinstance(manifest, dict):
        return None, [reason("release_manifest_not_object")]
    problems = []
    if rfc8785.dumps(manifest) != manifest_bytes:
        problems.append(reason("release_manifest_not_canonical"))
    if manifest.get("format") != FORMAT:
        found = manifest.get("format")
        problems.append(reason("release_manifest_format", found=found, expected=FORMAT))
    if manifest.get("signature_alg") != algorithm:
        problems.append(reason("release_manifest_algorithm", algorithm=algorithm))
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) and isinstance(v.get("bytes"), int)
        for v in listed.values()
    ):
        return None, [*problems, reason("release_manifest_files")]
    return manifest, problems


def _check_files(archive: zipfile.ZipFile, listed: dict[str, Any]) -> tuple[dict, list[Reason]]:
    """Compare every member with its manifest entry; return the contents read."""
    problems: list[Reason] = []
    contents: dict[str, bytes] = {}
    present = {i.filename: i for i in archive.infolist()}
    present.pop(MANIFEST, None)
    present.pop(SIGNATURE, None)
    problems += [reason("release_file_missing", name=n) for n in sorted(set(listed) - set(present))]
    problems += [
        reason("release_file_unlisted", name=n) for n in sorted(set(present) - set(listed))
    ]
    for name in sorted(set(listed) & set(present)):
        expected, info = listed[name], present[name]
        if info.file_size != expected["bytes"]:
            problems.append(
                reason(
                    "release_file_size", name=name, size=info.file_size, listed=expected["bytes"]
                )
            )
            continue
        data = archive.read(info)
        if len(data) != expected["bytes"] or _sha256(data) != expected["sha256"]:
            problems.append(reason("release_file_digest", name=name))
            continue
        contents[name] = data
    return contents, problems


def _inspect(raw: bytes, key: PublicKey) -> tuple[dict[str, Any] | None, list[Reason]]:
    archive = zipfile.ZipFile(io.BytesIO(raw))
    infos = archive.infolist()
    # Stored members cannot expand beyond the package's own size: no zip bombs.
    packed = [i.filename for i in infos if i.compress_type != zipfile.ZIP_STORED]
    if packed:
        return None, [reason("release_file_compressed", name=n) for n in packed]
    names = [info.filename for info in infos]
    problems = [p for p in map(_name_reason, names) if p]
    problems += [
        reason("release_file_twice", name=n) for n in sorted(set(names)) if names.count(n) > 1
    ]
    if MANIFEST not in names or SIGNATURE not in names:
        return None, [*problems, reason("release_manifest_missing")]
    if archive.getinfo(MANIFEST).file_size > _MAX_MANIFEST_BYTES:
        return None, [*problems, reason("release_manifest_large")]
    manifest_bytes, signature = archive.read(MANIFEST), archive.read(SIGNATURE)
    signature_problem = _check_signature(manifest_bytes, signature, key)
    problems += [signature_problem] if signature_problem else []
    manifest, manifest_problems = _check_manifest(manifest_bytes, _algorithm(key))
    problems += manifest_problems
    if manifest is None:
        return None, problems
    contents, file_problems = _check_files(archive, manifest["files"])
    problems += file_problems
    if not problems:
        canonical = _zip_bytes(_members(contents, manifest_bytes, signature))
        if canonical != raw:
            problems.append(reason("release_not_canonical"))
    return manifest, problems


def verify_package(path: Path, public_key: PublicKey) -> PackageVerification:
    """Check signature, file digests and sizes, names, and every byte; report, never raise."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        detail = str(error.strerror or error)
        return PackageVerification(False, [reason("release_unreadable", detail=detail)])
    try:
        manifest, problems = _inspect(raw, public_key)
    # A tampered zip can fail inside zipfile in many ways; each is a finding, not a crash.
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        KeyError,
        NotImplementedError,
        OSError,
        RuntimeError,
        ValueError,
        OverflowError,
        UnicodeError,
    ) as error:
        return PackageVerification(False, [reason("release_not_package", detail=str(error))])
    if problems:
        return PackageVerification(False, problems, None)
    return PackageVerification(True, [], manifest)
