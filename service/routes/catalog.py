"""The dataset catalog (资源目录) as operators and staff see it: names, titles, version,
row count, update time, and the level, role, type, desensitization and bounds of each
column (never a value). Operators see only what their usable licences cover, with what
each licence allows."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlalchemy.orm import Session

from catalog import get_dataset, list_datasets
from core.errors import NotFound
from operators import licensed_catalog
from operators.accounts import Principal
from service.deps import SessionDep, company_scope, require_role
from service.pagination import Cursor, Page, PageLimit, paginate
from service.schemas.catalog import DatasetOut

router = APIRouter(prefix="/api/v1", tags=["catalog"])
Anyone = Annotated[
    Principal, Depends(require_role("operator", "authority", "reviewer", "regulator"))
]
Name = Annotated[str, Path(min_length=1, max_length=63)]


def catalog_for(session: Session, who: Principal) -> list[dict[str, Any]]:
    """Every dataset for staff; for an operator, those its licences cover, with their views."""
    company = company_scope(who)
    if company is None:
        return [d.to_dict() for d in list_datasets(session)]
    return [
        {**d.to_dict(), "licensed": [v.to_dict() for v in views]}
        for d, views in licensed_catalog(session, company)
    ]


@router.get("/datasets")
def datasets(
    who: Anyone, s: SessionDep, limit: PageLimit = 100, cursor: Cursor = None
) -> Page[DatasetOut]:
    shown = [DatasetOut.model_validate(d) for d in catalog_for(s, who)]
    return paginate(shown, lambda d: d.name, limit, cursor, kind=str)


@router.get("/datasets/{name}")
def dataset(name: Name, who: Anyone, s: SessionDep) -> DatasetOut:
    """One dataset's entry; for an operator, 404 unless a usable licence covers it."""
    if company_scope(who) is None:
        return DatasetOut.model_validate(get_dataset(s, name).to_dict())
    found = [d for d in catalog_for(s, who) if d["name"] == name]
    if not found:
        raise NotFound(
            f"no dataset {name} under your licences", suggestion="see GET /api/v1/datasets"
        )
    return DatasetOut.model_validate(found[0])
