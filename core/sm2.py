"""SM2 (国密 SM2, GB/T 32918) keys, signatures and key wrapping, through GmSSL (`gmssl-pyx`).

Keys are stored the way OpenSSL 3 writes them (PKCS#8 and SubjectPublicKeyInfo with
the SM2 curve), so `openssl pkeyutl` can check a Sluice signature and the reverse.
Signatures are SM2 with SM3 over Z(A) and the message, signer id 1234567812345678.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import gmssl_pyx

DEFAULT_SIGNER_ID = b"1234567812345678"
PUBLIC_BYTES = 64  # x || y
PRIVATE_BYTES = 32
# SEQUENCE { SEQUENCE { id-ecPublicKey, sm2 }, BIT STRING 0x00 0x04 ... }: the fixed prefix
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")
_ALGORITHM = bytes.fromhex("301306072a8648ce3d020106082a811ccf5501822d")


class Sm2KeyError(ValueError):
    """Bytes that are not an SM2 key in the form this module reads."""


def _pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"
    ).encode()


def _unpem(pem: bytes, label: str) -> bytes:
    text = pem.decode("ascii", errors="replace")
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    if begin not in text or end not in text:
        raise Sm2KeyError(f"not a PEM {label.lower()}")
    body = text.split(begin, 1)[1].split(end, 1)[0]
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except ValueError:
        raise Sm2KeyError(f"the PEM {label.lower()} is not base64") from None


def _tlv(data: bytes, at: int) -> tuple[int, bytes, int]:
    """(tag, value, position after it) of the DER element at `at`."""
    if at + 2 > len(data):
        raise Sm2KeyError("truncated DER")
    tag, length, at = data[at], data[at + 1], at + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 2 or at + count > len(data):
            raise Sm2KeyError("unsupported DER length")
        length, at = int.from_bytes(data[at : at + count], "big"), at + count
    if at + length > len(data):
        raise Sm2KeyError("truncated DER")
    return tag, data[at : at + length], at + length


def _children(value: bytes) -> list[tuple[int, bytes]]:
    items, at = [], 0
    while at < len(value):
        tag, inner, at = _tlv(value, at)
        items.append((tag, inner))
    return items


def _der(tag: int, value: bytes) -> bytes:
    length = len(value)
    if length < 0x80:
        return bytes([tag, length]) + value
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + value


@dataclass(frozen=True)
class Sm2PublicKey:
    point: bytes  # x || y, 64 bytes

    def __post_init__(self) -> None:
        if len(self.point) != PUBLIC_BYTES:
            raise Sm2KeyError("an SM2 public key is 64 bytes (x || y)")

    def to_pem(self) -> bytes:
        return _pem("PUBLIC KEY", _SPKI_PREFIX + self.point)

    @classmethod
    def from_pem(cls, pem: bytes) -> Sm2PublicKey:
        der = _unpem(pem, "PUBLIC KEY")
        if len(der) != len(_SPKI_PREFIX) + PUBLIC_BYTES or not der.startswith(_SPKI_PREFIX):
            raise Sm2KeyError("not an SM2 public key (SubjectPublicKeyInfo on the SM2 curve)")
        return cls(der[len(_SPKI_PREFIX) :])

    def key_id(self) -> str:
        return hashlib.sha256(self.point).hexdigest()

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            return bool(gmssl_pyx.sm2_verify(self.point, message, signature, DEFAULT_SIGNER_ID))
        except gmssl_pyx.GmsslInnerError:
            return False

    def wrap(self, secret: bytes) -> bytes:
        """SM2 public-key encryption of a short secret (C1C3C2, DER), for key wrapping."""
        return bytes(gmssl_pyx.sm2_encrypt(self.point, secret))


@dataclass(frozen=True)
class Sm2PrivateKey:
    scalar: bytes  # d, 32 bytes
    public: Sm2PublicKey

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        point, scalar = gmssl_pyx.sm2_key_generate()
        return cls(bytes(scalar), Sm2PublicKey(bytes(point)))

    def to_pem(self) -> bytes:
        """PKCS#8 with an ECPrivateKey inside, public point included, as OpenSSL writes it."""
        ec_key = _der(
            0x30,
            _der(0x02, b"\x01")
            + _der(0x04, self.scalar)
            + _der(0xA1, _der(0x03, b"\x00\x04" + self.public.point)),
        )
        body = _der(0x02, b"\x00") + _ALGORITHM + _der(0x04, ec_key)
        return _pem("PRIVATE KEY", _der(0x30, body))

    @classmethod
    def from_pem(cls, pem: bytes) -> Sm2PrivateKey:
        der = _unpem(pem, "PRIVATE KEY")
        tag, outer, _ = _tlv(der, 0)
        items = _children(outer) if tag == 0x30 else []
        if len(items) < 3 or items[1] != (0x30, _ALGORITHM[2:]) or items[2][0] != 0x04:
            raise Sm2KeyError("not an SM2 private key (PKCS#8 on the SM2 curve)")
        tag, ec_key, _ = _tlv(items[2][1], 0)
        fields = _children(ec_key) if tag == 0x30 else []
        scalar = next((v for t, v in fields if t == 0x04), b"")
        explicit = [v for t, v in fields if t == 0xA1]
        if len(scalar) != PRIVATE_BYTES or not explicit:
            raise Sm2KeyError("the SM2 private key lacks its scalar or its public point")
        _tag, bits, _ = _tlv(explicit[0], 0)
        if len(bits) != 2 + PUBLIC_BYTES or bits[:2] != b"\x00\x04":
            raise Sm2KeyError("the SM2 private key's public point is not uncompressed")
        return cls(scalar, Sm2PublicKey(bits[2:]))

    def sign(self, message: bytes) -> bytes:
        """DER (r, s) over SM3(Z(A) || message) with the default signer id."""
        return bytes(gmssl_pyx.sm2_sign(self.scalar, self.public.point, message, DEFAULT_SIGNER_ID))

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return bytes(gmssl_pyx.sm2_decrypt(self.scalar, wrapped))
        except gmssl_pyx.GmsslInnerError:
            raise ValueError(
                "SM2 decryption failed: another key, or the wrapped key changed"
            ) from None


def is_sm2_public_pem(pem: bytes) -> bool:
    try:
        Sm2PublicKey.from_pem(pem)
    except Sm2KeyError:
        return False
    return True
