"""Canonical JSON agrees with RFC 8785; SM2 is refused until opted in; heads sign and check."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
import rfc8785

from audit_log import Sm2Signer, canonical, make_signer
from audit_log.signing import head_signature_ok, sign_head
from core.errors import InvalidInput

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


def test_sm2_is_refused_until_opted_in_by_name() -> None:
    with pytest.raises(InvalidInput, match="SLUICE_AUDIT_SM2_OPT_IN=true"):
        make_signer("sm2", lambda: pytest.fail("no key needed"))
    with pytest.raises(InvalidInput, match="no SM2 implementation"):
        make_signer("sm2", lambda: pytest.fail("no key needed"), sm2_opt_in=True)
    with pytest.raises(InvalidInput, match="unknown signature algorithm"):
        make_signer("rsa", lambda: pytest.fail("no key needed"))


class KeyedBackend:
    """A stand-in SM2 backend (a keyed hash), enough to exercise the adapter's plumbing."""

    key = b"test"

    def key_id(self) -> str:
        return "stand-in"

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self.key, message, hashlib.sha256).digest()

    def verify(self, signature: bytes, message: bytes) -> bool:
        return hmac.compare_digest(signature, self.sign(message))


def test_an_opted_in_sm2_backend_signs_heads_that_name_it() -> None:
    signer = Sm2Signer(opt_in=True, backend=KeyedBackend())
    head = sign_head(signer, {"size": 3, "root_hash": "ab" * 32, "hash_suite": "sm3"})
    assert head["signature_algorithm"] == "sm2" and head_signature_ok(head, signer)
    assert not head_signature_ok({**head, "size": 4}, signer)
