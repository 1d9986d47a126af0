"""The 国密 suite against the default one, and token use counted per hour against per request.

    .venv/bin/python bench/bench_gm_suite.py

Prints figures; never part of the test pass/fail. Each pair is measured in the same
run: SM2 against Ed25519 signing and verifying a tree head, SM3 against SHA-256 Merkle
leaves, SM4-GCM against AES-256-GCM sealing a release, SM2 key wrapping against
X25519; then 2,000 authenticated requests' audit cost, counted per hour (today)
against one `token.used` entry per request (before), in a real domain on SQLite.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from audit_log import Actor, AuditAction, append  # noqa: E402
from audit_log.merkle import get_suite  # noqa: E402
from audit_log.signing import Ed25519Signer, Sm2Signer, head_signature_ok, sign_head  # noqa: E402
from core.sm2 import Sm2PrivateKey  # noqa: E402
from products.crypto import generate_operator_key, load_recipient, seal  # noqa: E402

HEAD = {"size": 1_000_000, "root_hash": "ab" * 32, "hash_suite": "sm3", "reason": "interval"}


def per_op(fn: Callable[[], object], n: int) -> float:
    """Microseconds per call, best of three rounds of n calls."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def crypto() -> None:
    ed = Ed25519Signer(Ed25519PrivateKey.generate)
    sm2 = Sm2Signer(Sm2PrivateKey.generate)
    for name, signer in (("Ed25519", ed), ("SM2", sm2)):
        head = sign_head(signer, HEAD)
        verifier = signer.verifier()
        sign_us = per_op(lambda s=signer: sign_head(s, HEAD), 500)
        verify_us = per_op(lambda h=head, v=verifier: head_signature_ok(h, v), 500)
        print(f"{name:8} sign a head {sign_us:8.1f} µs   verify {verify_us:8.1f} µs")
    leaf = os.urandom(400)
    for name in ("sha256", "sm3"):
        suite = get_suite(name)
        leaf_us = per_op(lambda s=suite: s.leaf(leaf), 20_000)
        print(f"{name:8} Merkle leaf of 400 B {leaf_us:6.2f} µs")
    data = {"result.csv": os.urandom(4 * 1024 * 1024)}
    for kind, cipher in (("x25519", "AES-256-GCM"), ("x25519", "SM4-GCM"), ("sm2", "SM4-GCM")):
        recipient = load_recipient(generate_operator_key(kind)[1])
        ms = per_op(lambda r=recipient, c=cipher: seal(data, r, c), 5) / 1000
        print(f"seal 4 MiB {cipher:12} key wrapped by {kind.upper():6} {ms:8.1f} ms")


def token_use() -> None:
    os.environ["SLUICE_HOME"] = tempfile.mkdtemp(prefix="sluice-bench-") + "/home"
    os.environ.pop("SLUICE_DATABASE_URL", None)
    from operators.accounts import add_operator, add_user, authenticate, create_token
    from service.domain import init_domain
    from service.settings import Settings

    domain = init_domain(Settings())[0]
    actor = Actor("bench", "admin")
    with domain.transaction() as session:
        add_operator(session, "co", actor)
        user = add_user(session, "u", "operator", "co", actor)
        token = create_token(session, user, actor)
    requests = 2000

    def counted() -> None:
        with domain.transaction() as session:
            authenticate(session, token)

    def per_request() -> None:  # what every request cost before: one appended entry
        with domain.transaction() as session:
            append(session, actor, AuditAction.TOKEN_USED, "user:1", {"token_id": 1})

    for name, fn in (("counted per hour", counted), ("one entry per request", per_request)):
        start = time.perf_counter()
        for _ in range(requests):
            fn()
        spent = time.perf_counter() - start
        print(f"token use, {name:22}: {requests / spent:8.0f} requests/s")
    with domain.transaction() as session:
        from sqlalchemy import func, select

        from audit_log import AuditEntry

        used = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "token.used")
        )
    print(f"token.used entries after both runs: {used} ({requests} of them from the baseline)")


if __name__ == "__main__":
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    crypto()
    token_use()
