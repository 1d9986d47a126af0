"""A domain on the 国密 suite: SM2-signed heads over an SM3 tree, verified offline by the CLI
with only the SM2 public key; a changed byte in any head fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit_log import export_entries, list_heads, load_verifier, verify_export, verify_store
from audit_log.signing import Sm2Verifier
from core.sm2 import Sm2PrivateKey
from products.crypto import generate_operator_key, load_recipient, seal
from products.package import build_package
from service.domain import Domain
from tests.audit_log.conftest import SIZE, fill, open_log_domain
from tests.conftest import run_cli


@pytest.fixture
def gm_domain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Domain:
    monkeypatch.setenv("SLUICE_CRYPTO_SUITE", "gm")
    monkeypatch.delenv("SLUICE_AUDIT_HASH", raising=False)
    domain = open_log_domain(tmp_path, monkeypatch, suite="sm3")
    fill(domain)
    return domain


def _export(domain: Domain, path: Path) -> Path:
    with domain.transaction() as session:
        export_entries(session, path)
    return path


def test_heads_are_sm2_over_sm3_and_verify_with_the_sm2_key(gm_domain: Domain) -> None:
    verifier = load_verifier(gm_domain.home.public_key_path.read_bytes())
    assert isinstance(verifier, Sm2Verifier)
    with gm_domain.transaction() as session:
        heads = list_heads(session)
        result = verify_store(session, verifier)
    assert heads and {(h.signature_algorithm, h.hash_suite) for h in heads} == {("sm2", "sm3")}
    assert result.ok and result.heads == len(heads), result.to_dict()


def test_flipping_any_byte_of_a_head_in_an_export_fails(gm_domain: Domain, tmp_path: Path) -> None:
    path = _export(gm_domain, tmp_path / "audit.jsonl")
    public = gm_domain.home.public_key()
    assert verify_export(path, public).ok
    lines = path.read_text(encoding="utf-8").splitlines()
    index = max(i for i, line in enumerate(lines) if '"tree_head"' in line)
    head = json.loads(lines[index])
    text = json.dumps({k: v for k, v in head.items() if k != "type"}, separators=(",", ":"))
    mangled = tmp_path / "mangled.jsonl"
    failures = 0
    for position in range(len(text)):
        for flipped in {"0", "1", "a"} - {text[position]}:
            candidate = text[:position] + flipped + text[position + 1 :]
            try:
                record = json.loads(candidate)
            except json.JSONDecodeError:
                continue  # no longer a head at all
            if not isinstance(record, dict) or record == json.loads(text):
                continue
            lines[index] = json.dumps({"type": "tree_head", **record})
            mangled.write_text("\n".join(lines) + "\n", encoding="utf-8")
            assert not verify_export(mangled, public).ok, f"changed at {position}: {candidate}"
            failures += 1
            break
    assert failures > len(text) // 2


@pytest.mark.slow
def test_cli_verifies_an_sm2_domain_and_package_offline_with_only_the_public_key(
    gm_domain: Domain, tmp_path: Path
) -> None:
    home = gm_domain.home.root
    pubkey = tmp_path / "domain-sm2.pub.pem"
    run_cli("audit", "pubkey", "--output", str(pubkey), home=home, check=True)
    assert b"BEGIN PUBLIC KEY" in pubkey.read_bytes()
    export = _export(gm_domain, tmp_path / "audit.jsonl")
    elsewhere = tmp_path / "no-domain-here"
    result = run_cli(
        "audit", "verify", "--file", str(export), "--pubkey", str(pubkey), "--json", home=elsewhere
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["entries"] >= SIZE
    # a package signed with the domain's SM2 key, sealed to an SM2 operator key
    _private_pem, public_pem = generate_operator_key("sm2")
    members, envelope = seal({"r.csv": b"a,b\n1,2\n"}, load_recipient(public_pem), "SM4-GCM")
    package = tmp_path / "job-7.zip"
    build_package(package, members, {"job": 7, "encryption": envelope}, gm_domain.home.sm2_key())
    verified = run_cli("releases", "verify", str(package), "--pubkey", str(pubkey), home=elsewhere)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(Sm2PrivateKey.generate().public.to_pem())
    refused = run_cli("releases", "verify", str(package), "--pubkey", str(stranger), home=elsewhere)
    assert refused.returncode == 10
