"""The data catalog (数据资源目录): every dataset and column an operator may ask about,
and which of them the operator's licences open, so nobody writes SQL blind."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from catalog import list_datasets
from operators.accounts import Principal
from operators.licenses import list_licenses
from service.deps import company_scope
from service.web.session import domain_of, need, render

router = APIRouter()
Anyone = Annotated[Principal, Depends(need("operator", "authority", "reviewer", "regulator"))]
LEVELS = ("L1", "L2", "L3", "L4")


def licensed_levels(session: Session, who: Principal) -> dict[str, str]:
    """Dataset → the highest level an active licence of the operator's company opens."""
    opened: dict[str, str] = {}
    for license, _operator in list_licenses(session, company_scope(who)):
        if license.effective_status() != "active":
            continue
        for name in license.datasets:
            best = max(opened.get(name, "L1"), license.max_level, key=LEVELS.index)
            opened[name] = best
    return opened


def catalog_view(session: Session, who: Principal) -> list[dict[str, Any]]:
    """Each dataset with its columns; for operators, what their licences open."""
    opened = licensed_levels(session, who) if who.role == "operator" else {}
    shown = []
    for record in list_datasets(session):
        entry = record.to_dict()
        ceiling = opened.get(record.name)
        entry["licensed_level"] = ceiling
        for column in entry["columns"]:
            column["open"] = ceiling is not None and LEVELS.index(column["level"]) <= LEVELS.index(
                ceiling
            )
        shown.append(entry)
    return shown


@router.get("/console/catalog")
def catalog_page(request: Request, who: Anyone) -> Any:
    with domain_of(request).transaction() as s:
        datasets = catalog_view(s, who)
    return render(request, "catalog.html", datasets=datasets)
