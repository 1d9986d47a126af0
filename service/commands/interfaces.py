"""`sluice interfaces`: serve a release as an interface, price it under the 2025 rules
(ceiling, fee, settlement), issue buyer keys and record, list or revoke data
subjects' consents (授权); `sluice disclosure`: publish and verify the annual
disclosure."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from core.errors import InvalidInput
from products.pricing import DEFAULT_TAX_RATE, FEE_MODELS
from service.commands.common import Json, admin, domain
from service.output import emit, emit_rows, handles_errors

interfaces_app = typer.Typer(no_args_is_help=True, help="Interface products (数据分析接口).")
disclosure_app = typer.Typer(no_args_is_help=True, help="Annual disclosure (年度公开).")
KeyFile = Annotated[Path, typer.Option("--key-file", help="file holding the buyer's key")]


def _token(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise InvalidInput.coded("cli_key_file_missing", path=str(path)) from None


@interfaces_app.command("list")
@handles_errors("interfaces.list")
def interfaces_list(as_json: Json = False) -> None:
    """List interface products: kind, purpose, ε per call and status."""
    from products.interfaces import list_interfaces

    with domain().transaction() as session:
        rows = [i.to_dict() for i in list_interfaces(session)]
    columns = [
        ("id", "interface"),
        ("product_id", "product"),
        ("kind", "kind"),
        ("purpose", "purpose"),
        ("epsilon_per_call", "ε per call"),
        ("status", "status"),
    ]
    emit_rows(rows, as_json, columns, "no interfaces")


@interfaces_app.command("create")
@handles_errors("interfaces.create")
def interfaces_create(
    release: Annotated[int, typer.Option(help="the reviewed release the interface serves")],
    name: Annotated[str, typer.Option(help="the product's name in the market")],
    kind: Annotated[str, typer.Option(help="template or scoring")],
    purpose: Annotated[str, typer.Option(help="what calls are for; consents name it")],
    definition: Annotated[Path, typer.Option(help="JSON: template and parameters, or features")],
    epsilon_per_call: Annotated[float, typer.Option(help="ε each template call costs")] = 0.0,
    scenario: Annotated[str, typer.Option(help="the use scenario shown in the market")] = "",
    as_json: Json = False,
) -> None:
    """Serve a release as an interface product (listed and filed like any product)."""
    from operators.accounts import HOST_ADMIN
    from products.interfaces import create_interface

    try:
        spec = json.loads(definition.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InvalidInput.coded(
            "cli_definition_unreadable", path=str(definition), detail=str(error)
        ) from None
    d = domain()
    with d.transaction() as session:
        data = create_interface(
            session, d.home, release, HOST_ADMIN, name, kind, purpose, spec,
            epsilon_per_call=epsilon_per_call, scenario=scenario,
        ).to_dict()  # fmt: skip
    emit(data, as_json, f"interface {data['id']} ({kind}) for product {data['product_id']}")


@interfaces_app.command("ceiling")
@handles_errors("interfaces.ceiling")
def interfaces_ceiling(
    product_id: Annotated[int, typer.Argument(help="the interface product")],
    fee_model: Annotated[str, typer.Option(help=", ".join(FEE_MODELS))],
    ceiling: Annotated[float, typer.Option(help="yuan")],
    note: Annotated[str, typer.Option(help="why, for the filing")] = "",
    as_json: Json = False,
) -> None:
    """The authority sets a product's ceiling price (最高限价) for a fee model."""
    from operators.accounts import HOST_ADMIN
    from products.fees import set_ceiling

    d = domain()
    with d.transaction() as session:
        set_ceiling(session, product_id, HOST_ADMIN, fee_model, ceiling, note)
    data = {"product": product_id, "fee_model": fee_model, "ceiling_yuan": ceiling}
    emit(data, as_json, f"product {product_id}: ceiling {ceiling:.2f} yuan {fee_model}")


@interfaces_app.command("fee")
@handles_errors("interfaces.fee")
def interfaces_fee(
    product_id: Annotated[int, typer.Argument(help="the interface product")],
    fee_model: Annotated[str, typer.Option(help=", ".join(FEE_MODELS))],
    price: Annotated[float, typer.Option(help="yuan, at or under the ceiling")],
    note: Annotated[str, typer.Option(help="why, for the filing")] = "",
    as_json: Json = False,
) -> None:
    """Price a product under its ceiling; public-interest use stays free."""
    from operators.accounts import HOST_ADMIN
    from products.fees import set_fee

    d = domain()
    with d.transaction() as session:
        data = set_fee(session, product_id, HOST_ADMIN, fee_model, price, note).to_dict()
    emit(data, as_json, f"product {product_id}: {fee_model} {price:.2f} yuan")


@interfaces_app.command("settle")
@handles_errors("interfaces.settle")
def interfaces_settle(
    product_id: Annotated[int, typer.Argument(help="the interface product")],
    period: Annotated[str, typer.Option(help="YYYY, YYYY-Qn or YYYY-MM")],
    tax_rate: Annotated[float, typer.Option(help="tax as a share of revenue")] = DEFAULT_TAX_RATE,
    as_json: Json = False,
) -> None:
    """Settle a period's revenue against cost + allowed profit + tax; carry any excess."""
    from operators.accounts import HOST_ADMIN
    from products.fees import settle_period

    d = domain()
    with d.transaction() as session:
        data = settle_period(session, product_id, period, HOST_ADMIN, tax_rate).to_dict()
    emit(data, as_json, f"{period}: revenue {data['revenue']:.2f} of {data['allowed_max']:.2f} "
                        f"allowed; excess {data['excess']:.2f} carried forward")  # fmt: skip


@interfaces_app.command("key")
@handles_errors("interfaces.key")
def interfaces_key(
    interface_id: Annotated[int, typer.Argument(help="the interface the key opens")],
    buyer: Annotated[str, typer.Option(help="the buyer's name")],
    buyer_type: Annotated[str, typer.Option(help="public_interest, sme or commercial")],
    out: Annotated[Path, typer.Option(help="write the key here (mode 0600)")],
    calls_per_minute: Annotated[int, typer.Option(help="rate limit for this key")] = 60,
    epsilon_total: Annotated[float, typer.Option(help="ε this key may spend (templates)")] = 0.0,
    as_json: Json = False,
) -> None:
    """Issue a buyer a key to one interface; it is written once, kept only hashed."""
    from operators.accounts import HOST_ADMIN
    from products.interfaces import issue_key, write_key_file

    d = domain()
    with d.transaction() as session:
        key, token = issue_key(
            session, interface_id, HOST_ADMIN, buyer, buyer_type, calls_per_minute, epsilon_total
        )
        data = key.to_dict()
    write_key_file(out, token)
    emit(data, as_json, f"key {data['id']} for {buyer} written to {out}")


@interfaces_app.command("consent")
@handles_errors("interfaces.consent")
def interfaces_consent(
    interface_id: Annotated[int, typer.Argument(help="the interface the consent covers")],
    identifier: Annotated[str, typer.Option(help="the data subject's identifier")],
    purpose: Annotated[str, typer.Option(help="the purpose the subject agreed to")],
    key_file: KeyFile,
    days: Annotated[int, typer.Option(help="valid for this many days")] = 365,
    evidence: Annotated[str, typer.Option(help="where the signed consent is kept")] = "",
    as_json: Json = False,
) -> None:
    """Record a data subject's consent (授权) to be scored by this key's holder."""
    from core.db import utcnow
    from products.consents import record_consent
    from products.interfaces import key_for

    d = domain()
    until: datetime = utcnow() + timedelta(days=days)
    with d.transaction() as session:
        key = key_for(session, _token(key_file), interface_id)
        data = record_consent(session, d.home, key, identifier, purpose, until, evidence).to_dict()
    emit(data, as_json, f"consent {data['id']} until {data['valid_until']}")


@interfaces_app.command("consents")
@handles_errors("interfaces.consents")
def interfaces_consents(
    interface_id: Annotated[int, typer.Argument(help="the interface")],
    key_file: KeyFile,
    as_json: Json = False,
) -> None:
    """List the consents this key's holder recorded."""
    from products.consents import list_consents
    from products.interfaces import key_for

    d = domain()
    with d.transaction() as session:
        key = key_for(session, _token(key_file), interface_id)
        data = [c.to_dict() for c in list_consents(session, interface_id, key)]
    text = "\n".join(f"{c['id']} {c['status']} until {c['valid_until']}" for c in data)
    emit(data, as_json, text or "no consents")


@interfaces_app.command("revoke-consent")
@handles_errors("interfaces.revoke_consent")
def interfaces_revoke(
    consent_id: Annotated[int, typer.Argument(help="the consent to revoke")], as_json: Json = False
) -> None:
    """Revoke a consent at the data subject's request."""
    from products.consents import revoke_consent

    d = domain()
    with d.transaction() as session:
        data = revoke_consent(session, consent_id, admin()).to_dict()
    emit(data, as_json, f"consent {consent_id} revoked")


@disclosure_app.command("list")
@handles_errors("disclosure.list")
def disclosure_list(as_json: Json = False) -> None:
    """List published annual reports: year, when, by whom, and their SHA-256."""
    from products.annual import list_disclosures

    with domain().transaction() as session:
        rows = [
            {"id": r.id, "year": r.year, "at": r.at.isoformat(timespec="seconds"),
             "filed_by": r.filed_by, "sha256": r.sha256}
            for r in list_disclosures(session)
        ]  # fmt: skip
    columns = [("id", "report"), ("year", "year"), ("at", "published (UTC)"),
               ("filed_by", "by"), ("sha256", "SHA-256")]  # fmt: skip
    emit_rows(rows, as_json, columns, "no annual report published yet")


@disclosure_app.command("publish")
@handles_errors("disclosure.publish")
def disclosure_publish(
    year: Annotated[int, typer.Argument(help="the year the report covers")],
    out: Annotated[Path, typer.Option(help="write the signed file here")],
) -> None:
    """Generate, sign, publish and file the annual disclosure for YEAR."""
    from operators.accounts import HOST_ADMIN
    from products.annual import publish_annual_report, signed_file

    d = domain()
    with d.transaction() as session:
        record = publish_annual_report(session, d.home, year, HOST_ADMIN)
        data = signed_file(record)
    out.write_bytes(data)
    emit({"year": year, "file": str(out)}, False, f"annual disclosure {year} written to {out}")


@disclosure_app.command("verify")
@handles_errors("disclosure.verify")
def disclosure_verify(
    file: Annotated[Path, typer.Argument(help="the signed report file")],
    public_key: Annotated[Path, typer.Option(help="the domain's public key (PEM)")],
    as_json: Json = False,
) -> None:
    """Verify a signed annual disclosure with the domain's public key, offline."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from core.home import load_public_key
    from products.annual import verify_report

    key = load_public_key(public_key.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput.coded("cli_disclosure_key")
    problems = verify_report(file.read_bytes(), key)
    emit({"ok": not problems, "problems": problems}, as_json, "\n".join(problems) or "verified")
    if problems:
        raise typer.Exit(1)
