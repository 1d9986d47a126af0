"""The annual disclosure (年度公开) of authorisations, the resources authorised, the
products and services offered and the fees actually charged, due by the end of March.

The report is built from the records alone, so its totals are sums over them; it is
signed with the domain's Ed25519 key over its RFC 8785 form, filed with the regulator
and logged. Anyone with the domain's public key can verify the signed file offline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import date, datetime, time
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import AuditAction, append
from core.errors import InvalidInput, PermissionDenied
from core.home import Home
from operators.accounts import Principal
from operators.records import License, Operator
from products.filings import AnnualDisclosure
from products.interface_records import Interface
from products.pricing import BUYER_TYPES
from products.records import Product
from products.usage import UsageRecord

FORMAT = "sluice-annual-disclosure/1"
SIGNATURE_ALG = "Ed25519"
LABELS = {
    "zh-CN": {
        "title": "公共数据授权运营年度公开报告",
        "authorisations": "授权情况",
        "resources": "授权数据资源",
        "products": "数据产品和服务目录",
        "fees": "实际收费情况",
        "totals": "合计",
        "due": "公开截止日期",
    },
    "en": {
        "title": "Annual disclosure of public data authorised operation",
        "authorisations": "Authorisations",
        "resources": "Data resources authorised",
        "products": "Products and services",
        "fees": "Fees actually charged",
        "totals": "Totals",
        "due": "Due by",
    },
}


def _in_year(year: int) -> tuple[datetime, datetime]:
    return datetime.combine(date(year, 1, 1), time()), datetime.combine(
        date(year + 1, 1, 1), time()
    )


def annual_report(session: Session, year: int) -> dict[str, Any]:
    """The report's content for a calendar year (no buyers named, no raw values)."""
    if not 2000 <= year <= 2999:
        raise InvalidInput.coded("annual_year_range", year=year)
    since, until = _in_year(year)
    names = {k: v for k, v in session.execute(select(Operator.id, Operator.name))}
    licences = [
        lic
        for lic in session.scalars(select(License).order_by(License.id))
        if lic.created_at < until and lic.valid_until >= since.date()
    ]
    authorisations = [
        {
            "license": lic.id,
            "operator": names[lic.operator_id],
            "purpose": lic.purpose,
            "scenario": lic.scenario,
            "datasets": sorted(lic.datasets),
            "max_level": lic.max_level,
            "valid_until": lic.valid_until.isoformat(),
            "status": lic.status,
        }
        for lic in licences
    ]
    resources = sorted({name for lic in licences for name in lic.datasets})
    kinds = {i.product_id: i.kind for i in session.scalars(select(Interface))}
    products = [
        {
            "product": p.id,
            "name": p.name,
            "operator": names[p.operator_id],
            "kind": p.kind if p.id not in kinds else f"interface/{kinds[p.id]}",
            "status": p.status,
            "fee": p.pricing.get("fee"),
            "ceiling": p.pricing.get("ceiling"),
        }
        for p in session.scalars(
            select(Product).where(Product.listed_at < until).order_by(Product.id)
        )
    ]
    fees: dict[int, dict[str, Any]] = {}
    uses = select(UsageRecord).where(UsageRecord.at >= since, UsageRecord.at < until)
    for use in session.scalars(uses.order_by(UsageRecord.id)):
        row = fees.setdefault(
            use.product_id,
            {
                "product": use.product_id,
                "uses": 0,
                "by_buyer_type": dict.fromkeys(BUYER_TYPES, 0.0),
            },
        )
        row["uses"] += use.quantity
        row["by_buyer_type"][use.buyer_type] = round(
            row["by_buyer_type"][use.buyer_type] + use.amount, 2
        )
    fee_rows = [
        {**r, "total_yuan": round(sum(r["by_buyer_type"].values()), 2)} for r in fees.values()
    ]
    return {
        "format": FORMAT,
        "year": year,
        "due": date(year + 1, 3, 31).isoformat(),
        "labels": LABELS,
        "authorisations": authorisations,
        "resources": resources,
        "products": products,
        "fees": fee_rows,
        "totals": {
            "authorisations": len(authorisations),
            "resources": len(resources),
            "products": len(products),
            "uses": sum(r["uses"] for r in fee_rows),
            "fees_yuan": round(sum(r["total_yuan"] for r in fee_rows), 2),
        },
    }


def sign_report(document: dict[str, Any], home: Home) -> dict[str, Any]:
    """The signed file: the document, its SHA-256 and an Ed25519 signature over RFC 8785."""
    canonical = rfc8785.dumps(document)
    signature = home.signing_key().sign(canonical)
    return {
        "document": document,
        "sha256": hashlib.sha256(canonical).hexdigest(),
        "signature_alg": SIGNATURE_ALG,
        "signature": base64.b64encode(signature).decode("ascii"),
    }


def publish_annual_report(
    session: Session, home: Home, year: int, user: Principal
) -> AnnualDisclosure:
    """Generate, sign, publish and file the year's report, and log it."""
    if user.role not in ("authority", "admin"):
        raise PermissionDenied.coded("annual_role")
    signed = sign_report(annual_report(session, year), home)
    entry = append(
        session,
        user.actor,
        AuditAction.DISCLOSURE_ANNUAL_FILED,
        f"disclosure:{year}",
        {"year": year, "sha256": signed["sha256"], "totals": signed["document"]["totals"]},
    )
    record = AnnualDisclosure(
        year=year,
        document=signed["document"],
        sha256=signed["sha256"],
        signature=signed["signature"],
        filed_by=user.name,
        audit_seq=entry.seq,
    )
    session.add(record)
    session.flush()
    return record


def signed_file(record: AnnualDisclosure) -> bytes:
    """The published file, as anyone downloads it."""
    signed = {
        "document": record.document,
        "sha256": record.sha256,
        "signature_alg": SIGNATURE_ALG,
        "signature": record.signature,
    }
    return json.dumps(signed, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


def latest_disclosure(session: Session, year: int | None = None) -> AnnualDisclosure | None:
    query = select(AnnualDisclosure)
    if year is not None:
        query = query.where(AnnualDisclosure.year == year)
    return session.scalar(query.order_by(AnnualDisclosure.id.desc()).limit(1))


def list_disclosures(session: Session) -> list[AnnualDisclosure]:
    """Every published annual report, oldest first (a year may be published again)."""
    return list(session.scalars(select(AnnualDisclosure).order_by(AnnualDisclosure.id)))


def verify_report(data: bytes, public_key: Ed25519PublicKey) -> list[str]:
    """Every problem with a signed report file (empty when it verifies)."""
    try:
        signed = json.loads(data.decode("utf-8"))
        document = signed["document"]
        signature = base64.b64decode(signed["signature"], validate=True)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, binascii.Error) as error:
        return [f"not a signed annual disclosure: {error}"]
    problems = []
    if signed.get("signature_alg") != SIGNATURE_ALG:
        problems.append(f"signature algorithm is {signed.get('signature_alg')!r}, not Ed25519")
    canonical = rfc8785.dumps(document)
    if hashlib.sha256(canonical).hexdigest() != signed.get("sha256"):
        problems.append("the document's SHA-256 does not match")
    try:
        public_key.verify(signature, canonical)
    except InvalidSignature:
        problems.append("the signature does not verify with this public key")
    return problems
