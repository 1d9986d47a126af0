"""`sluice audit`: verify (live, an export, or a proof), export, sign, prove, publish the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.errors import InvalidInput
from service.commands.common import Json, domain, read_text
from service.output import emit, emit_rows, handles_errors

if TYPE_CHECKING:
    from audit_log.signing import Verifier

audit_app = typer.Typer(no_args_is_help=True, help="The audit log.")
ENTRY_COLUMNS = [
    ("seq", "seq"),
    ("at", "at (UTC)"),
    ("actor", "actor"),
    ("action", "action"),
    ("subject", "subject"),
]
VERIFY_FAILED = 10

PubKey = Annotated[
    Path | None,
    typer.Option("--pubkey", help="The domain's public key (PEM, from `sluice audit pubkey`)."),
]
Output = Annotated[Path | None, typer.Option("--output", help="Also write the document here.")]
Witness = Annotated[
    Path | None,
    typer.Option(
        "--witness",
        help="Heads kept earlier (`audit heads --json`, an export, or a witness folder): "
        "the log must extend every one of them.",
    ),
]


def _verifier(pubkey: Path | None) -> Verifier:
    from audit_log import load_verifier

    if pubkey is not None:
        if not pubkey.is_file():
            raise InvalidInput.coded("cli_pubkey_file_missing", path=str(pubkey))
        return load_verifier(pubkey.read_bytes())
    return load_verifier(domain().home.public_key_path.read_bytes())


def _verdict(r: dict[str, Any]) -> str:
    if r["ok"]:
        signed = f", {r.get('signed_size', 0)} under signed heads" if "signed_size" in r else ""
        if r.get("witnessed"):
            signed += f", extends {r['witnessed']} kept heads"
        if r.get("unsigned_tail"):
            signed += f", {r['unsigned_tail']} recent entries not yet signed"
        return f"ok: {r.get('entries', 'proof')} entries{signed}" if "entries" in r else "ok"
    where = f"first bad entry {r['first_bad_seq']}: " if r.get("first_bad_seq") else ""
    return f"FAILED: {where}{r['problem']}"


def _finish(result: dict[str, Any], as_json: bool) -> None:
    emit(result, as_json, _verdict)
    if not result["ok"]:
        raise typer.Exit(VERIFY_FAILED)


@audit_app.command("verify")
@handles_errors("audit.verify")
def audit_verify(
    file: Annotated[Path | None, typer.Option("--file", help="Verify this export offline.")] = None,
    proof: Annotated[Path | None, typer.Option("--proof", help="Check a proof document.")] = None,
    pubkey: PubKey = None,
    witness: Witness = None,
    as_json: Json = False,
) -> None:
    """Verify the live log; or, with --file or --proof, an export or proof with only --pubkey.

    With --witness, the log (live or exported) must also extend every kept head.
    """
    from audit_log import check_proof, verify_export

    if file is not None and proof is not None:
        raise InvalidInput.coded("cli_file_or_proof")
    kept = _kept(witness) if witness is not None else []
    if file is not None:
        if not file.is_file():
            raise InvalidInput.coded("cli_export_file_missing", path=str(file))
        _finish(verify_export(file, _verifier(pubkey), kept=kept).to_dict(), as_json)
        return
    if proof is not None:
        try:
            document = json.loads(read_text(proof, "proof"))
        except json.JSONDecodeError:
            raise InvalidInput.coded("cli_proof_not_json", path=str(proof)) from None
        if not isinstance(document, dict):
            raise InvalidInput.coded("cli_not_a_proof", path=str(proof))
        _finish(check_proof(document, _verifier(pubkey)).to_dict(), as_json)
        return
    _verify_live(_verifier(pubkey) if pubkey or kept else None, kept, as_json)


def _kept(witness: Path) -> list[dict[str, Any]]:
    from audit_log import parse_heads, read_witness_dir

    if witness.is_dir():
        return read_witness_dir(witness)
    return parse_heads(read_text(witness, "kept heads"))


def _verify_live(verifier: Verifier | None, kept: list[dict[str, Any]], as_json: bool) -> None:
    from audit_log import record_failed_verification, verify_store

    d = domain()
    # the tail may wait one signing interval (and one more for a slow signer), never longer
    tail_seconds = 2 * d.settings.audit_head_seconds
    with d.transaction() as session:
        result = verify_store(session, verifier, kept, tail_seconds)
    if not result.ok:
        source = "witness" if kept else "live"
        with d.transaction() as session:
            record_failed_verification(session, result.first_bad_seq, result.problem, source)
    _finish(result.to_dict(), as_json)


@audit_app.command("witness")
@handles_errors("audit.witness")
def audit_witness(
    push: Annotated[
        str | None, typer.Option("--push", help="Sign now and push the head to DIR or URL.")
    ] = None,
    check: Annotated[
        Path | None, typer.Option("--check", help="Verify the log against a witness folder.")
    ] = None,
    witness: Witness = None,
    as_json: Json = False,
) -> None:
    """Keep heads outside the domain (a folder or URL), or check the log against them."""
    from audit_log import push_heads, read_witness_dir

    if (push is None) == (check is None):
        raise InvalidInput.coded("cli_push_or_check")
    if check is not None:
        if not check.is_dir():
            raise InvalidInput.coded("cli_witness_missing", path=str(check))
        _verify_live(_verifier(None), read_witness_dir(check), as_json)
        return
    assert push is not None
    kept = _kept(witness) if witness is not None else []
    with domain().transaction() as session:
        result = push_heads(session, push, _verifier(None), kept)
    data = result.to_dict()
    if not result.verification.ok:
        emit(data, as_json, lambda r: "not pushed: " + _verdict(r["verification"]))
        raise typer.Exit(VERIFY_FAILED)
    size = data["pushed_size"]
    emit(
        data,
        as_json,
        f"pushed the head at size {size} to {push}" if size else f"{push} is up to date",
    )


@audit_app.command("export")
@handles_errors("audit.export")
def audit_export(
    output: Annotated[Path, typer.Option(help="The JSON lines file to write.")],
    as_json: Json = False,
) -> None:
    """Sign the log as it stands and write it, with every signed head, as JSON lines."""
    from audit_log import export_entries
    from operators import close_token_use

    d = domain()
    with d.transaction() as session:
        close_token_use(session)  # an export carries every finished hour of token use
        data = export_entries(session, output)
    emit(
        data,
        as_json,
        f"exported {data['entries']} entries and {data['heads']} signed heads to {output}",
    )


@audit_app.command("pubkey")
@handles_errors("audit.pubkey")
def audit_pubkey(
    output: Annotated[Path, typer.Option(help="Where to write the public key (PEM).")],
    as_json: Json = False,
) -> None:
    """Write the domain's public key: all a regulator needs to verify offline."""
    d = domain()
    output.write_bytes(d.home.public_key_path.read_bytes())
    emit({"path": str(output)}, as_json, f"public key written to {output}")


@audit_app.command("checkpoint")
@handles_errors("audit.checkpoint")
def audit_checkpoint(as_json: Json = False) -> None:
    """Sign a tree head over the log as it stands now."""
    from audit_log import checkpoint
    from operators import close_token_use

    with domain().transaction() as session:
        close_token_use(session)
        data = checkpoint(session).to_dict()
    emit(data, as_json, f"signed tree head: size {data['size']}, root {data['root_hash']}")


@audit_app.command("heads")
@handles_errors("audit.heads")
def audit_heads(as_json: Json = False) -> None:
    """List the signed tree heads."""
    from audit_log import list_heads

    with domain().transaction() as session:
        data = [h.to_dict() for h in list_heads(session)]
    columns = [
        ("size", "size"),
        ("root_hash", "root"),
        ("hash_suite", "hash"),
        ("timestamp", "signed"),
    ]
    emit_rows(data, as_json, columns, "no signed heads yet")


@audit_app.command("list")
@handles_errors("audit.list")
def audit_list(
    action: Annotated[
        str | None, typer.Option(help="Only this action, or a prefix ending in '.'.")
    ] = None,
    after: Annotated[int, typer.Option(help="Only entries after this sequence number.")] = 0,
    limit: Annotated[int, typer.Option(help="Most entries to list.")] = 100,
    as_json: Json = False,
) -> None:
    """List audit entries in order: sequence, time, actor, action, subject."""
    from audit_log import EntryFilter, list_entries

    with domain().transaction() as session:
        where = EntryFilter(action=action, after_seq=after)
        rows = [e.to_dict() for e in list_entries(session, where, limit)]
    emit_rows(rows, as_json, ENTRY_COLUMNS, "no entries")


def _write(document: dict[str, Any], output: Path | None) -> None:
    if output is not None:
        output.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", "utf-8")


@audit_app.command("prove")
@handles_errors("audit.prove")
def audit_prove(
    entry: Annotated[int, typer.Argument(help="The entry's sequence number.")],
    size: Annotated[int | None, typer.Option(help="A signed size (default: the latest).")] = None,
    output: Output = None,
    as_json: Json = False,
) -> None:
    """Print an inclusion proof: entry ENTRY is in the signed log."""
    from audit_log import inclusion_document

    with domain().transaction() as session:
        document = inclusion_document(session, entry, size)
    _write(document, output)
    emit(document, as_json)


@audit_app.command("consistency")
@handles_errors("audit.consistency")
def audit_consistency(
    old: Annotated[int, typer.Argument(help="The older signed size (M).")],
    new: Annotated[int, typer.Argument(help="The newer signed size (N).")],
    output: Output = None,
    as_json: Json = False,
) -> None:
    """Print a consistency proof: the signed log of size M is a prefix of the one of size N."""
    from audit_log import consistency_document

    with domain().transaction() as session:
        document = consistency_document(session, old, new)
    _write(document, output)
    emit(document, as_json)


@audit_app.command("alerts")
@handles_errors("audit.alerts")
def audit_alerts(
    rule: Annotated[str | None, typer.Option(help="Only this rule.")] = None,
    limit: Annotated[int, typer.Option(help="Most alerts to list.")] = 100,
    as_json: Json = False,
) -> None:
    """List alerts raised over the log."""
    from audit_log import EntryFilter, list_alerts

    with domain().transaction() as session:
        rows = [e.to_dict() for e in list_alerts(session, EntryFilter(action=rule), limit)]
    emit_rows(rows, as_json, ENTRY_COLUMNS, "no alerts")
