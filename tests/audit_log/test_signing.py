"""Canonical JSON agrees with RFC 8785; heads sign and check with Ed25519 and with real SM2."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_log import Sm2Verifier, canonical, load_verifier, make_signer
from audit_log.signing import head_signature_ok, sign_head
from core.errors import InvalidInput
from core.sm2 import Sm2PrivateKey

VALUES: dict[str, Any] = {
    "plain entry": {"seq": 3, "details": {"n": 1, "note": "数据可用不可见", "ok": True}},
    "nested lists": {"a": [1, [2, [3, None]], {"b": "c"}]},
    "fractions": {"x": 0.1, "y": 123.456, "z": -0.0001},
    "tiny float": {"x": 1e-7},
    "huge float": {"x": 1e21},
    "whole float": {"x": 2.0},
    "big int": {"x": 2**53 - 1},
    "control characters": {"s": 'a\u0001b\n\t"\\/\u007f'},
    "non-ASCII keys": {"é": 1, "z": 2, "数据": 3},
    "astral keys": {"\U0001f600": 1, "\ufb33": 2},
    "empty": {},
}


@pytest.mark.parametrize("case", VALUES, ids=list(VALUES))
def test_canonical_bytes_are_rfc8785(case: str) -> None:
    assert canonical(VALUES[case]) == rfc8785.dumps(VALUES[case])


def test_unknown_signature_algorithms_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown signature algorithm"):
        make_signer("rsa", lambda: pytest.fail("no key needed"))
    with pytest.raises(InvalidInput, match="needs the domain's SM2 key"):
        make_signer("sm2", lambda: pytest.fail("no key needed"))


def _flip_byte(text: str, index: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[index % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_sm2_heads_verify_and_any_changed_byte_fails() -> None:
    key = Sm2PrivateKey.generate()
    signer = make_signer("sm2", lambda: pytest.fail("no Ed25519"), lambda: key)
    head = sign_head(signer, {"size": 3, "root_hash": "ab" * 32, "hash_suite": "sm3"})
    verifier = load_verifier(key.public.to_pem())
    assert isinstance(verifier, Sm2Verifier)
    assert head["signature_algorithm"] == "sm2" and head_signature_ok(head, verifier)
    assert head["key_id"] == verifier.key_id()
    assert not head_signature_ok({**head, "size": 4}, verifier)
    assert not head_signature_ok({**head, "root_hash": "ac" + "ab" * 31}, verifier)
    signature_bytes = len(base64.b64decode(head["signature"]))
    for index in range(signature_bytes):
        assert not head_signature_ok(
            {**head, "signature": _flip_byte(head["signature"], index)}, verifier
        )
    other = Sm2Verifier(Sm2PrivateKey.generate().public)
    assert not head_signature_ok(head, other)
    # an Ed25519 verifier never accepts a head that names SM2, and the reverse
    ed = make_signer("ed25519", Ed25519PrivateKey.generate)
    assert not head_signature_ok(sign_head(ed, {"size": 3}), verifier)


def test_a_second_base64_spelling_of_the_signature_is_refused() -> None:
    signer = make_signer("ed25519", Ed25519PrivateKey.generate)
    head = sign_head(signer, {"size": 3, "root_hash": "ab" * 32, "hash_suite": "sha256"})
    verifier = signer.verifier()  # type: ignore[attr-defined]
    text = head["signature"]  # 64 bytes: 88 characters ending "==", 4 spare bits before
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(text[-3])
    twin = text[:-3] + alphabet[last ^ 1] + text[-2:]
    assert base64.b64decode(twin) == base64.b64decode(text)  # the same bytes...
    assert head_signature_ok(head, verifier)
    assert not head_signature_ok({**head, "signature": twin}, verifier)  # ...refused
