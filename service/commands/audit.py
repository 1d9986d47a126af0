"""`sluice audit`: verify and export the log; publish the public key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit_log import export_entries, verify_store
from service.commands.common import Json, domain
from service.output import emit, handles_errors

audit_app = typer.Typer(no_args_is_help=True, help="The audit log.")


@audit_app.command("verify")
@handles_errors("audit.verify")
def audit_verify(as_json: Json = False) -> None:
    with domain().transaction() as session:
        result = verify_store(session).to_dict()
    emit(
        result,
        as_json,
        lambda r: (
            f"{'ok' if r['ok'] else 'FAILED'}: {r['entries']} entries"
            + ("" if r["ok"] else f", first bad entry {r['first_bad_seq']}: {r['problem']}")
        ),
    )
    if not result["ok"]:
        raise typer.Exit(10)


@audit_app.command("export")
@handles_errors("audit.export")
def audit_export(output: Annotated[Path, typer.Option()], as_json: Json = False) -> None:
    d = domain()
    with d.transaction() as session:
        data = export_entries(session, output, d.home.signing_key())
    emit(data, as_json, f"exported {data['entries']} entries to {output}")


@audit_app.command("pubkey")
@handles_errors("audit.pubkey")
def audit_pubkey(output: Annotated[Path, typer.Option()], as_json: Json = False) -> None:
    d = domain()
    output.write_bytes(d.home.public_key_path.read_bytes())
    emit({"path": str(output)}, as_json, f"public key written to {output}")
