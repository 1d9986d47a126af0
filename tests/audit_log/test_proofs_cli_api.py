"""Proof documents checked offline, mangled documents refused; the CLI and the regulator API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audit_log import check_proof, consistency_document, inclusion_document, load_verifier
from audit_log.signing import Ed25519Verifier
from core.errors import Conflict, InvalidInput, NotFound
from operators.accounts import create_token, get_user
from service.domain import Domain
from tests.audit_log.conftest import SIZE
from tests.conftest import AUTHORITY, World, run_cli


def _verifier(domain: Domain) -> Ed25519Verifier:
    return load_verifier(domain.home.public_key_path.read_bytes())


def _flip(value: str) -> str:
    return ("0" if value[0] != "0" else "1") + value[1:]


Doc = dict[str, Any]
INCLUSION_MANGLES: dict[str, Callable[[Doc], None]] = {
    "flip a bit in the proof": lambda d: d["proof"].__setitem__(0, _flip(d["proof"][0])),
    "wrong leaf (entry edited)": lambda d: d["entry"]["details"].update(n=-1),
    "wrong index": lambda d: d.update(leaf_index=d["leaf_index"] + 1),
    "wrong size": lambda d: d.update(tree_size=d["tree_size"] + 1),
    "truncated proof": lambda d: d["proof"].pop(),
    "padded proof": lambda d: d["proof"].append(d["proof"][0]),
    "forged head root": lambda d: d["tree_head"].update(
        root_hash=_flip(d["tree_head"]["root_hash"])
    ),
    "proof not hex": lambda d: d["proof"].__setitem__(0, "zz"),
    "another suite": lambda d: d.update(hash_suite="sm3"),
}
CONSISTENCY_MANGLES: dict[str, Callable[[Doc], None]] = {
    "flip a bit in the proof": lambda d: d["proof"].__setitem__(-1, _flip(d["proof"][-1])),
    "wrong old size": lambda d: d.update(old_size=d["old_size"] + 1),
    "truncated proof": lambda d: d["proof"].pop(),
    "padded proof": lambda d: d["proof"].append(d["proof"][0]),
    "swapped heads": lambda d: d.update(old_head=d["new_head"], new_head=d["old_head"]),
    "not a proof": lambda d: d.update(type="tree_head"),
}


def test_proofs_from_the_store_check_offline(logged: Domain) -> None:
    verifier = _verifier(logged)
    with logged.transaction() as session:
        for seq in range(1, 21):
            assert check_proof(inclusion_document(session, seq), verifier).ok, seq
            assert check_proof(inclusion_document(session, seq, 20), verifier).ok, seq
        for old in (4, 8, 12, 16, 20):
            assert check_proof(consistency_document(session, old, 20), verifier).ok, old


@pytest.mark.parametrize("case", INCLUSION_MANGLES, ids=list(INCLUSION_MANGLES))
def test_mangled_inclusion_documents_fail(logged: Domain, case: str) -> None:
    with logged.transaction() as session:
        document = inclusion_document(session, 6)
    INCLUSION_MANGLES[case](document)
    assert not check_proof(document, _verifier(logged)).ok


@pytest.mark.parametrize("case", CONSISTENCY_MANGLES, ids=list(CONSISTENCY_MANGLES))
def test_mangled_consistency_documents_fail(logged: Domain, case: str) -> None:
    with logged.transaction() as session:
        document = consistency_document(session, 12, 20)
    CONSISTENCY_MANGLES[case](document)
    assert not check_proof(document, _verifier(logged)).ok


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda s: inclusion_document(s, 999), NotFound, "no audit entry 999"),
        (lambda s: inclusion_document(s, SIZE), Conflict, "not yet covered"),
        (lambda s: inclusion_document(s, 3, 7), NotFound, "no signed tree head at size 7"),
        (lambda s: consistency_document(s, 8, 4), InvalidInput, "0 < M <= N"),
        (lambda s: consistency_document(s, 5, 8), NotFound, "signed sizes include 4, 8"),
    ],
    ids=["unknown entry", "unsigned entry", "unsigned size", "M > N", "M unsigned"],
)
def test_proof_requests_that_cannot_be_met_say_why(
    logged: Domain, call: Callable[[Any], Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words), logged.transaction() as session:
        call(session)


def cli(home: Path, *args: str) -> Any:
    return json.loads(run_cli(*args, "--json", home=home, check=True).stdout)


@pytest.mark.slow
def test_a_regulator_verifies_everything_through_the_cli(logged: Domain, tmp_path: Path) -> None:
    home = logged.home.root
    assert cli(home, "audit", "verify")["ok"]
    assert cli(home, "audit", "checkpoint")["size"] == SIZE
    key, export = tmp_path / "key.pem", tmp_path / "log.jsonl"
    cli(home, "audit", "pubkey", "--output", str(key))
    assert cli(home, "audit", "export", "--output", str(export))["entries"] == SIZE
    elsewhere = tmp_path / "no-domain"  # offline: nothing but the file and the key
    offline = cli(elsewhere, "audit", "verify", "--file", str(export), "--pubkey", str(key))
    assert offline["ok"] and offline["signed_size"] == SIZE
    proof = tmp_path / "proof.json"
    shown = cli(home, "audit", "prove", "7", "--output", str(proof))
    assert shown["entry"]["seq"] == 7 and json.loads(proof.read_text()) == shown
    assert cli(elsewhere, "audit", "verify", "--proof", str(proof), "--pubkey", str(key))["ok"]
    consistency = tmp_path / "consistency.json"
    cli(home, "audit", "consistency", "8", str(SIZE), "--output", str(consistency))
    checked = cli(elsewhere, "audit", "verify", "--proof", str(consistency), "--pubkey", str(key))
    assert checked["ok"]
    assert [h["size"] for h in cli(home, "audit", "heads")][-1] == SIZE


@pytest.mark.slow
def test_the_cli_reports_tampering_and_raises_an_alert(logged: Domain, tmp_path: Path) -> None:
    home = logged.home.root
    key, export = tmp_path / "key.pem", tmp_path / "log.jsonl"
    cli(home, "audit", "pubkey", "--output", str(key))
    cli(home, "audit", "export", "--output", str(export))
    lines = export.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace('"n": 3', '"n": 4')
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("audit", "verify", "--file", str(export), "--pubkey", str(key), home=home)
    assert result.returncode == 10 and "first bad entry 3" in result.stdout
    with logged.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE audit_entries SET actor = 'x' WHERE seq = 2")
    live = run_cli("audit", "verify", "--json", home=home)
    assert live.returncode == 10 and json.loads(live.stdout)["first_bad_seq"] == 2
    alerts = cli(home, "audit", "alerts")
    assert [a["details"]["first_bad_seq"] for a in alerts] == [2]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["audit", "prove", "999"], "no audit entry 999"),
        (["audit", "consistency", "5", "3"], "0 < M <= N"),
        (["audit", "verify", "--file", "/nonexistent.jsonl", "--pubkey", "/x"], "does not exist"),
        (["audit", "verify", "--proof", "{export}"], "not JSON"),
        (["audit", "verify", "--file", "{export}", "--pubkey", "{export}"], "not a PEM"),
    ],
    ids=["unknown entry", "M > N", "missing file", "export given as proof", "bad key"],
)
def test_cli_errors_are_one_clear_line(
    logged: Domain, tmp_path: Path, args: list[str], words: str
) -> None:
    export = tmp_path / "bad.jsonl"
    export.write_text("{}\n{}\n", encoding="utf-8")
    args = [a.replace("{export}", str(export)) for a in args]
    result = run_cli(*args, home=logged.home.root)
    assert result.returncode not in (0, 10) and words in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def regulator_api(world: World) -> tuple[TestClient, dict[str, str]]:
    from service.api import create_app

    with world.domain.transaction() as session:
        tokens = {n: create_token(session, get_user(session, n), AUTHORITY) for n in ("li", "chen")}
    headers = {n: {"Authorization": f"Bearer {t}"} for n, t in tokens.items()}
    return TestClient(create_app(world.domain.settings)), headers


def test_the_regulator_api_filters_proves_and_verifies(
    world: World, regulator_api: tuple[TestClient, dict[str, str]]
) -> None:
    api, headers = regulator_api
    chen, li = headers["chen"], headers["li"]
    base = "/api/v1/audit"
    assert api.get(f"{base}/entries", headers=li).status_code == 403
    assert api.get(f"{base}/heads", headers=li).status_code == 403
    by_license = api.get(f"{base}/entries?license_id={world.license_id}", headers=chen).json()[
        "items"
    ]
    assert {e["action"] for e in by_license} >= {"license.granted"}
    by_dataset = api.get(f"{base}/entries?dataset=social_insurance", headers=chen).json()["items"]
    assert {e["action"] for e in by_dataset} >= {"dataset.ingested", "license.granted"}
    by_operator = api.get(
        f"{base}/entries?operator_id={world.operator.operator_id}&action=user.", headers=chen
    )
    assert by_operator.status_code == 200
    first = by_license[0]
    window = {"since": first["at"], "until": "2999-01-01T00:00:00+08:00", "limit": 2}
    timed = api.get(f"{base}/entries", params=window, headers=chen).json()["items"]
    assert len(timed) == 2 and all(e["at"] >= first["at"] for e in timed)
    # heads are signed at least once a minute while entries arrive, so one may exist already
    with world.domain.transaction() as session:
        from audit_log import checkpoint

        size = checkpoint(session).size
    head = api.get(f"{base}/heads/latest", headers=chen).json()
    assert head["size"] == size and head["hash_suite"] == "sha256"
    document = api.get(f"{base}/proofs/inclusion/{first['seq']}", headers=chen).json()
    pem = api.get(f"{base}/pubkey", headers=chen).text.encode()
    assert check_proof(document, load_verifier(pem)).ok
    bad = api.get(f"{base}/proofs/consistency?old={size}&new=1", headers=chen)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_input"
    assert api.get(f"{base}/verify", headers=chen).json()["ok"]
    assert api.get(f"{base}/alerts", headers=chen).json()["items"] == []
